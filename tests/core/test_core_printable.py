"""bbwizard.secret.printable: the one filter for text from a server or from git before it is shown."""

from __future__ import annotations

from bbwizard.secret import printable


def test_colour_codes_go_and_other_controls_become_spaces() -> None:
    assert printable("\x1b[31mred\x1b[0m") == "red"
    assert printable("a\x1b]52;c;QUFB\x07b") == "ab"  # an OSC clipboard write: gone, payload and all
    assert printable("line\u2028sep\u202egnp") == "line sep gnp"
    assert printable("tab\tand\nnewline") == "tab\tand\nnewline"  # kept: callers decide about lines


def test_plain_text_comes_back_as_it_was() -> None:
    text = "acme/payments-service · Zürich 🚀"
    assert printable(text) is text
