"""The masked Secret type and the one redaction filter (security.md rules 9, 10, 12)."""

import base64
import pickle

import pytest

from bbwizard.secret import Secret, redact, remember


def test_secret_never_shows_itself():
    token = Secret("ya29-very-long-access-token-value-9f3c")
    assert token.reveal() == "ya29-very-long-access-token-value-9f3c"
    for shown in (repr(token), str(token), f"{token}", f"{token:>40}", repr([token]), repr({"t": token})):
        assert "ya29-very-long" not in shown
    assert str(token) == "***…9f3c"
    assert Secret("short").masked == "***"  # too short to show even the tail safely
    assert Secret("").masked == ""


def test_secret_equality_and_wrapping():
    a = Secret("0123456789abcdef")
    assert a == Secret("0123456789abcdef")
    assert a != Secret("0123456789abcdeX")
    assert Secret(a) == a  # wrapping twice is harmless
    assert bool(a) and not bool(Secret(""))
    assert len({a, Secret("0123456789abcdef")}) == 1
    with pytest.raises(TypeError):
        Secret(123)  # type: ignore[arg-type]


def test_secret_refuses_pickling():
    with pytest.raises(TypeError):
        pickle.dumps(Secret("do-not-pickle-me-please"))


def test_redact_known_values_and_basic_form():
    token = Secret("knownTokenValue-abcdef123456")
    line = f"fatal: could not read from https://x-token-auth:{token.reveal()}@bitbucket.org/ws/r.git"
    assert token.reveal() not in redact(line)
    basic = base64.b64encode(f"x-token-auth:{token.reveal()}".encode()).decode()
    assert basic not in redact(f"Authorization: Basic {basic}")
    assert token.reveal() not in redact(f"{{'access_token': '{token.reveal()}'}}")


@pytest.mark.parametrize(
    "text, leaked",
    [
        ("Authorization: Bearer abcdef0123456789", "abcdef0123456789"),
        ("https://x-token-auth:sEcReTtOkEn@bitbucket.org/ws/repo.git", "sEcReTtOkEn"),
        ("https://user:pa55word@example.com/x", "pa55word"),
        ("GET /cb?code=Zq9XkQ3mN7&state=abc", "Zq9XkQ3mN7"),
        ("grant_type=refresh_token&refresh_token=rT0k3nValue", "rT0k3nValue"),
        ('{"access_token": "aT0k3nValue", "x": 1}', "aT0k3nValue"),
        ("client_secret=s3cr3tValue", "s3cr3tValue"),
        ("password=fromGitHelper123", "fromGitHelper123"),
    ],
)
def test_redact_token_shaped_patterns(text, leaked):
    assert leaked not in redact(text)


def test_redact_extra_and_remember():
    assert "pasted-code-value" not in redact("the code pasted-code-value failed", extra=["pasted-code-value"])
    remember("consumer-secret-remembered")
    assert "consumer-secret-remembered" not in redact("secret consumer-secret-remembered here")


def test_redact_leaves_ordinary_text_alone():
    text = "Cloning into 'web-app'...\nReceiving objects: 100% (12/12), done."
    assert redact(text) == text
def test_exit_code_stays_readable():
    assert redact("git exited with exit code: 128") == "git exited with exit code: 128"


def test_error_sentences_stay_readable():
    for text in ("Access token expired.", "Your access token expired; refreshing", "Basic auth failed", "Basic authentication is required", "Bearer tokens only"):
        assert redact(text) == text
