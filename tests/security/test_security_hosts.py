"""Defect 2 of the hardening review: a Unicode full stop got past the https-only rule, and an
address with ``user:password@`` was saved, replaced the Bearer header and was printed.

Every host rule now compares the host through ``bbwizard.net.normalise_host`` (Unicode full
stops, IDNA, case, trailing dot): the https rule, the loopback rule, the API's "next only on the
profile's own host", the credential helper's request matching and the git host.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bbwizard.api import BitbucketClient
from bbwizard.config import Profile
from bbwizard.errors import ProtocolError, UsageError
from bbwizard.git.credential import request_matches
from bbwizard.net import is_loopback_host, normalise_host, require_https
from bbwizard.secret import Secret

DOTTED = ["http://bitbucket\uff0eorg", "http://bitbucket\u3002org", "http://bitbucket\uff61org", "http://BitBucket.ORG.",
          "http://api.bitbucket\uff0eorg/2.0", "http://\uff42\uff49\uff54\uff42\uff55\uff43\uff4b\uff45\uff54.org"]


@pytest.mark.parametrize("url", DOTTED)
def test_plain_http_to_bitbucket_is_refused_however_the_host_is_spelled(url) -> None:
    with pytest.raises(UsageError, match="plain http") as refused:
        require_https(url)
    assert "https://" in refused.value.message and "bitbucket.org" in refused.value.message


def test_hosts_are_normalised_once() -> None:
    assert normalise_host("bitbucket\uff0eorg") == "bitbucket.org"
    assert normalise_host("Bitbucket.ORG.") == "bitbucket.org"
    assert normalise_host("b\u00fccher.de") == "xn--bcher-kva.de"
    assert normalise_host("[::1]") == "::1"
    assert normalise_host("a..b\uff0e") == "a..b"  # no IDNA form: compared as it is
    assert is_loopback_host("localhost\u3002") and is_loopback_host("LOCALHOST.")
    assert Profile(name="p", client_id="k", site_url="https://BitBucket\uff0eorg.").git_host == "bitbucket.org"


def test_the_credential_helper_matches_the_normalised_host() -> None:
    assert request_matches({"protocol": "https", "host": "bitbucket\uff0eorg"}, "https://bitbucket.org")
    assert request_matches({"protocol": "https", "host": "BITBUCKET.ORG."}, "https://bitbucket.org")
    assert not request_matches({"protocol": "https", "host": "bitbucket\uff0eorg.evil"}, "https://bitbucket.org")


@pytest.mark.parametrize("flag", ["--site-url", "--api-url"])
@pytest.mark.parametrize("userinfo", ["user:hunter2pass@", "user@"])
def test_an_address_with_a_user_or_password_is_refused_before_anything_is_saved(bbw, config_file, emulator, flag, userinfo) -> None:
    address = emulator.site_url if flag == "--site-url" else emulator.api_url
    address = address.replace("://", f"://{userinfo}")
    result = bbw("login", "--key", "somekey", "--secret-stdin", flag, address, input="a-consumer-secret\n")
    assert result.returncode == 2, result.stderr
    assert "user name or password" in result.stderr
    assert "hunter2pass" not in result.stdout + result.stderr
    assert not config_file.exists()
    assert emulator.stats.count("/site/oauth2/access_token") == 0


def test_a_next_link_with_credentials_in_it_is_not_followed() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        host = request.url.host
        return httpx.Response(200, json={"values": [], "next": f"https://user:pw@{host}/2.0/user?page=2"})

    async def token(force_refresh: bool) -> Secret:
        return Secret("an-access-token")

    async def run() -> None:
        client = BitbucketClient("https://api.example.test/2.0", token, transport=httpx.MockTransport(answer))
        try:
            with pytest.raises(ProtocolError, match="another host"):
                async for _ in client._follow("user", None, "the test list"):
                    pass
        finally:
            await client.aclose()

    asyncio.run(run())
    assert len(seen) == 1 and seen[0].headers["authorization"] == "Bearer an-access-token"
