"""The emulator in the foreground: ``bbwizard emulator`` and ``python -m bbwizard.emulator``.

It serves until Ctrl+C, SIGTERM or SIGHUP (a closed terminal), and on each of them stops the
same way: the server closes and the temporary data folder (bare repositories) is removed; a
``--data-dir`` given by the user is kept. Importing this module is light (argparse only): the
server and the seed load when :func:`run` starts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bbwizard.emulator.server import Emulator

Say = Callable[[str], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", metavar="FILE", help="seed file, .toml or .json (default: the demo seed)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--data-dir", metavar="DIR", help="where git repositories are built (default: a temp dir)")
    parser.add_argument("--token-lifetime", type=int, default=7200, metavar="S", help="access token lifetime (default 7200)")
    parser.add_argument("--refresh-grace", type=float, default=600, metavar="S",
                        help="how long a rotated refresh token keeps working (default 600)")
    parser.add_argument("--code-lifetime", type=float, default=600, metavar="S", help="authorization code lifetime")
    parser.add_argument("--strict-port", action="store_true",
                        help="a loopback redirect_uri must use the callback URL's port (the default)")
    parser.add_argument("--any-loopback-port", action="store_true",
                        help="a loopback redirect_uri may use any port (whether Bitbucket allows it is unconfirmed)")
    # How Bitbucket answers (2026 by default; each flag brings back one older or unconfirmed answer).
    parser.add_argument("--scope-field", choices=("scope", "scopes", "both"), default="scope",
                        help="the token answer's scope field (default scope, as since 2026-05-04; scopes: before)")
    parser.add_argument("--scope-names", choices=("classic", "granular"), default="classic",
                        help="scope names in token answers and 403s: account… or read:user:bitbucket…")
    parser.add_argument("--token-length", type=int, default=2900, metavar="N",
                        help="access token length (default 2900, JWT-shaped from 300 up)")
    parser.add_argument("--refresh-token-length", type=int, default=2700, metavar="N",
                        help="refresh token length (default 2700)")
    parser.add_argument("--client-credentials-refresh", action="store_true",
                        help="client_credentials answers carry a refresh token (before 2026)")
    parser.add_argument("--client-credentials-as", choices=("app_user", "owner"), default="app_user",
                        help="whom a client_credentials token authenticates as (default app_user; owner: before 2026)")
    parser.add_argument("--app-user-profile", choices=("document", "forbidden"), default="document",
                        help="GET /user for an app user: an app_user document (default) or a 403")
    parser.add_argument("--cc-refusal-error", default=None, metavar="ERROR",
                        help="the error for client_credentials on a consumer without that grant (default unauthorized_client)")
    parser.add_argument("--cc-refusal-description", default=None, metavar="TEXT",
                        help="its error_description (default: This OAuth client is not allowed to use the client_credentials grant.)")
    parser.add_argument("--legacy-probe", action="store_true",
                        help='that refusal is the old "Cannot use client_credentials with a consumer marked as public" text')
    parser.add_argument("--refresh-lifetime", type=float, default=90 * 86400, metavar="S",
                        help="how long an unused refresh token lives (default 90 days)")
    parser.add_argument("--rate-limit-retry-after", metavar="S", help="the Retry-After header of the budget's 429s")
    parser.add_argument("--role-member-gone", action="store_true", help="role=member answers 410")
    parser.add_argument("--auto-approve", action="store_true",
                        help="a consumer the browser user granted before skips the consent page")
    parser.add_argument("--list-size", choices=("exact", "missing", "off"), default="exact",
                        help="list pages' size: exact, missing, or off (too small)")
    parser.add_argument("--lie-about-size", type=int, metavar="N",
                        help="every list claims N items and offers next pages that far (a hostile server)")
    parser.add_argument("--request-budget", type=int, metavar="N", help="answer 429 after N REST requests")
    parser.add_argument("--latency", type=float, default=0.0, metavar="S", help="delay added to every request")
    parser.add_argument("--callback-url", metavar="URL", help="the demo consumer's callback URL (demo seed only)")
    parser.add_argument("--generate", metavar="WS=N", action="append", default=[],
                        help="add a workspace WS with N generated repositories (e.g. big=10000)")
    parser.add_argument("--tls", action="store_true",
                        help="serve HTTPS with a certificate from a test CA made at start, and print the CA file's "
                        "path (needs the trustme package: pip install trustme)")
    parser.add_argument("--split-hosts", action="store_true",
                        help="serve the API on a second port, as api.bitbucket.org is a host of its own")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request (secrets redacted)")


def knobs_from(args: argparse.Namespace) -> dict:
    """The answer-shaping knobs of :class:`~bbwizard.emulator.state.State` the flags set."""
    from bbwizard.emulator.state import CC_REFUSAL

    refusal: tuple[str, str] | str = "legacy" if args.legacy_probe else (
        args.cc_refusal_error or CC_REFUSAL[0], args.cc_refusal_description or CC_REFUSAL[1])
    return dict(
        scope_field=args.scope_field,
        scope_names=args.scope_names,
        access_token_length=args.token_length,
        refresh_token_length=args.refresh_token_length,
        client_credentials_refresh=args.client_credentials_refresh,
        client_credentials_user=args.client_credentials_as,
        app_user_profile=args.app_user_profile,
        client_credentials_refusal=refusal,
        refresh_lifetime=args.refresh_lifetime,
        rate_limit_retry_after=args.rate_limit_retry_after,
        role_member_gone=args.role_member_gone,
        auto_approve=args.auto_approve,
        list_size=args.list_size,
        lie_about_size=args.lie_about_size,
    )


def _print(mark: str) -> Say:
    def say(message: str) -> None:
        print(f"{mark} {message}" if mark else message, file=sys.stderr, flush=True)

    return say


_OK, _INFO, _FAIL = _print("✓"), _print(""), _print("X")


def run(args: argparse.Namespace, *, ok: Say = _OK, info: Say = _INFO, fail: Say = _FAIL) -> int:
    """Serve until Ctrl+C, SIGTERM or SIGHUP; 0 after a clean stop, 1 or 2 when it can't start.

    ``ok``/``info``/``fail`` print a line for a person (the CLI passes its own, with colour)."""
    import logging
    import signal
    import threading

    from bbwizard.emulator.seed import demo_seed, load_seed_source
    from bbwizard.emulator.server import Emulator

    seed = load_seed_source(args.seed) if args.seed else demo_seed(callback_url=args.callback_url)
    for spec in args.generate:
        workspace, _, count = spec.partition("=")
        if not workspace or not count.isdigit():
            fail(f"--generate wants WS=N, not {spec!r}")
            return 2
        users = [u["username"] for u in seed.get("users", [])]
        seed.setdefault("generators", []).append({"workspace": workspace, "count": int(count), "members": users[:1]})
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    emu = Emulator(
        seed,
        port=args.port,
        data_dir=args.data_dir,
        token_lifetime=args.token_lifetime,
        refresh_grace=args.refresh_grace,
        code_lifetime=args.code_lifetime,
        allow_any_loopback_port=args.any_loopback_port and not args.strict_port,
        request_budget=args.request_budget,
        latency=args.latency,
        **knobs_from(args),
        tls=getattr(args, "tls", False),
        split_hosts=getattr(args, "split_hosts", False),
    )
    stop = threading.Event()
    # SIGTERM (kill, a service manager) and SIGHUP (the terminal closed) stop it as Ctrl+C does;
    # without a handler Python dies at once and leaves the data folder in the temp folder.
    stopping = [sig for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if sig is not None]
    if threading.current_thread() is not threading.main_thread():
        stopping = []  # only the main thread may set handlers; the caller stops it there
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in stopping}
    try:
        try:
            emu.start()
        except OSError as error:
            fail(f"The emulator can't listen on 127.0.0.1:{args.port} ({error.strerror}). Try another --port.")
            return 1
        except RuntimeError as error:  # --tls without trustme
            fail(str(error))
            return 1
        try:
            _announce(emu, seed, ok, info)
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            emu.stop()
            ok("emulator stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def demo_token_lines(emu: Emulator) -> list[str]:
    """The demo seed's API token and repository access token, as lines for a person (none when
    the seed lacks them). Only these two: any other seeded token stays unprinted."""
    from datetime import timedelta

    from bbwizard.emulator.seed import DEMO_ACCESS_TOKEN, DEMO_API_TOKEN

    lines = []
    api_token = emu.world.api_tokens.get(DEMO_API_TOKEN)
    if api_token is not None:
        until = "no expiry" if api_token.expires_at is None else \
            f"expires {(api_token.expires_at - timedelta(microseconds=1)).date().isoformat()}"
        lines += [f"  API token of {api_token.email} ({until}; REST: Basic EMAIL:TOKEN, git user x-bitbucket-api-token-auth):",
                  f"    {api_token.token}"]
    access = emu.world.access_tokens.get(DEMO_ACCESS_TOKEN)
    if access is not None:
        reach = {"repository": access.repository, "project": f"project {access.project}", "workspace": "the workspace"}[access.kind]
        lines += [f"  {access.kind} access token of {access.workspace}/{reach} (REST: Bearer, git user x-token-auth):",
                  f"    {access.token}"]
    return lines


def _announce(emu: Emulator, seed: dict, ok: Say, info: Say) -> None:
    from bbwizard.emulator import APPROVER
    from bbwizard.emulator.seed import DEMO_CALLBACK_URL, demo_consumer

    consumer = demo_consumer(seed) if seed.get("consumers") else None
    ok("Bitbucket Cloud emulator running (Ctrl+C stops it)")
    info(f"  site (bitbucket.org):      {emu.site_url}")
    info(f"  API (api.bitbucket.org):   {emu.api_url}")
    info(f"  git:                       {emu.site_url}/WORKSPACE/REPO.git")
    if emu.ca_file is not None:
        info(f"  test CA (trust it):        {emu.ca_file}")
    if consumer is None:
        return
    # The emulator's own demo consumer: not a secret, it exists only here.
    print(f"  consumer key:    {consumer['key']}", file=sys.stderr)
    print(f"  consumer secret: {consumer['secret']}", file=sys.stderr)
    print(f"  callback URL:    {consumer.get('callback_url') or '(none)'}", file=sys.stderr, flush=True)
    info("Next, in another terminal (the secret is asked for; BROWSER clicks Grant for you):")
    trust = f"SSL_CERT_FILE={emu.ca_file} " if emu.ca_file is not None else ""
    api = f" --api-url {emu.api_url}" if getattr(emu, "split_hosts", False) else ""
    info(f"  {trust}BROWSER={APPROVER} bbwizard login --site-url {emu.site_url}{api} --key {consumer['key']} "
         f"--callback-url {consumer.get('callback_url') or DEMO_CALLBACK_URL}")
    info("  or open the consent page yourself:")
    info(f"  {emu.site_url}/site/oauth2/authorize?client_id={consumer['key']}&response_type=code")
    tokens = demo_token_lines(emu)
    if tokens:
        # The emulator's own demo tokens: they work only here.
        print("Or sign in with a token (bbwizard login --with-api-token --email EMAIL, or --with-access-token):",
              file=sys.stderr)
        print("\n".join(tokens), file=sys.stderr, flush=True)
