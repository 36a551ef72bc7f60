"""TLS for git and httpx alike (security.md 19): one CA bundle setting (SSL_CERT_FILE) feeds both,
and verification stays on whatever the environment or a git config file says.

A TLS front on loopback, with a certificate from a throwaway CA, forwards to the emulator, so git
and httpx talk real HTTPS to it."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bbwizard import git, oauth
from bbwizard.config import ConfigStore, Profile
from bbwizard.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
from bbwizard.errors import GitError, NetworkError
from bbwizard.secret import Secret

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
HANG_GUARD = 120


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=HANG_GUARD)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=bbwizard test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}


class _TLSFront:
    """Accept TLS on 127.0.0.1 and pump the bytes to and from a plain TCP port."""

    def __init__(self, target_port: int, cert: Path, key: str) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):  # an untrusting client hangs up during the handshake
            raw.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.target))

        def pump(source, sink) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (source, sink):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def close(self) -> None:
        self.closed = True
        self.listener.close()


@pytest.fixture
def tls_site(emulator, certificates):
    front = _TLSFront(int(emulator.site_url.rsplit(":", 1)[1]), certificates["cert"], certificates["key"])
    yield f"https://127.0.0.1:{front.port}"
    front.close()


def _profile(emu, site: str) -> Profile:
    answer = emu.mint_token(DEMO_CONSUMER_KEY)
    return Profile(
        name="work",
        client_id=DEMO_CONSUMER_KEY,
        client_secret=Secret(DEMO_CONSUMER_SECRET),
        site_url=site,
        api_url=site + "/2.0",
        access_token=Secret(answer["access_token"]),
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        scopes=answer["scope"].split(),
    )


async def test_one_ca_bundle_setting_feeds_httpx_and_git(emulator, sec_env, tls_site, certificates, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates["ca"]))
    profile = _profile(emulator, tls_site)
    ConfigStore().save(profile, make_default=True)  # git's helper reads the token from the config file
    user = await asyncio.to_thread(oauth.fetch_user, profile.api_url, profile.access_token)  # httpx trusts it
    assert user.username == "alice"
    result = await asyncio.wait_for(git.clone_repository(profile, "acme", "webapp"), HANG_GUARD)  # and so does git
    assert result.ok and (result.path / ".git").is_dir()
    assert profile.access_token.reveal() not in (result.path / ".git" / "config").read_text(encoding="utf-8")


@pytest.mark.parametrize("switch_off", ["environment", "git-config"])
async def test_verification_stays_on_whatever_the_environment_or_git_config_says(
    emulator, sec_env, tls_site, switch_off, monkeypatch
):
    if switch_off == "environment":
        monkeypatch.setenv("GIT_SSL_NO_VERIFY", "1")
    else:
        subprocess.run(["git", "config", "--global", "http.sslVerify", "false"], env=sec_env, check=True)
    profile = _profile(emulator, tls_site)
    dest = Path.cwd() / "webapp"
    with pytest.raises(GitError) as caught:
        await asyncio.wait_for(git.clone_repository(profile, "acme", "webapp", dest), HANG_GUARD)
    host = tls_site.removeprefix("https://")
    assert str(caught.value) == (
        f"The TLS certificate of {host} isn't trusted, so git stopped before sending the token "
        "(bbwizard never turns verification off). If your network inspects TLS, point "
        "SSL_CERT_FILE at your organisation's CA bundle, then try again."
    )
    assert not dest.exists()
    assert emulator.stats.git["upload-pack"] == 0  # nothing reached the server behind the front


async def test_httpx_refuses_an_untrusted_certificate_with_a_sentence(emulator, sec_env, tls_site):
    profile = _profile(emulator, tls_site)
    with pytest.raises(NetworkError) as caught:
        await asyncio.to_thread(oauth.fetch_user, profile.api_url, profile.access_token)
    assert "isn't trusted, so bbwizard stopped (it never turns verification off)" in str(caught.value)
    assert profile.access_token.reveal()[:12] not in str(caught.value)


def test_git_env_maps_the_ca_bundle_and_drops_no_verify():
    env = git.git_env(base={"PATH": "/usr/bin", "SSL_CERT_FILE": "/etc/corp.pem", "SSL_CERT_DIR": "/etc/corp",
                            "GIT_SSL_NO_VERIFY": "1"})
    assert env["GIT_SSL_CAINFO"] == "/etc/corp.pem" and env["GIT_SSL_CAPATH"] == "/etc/corp"
    assert "GIT_SSL_NO_VERIFY" not in env
    own = git.git_env(base={"SSL_CERT_FILE": "/etc/corp.pem", "GIT_SSL_CAINFO": "/etc/git-only.pem"})
    assert own["GIT_SSL_CAINFO"] == "/etc/git-only.pem"  # a person's own git setting wins
    assert ("http.sslVerify", "true") in git.clone_config("https://bitbucket.org", "p")
