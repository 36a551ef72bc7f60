"""setup-git writes a helper that survives an upgrade: ``!bbwizard credential …`` through PATH when
the bbwizard on PATH is this one, else the absolute command; the older forms are still ours."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from bbwizard.git import setup as git_setup
from bbwizard.git.env import bbwizard_argv


def _script(folder: Path, interpreter: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "bbwizard"
    script.write_text(f"#!{interpreter}\nimport sys\nfrom bbwizard.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return script


@pytest.fixture
def git_folder() -> str:
    return os.path.dirname(shutil.which("git"))


def test_the_bbwizard_on_path_being_this_one_gives_a_helper_through_path(emulator, sign_in, run_git, git_home, git_folder,
                                                                          tmp_path, monkeypatch):
    store, profile = sign_in(emulator)
    ours = tmp_path / "bin"
    _script(ours, sys.executable)
    monkeypatch.setenv("PATH", f"{ours}:{git_folder}")
    repo = tmp_path / "repo"
    run_git("init", "-q", str(repo))
    result = git_setup.setup_git(profile, cwd=repo, store=store)
    key = f"credential.{emulator.site_url}.helper"
    values = run_git("config", "--local", "--get-all", key, cwd=repo).stdout.splitlines()
    assert values == ["", f"!bbwizard credential --profile work --config {store.path}"]
    assert result.changed and git_setup._is_our_helper(values[1])
    # git finds it through PATH and gets the token
    fill = run_git("credential", "fill", cwd=repo, input=f"protocol=http\nhost={emulator.git_host}\n\n",
                   env=dict(git_home, PATH=f"{ours}:{git_folder}"))
    assert f"password={profile.access_token.reveal()}" in fill.stdout
    # run again: nothing changes
    assert not git_setup.setup_git(profile, cwd=repo, store=store).changed


@pytest.mark.parametrize("on_path", ["none", "another"])
def test_another_or_no_bbwizard_on_path_gives_the_absolute_command(emulator, sign_in, run_git, git_folder, tmp_path,
                                                                   monkeypatch, on_path):
    store, profile = sign_in(emulator)
    folder = tmp_path / "elsewhere"
    if on_path == "another":
        _script(folder, "/opt/another-python/bin/python3")
    else:
        folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}:{git_folder}")
    repo = tmp_path / "repo"
    run_git("init", "-q", str(repo))
    git_setup.setup_git(profile, cwd=repo, store=store)
    values = run_git("config", "--local", "--get-all", f"credential.{emulator.site_url}.helper", cwd=repo).stdout.splitlines()
    words = [*bbwizard_argv(), "credential", "--profile", "work", "--config", str(store.path)]
    assert values == ["", "!" + " ".join(words)]
    assert os.path.isabs(bbwizard_argv()[0])


def test_the_older_helper_forms_are_still_ours_and_are_replaced_and_undone(emulator, sign_in, run_git, git_folder,
                                                                            tmp_path, monkeypatch):
    store, profile = sign_in(emulator)
    ours = tmp_path / "bin"
    _script(ours, sys.executable)
    monkeypatch.setenv("PATH", f"{ours}:{git_folder}")
    repo = tmp_path / "repo"
    run_git("init", "-q", str(repo))
    key = f"credential.{emulator.site_url}.helper"
    old_forms = [f"!{sys.executable} -m bbwizard credential --profile work", "!/old/venv/bin/bbwizard credential --profile work"]
    assert all(git_setup._is_our_helper(value) for value in [*old_forms, "!bbwizard credential --profile work"])
    assert not git_setup._is_our_helper("!bbwizardly credential") and not git_setup._is_our_helper("store")
    run_git("config", "--local", key, "", cwd=repo)
    for value in old_forms:
        run_git("config", "--local", "--add", key, value, cwd=repo)
    result = git_setup.setup_git(profile, cwd=repo, store=store)
    assert result.changed and set(result.replaced) == set(old_forms)
    values = run_git("config", "--local", "--get-all", key, cwd=repo).stdout.splitlines()
    assert values == ["", f"!bbwizard credential --profile work --config {store.path}"]
    # a mix of the three forms is undone entirely
    for value in old_forms:
        run_git("config", "--local", "--add", key, value, cwd=repo)
    assert git_setup.unset_git(profile, cwd=repo).changed
    assert run_git("config", "--local", "--get-all", key, cwd=repo, check=False).returncode == 1


def test_is_this_bbwizard_follows_links_and_compares_interpreter_folders(tmp_path):
    mine = _script(tmp_path / "a", sys.executable)
    env_form = tmp_path / "b" / "bbwizard"
    env_form.parent.mkdir()
    env_form.write_text(f"#!/usr/bin/env {sys.executable}\n")
    other = _script(tmp_path / "c", "/opt/another-python/bin/python3")
    link = tmp_path / "link"
    link.symlink_to(mine)
    assert git_setup.is_this_bbwizard(mine) and git_setup.is_this_bbwizard(link) and git_setup.is_this_bbwizard(env_form)
    assert not git_setup.is_this_bbwizard(other) and not git_setup.is_this_bbwizard(tmp_path / "missing")
