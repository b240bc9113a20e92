"""The aiohttp runner's shared pool: a stalled host cannot starve another, and waiting for a
pooled connection counts against the request deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from httsleep_airflow._async import POOL_PER_HOST, AsyncHttSleeper
from httsleep_airflow._http import RequestDeadlineExceeded
from tests.raw_server import RawReply, RawServer
from tests.scripted_server import Reply, ScriptedServer

UNTIL = {"status_code": 200}


@pytest.fixture
def stalled() -> RawServer:
    server = RawServer().start()
    server.script(RawReply(body=b"{}", delay=2.0))
    yield server
    server.stop()


def test_a_stalled_host_does_not_starve_another(stalled: RawServer, server: ScriptedServer):
    server.script(Reply(body={"status": "OK"}))

    async def poll(url: str, **options) -> float:
        started = time.monotonic()
        async with AsyncHttSleeper(url, UNTIL, max_retries=1, **options) as sleeper:
            await sleeper.run()
        return time.monotonic() - started

    async def main() -> None:
        stuck = [
            asyncio.create_task(poll(stalled.url(f"/{i}"), timeout=10))
            for i in range(POOL_PER_HOST)
        ]
        while len(stalled.received) < POOL_PER_HOST:  # every connection to it is busy
            await asyncio.sleep(0.01)
        # another host: served at once, though the pool holds 100 stalled connections
        assert await poll(server.url("/jobs/1"), timeout=1) < 0.5
        # the same host: waits for a connection, and that wait counts against its deadline
        started = time.monotonic()
        with pytest.raises(RequestDeadlineExceeded):
            await poll(stalled.url("/late"), timeout=10, request_deadline=0.3)
        assert time.monotonic() - started < 1.0
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)

    asyncio.run(main())
