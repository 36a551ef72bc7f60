"""`bbwizard doctor`: each check against real files, real git config in a temp HOME, and the emulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bbwizard.config import ConfigStore, Profile, utc_now
from bbwizard.diagnosis import (
    all_well,
    check_config_file,
    check_credential_store,
    check_environment,
    check_git_helpers,
    check_profile,
    check_remotes,
    check_with_bitbucket,
    diagnose,
)
from bbwizard.git.env import bbwizard_argv
from bbwizard.secret import Secret

PASSWORD = "app-password-Zq81"


@pytest.fixture
def home(git_env, tmp_path) -> dict[str, str]:
    """git_env's temp HOME, as the environment the checks read (nothing else set)."""
    env = {k: v for k, v in git_env.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")}
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
                     "no_proxy", "BBWIZARD_TOKEN", "GIT_ASKPASS", "GIT_TERMINAL_PROMPT"):
        env.pop(variable, None)
    return env


def git(env: dict[str, str], *args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], env=env, cwd=cwd, check=True, capture_output=True, text=True).stdout


def levels(findings, area: str) -> list[str]:
    return [f.level for f in findings if f.area == area]


# --- config file ---------------------------------------------------------------------------------


def test_a_config_file_others_can_read_is_a_problem_with_its_chmod(signed_in, config_path):
    signed_in()
    assert [f.level for f in check_config_file(ConfigStore(config_path))] == ["ok"]
    config_path.chmod(0o644)
    config_path.parent.chmod(0o755)
    found = check_config_file(ConfigStore(config_path))
    assert [(f.level, f.fix) for f in found] == [
        ("problem", f"chmod 600 {config_path}"),
        ("warning", f"chmod 700 {config_path.parent}"),
    ]
    assert "can be read by other users (mode 644)" in found[0].message


def test_a_config_link_is_noted_and_a_dangling_one_is_a_problem(signed_in, config_path, tmp_path):
    signed_in()
    link = tmp_path / "linked.toml"
    link.symlink_to(config_path)
    found = check_config_file(ConfigStore(link))
    assert found[0].level == "note" and f"is a link to {config_path}" in found[0].message
    assert found[-1].level == "ok"
    dangling = tmp_path / "dangling.toml"
    dangling.symlink_to(tmp_path / "gone" / "config.toml")
    (only,) = check_config_file(ConfigStore(dangling))
    assert only.level == "problem" and "which doesn't exist" in only.message


# --- profiles ------------------------------------------------------------------------------------


def test_the_live_check_asks_the_emulator_and_names_a_refused_token(emu, signed_in):
    profile = signed_in()
    assert check_with_bitbucket(profile) == ("ok", "")
    fine = check_profile(profile, now=utc_now(), live=check_with_bitbucket(profile))[0]
    assert fine.level == "ok" and "Bitbucket accepts the token" in fine.message
    emu.revoke_grants()
    verdict = check_with_bitbucket(profile)
    assert verdict[0] == "refused"
    refused = check_profile(profile, now=utc_now(), live=verdict)[0]
    assert refused.level == "problem" and refused.fix.startswith("Sign in again: bbwizard login")
    assert profile.access_token.reveal() not in refused.message


def test_an_unreachable_server_is_a_warning_not_a_verdict(signed_in):
    from .conftest import free_port

    profile = signed_in().replace(api_url=f"http://127.0.0.1:{free_port()}/2.0")
    verdict = check_with_bitbucket(profile, timeout=5)
    assert verdict[0] == "unreachable"
    found = check_profile(profile, now=utc_now(), live=verdict)[0]
    assert found.level == "warning" and "could not be asked" in found.message


def test_an_access_token_is_checked_against_what_it_was_made_for(emu, config_path):
    token = emu.add_access_token("repository", "acme", repository="webapp")
    profile = Profile(name="ci", client_id="", kind="access_token", access_token=Secret(token), site_url=emu.site_url,
                      api_url=emu.api_url, reach={"workspace": "acme", "repository": "webapp"})
    assert check_with_bitbucket(profile) == ("ok", "")
    forged = profile.replace(access_token=Secret("ATCTT3xFfGN0" + "x" * 40))
    assert check_with_bitbucket(forged)[0] == "refused"


def test_a_refresh_token_unused_for_nearly_three_months_is_named_before_it_dies(signed_in):
    profile = signed_in()
    now = utc_now()
    fresh = check_profile(profile.replace(issued_at=now - timedelta(days=10)), now=now)
    assert [f.level for f in fresh] == ["ok"]
    old = check_profile(profile.replace(issued_at=now - timedelta(days=80)), now=now)
    assert old[-1].level == "warning" and "dies around" in old[-1].message
    assert old[-1].fix == "Use it once to renew it: bbwizard token --profile default >/dev/null"
    dead = check_profile(profile.replace(issued_at=now - timedelta(days=100)), now=now)
    assert dead[-1].level == "problem" and "(100 days)" in dead[-1].message
    unknown = check_profile(profile.replace(issued_at=None), now=now)
    assert unknown[-1].level == "note"


def test_missing_scopes_are_named_with_the_permission_to_tick(signed_in):
    profile = signed_in().replace(scopes=["repository"], issued_at=utc_now())
    found = check_profile(profile, now=utc_now())
    assert found[-1].level == "problem"
    assert "lacks the account scope" in found[-1].message and "Tick Account: Read" in found[-1].fix


def test_an_api_token_close_to_its_date_and_one_past_it(config_path):
    now = utc_now()
    profile = Profile(name="me", client_id="", kind="api_token", email="alice@example.com", access_token=Secret("ATATT-x"),
                      token_expires_on=(now + timedelta(days=5)).date())
    soon = check_profile(profile, now=now)
    assert soon[-1].level == "warning" and "(in 5 days)" in soon[-1].message
    past = check_profile(profile.replace(token_expires_on=(now - timedelta(days=2)).date()), now=now)
    assert [f.level for f in past] == ["problem"] and "id.atlassian.com" in past[0].fix
    assert check_profile(profile.replace(access_token=None), now=now)[0].message.endswith("it holds no token.")


def test_an_unknown_profile_name_is_a_finding(signed_in, config_path, home):
    signed_in()
    found = diagnose(ConfigStore(config_path), profile="nope", environ=home, live=False, cwd=home["HOME"])
    (problem,) = [f for f in found if f.area == "profile"]
    assert "There is no profile named 'nope' (profiles: default)" in problem.message


# --- git's helpers -------------------------------------------------------------------------------


def test_a_helper_left_pointing_at_a_removed_venv_is_a_problem(home, tmp_path):
    key = "credential.https://bitbucket.org.helper"
    git(home, "config", "--global", key, "")
    git(home, "config", "--global", "--add", key, "!/old/venv/bin/bbwizard credential --profile work")
    (found,) = check_git_helpers({}, env=home, cwd=home["HOME"])
    assert found.level == "problem" and "/old/venv/bin/bbwizard, which no longer exists" in found.message
    assert found.fix.endswith("bbwizard setup-git --global --profile work")


def test_a_helper_through_path_is_ours_only_when_path_finds_this_bbwizard(home, tmp_path):
    git_folder = os.path.dirname(shutil.which("git"))
    key = "credential.https://bitbucket.org.helper"
    git(home, "config", "--global", key, "!bbwizard credential --profile work")
    (missing,) = check_git_helpers({}, env={**home, "PATH": f"{tmp_path / 'empty'}:{git_folder}"}, cwd=home["HOME"])
    assert missing.level == "problem" and "no bbwizard is on PATH" in missing.message
    other = tmp_path / "other"
    other.mkdir()
    (other / "bbwizard").write_text("#!/opt/elsewhere/bin/python3\n")
    (other / "bbwizard").chmod(0o755)
    (elsewhere,) = check_git_helpers({}, env={**home, "PATH": f"{other}:{git_folder}"}, cwd=home["HOME"])
    assert elsewhere.level == "warning" and "which is not this one" in elsewhere.message
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "bbwizard").write_text(f"#!{sys.executable}\nfrom bbwizard.cli import main\n")
    (ours / "bbwizard").chmod(0o755)
    (fine,) = check_git_helpers({}, env={**home, "PATH": f"{ours}:{git_folder}"}, cwd=home["HOME"])
    assert fine.level == "ok" and "through PATH" in fine.message


def test_a_storing_helper_after_ours_in_a_repository_is_a_problem(home, tmp_path):
    repo = tmp_path / "repo"
    git(home, "init", "-q", str(repo))
    key = "credential.https://bitbucket.org.helper"
    git(home, "config", "--local", key, "", cwd=repo)
    git(home, "config", "--local", "--add", key, f"!{' '.join(bbwizard_argv())} credential --profile work", cwd=repo)
    git(home, "config", "--local", "--add", "credential.helper", "store", cwd=repo)
    git(home, "config", "--local", "--add", "credential.https://gitlab.com.helper", "cache", cwd=repo)
    found = check_git_helpers({}, env=home, cwd=repo)
    assert [f.level for f in found] == ["ok", "problem"]
    assert "“store” comes after bbwizard's" in found[1].message and "it keeps them" in found[1].message
    assert "this repository's .git/config" in found[1].message


# --- passwords kept by git and remotes ----------------------------------------------------------


def test_app_passwords_in_gits_credential_store_are_named_by_line_never_shown(home):
    Path(home["HOME"], ".git-credentials").write_text(
        f"https://carol:other@gitlab.com\nhttps://alice:{PASSWORD}@bitbucket.org\n")
    xdg = Path(home["XDG_CONFIG_HOME"], "git")
    xdg.mkdir(parents=True)
    (xdg / "credentials").write_text(f"https://x-token-auth:{PASSWORD}@bitbucket.org\n")
    found = check_credential_store(home)
    assert [(f.level, f.subject) for f in found] == [
        ("problem", f"{home['HOME']}/.git-credentials:2"),
        ("problem", f"{xdg}/credentials:1"),
    ]
    assert "a password for alice@bitbucket.org (not shown)" in found[0].message and "2026-07-28" in found[0].message
    assert "a token (user x-token-auth)" in found[1].message
    assert all(PASSWORD not in f.message + f.fix for f in found)


def test_a_password_in_a_remote_and_an_old_ssh_remote_get_their_set_url_lines(home, tmp_path):
    repo = tmp_path / "repo"
    git(home, "init", "-q", str(repo))
    git(home, "remote", "add", "origin", f"https://alice:{PASSWORD}@bitbucket.org/acme/webapp.git", cwd=repo)
    git(home, "remote", "add", "old", "git@bitbucket.org:acme/api.git", cwd=repo)
    git(home, "remote", "add", "new", "git@ssh.bitbucket.org:acme/api.git", cwd=repo)
    git(home, "remote", "add", "gitlab", "https://bob:pw@gitlab.com/x/y.git", cwd=repo)
    found = check_remotes(cwd=repo, env=home)
    assert [(f.level, f.fix) for f in found] == [
        ("problem", "Take the password out of the URL: git remote set-url origin https://bitbucket.org/acme/webapp.git"),
        ("warning", "git remote set-url old git@ssh.bitbucket.org:acme/api.git"),
    ]
    assert PASSWORD not in found[0].message and "2026-11-12" in found[1].message
    assert check_remotes(cwd=tmp_path, env=home) == []  # outside a repository: nothing


# --- environment ---------------------------------------------------------------------------------


def test_variables_that_change_what_bbwizard_does(tmp_path):
    found = check_environment({
        "BBWIZARD_TOKEN": "secret-token-1234", "BBWIZARD_TOKEN_KIND": "api_token", "GIT_ASKPASS": "/usr/bin/ksshaskpass",
        "GIT_TERMINAL_PROMPT": "0", "HTTPS_PROXY": "http://me:proxypass@proxy:3128", "SSL_CERT_FILE": str(tmp_path / "none.pem"),
        "REQUESTS_CA_BUNDLE": "/etc/corp.pem", "GIT_SSL_NO_VERIFY": "1",
    })
    by = {f.subject: f for f in found}
    assert by["BBWIZARD_TOKEN"].level == "note" and by["BBWIZARD_EMAIL"].level == "problem"
    assert by["GIT_ASKPASS"].level == "warning" and by["GIT_TERMINAL_PROMPT"].level == "note"
    assert "http://***@proxy:3128" in by["HTTPS_PROXY"].message
    assert by["SSL_CERT_FILE"].level == "problem" and "not a file" in by["SSL_CERT_FILE"].message
    assert "REQUESTS_CA_BUNDLE" not in by  # SSL_CERT_FILE is set: that one is what counts
    assert by["GIT_SSL_NO_VERIFY"].level == "problem"
    text = json.dumps([f.as_dict() for f in found])
    assert "secret-token-1234" not in text and "proxypass" not in text
    (requests,) = check_environment({"REQUESTS_CA_BUNDLE": "/etc/corp.pem"})
    assert requests.level == "warning" and requests.fix.startswith("export SSL_CERT_FILE=/etc/corp.pem")
    assert check_environment({}) == []


# --- the command ---------------------------------------------------------------------------------


def test_doctor_exits_0_when_all_is_well_and_1_with_a_problem_never_showing_it(signed_in, cli_env, home, tmp_path):
    signed_in()
    def run_cli(args):  # in a folder of the test's, not in a repository
        return subprocess.run([sys.executable, "-m", "bbwizard", *args], env={**cli_env, **home}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    clean = run_cli(["doctor"])
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "✓ Profile 'default' (OAuth consumer, 127.0.0.1): Bitbucket accepts the token" in clean.stdout
    assert clean.stdout.rstrip().endswith("✓ Nothing to fix.")
    Path(home["HOME"], ".git-credentials").write_text(f"https://alice:{PASSWORD}@bitbucket.org\n")
    broken = run_cli(["doctor"])
    assert broken.returncode == 1
    assert "Passwords kept by git\n  X Line 1 of" in broken.stdout and broken.stdout.rstrip().endswith("1 thing to fix.")
    as_json = run_cli(["doctor", "--json", "--offline"])
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["ok"] is False and {f["area"] for f in document["findings"]} >= {"config", "profile", "credentials"}
    for run in (broken, as_json):
        assert PASSWORD not in run.stdout + run.stderr
    assert all_well([]) and not all_well(diagnose(ConfigStore(tmp_path / "none.toml"), environ=home, live=False, cwd=tmp_path))
