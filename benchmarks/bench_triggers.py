"""K triggers on one asyncio loop: HttSleepTrigger, providers-http's HttpSensorTrigger, and the
floor (a bare aiohttp loop sharing one session), side by side in one run.

Two floors: the bare one, and the same asking aiohttp what the async runner asks of it to behave
as requests does (its default headers, a read timeout, a deadline around each request:
``_as_requests``, the rows of ``bench_poll_cost``). Every "vs floor" compares with the bare one;
a last line per K compares HttSleepTrigger with the second ("vs row 2"): what the runner's own
work costs over aiohttp doing the same.

Each of the K pollers polls a local keep-alive server (another process) every second for a
bounded time. For each contender and K, in a fresh process: polls/s achieved, lateness of each
poll against its schedule (how much later than asked each sleep ended: p50/p99), RSS per poller,
CPU time as a share of the wall time and per poll (and "steady": polls/s and CPU per poll once
every poller has started and until two seconds before the end, without the cost of starting
or ending them), the share of time spent in garbage collection, and the objects the garbage
collector tracks per poller once all have started ("objs": each full collection walks every
one of them, a process's own included). Every process has the
same modules loaded, as a triggerer has (``IMPORTS``), and triggers start one per pass of the
loop, as Airflow's trigger runner starts them. The floor polls on the triggers' schedule: each
poller waits its share of the interval before its first poll, as a trigger does (its
``phase``), and the triggers' deadlines are spread alike, so no contender polls or ends in
lockstep (a lockstep floor serves many polls per pass of the loop: less CPU per poll, and a
p99 lateness set by the bursts).

    make bench                     # with the other benchmarks
    python -m benchmarks.bench_triggers -k 100 500 1000 2000 --seconds 20
    python -m benchmarks.bench_triggers -k 1000 2000 4000 --seconds 15 --repeat 3

With ``--repeat R`` every contender runs R times, in turn (floor, ours, theirs, floor, ...);
each figure is the median over the rounds, and each "vs floor" the median of the ratios to the
floor of the same round: on a shared machine one run's CPU figures move by a fifth.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from benchmarks._as_requests import ALL, request_options
from benchmarks._server import serving

INTERVAL = 1.0
AS_REQUESTS = "floor + requests' behaviour"
#: The share of the run after which every poller has started, and the seconds before its end
#: at which none has ended yet: CPU per poll measured between the two ("steady") is the cost
#: of a poll without the cost of starting or ending triggers.
STEADY_FROM = 1 / 3
STEADY_UNTIL = 2 * INTERVAL


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Probe:
    """Counts polls, measures how late each sleep ends, and the time spent in GC."""

    def __init__(self) -> None:
        self.polls = 0
        self.lateness: list[float] = []
        self.gc_time = 0.0
        self._gc_start = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_time += time.perf_counter() - self._gc_start

    async def sleep(
        self, seconds: float, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    ) -> None:
        due = time.monotonic() + seconds
        await sleep(seconds)
        self.lateness.append(time.monotonic() - due)


async def bare(
    base: str, k: int, seconds: float, probe: Probe, extras: tuple[str, ...] = ()
) -> None:
    import aiohttp

    options, deadline = request_options(extras)

    async with aiohttp.ClientSession() as session:

        async def one() -> Any:
            async with session.get(base + "/jobs/7", **options) as response:
                return json.loads(await response.read())

        async def poller(i: int) -> None:
            stop = time.monotonic() + seconds
            await asyncio.sleep(i / k * INTERVAL)  # the triggers' schedule: spread (``phase``)
            while time.monotonic() < stop:
                if deadline is None:
                    data = await one()
                else:
                    async with asyncio.timeout(deadline):
                        data = await one()
                probe.polls += 1
                if data["status"] == "OK":
                    return
                await probe.sleep(INTERVAL)

        await asyncio.gather(*(poller(i) for i in range(k)))


async def ours(base: str, k: int, seconds: float, probe: Probe) -> None:
    from httsleep_airflow._async import AsyncHttSleeper
    from httsleep_airflow.triggers.httsleep import HttSleepTrigger

    real_send = AsyncHttSleeper.send_once

    async def counted_send(self: AsyncHttSleeper, *args: Any, **kwargs: Any) -> Any:
        probe.polls += 1
        if not isinstance(self._sleep, functools.partial):  # the waits it asks for, measured
            self._sleep = functools.partial(probe.sleep, sleep=self._sleep)
        return await real_send(self, *args, **kwargs)

    AsyncHttSleeper.send_once = counted_send  # type: ignore[method-assign]
    deadline = time.time() + seconds
    triggers = [
        HttSleepTrigger(
            endpoint=base + f"/jobs/{i}",
            conditions={"until": {"jsonpath": [{"expression": "status", "value": "OK"}]}},
            polling_interval=INTERVAL,
            deadline=deadline + i / k * INTERVAL,  # they end spread as they start
            attempts_made=1,  # as a sensor defers it: after its first poke, on the worker
        )
        for i in range(k)
    ]

    async def drain(trigger: HttSleepTrigger) -> None:
        async for event in trigger.run():
            assert event.payload["status"] == "exhausted", event.payload

    await asyncio.gather(*await started(drain(t) for t in triggers))


async def theirs(base: str, k: int, seconds: float, probe: Probe) -> None:
    import airflow.providers.http.hooks.http as hook_module
    import airflow.providers.http.triggers.http as trigger_module
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    os.environ["AIRFLOW_CONN_BENCH_HTTP"] = base
    real_run = hook_module.HttpAsyncHook.run

    async def counted_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        probe.polls += 1
        return await real_run(self, *args, **kwargs)

    hook_module.HttpAsyncHook.run = counted_run  # type: ignore[method-assign]
    trigger_module.asyncio = _AsyncioWithProbeSleep(probe)  # type: ignore[attr-defined]
    triggers = [
        HttpSensorTrigger(
            endpoint=f"missing/{i}", http_conn_id="bench_http", poke_interval=INTERVAL
        )
        for i in range(k)
    ]

    async def drain(trigger: HttpSensorTrigger) -> None:
        async for _ in trigger.run():
            raise AssertionError("the job never completes")

    tasks = await started(drain(t) for t in triggers)
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def started(runs: Iterable[Coroutine[Any, Any, None]]) -> list[asyncio.Task[None]]:
    """Each trigger's task, started as Airflow's trigger runner starts them: one, then a pass of
    the loop (``TriggerRunner.create_triggers`` awaits ``asyncio.sleep(0)`` between two)."""
    tasks = []
    for run in runs:
        tasks.append(asyncio.ensure_future(run))
        await asyncio.sleep(0)
    return tasks


class _AsyncioWithProbeSleep:
    """The asyncio module as HttpSensorTrigger sees it, with its sleep measured."""

    def __init__(self, probe: Probe) -> None:
        self._probe = probe

    def __getattr__(self, name: str) -> Any:
        return self._probe.sleep if name == "sleep" else getattr(asyncio, name)


#: The first is the floor every "vs floor" compares with; the second asks aiohttp what the async
#: runner asks of it to behave as requests does (``_as_requests``): the same work but ours.
CONTENDERS: dict[str, Callable[[str, int, float, Probe], Coroutine[Any, Any, None]]] = {
    "floor (bare aiohttp)": bare,
    AS_REQUESTS: functools.partial(bare, extras=ALL),
    "HttSleepTrigger": ours,
    "HttpSensorTrigger": theirs,
}
#: Modules every contender's process has loaded before the baseline RSS is read, the floor's
#: included: what a triggerer has loaded (Airflow's SDK, the trigger modules). The garbage
#: collector walks every object they hold, so a process without them would make the floor's
#: polls look cheaper than they are in a triggerer.
IMPORTS = [
    "aiohttp",
    "airflow.sdk",
    "httsleep_airflow.triggers.httsleep",
    "airflow.providers.http.triggers.http",
]


def child(kind: str, base: str, k: int, seconds: float) -> None:
    """Run one contender in this (fresh) process; print one JSON line of results."""
    import logging

    logging.disable(logging.WARNING)
    for module in IMPORTS:
        importlib.import_module(module)
    probe = Probe()
    gc.collect()
    rss0, objects0 = rss_bytes(), len(gc.get_objects())
    objects: list[int] = []
    samples: list[int] = []
    # (wall, CPU time, polls): when every poller has started, and when none has ended yet
    marks: list[tuple[float, float, int]] = []

    async def main() -> None:
        async def sample_rss() -> None:
            while True:
                await asyncio.sleep(seconds / 4)
                samples.append(rss_bytes())

        async def mark() -> None:
            await asyncio.sleep(seconds * STEADY_FROM)
            marks.append((time.perf_counter(), time.process_time(), probe.polls))
            objects.append(len(gc.get_objects()))
            await asyncio.sleep(seconds * (1 - STEADY_FROM) - STEADY_UNTIL)
            marks.append((time.perf_counter(), time.process_time(), probe.polls))

        sampler, marker = asyncio.ensure_future(sample_rss()), asyncio.ensure_future(mark())
        await CONTENDERS[kind](base, k, seconds, probe)
        sampler.cancel()
        marker.cancel()

    wall0, cpu0 = time.perf_counter(), time.process_time()
    asyncio.run(main())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0  # the contender's run
    (wall1, cpu1, polls1), (wall2, cpu2, polls2) = marks
    steady_cpu, steady_polls = cpu2 - cpu1, polls2 - polls1
    lateness = sorted(probe.lateness) or [0.0]
    print(
        json.dumps(
            {
                "polls_per_s": probe.polls / wall,
                "late_p50": lateness[len(lateness) // 2],
                "late_p99": lateness[int(len(lateness) * 0.99)],
                "rss_per": (statistics.median(samples or [rss_bytes()]) - rss0) / k,
                "objects_per": (objects[0] - objects0) / k,
                "cpu_share": cpu / wall,
                "gc_share": probe.gc_time / wall,
                "steady_polls_per_s": steady_polls / (wall2 - wall1),
                "steady_cpu_per_poll": steady_cpu / max(1, steady_polls),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", type=int, nargs="+", default=[100, 500, 1000, 2000])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every contender in turn; each figure is the median over the rounds",
    )
    parser.add_argument("--child", nargs=4, metavar=("KIND", "BASE", "K", "SECONDS"))
    args = parser.parse_args()
    if args.child:
        kind, base, k, seconds = args.child
        child(kind, base, int(k), float(seconds))
        return
    env = {**os.environ, "AIRFLOW_HOME": tempfile.mkdtemp(prefix="httsleep-bench-")}
    median = f", median of {args.repeat} rounds side by side" if args.repeat > 1 else ""
    print(f"K pollers, one poll per {INTERVAL:g} s each for {args.seconds:g} s, one loop{median}")
    print(
        f"{'K':>5} {'contender':<28} {'polls/s':>8} {'vs floor':>9} {'late p50':>9}"
        f" {'late p99':>9} {'RSS/poller':>11} {'objs':>5} {'CPU':>5} {'CPU/poll':>9}"
        f" {'vs floor':>9} {'GC':>5}"
        f" {'steady polls/s':>14} {'vs floor':>9} {'CPU/poll':>8} {'vs floor':>9}"
    )
    with serving() as base:
        for k in args.k:
            rounds = [
                {kind: _run_child(kind, base, k, args.seconds, env) for kind in CONTENDERS}
                for _ in range(args.repeat)
            ]
            for kind in CONTENDERS:
                print(_row(k, kind, rounds), flush=True)
            print(_row(k, "HttSleepTrigger", rounds, AS_REQUESTS), flush=True)


def _run_child(kind: str, base: str, k: int, seconds: float, env: dict[str, str]) -> dict[str, Any]:
    """One contender's figures, from a fresh process (``child``), with its CPU per poll."""
    sizes = (str(k), str(seconds))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_triggers", "--child", kind, base, *sizes],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    figures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    figures["per_poll"] = figures["cpu_share"] / figures["polls_per_s"]  # CPU seconds per poll
    return figures


def _row(
    k: int, kind: str, rounds: list[dict[str, dict[str, Any]]], floor: str | None = None
) -> str:
    """One line: the median of each figure over the rounds, and of each round's ratio to the
    floor measured beside it in that round (a ratio of two runs side by side varies less than
    either run). ``floor``: another contender to compare with than the first (the line names
    both)."""
    label = kind if floor is None else f"{kind} vs row {list(CONTENDERS).index(floor) + 1}"
    floor = floor or next(iter(CONTENDERS))

    def median(name: str) -> float:
        return float(statistics.median(run[kind][name] for run in rounds))

    def ratio(name: str) -> float:
        return float(statistics.median(run[kind][name] / run[floor][name] for run in rounds))

    return (
        f"{k:>5} {label:<28} {median('polls_per_s'):>8.0f} {ratio('polls_per_s'):>8.2f}x"
        f" {median('late_p50') * 1e3:>7.0f}ms {median('late_p99') * 1e3:>7.0f}ms"
        f" {median('rss_per') / 1024:>8.1f}KiB {median('objects_per'):>5.0f}"
        f" {median('cpu_share'):>5.0%}"
        f" {median('per_poll') * 1e6:>7.0f}µs {ratio('per_poll'):>8.2f}x"
        f" {median('gc_share'):>5.0%}"
        f" {median('steady_polls_per_s'):>14.0f} {ratio('steady_polls_per_s'):>8.2f}x"
        f" {median('steady_cpu_per_poll') * 1e6:>6.0f}µs {ratio('steady_cpu_per_poll'):>8.2f}x"
    )


if __name__ == "__main__":
    main()
