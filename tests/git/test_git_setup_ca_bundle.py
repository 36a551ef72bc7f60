"""`bbwizard setup-git` for a profile with its own CA bundle (``login --ca-bundle``): git is told
to trust that bundle for the site (``http.<site>/.sslCAInfo``), as bbwizard's own clones are, so a
repository cloned with plain git keeps pulling from a site with a private CA; ``--unset`` takes
exactly that setting away again."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytest.importorskip("trustme")

from bbwizard.config import ConfigStore
from bbwizard.emulator import demo_seed

WORKSPACE, SLUG = "acme", "webapp"
_TRUST_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "REQUESTS_CA_BUNDLE")


@pytest.fixture
def tls_emulator(emulator_factory):
    return emulator_factory(demo_seed(), tls=True, split_hosts=True)


@pytest.fixture
def bundle_profile(tls_emulator, git_home, save_signed_in):
    """A profile that trusts the emulator's CA through its ``ca_bundle`` alone; returns
    (profile, bundle path, an environment that names no other CA)."""
    bundle = Path(git_home["HOME"]) / "company-ca.pem"
    bundle.write_bytes(tls_emulator.ca_file.read_bytes())
    profile = save_signed_in(tls_emulator, ConfigStore(), name="work", ca_bundle=str(bundle), make_default=True,
                             callback_url="http://localhost:8976/")
    env = {key: value for key, value in git_home.items() if key not in _TRUST_ENV}
    env.update(NO_COLOR="1", COLUMNS="160")
    return profile, bundle, env


def _config(run_git, env, scope: str, *args: str, cwd=None):
    return run_git("config", scope, *args, cwd=cwd, env=env, check=False)


def test_setup_git_keeps_the_ca_bundle_so_plain_git_clones_and_pulls_after_expiry(
        tls_emulator, bundle_profile, run_git, run_bbwizard, tmp_path):
    emu = tls_emulator
    profile, bundle, env = bundle_profile
    key = f"http.{emu.site_url}/.sslCAInfo"
    run_git("config", "--global", "http.lowSpeedTime", "99", env=env)  # the person's own setting
    global_before = _config(run_git, env, "--global", "--list").stdout

    # Without setup-git, plain git does not trust the site's CA.
    refused = run_git("clone", "--", emu.clone_url(WORKSPACE, SLUG), str(tmp_path / "refused"), env=env, check=False)
    assert refused.returncode != 0 and "certificate" in refused.stderr.lower()

    done = run_bbwizard("setup-git", "--global", env=env)
    assert done.returncode == 0, done.stderr
    assert key in done.stderr and str(bundle) in done.stderr
    assert _config(run_git, env, "--global", "--get", key).stdout.strip() == str(bundle)

    repo = tmp_path / SLUG
    cloned = run_git("clone", "--", emu.clone_url(WORKSPACE, SLUG), str(repo), env=env, check=False)
    assert cloned.returncode == 0, cloned.stderr

    local = run_bbwizard("setup-git", cwd=repo, env=env)
    assert local.returncode == 0, local.stderr
    assert _config(run_git, env, "--local", "--get", key, cwd=repo).stdout.strip() == str(bundle)
    again = run_bbwizard("setup-git", cwd=repo, env=env)
    assert again.returncode == 0 and "already asks bbwizard" in again.stderr and key not in again.stderr

    # The global setup goes away whole; the repository keeps its own.
    undone = run_bbwizard("setup-git", "--global", "--unset", env=env)
    assert undone.returncode == 0, undone.stderr
    assert key in undone.stderr
    assert _config(run_git, env, "--global", "--list").stdout == global_before

    # Two hours later: Bitbucket refuses the token and the file says it has expired.
    emu.expire_tokens()
    store = ConfigStore()
    store.save(store.get("work").replace(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    refreshes = emu.stats.grants["refresh_token"]
    pulled = run_git("pull", "--ff-only", cwd=repo, env=env, check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert emu.stats.grants["refresh_token"] == refreshes + 1
    assert ConfigStore().get("work").access_token != profile.access_token

    local_undone = run_bbwizard("setup-git", "--unset", cwd=repo, env=env)
    assert local_undone.returncode == 0, local_undone.stderr
    assert _config(run_git, env, "--local", "--get", key, cwd=repo).returncode == 1
    assert f"http.{emu.site_url}/" not in _config(run_git, env, "--local", "--list", cwd=repo).stdout


def test_unset_leaves_a_ca_path_the_person_set_for_the_site(tls_emulator, bundle_profile, run_git, tmp_path):
    from bbwizard import git

    emu = tls_emulator
    profile, bundle, env = bundle_profile
    key = f"http.{emu.site_url}/.sslCAInfo"
    repo = tmp_path / "own"
    run_git("init", "-q", str(repo), env=env)

    result = git.setup_git(profile, cwd=repo)
    assert result.changed and result.ca_bundle == (key, str(bundle))
    assert git.setup_git(profile, cwd=repo).ca_bundle == ()  # nothing new the second time

    run_git("config", "--local", key, "/etc/ssl/theirs.pem", cwd=repo, env=env)
    undone = git.unset_git(profile, cwd=repo)
    assert undone.changed and undone.ca_bundle == ()
    assert _config(run_git, env, "--local", "--get", key, cwd=repo).stdout.strip() == "/etc/ssl/theirs.pem"


def test_a_profile_without_a_ca_bundle_writes_no_ca_setting(emulator, sign_in, run_git, tmp_path):
    from bbwizard import git

    _, profile = sign_in(emulator)
    repo = tmp_path / "plain"
    run_git("init", "-q", str(repo))
    result = git.setup_git(profile, cwd=repo)
    assert result.changed and result.ca_bundle == ()
    assert "sslcainfo" not in run_git("config", "--local", "--list", cwd=repo).stdout.lower()
