"""A trigger's poll lines wait in its loop's outbox and go out together with the other
triggers' (each message to the triggerer's parent wakes its loop and its database queries over
every trigger), each in its own trigger's context, in order, and before its event."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from httsleep_airflow.triggers import _outbox
from httsleep_airflow.triggers._outbox import DELAY, CoalescedLog, Outbox, outbox
from httsleep_airflow.triggers.httsleep import HttSleepTrigger
from tests.airflow.test_deferrable import make_trigger
from tests.scripted_server import Reply, ScriptedServer

#: What the triggerer routes a line by (it binds ``trigger_id`` into each trigger's context).
TRIGGER_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("trigger_id", default=None)
RUNNING = Reply(200, {"status": "RUNNING"})
OK = Reply(200, {"status": "OK"})


class Recorder:
    """A logger that notes each line with the trigger_id its context holds when written."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.lines: list[tuple[int | None, int, str]] = []
        self.fail_on = fail_on
        self.threads: set[int] = set()

    def isEnabledFor(self, level: int) -> bool:
        return level >= logging.INFO

    def log(self, level: int, message: str, *args: Any) -> None:
        text = message % args
        if self.fail_on is not None and self.fail_on in text:
            raise RuntimeError("this handler is broken")
        self.lines.append((TRIGGER_ID.get(), level, text))
        self.threads.add(threading.get_ident())


def test_lines_wait_then_go_out_together_in_order_each_in_its_own_context():
    recorder = Recorder()

    async def trigger(trigger_id: int, box: Outbox, polls: int) -> None:
        TRIGGER_ID.set(trigger_id)
        log = CoalescedLog(recorder, box)
        for poll in range(1, polls + 1):
            log.log(logging.INFO, "poke %d of trigger %d", poll, trigger_id)
            await asyncio.sleep(0)

    async def main() -> None:
        box = Outbox(asyncio.get_running_loop(), delay=3600)
        await asyncio.gather(trigger(1, box, 3), trigger(2, box, 2))
        assert recorder.lines == []  # none written yet: they wait for the timer...
        box.flush()  # ...whose callback this is

    asyncio.run(main())
    assert recorder.lines == [
        (1, logging.INFO, "poke 1 of trigger 1"),
        (2, logging.INFO, "poke 1 of trigger 2"),
        (1, logging.INFO, "poke 2 of trigger 1"),
        (2, logging.INFO, "poke 2 of trigger 2"),
        (1, logging.INFO, "poke 3 of trigger 1"),
    ]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["log", "flush", "pass"])), max_size=30)
)
def test_every_line_is_written_once_in_the_order_logged(steps: list[tuple[int, str]]):
    """Whatever the interleaving of lines, explicit flushes (a trigger ending) and passes of the
    loop (the timer firing), each line is written exactly once, in order, in its context."""
    recorder = Recorder()

    async def main() -> None:
        box = Outbox(asyncio.get_running_loop(), delay=0)
        for number, (trigger_id, step) in enumerate(steps):
            if step == "log":
                contextvars.copy_context().run(_log_as, trigger_id, box, recorder, number)
            elif step == "flush":
                box.flush()
            else:
                await asyncio.sleep(0)
        box.flush()

    asyncio.run(main())
    logged = [(t, logging.INFO, f"line {n}") for n, (t, s) in enumerate(steps) if s == "log"]
    assert recorder.lines == logged


def _log_as(trigger_id: int, box: Outbox, recorder: Recorder, number: int) -> None:
    TRIGGER_ID.set(trigger_id)
    CoalescedLog(recorder, box).log(logging.INFO, "line %d", number)


def test_lines_from_worker_threads_are_written_once_in_order_by_the_loop():
    """The runner judges large bodies and callbacks in a worker thread, whose lines come here
    too: none is lost or written twice while the loop flushes, each keeps its context, and
    only the loop's thread writes (asyncio timers must be set from it)."""
    recorder = Recorder()
    threads, lines = 4, 300

    def work(box: Outbox, trigger_id: int) -> None:
        TRIGGER_ID.set(trigger_id)
        log = CoalescedLog(recorder, box)
        for n in range(lines):
            log.log(logging.INFO, "line %d of %d", n, trigger_id)

    async def main() -> int:
        box = Outbox(asyncio.get_running_loop(), delay=0)
        workers = asyncio.gather(*(asyncio.to_thread(work, box, t) for t in range(threads)))
        while not workers.done():
            await asyncio.sleep(0)  # the loop's passes: timers set, lines flushed meanwhile
        await workers
        for _ in range(3):
            await asyncio.sleep(0)
        return threading.get_ident()

    loop_thread = asyncio.run(main(), debug=True)  # debug: a timer set off its thread raises
    assert len(recorder.lines) == threads * lines
    for t in range(threads):
        mine = [text for trigger_id, _, text in recorder.lines if trigger_id == t]
        assert mine == [f"line {n} of {t}" for n in range(lines)]
    assert recorder.threads == {loop_thread}


def test_the_timer_is_due_within_the_delay_and_is_set_once_per_batch():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        box = Outbox(loop)
        log = CoalescedLog(Recorder(), box)
        log.log(logging.INFO, "a")
        handle = box._handle
        assert handle is not None and 0 < handle.when() - loop.time() <= DELAY
        log.log(logging.INFO, "b")
        assert box._handle is handle  # one timer for the batch
        box.flush()
        assert handle.cancelled() and box._handle is None

    asyncio.run(main())


def test_a_failing_logger_loses_its_own_line_only():
    broken, healthy = Recorder(fail_on="broken"), Recorder()

    async def main() -> None:
        box = Outbox(asyncio.get_running_loop())
        CoalescedLog(healthy, box).log(logging.INFO, "first")
        CoalescedLog(broken, box).log(logging.INFO, "broken line")
        CoalescedLog(healthy, box).log(logging.INFO, "second")
        box.flush()

    asyncio.run(main())
    assert [text for _, _, text in healthy.lines] == ["first", "second"]


def test_each_loop_has_its_own_outbox_and_a_closed_loops_is_dropped():
    async def mine() -> Outbox:
        assert outbox() is outbox()
        return outbox()

    first = asyncio.run(mine())
    second = asyncio.run(mine())
    assert first is not second
    assert first not in _outbox._OUTBOXES.values()  # its loop closed: dropped for the new one


def _our_lines(capfd: pytest.CaptureFixture[str]) -> list[str]:
    out = capfd.readouterr()
    return [line for line in (out.out + out.err).splitlines() if ": GET " in line]


def test_a_trigger_writes_its_lines_before_its_event(server: ScriptedServer, capfd):
    """Its last poll's line is written by the time its event is yielded, though the outbox's
    timer has not fired."""
    server.script(RUNNING, RUNNING, OK)
    trigger = make_trigger(server)

    async def main() -> list[str]:
        outbox()._delay = 3600.0  # the timer never fires within the test
        async for event in trigger.run():
            assert event.payload["status"] == "success"
            return _our_lines(capfd)
        raise AssertionError("no event")

    at_event = asyncio.run(main())
    assert [line.split(": GET")[0].rsplit(" ", 2)[-2:] for line in at_event] == [
        ["poke", "2/6"],
        ["poke", "4/6"],
    ], at_event  # poke 3 repeats poke 2 (DEBUG); poke 4 met the condition


def test_a_cancelled_trigger_still_writes_its_lines(server: ScriptedServer, capfd):
    server.script(RUNNING)
    trigger = HttSleepTrigger(
        endpoint=server.url("/jobs/9"),
        conditions={"until": {"status_code": 201}},
        polling_interval=3600,
    )

    async def main() -> list[str]:
        outbox()._delay = 3600.0
        task = asyncio.ensure_future(anext(trigger.run()))
        while not server.received:
            await asyncio.sleep(0.01)
        for _ in range(50):
            await asyncio.sleep(0)  # the response judged: its line waits in the outbox
        assert _our_lines(capfd) == []
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return _our_lines(capfd)

    (line,) = asyncio.run(main())
    assert "poke 1: GET" in line and "-> 200" in line


class Raising(Recorder):
    def __init__(self, error: type[BaseException]) -> None:
        super().__init__()
        self.error = error

    def log(self, level: int, message: str, *args: Any) -> None:
        raise self.error


def _broken_then_healthy(delay: float, error: type[BaseException], healthy: Recorder) -> Outbox:
    """A loop's outbox holding a line whose logger raises ``error``, then a healthy line."""
    box = Outbox(asyncio.get_running_loop(), delay=delay)
    CoalescedLog(Raising(error), box).log(logging.INFO, "broken")
    CoalescedLog(healthy, box).log(logging.INFO, "after")
    return box


def test_a_handler_raising_systemexit_neither_stops_the_loop_nor_loses_others_lines():
    healthy = Recorder()

    async def main() -> None:
        _broken_then_healthy(0, SystemExit, healthy)
        for _ in range(3):
            await asyncio.sleep(0)  # the timer's flush: SystemExit would end asyncio.run

    asyncio.run(main())
    assert [text for _, _, text in healthy.lines] == ["after"]


def test_a_keyboard_interrupt_goes_on_and_the_lines_after_it_keep_a_timer():
    healthy = Recorder()

    async def main() -> None:
        box = _broken_then_healthy(3600, KeyboardInterrupt, healthy)
        with pytest.raises(KeyboardInterrupt):
            box.flush()
        assert box._handle is not None and healthy.lines == []
        box.flush()

    asyncio.run(main())
    assert [text for _, _, text in healthy.lines] == ["after"]


def test_loops_in_two_threads_flush_at_the_same_time():
    """Each timer runs in a context of its own: a context shared by two loops' timers cannot be
    entered by the second while the first is in it."""
    first_writing, second_wrote = threading.Event(), threading.Event()

    class First(Recorder):
        def log(self, level: int, message: str, *args: Any) -> None:
            first_writing.set()
            second_wrote.wait(10)  # holds its flush until the other loop has written
            super().log(level, message, *args)

    class Second(Recorder):
        def log(self, level: int, message: str, *args: Any) -> None:
            super().log(level, message, *args)
            second_wrote.set()

    first, second = First(), Second()

    def run(recorder: Recorder, before: threading.Event | None) -> None:
        async def main() -> None:
            if before is not None:
                while not before.is_set():
                    await asyncio.sleep(0.001)
            box = Outbox(asyncio.get_running_loop(), delay=0)
            CoalescedLog(recorder, box).log(logging.INFO, "line")
            while not recorder.lines and not second_wrote.is_set():
                await asyncio.sleep(0.001)

        asyncio.run(main())

    threads = [
        threading.Thread(target=run, args=(first, None)),
        threading.Thread(target=run, args=(second, first_writing)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert [text for _, _, text in second.lines] == ["line"]
    assert [text for _, _, text in first.lines] == ["line"]


def test_lines_after_close_are_written_at_once():
    """A cancelled poll's worker thread may log after its trigger ended: written at once."""
    recorder = Recorder()

    async def main() -> None:
        box = Outbox(asyncio.get_running_loop(), delay=3600)
        log = CoalescedLog(recorder, box)
        log.log(logging.INFO, "before")
        log.close()
        assert [text for _, _, text in recorder.lines] == ["before"]
        await asyncio.to_thread(log.log, logging.INFO, "after")
        assert [text for _, _, text in recorder.lines] == ["before", "after"]
        assert box._handle is None

    asyncio.run(main())
