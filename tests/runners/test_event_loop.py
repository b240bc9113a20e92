"""A slow callback does not stall the event loop: it is judged in a worker thread, so other
triggers on the loop keep their schedule. (Large bodies are judged in a thread too, but decoding
JSON holds the GIL: what bounds them is ``max_body_bytes``, tested in the scenario table.)"""

from __future__ import annotations

import asyncio
import time

import requests

from httsleep_airflow._async import AsyncHttSleeper
from tests.scripted_server import Reply, ScriptedServer


def slow_check(response: requests.Response) -> bool:
    time.sleep(0.4)  # a callback doing blocking work
    return True


async def run_with_lag_probe(sleeper: AsyncHttSleeper) -> tuple[requests.Response, float]:
    """Run ``sleeper`` while a ticker measures the longest the loop was unavailable."""
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            worst = max(worst, time.monotonic() - before - 0.01)

    probe = asyncio.ensure_future(ticker())
    async with sleeper:
        response = await sleeper.run()
    done.set()
    await probe
    return response, worst


def test_slow_callback_runs_off_the_loop(server: ScriptedServer):
    server.script(Reply(body={"status": "OK"}))
    sleeper = AsyncHttSleeper(server.url("/jobs/1"), {"callback": slow_check})
    response, worst = asyncio.run(run_with_lag_probe(sleeper))
    assert response.json() == {"status": "OK"}
    assert worst < 0.2  # the callback blocked its thread for 0.4 s, not the loop


def test_what_may_take_long_is_done_off_the_loop(raw_server, monkeypatch):
    """Undoing stacked codings (a small body may hold megabytes of gzip members inside) and
    judging a JSONPath that walks the whole document are done in a worker thread, whatever the
    body's size; a plain small body is undone and judged on the loop."""
    import gzip
    import threading

    from httsleep_airflow import _async, _core
    from tests.raw_server import RawReply

    threads: dict[str, list[bool]] = {"decode": [], "judge": []}
    loop_thread = threading.current_thread()
    real_decode, real_receive = _async.decode_body, _core.Poller.receive

    def decode(*args: object) -> bytes:
        threads["decode"].append(threading.current_thread() is loop_thread)
        return real_decode(*args)  # type: ignore[arg-type]

    def receive(self: _core.Poller, *args: object) -> object:
        threads["judge"].append(threading.current_thread() is loop_thread)
        return real_receive(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_async, "decode_body", decode)
    monkeypatch.setattr(_core.Poller, "receive", receive)
    job = b'{"status": "OK"}'
    cases = [
        (gzip.compress(gzip.compress(job)), "gzip, gzip", "status"),
        (gzip.compress(job), "gzip", "$..status"),
        (gzip.compress(job), "gzip", "status"),
    ]
    for body, coding, expression in cases:
        raw_server.script(RawReply(body=body, headers=[("Content-Encoding", coding)]))
        until = {"jsonpath": [{"expression": expression, "value": "OK"}]}
        sleeper = AsyncHttSleeper(raw_server.url("/j"), until, max_retries=1)
        response, _ = asyncio.run(run_with_lag_probe(sleeper))
        assert response.json() == {"status": "OK"}
    assert threads == {"decode": [False, True, True], "judge": [True, False, True]}


RELEASE = None  # a threading.Event while the test below runs


def blocks_until_released(response: requests.Response) -> bool:
    assert RELEASE is not None
    RELEASE.wait(30)
    return True


def test_callbacks_that_block_do_not_starve_other_pollers(server: ScriptedServer):
    """More callbacks blocked than the runners' own pool has threads: a poller whose large
    body is judged in a worker thread, without a callback, still ends (they share no pool)."""
    import threading

    global RELEASE
    RELEASE = threading.Event()
    server.script(Reply(body={"status": "OK", "pad": "x" * 100_000}))  # judged aside: large

    async def main() -> requests.Response:
        blocked = [
            asyncio.ensure_future(
                AsyncHttSleeper(
                    server.url("/blocked"),
                    {"callback": f"{__name__}.blocks_until_released"},
                    max_retries=1,
                ).run()
            )
            for _ in range(12)
        ]
        try:
            until = {"jsonpath": [{"expression": "status", "value": "OK"}]}
            plain = AsyncHttSleeper(server.url("/plain"), until, max_retries=1)
            return await asyncio.wait_for(plain.run(), 20)  # never reached while starved
        finally:
            RELEASE.set()
            await asyncio.gather(*blocked)

    try:
        assert asyncio.run(main()).status_code == 200
    finally:
        RELEASE.set()
        RELEASE = None
