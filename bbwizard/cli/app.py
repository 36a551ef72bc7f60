"""`bbwizard demo`: the Textual wizard offline, against the built-in emulator (`bbwizard` with no
command, the wizard against Bitbucket Cloud, is wizard.py).

Nothing heavy is imported at module level: `bbwizard --help` and `bbwizard token` load this module
to build the parser, and must not pay for Textual or the emulator.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="try the wizard offline against the built-in Bitbucket Cloud emulator",
        description=(
            "Start the Bitbucket Cloud emulator on loopback with demo repositories and a demo "
            "consumer, then run the wizard against it. Nothing leaves this machine; the temporary "
            "config folder is removed at the end."
        ),
    )
    demo.add_argument(
        "--no-tui",
        action="store_true",
        help="only start the emulator and print its URLs and the demo consumer (Ctrl+C stops it)",
    )
    demo.set_defaults(func=run_demo)


def free_loopback_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def approver_command() -> str:
    """The `$BROWSER` value that makes the emulator's approver click Grant."""
    import shlex

    return shlex.join([sys.executable, "-m", "bbwizard.emulator.approve"])


def run_demo(args: argparse.Namespace) -> int:
    import shutil
    import signal
    import tempfile
    import time

    from bbwizard.cli import output

    try:
        from bbwizard.emulator import Emulator, demo_consumer, demo_seed
    except ImportError:
        output.fail("The built-in Bitbucket Cloud emulator is not available in this installation.")
        return 1

    callback_port = free_loopback_port()
    callback_url = f"http://localhost:{callback_port}/"
    config_dir = Path(tempfile.mkdtemp(prefix="bbwizard-demo-"))
    saved_env = {key: os.environ.get(key) for key in ("BBWIZARD_CONFIG", "BROWSER")}
    os.environ["BBWIZARD_CONFIG"] = str(config_dir / "config.toml")
    os.environ["BROWSER"] = approver_command()
    def stop(signum: int, frame: object) -> None:
        # A closed terminal (SIGHUP) or a kill (SIGTERM) before or after the wizard still stops the
        # emulator and removes the temporary folder, through the finally below. While the wizard
        # runs, its own handlers (in the event loop) make it quit the same way.
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig}
    try:
        seed = demo_seed(callback_url=callback_url)
        consumer = demo_consumer(seed)
        with Emulator(seed) as emulator:
            if args.no_tui:
                _print_demo(emulator, consumer, callback_url, config_dir)
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    print(file=sys.stderr)
                return 0
            print(
                f"bbwizard demo: a Bitbucket Cloud emulator runs on {emulator.site_url}, a stand-in browser "
                f"clicks Grant for you, and the config and the clones go to {config_dir}, removed when you quit.",
                file=sys.stderr,
                flush=True,
            )
            def hang_up() -> None:
                emulator.stop()
                shutil.rmtree(config_dir, ignore_errors=True)

            app = demo_app(emulator, consumer, callback_url, config_dir, handle_signals=True, on_hangup=hang_up)
            app.run()
            return int(app.return_code or 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(config_dir, ignore_errors=True)
        if not config_dir.exists():
            print(f"bbwizard demo: removed {config_dir} (its config and clones).", file=sys.stderr, flush=True)


def demo_app(emulator, consumer: dict, callback_url: str, config_dir: Path, **app_options: object):
    """The wizard as `bbwizard demo` runs it: the demo consumer filled in, the config and the
    clones inside the demo's own folder (removed on quit), never in the folder it was started
    from: a clone's credential helper names the demo's config, which does not outlive the demo."""
    from bbwizard.config import ConfigStore, Profile
    from bbwizard.secret import Secret
    from bbwizard.tui.app import WizardApp

    # The demo starts where a person starts, at the three ways in: Enter there (the OAuth client,
    # the first way) opens the Consumer step with this consumer filled in.
    prefill = Profile(
        name="demo",
        client_id=consumer["key"],
        client_secret=Secret(consumer["secret"]),
        callback_url=callback_url,
        site_url=emulator.site_url,
        api_url=emulator.api_url,
    )
    return WizardApp(
        store=ConfigStore(config_dir / "config.toml"),
        prefill=prefill,
        demo=True,
        clone_dir=config_dir / "clones",
        **app_options,
    )


def _print_demo(emulator, consumer: dict, callback_url: str, config_dir: Path) -> None:
    from bbwizard.emulator.foreground import demo_token_lines

    # Plain print, not output.info: the demo secret is meant to be read (it works only here).
    lines = [
        f"✓ Bitbucket Cloud emulator on {emulator.site_url} (API {emulator.api_url})",
        f"  consumer key:    {consumer['key']}",
        f"  consumer secret: {consumer['secret']}  (a demo secret, valid only in this emulator)",
        f"  callback URL:    {callback_url}",
        f"  config folder:   {config_dir} (removed when this stops)",
        *demo_token_lines(emulator),
        "Next: run `bbwizard demo` (without --no-tui) for the wizard against it. Ctrl+C stops the emulator.",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)
