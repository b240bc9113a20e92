"""The floor of a real triggerer (``bench_triggerer --kind floor``): the least a polling trigger
can do. Each polls its URL with a bare aiohttp GET and ``json.loads`` every interval, on one
session per event loop, logs nothing and checks nothing, and waits its share of the interval
(``phase``) before its first poll, as ours does. What the triggerer spends on N of these is
Airflow's own cost of N polling triggers.
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
    def __init__(self, url: str, interval: float, phase: float = 0.0):
        super().__init__()
        self.url = url
        self.interval = interval
        self.phase = phase

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "benchmarks._floor_trigger.FloorTrigger",
            {"url": self.url, "interval": self.interval, "phase": self.phase},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        loop = asyncio.get_running_loop()
        session = _SESSIONS.get(loop)
        if session is None:
            session = _SESSIONS[loop] = aiohttp.ClientSession()
        await asyncio.sleep(self.phase)
        while True:
            async with session.get(self.url) as response:
                data = json.loads(await response.read())
            if data["status"] == "OK":
                yield TriggerEvent({"status": "success"})
                return
            await asyncio.sleep(self.interval)
