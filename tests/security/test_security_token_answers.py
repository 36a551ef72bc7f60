"""Odd token-endpoint answers: a sentence, the saved pair kept, and no secret in a crash report.

Textual prints a crashed app's traceback with every frame's local variables, so a token held as
a bare ``str`` in any frame on the way leaks onto the screen and into the terminal's scrollback.
"""

from __future__ import annotations

import json
import tomllib

import pytest

from bbwizard import oauth
from bbwizard.config import Profile
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
from bbwizard.errors import BBWizardError, CodeError, NetworkError, ProtocolError, UsageError
from bbwizard.secret import Secret

TOKEN_PATH = "/site/oauth2/access_token"
NEW_ACCESS = "NEWaccessTOKEN-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnop"
NEW_REFRESH = "NEWrefreshTOKEN-zyxwvu9876543210"


def _answer(expires_in: str) -> str:
    # Written by hand: JSON as a damaged proxy or server might send it (NaN, Infinity, 1e400).
    return (
        '{"access_token": "%s", "refresh_token": "%s", "token_type": "bearer", '
        '"scopes": "account repository", "expires_in": %s}' % (NEW_ACCESS, NEW_REFRESH, expires_in)
    )


@pytest.mark.parametrize("expires_in", ["1e400", "NaN", "-Infinity", "1e300", "99999999999999"])
def test_an_impossible_expires_in_is_a_sentence_and_the_saved_pair_is_kept(emulator, signed_in, bbw, config_file, expires_in):
    store, before = signed_in(emulator, expired=True)
    emulator.inject("status", status=200, path_prefix=TOKEN_PATH, body=_answer(expires_in), content_type="application/json")
    done = bbw("token")
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "X Bitbucket's token endpoint's answer gives an impossible expires_in" in done.stderr
    assert "Unexpected error" not in done.stderr
    assert NEW_ACCESS[:12] not in done.stderr and NEW_REFRESH[:12] not in done.stderr
    # Nothing lost: the file parses and still holds the pair it had.
    saved = tomllib.loads(config_file.read_text(encoding="utf-8"))["profiles"]["work"]
    assert saved["refresh_token"] == before.refresh_token.reveal()
    assert saved["access_token"] == before.access_token.reveal()


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 200, "body": _answer('"soon"'), "content_type": "application/json"},
        {"kind": "status", "status": 200, "body": _answer("1e400"), "content_type": "application/json"},
        {"kind": "status", "status": 200, "body": _answer("7200")[:-40], "content_type": "application/json"},
        {"kind": "truncated"},
    ],
    ids=["expires-in-string", "expires-in-overflow", "cut-off-json", "emulator-truncated"],
)
def test_a_damaged_exchange_answer_leaves_no_secret_in_a_crash_report(
    emulator, sec_env, grant, textual_traceback, secret_pieces, fault
):
    profile = Profile(
        name="work",
        client_id=DEMO_CONSUMER_KEY,
        client_secret=Secret(DEMO_CONSUMER_SECRET),
        site_url=emulator.site_url,
        api_url=emulator.api_url,
    )
    attempt = oauth.start_authorization(emulator.site_url, profile.client_id)
    landed = grant(attempt.url)
    pasted = oauth.parse_pasted(landed, attempt.state)
    code = pasted.code
    emulator.inject(path_prefix=TOKEN_PATH, **fault)
    with pytest.raises(CodeError) as caught:
        oauth.exchange_code(profile, pasted.code, attempt)
    assert "Bitbucket's token endpoint" in str(caught.value)
    assert str(caught.value).endswith("The code may already be used up (a code works once): start the sign-in again for a new one.")
    report = textual_traceback(caught.value)
    assert "CodeError" in report  # the report was rendered, locals and all
    for piece in secret_pieces(code, attempt.code_verifier, DEMO_CONSUMER_SECRET, NEW_ACCESS, NEW_REFRESH):
        assert piece not in report, f"{piece!r} shows in the crash report"
    del code


def test_a_damaged_refresh_answer_leaves_no_secret_in_a_crash_report(
    emulator, signed_in, textual_traceback, secret_pieces
):
    store, before = signed_in(emulator, expired=True)
    emulator.inject("status", status=200, path_prefix=TOKEN_PATH, body=_answer('"two hours"'), content_type="application/json")
    with pytest.raises(ProtocolError) as caught:
        oauth.ensure_fresh(store, "work")
    report = textual_traceback(caught.value)
    assert "ensure_fresh" in report
    for piece in secret_pieces(before.refresh_token, before.access_token, DEMO_CONSUMER_SECRET, NEW_ACCESS, NEW_REFRESH):
        assert piece not in report, f"{piece!r} shows in the crash report"
    assert store.get("work").refresh_token == before.refresh_token  # nothing lost


def test_reprs_of_answers_and_codes_show_no_secret(secret_pieces):
    body = _answer("7200").encode()
    answer = oauth._Answer(status=200, content_type="application/json", body=body)
    pasted = oauth.parse_pasted("http://localhost:8976/?code=LIVEcode1234567890&state=s", "s")
    tokens = oauth.parse_token_answer(answer)
    shown = repr(answer) + repr(pasted) + repr(tokens)
    assert pasted.code == "LIVEcode1234567890"
    assert tokens.access_token.reveal() == NEW_ACCESS
    for piece in secret_pieces("LIVEcode1234567890", NEW_ACCESS, NEW_REFRESH):
        assert piece not in shown


@pytest.mark.parametrize("site", ["http://bitbucket.org", "http://api.bitbucket.org/2.0", "HTTP://Bitbucket.ORG/"])
def test_a_bitbucket_secret_never_goes_over_plain_http(site):
    with pytest.raises(UsageError) as caught:
        oauth.require_https(site)
    assert "is plain http: bbwizard sends the consumer secret and tokens to Bitbucket only over HTTPS." in str(caught.value)
    oauth.require_https("https://bitbucket.org")
    oauth.require_https("http://127.0.0.1:8080")  # the emulator


def test_login_refuses_plain_http_bitbucket_before_asking_for_the_secret(bbw, config_file):
    done = bbw("login", "--key", "K", "--secret-stdin", "--client-credentials", "--site-url", "http://bitbucket.org",
               input="the-consumer-secret\n")
    assert done.returncode == 2, done.stderr
    assert ("X --site-url http://bitbucket.org is plain http: bbwizard sends the consumer secret and tokens to "
            "Bitbucket only over HTTPS. Use https://bitbucket.org instead.") in done.stderr
    assert "the-consumer-secret" not in done.stderr + done.stdout
    assert not config_file.exists()


def test_the_answers_used_here_are_json_python_reads():
    # Python's json reads NaN, Infinity and 1e400 (as inf): a real client meets them.
    assert json.loads(_answer("1e400"))["expires_in"] == float("inf")
    with pytest.raises(BBWizardError):
        oauth.parse_token_answer(oauth._Answer(status=200, content_type="application/json", body=_answer("NaN").encode()))


def _demo_profile(emulator) -> Profile:
    return Profile(name="work", client_id=DEMO_CONSUMER_KEY, client_secret=Secret(DEMO_CONSUMER_SECRET),
                   site_url=emulator.site_url, api_url=emulator.api_url)


@pytest.mark.parametrize("fault", [{"kind": "drop_after"}, {"kind": "status", "status": 503}, {"kind": "status", "status": 502}])
def test_an_exchange_is_never_retried_and_says_to_start_again(emulator, sec_env, grant, fault):
    profile = _demo_profile(emulator)
    attempt = oauth.start_authorization(emulator.site_url, profile.client_id)
    pasted = oauth.parse_pasted(grant(attempt.url), attempt.state)
    emulator.stats.reset()
    emulator.inject(path_prefix=TOKEN_PATH, method="POST", **fault)
    with pytest.raises(CodeError) as caught:
        oauth.exchange_code(profile, pasted.code, attempt)
    assert not isinstance(caught.value, NetworkError)  # not "transient": nobody retries it blindly
    assert str(caught.value).endswith("The code may already be used up (a code works once): start the sign-in again for a new one.")
    # One try, never a second: the fault was met once, and a retry would have left a grant (the
    # code unspent) or an invalid_grant (the code spent) behind. These counters move before the
    # emulator answers, so they are settled when exchange_code returns.
    assert emulator.stats.faults[fault["kind"]] == 1
    spent = 1 if fault["kind"] == "drop_after" else 0
    assert emulator.stats.grants["authorization_code"] == spent
    assert sum(emulator.stats.token_errors.values()) == 0


def test_an_exchange_that_never_left_the_machine_keeps_its_own_sentence(sec_env):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = Profile(name="work", client_id="K", client_secret=Secret("consumer-secret-123"), site_url=f"http://127.0.0.1:{port}")
    with pytest.raises(NetworkError) as caught:
        oauth.exchange_code(profile, "aCode1234567", None)
    assert f"Can't reach 127.0.0.1:{port}" in str(caught.value)
    assert "aCode1234567" not in str(caught.value) and "consumer-secret-123" not in str(caught.value)
