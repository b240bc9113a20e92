"""HttSleepSensor against providers-http's HttpSensor, side by side in one run.

1. Per-poke wall and CPU time in poke mode (``poke()`` called in a loop, as BaseSensorOperator
   does), against a local keep-alive server in another process, with a bare ``requests`` round
   trip as the floor. Both sensors read their connection from an ``AIRFLOW_CONN_*`` variable.
2. DAG-parse cost: building 1,000 sensors inside a DAG (ours with a JSONPath condition).
3. Import cost: what importing the sensor module adds to ``import airflow.sdk``.

Run with ``make bench``. Logging below WARNING is switched off for both sensors alike.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="httsleep-bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import requests

from benchmarks._server import serving

REPORT = sys.stdout  # where results go; main() points stdout itself at /dev/null

UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}


def say(*parts: object) -> None:
    print(*parts, file=REPORT)


def job_done(response: requests.Response) -> bool:
    return response.json()["status"] == "OK"


def timed(function: Callable[[], object], n: int) -> tuple[float, float]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        function()
    return (time.perf_counter() - wall0) / n, (time.process_time() - cpu0) / n


def per_poke(base: str, n: int, rounds: int) -> None:
    from airflow.providers.http.sensors.http import HttpSensor

    from httsleep_airflow.sensors.httsleep import HttSleepSensor

    os.environ["AIRFLOW_CONN_BENCH_HTTP"] = base
    os.environ["AIRFLOW_CONN_BENCH_HTTSLEEP"] = json.dumps({"conn_type": "httsleep", "host": base})

    theirs = HttpSensor(
        task_id="theirs", http_conn_id="bench_http", endpoint="jobs/7", response_check=job_done
    )
    ours = HttSleepSensor(
        task_id="ours", httsleep_conn_id="bench_httsleep", endpoint="jobs/7", until=UNTIL
    )
    ours._sleeper = ours._build_sleeper()  # what execute() does once before its pokes
    session = requests.Session()
    url = base + "/jobs/7"
    contenders: dict[str, Callable[[], object]] = {
        "floor (requests round trip)": lambda: session.get(url, timeout=30).json(),
        "HttpSensor.poke": lambda: theirs.poke({}),
        "HttSleepSensor.poke": lambda: ours.poke({}),
    }
    for contender in contenders.values():
        assert contender() in (False, None) or isinstance(contender(), dict)
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in contenders}
    for _ in range(rounds):
        for name, contender in contenders.items():
            wall, cpu = timed(contender, n)
            results[name][0].append(wall)
            results[name][1].append(cpu)
    medians = {
        name: (statistics.median(w), statistics.median(c)) for name, (w, c) in results.items()
    }
    floor_wall = medians["floor (requests round trip)"][0]
    http_wall, http_cpu = medians["HttpSensor.poke"]
    say(f"per poke, {n} pokes x {rounds} rounds (median round), poke mode")
    say(f"{'':<30} {'wall':>9} {'cpu':>9} {'wall/floor':>11} {'wall/HttpSensor':>16}")
    for name, (wall, cpu) in medians.items():
        say(
            f"{name:<30} {wall * 1e6:>7.0f}us {cpu * 1e6:>7.0f}us {wall / floor_wall:>10.2f}x"
            f" {wall / http_wall:>15.2f}x   (cpu {cpu / http_cpu:.2f}x of HttpSensor)"
        )
    ours._sleeper.close()


def parse_cost(count: int = 1000, rounds: int = 9) -> None:
    import pendulum
    from airflow.providers.http.sensors.http import HttpSensor
    from airflow.sdk import DAG

    from httsleep_airflow.sensors.httsleep import HttSleepSensor

    def build(kind: str) -> None:
        with DAG(f"parse_{kind}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
            for i in range(count):
                if kind == "ours":
                    HttSleepSensor(
                        task_id=f"t{i}",
                        endpoint=f"jobs/{i}",
                        until=UNTIL,
                        alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
                    )
                else:
                    HttpSensor(task_id=f"t{i}", endpoint=f"jobs/{i}", response_check=job_done)

    costs: dict[str, list[float]] = {"HttpSensor": [], "HttSleepSensor": []}
    for _ in range(rounds):
        for label, kind in (("HttpSensor", "theirs"), ("HttSleepSensor", "ours")):
            gc.collect()
            start = time.perf_counter()
            build(kind)
            costs[label].append((time.perf_counter() - start) / count)
    theirs = statistics.median(costs["HttpSensor"])
    ours = statistics.median(costs["HttSleepSensor"])
    say(f"DAG parse, {count} sensors in one DAG (median of {rounds}):")
    say(f"  HttpSensor      {theirs * 1e3:.3f} ms each")
    say(f"  HttSleepSensor  {ours * 1e3:.3f} ms each  ({ours / theirs:.2f}x HttpSensor)")


def import_cost(rounds: int = 7) -> None:
    code = (
        "import time; t0 = time.perf_counter(); import airflow.sdk; t1 = time.perf_counter(); "
        "import httsleep_airflow.sensors.httsleep; t2 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1)"
    )
    sdk, added = [], []
    for _ in range(rounds):
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
        first, second = map(float, out.split()[-2:])
        sdk.append(first)
        added.append(second)
    say(
        f"import: airflow.sdk {statistics.median(sdk) * 1e3:.0f} ms, then the sensor module adds "
        f"{statistics.median(added) * 1e3:.0f} ms (median of {rounds} fresh processes; "
        "goal: < 100 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="pokes per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    # Airflow's log lines (one per poke, from both sensors) go to stdout: send them to
    # /dev/null, formatted as usual, and print the report on the original stdout.
    global REPORT
    REPORT = os.fdopen(os.dup(1), "w", buffering=1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    with serving() as base:
        per_poke(base, args.n, args.rounds)
    parse_cost()
    import_cost()


if __name__ == "__main__":
    main()
