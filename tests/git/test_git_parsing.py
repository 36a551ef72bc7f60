"""Unit tests of git.py's pure parts: references, URLs, env, progress, the helper protocol."""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta, timezone

import pytest

from bbwizard import git
from bbwizard.config import Profile, UserInfo
from bbwizard.errors import GitError, ScopeError, SignInRequired, UsageError
from bbwizard.git import CloneOutput, CloneProgress, RepositoryRef, parse_repository_ref
from bbwizard.git import env as git_env
from bbwizard.git import setup as git_setup
from bbwizard.secret import Secret

# --- repository references ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "acme/website",
        "  acme/website  ",
        "acme/website.git",
        "https://bitbucket.org/acme/website.git",
        "https://bitbucket.org/acme/website",
        "https://bitbucket.org/acme/website/",
        "https://alice@bitbucket.org/acme/website.git",
        "https://x-token-auth@bitbucket.org/acme/website",
        "https://bitbucket.org/acme/website/src/main/README.md",
        "bitbucket.org/acme/website",
        "bitbucket.org/acme/website.git",
        "git@bitbucket.org:acme/website.git",
        "git@bitbucket.org:acme/website",
        "ssh://git@bitbucket.org/acme/website.git",
        "git@ssh.bitbucket.org:acme/website.git",
        "ssh://git@ssh.bitbucket.org/acme/website.git",
    ],
)
def test_reference_forms(text: str) -> None:
    ref = parse_repository_ref(text)
    assert ref == RepositoryRef("acme", "website")
    workspace, slug = ref
    assert (workspace, slug) == ("acme", "website")
    assert ref.full_name == "acme/website"


def test_reference_with_port_and_site_check() -> None:
    site = "http://127.0.0.1:8123"
    assert parse_repository_ref("http://127.0.0.1:8123/ws/repo.git", site_url=site) == ("ws", "repo")
    with pytest.raises(UsageError) as caught:
        parse_repository_ref("http://127.0.0.1:9999/ws/repo.git", site_url=site)
    assert str(caught.value) == (
        "ws/repo is on 127.0.0.1:9999, but this profile signs in to 127.0.0.1:8123. "
        "Use a profile for that site, or give WORKSPACE/REPO."
    )
    # ssh.bitbucket.org is the SSH door of bitbucket.org
    assert parse_repository_ref("git@ssh.bitbucket.org:ws/r.git", site_url="https://bitbucket.org") == ("ws", "r")


def test_password_in_url_is_dropped_and_never_echoed() -> None:
    assert parse_repository_ref("https://x-token-auth:s3cr3t-t0ken@bitbucket.org/ws/r.git") == ("ws", "r")
    with pytest.raises(UsageError) as caught:
        parse_repository_ref("https://x-token-auth:s3cr3t-t0ken@bitbucket.org/ws")
    assert "s3cr3t-t0ken" not in str(caught.value)


def test_odd_names_are_kept_as_plain_components() -> None:
    assert parse_repository_ref("ws/-rf") == ("ws", "-rf")
    assert parse_repository_ref("-ws/--upload-pack=evil") == ("-ws", "--upload-pack=evil")
    assert parse_repository_ref("ws/a..b") == ("ws", "a..b")
    assert parse_repository_ref("équipe/dépôt") == ("équipe", "dépôt")
    assert parse_repository_ref("https://bitbucket.org/%C3%A9quipe/d%C3%A9p%C3%B4t.git") == ("équipe", "dépôt")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "website",
        "acme/",
        "/website",
        "a/b/c",
        "ws/..",
        "../repo",
        "ws/.",
        "ws/re po",
        "ws/repo\nrm",
        "ws/re\x00po",
        "ws/re\\po",
        "https://bitbucket.org/ws/%2E%2E",
        "https://bitbucket.org/ws/a%2Fb",
        "https://bitbucket.org/ws",
        "ftp://bitbucket.org/ws/repo",
        "file:///etc/passwd",
        "https://bitbucket.org/ws/repo?x=1",
        "https://bitbucket.org:notaport/ws/repo",
        "ws/re\u200bpo",
        "../repo/x",
        "./ws/repo",
    ],
)
def test_odd_input_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_repository_ref(text)
    message = str(caught.value)
    assert "is not a repository bbwizard can clone" in message
    assert "Give WORKSPACE/REPO (for example acme/website)" in message


def test_clone_url_has_no_credentials_and_quotes_names() -> None:
    assert git.clone_url("https://bitbucket.org/", "acme", "website") == "https://bitbucket.org/acme/website.git"
    assert git.clone_url("http://127.0.0.1:8123", "ws", "dépôt") == "http://127.0.0.1:8123/ws/d%C3%A9p%C3%B4t.git"
    assert git.clone_url("https://bitbucket.org:443", "ws", "-x") == "https://bitbucket.org/ws/-x.git"
    assert git.site_base("HTTP://LocalHost:80/some/path") == "http://localhost"


# --- helper command and environment ----------------------------------------------------------


def test_helper_command_is_a_quoted_command_never_a_secret(tmp_path) -> None:
    config = tmp_path / "with space" / "config.toml"
    command = git.helper_command("work.1", config_path=config)
    assert command.startswith("!")
    words = shlex.split(command[1:])
    assert words == [*git.bbwizard_argv(), "credential", "--profile", "work.1", "--config", str(config)]
    entries = git.helper_config("http://127.0.0.1:8123/", "work.1")
    assert entries[0] == ("credential.http://127.0.0.1:8123.helper", "")
    assert entries[1][0] == "credential.http://127.0.0.1:8123.helper"


def test_git_env_drops_dangerous_variables_and_appends_config() -> None:
    base = {
        "PATH": "/usr/bin",
        "HOME": "/home/x",
        "GIT_ASKPASS": "/usr/bin/ksshaskpass",
        "SSH_ASKPASS": "/usr/bin/ssh-askpass",
        "GIT_TRACE": "1",
        "GIT_TRACE_CURL": "/tmp/trace",
        "GIT_CURL_VERBOSE": "1",
        "GIT_CONFIG_PARAMETERS": "'credential.helper'='store'",
        "GIT_DIR": "/elsewhere/.git",
        "LC_ALL": "de_DE.UTF-8",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.proxy",
        "GIT_CONFIG_VALUE_0": "http://proxy:3128",
    }
    env = git.git_env([("a.b", ""), ("a.b", "!x")], base=base, low_speed_limit=10, low_speed_time=20)
    for gone in ("GIT_ASKPASS", "SSH_ASKPASS", "GIT_TRACE", "GIT_TRACE_CURL", "GIT_CURL_VERBOSE", "GIT_CONFIG_PARAMETERS", "GIT_DIR"):
        assert gone not in env
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/x"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["LC_ALL"] == "C"
    assert env["GIT_HTTP_LOW_SPEED_LIMIT"] == "10" and env["GIT_HTTP_LOW_SPEED_TIME"] == "20"
    # the person's own entry is kept, ours come after it
    assert env["GIT_CONFIG_COUNT"] == "3"
    assert (env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"]) == ("http.proxy", "http://proxy:3128")
    assert (env["GIT_CONFIG_KEY_1"], env["GIT_CONFIG_VALUE_1"]) == ("a.b", "")
    assert (env["GIT_CONFIG_KEY_2"], env["GIT_CONFIG_VALUE_2"]) == ("a.b", "!x")


def test_clone_config_resets_askpass_too() -> None:
    entries = git.clone_config("https://bitbucket.org", "p")
    assert ("core.askPass", "") in entries
    assert entries[0] == ("credential.https://bitbucket.org.helper", "")


def test_the_clones_helper_starts_bbwizard_for_get_only(tmp_path) -> None:
    # git tells its helpers `store` after every clone: bbwizard ignores it, so it isn't started.
    import subprocess

    log = tmp_path / "started"
    fake = tmp_path / "bbwizard"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> '{log}'\necho username=x-token-auth\n")
    fake.chmod(0o755)
    key, value = git.clone_config("https://bitbucket.org", "p")[1]
    assert key == "credential.https://bitbucket.org.helper" and value.startswith("!")
    command = value[1:].replace(shlex.quote(git.bbwizard_argv()[0]), shlex.quote(str(fake)), 1)
    for action in ("store", "erase", "get"):  # as git runs a `!` helper: the action appended
        done = subprocess.run(["sh", "-c", f"{command} {action}"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0
    assert log.read_text().split("\n")[0].endswith("credential --profile p get")
    assert log.read_text().count("\n") == 1  # started once, for get


# --- progress --------------------------------------------------------------------------------


def test_progress_lines() -> None:
    event = git.parse_progress_line("Receiving objects:  45% (55/123), 1.20 MiB | 1.00 MiB/s")
    assert event == CloneProgress(
        phase="Receiving objects", percent=45, done=55, total=123, received="1.20 MiB", rate="1.00 MiB/s"
    )
    assert event.overall == pytest.approx(10 + 70 * 0.45, abs=0.1)
    remote = git.parse_progress_line("remote: Compressing objects: 100% (20/20), done.")
    assert remote == CloneProgress("Compressing objects", 100, 20, 20, finished=True, remote=True)
    assert remote.overall == 10.0
    enumerating = git.parse_progress_line("remote: Enumerating objects: 312, done.")
    assert enumerating == CloneProgress("Enumerating objects", 100, 312, None, finished=True, remote=True)
    assert git.parse_progress_line("Updating files:  50% (5/10)\x1b[K").percent == 50
    assert git.parse_progress_line("Resolving deltas: 100% (7/7), done.").overall == 90.0
    assert git.parse_progress_line("   ") is None
    assert git.parse_progress_line("Cloning into '/tmp/x'...") == CloneOutput("Cloning into '/tmp/x'...")
    assert git.parse_progress_line("Checking objects: 100% (128/128), done.").overall == 91.0
    # unknown "Phase: 12%" lines are output, not progress
    assert isinstance(git.parse_progress_line("Warning: 50% (1/2)"), CloneOutput)


def test_output_lines_are_redacted() -> None:
    token = Secret("tok-" + "q" * 40)
    event = git.parse_progress_line(f"fatal: unable to access 'http://x-token-auth:{token.reveal()}@h/ws/r.git/'")
    assert isinstance(event, CloneOutput)
    assert token.reveal() not in event.text


def test_splitter_cuts_on_carriage_returns_across_reads() -> None:
    splitter = git.ProgressSplitter()
    assert splitter.feed("Cloning into 'x'...\nRecei") == ["Cloning into 'x'..."]
    assert splitter.feed("ving objects:  10% (1/10)\rReceiving objects:  20% (2/10)\r") == [
        "Receiving objects:  10% (1/10)",
        "Receiving objects:  20% (2/10)",
    ]
    assert splitter.feed("Receiving objects: 100% (10/10), done.") == []
    assert splitter.flush() == ["Receiving objects: 100% (10/10), done."]
    assert splitter.flush() == []


# --- failure sentences -----------------------------------------------------------------------


def _profile(**kw) -> Profile:
    values = dict(
        name="work",
        client_id="key",
        site_url="http://127.0.0.1:8123",
        access_token=Secret("access-" + "a" * 30),
        expires_at=datetime(2030, 1, 1, tzinfo=timezone.utc),
        scopes=["account", "repository"],
    )
    values.update(kw)
    return Profile(**values)


AUTH_FAILED = "remote: Unauthorized\nfatal: Authentication failed for 'http://127.0.0.1:8123/ws/r.git/'\n"


def test_auth_failure_without_repository_scope_is_the_scope_sentence() -> None:
    error = git.explain_git_failure(AUTH_FAILED, profile=_profile(scopes=["account"]), full_name="ws/r", host="h")
    assert isinstance(error, ScopeError)
    assert error.missing == ["repository"]
    assert str(error) == (
        "The token lacks the repository scope bbwizard needs. In Bitbucket: Workspace settings → Apps and "
        "features → OAuth clients (formerly OAuth consumers) → your client → Scopes (Permissions on the "
        "older form), tick Repositories: Read, save, then sign in "
        "again (bbwizard login)."
    )


def test_auth_failure_with_scope_means_sign_in_again() -> None:
    error = git.explain_git_failure(AUTH_FAILED, profile=_profile(), full_name="ws/r", host="h")
    assert isinstance(error, SignInRequired)
    assert str(error) == (
        "Bitbucket refused the token of profile 'work': it has expired or was revoked. "
        "Sign in again: bbwizard login --profile work"
    )


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "fatal: unable to access 'http://h/ws/r.git/': The requested URL returned error: 403\n",
            "Bitbucket refused access to ws/r: this account can't read it. Ask a workspace admin for access, "
            "or check the workspace and repository names.",
        ),
        (
            "remote: Not Found\nfatal: repository 'http://h/ws/r.git/' not found\n",
            "ws/r was not found on h, or this account can't see it. Check the workspace and repository names.",
        ),
        (
            "warning: Could not find remote branch nope to clone.\nfatal: Remote branch nope not found in upstream origin\n",
            "ws/r has no branch “nope”. Leave --branch out for its main branch.",
        ),
        (
            "fatal: unable to access 'http://h/ws/r.git/': Failed to connect to 127.0.0.1 port 9: Connection refused\n",
            "Could not reach h for ws/r. Check the connection (or the proxy) and try again.",
        ),
        (
            "error: RPC failed; curl 28 Operation too slow. Less than 1000 bytes/sec transferred the last 60 seconds\n",
            "The clone of ws/r stalled (under 1000 bytes/s for 60 s) and was stopped. Check the connection and try again.",
        ),
        (
            "Receiving objects:  10% (1/10)\rfatal: early EOF\n",
            "git could not clone ws/r: fatal: early EOF",
        ),
    ],
)
def test_other_failures(stderr: str, expected: str) -> None:
    error = git.explain_git_failure(stderr, profile=_profile(), full_name="ws/r", host="h", branch="nope")
    assert type(error) is GitError
    assert str(error) == expected


# --- credential helper protocol --------------------------------------------------------------


def test_parse_credential_request_stops_at_blank_line() -> None:
    text = "protocol=http\nhost=127.0.0.1:8123\nwwwauth[]=Basic realm=x\npath=ws/r.git\n\nusername=late\n"
    assert git.parse_credential_request(text) == {
        "protocol": "http",
        "host": "127.0.0.1:8123",
        "wwwauth[]": "Basic realm=x",
        "path": "ws/r.git",
    }
    assert git.parse_credential_request("nonsense\nprotocol=https\n") == {"protocol": "https"}


def test_answers_only_for_the_profiles_site() -> None:
    profile = _profile(user=UserInfo(username="alice"))
    answer = git.credential_answer(profile, {"protocol": "http", "host": "127.0.0.1:8123"})
    assert answer == {
        "username": "x-token-auth",
        "password": profile.access_token.reveal(),
        "password_expiry_utc": str(int(datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp())),
    }
    for request in (
        {"protocol": "https", "host": "127.0.0.1:8123"},  # other scheme
        {"protocol": "http", "host": "127.0.0.1:8124"},  # other port
        {"protocol": "http", "host": "127.0.0.1"},  # no port = 80
        {"protocol": "http", "host": "evil.example"},
        {"protocol": "http"},
        {},
        {"protocol": "http", "host": "127.0.0.1:8123", "username": "bob"},  # another identity
    ):
        assert git.credential_answer(profile, request) is None, request
    assert git.credential_answer(profile, {"protocol": "http", "host": "127.0.0.1:8123", "username": "alice"})
    assert git.credential_answer(profile, {"protocol": "http", "host": "127.0.0.1:8123", "username": "x-token-auth"})
    # account unknown (no user info saved): any username in the URL is answered
    anonymous = _profile(user=None)
    assert git.credential_answer(anonymous, {"protocol": "http", "host": "127.0.0.1:8123", "username": "bob"})
    cloud = _profile(site_url="https://bitbucket.org")
    assert git.credential_answer(cloud, {"protocol": "https", "host": "bitbucket.org"})
    assert git.credential_answer(cloud, {"protocol": "https", "host": "bitbucket.org:443"})
    assert git.credential_answer(cloud, {"protocol": "https", "host": "ssh.bitbucket.org"}) is None


def test_format_credential_refuses_newlines() -> None:
    assert git.format_credential({"username": "x-token-auth", "password": "p"}) == "username=x-token-auth\npassword=p\n"
    with pytest.raises(GitError) as caught:
        git.format_credential({"password": "p\nhost=evil"})
    assert str(caught.value) == "Refusing to answer git with a value that holds a newline or NUL."


def test_has_read_scope() -> None:
    assert git.has_read_scope(["account", "repository"])
    assert git.has_read_scope(["repository:write"])
    assert git.has_read_scope(["pullrequest"])
    assert not git.has_read_scope(["account", "repository:admin"])
    assert not git.has_read_scope([])


def test_destination_checks(tmp_path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(git.DestinationExists) as caught:
        git.prepare_destination(tmp_path / "full")
    assert str(caught.value) == (
        f"{tmp_path / 'full'} already exists and is not empty. Choose another destination, or remove it first."
    )
    with pytest.raises(git.DestinationExists) as caught:
        git.prepare_destination(tmp_path / "file")
    assert str(caught.value) == f"{tmp_path / 'file'} exists and is not a folder. Choose another destination."
    assert git.prepare_destination(tmp_path / "empty") == (tmp_path / "empty", False)
    path, created = git.prepare_destination(tmp_path / "new" / "-x")
    assert created and path.is_dir() and path == tmp_path / "new" / "-x"


def test_expiry_is_unix_time_for_naive_and_aware_datetimes() -> None:
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    answer = git.credential_answer(_profile(expires_at=when), {"protocol": "http", "host": "127.0.0.1:8123"})
    assert answer["password_expiry_utc"] == str(int(when.timestamp()))


def test_helper_names_the_config_file_only_when_it_is_not_the_default(monkeypatch, tmp_path):
    import platformdirs

    from bbwizard.config import ConfigStore

    monkeypatch.delenv("BBWIZARD_CONFIG", raising=False)
    default = platformdirs.user_config_path("bbwizard") / "config.toml"
    assert git_env._config_path_for(ConfigStore(default)) is None
    assert git_env._config_path_for(ConfigStore(tmp_path / "other.toml")) == str(tmp_path / "other.toml")
    monkeypatch.setenv("BBWIZARD_CONFIG", str(tmp_path / "env.toml"))
    assert git_env._config_path_for(ConfigStore()) == str(tmp_path / "env.toml")
    assert git_env._config_path_for(None) is None


async def test_clone_arguments_are_checked_before_anything_starts(tmp_path):
    profile = _profile()
    with pytest.raises(UsageError) as caught:
        await git.clone_repository(profile, "ws", "r", tmp_path / "a", depth=0)
    assert str(caught.value) == "--depth must be a whole number of at least 1."
    with pytest.raises(UsageError) as caught:
        await git.clone_repository(profile, "ws", "r", tmp_path / "b", branch="--upload-pack=touch x")
    assert str(caught.value) == "“--upload-pack=touch x” is not a branch name."
    with pytest.raises(UsageError) as caught:
        await git.clone_many(profile, [git.CloneRequest("ws", "r")], into=tmp_path, jobs=0)
    assert str(caught.value) == "--jobs must be at least 1."
    assert not any(tmp_path.iterdir())


def test_a_site_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        git.site_base("ftp://bitbucket.org")
    assert str(caught.value) == "The profile's site URL 'ftp://bitbucket.org' is not an http(s) address."


def test_bbwizard_is_started_by_its_script_beside_the_interpreter_else_with_python_m(tmp_path, monkeypatch) -> None:
    bindir = tmp_path / "env" / "bin"
    bindir.mkdir(parents=True)
    python = bindir / "python"
    monkeypatch.setattr(git_env.sys, "executable", str(python))
    assert git.bbwizard_argv() == [str(python), "-m", "bbwizard"]  # no script there
    script = bindir / "bbwizard"
    script.write_text("#!/elsewhere/bin/python3\nimport sys\n")
    script.chmod(0o755)
    assert git.bbwizard_argv() == [str(python), "-m", "bbwizard"]  # another environment's script
    script.write_text(f"#!{bindir / 'python3'}\nimport sys\n")
    assert git.bbwizard_argv() == [str(script)]
    for command in (git.helper_command("w"), "!/usr/bin/python3 -m bbwizard credential --profile w"):
        assert git_setup._is_our_helper(command)
    assert not git_setup._is_our_helper("!/usr/bin/other credential --profile w")
    assert not git_setup._is_our_helper("store")
