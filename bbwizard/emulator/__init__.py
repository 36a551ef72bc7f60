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

from pathlib import Path

from bbwizard.emulator.seed import (
    ACCOUNT_ONLY_CONSUMER_KEY,
    ACCOUNT_ONLY_CONSUMER_SECRET,
    DEMO_API_TOKEN,
    DEMO_CALLBACK_URL,
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    NO_CALLBACK_CONSUMER_KEY,
    NO_CALLBACK_CONSUMER_SECRET,
    PRIVATE_CONSUMER_KEY,
    PRIVATE_CONSUMER_SECRET,
    READ_ONLY_CONSUMER_KEY,
    READ_ONLY_CONSUMER_SECRET,
    SeedError,
    demo_consumer,
    demo_seed,
)
from bbwizard.emulator.server import Emulator, RequestRecord, Stats

# The approver as a program path, for $BROWSER: ``os.environ["BROWSER"] = str(APPROVER)``.
APPROVER = Path(__file__).with_name("approve.py")

__all__ = [
    "APPROVER",
    "ACCOUNT_ONLY_CONSUMER_KEY",
    "ACCOUNT_ONLY_CONSUMER_SECRET",
    "DEMO_API_TOKEN",
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
