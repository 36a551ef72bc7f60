"""Host rules: how a host is compared, whether it is loopback, and where a secret may not go over
plain http.

Pure functions over the standard library, shared by :mod:`bbwizard.config` (which must not import
the HTTP layer, :mod:`bbwizard.net`, that imports it) and by ``net``, which re-exports them.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bbwizard.errors import UsageError
from bbwizard.secret import redact

#: Bitbucket Cloud's own hosts: a secret for them never travels over plain http.
BITBUCKET_DOMAIN = "bitbucket.org"

#: Full stops other than "." that IDNA maps to one: ``bitbucket．org`` is ``bitbucket.org``.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def normalise_host(host: str | None) -> str:
    """``host`` as every host rule compares it, and as httpx and git will reach it: brackets off,
    the Unicode full stops (U+3002, U+FF0E, U+FF61) made dots, IDNA (``bücher.de`` ->
    ``xn--bcher-kva.de``, fullwidth letters folded), lower case, no trailing dot. A rule that
    compared the raw text let ``http://bitbucket．org`` past the https-only rule while httpx sent
    the consumer secret to bitbucket.org in clear."""
    host = (host or "").strip().strip("[]")
    if not host.isascii():
        host = host.translate(_DOTS)
        try:
            host = host.rstrip(".").encode("idna").decode("ascii")
        except UnicodeError:
            pass  # not a name IDNA can map (an empty label): compared as it is, and fails to match
    return host.lower().rstrip(".")


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` (and ``*.localhost``), ``127.0.0.0/8`` and ``::1``, brackets or not."""
    host = normalise_host(host)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str | None) -> bool:
    """True when ``url``'s host is a loopback host (any scheme)."""
    try:
        return is_loopback_host(urlsplit((url or "").strip()).hostname)
    except ValueError:
        return False



def require_https(url: str, what: str = "The site URL") -> None:
    """Refuse to send a Bitbucket secret over plain http.

    The consumer secret goes in every token request and the token in every API call. A typo such
    as ``http://bitbucket.org`` would send them in clear text before Bitbucket's redirect to https
    could help (security.md 9 and 19). Plain http stays allowed for other hosts: the emulator, on
    this machine or another one on the local network, speaks only http.
    """
    try:
        parts = urlsplit(url.strip())
        host = normalise_host(parts.hostname)
        scheme = parts.scheme.lower()
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return  # httpx refuses it with a sentence of its own
    if "@" in parts.netloc:
        # httpx would send the user and password as Basic instead of the Bearer token, and the
        # address (password and all) would be saved and shown.
        shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        raise UsageError(
            f"{what} has a user name or password in it (user:password@ before the host): "
            f"bbwizard signs in with the OAuth consumer, never with credentials in an address. "
            f"Write it without them: {redact(shown)}"
        )
    if scheme != "http" or not (host == BITBUCKET_DOMAIN or host.endswith("." + BITBUCKET_DOMAIN)):
        return

    raise UsageError(
        f"{what} {redact(url.strip())} is plain http: bbwizard sends the consumer secret and tokens to "
        f"Bitbucket only over HTTPS. Use https://{host}{port}{parts.path.rstrip('/')} instead."
    )
