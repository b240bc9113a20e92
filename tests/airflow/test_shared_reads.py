"""Triggers on one event loop share a connection read for a few seconds: a thousand sensors
deferring on one connection read it once, not a thousand times."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.triggers import httsleep as trigger_module
from httsleep_airflow.triggers.httsleep import HttSleepTrigger, SharedReads, TriggerProblem
from tests.scripted_server import Reply


def _triggers(conn_id: str, count: int) -> list[HttSleepTrigger]:
    """``count`` triggers on the connection ``conn_id``, each waiting for a 200."""
    return [
        HttSleepTrigger(
            endpoint=f"jobs/{i}",
            httsleep_conn_id=conn_id,
            conditions={"until": {"status_code": 200}},
            polling_interval=0,
        )
        for i in range(count)
    ]


def test_triggers_deferred_together_read_their_connection_once(monkeypatch, server):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SHARED_READ",
        json.dumps({"conn_type": "httsleep", "host": server.url("/api"), "password": "pw-77"}),
    )
    monkeypatch.setattr(trigger_module, "_CONNECTIONS", SharedReads(trigger_module._read_settings))
    reads = []
    real = HttSleepHook.aget_connection.__func__  # type: ignore[attr-defined]

    async def counted(cls, conn_id):
        reads.append(conn_id)
        return await real(cls, conn_id)

    monkeypatch.setattr(HttSleepHook, "aget_connection", classmethod(counted))
    server.script(Reply(body={"status": "OK"}))
    triggers = _triggers("shared_read", 30)

    async def main() -> list[str]:
        async def one(trigger: HttSleepTrigger) -> str:
            (event,) = [event async for event in trigger.run()]
            return str(event.payload["status"])

        return await asyncio.gather(*(one(t) for t in triggers))

    assert asyncio.run(main()) == ["success"] * 30
    assert reads == ["shared_read"]  # one read for the thirty
    assert len(server.received) == 30
    assert len({r.headers.get("Authorization") for r in server.received}) == 1  # the same auth


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_read_is_kept_for_its_ttl_and_a_failed_one_not_at_all():
    clock = FakeClock()
    calls: list[str] = []
    outcomes = iter([TriggerProblem("backend down", fatal=False), "first", "second"])

    async def read(conn_id: str):
        calls.append(conn_id)
        await asyncio.sleep(0)
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    shared = SharedReads(read, ttl=10, clock=clock)

    async def main() -> None:
        with pytest.raises(TriggerProblem):
            await shared.read("c")
        assert await shared.read("c") == "first"  # the failure was not kept
        clock.advance(9.9)
        assert await shared.read("c") == "first"  # within its ttl: no read
        clock.advance(0.2)
        assert await shared.read("c") == "second"  # past it: read again

    asyncio.run(main())
    assert calls == ["c", "c", "c"]


def test_a_waiting_trigger_cancelled_does_not_cancel_the_others_read():
    async def main() -> None:
        gate = asyncio.Event()

        async def read(conn_id: str) -> str:
            await gate.wait()
            return "settings"

        shared = SharedReads(read)
        first = asyncio.ensure_future(shared.read("c"))
        second = asyncio.ensure_future(shared.read("c"))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        gate.set()
        assert await second == "settings"
        assert first.cancelled()

    asyncio.run(main())


def test_reads_are_per_event_loop():
    calls: list[int] = []

    async def read(conn_id: str) -> int:
        calls.append(id(asyncio.get_running_loop()))
        return len(calls)

    shared = SharedReads(read)
    assert asyncio.run(shared.read("c")) == 1
    assert asyncio.run(shared.read("c")) == 2  # a new loop reads for itself


def test_a_read_that_hangs_ends_every_waiting_trigger_with_a_clear_error_and_is_not_kept():
    answers = iter(["never", "settings"])

    async def read(conn_id: str) -> str:
        if next(answers) == "never":
            await asyncio.Event().wait()  # a supervisor reply that never comes
        return "settings"

    shared = SharedReads(read, timeout=0.05)

    async def main() -> None:
        waiting = await asyncio.gather(
            *(shared.read("c") for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(outcome, TriggerProblem) for outcome in waiting)
        assert "no answer in 0.05 s" in str(waiting[0]) and not waiting[0].fatal
        assert await shared.read("c") == "settings"  # read again, not the failure

    asyncio.run(main())


def test_a_read_cancelled_by_itself_is_a_trigger_problem_not_a_cancellation():
    async def read(conn_id: str) -> str:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # as a backend's own timeout might
        await asyncio.sleep(0)
        return "settings"

    async def main() -> None:
        with pytest.raises(TriggerProblem, match="cancelled"):
            await SharedReads(read).read("c")

    asyncio.run(main())


def test_reads_of_loops_that_ended_are_dropped():
    async def read(conn_id: str) -> str:
        return "settings"

    shared = SharedReads(read)
    for _ in range(5):
        asyncio.run(shared.read("c"))
    assert len(shared._loops) == 1  # only the last loop's (closed loops go at the next read)


def test_the_shared_read_has_the_portal_a_trigger_has():
    import greenback

    async def read(conn_id: str) -> str:
        # a sync SDK call on the loop (mask_secret telling the supervisor) needs the portal
        return str(greenback.await_(asyncio.sleep(0, result="settings")))

    assert asyncio.run(SharedReads(read).read("c")) == "settings"


def test_triggers_that_waited_for_one_read_build_their_sleepers_one_a_loop_pass(
    monkeypatch, server
):
    """Those that waited for one read resume in one pass of the loop: each builds its sleeper
    in a pass of its own, so that no pass holds the loop for all their builds (a thousand held
    it for a second)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SHARED_BUILD",
        json.dumps({"conn_type": "httsleep", "host": server.url("/api"), "password": "pw-77"}),
    )
    monkeypatch.setattr(trigger_module, "_CONNECTIONS", SharedReads(trigger_module._read_settings))
    server.script(Reply(body={"status": "OK"}))
    marks: list[str] = []
    real = HttSleepTrigger.sleeper

    def built(self, *args, **kwargs):
        marks.append("build")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(HttSleepTrigger, "sleeper", built)
    triggers = _triggers("shared_build", 20)

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()

        def a_pass() -> None:  # one mark a pass of the loop, until all have built
            marks.append("pass")
            if marks.count("build") < len(triggers):
                loop.call_soon(a_pass)

        async def one(trigger: HttSleepTrigger) -> str:
            (event,) = [event async for event in trigger.run()]
            return str(event.payload["status"])

        loop.call_soon(a_pass)
        return await asyncio.gather(*(one(t) for t in triggers))

    assert asyncio.run(main()) == ["success"] * 20
    builds = [i for i, mark in enumerate(marks) if mark == "build"]
    assert len(builds) == 20
    assert all(later - earlier > 1 for earlier, later in itertools.pairwise(builds)), marks
