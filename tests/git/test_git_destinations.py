"""git.destination_problems: the judgement the Clone step shows as a destination is typed."""

from __future__ import annotations

import os
import sys

import pytest

from bbwizard.git import destination_problems, prepare_destination


def test_new_and_empty_folders_are_usable(tmp_path):
    (tmp_path / "empty").mkdir()
    dests = [tmp_path / "new", tmp_path / "empty", tmp_path / "deep" / "er" / "new"]
    assert destination_problems(dests) == [None, None, None]
    assert not (tmp_path / "new").exists() and not (tmp_path / "deep").exists()  # only looked


def test_a_folder_that_is_not_empty_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    [problem] = destination_problems([tmp_path / "taken"])
    assert problem == "This folder exists and is not empty. Choose another one, or empty it first."
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_a_file_or_a_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    problems = destination_problems([tmp_path / "file", tmp_path / "file" / "repo"])
    assert problems == [
        "This is a file, not a folder. Choose another destination.",
        f"{tmp_path / 'file'} is a file, so no folder can be made under it.",
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self is Linux's")
def test_a_parent_nobody_can_write_is_refused():
    # /proc/self can't get new folders, not even as root (os.access says so for every user).
    [problem] = destination_problems(["/proc/self/clones/repo"])
    assert problem == "You can't make folders in /proc/self. Choose a folder you can write to."


def test_two_rows_aimed_at_one_folder_are_both_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    problems = destination_problems(["same", str(tmp_path / "same") + "/", "other"])
    assert problems == [
        "Row 2 clones into this folder too. Choose another one.",
        "Row 1 clones into this folder too. Choose another one.",
        None,
    ]


def test_one_destination_inside_another_is_refused(tmp_path):
    problems = destination_problems([tmp_path / "outer", tmp_path / "outer" / "inner"])
    assert problems == [
        "This folder and row 2's are one inside the other. Choose another one.",
        "This folder and row 1's are one inside the other. Choose another one.",
    ]


def test_a_symlink_to_another_rows_folder_is_the_same_folder(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    problems = destination_problems([tmp_path / "real", tmp_path / "link"])
    assert problems[0] == "Row 2 clones into this folder too. Choose another one."


def test_empty_text_and_relative_paths_against_a_base(tmp_path):
    (tmp_path / "base" / "taken").mkdir(parents=True)
    (tmp_path / "base" / "taken" / "x").write_text("x")
    problems = destination_problems(["  ", None, "taken", "fresh"], base=tmp_path / "base")
    assert problems == [
        "Give a folder to clone into.",
        "Give a folder to clone into.",
        "This folder exists and is not empty. Choose another one, or empty it first.",
        None,
    ]


def test_home_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "src" / "webapp").mkdir(parents=True)
    (tmp_path / "src" / "webapp" / "README").write_text("x")
    assert destination_problems(["~/src/webapp", "~/src/other"])[0].startswith("This folder exists and is not empty")


def test_what_is_refused_here_is_refused_by_the_clone_too(tmp_path):
    # The judgement and the clone's own claim agree: the form never lets through what git would meet.
    from bbwizard.errors import DestinationExists

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    (tmp_path / "file").write_text("x")
    for dest in (tmp_path / "taken", tmp_path / "file"):
        assert destination_problems([dest])[0] is not None
        with pytest.raises(DestinationExists):
            prepare_destination(dest)
    assert destination_problems([tmp_path / "fresh"]) == [None]
    path, created = prepare_destination(tmp_path / "fresh")
    assert created and path.is_dir() and os.listdir(path) == []


def test_clone_command_uses_the_profiles_clone_folder(emulator, sign_in, run_bbwizard, tmp_path):
    from pathlib import Path

    store, profile = sign_in(emulator)
    store.save(profile.replace(clone_dir=str(tmp_path / "src")))
    done = run_bbwizard("clone", "acme/webapp")
    assert done.returncode == 0, done.stderr
    assert f"into {tmp_path / 'src' / 'webapp'}" in done.stderr
    assert (tmp_path / "src" / "webapp" / ".git").is_dir()
    assert not (Path.cwd() / "webapp").exists()
    # A DEST on the command line still wins.
    done = run_bbwizard("clone", "acme/firmware", "here")
    assert done.returncode == 0, done.stderr
    assert (Path.cwd() / "here" / ".git").is_dir()
