"""The real-triggerer benchmark, run at a tiny N so that it cannot rot: every kind (the floors
and both triggers) starts in a real ``airflow triggerer``, every deferred task instance polls, and
the figures are sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
N, INTERVAL, WINDOW = 20, 2.0, 2.0


def test_every_kind_runs_in_a_real_triggerer(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    command = [sys.executable, "-m", "benchmarks.bench_triggerer", "-n", str(N)]
    command += ["-i", str(INTERVAL), "-w", str(WINDOW), "--start-timeout", "30", "--json", str(out)]
    command += ["--kind", "floor", "floor-lines", "httsleep", "http"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["kind"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {
        "floor (bare aiohttp)",
        "floor, a line a minute",
        "HttSleepTrigger",
        "HttpSensorTrigger",
    }
    for kind, row in rows.items():
        assert row["started"] == N, kind  # every deferred task instance's trigger polled
        assert row["start_seconds"] < 30, kind
        ideal = N / INTERVAL
        assert 0.5 * ideal <= row["polls_per_s"] <= 1.5 * ideal, (kind, row)
        assert 0 <= row["late_p50"] < INTERVAL, (kind, row)
        assert row["cpu_runner"] > 0, (kind, row)  # (the floor's parent may idle in 2 s)
        assert row["kwargs_bytes"] > 0, (kind, row)
        assert row["deadlocked"] == 0, (kind, row)
    # The worker's poke 1 was each wait's first line (``follows``, through Airflow's own
    # serialization of the kwargs): in a 2 s window, ours' triggers write no line of their
    # own, only Airflow's, as the floor's do.
    ours, floor = rows["HttSleepTrigger"], rows["floor (bare aiohttp)"]
    assert 0 < ours["log_per_poll"] <= 1.2 * floor["log_per_poll"], (ours, floor)
    for kind in rows:
        assert kind in done.stdout  # the table names each row
