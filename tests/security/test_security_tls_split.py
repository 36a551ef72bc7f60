"""Bitbucket as it is served: HTTPS, with the site and the API on two hosts.

The emulator runs with ``tls=True`` (a certificate from a test CA it makes at start, trustme) and
``split_hosts=True`` (the API on a port of its own, ``/2.0/`` served nowhere else), so the
client's TLS path and its separation of site and API run for real: sign-in, repositories, a
clone, a ``git pull`` after the token expired (through the credential helper), and the wizard.
The CA is trusted only when the client is told: ``SSL_CERT_FILE`` or a profile's ``ca_bundle``
(``login --ca-bundle``); another CA's certificate is refused with a sentence.
"""

from __future__ import annotations

import os
import shlex
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

trustme = pytest.importorskip("trustme")

from bbwizard import net  # noqa: E402
from bbwizard.config import ConfigStore  # noqa: E402
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, demo_seed  # noqa: E402
from bbwizard.errors import ConfigError  # noqa: E402
from bbwizard.git import clone_config, git_env  # noqa: E402

WORKSPACE, SLUG = "acme", "webapp"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def callback_url() -> str:
    return f"http://localhost:{free_port()}/"


@pytest.fixture
def tls_emulator(emulator_factory, callback_url):
    return emulator_factory(demo_seed(callback_url=callback_url), tls=True, split_hosts=True)


def approver(ca_file: Path) -> str:
    """A ``$BROWSER`` that clicks Grant and trusts the emulator's CA (as a person's browser would
    once told), whatever bbwizard itself was told."""
    return shlex.join(["env", f"SSL_CERT_FILE={ca_file}", sys.executable, "-m", "bbwizard.emulator.approve"])


def login(bbw, emu, callback_url: str, *extra: str, env: dict[str, str] | None = None):
    return bbw(
        "login", "--site-url", emu.site_url, "--api-url", emu.api_url, "--key", DEMO_CONSUMER_KEY,
        "--secret-stdin", "--callback-url", callback_url, "--timeout", "60", *extra,
        input=DEMO_CONSUMER_SECRET + "\n",
        env={"BROWSER": approver(emu.ca_file), **(env or {})},
    )


def no_traceback(done) -> None:
    assert "Traceback" not in done.stderr + done.stdout


# --- the emulator -------------------------------------------------------------------------------


def test_the_emulator_serves_https_and_the_api_only_on_its_own_port(tls_emulator):
    emu = tls_emulator
    assert emu.site_url.startswith("https://127.0.0.1:") and emu.api_url.startswith("https://127.0.0.1:")
    assert emu.api_port != emu.port
    trusted = ssl.create_default_context(cafile=str(emu.ca_file))

    def status(url: str, context: ssl.SSLContext = trusted) -> int:
        try:
            with urllib.request.urlopen(url, context=context, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    site_origin = emu.site_url
    api_origin = emu.api_url.removesuffix("/2.0")
    assert status(f"{emu.api_url}/repositories/{WORKSPACE}") == 401  # the API: asks for a token
    assert status(f"{site_origin}/2.0/repositories/{WORKSPACE}") == 404  # not on the site's host
    assert status(f"{api_origin}/site/oauth2/authorize?client_id={DEMO_CONSUMER_KEY}&response_type=code") == 404
    assert status(f"{api_origin}/{WORKSPACE}/{SLUG}.git/info/refs?service=git-upload-pack") == 404
    assert status(f"{site_origin}/site/oauth2/authorize?client_id={DEMO_CONSUMER_KEY}&response_type=code") == 200
    assert emu.clone_url(WORKSPACE, SLUG).startswith(site_origin + "/")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        status(f"{emu.api_url}/user", _other_ca_context())


def _other_ca_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trustme.CA().configure_trust(context)
    return context


def test_bbwizard_emulator_tls_split_hosts_prints_the_ca_file_and_both_addresses(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path), NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "bbwizard", "emulator", "--tls", "--split-hosts"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        while not any("consent page yourself" in line for line in lines):
            line = proc.stderr.readline()
            assert line, "the emulator ended before it served:\n" + "".join(lines)
            lines.append(line)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    text = "".join(lines)
    site = next(line.split()[-1] for line in lines if "site (bitbucket.org):" in line)
    api = next(line.split()[-1] for line in lines if "API (api.bitbucket.org):" in line)
    ca = next(line.split()[-1] for line in lines if "test CA" in line)
    assert site.startswith("https://") and api.startswith("https://") and api.endswith("/2.0")
    assert api.removesuffix("/2.0") != site
    assert ca.endswith(".pem") and ca.startswith(str(tmp_path))
    assert f"SSL_CERT_FILE={ca}" in text and f"--api-url {api}" in text


def test_bbwizard_emulator_help_says_what_tls_needs(bbw):
    done = bbw("emulator", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--tls" in text and "pip install trustme" in text and "--split-hosts" in text


# --- the journeys over HTTPS and two hosts -------------------------------------------------------


def test_login_repos_clone_and_a_pull_after_expiry_with_a_ca_bundle(tls_emulator, bbw, sec_env, callback_url, tmp_path):
    """Told about the CA by ``--ca-bundle`` alone (no SSL_CERT_FILE anywhere): the profile keeps
    the absolute path, httpx and git both use it, and a later ``git pull`` refreshes the expired
    token through the credential helper over HTTPS."""
    emu = tls_emulator
    bundle = Path(sec_env["HOME"]) / "company-ca.pem"
    bundle.write_bytes(emu.ca_file.read_bytes())
    done = login(bbw, emu, callback_url, "--ca-bundle", os.path.relpath(bundle))
    assert done.returncode == 0, done.stderr
    profile = ConfigStore().get(None)
    assert profile.ca_bundle == str(bundle) and profile.api_url == emu.api_url and profile.site_url == emu.site_url
    assert profile.user is not None

    listed = bbw("repos", WORKSPACE, "--json")
    assert listed.returncode == 0, listed.stderr
    assert SLUG in listed.stdout

    cloned = bbw("clone", f"{WORKSPACE}/{SLUG}")
    assert cloned.returncode == 0, cloned.stderr
    repo = Path.cwd() / SLUG
    assert (repo / ".git").is_dir()
    kept = subprocess.run(["git", "config", "--get", f"http.{emu.site_url}/.sslcainfo"], cwd=repo, env=sec_env,
                          capture_output=True, text=True)
    assert kept.stdout.strip() == str(bundle)

    # Two hours later: Bitbucket refuses the token, and the file says it has expired.
    emu.expire_tokens()
    store = ConfigStore()
    store.save(store.get(None).replace(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    refreshes = emu.stats.grants["refresh_token"]
    pulled = subprocess.run(["git", "pull", "--ff-only"], cwd=repo, env=sec_env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    after = ConfigStore().get(None)
    assert after.access_token != profile.access_token  # the helper refreshed it, over HTTPS
    assert emu.stats.grants["refresh_token"] == refreshes + 1


def test_login_with_ssl_cert_file_through_the_loopback_catcher(tls_emulator, bbw, callback_url):
    emu = tls_emulator
    done = login(bbw, emu, callback_url, env={"SSL_CERT_FILE": str(emu.ca_file)})
    assert done.returncode == 0, done.stderr
    profile = ConfigStore().get(None)
    assert profile.ca_bundle is None and profile.api_url == emu.api_url
    status = bbw("status", "--json", env={"SSL_CERT_FILE": str(emu.ca_file)})
    assert status.returncode == 0, status.stderr + status.stdout


def test_without_ssl_cert_file_or_ca_bundle_the_emulators_ca_is_not_trusted(tls_emulator, bbw, callback_url):
    done = login(bbw, tls_emulator, callback_url)
    assert done.returncode == 1, done.stderr
    assert "isn't trusted" in done.stderr and "--ca-bundle" in done.stderr
    no_traceback(done)
    assert not ConfigStore().exists() or not ConfigStore().load()


def test_a_certificate_from_another_ca_is_refused_with_a_sentence(tls_emulator, bbw, sec_env, callback_url):
    other = Path(sec_env["HOME"]) / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    done = login(bbw, tls_emulator, callback_url, "--ca-bundle", str(other))
    assert done.returncode == 1
    assert f"The TLS certificate of 127.0.0.1:{tls_emulator.port} isn't trusted" in done.stderr
    no_traceback(done)


def test_a_ca_bundle_that_is_not_there_is_refused_before_the_secret_is_read(tls_emulator, bbw, callback_url):
    done = login(bbw, tls_emulator, callback_url, "--ca-bundle", "no-such-ca.pem")
    assert done.returncode == 2
    assert "no-such-ca.pem: there is no such file" in done.stderr
    no_traceback(done)


def test_a_ca_bundle_that_is_not_certificates_is_named(tls_emulator, bbw, sec_env, callback_url):
    junk = Path(sec_env["HOME"]) / "junk.pem"
    junk.write_text("not a certificate\n")
    done = login(bbw, tls_emulator, callback_url, "--ca-bundle", str(junk))
    assert done.returncode == 1
    assert f"{junk}, can't be read as certificates" in done.stderr
    no_traceback(done)


async def test_the_wizard_signs_in_over_https_to_the_repositories_step(tls_emulator, sec_env, callback_url, monkeypatch):
    from bbwizard.config import Profile
    from bbwizard.secret import Secret
    from bbwizard.tui.app import WizardApp
    from bbwizard.tui.screens.authorize import AuthorizeScreen
    from bbwizard.tui.screens.consumer import ConsumerScreen
    from bbwizard.tui.screens.kind import KindScreen
    from bbwizard.tui.screens.repositories import RepositoriesScreen
    from bbwizard.tui.screens.token import TokenScreen

    emu = tls_emulator
    monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_file))
    monkeypatch.setenv("BROWSER", approver(emu.ca_file))
    app = WizardApp(
        store=ConfigStore(),
        prefill=Profile(name="demo", client_id=DEMO_CONSUMER_KEY, client_secret=Secret(DEMO_CONSUMER_SECRET),
                        callback_url=callback_url, site_url=emu.site_url, api_url=emu.api_url),
    )

    async with app.run_test(size=(100, 30)) as pilot:
        async def until(condition, what: str):
            import asyncio

            for _ in range(1200):
                await pilot.pause()
                if condition():
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"timed out waiting for {what}; screen is {app.screen!r}")

        await until(lambda: isinstance(app.screen, KindScreen), "the kind step")
        await pilot.press("enter")  # the first way: the OAuth client
        await until(lambda: isinstance(app.screen, ConsumerScreen), "the Consumer step")
        await pilot.press("enter")  # Check
        await until(lambda: "key and secret are right" in str(app.screen.query_one("#check-result").render()),
                    "the consumer check")
        await pilot.press("enter")  # on to the browser
        await until(lambda: isinstance(app.screen, AuthorizeScreen), "the Authorize step")
        await pilot.press("o")  # open the browser (the approver clicks Grant)
        await until(lambda: isinstance(app.screen, TokenScreen), "the Token step")
        await until(lambda: "Saved as profile" in str(app.screen.query_one("#token-saved").render()), "the saved profile")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RepositoriesScreen), "the Repositories step")
        await until(lambda: app.screen.query_one("#repositories").rows, "the repositories listed")
    profile = ConfigStore().get("demo")
    assert profile.api_url == emu.api_url and profile.user is not None
    assert any(record.path.startswith("/2.0/repositories/") for record in emu.stats.requests)


# --- the trust, as the core chooses it -------------------------------------------------------------


def test_the_trust_is_the_profile_bundle_then_ssl_cert_file_then_the_system(monkeypatch, tmp_path):
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "env.pem"))
    assert net.trust_source(str(tmp_path / "own.pem")) == ("ca_bundle", str(tmp_path / "own.pem"))
    assert net.trust_source() == ("SSL_CERT_FILE", str(tmp_path / "env.pem"))
    monkeypatch.delenv("SSL_CERT_FILE")
    try:
        import truststore  # noqa: F401

        expected = "truststore"
    except ImportError:
        expected = "certifi"
    assert net.trust_source() == (expected, None)
    context = net.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_an_unreadable_ssl_cert_file_is_a_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "gone.pem"))
    with pytest.raises(ConfigError, match=r"SSL_CERT_FILE names .*gone\.pem, which can't be read"):
        net.ssl_context()


def test_git_gets_the_profile_bundle_and_ssl_cert_file_does_not_override_it(tmp_path):
    config = clone_config("https://127.0.0.1:4443", "work", ca_bundle="/etc/own.pem")
    assert ("http.sslCAInfo", "/etc/own.pem") in config
    assert ("http.sslVerify", "true") in config
    env = git_env(config, base={"SSL_CERT_FILE": "/etc/env.pem", "PATH": os.environ.get("PATH", "")})
    assert "GIT_SSL_CAINFO" not in env
    values = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))}
    assert values["http.sslCAInfo"] == "/etc/own.pem"
    # Without a profile bundle, SSL_CERT_FILE still feeds git.
    plain = git_env(clone_config("https://127.0.0.1:4443", "work"), base={"SSL_CERT_FILE": "/etc/env.pem"})
    assert plain["GIT_SSL_CAINFO"] == "/etc/env.pem"
