"""A Bitbucket Cloud emulator on loopback, for the tests and ``bbwizard demo``.

It stands in for bitbucket.org (OAuth consent page and token endpoint, git over HTTP through the
real ``git http-backend``) and api.bitbucket.org/2.0 (REST), all on one port of 127.0.0.1, and
follows ../shared/bitbucket-cloud.md. Stdlib only: it imports neither the client's modules nor
httpx/textual, so a misreading of Bitbucket can't hide on both sides at once.

    from bbwizard.emulator import Emulator, demo_seed, DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET
    with Emulator() as emu:               # demo seed, free port, temp data dir
        emu.site_url, emu.api_url         # http://127.0.0.1:PORT, http://127.0.0.1:PORT/2.0

``python -m bbwizard.emulator.approve URL`` (or the script at ``APPROVER``) is a ``$BROWSER`` that
clicks Grant (``--deny`` or ``BBWIZARD_APPROVE=deny`` clicks Deny).
"""

import importlib
from pathlib import Path

# Names this package exports, and the module each lives in: imported on first use (PEP 562), so
# ``bbwizard --help`` and ``bbwizard emulator``'s argument parsing pay for no server or seed.
_EXPORTS = {
    "ACCOUNT_ONLY_CONSUMER_KEY": "seed",
    "ACCOUNT_ONLY_CONSUMER_SECRET": "seed",
    "DEMO_ACCESS_TOKEN": "seed",
    "DEMO_ACCESS_TOKEN_REPOSITORY": "seed",
    "DEMO_API_TOKEN": "seed",
    "DEMO_API_TOKEN_EMAIL": "seed",
    "DEMO_CALLBACK_URL": "seed",
    "DEMO_CONSUMER_KEY": "seed",
    "DEMO_CONSUMER_SECRET": "seed",
    "NO_CALLBACK_CONSUMER_KEY": "seed",
    "NO_CALLBACK_CONSUMER_SECRET": "seed",
    "PRIVATE_CONSUMER_KEY": "seed",
    "PRIVATE_CONSUMER_SECRET": "seed",
    "READ_ONLY_CONSUMER_KEY": "seed",
    "READ_ONLY_CONSUMER_SECRET": "seed",
    "SeedError": "seed",
    "demo_consumer": "seed",
    "demo_seed": "seed",
    "Emulator": "server",
    "RequestRecord": "state",
    "Stats": "state",
}

# The approver as a program path, for $BROWSER: ``os.environ["BROWSER"] = str(APPROVER)``.
APPROVER = Path(__file__).with_name("approve.py")


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "APPROVER",
    "ACCOUNT_ONLY_CONSUMER_KEY",
    "ACCOUNT_ONLY_CONSUMER_SECRET",
    "DEMO_ACCESS_TOKEN",
    "DEMO_ACCESS_TOKEN_REPOSITORY",
    "DEMO_API_TOKEN",
    "DEMO_API_TOKEN_EMAIL",
    "DEMO_CALLBACK_URL",
    "DEMO_CONSUMER_KEY",
    "DEMO_CONSUMER_SECRET",
    "NO_CALLBACK_CONSUMER_KEY",
    "NO_CALLBACK_CONSUMER_SECRET",
    "PRIVATE_CONSUMER_KEY",
    "PRIVATE_CONSUMER_SECRET",
    "READ_ONLY_CONSUMER_KEY",
    "READ_ONLY_CONSUMER_SECRET",
    "Emulator",
    "RequestRecord",
    "SeedError",
    "Stats",
    "demo_consumer",
    "demo_seed",
]
