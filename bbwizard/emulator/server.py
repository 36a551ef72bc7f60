"""The Bitbucket Cloud emulator: bitbucket.org and api.bitbucket.org on one loopback port.

Routes (``site_url`` = ``http://127.0.0.1:PORT``), each served by its protocol's module:

- ``/site/oauth2/authorize`` and ``/site/oauth2/access_token``: ``oauth`` (consent page, token
  endpoint).
- ``/2.0/...`` (``api_url``): ``rest`` (REST 2.0, pagination, errors).
- ``/{ws}/{slug}.git/...``: ``githttp`` (git smart HTTP through the real ``git http-backend``).

:class:`Emulator` is the :class:`~bbwizard.emulator.state.State` (data, knobs, test helpers)
plus the HTTP server: ``start``/``stop``, and a request handler that applies latency, holds and
faults, then hands the request to its protocol. Everything is stdlib: the emulator must not depend
on the client's modules or libraries.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import ThreadingHTTPServer

from bbwizard.emulator import githttp, oauth, rest
from bbwizard.emulator.exchange import Exchange, error_doc, phrase, redact
from bbwizard.emulator.state import Fault, Hold, RequestRecord, State, Stats

__all__ = ["Emulator", "Hold", "RequestRecord", "Stats"]

log = logging.getLogger("bbwizard.emulator")

_CAPTIVE_PORTAL = (
    b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head>"
    b"<body><h1>Welcome to Airport Wi-Fi</h1><p>Accept the terms to continue.</p></body></html>"
)


class Emulator(State):
    """Bitbucket Cloud on loopback: the package docstring shows its use, :class:`State` its knobs
    and test helpers (``inject``, ``hold``, ``mint_token``, ``expire_tokens``, ...)."""

    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._open_data_dir()
        server_class = _Server6 if ":" in self.host else _Server
        self._server = server_class((self.host, self._port), _Handler)
        self._server.emulator = self
        self._address = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"bbwizard-emulator-{self.port}", daemon=True)
        self._thread.start()
        log.info("emulator listening on %s", self.site_url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.release_holds()
        server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
        server.server_close()
        server.close_connections()
        self._address = None
        self._close_data_dir()
        log.info("emulator stopped")

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # clients open many connections at once; the default backlog is 5
    emulator: Emulator

    def server_activate(self) -> None:
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().server_activate()

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """A stopped emulator must not keep answering on a client's pooled keep-alive connection."""
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(Exchange):
    """Every request: latency, a hold, a fault; then its protocol; then the stats and the log."""

    server: _Server

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        started = time.monotonic()
        if not self.begin():
            return
        emu = self.emu
        try:
            if emu.latency:
                time.sleep(emu.latency)
            held = emu.take_hold(method, self.url_path, self.params)
            if held is not None:
                held.keep()
            fault = emu.take_fault(method, self.url_path)
            if fault is not None and self._serve_fault(fault):
                return
            self._route(method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # one bad request must not kill the emulator
            log.exception("emulator error on %s %s", method, redact(self.url_path))
            if not self.status:
                self.send_json(500, error_doc("Internal Server Error"))
        finally:
            emu.stats.requests.append(RequestRecord(method, self.url_path, self.status or 0))
            shown = self.url_path + ("?" + self.query if self.query else "")
            log.info("%s %s -> %s (%.1f ms)", method, redact(shown), self.status or "dropped",
                     (time.monotonic() - started) * 1000)

    def _route(self, method: str) -> None:
        path = self.url_path
        if rest.is_rest_path(path):
            rest.serve(self, method)
        elif path == oauth.AUTHORIZE_PATH:
            oauth.serve_authorize(self, method)
        elif path == oauth.TOKEN_PATH:
            oauth.serve_token(self, method)
        elif (found := githttp.match(path)) is not None:
            githttp.serve(self, method, found)
        elif path == "/" and method in ("GET", "HEAD"):
            self.send_html(200, "Emulator", "<h1>Bitbucket Cloud emulator</h1><p>OAuth at /site/oauth2/, "
                           "REST at /2.0/, git at /WORKSPACE/REPO.git</p>")
        else:
            self.send_html(404, "Page not found", "<h1>That link has no power here</h1>")

    def _serve_fault(self, fault: Fault) -> bool:
        """Serve a fault. False when the request goes on (truncated, drop_after)."""
        if fault.kind == "truncated":
            self.truncate = True
            return False
        if fault.kind == "drop_after":
            self.drop_after = True
            return False
        if fault.kind == "drop":
            self.drop()
            return True
        if fault.kind == "html200":
            self.send(200, fault.body or _CAPTIVE_PORTAL, fault.content_type or "text/html; charset=utf-8")
            return True
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.body is not None:
            self.send(fault.status, fault.body, fault.content_type or "text/plain; charset=utf-8", headers)
        else:
            message = rest.MSG_RATE if fault.status == 429 else phrase(fault.status)
            self.send_json(fault.status, error_doc(message), headers)
        return True
