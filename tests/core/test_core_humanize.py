"""One size formatter for the CLI and the wizard, in git's units."""

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
