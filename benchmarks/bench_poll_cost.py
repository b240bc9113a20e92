"""What one poll costs, in instructions: the bare aiohttp floor, the floor with each thing the
async runner asks of aiohttp to behave as requests does, and the runner itself.

Timings on a shared two-core machine move by a fifth from run to run; instruction counts
(valgrind's callgrind) repeat to a fraction of a percent, so a change of a few percent in the
cost of a poll shows here when ``bench_triggers`` cannot see it. Each row runs K pollers that
poll the local server back to back (no sleep), once with M1 and once with M2 polls each, in
fresh processes with the same modules loaded: the difference, divided by the extra polls, is
the cost of one poll without start-up and imports.

    make bench-cost
    python -m benchmarks.bench_poll_cost -k 50 --polls 4 14

It needs valgrind (``apt-get install valgrind``); without it, it says so and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
from typing import Any

from benchmarks._as_requests import ALL, TIMEOUT, request_options
from benchmarks._server import serving

UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}
#: The rows: each floor variant adds what the runner asks of aiohttp (``_async``), by name.
ROWS = {
    "floor (bare aiohttp)": (),
    "floor + requests' headers": ("headers",),
    "floor + read timeout": ("read_timeout",),
    "floor + request deadline": ("deadline",),
    "floor + all three": ALL,
    "AsyncHttSleeper": None,
}


async def _floor(base: str, k: int, polls: int, extras: tuple[str, ...]) -> int:
    import aiohttp

    options, deadline = request_options(extras)
    done = 0

    async with aiohttp.ClientSession() as session:

        async def one() -> Any:
            async with session.get(base + "/jobs/7", **options) as response:
                return json.loads(await response.read())

        async def poller() -> None:
            nonlocal done
            for _ in range(polls):
                if deadline is None:
                    data = await one()
                else:
                    async with asyncio.timeout(deadline):
                        data = await one()
                done += 1
                if data["status"] == "OK":
                    return
                await asyncio.sleep(0)

        await asyncio.gather(*(poller() for _ in range(k)))
    return done


async def _ours(base: str, k: int, polls: int) -> int:
    from httsleep_airflow._async import AsyncHttSleeper
    from httsleep_airflow.exceptions import RetriesExhausted

    async def poller(i: int) -> int:
        async with AsyncHttSleeper(
            base + f"/jobs/{i}", UNTIL, polling_interval=0, max_retries=polls, timeout=TIMEOUT
        ) as sleeper:
            try:
                await sleeper.run()
            except RetriesExhausted as exc:
                return exc.attempts
        raise AssertionError("the job never completes")

    return sum(await asyncio.gather(*(poller(i) for i in range(k))))


def child(row: str, base: str, k: int, polls: int) -> None:
    import logging

    import httsleep_airflow._async  # noqa: F401  (every row holds the same modules)

    logging.disable(logging.WARNING)
    extras = ROWS[row]
    work = _ours(base, k, polls) if extras is None else _floor(base, k, polls, extras)
    done = asyncio.run(work)
    assert done == k * polls, (done, k * polls)


def instructions(row: str, base: str, k: int, polls: int) -> int:
    """Instructions a fresh process takes to run ``row`` with ``polls`` polls per poller."""
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "benchmarks.bench_poll_cost",
            "--child",
            row,
            base,
            str(k),
            str(polls),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    found = re.search(r"Collected : ([\d,]+)", out)
    if found is None:
        raise RuntimeError(f"callgrind printed no count:\n{out[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", type=int, default=50, help="pollers")
    parser.add_argument("--polls", type=int, nargs=2, default=[4, 14], metavar=("M1", "M2"))
    parser.add_argument("--child", nargs=4, metavar=("ROW", "BASE", "K", "POLLS"))
    args = parser.parse_args()
    if args.child:
        row, base, k, polls = args.child
        child(row, base, int(k), int(polls))
        return
    if shutil.which("valgrind") is None:
        print("bench_poll_cost needs valgrind (apt-get install valgrind); not run")
        return
    low, high = args.polls
    print(f"Instructions per poll (callgrind): {args.k} pollers, {low} and {high} polls each")
    print(f"{'contender':<28} {'per poll':>10} {'vs floor':>9}")
    with serving() as base:
        floor = 0.0
        for row in ROWS:
            extra = instructions(row, base, args.k, high) - instructions(row, base, args.k, low)
            per_poll = extra / (args.k * (high - low))
            floor = floor or per_poll
            print(f"{row:<28} {per_poll:>10,.0f} {per_poll / floor:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
