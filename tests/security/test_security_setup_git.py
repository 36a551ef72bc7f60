"""`bbwizard setup-git --global` next to a person's own `store` helper. git calls every helper in
its list with `store` after a credential worked; a helper line read after bbwizard's joins that
list, and `store` writes the token to ~/.git-credentials. setup-git must say so."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _git(env, *args, input=None):
    return subprocess.run(["git", *args], env=env, input=input, capture_output=True, text=True, timeout=120)


def _use_the_helper(env, emulator) -> str:
    """What git does around a fetch: ask the helpers, then tell them the answer worked."""
    request = f"protocol=http\nhost={emulator.git_host}\n\n"
    fill = _git(env, "credential", "fill", input=request)
    assert fill.returncode == 0, fill.stderr
    approve = _git(env, "credential", "approve", input=fill.stdout + "\n")
    assert approve.returncode == 0, approve.stderr
    return dict(line.split("=", 1) for line in fill.stdout.splitlines())["password"]


def test_a_store_helper_after_bbwizards_is_named_and_then_fixed(emulator, signed_in, bbw, sec_env):
    signed_in(emulator)
    home = Path(sec_env["HOME"])
    gitconfig = home / ".gitconfig"
    site = emulator.site_url
    # A section for the site that existed before (a username), then a plain `store` helper:
    # setup-git's lines land in the first section, above `store`.
    original = gitconfig.read_text(encoding="utf-8")
    gitconfig.write_text(original + f'[credential "{site}"]\n\tusername = alice\n[credential]\n\thelper = store\n', encoding="utf-8")
    done = bbw("setup-git", "--global")
    assert done.returncode == 1, done.stderr
    assert (f"! The helper “store” comes after bbwizard's for {site} in your global git config, so git would hand "
            "it each token after use (a `store` helper writes it to ~/.git-credentials).") in done.stderr
    token = _use_the_helper(sec_env, emulator)
    credentials = home / ".git-credentials"
    assert credentials.exists() and token in credentials.read_text()  # the danger the warning names is real
    credentials.unlink()

    # The person moves `store` above bbwizard's section, as the sentence says: quiet, and safe.
    text = gitconfig.read_text(encoding="utf-8").replace("[credential]\n\thelper = store\n", "")
    gitconfig.write_text(original + "[credential]\n\thelper = store\n" + text[len(original):], encoding="utf-8")
    again = bbw("setup-git", "--global")
    assert again.returncode == 0, again.stderr
    assert "comes after bbwizard's" not in again.stderr
    assert f"git in your global git config already asks bbwizard (profile “work”) for {site}." in again.stderr
    token = _use_the_helper(sec_env, emulator)
    assert not credentials.exists() or token not in credentials.read_text()


def test_an_empty_helper_line_after_bbwizards_is_named_too(emulator, signed_in, bbw, sec_env):
    signed_in(emulator)
    gitconfig = Path(sec_env["HOME"]) / ".gitconfig"
    assert bbw("setup-git", "--global").returncode == 0
    with gitconfig.open("a", encoding="utf-8") as handle:
        handle.write("[credential]\n\thelper =\n")
    done = bbw("setup-git", "--global")
    assert done.returncode == 1
    assert "! The helper “(an empty line, which switches bbwizard's helper off)” comes after bbwizard's" in done.stderr
