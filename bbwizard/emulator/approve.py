#!/usr/bin/env python3
"""A browser that clicks Grant: ``python -m bbwizard.emulator.approve [--deny] [--detach] URL``.

The file is also a standalone script (stdlib only, executable): ``$BROWSER`` may be its path,
``bbwizard.emulator.APPROVER``, which works where ``$BROWSER`` can't carry arguments (Python's
``webbrowser`` takes the whole variable as one program name).

Usable as ``$BROWSER`` (Python's ``webbrowser`` and ``xdg-open`` run ``$BROWSER URL``). It fetches
the authorize URL, submits the emulator's consent form (Grant, or Deny with ``--deny`` or
``BBWIZARD_APPROVE=deny``), and follows the redirect to the callback with a plain GET, like a
person's browser. Silent when it works (exit 0); one line on stderr and exit 1 when it can't (an
error page such as "Invalid client_id", nothing listening on the callback).

``--detach`` (or ``BBWIZARD_APPROVE_DETACH=1``) returns at once and does the clicking in a child
process, as a real browser would: ``webbrowser.open`` waits for ``$BROWSER`` to exit, so a caller
that serves its callback on the same thread as it calls ``webbrowser.open`` needs this.

Stdlib only and no bbwizard imports, so it starts fast and can't share a bug with the client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin

TIMEOUT = 30


class _ConsentForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method = "get"
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, tuple[str, str]] = {}  # value -> (name, value)
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action, self.method, self._in_form = a.get("action", ""), a.get("method", "get").lower(), True
        elif self._in_form and tag == "input" and a.get("type", "text") == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif self._in_form and tag == "button" and a.get("name"):
            self.buttons[a.get("value", "").lower()] = (a["name"], a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # we follow by hand, to see each hop
        return None


def _open(opener, url: str, data: bytes | None = None):
    request = urllib.request.Request(url, data=data, headers={"User-Agent": "bbwizard-approver/1"})
    try:
        return opener.open(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as response:  # 3xx and 4xx arrive here; they are answers too
        return response


def approve(url: str, deny: bool = False) -> None:
    """Click through the consent page at ``url``. Raises RuntimeError with a sentence."""
    # No proxies: the emulator and the callback are on loopback.
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPCookieProcessor())
    current, data = url, None
    for _ in range(10):
        response = _open(opener, current, data)
        status = response.status
        body = response.read()
        if status in (301, 302, 303, 307, 308):
            location = response.headers.get("Location")
            if not location:
                raise RuntimeError(f"redirect without a Location from {current.split('?')[0]}")
            current, data = urljoin(current, location), None
            continue
        if status != 200:
            raise RuntimeError(f"HTTP {status} from {current.split('?')[0]}: {_title(body)}")
        form = _ConsentForm()
        form.feed(body.decode("utf-8", errors="replace"))
        if form.action is None:
            return  # a page without a form: the callback's "you may close this window"
        choice = "deny" if deny else "grant"
        if choice not in form.buttons:
            raise RuntimeError(f"the consent page has no {choice} button")
        fields = dict(form.fields)
        name, value = form.buttons[choice]
        fields[name] = value
        target = urljoin(current, form.action or current)
        encoded = urlencode(fields)
        if form.method == "post":
            current, data = target, encoded.encode()
        else:
            current, data = f"{target}?{encoded}", None
    raise RuntimeError("too many redirects")


def _title(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    start, end = text.find("<h1>"), text.find("</h1>")
    return text[start + 4 : end] if 0 <= start < end else text[:200]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    deny = os.environ.get("BBWIZARD_APPROVE", "grant").strip().lower() == "deny"
    detach = os.environ.get("BBWIZARD_APPROVE_DETACH", "") not in ("", "0")
    urls = []
    for arg in args:
        if arg == "--deny":
            deny = True
        elif arg == "--grant":
            deny = False
        elif arg == "--detach":
            detach = True
        elif arg in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        else:
            urls.append(arg)
    if len(urls) != 1:
        print("usage: python -m bbwizard.emulator.approve [--deny] [--detach] URL", file=sys.stderr)
        return 2
    if detach:
        child = [sys.executable, os.path.abspath(__file__), "--deny" if deny else "--grant", urls[0]]
        env = dict(os.environ, BBWIZARD_APPROVE_DETACH="0")
        subprocess.Popen(child, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         start_new_session=True)
        return 0
    try:
        approve(urls[0], deny=deny)
    except (RuntimeError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        print(f"approve: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
