"""`bbwizard clone --branch B` where some repositories lack B, and options after `--` for git clone."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbwizard import git
from bbwizard.errors import UsageError

# --- branch fallback ---------------------------------------------------------------------------


def test_into_with_a_branch_one_repository_lacks_clones_its_main_branch_with_a_note(emulator, sign_in, run_bbwizard, run_git):
    sign_in(emulator)
    done = run_bbwizard("clone", "acme/webapp", "acme/firmware", "--into", "out", "--branch", "develop")
    assert done.returncode == 0, done.stderr
    out = Path.cwd() / "out"
    assert run_git("rev-parse", "--abbrev-ref", "HEAD", cwd=out / "webapp").stdout.strip() == "develop"
    assert run_git("rev-parse", "--abbrev-ref", "HEAD", cwd=out / "firmware").stdout.strip() == "main"
    assert "! acme/firmware has no branch 'develop'; cloned its main branch 'main'." in done.stderr
    assert "acme/webapp has no branch" not in done.stderr
    assert "✓ Cloned 2 repositories." in done.stderr


def test_one_repository_without_the_branch_gets_its_main_branch_and_a_note(emulator, sign_in, run_bbwizard, run_git):
    sign_in(emulator)
    done = run_bbwizard("clone", "acme/legacy-billing", "--branch", "develop")
    assert done.returncode == 0, done.stderr
    assert "! acme/legacy-billing has no branch 'develop'; cloned its main branch 'master'." in done.stderr
    assert "✓ Cloned acme/legacy-billing (branch master)" in done.stderr
    dest = Path.cwd() / "legacy-billing"
    assert run_git("rev-parse", "--abbrev-ref", "HEAD", cwd=dest).stdout.strip() == "master"


async def test_the_core_names_the_missing_branch_and_fetches_no_objects_for_it(emulator, sign_in, tmp_path):
    store, profile = sign_in(emulator)
    result = await git.clone_repository(profile, "acme", "firmware", tmp_path / "fw", branch="develop", store=store, branch_fallback=True)
    assert (result.ok, result.branch, result.missing_branch) == (True, "main", "develop")
    fetches = [r for r in emulator.stats.requests if r.path.endswith("firmware.git/git-upload-pack")]
    # protocol v2: one ls-refs per attempt, and one fetch only, for the clone that was kept
    assert len(fetches) == 3, fetches


async def test_without_fallback_a_missing_branch_is_still_an_error(emulator, sign_in, tmp_path):
    store, profile = sign_in(emulator)
    from bbwizard.errors import GitError

    with pytest.raises(GitError, match="acme/firmware has no branch “develop”"):
        await git.clone_repository(profile, "acme", "firmware", tmp_path / "fw", branch="develop", store=store)
    assert not (tmp_path / "fw").exists()


# --- options after -- --------------------------------------------------------------------------


def test_options_after_dashes_reach_git_clone(emulator, sign_in, run_bbwizard, run_git):
    sign_in(emulator)
    done = run_bbwizard("clone", "acme/webapp", "--", "--single-branch", "--no-tags", "-c", "core.autocrlf=false")
    assert done.returncode == 0, done.stderr
    dest = Path.cwd() / "webapp"
    assert run_git("config", "--get", "remote.origin.fetch", cwd=dest).stdout.strip() == "+refs/heads/main:refs/remotes/origin/main"
    assert run_git("config", "--get", "remote.origin.tagOpt", cwd=dest).stdout.strip() == "--no-tags"
    assert run_git("config", "--get", "core.autocrlf", cwd=dest).stdout.strip() == "false"
    # bbwizard's helper is still the one in the new repository, and git pull still works through it
    helpers = run_git("config", "--get-all", git.helper_key(emulator.site_url), cwd=dest).stdout.splitlines()
    assert helpers[0] == "" and "credential" in helpers[1]
    assert run_git("pull", "--quiet", cwd=dest).returncode == 0


def test_options_after_dashes_apply_to_each_clone_with_into(emulator, sign_in, run_bbwizard, run_git):
    sign_in(emulator)
    done = run_bbwizard("clone", "acme/webapp", "acme/firmware", "--into", "two", "--", "--single-branch")
    assert done.returncode == 0, done.stderr
    for slug in ("webapp", "firmware"):
        branches = run_git("branch", "-r", cwd=Path.cwd() / "two" / slug).stdout.split()
        assert "origin/main" in branches and "origin/develop" not in branches and "origin/release/2.4" not in branches


@pytest.mark.parametrize(
    ("passed", "sentence"),
    [
        (["-c", "credential.helper=store"], "bbwizard does not pass -c credential.helper to git clone"),
        (["--config=credential.helper=store"], "bbwizard does not pass --config credential.helper to git clone"),
        (["-cCredential.https://x.helper=store"], "bbwizard does not pass -c Credential.https://x.helper"),
        (["-c", "url.http://evil.example/.insteadOf=http://"], "bbwizard does not pass -c url.http://evil.example/.insteadOf"),
        (["-c", "http.extraHeader=Authorization: Bearer s3cr3t-value"], "bbwizard does not pass -c http.extraHeader"),
        (["-c", "http.http://x/.sslVerify=false"], "bbwizard does not pass -c http.http://x/.sslVerify"),
        (["-c", "core.askPass=/bin/echo"], "bbwizard does not pass -c core.askPass"),
        (["--separate-git-dir=/tmp/elsewhere"], "bbwizard does not pass --separate-git-dir to git clone: it puts the repository outside"),
        (["--sep=/tmp/elsewhere"], "bbwizard does not pass --sep to git clone. After -- it passes:"),
        (["--bare"], "bbwizard does not pass --bare to git clone: a bare clone has no work tree"),
        (["--bundle-uri=http://evil.example/b"], "bbwizard does not pass --bundle-uri to git clone: it fetches from another address"),
        (["-b", "develop"], "bbwizard does not pass -b to git clone: use bbwizard's own --branch"),
        (["http://evil.example/x.git"], "After --, bbwizard passes only options to git clone"),
        (["--single-branch", "elsewhere"], "After --, bbwizard passes only options to git clone"),
        (["--", "http://evil.example/x.git"], "After --, bbwizard passes only options to git clone"),
        (["--depth"], "The git clone option --depth needs a value after it."),
    ],
)
def test_options_that_could_move_the_clone_or_the_token_are_refused(emulator, sign_in, run_bbwizard, git_home, passed, sentence):
    sign_in(emulator)
    done = run_bbwizard("clone", "acme/webapp", "--", *passed)
    assert done.returncode == 2, done.stderr
    assert f"X {sentence}" in done.stderr
    assert "s3cr3t" not in done.stderr and "store" not in done.stderr and "evil.example/x" not in done.stderr
    assert not (Path.cwd() / "webapp").exists()
    assert not (Path(git_home["HOME"]) / ".git-credentials").exists()
    assert emulator.stats.count("/acme/webapp.git/*") == 0


def test_a_credential_setting_in_git_config_still_loses_to_bbwizards_helper(emulator, sign_in, run_bbwizard, run_git, git_home):
    # A store helper configured globally would write the token to ~/.git-credentials after the
    # clone; the helper list bbwizard injects (reset, then its own) comes after every config file.
    sign_in(emulator)
    run_git("config", "--global", "credential.helper", "store")
    done = run_bbwizard("clone", "acme/webapp", "--", "--single-branch", "-c", "core.autocrlf=false")
    assert done.returncode == 0, done.stderr
    assert not (Path(git_home["HOME"]) / ".git-credentials").exists()


def test_allowed_options_are_returned_with_their_values():
    assert git.check_clone_arguments(["-j4", "--depth", "3", "--filter=blob:none", "-o", "upstream", "--recurse-submodules=lib"]) == [
        "-j4", "--depth", "3", "--filter=blob:none", "-o", "upstream", "--recurse-submodules=lib",
    ]
    assert git.check_clone_arguments([]) == []
    with pytest.raises(UsageError, match="does not pass -n"):
        git.check_clone_arguments(["-nq"])
