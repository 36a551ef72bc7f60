"""One formatter per kind of number, for the CLI and the wizard: sizes in git's units, spans of time, ages."""

from datetime import datetime, timedelta, timezone

import pytest

from bbwizard.humanize import human_size


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, ""),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 1024**2, "5.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (2 * 1024**4, "2.0 TiB"),
        (2048 * 1024**4, "2048.0 TiB"),
    ],
)
def test_sizes_read_like_gits_progress(size, shown):
    assert human_size(size) == shown


def test_the_cli_and_the_wizard_share_it():
    from bbwizard.cli import gitcmds
    from bbwizard.tui.widgets import repository_list

    assert not hasattr(gitcmds, "_human_size")
    assert repository_list.human_size is human_size


@pytest.mark.parametrize(
    ("span", "words", "clock"),
    [
        (timedelta(0), "0 s", "0:00"),
        (timedelta(seconds=42.9), "42 s", "0:42"),
        (timedelta(minutes=9, seconds=59), "9 min", "9:59"),
        (timedelta(hours=1, minutes=59, seconds=58), "1 h 59 min", "1:59:58"),
        (timedelta(hours=26, seconds=5), "26 h 0 min", "26:00:05"),
        (-timedelta(minutes=3, seconds=1), "3 min", "3:01"),  # the caller says "ago"
    ],
)
def test_one_duration_formatter_in_two_styles(span, words, clock):
    from bbwizard.humanize import human_duration

    assert human_duration(span) == words
    assert human_duration(span, clock=True) == clock


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("ago", "long", "short"),
    [
        (timedelta(seconds=59), "just now", "just now"),
        (timedelta(minutes=1), "1 minute ago", "1 min ago"),
        (timedelta(hours=5), "5 hours ago", "5 h ago"),
        (timedelta(days=11), "11 days ago", "11 d ago"),
        (timedelta(days=90), "3 months ago", "3 mo ago"),
        (timedelta(days=365 * 5), "5 years ago", "5 y ago"),
    ],
)
def test_one_age_formatter_for_gh_like_lines_and_narrow_columns(ago, long, short):
    from bbwizard.humanize import human_age

    assert human_age(NOW - ago, NOW) == long
    assert human_age(NOW - ago, NOW, short=True) == short
    assert human_age((NOW - ago).replace(tzinfo=None), NOW, short=True) == short  # naive is UTC
    assert human_age(None, NOW) == ""


def test_the_status_bar_the_steps_and_the_cli_share_the_time_formatters():
    from bbwizard import humanize, oauth
    from bbwizard.tui.screens import profiles, token
    from bbwizard.tui.widgets import repository_list, status

    for module in (status, token, profiles, repository_list):
        assert not hasattr(module, "format_duration") and not hasattr(module, "minutes_text")
        assert not hasattr(module, "relative_time")
    assert status.human_duration is token.human_duration is profiles.human_duration is humanize.human_duration
    assert repository_list.human_age is humanize.human_age
    expires = NOW + timedelta(hours=1, minutes=59, seconds=30)
    assert oauth.describe_expiry(expires, NOW) == "in 1 h 59 min (2026-03-01 13:59 UTC)"
    assert status.countdown_text(expires, NOW, has_token=True) == ("token expires in 1:59:30", "fresh")
    assert status.countdown_text(NOW - timedelta(seconds=75), NOW, has_token=True) == ("token expired 1:15 ago", "expired")
