"""The floor of a real triggerer (``bench_triggerer --kind floor``): the least a polling trigger
can do. Each polls its URL with a bare aiohttp GET and ``json.loads`` every interval, on one
session per event loop, logs nothing and checks nothing, and waits its share of the interval
(``phase``) before its first poll, as ours does. What the triggerer spends on N of these is
Airflow's own cost of N polling triggers.

With ``log_every`` (``bench_triggerer --kind floor-lines``) it also logs a poll line like ours
(the same words and length) ``log_every`` seconds after it started, then at doubling gaps, at
once: what the log rule of a line a minute costs in Airflow's triggerer, whichever trigger
follows it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from airflow.triggers.base import BaseTrigger, TriggerEvent

#: One session per event loop, shared by every floor trigger on it.
_SESSIONS: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


class FloorTrigger(BaseTrigger):
    def __init__(
        self, url: str, interval: float, phase: float = 0.0, log_every: float | None = None
    ):
        super().__init__()
        self.url = url
        self.interval = interval
        self.phase = phase
        self.log_every = log_every

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "benchmarks._floor_trigger.FloorTrigger",
            {
                "url": self.url,
                "interval": self.interval,
                "phase": self.phase,
                "log_every": self.log_every,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        loop = asyncio.get_running_loop()
        session = _SESSIONS.get(loop)
        if session is None:
            session = _SESSIONS[loop] = aiohttp.ClientSession()
        await asyncio.sleep(self.phase)
        polls, quiet, logged_at, gap = 0, 0, loop.time(), self.log_every
        while True:
            async with session.get(self.url) as response:
                data = json.loads(await response.read())
            polls += 1
            if data["status"] == "OK":
                yield TriggerEvent({"status": "success"})
                return
            if gap is not None:
                if loop.time() - logged_at >= gap:
                    self.log.info(
                        'poke %d: GET %s -> %d; pending: status == "OK" (got "%s") '
                        "[%d pokes not shown: as before]",
                        *(polls, self.url, response.status, data["status"], quiet),
                    )
                    quiet, logged_at, gap = 0, loop.time(), gap * 2
                else:
                    quiet += 1
            await asyncio.sleep(self.interval)
