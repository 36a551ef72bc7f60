"""``credential get`` notices a storing helper that git calls after bbwizard's for the host.

git hands a token that worked to every helper in its list with ``store``: ``credential.helper store``
added after ``setup-git --global`` writes each token to ~/.git-credentials. The helper says so once
on stderr (git shows it), with the command that removes the line, and again only when git's
config changes to hold another such helper. Real git, a temp HOME, the emulator over loopback.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from bbwizard.git.credential import HELPER_CHECK_FILE

WARNING = "bbwizard: warning:"


@pytest.fixture
def signed_in_globally(emulator, sign_in, run_bbwizard):
    """A profile, ``setup-git --global`` done; returns (profile, store)."""
    store, profile = sign_in(emulator)
    done = run_bbwizard("setup-git", "--global")
    assert done.returncode == 0, done.stderr
    return profile, store


def _fetch(run_git, emulator, cwd=None):
    """``git ls-remote`` of a repository: git asks the helpers, then hands them the token with ``store``."""
    done = run_git("ls-remote", emulator.clone_url("acme", "webapp"), cwd=cwd, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _warnings(done) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith(WARNING)]


def test_a_store_helper_after_setup_git_is_named_once_with_the_command_that_removes_it(
    emulator, signed_in_globally, run_git, git_home
):
    profile, store = signed_in_globally
    token = profile.access_token.reveal()
    home = Path(git_home["HOME"])
    assert _warnings(_fetch(run_git, emulator)) == []  # bbwizard's helper alone: nothing to say

    run_git("config", "--global", "--add", "credential.helper", "store")
    first = _warnings(_fetch(run_git, emulator))
    assert len(first) == 1
    assert "“store”" in first[0] and "~/.git-credentials" in first[0] and "~/.gitconfig" in first[0]
    assert first[0].endswith("Remove it with: git config --global --fixed-value --unset-all credential.helper store")
    assert token in (home / ".git-credentials").read_text()  # what the warning is about
    state = Path(store.path).parent / HELPER_CHECK_FILE
    checked = state.stat()

    second = _fetch(run_git, emulator)
    assert _warnings(second) == []  # said once
    assert state.stat().st_ino == checked.st_ino and state.stat().st_mtime_ns == checked.st_mtime_ns  # git's list not read again

    other = home / "more-credentials"
    run_git("config", "--global", "--add", "credential.helper", f"store --file {other}")
    third = _warnings(_fetch(run_git, emulator))
    assert len(third) == 1 and f"“store --file {other}”" in third[0]
    assert third[0].endswith(f"--unset-all credential.helper {shlex.quote(f'store --file {other}')}")

    for line in [*first, *third]:  # the sentence's own command removes the line
        command = shlex.split(line.split("Remove it with: ", 1)[1])
        run_git(*command[1:])
    assert run_git("config", "--global", "--get-all", "credential.helper", check=False).stdout == ""
    assert _warnings(_fetch(run_git, emulator)) == []

    run_git("config", "--global", "--add", "credential.helper", "store")  # back again: said again
    assert len(_warnings(_fetch(run_git, emulator))) == 1
    everything = "".join([first[0], third[0], state.read_text()])
    assert token not in everything and profile.refresh_token.reveal() not in everything
    assert profile.client_secret.reveal() not in everything
    assert state.stat().st_mode & 0o077 == 0


def test_a_helper_that_ignores_store_after_bbwizards_is_not_mentioned(emulator, signed_in_globally, run_git):
    run_git("config", "--global", "--add", "credential.helper", "!gh auth git-credential")
    assert _warnings(_fetch(run_git, emulator)) == []
    # a storing helper for another host is none of this host's business either
    run_git("config", "--global", "--add", "credential.https://example.org.helper", "store")
    assert _warnings(_fetch(run_git, emulator)) == []


def test_a_helper_before_bbwizards_is_not_mentioned(emulator, sign_in, run_bbwizard, run_git):
    run_git("config", "--global", "credential.helper", "store")
    sign_in(emulator)
    assert run_bbwizard("setup-git", "--global").returncode == 0  # resets the host's list, then adds its own
    assert _warnings(_fetch(run_git, emulator)) == []


def test_a_repositorys_own_store_helper_is_named_with_a_local_command(emulator, signed_in_globally, run_git, tmp_path):
    repo = tmp_path / "repo"
    run_git("init", "-q", str(repo))
    store_file = tmp_path / "repo-credentials"
    run_git("config", "--local", "--add", "credential.helper", f"store --file {store_file}", cwd=repo)
    run_git("config", "--local", "--add", f"credential.{emulator.site_url}.helper", "osxkeychain", cwd=repo)
    elsewhere = _warnings(_fetch(run_git, emulator, cwd=tmp_path))
    assert elsewhere == []  # outside that repository git does not read its config

    # git runs the helper in the repository's top folder, and reads the repository's config there
    warned = _warnings(_fetch_in(run_git, emulator, repo))
    assert len(warned) == 2
    stored, keychain = warned
    assert f"“store --file {store_file}”" in stored and "~/.git-credentials" not in stored
    assert stored.endswith(f"git config --local --fixed-value --unset-all credential.helper {shlex.quote(f'store --file {store_file}')}")
    assert "“osxkeychain”" in keychain and "system's credential store" in keychain
    assert keychain.endswith(f"--local --fixed-value --unset-all credential.{emulator.site_url}.helper osxkeychain")
    assert _warnings(_fetch_in(run_git, emulator, repo)) == []


def _fetch_in(run_git, emulator, repo: Path):
    """``git fetch`` in ``repo`` from the emulator (git runs the helpers in the repository's folder)."""
    run_git("remote", "add", "origin", emulator.clone_url("acme", "webapp"), cwd=repo, check=False)
    done = run_git("fetch", "-q", "origin", cwd=repo, check=False)
    assert done.returncode == 0, done.stderr
    return done


def test_an_included_file_is_watched_and_named_with_its_own_command(emulator, signed_in_globally, run_git, git_home):
    home = Path(git_home["HOME"])
    extra = home / "dotfiles" / "git-extra"
    extra.parent.mkdir()
    extra.write_text("[user]\n\tname = Test Person\n")
    run_git("config", "--global", "--add", "include.path", str(extra))
    assert _warnings(_fetch(run_git, emulator)) == []
    # the included file alone changes: ~/.gitconfig is untouched
    run_git("config", "--file", str(extra), "--add", "credential.helper", "store")
    warned = _warnings(_fetch(run_git, emulator))
    assert len(warned) == 1 and "~/dotfiles/git-extra" in warned[0]
    assert warned[0].endswith(f"git config --file {extra} --fixed-value --unset-all credential.helper store")
    assert os.environ.get("HOME") == git_home["HOME"]


@pytest.mark.parametrize("damage", ["garbled", "a folder"])
def test_a_damaged_or_unwritable_check_file_still_answers_and_warns(emulator, signed_in_globally, run_git, git_home, damage):
    profile, store = signed_in_globally
    state = Path(store.path).parent / HELPER_CHECK_FILE
    run_git("config", "--global", "--add", "credential.helper", "store")
    if damage == "garbled":
        state.write_bytes(b"bbwizard git helper check 1\n\xff\xfe not a fingerprint\n\0\0\n{not json")
    else:
        state.mkdir()  # can be neither read nor replaced
    done = _fetch(run_git, emulator)  # the token reached git: ls-remote worked
    assert len(_warnings(done)) == 1
    assert profile.access_token.reveal() in (Path(git_home["HOME"]) / ".git-credentials").read_text()
    if damage == "garbled":  # replaced by a good one: said once
        assert state.read_text().startswith("bbwizard git helper check 1\n")
        assert _warnings(_fetch(run_git, emulator)) == []
    else:  # nothing can be remembered: said on each fetch rather than never
        assert len(_warnings(_fetch(run_git, emulator))) == 1
        assert state.is_dir() and list(state.parent.glob(f"{HELPER_CHECK_FILE}.*.tmp")) == []
