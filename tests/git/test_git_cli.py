"""The commands as a person (or git) runs them: `bbwizard clone`, `credential`, `setup-git`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bbwizard.git import setup as git_setup

# A hang guard, not a timing assertion: without it a regression would stall the whole suite.
HANG_GUARD = 120


# --- credential ------------------------------------------------------------------------------


def test_credential_get_answers_for_the_profiles_host_only(emulator, sign_in, run_bbwizard):
    store, profile = sign_in(emulator)
    got = run_bbwizard("credential", "get", input=f"protocol=http\nhost={emulator.git_host}\npath=acme/webapp.git\n\n")
    assert got.returncode == 0 and got.stderr == ""
    lines = got.stdout.splitlines()
    assert lines[:2] == ["username=x-token-auth", f"password={profile.access_token.reveal()}"]
    assert lines[2] == f"password_expiry_utc={int(profile.expires_at.timestamp())}"

    port = int(emulator.git_host.rsplit(":", 1)[1])
    for request in (
        "protocol=https\nhost=bitbucket.org\n\n",
        f"protocol=https\nhost={emulator.git_host}\n\n",
        f"protocol=http\nhost=127.0.0.1:{port + 1}\n\n",
        "protocol=http\nhost=evil.example\n\n",
        "",
    ):
        other = run_bbwizard("credential", "get", input=request)
        assert (other.returncode, other.stdout, other.stderr) == (0, "", ""), request


def test_credential_store_and_erase_are_ignored(emulator, sign_in, run_bbwizard):
    store, profile = sign_in(emulator)
    before = store.path.read_bytes()
    request = f"protocol=http\nhost={emulator.git_host}\nusername=x-token-auth\npassword={profile.access_token.reveal()}\n\n"
    for action in ("store", "erase", "something-newer"):
        done = run_bbwizard("credential", action, input=request)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), action
    assert store.path.read_bytes() == before
    assert run_bbwizard("credential", "get", input=f"protocol=http\nhost={emulator.git_host}\n\n").stdout


def test_credential_get_refreshes_a_stale_token(emulator, sign_in, run_bbwizard):
    emulator.token_lifetime = 60  # under the five minutes of margin: the helper refreshes first
    store, profile = sign_in(emulator)
    got = run_bbwizard("credential", "get", input=f"protocol=http\nhost={emulator.git_host}\n\n")
    password = dict(line.split("=", 1) for line in got.stdout.splitlines())["password"]
    assert password != profile.access_token.reveal()
    assert emulator.stats.grants["refresh_token"] == 1
    assert store.get("work").access_token.reveal() == password


def test_credential_get_failure_is_one_sentence_on_stderr(emulator, sign_in, run_bbwizard):
    emulator.token_lifetime = 1
    store, profile = sign_in(emulator)
    emulator.revoke_refresh_tokens()
    time.sleep(1.1)
    got = run_bbwizard("credential", "get", input=f"protocol=http\nhost={emulator.git_host}\n\n")
    assert got.returncode == 3
    assert got.stdout == "quit=1\n"  # git stops here instead of asking the terminal
    assert got.stderr.startswith("bbwizard: ") and got.stderr.count("\n") == 1
    assert "Sign in again: bbwizard login --profile work" in got.stderr
    assert profile.access_token.reveal() not in got.stderr and profile.refresh_token.reveal() not in got.stderr


def test_credential_without_any_profile(run_bbwizard, git_home):
    got = run_bbwizard("credential", "get", input="protocol=https\nhost=bitbucket.org\n\n")
    assert got.returncode == 3 and got.stdout == "quit=1\n"
    assert got.stderr.startswith("bbwizard: ")


def test_credential_get_imports_nothing_heavy(emulator, sign_in, git_home):
    sign_in(emulator)
    probe = (
        "import io, sys\n"
        f"sys.stdin = io.StringIO('protocol=http\\nhost={emulator.git_host}\\n\\n')\n"
        "from bbwizard.cli import main\n"
        "code = main(['credential', 'get'])\n"
        "heavy = sorted(m for m in ('textual', 'httpx', 'rich', 'filelock', 'asyncio') if m in sys.modules)\n"
        "print('HEAVY', heavy, code, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=git_home, capture_output=True, text=True, timeout=60)
    assert "password=" in done.stdout
    assert "HEAVY [] 0" in done.stderr, done.stderr


# --- setup-git -------------------------------------------------------------------------------


def test_setup_git_in_a_repository_and_unset(emulator, sign_in, run_bbwizard, run_git, tmp_path):
    sign_in(emulator)
    repo = tmp_path / "repo"
    run_git("init", "-q", str(repo))
    run_git("config", "--local", f"credential.{emulator.site_url}.helper", "cache", cwd=repo)
    key = f"credential.{emulator.site_url}.helper"

    done = run_bbwizard("setup-git", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert f"✓ git in {repo} now asks bbwizard (profile “work”) for credentials for {emulator.site_url}." in done.stderr
    assert f"! The helper “cache” for {emulator.site_url} was replaced." in done.stderr
    values = run_git("config", "--local", "--get-all", key, cwd=repo).stdout.splitlines()
    assert values[0] == "" and git_setup._is_our_helper(values[1]) and "credential --profile work" in values[1] and len(values) == 2

    again = run_bbwizard("setup-git", cwd=repo)
    assert again.returncode == 0
    assert "already asks bbwizard" in again.stderr
    assert run_git("config", "--local", "--get-all", key, cwd=repo).stdout.splitlines() == values

    fill = run_git("credential", "fill", cwd=repo, input=f"protocol=http\nhost={emulator.git_host}\n\n")
    assert "username=x-token-auth" in fill.stdout

    undone = run_bbwizard("setup-git", "--unset", cwd=repo)
    assert undone.returncode == 0
    assert f"✓ Removed bbwizard as the credential helper for {emulator.site_url} from {repo}." in undone.stderr
    assert run_git("config", "--local", "--get-all", key, cwd=repo, check=False).returncode == 1
    assert f'[credential "{emulator.site_url}"]' not in (repo / ".git" / "config").read_text()
    nothing = run_bbwizard("setup-git", "--unset", cwd=repo)
    assert "nothing to undo" in nothing.stderr


def test_setup_git_outside_a_repository_is_refused(emulator, sign_in, run_bbwizard, tmp_path):
    sign_in(emulator)
    outside = tmp_path / "plain"
    outside.mkdir()
    done = run_bbwizard("setup-git", cwd=outside)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "X This folder is not inside a git repository. Run `bbwizard setup-git` in one, or add "
        "--global to set up every repository of this account."
    )


def test_setup_git_global_is_opt_in_and_undone_exactly(emulator, sign_in, run_bbwizard, run_git, git_home, tmp_path):
    store, profile = sign_in(emulator)
    gitconfig = Path(git_home["HOME"]) / ".gitconfig"
    run_git("config", "--global", "credential.helper", "store")
    before = gitconfig.read_text()
    done = run_bbwizard("setup-git", "--global", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "✓ git in your global git config now asks bbwizard" in done.stderr
    text = gitconfig.read_text()
    assert f'[credential "{emulator.site_url}"]' in text
    assert profile.access_token.reveal() not in text and profile.refresh_token.reveal() not in text

    # any repository now gets the token from bbwizard, and `store` never sees it
    fill = run_git("credential", "fill", cwd=tmp_path, input=f"protocol=http\nhost={emulator.git_host}\n\n")
    assert f"password={profile.access_token.reveal()}" in fill.stdout
    run_git("credential", "approve", cwd=tmp_path, input=fill.stdout + "\n")
    credentials = Path(git_home["HOME"]) / ".git-credentials"
    assert not credentials.exists() or profile.access_token.reveal() not in credentials.read_text()

    undone = run_bbwizard("setup-git", "--global", "--unset", cwd=tmp_path)
    assert undone.returncode == 0
    assert gitconfig.read_text() == before


# --- clone -----------------------------------------------------------------------------------


def _summary_rows(stderr: str) -> list[str]:
    """The table's rows: a mark, then WORKSPACE/REPO."""
    rows = []
    for line in stderr.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] in ("✓", "✗") and "/" in words[1]:
            rows.append(line)
    return rows


def test_clone_command_single(emulator, sign_in, run_bbwizard, run_git):
    sign_in(emulator)
    done = run_bbwizard("clone", "acme/webapp", "--branch", "develop")
    assert done.returncode == 0, done.stderr
    dest = Path.cwd() / "webapp"
    assert f"✓ Cloned acme/webapp (branch develop) into {dest}" in done.stderr
    assert done.stdout == ""
    assert run_git("rev-parse", "--abbrev-ref", "HEAD", cwd=dest).stdout.strip() == "develop"


def test_clone_command_with_a_stale_token_refreshes_it_first(emulator, sign_in, run_bbwizard):
    from datetime import datetime, timedelta, timezone

    store, profile = sign_in(emulator)
    store.save(profile.replace(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    done = run_bbwizard("clone", "acme/webapp")
    assert done.returncode == 0, done.stderr
    assert emulator.stats.grants["refresh_token"] == 1
    assert store.get("work").token_state() == "fresh"


def test_clone_command_that_needs_a_sign_in_says_so_and_leaves_no_folder(emulator, sign_in, run_bbwizard):
    from datetime import datetime, timedelta, timezone

    store, profile = sign_in(emulator)
    store.save(profile.replace(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    emulator.revoke_refresh_tokens()
    done = run_bbwizard("clone", "acme/webapp")
    assert done.returncode == 3, done.stderr
    assert "bbwizard login --profile work" in done.stderr
    assert not (Path.cwd() / "webapp").exists()


def test_clone_command_with_a_url_and_a_destination(emulator, sign_in, run_bbwizard):
    sign_in(emulator)
    done = run_bbwizard("clone", f"{emulator.site_url}/open-tools/data-pipeline", "pipeline dir", "--depth", "1")
    assert done.returncode == 0, done.stderr
    assert "(branch develop)" in done.stderr
    assert (Path.cwd() / "pipeline dir" / "etl.py").exists()


def test_clone_command_several_prints_a_summary(emulator_factory, parallel_seed, sign_in, run_bbwizard):
    emu = emulator_factory(parallel_seed)
    sign_in(emu)
    names = [f"fleet/svc-{i:05d}" for i in range(1, 9)]
    done = run_bbwizard("clone", *names, "--into", "all", "--jobs", "4")
    assert done.returncode == 0, done.stderr
    rows = _summary_rows(done.stderr)
    assert len(rows) == 8
    for name, row in zip(names, rows):
        assert row.split()[:3] == ["✓", name, "main"]
        assert str(Path.cwd() / "all" / name.split("/")[1]) in row
    assert "✓ Cloned 8 repositories." in done.stderr
    assert sorted(p.name for p in (Path.cwd() / "all").iterdir()) == [n.split("/")[1] for n in names]


def test_clone_command_several_with_a_failure_exits_non_zero(emulator, sign_in, run_bbwizard):
    sign_in(emulator)
    done = run_bbwizard("clone", "acme/webapp", "acme/nope", "--into", "mixed")
    assert done.returncode == 1
    rows = [row.split()[:2] for row in _summary_rows(done.stderr)]
    assert rows == [["✓", "acme/webapp"], ["✗", "acme/nope"]]
    assert (
        f"X acme/nope: acme/nope was not found on {emulator.git_host}, or this account can't see it. "
        "Check the workspace and repository names." in done.stderr
    )
    assert "X 1 of 2 clones failed." in done.stderr


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["a/b", "c/d", "e/f"], "X To clone several repositories, add --into DIR (each goes to DIR/REPO)."),
        (["webapp"], "X “webapp” is not a repository bbwizard can clone."),
        (["https://elsewhere.example/acme/webapp.git"], "X acme/webapp is on elsewhere.example, but this profile signs in to"),
    ],
)
def test_clone_command_refuses_odd_input(emulator, sign_in, run_bbwizard, args, sentence):
    sign_in(emulator)
    done = run_bbwizard("clone", *args)
    assert done.returncode == 2
    assert sentence in done.stderr


def test_clone_command_into_a_non_empty_folder(emulator, sign_in, run_bbwizard):
    sign_in(emulator)
    (Path.cwd() / "webapp").mkdir()
    (Path.cwd() / "webapp" / "keep.txt").write_text("keep")
    done = run_bbwizard("clone", "acme/webapp")
    assert done.returncode == 1
    assert f"X {Path.cwd() / 'webapp'} already exists and is not empty." in done.stderr
    assert (Path.cwd() / "webapp" / "keep.txt").read_text() == "keep"


def _clone_waiting_on_the_emulator(emulator, git_home):
    """``bbwizard clone acme/webapp`` started as a real process, with git's first request held
    at the emulator: returns (process, hold, destination, git's pids) at that moment."""
    held = emulator.hold("/acme/webapp.git/")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bbwizard", "clone", "acme/webapp"],
        env=dict(git_home, NO_COLOR="1"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not held.wait_arrived(HANG_GUARD):
        proc.kill()
        raise AssertionError(f"git never asked the emulator: {proc.communicate()}")
    gits = _git_clones_under(proc.pid)
    assert gits, "no git clone runs under bbwizard"
    return proc, held, Path.cwd() / "webapp", gits


def _git_clones_under(parent: int) -> set[int]:
    """git processes descended from ``parent`` (from the parent ids in /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text(errors="replace").rpartition(")")[2].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [parent]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return {pid for pid in found if _running(pid) and _command(pid).startswith("git")}


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _running(pid: int) -> bool:
    """Alive and not a zombie (a process whose parent died may wait to be reaped by init)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text(errors="replace").rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_a_signal_cancels_the_clone_cleanly(emulator, sign_in, git_home, signum, code):
    # Ctrl+C, `kill` and a closed terminal: git is stopped and the half-made folder removed.
    sign_in(emulator)
    proc, held, dest, gits = _clone_waiting_on_the_emulator(emulator, git_home)
    try:
        assert dest.is_dir()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        held.release()
    assert proc.returncode == code, err
    assert f"! Cancelled the clone of acme/webapp and removed {dest}." in err
    assert not dest.exists()
    assert not [pid for pid in gits if _running(pid)]  # bbwizard waited for its git to end


def test_after_sigkill_git_finishes_by_itself(emulator, sign_in, git_home):
    # bbwizard killed outright (the OOM killer, kill -9): git waits on nothing of bbwizard's, so
    # once the network answers it finishes (or fails) on its own.
    sign_in(emulator)
    proc, held, dest, gits = _clone_waiting_on_the_emulator(emulator, git_home)
    try:
        proc.kill()
        proc.communicate(timeout=HANG_GUARD)
    finally:
        held.release()
    deadline = time.monotonic() + HANG_GUARD  # a hang guard, not a measure of speed
    while [pid for pid in gits if _running(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in gits if _running(pid)], [_command(pid) for pid in gits]


def test_clone_command_draws_bars_on_a_terminal(emulator, sign_in, git_home):
    import os
    import pty

    sign_in(emulator)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bbwizard", "clone", "acme/webapp", "acme/firmware", "--into", "tty"],
        env=dict(git_home, NO_COLOR="1", COLUMNS="120", TERM="xterm"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(leader)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, screen
    assert "acme/webapp" in screen and "acme/firmware" in screen
    assert "100%" in screen  # rich's bars
    assert "✓ Cloned 2 repositories." in screen


def test_a_destination_that_looks_like_a_repository_gets_a_warning(emulator, sign_in, run_bbwizard):
    sign_in(emulator)
    done = run_bbwizard("clone", "acme/webapp", "acme/firmware")
    assert done.returncode == 0, done.stderr
    assert "! Cloning acme/webapp into the folder acme/firmware. To clone several repositories, add --into DIR." in done.stderr
    assert (Path.cwd() / "acme" / "firmware" / "app" / "views.py").exists()
