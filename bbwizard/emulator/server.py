"""The Bitbucket Cloud emulator: bitbucket.org and api.bitbucket.org on one loopback port.

Routes (``site_url`` = ``http://127.0.0.1:PORT``), each served by its protocol's module:

- ``/site/oauth2/authorize`` and ``/site/oauth2/access_token``: ``oauth`` (consent page, token
  endpoint).
- ``/2.0/...`` (``api_url``): ``rest`` (REST 2.0, pagination, errors).
- ``/{ws}/{slug}.git/...``: ``githttp`` (git smart HTTP through the real ``git http-backend``).

``tls=True`` serves HTTPS with a certificate from a test CA made at start (``trustme``, imported
only then; its file is :attr:`Emulator.ca_file`), as ``https://bitbucket.org`` is.
``split_hosts=True`` serves the API on a second port, as ``api.bitbucket.org`` is a host of its
own: ``/2.0/`` is only there, OAuth and git only on the site's port, so a client that builds one
address from the other fails.

:class:`Emulator` is the :class:`~bbwizard.emulator.state.State` (data, knobs, test helpers)
plus the HTTP server: ``start``/``stop``, and a request handler that applies latency, holds and
faults, then hands the request to its protocol. Everything is stdlib (trustme only for ``tls``, a
test dependency): the emulator must not depend on the client's modules or libraries.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bbwizard.emulator import githttp, oauth, rest
from bbwizard.emulator.exchange import Exchange, error_doc, phrase, redact
from bbwizard.emulator.state import Fault, Hold, RequestRecord, State, Stats

__all__ = ["TRUSTME_MISSING", "Emulator", "Hold", "RequestRecord", "Stats"]

log = logging.getLogger("bbwizard.emulator")

_CAPTIVE_PORTAL = (
    b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head>"
    b"<body><h1>Welcome to Airport Wi-Fi</h1><p>Accept the terms to continue.</p></body></html>"
)


TRUSTME_MISSING = (
    "The emulator's HTTPS needs the trustme package, which makes its test certificate authority: "
    "pip install trustme (or pip install 'bbwizard[test]')."
)


class Emulator(State):
    """Bitbucket Cloud on loopback: the package docstring shows its use, :class:`State` its knobs
    and test helpers (``inject``, ``hold``, ``mint_token``, ``expire_tokens``, ...).

    ``tls``: HTTPS with a certificate of a CA made at start, written to :attr:`ca_file` (in the
    data folder); a client trusts it only when told (``SSL_CERT_FILE``, a CA bundle setting).
    ``split_hosts``: the REST API on a port of its own (``api_port``, default a free one)."""

    _server: _Server | None = None
    _thread: threading.Thread | None = None
    _api_server: _Server | None = None
    _api_thread: threading.Thread | None = None

    def __init__(self, seed: Any = None, *, tls: bool = False, split_hosts: bool = False, api_port: int = 0,
                 **knobs: Any) -> None:
        super().__init__(seed, **knobs)
        self.tls = tls
        self.split_hosts = split_hosts
        self._api_port = api_port
        self._api_address: tuple[str, int] | None = None
        #: The test CA's certificate (PEM) while a ``tls`` emulator runs; None otherwise.
        self.ca_file: Path | None = None

    # ---- where it is served: the scheme and the API's own port -------------------------------

    def _origin(self, address: tuple[str, int] | None) -> str:
        if address is None:
            raise RuntimeError("the emulator is not running: call start()")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{address[1]}"

    @property
    def site_url(self) -> str:
        return self._origin(self._address)

    @property
    def api_url(self) -> str:
        return f"{self._origin(self._api_address if self.split_hosts else self._address)}/2.0"

    @property
    def api_port(self) -> int:
        """The port of the API: its own with ``split_hosts``, else the site's."""
        return int(urlsplit(self.api_url).port or 0)

    def clone_url(self, workspace: str, slug: str, username: str | None = None) -> str:
        url = super().clone_url(workspace, slug, username)
        return "https://" + url.removeprefix("http://") if self.tls else url

    def _tls_context(self) -> ssl.SSLContext:
        try:
            import trustme
        except ImportError:
            raise RuntimeError(TRUSTME_MISSING) from None
        assert self.data_dir is not None
        ca = trustme.CA(organization_name="bbwizard emulator test CA")
        certificate = ca.issue_cert("127.0.0.1", "::1", "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certificate.configure_cert(context)
        self.ca_file = self.data_dir / "emulator-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        return context

    def _listen(self, port: int, role: str, tls: ssl.SSLContext | None) -> tuple[_Server, threading.Thread]:
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, port), _Handler)
        server.emulator = self
        server.role = role
        server.tls = tls
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                  name=f"bbwizard-emulator-{role}-{server.server_address[1]}", daemon=True)
        thread.start()
        return server, thread

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._open_data_dir()
        try:
            tls = self._tls_context() if self.tls else None
            self._server, self._thread = self._listen(self._port, "site" if self.split_hosts else "all", tls)
            self._address = self._server.server_address[:2]
            if self.split_hosts:
                self._api_server, self._api_thread = self._listen(self._api_port, "api", tls)
                self._api_address = self._api_server.server_address[:2]
        except BaseException:
            self.stop()
            self._close_data_dir()
            raise
        log.info("emulator listening on %s (API %s)", self.site_url, self.api_url)
        return self

    def stop(self) -> None:
        servers = [(self._server, self._thread), (self._api_server, self._api_thread)]
        self._server = self._api_server = None
        if all(server is None for server, _ in servers):
            return
        self.release_holds()
        for server, thread in servers:
            if server is None:
                continue
            server.shutdown()
            if thread is not None:
                thread.join(timeout=10)
            server.server_close()
            server.close_connections()
        self._address = self._api_address = None
        self.ca_file = None
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
    role = "all"  # "site" (OAuth, git), "api" (REST) or "all" (one port serves both)
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        request, client_address = super().get_request()
        if self.tls is not None:
            # The handshake waits for the request's own thread: a slow client must not stall accept().
            request = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        return request, client_address

    def finish_request(self, request, client_address) -> None:
        if self.tls is not None:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as error:
                # A client that doesn't trust the test CA, or speaks plain http: nothing to answer.
                log.info("TLS handshake with %s failed: %s", client_address[0], error)
                return
        super().finish_request(request, client_address)

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

    def send_response(self, code: int, message: str | None = None) -> None:
        # Counted before the answer leaves: a client that has read it may look at the counters at once.
        self._record(code)
        super().send_response(code, message)

    def _record(self, status: int) -> None:
        if getattr(self, "_recorded", True):  # counted already, or not a request _dispatch took
            return
        self._recorded = True
        self.emu.stats.requests.append(RequestRecord(self.command, self.url_path, status))

    def _dispatch(self, method: str) -> None:
        started = time.monotonic()
        self._recorded = False
        if not self.begin():
            return
        emu = self.emu
        try:
            if emu.latency:
                time.sleep(emu.latency)
            held = emu.take_hold(method, self.url_path, self.params)
            if held is not None:
                held.keep()
            fault = emu.take_fault(method, self.url_path, self.params)
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
            self._record(self.status or 0)  # an answer never sent (a dropped connection) counts as 0
            shown = self.url_path + ("?" + self.query if self.query else "")
            log.info("%s %s -> %s (%.1f ms)", method, redact(shown), self.status or "dropped",
                     (time.monotonic() - started) * 1000)

    def _route(self, method: str) -> None:
        path = self.url_path
        role = self.server.role
        if (role == "api") != rest.is_rest_path(path) and role != "all":
            # Split hosts: the API only on its own port, OAuth and git only on the site's.
            self.send_html(404, "Page not found", "<h1>That link has no power here</h1>")
        elif rest.is_rest_path(path):
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
        if fault.kind == "bad_encoding":
            self.send(200, fault.body or b"not gzip", fault.content_type or "application/json",
                      {"Content-Encoding": "gzip"})
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
