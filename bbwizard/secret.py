"""Secrets as a masked type, and the one redaction filter every outgoing message goes through.

A bare ``str`` token in a local variable leaks into Textual's crash traceback (it prints locals),
into ``repr`` of dataclasses and into logs. So secrets travel as :class:`Secret`, whose ``repr`` and
``str`` show at most the last four characters; ``reveal()`` is the one deliberate way out, used
only where the value goes onto the wire (an HTTP header, the credential helper's stdout).

Every Secret made in this process is remembered, so :func:`redact` can scrub its exact value (and
its base64 ``Basic`` form) from git's stderr, an HTTP error body or a log line.
"""

from __future__ import annotations

import binascii
import re
import threading
from collections.abc import Iterable

_known: set[str] = set()
_known_lock = threading.Lock()

# Shorter values would redact ordinary words; real tokens and secrets are far longer.
_MIN_KNOWN_LENGTH = 6


class Secret:
    """A string that never shows itself by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret wants a str")
        self._value = value
        if len(value) >= _MIN_KNOWN_LENGTH:
            with _known_lock:
                _known.add(value)

    def reveal(self) -> str:
        """The real value. Call it only where the value goes onto the wire."""
        return self._value

    @property
    def masked(self) -> str:
        """What a person may see: ``***…abcd`` (the last four characters at most)."""
        if not self._value:
            return ""
        tail = self._value[-4:] if len(self._value) >= 12 else ""
        return f"***…{tail}" if tail else "***"

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):  # pickling would write the value somewhere we don't control
        raise TypeError("Secret can't be pickled")


def remember(*values: str | Secret | None) -> None:
    """Teach :func:`redact` extra values (for example a code or a key seen in a URL)."""
    for value in values:
        if value is None:
            continue
        Secret(value.reveal() if isinstance(value, Secret) else value)


# Compiled on first use (re caches them): most commands never redact anything.
_PATTERNS: list[tuple[str, str]] = [
    # A credential has a digit or a symbol in it; "Basic authentication" stays readable.
    (r"(?i)\b(bearer|basic)\s+(?=[A-Za-z._~\-]*[0-9+/=])[A-Za-z0-9._~+/=\-]{6,}", r"\1 ***"),
    (r"(?i)(://[^/\s:@]+):[^@\s/]+@", r"\1:***@"),
    (
        r"(?i)\b(access_token|refresh_token|client_secret|code_verifier|password|oauth_refresh_token)"
        r"(\"?\s*[=:]\s*\"?)[^&\s\"',}]+",
        r"\1\2***",
    ),
    # An authorization code only in its URL form: "exit code: 128" must stay readable.
    (r"\b(code=)[^&\s\"']+", r"\1***"),
]


def _b64(text: str) -> str:
    """``base64.b64encode`` through binascii, which is built in: the base64 module would cost
    each ``bbwizard credential get`` its import."""
    return binascii.b2a_base64(text.encode(), newline=False).decode("ascii")


def _known_forms() -> list[str]:
    with _known_lock:
        values = list(_known)
    forms: set[str] = set(values)
    for value in values:
        for user in ("x-token-auth", "x-bitbucket-api-token-auth"):
            forms.add(_b64(f"{user}:{value}"))
    # Longest first, so a value that contains another is scrubbed whole.
    return sorted(forms, key=len, reverse=True)


def redact(text: str, extra: Iterable[str | Secret | None] = ()) -> str:
    """Scrub every known secret, its Basic form, and token-shaped patterns from ``text``."""
    if not text:
        return text
    for value in extra:
        if value:
            raw = value.reveal() if isinstance(value, Secret) else value
            text = text.replace(raw, "***")
            text = text.replace(_b64(raw), "***")
    for form in _known_forms():
        if form in text:
            text = text.replace(form, "***")
    for pattern, replacement in _PATTERNS:
        text = re.sub(pattern, replacement, text)
    return text


# Whole escape sequences first, payload and all, so that nothing of them reaches a terminal (not
# even as text a person might mistake for data): CSI (colours, clear screen, cursor moves; ESC [ or
# the 8-bit U+009B), then the string commands OSC (window title, clipboard), DCS, SOS, PM and APC
# up to BEL or ST (or the end of the text: an unterminated one swallows the rest), then any other
# ESC sequence. After that, C0/C1 controls but tab and newline, the Unicode line separators and
# every bidi control (embeddings, overrides, isolates, marks) become spaces: a server's text (an
# error message, a repository name, git's "remote:" lines) must not write the clipboard, retitle
# the window or reorder what a person reads (rule 4).
_ESCAPES = (
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with terminal escape sequences removed whole and every other control character
    (but tab and newline) made a space; with ``one_line``, tabs and newlines too (a table's cell,
    a sentence). The one cleaner of text from a server, a config file or git."""
    if text.isprintable():  # the common case, in C: every character the filters touch is unprintable
        return text
    cleaned = re.sub(_CONTROL, " ", re.sub(_ESCAPES, "", text))
    return cleaned.replace("\t", " ").replace("\n", " ") if one_line else cleaned
