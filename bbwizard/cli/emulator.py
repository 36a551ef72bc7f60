"""``bbwizard emulator``: run the Bitbucket Cloud emulator in the foreground until Ctrl+C."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="run the Bitbucket Cloud emulator on loopback (for trying bbwizard offline)",
        description="Serve bitbucket.org's OAuth pages, api.bitbucket.org/2.0 and git over HTTP on "
        "127.0.0.1, from a seed file (TOML or JSON; default: the built-in demo seed).",
    )
    parser.add_argument("--seed", metavar="FILE", help="seed file, .toml or .json (default: the demo seed)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--data-dir", metavar="DIR", help="where git repositories are built (default: a temp dir)")
    parser.add_argument("--token-lifetime", type=int, default=7200, metavar="S", help="access token lifetime (default 7200)")
    parser.add_argument("--refresh-grace", type=float, default=600, metavar="S",
                        help="how long a rotated refresh token keeps working (default 600)")
    parser.add_argument("--code-lifetime", type=float, default=600, metavar="S", help="authorization code lifetime")
    parser.add_argument("--strict-port", action="store_true",
                        help="a loopback redirect_uri must use the callback URL's port")
    parser.add_argument("--request-budget", type=int, metavar="N", help="answer 429 after N REST requests")
    parser.add_argument("--latency", type=float, default=0.0, metavar="S", help="delay added to every request")
    parser.add_argument("--callback-url", metavar="URL", help="the demo consumer's callback URL (demo seed only)")
    parser.add_argument("--generate", metavar="WS=N", action="append", default=[],
                        help="add a workspace WS with N generated repositories (e.g. big=10000)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request (secrets redacted)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import threading

    from bbwizard.cli import output
    from bbwizard.emulator import APPROVER, DEMO_CALLBACK_URL, Emulator, demo_seed
    from bbwizard.emulator.seed import demo_consumer, load_seed_source

    seed = load_seed_source(args.seed) if args.seed else demo_seed(callback_url=args.callback_url)
    for spec in args.generate:
        workspace, _, count = spec.partition("=")
        if not workspace or not count.isdigit():
            output.fail(f"--generate wants WS=N, not {spec!r}")
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
        allow_any_loopback_port=not args.strict_port,
        request_budget=args.request_budget,
        latency=args.latency,
    )
    try:
        emu.start()
    except OSError as error:
        output.fail(f"The emulator can't listen on 127.0.0.1:{args.port} ({error.strerror}). Try another --port.")
        return 1
    consumer = demo_consumer(seed) if seed.get("consumers") else None
    output.ok("Bitbucket Cloud emulator running (Ctrl+C stops it)")
    output.info(f"  site (bitbucket.org):      {emu.site_url}")
    output.info(f"  API (api.bitbucket.org):   {emu.api_url}")
    output.info(f"  git:                       {emu.site_url}/WORKSPACE/REPO.git")
    if consumer is not None:
        # The emulator's own demo consumer: not a secret, it exists only here.
        print(f"  consumer key:    {consumer['key']}", file=sys.stderr)
        print(f"  consumer secret: {consumer['secret']}", file=sys.stderr)
        print(f"  callback URL:    {consumer.get('callback_url') or '(none)'}", file=sys.stderr)
    if consumer is not None:
        output.info("Next, in another terminal (the secret is asked for; BROWSER clicks Grant for you):")
        output.info(f"  BROWSER={APPROVER} bbwizard login --site-url {emu.site_url} --key {consumer['key']} "
                    f"--callback-url {consumer.get('callback_url') or DEMO_CALLBACK_URL}")
        output.info("  or open the consent page yourself:")
        output.info(f"  {emu.site_url}/site/oauth2/authorize?client_id={consumer['key']}&response_type=code")
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
        output.ok("emulator stopped")
    return 0
