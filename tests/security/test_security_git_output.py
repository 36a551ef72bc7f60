"""What git prints comes partly from the server ("remote: …" lines) and reaches the person's
terminal through progress events and error sentences: no terminal control sequences (an OSC 52
clipboard write, a window-title change, a bell, a bidi override), and no secret."""

from __future__ import annotations

from bbwizard import git
from bbwizard.config import Profile
from bbwizard.secret import Secret

HOSTILE = "remote: \x1b]52;c;ZXZpbA==\x07 \x1b]0;pwned\x07hello \u202eevil\u202c \x08\x08done\x9b31m"


def _clean(text: str) -> bool:
    return not any(ch in text for ch in "\x1b\x07\x08\x9b\u202e\u202c")


def test_server_lines_lose_their_control_sequences():
    event = git.parse_progress_line(HOSTILE)
    assert isinstance(event, git.CloneOutput)
    assert _clean(event.text)
    assert "hello" in event.text and "evil" in event.text and "done" in event.text


def test_an_error_sentence_carries_no_control_sequence_and_no_token():
    token = Secret("tok-" + "A1b2C3d4" * 6)
    profile = Profile(name="work", client_id="K", access_token=token, scopes=["repository"])
    stderr = f"{HOSTILE}\rremote: x-token-auth:{token.reveal()}@host\nfatal: \x1b]0;title\x07 something odd happened with {token.reveal()}\n"
    error = git.explain_git_failure(stderr, profile=profile, full_name="acme/webapp", host="bitbucket.org")
    message = str(error)
    assert message.startswith("git could not clone acme/webapp: fatal:")
    assert "something odd happened with ***" in message
    assert _clean(message)
    assert token.reveal()[:12] not in message
