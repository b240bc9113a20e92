"""Loaded by every Python process that bench_triggerer starts with this folder on its path:
when ``HTTSLEEP_GC_WATCH`` names a file prefix, each process appends the wall time and duration
of every full (generation 2) garbage collection to ``<prefix>.<pid>``. A full collection stops
the process's event loop for as long as it walks every object the process holds."""

from __future__ import annotations

import gc
import os
import time
from typing import Any

_PREFIX = os.environ.get("HTTSLEEP_GC_WATCH")

if _PREFIX:
    _started = [0.0]

    def _watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _started[0] = time.perf_counter()
        elif info["generation"] == 2:
            took = time.perf_counter() - _started[0]
            with open(f"{_PREFIX}.{os.getpid()}", "a") as out:
                out.write(f"{time.time():.3f} {took:.4f}\n")

    gc.callbacks.append(_watch)
