"""Benchmark: listing a workspace of 5,000 repositories with 100 ms of latency per request.

Concurrent paging (page 1 gives ``size``, then pages 2..50 at once, 16 in flight) against
following ``next`` one page at a time, measured side by side in one run against the emulator on
loopback. The emulator runs in its own process so that its work and the client's don't share one
interpreter lock (Bitbucket's servers aren't in our process either).

Targets (issue 3): at least 8x faster than following ``next``, and the whole list within 6 round
trips' worth of wall time (0.6 s at 100 ms).

    .venv/bin/python benchmarks/bench_listing.py [--repos 5000] [--latency 0.1] [--runs 3] [--full-responses]

Both ways use the client's defaults (partial responses, ``fields=``); ``--full-responses`` asks for
whole repositories instead, to see what the smaller pages are worth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

from bbwizard.api import BitbucketClient
from bbwizard.secret import Secret

# The emulator, in a child process: prints {"api_url", "token"} on stdout (a pipe, never argv),
# then serves until its stdin closes.
_SERVER = r"""
import json, sys
from bbwizard.emulator import Emulator, demo_seed, DEMO_CONSUMER_KEY
seed = demo_seed()
seed["generators"] = [{"workspace": "big", "count": int(sys.argv[1]), "members": ["alice"]}]
with Emulator(seed, latency=float(sys.argv[2])) as emu:
    token = emu.mint_token(DEMO_CONSUMER_KEY)["access_token"]
    print(json.dumps({"api_url": emu.api_url, "token": token}), flush=True)
    sys.stdin.read()
"""


async def list_once(api_url: str, token: Secret, paging: str, partial: bool) -> tuple[float, int, float, float]:
    async def provider(force_refresh: bool) -> Secret:
        return token

    async with BitbucketClient(api_url, provider, partial_responses=partial) as client:
        start, cpu_start = time.perf_counter(), time.process_time()
        first_page_at = None
        uuids: set[str] = set()
        count = 0
        async for page in client.iter_repositories("big", paging=paging):
            if first_page_at is None:
                first_page_at = time.perf_counter() - start
            count += len(page.values)
            uuids.update(repo.uuid for repo in page.values)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if count != len(uuids):
        raise SystemExit(f"duplicates: {count} repositories handed out, {len(uuids)} distinct")
    return elapsed, count, first_page_at or 0.0, cpu


async def bench(api_url: str, token: Secret, runs: int, latency: float, repos: int, partial: bool) -> None:
    await list_once(api_url, token, "concurrent", partial)  # warm-up: connections, imports
    concurrent, sequential, firsts, cpus = [], [], [], []
    for _ in range(runs):
        elapsed, count, first, cpu = await list_once(api_url, token, "concurrent", partial)
        assert count == repos, count
        concurrent.append(elapsed)
        firsts.append(first)
        cpus.append(cpu)
        elapsed, count, _, _ = await list_once(api_url, token, "next", partial)
        assert count == repos, count
        sequential.append(elapsed)
    c, s = statistics.median(concurrent), statistics.median(sequential)
    pages = -(-repos // 100)
    print(f"listing {repos} repositories ({pages} pages of 100), {latency * 1000:.0f} ms latency per request, "
          f"median of {runs} runs, " + ("partial responses (fields=)" if partial else "whole repositories"))
    print(f"  following next, one page at a time: {s:6.2f} s  ({s / latency:5.1f} round trips)")
    print(f"  concurrent paging (16 in flight):   {c:6.2f} s  ({c / latency:5.1f} round trips; target <= 6)")
    print(f"  first page shown after:             {statistics.median(firsts):6.2f} s")
    print(f"  client CPU while paging:            {statistics.median(cpus):6.2f} s  (JSON decoding and parsing; "
          f"the rest of the wall time is waiting)")
    print(f"  speed-up: {s / c:.1f}x (target >= 8x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--full-responses", action="store_true",
                        help="ask for whole repositories instead of only the fields bbwizard reads (fields=)")
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(args.repos), str(args.latency)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        hello = json.loads(server.stdout.readline())
        asyncio.run(bench(hello["api_url"], Secret(hello["token"]), args.runs, args.latency, args.repos, not args.full_responses))
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
