"""The one-shot listener that catches Bitbucket's redirect on a loopback callback URL.

security.md rules 2–3: it binds ``127.0.0.1`` (and ``::1`` where it can) on the callback URL's port
before the browser opens; it answers only ``GET`` on the callback path (or on another path of its port when the request carries
this attempt's ``state``: Bitbucket returns to the consumer's own callback URL, whose path may not
be the one typed into bbwizard) with a matching ``Host``;
``/favicon.ico`` and strangers get 404 without ending the flow; the first matching request wins and
later ones hear "already done"; it times out, and :meth:`LoopbackCatcher.close` frees the port. Its
pages load nothing external, send ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``,
and escape whatever they echo.

A callback of plain ``http://localhost/`` means port 80, which needs admin rights to listen on:
bbwizard doesn't try, and says to use the paste path (the browser lands on a page that fails to
load, with the code in its address bar).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bbwizard.errors import AuthorizationDenied, CodeError, LoopbackError
from bbwizard.secret import redact, remember

SUGGESTED_PORT = 8976
DEFAULT_TIMEOUT = 300.0
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@contextlib.contextmanager
def _threads_started_here_ignore_ctrl_c() -> Iterator[None]:
    """Threads started inside this block never receive Ctrl+C (nor SIGTERM).

    The kernel hands a process's SIGINT to any thread that doesn't block it; delivered to a helper
    thread, a main thread blocked in a read or a wait wouldn't notice it. A new thread inherits
    the mask of the thread that starts it, so the mask is set here, around the start, and a
    signal that comes meanwhile waits until the block ends.
    """
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def suggest_callback_url() -> str:
    """The callback URL to set on the consumer: a fixed loopback port, as Git Credential Manager does."""
    return f"http://localhost:{SUGGESTED_PORT}/"


def over_ssh() -> bool:
    """True in an SSH session: a browser on the person's own machine can't reach this loopback."""
    return bool(os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"))


def ssh_forward_hint(port: int) -> str:
    """The ``ssh -L`` line that brings the browser's redirect back to this machine."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "you"
    connection = os.environ.get("SSH_CONNECTION", "").split()
    if len(connection) >= 3:
        host = connection[2]
    else:
        import platform

        host = platform.node() or "this-machine"
    return f"ssh -L {port}:localhost:{port} {user}@{host}"


def is_loopback_url(url: str | None) -> bool:
    """True for ``http://localhost…``, ``http://127.0.0.1…`` and ``http://[::1]…``."""
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
        return parts.scheme == "http" and (parts.hostname or "").lower() in _LOOPBACK_NAMES
    except ValueError:
        return False


@dataclass(frozen=True)
class CallbackResult:
    """The code the browser brought back, with the state it carried (already checked)."""

    code: str = field(repr=False)  # a live code: kept out of repr and crash reports' locals
    state: str = ""


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>bbwizard: {title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:4em auto;max-width:34em;padding:0 1em;line-height:1.5;color:#172b4d}}h1{{font-size:1.4em}}</style>
</head><body><h1>{title}</h1><p>{text}</p></body></html>
"""


def _page(title: str, text: str) -> bytes:
    import html  # here, not at the top: the wizard's first step imports this module for one name

    return _PAGE.format(title=html.escape(title), text=html.escape(text)).encode("utf-8")


@functools.cache
def _server_class() -> type:
    """The listener's server class, built on first use.

    ``http.server`` pulls in ``email``, ``http.client`` and ``socketserver`` (about 30 ms): the
    wizard's first step imports this module only for :func:`suggest_callback_url`.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class _Handler(BaseHTTPRequestHandler):
        server_version = "bbwizard"
        sys_version = ""
        protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after close()
        timeout = 10  # an idle pre-connected browser socket must not hold a thread forever

        def log_message(self, format: str, *args: Any) -> None:  # the core never prints
            pass

        def do_GET(self) -> None:
            self.server.catcher._handle(self)  # type: ignore[attr-defined]

        def _not_allowed(self) -> None:
            self.server.catcher._respond(self, 405, "Not allowed", "This address only answers the browser's sign-in redirect.", {"Allow": "GET"})  # type: ignore[attr-defined]

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _not_allowed


    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = os.name != "nt"  # on Windows SO_REUSEADDR would let us steal a busy port

        def __init__(self, family: int, address: tuple[str, int], catcher: LoopbackCatcher) -> None:
            self.address_family = family
            self.catcher = catcher
            self.serving = False
            super().__init__(address, _Handler)

        def server_bind(self) -> None:
            if os.name == "nt" and hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # pragma: no cover - Windows
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
            if self.address_family == socket.AF_INET6:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            super().server_bind()

        def handle_error(self, request: Any, client_address: Any) -> None:  # no tracebacks on stderr
            pass

    return _Server


class LoopbackCatcher:
    """Catch one redirect to ``callback_url``. Use as a context manager, or start()/wait()/close().

    ``start()`` binds (call it before opening the browser); ``wait()`` returns the
    :class:`CallbackResult` or raises :class:`AuthorizationDenied` (Deny clicked),
    :class:`CodeError` (Bitbucket sent another error) or :class:`LoopbackError` (timeout, closed).
    """

    def __init__(self, callback_url: str, expected_state: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.callback_url = callback_url.strip()
        self.expected_state = expected_state
        self.timeout = timeout
        parts = urlsplit(self.callback_url)
        self._host = (parts.hostname or "").lower()
        try:
            explicit_port = parts.port
        except ValueError:
            raise LoopbackError(f"The callback URL {self.callback_url} has a bad port number. Fix it (for example {suggest_callback_url()}).") from None
        self._port_given = explicit_port is not None
        self.port: int = 80 if explicit_port is None else explicit_port
        self.path = parts.path or "/"
        self._servers: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._result: CallbackResult | None = None
        self._error: Exception | None = None
        self._closed = False

    # -- lifecycle --

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [server.server_address[:2] for server in self._servers]  # type: ignore[misc]

    def start(self) -> LoopbackCatcher:
        if self._servers:
            return self
        if not is_loopback_url(self.callback_url):
            raise LoopbackError(
                f"The callback URL {self.callback_url} isn't a loopback http:// address, so bbwizard can't "
                "catch the redirect itself. After you click Grant access, copy the address the browser "
                f"lands on and paste it here. (To have it caught, set the consumer's callback URL to {suggest_callback_url()})"
            )
        if self.port == 0:
            raise LoopbackError(
                f"The callback URL {self.callback_url} names port 0, which no browser can be sent to. Set the "
                f"consumer's callback URL to a real port, for example {suggest_callback_url()}."
            )
        if self.port < 1024:
            where = (
                f"names port {self.port}, a port" if self._port_given
                else f"has no port of its own, so it means port {self.port}, which"
            )
            raise LoopbackError(
                f"The callback URL {self.callback_url} {where} "
                "bbwizard can't listen on without admin rights. After you click Grant access the browser shows "
                "a page that fails to load: copy its address and paste it here. (Or set the consumer's callback "
                f"URL to {suggest_callback_url()} and bbwizard catches it itself.)"
            )
        want_v4 = self._host in ("localhost", "127.0.0.1")
        want_v6 = self._host in ("localhost", "::1")
        try:
            if want_v4:
                self._bind(socket.AF_INET, "127.0.0.1", required=True)
            if want_v6:
                self._bind(socket.AF_INET6, "::1", required=self._host == "::1")
        except BaseException:
            self.close()
            raise
        for server in self._servers:
            server.serving = True
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"bbwizard-loopback-{self.port}", daemon=True
            )
            with _threads_started_here_ignore_ctrl_c():
                thread.start()
            self._threads.append(thread)
        return self

    def _bind(self, family: int, address: str, *, required: bool) -> None:
        if family == socket.AF_INET6 and not socket.has_ipv6:
            if required:
                raise LoopbackError("This machine has no IPv6, so bbwizard can't listen on [::1]. Use http://localhost:PORT/ as the callback URL.")
            return
        try:
            self._servers.append(_server_class()(family, (address, self.port), self))
        except OSError as error:
            in_use = error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)) or error.errno == errno.EACCES
            if in_use:
                raise LoopbackError(
                    f"Port {self.port} is in use by another program, so bbwizard can't catch the redirect on "
                    f"{self.callback_url}. Close that program, or paste the address instead: after you click "
                    "Grant access, copy the address the browser lands on and paste it here."
                ) from None
            if required:
                raise LoopbackError(
                    f"bbwizard can't listen on {address} port {self.port} ({error.strerror or error}). "
                    "Paste the address the browser lands on instead."
                ) from None
            # ::1 missing (no IPv6 loopback): 127.0.0.1 alone will do.

    def wait(self, timeout: float | None = None) -> CallbackResult:
        """Block until the redirect arrives (or the timeout, or close()). Ctrl+C interrupts it."""
        if not self._servers:
            self.start()
        limit = self.timeout if timeout is None else timeout
        if not self._wait_in_slices(limit):
            minutes, seconds = round(limit / 60), round(limit)
            if limit >= 60:
                span = f"{minutes} minute{'s' if minutes != 1 else ''}"
            else:
                span = f"{seconds} second{'s' if seconds != 1 else ''}"
            raise LoopbackError(
                f"No answer from the browser within {span}. If the browser shows an address with "
                "?code= in it, paste that address instead; otherwise start the sign-in again."
            )
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._result is not None:
                return self._result
        raise LoopbackError("The sign-in was cancelled before the browser came back.")

    def _wait_in_slices(self, limit: float) -> bool:
        """``self._done.wait(limit)``, a fifth of a second at a time.

        Ctrl+C may be delivered to one of the listener's threads instead of the main one; the
        main thread then only notices when its own wait returns. One long wait would leave
        Ctrl+C unanswered for up to the whole timeout.
        """
        import time

        deadline = time.monotonic() + limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self._done.is_set()
            if self._done.wait(min(left, 0.2)):
                return True

    def close(self) -> None:
        """Stop listening and free the port. Safe to call twice, and from another thread."""
        with self._lock:
            self._closed = True
        self._done.set()
        for server in self._servers:
            if server.serving:
                server.shutdown()  # returns once serve_forever() has left its loop
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> LoopbackCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --

    def _allowed_hosts(self) -> set[str]:
        port = self.port
        hosts = {f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
        if port == 80:
            hosts |= {"localhost", "127.0.0.1", "[::1]"}
        return hosts

    def _respond(self, handler: Any, status: int, title: str, text: str, extra: dict[str, str] | None = None) -> None:
        body = _page(title, text)
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("Cache-Control", "no-store")
            handler.send_header("Pragma", "no-cache")
            handler.send_header("Referrer-Policy", "no-referrer")
            handler.send_header("X-Content-Type-Options", "nosniff")
            handler.send_header(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            )
            for key, value in (extra or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(body)
        except OSError:
            pass  # the browser went away; nothing to tell it

    def _carries_our_state(self, query: dict[str, list[str]]) -> bool:
        import hmac

        state = (query.get("state") or [""])[0]
        return bool(state) and hmac.compare_digest(state.encode(), self.expected_state.encode())

    def _handle(self, handler: Any) -> None:
        host = (handler.headers.get("Host") or "").strip().lower()
        if host not in self._allowed_hosts():
            self._respond(handler, 404, "Not found", "Nothing here.")
            return
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path != self.path and not self._carries_our_state(query):
            # bbwizard sends no redirect_uri, so Bitbucket returns to the consumer's own callback
            # URL, whose path may differ from the one typed here (`/` vs `/callback`): a request
            # on another path is ours only when it carries this attempt's state (the proof).
            self._respond(handler, 404, "Not found", "Nothing here.")
            return
        with self._lock:
            if self._result is not None or self._error is not None:
                self._respond(handler, 200, "Already done", "This sign-in is already done. You can close this tab.")
                return
            if self._closed:
                self._respond(handler, 410, "Too late", "bbwizard stopped waiting for this sign-in. Start it again in the terminal.")
                return
            state = (query.get("state") or [""])[0]
            import hmac

            if not state or not hmac.compare_digest(state.encode(), self.expected_state.encode()):
                self._respond(
                    handler,
                    400,
                    "Not this sign-in",
                    "This address belongs to another sign-in attempt, so bbwizard ignored it. "
                    "Go back to the terminal and use the sign-in link it shows now.",
                )
                return
            error = (query.get("error") or [""])[0]
            code = (query.get("code") or [""])[0].strip()
            if error:
                description = redact((query.get("error_description") or [""])[0])[:300]
                if error == "access_denied":
                    self._error = AuthorizationDenied(
                        "You clicked Deny on Bitbucket's page, so bbwizard got no access. "
                        "Start the sign-in again and click Grant access."
                    )
                    self._respond(handler, 200, "Access denied", "You clicked Deny. Nothing was shared with bbwizard; you can close this tab.")
                else:
                    shown = " ".join(f"{error}: {description}".split())[:300]
                    self._error = CodeError(
                        f"Bitbucket refused the sign-in ({redact(shown)}). Check the consumer's settings in Bitbucket, then start again."
                    )
                    self._respond(handler, 200, "Sign-in failed", f"Bitbucket said: {shown}. Go back to the terminal.")
                self._done.set()
                return
            if not code:
                self._respond(handler, 400, "No code", "This address carries no code. Go back to the terminal.")
                return
            remember(code)
            self._result = CallbackResult(code=code, state=state)
            self._respond(handler, 200, "Signed in", "bbwizard has the code. You can close this tab and go back to the terminal.")
            self._done.set()


def open_browser(url: str) -> bool:
    """Open ``url`` in the person's browser without waiting for it; False when there is none.

    ``$BROWSER`` wins (a command line; ``%s`` marks where the URL goes, else it is appended; several
    choices separated by ``os.pathsep``). Python's ``webbrowser`` can't run a ``$BROWSER`` that has
    arguments and no ``%s`` (``python -m bbwizard.emulator.approve``), hence this. With no
    ``$BROWSER`` and no display (ssh, a container) nothing is opened: the caller shows the URL.
    """
    import shlex
    import subprocess
    import sys

    choices = os.environ.get("BROWSER", "")
    if choices.strip():
        for choice in choices.split(os.pathsep):
            try:
                argv = shlex.split(choice, posix=os.name != "nt")
            except ValueError:
                continue
            if not argv:
                continue
            if any("%s" in arg for arg in argv):
                argv = [arg.replace("%s", url) for arg in argv]
            else:
                argv.append(url)
            try:
                process = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=os.name != "nt"
                )
            except OSError:
                continue
            with _threads_started_here_ignore_ctrl_c():  # reap it
                threading.Thread(target=process.wait, name="bbwizard-browser", daemon=True).start()
            return True
        return False
    if sys.platform not in ("darwin", "win32", "cygwin") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    import webbrowser

    try:
        return bool(webbrowser.open(url, new=2))
    except Exception:
        return False


__all__ = [
    "CallbackResult",
    "LoopbackCatcher",
    "open_browser",
    "SUGGESTED_PORT",
    "is_loopback_url",
    "over_ssh",
    "ssh_forward_hint",
    "suggest_callback_url",
]
