"""`bbwizard repos` against the emulator: piped rows, the terminal table, --json, and every refusal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from bbwizard.cli.repos import _PagesInOrder, name_query
from bbwizard.emulator import demo_seed

ESCAPE = "\x1b]0;owned\x07"


def _expected(emu, workspace, key="-updated_on"):
    repos = list(emu.world.workspaces[workspace].repos.values())
    if key == "name":
        return [f"{workspace}/{r.slug}" for r in sorted(repos, key=lambda r: r.name)]
    return [f"{workspace}/{r.slug}" for r in sorted(repos, key=lambda r: r.updated_on, reverse=True)]


def _names(stdout: str) -> list[str]:
    return [line.split("\t")[0] for line in stdout.splitlines()]


@pytest.fixture
def fleet(emulator_factory):
    """The demo seed plus `fleet`, 250 generated repositories (three pages of 100)."""
    seed = demo_seed()
    seed["generators"] = [{"workspace": "fleet", "count": 250, "prefix": "svc", "members": ["alice"]}]
    return emulator_factory(seed)


def test_piped_rows_are_tab_separated_in_the_servers_order(emulator, sign_in, run_bbwizard):
    sign_in(emulator)
    done = run_bbwizard("repos", "acme")
    assert done.returncode == 0, done.stderr
    assert _names(done.stdout) == _expected(emulator, "acme")
    webapp = emulator.world.workspaces["acme"].repos["webapp"]
    row = done.stdout.splitlines()[_expected(emulator, "acme").index("acme/webapp")].split("\t")
    assert row[1:5] == ["private" if webapp.is_private else "public", webapp.language, row[3], webapp.mainbranch]
    assert int(row[3]) > 0
    assert done.stderr == ""


def test_without_a_workspace_every_workspace_of_the_profile_is_listed(emulator, sign_in, run_bbwizard):
    sign_in(emulator)
    done = run_bbwizard("repos", "--sort", "name")
    assert done.returncode == 0, done.stderr
    member_of = [ws.slug for ws in emulator.world.workspaces.values() if "alice" in ws.members]
    assert len(member_of) > 1
    assert sorted(_names(done.stdout)) == sorted(name for ws in member_of for name in _expected(emulator, ws))
    by_workspace = [name.split("/")[0] for name in _names(done.stdout)]
    assert by_workspace == sorted(by_workspace, key=by_workspace.index)  # each workspace in one block


def test_a_big_workspace_comes_back_complete_and_in_order(fleet, sign_in, run_bbwizard):
    sign_in(fleet)
    done = run_bbwizard("repos", "fleet")
    assert done.returncode == 0, done.stderr
    assert _names(done.stdout) == _expected(fleet, "fleet")
    by_name = run_bbwizard("repos", "fleet", "--sort", "name")
    assert _names(by_name.stdout) == _expected(fleet, "fleet", "name")


def test_limit_stops_the_rows_and_the_pages(fleet, sign_in, run_bbwizard):
    sign_in(fleet)
    fleet.stats.requests.clear()
    done = run_bbwizard("repos", "fleet", "--limit", "150")
    assert done.returncode == 0, done.stderr
    assert _names(done.stdout) == _expected(fleet, "fleet")[:150]
    assert fleet.stats.count("/2.0/repositories/fleet") == 2  # pages 1 and 2, never 3
    few = run_bbwizard("repos", "--limit", "3")
    assert len(few.stdout.splitlines()) == 3


def test_query_finds_names_containing_the_text_quotes_included(emulator_factory, sign_in, run_bbwizard):
    seed = demo_seed()
    seed["workspaces"][0]["repositories"].append({"slug": "quoted", "name": 'say "hi" \\ there'})
    emu = emulator_factory(seed)
    sign_in(emu)
    done = run_bbwizard("repos", "acme", "--query", '"hi" \\')
    assert done.returncode == 0, done.stderr
    assert _names(done.stdout) == ["acme/quoted"]
    assert _names(run_bbwizard("repos", "acme", "-q", "web").stdout) == ["acme/webapp"]
    assert name_query('a"b\\c') == 'name ~ "a\\"b\\\\c"'


def test_json_is_one_array_with_the_documented_fields(emulator, sign_in, run_bbwizard):
    sign_in(emulator)
    done = run_bbwizard("repos", "acme", "--json")
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)
    assert [item["full_name"] for item in items] == _expected(emulator, "acme")
    for item in items:
        repo = emulator.world.workspaces["acme"].repos[item["slug"]]
        assert item["workspace"] == "acme" and item["name"] == repo.name
        assert item["is_private"] is repo.is_private and item["mainbranch"] == repo.mainbranch
        assert isinstance(item["size"], int) and item["updated_on"].endswith("Z")
        assert item["clone_https"] == f"{emulator.site_url}/acme/{repo.slug}.git"
        assert "@" not in item["clone_https"]


def test_server_text_never_reaches_stdout_raw(emulator_factory, sign_in, run_bbwizard, git_home):
    seed = demo_seed()
    seed["workspaces"][0]["repositories"].append(
        {"slug": "escape", "name": f"x{ESCAPE}", "language": f"py{ESCAPE}\tthon", "mainbranch": "main", "description": ESCAPE}
    )
    emu = emulator_factory(seed)
    sign_in(emu)
    piped = subprocess.run([sys.executable, "-m", "bbwizard", "repos", "acme"], env=git_home, capture_output=True, timeout=120)
    assert piped.returncode == 0
    assert b"\x1b" not in piped.stdout and b"\x07" not in piped.stdout
    row = next(line for line in piped.stdout.decode().splitlines() if line.startswith("acme/escape\t"))
    assert len(row.split("\t")) == 6  # the tab in the language is not a column
    as_json = subprocess.run([sys.executable, "-m", "bbwizard", "repos", "acme", "--json"], env=git_home, capture_output=True, timeout=120)
    assert b"\x1b" not in as_json.stdout and b"\\u001b" in as_json.stdout
    shown = _on_a_terminal(["repos", "acme"], git_home)
    assert b"acme/escape" in shown and b"\x1b" not in shown and b"\x07" not in shown


def _on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """stdout through a pseudo-terminal (stderr to a pipe): what a person's terminal receives."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bbwizard", *args], stdout=follower, stderr=subprocess.PIPE,
                            env=dict(env, NO_COLOR="1", COLUMNS="120"))
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.stderr_text = proc.stderr.read().decode()
    proc.wait(timeout=120)
    os.close(leader)
    _on_a_terminal.last = proc
    return b"".join(chunks)


def test_on_a_terminal_a_table_with_aligned_columns_and_a_count(emulator, sign_in, git_home):
    sign_in(emulator)
    shown = _on_a_terminal(["repos", "acme"], git_home).decode().replace("\r\n", "\n").splitlines()
    proc = _on_a_terminal.last
    assert proc.returncode == 0, proc.stderr_text
    header, rows = shown[0], shown[1:]
    assert header.split()[:3] == ["NAME", "PRIVACY", "LANGUAGE"]
    assert [row.split()[0] for row in rows] == _expected(emulator, "acme")
    start = header.index("PRIVACY")
    assert all(row[start:].split()[0] in ("private", "public") for row in rows)
    assert any(" KiB " in row for row in rows)
    assert f"{len(rows)} repositories in acme" in proc.stderr_text


def test_unknown_workspace_is_a_sentence(emulator, sign_in, run_bbwizard):
    sign_in(emulator)
    done = run_bbwizard("repos", "no-such-place")
    assert done.returncode == 1
    assert done.stderr == "X No workspace 'no-such-place' (or your token can't see it).\n"
    assert done.stdout == ""


def test_a_token_without_the_repository_scope_names_the_permission(emulator, sign_in, run_bbwizard):
    sign_in(emulator, scopes=["account"])
    done = run_bbwizard("repos", "acme")
    assert done.returncode == 1
    assert "The token lacks the repository scope" in done.stderr and "Repositories: Read" in done.stderr


def test_a_needed_sign_in_exits_3(emulator, sign_in, run_bbwizard):
    from datetime import datetime, timedelta, timezone

    store, profile = sign_in(emulator)
    store.save(profile.replace(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    emulator.revoke_refresh_tokens()
    done = run_bbwizard("repos", "acme")
    assert done.returncode == 3, done.stderr
    assert "bbwizard login" in done.stderr and done.stdout == ""


def test_server_and_network_failures_are_sentences(emulator, sign_in, run_bbwizard):
    sign_in(emulator)
    emulator.inject(kind="status", status=500, path_prefix="/2.0/repositories/")
    done = run_bbwizard("repos", "acme", "--json")
    assert done.returncode == 1
    assert "X Bitbucket had an internal error (HTTP 500)" in done.stderr and done.stdout == ""
    emulator.inject(kind="drop", count=10, path_prefix="/2.0/repositories/")
    dropped = run_bbwizard("repos", "acme")
    assert dropped.returncode == 1
    assert "was dropped before the answer was complete" in dropped.stderr
    assert "Traceback" not in dropped.stderr


def test_pages_are_handed_out_in_page_order():
    order = _PagesInOrder()
    assert order.add(1, ["a"]) == ["a"]
    assert order.add(3, ["c"]) == []
    assert order.add(4, ["d"]) == []
    assert order.add(2, ["b"]) == ["b", "c", "d"]
    assert order.add(6, ["f"]) == []  # page 5 held back by Bitbucket: the rest comes at the end
    assert order.rest() == ["f"]
    assert order.add(None, ["g"]) == ["g"]
    assert order.add(2, ["again"]) == ["again"]  # the core started over after a wrong size
