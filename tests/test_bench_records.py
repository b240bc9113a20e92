"""What bench_triggerer reads besides requests: the full garbage collections a process records
(``benchmarks/gcwatch``) and the triggerer's warnings, split at the measured window."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_triggerer import ROOT, count_warnings, full_gc_pauses


def test_a_process_started_with_gcwatch_records_its_full_collections(tmp_path: Path) -> None:
    prefix = tmp_path / "gc"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "benchmarks" / "gcwatch"),
        "HTTSLEEP_GC_WATCH": str(prefix),
    }
    before = time.time()
    code = "import gc, os; gc.collect(); [gc.collect(1) for _ in range(5)]; print(os.getpid())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    pid = done.stdout.strip()
    pauses = full_gc_pauses(tmp_path / f"gc.{pid}", before, time.time())
    assert 1 <= len(pauses) <= 2  # the full one (and one as Python exits), no generation-1 one
    assert all(0 <= took < 5 for took in pauses)
    assert full_gc_pauses(tmp_path / f"gc.{pid}", 0, before) == []  # outside the window
    assert full_gc_pauses(tmp_path / "gc.none", 0, time.time()) == []


def test_warnings_are_split_at_the_window(tmp_path: Path) -> None:
    log = tmp_path / "triggerer.log"
    log.write_text(
        "2026-12-03T10:00:00.500000Z [info] Triggerer's async thread was blocked for 1.0 s\n"
        "2026-12-03T10:00:05.000000Z [info] Triggerer's async thread was blocked for 0.3 s\n"
        "2026-12-03T10:00:09.000000Z [info] 5000 triggers currently running\n"
        "  a continuation line that says: async thread was blocked\n"
    )
    w0 = 1796292004.0  # 2026-12-03T10:00:04Z
    assert count_warnings(log, "async thread was blocked", w0, w0 + 10) == (3, 1)
    assert count_warnings(log, "appears deadlocked", w0, w0 + 10) == (0, 0)
