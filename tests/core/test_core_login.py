"""`bbwizard login` as a real process against the emulator over loopback HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bbwizard import oauth
from bbwizard.config import ConfigStore
from bbwizard.emulator import (
    ACCOUNT_ONLY_CONSUMER_KEY,
    ACCOUNT_ONLY_CONSUMER_SECRET,
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    NO_CALLBACK_CONSUMER_KEY,
    NO_CALLBACK_CONSUMER_SECRET,
    PRIVATE_CONSUMER_KEY,
    PRIVATE_CONSUMER_SECRET,
)
from bbwizard.errors import CodeError


def _saved(config_path: Path):
    return ConfigStore(config_path).get()


def _assert_signed_in(result, emu, config_path: Path, who: str = "Alice Liddell (alice)") -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # prompts and progress on stderr only
    assert f"✓ Signed in to 127.0.0.1 as {who}" in result.stderr
    assert "✓ Scopes: account repository" in result.stderr
    assert "✓ The token expires in 1 h 59 min (" in result.stderr
    assert f"✓ Saved profile 'default' in {config_path}" in result.stderr
    profile = _saved(config_path)
    info = emu.token_info(profile.access_token.reveal())
    assert info is not None and not info["expired"]
    assert profile.user.username == "alice" and profile.site_url == emu.site_url and profile.api_url == emu.api_url
    for secret in (profile.access_token.reveal(), profile.refresh_token.reveal(), profile.client_secret.reveal()):
        assert secret not in result.stderr


def test_login_through_the_loopback_catcher(emu, run_cli, login_argv, callback_url, approver, config_path) -> None:
    result = run_cli(
        login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url),
        input=DEMO_CONSUMER_SECRET + "\n",
        env={"BROWSER": approver},
    )
    _assert_signed_in(result, emu, config_path)
    # 2026: a consumer without client credentials is refused in words that prove nothing; the
    # browser sign-in goes on and the code exchange judges the key and secret.
    assert (
        "! Bitbucket refused the check without saying the key or secret is wrong (unauthorized_client: This OAuth "
        "client is not allowed to use the client_credentials grant.). The browser sign-in comes next"
    ) in result.stderr
    assert "✓ Opened the browser." in result.stderr
    assert f"Waiting for the browser to come back to {callback_url}" in result.stderr
    assert emu.stats.grants["authorization_code"] == 1
    sent = emu.stats.authorizations[-1]
    assert sent["state_sent"] and sent["code_challenge_method"] == "S256" and sent["redirect_uri"] is None
    assert _saved(config_path).callback_url == callback_url


def test_deny_in_the_browser_says_so_and_saves_no_token(emu, run_cli, login_argv, callback_url, approver, config_path) -> None:
    result = run_cli(
        login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url),
        input=DEMO_CONSUMER_SECRET + "\n",
        env={"BROWSER": approver, "BBWIZARD_APPROVE": "deny"},
    )
    assert result.returncode == 1
    assert "X You clicked Deny on Bitbucket's page, so bbwizard got no access. Start the sign-in again and click Grant access." in result.stderr
    assert not config_path.exists()
    assert emu.stats.grants["authorization_code"] == 0


def _start_paste_login(emu, cli_env, login_argv, *extra: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bbwizard", *login_argv(emu, DEMO_CONSUMER_KEY, "--paste", "--no-browser", *extra)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env,
    )
    process.stdin.write(DEMO_CONSUMER_SECRET + "\n")
    process.stdin.flush()
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("  ") and "/site/oauth2/authorize?" in line:
            return process, line.strip()
    process.kill()
    raise AssertionError("no authorize URL on stderr:\n" + "".join(seen))


def _finish(process: subprocess.Popen, pasted: str) -> tuple[int, str, str]:
    out, err = process.communicate(pasted + "\n", timeout=60)
    return process.returncode, out, err


@pytest.mark.parametrize("shape", ["url", "quoted-url", "code", "code-with-spaces"])
def test_login_by_pasting(shape, emu, cli_env, login_argv, consent, config_path) -> None:
    process, url = _start_paste_login(emu, cli_env, login_argv)
    landed = consent(url)
    code = parse_qs(urlsplit(landed).query)["code"][0]
    pasted = {"url": landed, "quoted-url": f'  "{landed}"  ', "code": code, "code-with-spaces": f"  '{code}'\t"}[shape]
    status, out, err = _finish(process, pasted)

    class Result:  # the shape _assert_signed_in reads
        returncode, stdout, stderr = status, out, err

    _assert_signed_in(Result, emu, config_path)
    if shape.startswith("code"):
        assert "! bbwizard can't check that this code comes from this sign-in" in err
    else:
        assert "can't check" not in err


def test_a_pasted_url_from_another_attempt_is_refused(emu, cli_env, login_argv, consent, config_path) -> None:
    process, url = _start_paste_login(emu, cli_env, login_argv)
    landed = consent(url).replace("state=", "state=x")
    status, _, err = _finish(process, landed)
    assert status == 1
    assert "X That address belongs to another sign-in attempt (its state doesn't match this one)" in err
    assert not config_path.exists() or _saved(config_path).access_token is None
    assert emu.stats.grants["authorization_code"] == 0


def test_an_empty_paste_is_refused(emu, cli_env, login_argv) -> None:
    process, _ = _start_paste_login(emu, cli_env, login_argv)
    status, _, err = _finish(process, "")
    assert status == 1
    assert "X The code is empty. Paste the code, or the whole address the browser landed on." in err


def test_a_used_code_is_refused_with_a_sentence(emu, consent, callback_url) -> None:
    from bbwizard.config import Profile
    from bbwizard.secret import Secret

    consumer = Profile("p", DEMO_CONSUMER_KEY, Secret(DEMO_CONSUMER_SECRET), site_url=emu.site_url)
    auth = oauth.start_authorization(emu.site_url, DEMO_CONSUMER_KEY)
    code = oauth.parse_pasted(consent(auth.url), auth.state).code
    assert oauth.exchange_code(consumer, code, auth).access_token
    with pytest.raises(CodeError, match=r"^Bitbucket refused the code: it was already used, has expired"):
        oauth.exchange_code(consumer, code, auth)
    assert emu.stats.grants["authorization_code"] == 1


def _before_2026(emu) -> None:
    """Bitbucket's client_credentials before 2026-05-04: the owner's identity, with a refresh token."""
    emu.client_credentials_user = "owner"
    emu.client_credentials_refresh = True


def test_login_with_client_credentials_before_2026(emu, run_cli, login_argv, config_path) -> None:
    _before_2026(emu)
    result = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input=PRIVATE_CONSUMER_SECRET + "\n")
    _assert_signed_in(result, emu, config_path)
    assert "This consumer may use client credentials: it can get a token right away, as the consumer's own app user" in result.stderr
    assert "Open this address" not in result.stderr
    assert _saved(config_path).grant == "client_credentials"
    assert emu.stats.grants["client_credentials"] == 1  # the check's token is the one kept


def test_client_credentials_on_a_public_consumer_says_what_to_tick(emu, run_cli, login_argv, config_path) -> None:
    emu.client_credentials_refusal = "legacy"  # the "marked as public" text of the older consumers
    result = run_cli(login_argv(emu, DEMO_CONSUMER_KEY, "--client-credentials"), input=DEMO_CONSUMER_SECRET + "\n")
    assert result.returncode == 1
    assert "X This consumer is public, so it can't get a token without the browser. In Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client → Authorization, tick Client credentials (on the older form: 'This is a private consumer')" in result.stderr
    assert "Leave out --client-credentials to sign in with the browser." in result.stderr
    assert not config_path.exists()


def test_a_wrong_secret_is_named_and_the_saved_profile_kept(emu, run_cli, login_argv, config_path) -> None:
    assert run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input=PRIVATE_CONSUMER_SECRET + "\n").returncode == 0
    before = config_path.read_bytes()
    result = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input="not-the-secret\n")
    assert result.returncode == 1
    assert "X Bitbucket doesn't accept this key and secret. Copy both again from Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client (the Key, and the Secret shown beside it)." in result.stderr
    assert "not-the-secret" not in result.stderr
    assert config_path.read_bytes() == before


def test_a_consumer_without_callback_url_is_told_which_to_set(emu, run_cli, login_argv, callback_url) -> None:
    result = run_cli(login_argv(emu, NO_CALLBACK_CONSUMER_KEY, "--callback-url", callback_url), input=NO_CALLBACK_CONSUMER_SECRET + "\n")
    assert result.returncode == 1
    assert "X The consumer has no callback URL. In Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client → Authorization: tick Authorization code, Callback URL: http://localhost:8976/ , save, then try again." in result.stderr


def test_missing_scopes_are_named_and_the_profile_still_saved(emu, run_cli, login_argv, callback_url, approver, config_path) -> None:
    result = run_cli(
        login_argv(emu, ACCOUNT_ONLY_CONSUMER_KEY, "--callback-url", callback_url),
        input=ACCOUNT_ONLY_CONSUMER_SECRET + "\n",
        env={"BROWSER": approver},
    )
    assert result.returncode == 1
    assert "✓ Scopes: account" in result.stderr
    assert "X The token lacks the repository scope bbwizard needs. In Bitbucket: Workspace settings → Apps and features → OAuth clients (formerly OAuth consumers) → your client → Scopes (Permissions on the older form), tick Repositories: Read, save, then sign in again (bbwizard login)." in result.stderr
    saved = _saved(config_path)
    assert saved.scopes == ["account"] and saved.access_token is not None
    status = run_cli(["status"])
    assert status.returncode == 1  # a required scope is missing
    assert "X Missing repository: tick Repositories: Read on the consumer, then sign in again" in status.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "flag"),
    [
        (["login", "--secret-stdin"], "secret\n", "The consumer's key is needed: pass --key KEY (stdin is not a terminal, so bbwizard can't ask)."),
        (["login", "--key", "K"], "", "The consumer's secret is needed: pass --secret-stdin and write it on stdin (stdin is not a terminal, so bbwizard can't ask)."),
        (["login", "--key", "K", "--secret-stdin"], "", "--secret-stdin read an empty line: put the consumer's secret on the first line of stdin."),
    ],
)
def test_a_missing_value_without_a_terminal_names_the_flag(args, stdin, flag, run_cli) -> None:
    result = run_cli(args, input=stdin, timeout=30)
    assert result.returncode == 2
    assert f"X {flag}" in result.stderr


def test_a_missing_callback_url_without_a_terminal_names_the_flag(emu, run_cli, login_argv) -> None:
    result = run_cli(login_argv(emu, DEMO_CONSUMER_KEY), input=DEMO_CONSUMER_SECRET + "\n", timeout=30)
    assert result.returncode == 2
    assert "X The consumer's callback URL is needed: pass --callback-url URL (stdin is not a terminal, so bbwizard can't ask)." in result.stderr


def test_a_busy_callback_port_is_named_with_the_paste_path(emu, run_cli, login_argv, callback_url, approver, config_path) -> None:
    port = urlsplit(callback_url).port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = run_cli(
            login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url),
            input=DEMO_CONSUMER_SECRET + "\n", env={"BROWSER": approver},
        )
    assert result.returncode == 1
    assert f"X Port {port} is in use by another program, so bbwizard can't catch the redirect on {callback_url}." in result.stderr
    assert "Or pass --paste and write the address the browser lands on to stdin." in result.stderr
    assert not config_path.exists()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"kind": "html200"}, "X Bitbucket's token endpoint answered with a web page instead of JSON (HTTP 200)."),
        ({"kind": "truncated"}, "X Bitbucket's token endpoint sent an answer that was cut off or malformed (HTTP 200;"),
        ({"kind": "status", "status": 503}, "X Bitbucket couldn't check the consumer just now (HTTP 503)."),
    ],
)
def test_odd_token_answers_are_sentences(fault, message, emu, run_cli, login_argv, config_path) -> None:
    emu.inject(path_prefix="/site/oauth2/access_token", **fault)
    result = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input=PRIVATE_CONSUMER_SECRET + "\n")
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not config_path.exists()


def test_an_unreachable_site_is_a_sentence(run_cli, config_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(
        ["login", "--key", "K", "--secret-stdin", "--client-credentials", "--site-url", f"http://127.0.0.1:{port}"],
        input="some-secret\n",
    )
    assert result.returncode == 1
    assert f"X Can't reach 127.0.0.1:{port} (" in result.stderr
    assert "Check your network connection and the site URL, then try again." in result.stderr


def test_a_dead_proxy_is_named(run_cli) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(
        ["login", "--key", "K", "--secret-stdin", "--client-credentials", "--site-url", "http://bitbucket.invalid"],
        input="some-secret\n",
        env={"HTTP_PROXY": f"http://user:pw@127.0.0.1:{port}", "http_proxy": f"http://user:pw@127.0.0.1:{port}"},
    )
    assert result.returncode == 1
    assert f"X The proxy http://127.0.0.1:{port} failed to connect bbwizard to bitbucket.invalid (" in result.stderr
    assert "fix HTTPS_PROXY / NO_PROXY in your environment (add bitbucket.invalid to NO_PROXY to go direct)." in result.stderr
    assert "pw" not in result.stderr.replace("pwd", "")


def test_the_emulator_on_loopback_is_never_proxied(emu, run_cli, login_argv, config_path) -> None:
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    result = run_cli(
        login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"),
        input=PRIVATE_CONSUMER_SECRET + "\n",
        env={"HTTP_PROXY": dead, "http_proxy": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead},
    )
    assert result.returncode == 0, result.stderr


def test_signing_in_again_reuses_the_saved_consumer(emu, run_cli, login_argv, callback_url, approver, config_path) -> None:
    first = run_cli(login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url), input=DEMO_CONSUMER_SECRET + "\n",
                    env={"BROWSER": approver})
    assert first.returncode == 0, first.stderr
    emu.revoke_refresh_tokens()  # the sign-in ended on Bitbucket's side
    again = run_cli(["login"], env={"BROWSER": approver})  # no key, no secret, no callback: all saved
    assert again.returncode == 0, again.stderr
    assert "Using the consumer key saved in profile 'default' (--key to use another)." in again.stderr
    assert f"Waiting for the browser to come back to {callback_url}" in again.stderr
    assert emu.stats.grants["authorization_code"] == 2
    assert emu.token_info(_saved(config_path).access_token.reveal())["expired"] is False


@pytest.mark.parametrize(
    "fault",
    [{"kind": "status", "status": 503}, {"kind": "status", "status": 429, "retry_after": "1"}, {"kind": "drop"}],
    ids=["503-then-ok", "429-then-ok", "dropped-then-ok"],
)
def test_who_am_i_is_retried_after_a_transient_failure(fault, emu, run_cli, login_argv, config_path) -> None:
    _before_2026(emu)  # client_credentials as the owner: a quick way to a token of a person
    emu.inject(path_prefix="/2.0/user", count=1, **fault)
    result = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input=PRIVATE_CONSUMER_SECRET + "\n")
    _assert_signed_in(result, emu, config_path)
    assert emu.stats.count("/2.0/user") == 2


def test_who_am_i_failing_every_time_is_a_sentence_and_the_tokens_are_kept(emu, run_cli, login_argv, config_path) -> None:
    emu.inject(path_prefix="/2.0/user", count=3, kind="status", status=503)
    result = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input=PRIVATE_CONSUMER_SECRET + "\n")
    assert result.returncode == 1
    assert "X Bitbucket's API failed (HTTP 503). Try again in a minute." in result.stderr
    saved = _saved(config_path)  # saved before asking who: the new refresh token is not lost
    assert saved.access_token is not None and emu.token_info(saved.access_token.reveal()) is not None


def test_a_callback_url_that_is_no_address_is_refused(emu, run_cli, login_argv) -> None:
    result = run_cli(login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", "localhost:8976"), input=DEMO_CONSUMER_SECRET + "\n")
    assert result.returncode == 2
    assert "X The callback URL 'localhost:8976' isn't an address: write it as it is on the consumer, like http://localhost:8976/" in result.stderr


def test_plain_localhost_callback_falls_back_to_pasting(emu, cli_env, login_argv, consent, config_path) -> None:
    """A callback of http://localhost (port 80): say so, then take the pasted address."""
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "bbwizard", *login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", "http://localhost/", "--no-browser")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env,
    )
    out, err = process.communicate(DEMO_CONSUMER_SECRET + "\n", timeout=60)
    # Without a terminal and without --paste it can't ask: it says why and how.
    assert process.returncode == 1
    assert "X The callback URL http://localhost/ has no port of its own, so it means port 80" in err
    assert "Or pass --paste and write the address the browser lands on to stdin." in err


def test_login_with_the_legacy_public_text_goes_to_the_browser(emu, run_cli, login_argv, callback_url, approver, config_path) -> None:
    emu.client_credentials_refusal = "legacy"
    result = run_cli(
        login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url),
        input=DEMO_CONSUMER_SECRET + "\n",
        env={"BROWSER": approver},
    )
    _assert_signed_in(result, emu, config_path)
    assert "✓ The key and secret are right. This consumer is public, so the browser sign-in comes next." in result.stderr


@pytest.mark.parametrize(
    ("fault", "seen"),
    [
        ({"kind": "status", "status": 429}, "! Bitbucket couldn't check the consumer just now (HTTP 429)."),
        ({"kind": "status", "status": 502}, "! Bitbucket couldn't check the consumer just now (HTTP 502)."),
        ({"kind": "drop"}, "! Bitbucket didn't answer the check ("),
    ],
)
def test_a_probe_that_fails_still_lets_the_browser_sign_in(fault, seen, emu, run_cli, login_argv, callback_url, approver, config_path) -> None:
    emu.inject(path_prefix="/site/oauth2/access_token", count=1, **fault)
    result = run_cli(
        login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url),
        input=DEMO_CONSUMER_SECRET + "\n",
        env={"BROWSER": approver},
    )
    assert seen in result.stderr
    _assert_signed_in(result, emu, config_path)


def test_a_custom_refusal_is_not_read_as_a_wrong_key_but_a_wrong_secret_still_is(
    emu, run_cli, login_argv, callback_url, approver, config_path
) -> None:
    emu.client_credentials_refusal = ("invalid_client", "Client credentials are switched off for this app.")
    result = run_cli(
        login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url),
        input=DEMO_CONSUMER_SECRET + "\n",
        env={"BROWSER": approver},
    )
    assert "(invalid_client: Client credentials are switched off for this app.)" in result.stderr
    _assert_signed_in(result, emu, config_path)
    wrong = run_cli(login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", callback_url, "--profile", "other"),
                    input="not-the-secret\n", env={"BROWSER": approver})
    assert wrong.returncode == 1 and "X Bitbucket doesn't accept this key and secret." in wrong.stderr
    assert emu.stats.grants["authorization_code"] == 1  # no browser for a proven wrong secret


def test_login_with_client_credentials_as_an_app_user(emu, run_cli, login_argv, config_path) -> None:
    result = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input=PRIVATE_CONSUMER_SECRET + "\n")
    assert result.returncode == 0, result.stderr
    assert "✓ Signed in to 127.0.0.1 as acme CI (private) (app user)" in result.stderr
    profile = _saved(config_path)
    assert profile.grant == "client_credentials" and profile.refresh_token is None
    assert profile.user.username is None and profile.user.display_name == "acme CI (private) (app user)"
    assert "owner" not in result.stderr


def test_an_app_user_that_get_user_refuses_signs_in_shows_in_status_and_clones(
    emu, run_cli, login_argv, config_path, tmp_path
) -> None:
    emu.app_user_profile = "forbidden"
    result = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input=PRIVATE_CONSUMER_SECRET + "\n")
    assert result.returncode == 0, result.stderr
    assert "! Bitbucket didn't say who this token belongs to (HTTP 403: This API is not available to app users.)" in result.stderr
    assert "Account: Read" not in result.stderr
    assert _saved(config_path).user is None
    status = run_cli(["status"])
    assert status.returncode == 0, status.stderr
    assert "✓ Signed in as an unknown user (client credentials: the consumer's app user)" in status.stdout
    assert "✓ Bitbucket accepts the token (checked just now)" in status.stdout
    clone = run_cli(["clone", "acme/webapp", str(tmp_path / "webapp")], timeout=120)
    assert clone.returncode == 0, clone.stderr
    assert (tmp_path / "webapp" / "README.md").exists()
    helper = run_cli(["credential", "get"], input=f"protocol=http\nhost={emu.git_host}\n\n")
    assert "username=x-token-auth\n" in helper.stdout


@pytest.mark.parametrize(("typed", "consumers"), [("/", "callback"), ("/callback", "")])
def test_login_when_the_typed_callback_path_differs_from_the_consumers(
    typed, consumers, callback_url, run_cli, login_argv, approver, config_path
) -> None:
    from bbwizard.emulator import Emulator, demo_seed

    # The consumer's callback URL has one path, the one given to bbwizard another (same port):
    # Bitbucket returns to the consumer's, and the catcher takes it because the state matches.
    base = callback_url.rstrip("/")
    with Emulator(demo_seed(callback_url=f"{base}/{consumers}")) as emu:
        result = run_cli(
            login_argv(emu, DEMO_CONSUMER_KEY, "--callback-url", f"{base}{typed}"),
            input=DEMO_CONSUMER_SECRET + "\n",
            env={"BROWSER": approver},
        )
        _assert_signed_in(result, emu, config_path)
        assert emu.stats.grants["authorization_code"] == 1
