"""The one-shot redirect listener, over real loopback sockets (security.md rules 2–3)."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from bbwizard.errors import AuthorizationDenied, CodeError, LoopbackError
from bbwizard.loopback import LoopbackCatcher, is_loopback_url, open_browser, suggest_callback_url

STATE = "the-state-" + "x" * 33


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def client():
    with httpx.Client(trust_env=False, timeout=5) as c:
        yield c


def test_the_suggested_callback_is_a_fixed_loopback_port() -> None:
    assert suggest_callback_url() == "http://localhost:8976/"
    assert is_loopback_url("http://127.0.0.1:1/x") and is_loopback_url("http://[::1]:9/")
    assert not is_loopback_url("https://localhost:8976/") and not is_loopback_url("http://example.com/")


def test_the_first_matching_request_wins_and_strangers_do_not_end_the_flow(port: int, client: httpx.Client) -> None:
    with LoopbackCatcher(f"http://localhost:{port}/", STATE, timeout=10) as catcher:
        base = f"http://127.0.0.1:{port}"
        favicon = client.get(f"{base}/favicon.ico")
        assert favicon.status_code == 404
        assert client.get(f"{base}/other?code=x&state=another").status_code == 404  # another path, not our state
        assert client.get(f"{base}/other?code=x").status_code == 404
        assert client.get(f"{base}/?code=x&state={STATE}", headers={"Host": "evil.example"}).status_code == 404
        assert client.post(f"{base}/?code=x&state={STATE}").status_code == 405
        wrong_state = client.get(f"{base}/?code=stolen&state=another")
        assert wrong_state.status_code == 400 and "another sign-in attempt" in wrong_state.text
        assert client.get(f"{base}/?state={STATE}").status_code == 400

        first = client.get(f"{base}/?code=theRealCode1&state={STATE}")
        assert first.status_code == 200 and "bbwizard has the code" in first.text
        again = client.get(f"{base}/?code=secondCode&state={STATE}")
        assert "This sign-in is already done" in again.text

        result = catcher.wait(timeout=5)
        assert (result.code, result.state) == ("theRealCode1", STATE)


def test_pages_load_nothing_external_and_are_not_cached(port: int, client: httpx.Client) -> None:
    with LoopbackCatcher(f"http://localhost:{port}/cb", STATE, timeout=10) as catcher:
        page = client.get(f"http://127.0.0.1:{port}/cb?code=abc123&state={STATE}")
        catcher.wait(timeout=5)
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    lowered = page.text.lower()
    for external in ("src=", "href=", "http://", "https://", "<script", "<link", "@import"):
        assert external not in lowered


def test_what_is_echoed_is_escaped(port: int, client: httpx.Client) -> None:
    with LoopbackCatcher(f"http://localhost:{port}/", STATE, timeout=10) as catcher:
        page = client.get(
            f"http://127.0.0.1:{port}/",
            params={"error": "server_error", "error_description": "<script>alert(1)</script>", "state": STATE},
        )
        with pytest.raises(CodeError, match=r"Bitbucket refused the sign-in \(server_error: <script>alert\(1\)</script>\)"):
            catcher.wait(timeout=5)
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


def test_deny_ends_the_flow_with_you_clicked_deny(port: int, client: httpx.Client) -> None:
    with LoopbackCatcher(f"http://localhost:{port}/", STATE, timeout=10) as catcher:
        page = client.get(f"http://[::1]:{port}/?error=access_denied&state={STATE}") if catcher.addresses[-1][0] == "::1" \
            else client.get(f"http://127.0.0.1:{port}/?error=access_denied&state={STATE}")
        assert "You clicked Deny" in page.text
        with pytest.raises(AuthorizationDenied, match=r"^You clicked Deny on Bitbucket's page, so bbwizard got no access\."):
            catcher.wait(timeout=5)


def test_it_listens_on_both_loopbacks_where_it_can(port: int) -> None:
    with LoopbackCatcher(f"http://localhost:{port}/", STATE) as catcher:
        hosts = [address[0] for address in catcher.addresses]
    assert hosts[0] == "127.0.0.1"
    if socket.has_ipv6:
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            return
        assert "::1" in hosts


def test_a_port_in_use_is_named_and_the_paste_path_offered(port: int) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(LoopbackError) as caught:
            LoopbackCatcher(f"http://localhost:{port}/", STATE).start()
    assert str(caught.value).startswith(f"Port {port} is in use by another program, so bbwizard can't catch the redirect")
    assert "paste the address instead" in str(caught.value)


def test_plain_localhost_means_port_80_and_the_paste_path() -> None:
    with pytest.raises(LoopbackError) as caught:
        LoopbackCatcher("http://localhost/", STATE).start()
    assert str(caught.value).startswith(
        "The callback URL http://localhost/ has no port of its own, so it means port 80, which bbwizard can't listen on"
    )
    assert "copy its address and paste it here" in str(caught.value)


def test_a_callback_elsewhere_is_not_listened_for() -> None:
    with pytest.raises(LoopbackError, match=r"isn't a loopback http:// address"):
        LoopbackCatcher("https://example.com/callback", STATE).start()


def test_it_times_out_with_a_sentence_and_frees_the_port(port: int) -> None:
    catcher = LoopbackCatcher(f"http://localhost:{port}/", STATE, timeout=0.2).start()
    try:
        with pytest.raises(LoopbackError, match=r"^No answer from the browser within 0 seconds\. If the browser shows an address"):
            catcher.wait()
    finally:
        catcher.close()
    with LoopbackCatcher(f"http://localhost:{port}/", STATE) as again:  # the port is free again
        assert again.port == port
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_close_from_another_thread_ends_the_wait(port: int) -> None:
    catcher = LoopbackCatcher(f"http://localhost:{port}/", STATE, timeout=30).start()
    threading.Timer(0.2, catcher.close).start()
    with pytest.raises(LoopbackError, match=r"The sign-in was cancelled before the browser came back\."):
        catcher.wait()


def test_browser_with_arguments_gets_the_url(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import time

    out = tmp_path / "opened.txt"
    monkeypatch.setenv("BROWSER", f"{sys.executable} -c \"import sys; open(sys.argv[1], 'w').write(sys.argv[2])\" {out}")
    assert open_browser("http://127.0.0.1:1/site/oauth2/authorize?state=x") is True
    for _ in range(100):
        if out.exists() and out.read_text():
            break
        time.sleep(0.05)
    assert out.read_text() == "http://127.0.0.1:1/site/oauth2/authorize?state=x"


def test_no_display_and_no_browser_only_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    if sys.platform in ("darwin", "win32"):
        pytest.skip("desktops always have a browser")
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert open_browser("http://127.0.0.1:1/") is False


@pytest.mark.parametrize(("typed", "consumers"), [("/", "/callback"), ("/callback", "/"), ("/cb/", "/cb/done")])
def test_the_redirect_is_caught_on_the_consumers_own_path_when_its_state_matches(
    typed: str, consumers: str, port: int, client: httpx.Client
) -> None:
    with LoopbackCatcher(f"http://localhost:{port}{typed}", STATE, timeout=10) as catcher:
        base = f"http://127.0.0.1:{port}"
        assert client.get(f"{base}/favicon.ico").status_code == 404
        assert client.get(f"{base}{consumers}?code=stolen&state=another").status_code == 404
        answer = client.get(f"{base}{consumers}?code=theCode2&state={STATE}")
        assert answer.status_code == 200 and "bbwizard has the code" in answer.text
        result = catcher.wait(timeout=5)
        assert (result.code, result.state) == ("theCode2", STATE)

