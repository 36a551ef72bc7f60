"""Keys and secrets are never judged by their length: the 2026 OAuth clients have 32-character
keys and secrets of about 76 characters (legacy consumers: 18 and 32). The same consumer answers
the same with either pair, in the core's check and in ``bbwizard login``."""

from __future__ import annotations

import subprocess
import sys

from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, demo_seed
from bbwizard.oauth import check_consumer
from bbwizard.secret import Secret

KEY = "Kq7Rm2Nx4Bw9Lp3Hz8Tv6Jc1Fy5Gd0Sa"  # 32 characters, as a 2026 OAuth client's
SECRET = "Zr8Yq2Wx7Vb3Tn9Mk4Lj6Hg1Fd5Sa0Pe8Oi2Uy7Tr3Ew9Qa4Zs6Xd1Cf5Vg0Bh8Nj2Mk7Lp3Qw9E"  # 76


def emulators(emulator_factory):
    """(the demo consumer with its legacy 18/32 pair, the same consumer with a 32/76 pair)."""
    legacy = emulator_factory(demo_seed())
    seed = demo_seed()
    seed["consumers"][0].update(key=KEY, secret=SECRET)
    return legacy, emulator_factory(seed)


def test_a_32_character_key_and_76_character_secret_pass_the_check(emulator_factory):
    assert (len(KEY), len(SECRET)) == (32, 76) and len(DEMO_CONSUMER_SECRET) < 40
    legacy, new = emulators(emulator_factory)
    old_check = check_consumer(legacy.site_url, DEMO_CONSUMER_KEY, Secret(DEMO_CONSUMER_SECRET))
    new_check = check_consumer(new.site_url, KEY, Secret(SECRET))
    assert (new_check.kind, new_check.message) == (old_check.kind, old_check.message)


def _login(emu, key, secret, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BBWIZARD_CONFIG": str(tmp_path / f"{key}.toml"),
           "NO_PROXY": "*"}
    result = subprocess.run(
        [sys.executable, "-m", "bbwizard", "login", "--key", key, "--secret-stdin", "--site-url", emu.site_url,
         "--api-url", emu.api_url, "--no-browser", "--timeout", "1"],
        input=secret + "\n", capture_output=True, text=True, env=env, timeout=120, stdin=None,
    )
    return result.returncode, result.stderr.replace(emu.site_url, "SITE").replace(emu.api_url, "API")


def test_login_takes_them_as_they_are(emulator_factory, tmp_path):
    legacy, new = emulators(emulator_factory)
    old = _login(legacy, DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, tmp_path)
    assert _login(new, KEY, SECRET, tmp_path) == old
