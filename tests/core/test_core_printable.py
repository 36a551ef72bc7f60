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


def test_one_line_makes_tabs_and_newlines_spaces_too() -> None:
    assert printable("tab\tand\nnewline\x1b[1m!", one_line=True) == "tab and newline!"
    assert printable("plain", one_line=True) == "plain"


def test_the_cli_the_wizard_and_the_error_sentences_use_it() -> None:
    """No second filter: a repository's name in `bbwizard repos` and in the wizard's list, and a
    server's words in an error sentence, lose a window-title escape whole, not its ESC alone."""
    from bbwizard.cli.repos import _clean
    from bbwizard.net import clean
    from bbwizard.tui.widgets.repository_list import printable as one_line

    hostile = "acme/\x1b]0;owned\x07web\tapp\n"
    assert _clean(hostile) == one_line(hostile) == "acme/web app "
    assert clean("Bitbucket said \x1b[31mno\x1b[0m\r\nretry") == "Bitbucket said no retry"
