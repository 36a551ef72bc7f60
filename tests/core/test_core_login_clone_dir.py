"""`bbwizard login --clone-dir DIR`: the profile's clone folder, stored at sign-in."""

from __future__ import annotations

from bbwizard.config import ConfigStore
from bbwizard.emulator import PRIVATE_CONSUMER_KEY, PRIVATE_CONSUMER_SECRET


def test_login_stores_the_clone_folder_as_an_absolute_path(emu, run_cli, login_argv, config_path, tmp_path) -> None:
    argv = login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials", "--clone-dir", "~/code/bitbucket")
    result = run_cli(argv, input=PRIVATE_CONSUMER_SECRET + "\n", env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert ConfigStore(config_path).get().clone_dir == str(tmp_path / "code" / "bitbucket")


def test_a_login_without_the_flag_keeps_the_saved_folder(emu, run_cli, login_argv, config_path, tmp_path) -> None:
    first = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials", "--clone-dir", str(tmp_path / "src")),
                    input=PRIVATE_CONSUMER_SECRET + "\n")
    assert first.returncode == 0, first.stderr
    again = run_cli(login_argv(emu, PRIVATE_CONSUMER_KEY, "--client-credentials"), input=PRIVATE_CONSUMER_SECRET + "\n")
    assert again.returncode == 0, again.stderr
    assert ConfigStore(config_path).get().clone_dir == str(tmp_path / "src")
