"""How a callback URL's port is described when bbwizard can't listen on it."""

from __future__ import annotations

import pytest

from bbwizard.errors import LoopbackError
from bbwizard.loopback import LoopbackCatcher

STATE = "s" * 43


def test_port_zero_is_called_port_zero_not_port_80() -> None:
    catcher = LoopbackCatcher("http://localhost:0/", STATE)
    assert catcher.port == 0
    with pytest.raises(LoopbackError) as caught:
        catcher.start()
    message = str(caught.value)
    assert message.startswith("The callback URL http://localhost:0/ names port 0, which no browser can be sent to.")
    assert "port 80" not in message
    assert "http://localhost:8976/" in message
    assert catcher.addresses == []  # nothing was bound


@pytest.mark.parametrize("port", [443, 80, 1])
def test_an_explicit_low_port_is_named_as_given(port: int) -> None:
    url = f"http://127.0.0.1:{port}/callback"
    with pytest.raises(LoopbackError) as caught:
        LoopbackCatcher(url, STATE).start()
    message = str(caught.value)
    assert message.startswith(f"The callback URL {url} names port {port}, a port bbwizard can't listen on without admin rights.")
    assert "no port of its own" not in message
    assert "copy its address and paste it here" in message


def test_no_port_still_means_port_80() -> None:
    with pytest.raises(LoopbackError, match=r"^The callback URL http://localhost/ has no port of its own, so it means port 80, which bbwizard"):
        LoopbackCatcher("http://localhost/", STATE).start()
