"""Bare git repositories on disk, made from a seed's description on first use.

A repository is built with one ``git fast-import`` run (fast even for hundreds of commits and a
few MB), in a temporary folder renamed into place, so a half-built repository is never served.
History is deterministic: fixed dates and contents give the same commit hashes on every run.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

from bbwizard.emulator.seed import Repo

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def git_env(home: Path) -> dict[str, str]:
    """An environment for the emulator's own git runs: no user or system config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
    )
    return env


def repo_path(root: Path, repo: Repo) -> Path:
    return root / repo.workspace / f"{repo.slug}.git"


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(path), threading.Lock())


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def _stream(repo: Repo, author: str, write) -> None:
    """Write the fast-import stream for ``repo`` to ``write``."""
    commits = max(repo.commits, 1)
    seed = int.from_bytes(hashlib.sha256(repo.full_name.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    chunk = repo.size // commits if repo.size else 0
    start = repo.created_on
    span = max((repo.updated_on - start).total_seconds(), commits * 60)
    main = f"refs/heads/{repo.mainbranch}"
    changelog = f"# Changelog of {repo.name}\n\n"
    mark = 0
    for i in range(commits):
        mark += 1
        when = int((start + timedelta(seconds=span * i / commits)).timestamp())
        message = "Initial commit" if i == 0 else f"Change {i} to {repo.slug}"
        write(f"commit {main}\nmark :{mark}\n".encode())
        write(f"author {author} {when} +0000\ncommitter {author} {when} +0000\n".encode())
        write(_data(message.encode() + b"\n"))
        if i == 0:
            for path, text in repo.files.items():
                write(f"M 100644 inline {path}\n".encode())
                write(_data(text.encode()))
        else:
            changelog += f"- change {i}\n"
            write(b"M 100644 inline CHANGELOG.md\n")
            write(_data(changelog.encode()))
        if chunk:
            write(f"M 100644 inline assets/blob-{i:05d}.bin\n".encode())
            write(_data(rng.randbytes(chunk)))
    main_mark = mark
    when = int(repo.updated_on.timestamp())
    tips = {repo.mainbranch: main_mark}
    for branch in repo.branches:
        if branch == repo.mainbranch:
            continue
        mark += 1
        tips[branch] = mark
        safe = branch.replace("/", "-")
        write(f"commit refs/heads/{branch}\nmark :{mark}\n".encode())
        write(f"author {author} {when} +0000\ncommitter {author} {when} +0000\n".encode())
        write(_data(f"Work in progress on {branch}\n".encode()))
        write(f"from :{main_mark}\n".encode())
        write(f"M 100644 inline notes/{safe}.md\n".encode())
        write(_data(f"# {branch}\n\nNot merged into {repo.mainbranch} yet.\n".encode()))
    for tag in repo.tags:
        # mainbranch's commits are marks 1..main_mark; every other branch is one commit on top
        # of its tip, so N back from that branch is N-1 back from mainbranch's tip.
        branch, back = tag["branch"], tag["back"]
        if branch != repo.mainbranch and back == 0:
            target = tips[branch]
        else:
            target = max(main_mark - back + (branch != repo.mainbranch), 1)
        if tag["message"] is None:
            write(f"reset refs/tags/{tag['name']}\nfrom :{target}\n\n".encode())
        else:
            write(f"tag {tag['name']}\nfrom :{target}\ntagger {author} {when} +0000\n".encode())
            write(_data(tag["message"].encode()))
    write(b"done\n")


def materialise(root: Path, repo: Repo, author: str) -> tuple[Path, bool]:
    """The bare repository of ``repo`` under ``root``, and whether this call built it."""
    path = repo_path(root, repo)
    if path.is_dir():
        return path, False
    with _lock_for(path):
        if path.is_dir():
            return path, False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".building-{os.getpid()}-{threading.get_ident()}-{repo.slug}"
        if tmp.exists():
            shutil.rmtree(tmp)
        env = git_env(root)
        try:
            subprocess.run(["git", "init", "--bare", "--quiet", "--", str(tmp)], env=env, check=True,
                           stdin=subprocess.DEVNULL, capture_output=True)
            if repo.commits > 0:
                proc = subprocess.Popen(
                    ["git", "fast-import", "--quiet", "--done"], cwd=tmp, env=env,
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )
                assert proc.stdin is not None
                try:
                    _stream(repo, author, proc.stdin.write)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
                error = proc.stderr.read() if proc.stderr else b""
                if proc.stderr:
                    proc.stderr.close()
                if proc.wait() != 0:
                    raise RuntimeError(f"git fast-import failed for {repo.full_name}: {error.decode(errors='replace')}")
            subprocess.run(["git", "symbolic-ref", "HEAD", f"refs/heads/{repo.mainbranch}"], cwd=tmp,
                           env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
            subprocess.run(["git", "config", "http.receivepack", "true"], cwd=tmp, env=env, check=True,
                           capture_output=True, stdin=subprocess.DEVNULL)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return path, True


def list_tags(path: Path, env: dict[str, str]) -> list[dict]:
    """Tags of a bare repository: name, the commit's fields as :func:`list_branches` gives them,
    and for an annotated tag its ``tag_message``, ``tagger`` and ``tag_date`` (None otherwise)."""
    commit = ("%(objectname)%00%(committerdate:iso-strict)%00%(contents)%00"
              "%(authorname) <%(authoremail:trim)>%00%(parent)")
    peeled = commit.replace("%(", "%(*")
    fmt = (f"%(refname:strip=2)%00%(objecttype)%00{commit}%00{peeled}%00"
           "%(taggername) <%(taggeremail:trim)>%00%(taggerdate:iso-strict)%01")
    out = subprocess.run(
        ["git", "for-each-ref", f"--format={fmt}", "refs/tags"], cwd=path, env=env, check=True,
        capture_output=True, stdin=subprocess.DEVNULL,
    ).stdout.decode("utf-8", errors="replace")
    tags = []
    for record in out.split("\x01"):
        record = record.strip("\n")
        if not record:
            continue
        fields = record.split("\x00")
        name, kind = fields[0], fields[1]
        annotated = kind == "tag"
        sha, date, message, author, parents = fields[7:12] if annotated else fields[2:7]
        tags.append(
            {"name": name, "hash": sha, "date": date, "message": message, "author": author,
             "parents": parents.split(),
             "tag_message": fields[4] if annotated else None,
             "tagger": fields[12] if annotated else None,
             "tag_date": fields[13] if annotated else None}
        )
    return tags


def list_branches(path: Path, env: dict[str, str]) -> list[dict]:
    """Branches of a bare repository: name, hash, date, message, author, parents."""
    fmt = "%(refname:strip=2)%00%(objectname)%00%(committerdate:iso-strict)%00%(contents)%00%(authorname) <%(authoremail:trim)>%00%(parent)%01"
    out = subprocess.run(
        ["git", "for-each-ref", f"--format={fmt}", "refs/heads"], cwd=path, env=env, check=True,
        capture_output=True, stdin=subprocess.DEVNULL,
    ).stdout.decode("utf-8", errors="replace")
    branches = []
    for record in out.split("\x01"):
        record = record.strip("\n")
        if not record:
            continue
        name, sha, date, message, author, parents = record.split("\x00")
        branches.append(
            {"name": name, "hash": sha, "date": date, "message": message, "author": author,
             "parents": parents.split()}
        )
    return branches
