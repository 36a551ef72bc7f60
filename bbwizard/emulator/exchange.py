"""One HTTP request and its answer: the plumbing the protocol modules share.

:class:`Exchange` is the request handler's base: it reads the request (path, query, body) and
writes answers (plain, JSON, HTML, redirect, a dropped connection), applying the faults that
change an answer on its way out (``truncated``, ``drop_after``). The emulator's server routes an
:class:`Exchange` to ``oauth``, ``rest`` or ``githttp``.
"""

from __future__ import annotations

import html
import json
import logging
import re
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bbwizard.emulator.state import State

log = logging.getLogger("bbwizard.emulator")

_REDACT = [
    (re.compile(r"(?i)\b(code|access_token|refresh_token|client_secret|code_verifier|password|token)=[^&\s]+"), r"\1=***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+\S+"), r"\1 ***"),
    (re.compile(r"(?i)(://[^/\s:@]+):[^@\s/]+@"), r"\1:***@"),
]


def redact(text: str) -> str:
    """The emulator's own small redaction (it never imports the client's)."""
    for pattern, replacement in _REDACT:
        text = pattern.sub(replacement, text)
    return text


def error_doc(message: str, detail: Any = None) -> dict:
    """Bitbucket's error envelope."""
    inner: dict[str, Any] = {"message": message}
    if detail is not None:
        inner["detail"] = detail
    return {"type": "error", "error": inner}


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Exchange(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a body's last small segment waits for
    # the client's delayed ACK: ~40 ms added to any mid-sized answer on a kept-alive connection.
    disable_nagle_algorithm = True
    server_version = "bitbucket-emulator"
    sys_version = ""

    # Filled by begin() for each request on the connection.
    url_path: str  # the path without the query string
    query: str
    params: dict[str, str]
    body: bytes
    status: int  # what was answered; 0 = nothing (yet), or the connection was dropped
    truncate: bool
    drop_after: bool

    # http.server prints to stderr by default: the library never prints.
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http.server: " + redact(format % args))

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("http.server: " + redact(format % args))

    @property
    def emu(self) -> State:
        return self.server.emulator  # type: ignore[attr-defined]

    def begin(self) -> bool:
        """Read the request line's parts and the body; False when the body can't be read."""
        self.status = 0
        self.truncate = False
        self.drop_after = False
        parts = urlsplit(self.path)
        self.url_path = parts.path
        self.query = parts.query
        self.params = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.body = b""
        try:
            self.body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return False
        return True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ---- answers ---------------------------------------------------------------------------

    def drop(self) -> None:
        """Close the connection without an answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        if self.drop_after:
            self.status = 0
            self.drop()
            return
        if self.truncate and body:
            body = body[: max(1, len(body) // 2)]
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(document, ensure_ascii=False).encode(), "application/json; charset=utf-8", headers)

    def send_html(self, status: int, title: str, body_html: str, headers: dict[str, str] | None = None) -> None:
        page = (
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)} — Bitbucket</title></head><body>"
            f"<header><strong>Bitbucket</strong> <small>(emulator)</small></header><main>{body_html}</main></body></html>"
        )
        all_headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
        all_headers.update(headers or {})
        self.send(status, page.encode(), "text/html; charset=utf-8", all_headers)

    def redirect(self, location: str) -> None:
        self.send(302, b"", "text/html; charset=utf-8", {"Location": location, "Cache-Control": "no-store"})
