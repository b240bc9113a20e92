"""Per-poll cost of the engine, side by side with its floor and with the classic httsleep 0.3.1.

Run with ``make bench`` (its own environment has httsleep 0.3.1). For each condition, N pending
polls (the condition never holds, as while a job runs) are timed in rounds, the three contenders
interleaved; the median round gives per-poll wall and CPU time, and each is divided by the floor's.

    (a) floor:    a bare ``requests.Session().get`` loop
    (b) ours:     ``HttSleeper(...).run()`` with ``max_retries=N``, ``polling_interval=0``
    (c) original: ``httsleep.HttSleeper(...).run()`` from PyPI httsleep 0.3.1
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import requests

from benchmarks._server import serving
from httsleep_airflow import HttSleeper, MaxRetriesExceeded

CONDITIONS = {
    "status_code": {"status_code": 201},
    "jsonpath (string)": {"jsonpath": [{"expression": "status", "value": "OK"}]},
    "json": {"json": {"id": 7, "status": "OK", "result": None}},
}


def floor(url: str, until: dict, n: int) -> None:
    session = requests.Session()
    for _ in range(n):
        session.get(url, timeout=30)
    session.close()


def ours(url: str, until: dict, n: int) -> None:
    with HttSleeper(url, until, max_retries=n, polling_interval=0) as sleeper:
        try:
            sleeper.run()
        except MaxRetriesExceeded:
            return
    raise AssertionError("the condition should never hold")


def original(url: str, until: dict, n: int) -> None:
    import httsleep

    sleeper = httsleep.HttSleeper(
        url, until, max_retries=n, polling_interval=0, session=requests.Session()
    )
    try:
        sleeper.run()
    except StopIteration:
        return
    raise AssertionError("the condition should never hold")


CONTENDERS: dict[str, Callable[[str, dict, int], None]] = {
    "floor (requests.Session.get)": floor,
    "httsleep-airflow": ours,
    "httsleep 0.3.1": original,
}


def measure(url: str, n: int, rounds: int) -> None:
    print(f"{n} pending polls per round, {rounds} rounds, median round; server in another process")
    header = f"{'condition':<18} {'contender':<30} {'wall/poll':>10} {'cpu/poll':>10} {'wall x':>7}"
    print(header + f" {'cpu x':>7}")
    for name, until in CONDITIONS.items():
        results: dict[str, tuple[list[float], list[float]]] = {c: ([], []) for c in CONTENDERS}
        for contender in CONTENDERS.values():  # warm up: connections, imports, caches
            contender(url, until, 50)
        for _ in range(rounds):
            for label, contender in CONTENDERS.items():
                wall0, cpu0 = time.perf_counter(), time.process_time()
                contender(url, until, n)
                results[label][0].append((time.perf_counter() - wall0) / n)
                results[label][1].append((time.process_time() - cpu0) / n)
        base_wall = statistics.median(results[next(iter(CONTENDERS))][0])
        base_cpu = statistics.median(results[next(iter(CONTENDERS))][1])
        for label, (walls, cpus) in results.items():
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            print(
                f"{name:<18} {label:<30} {wall * 1e6:>8.0f}us {cpu * 1e6:>8.0f}us"
                f" {wall / base_wall:>6.2f}x {cpu / base_cpu:>6.2f}x"
            )


def construction(repeat: int = 2000) -> None:
    until = {"jsonpath": [{"expression": "result.items[*].state", "value": "done"}]}
    HttSleeper("http://127.0.0.1/jobs/1", until)  # the expression is now seen in this process
    costs = []
    for _ in range(repeat):
        start = time.perf_counter()
        HttSleeper("http://127.0.0.1/jobs/1", until)
        costs.append(time.perf_counter() - start)
    print(
        f"building an HttSleeper with an already-seen JSONPath: median "
        f"{statistics.median(costs) * 1e3:.3f} ms, p99 "
        f"{sorted(costs)[int(repeat * 0.99)] * 1e3:.3f} ms (goal: < 1 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="polls per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with serving() as base:
        measure(base + "/jobs/7", args.n, args.rounds)
    construction()


if __name__ == "__main__":
    main()
