"""The async runner's request deadline (``_async._Deadline``) against ``asyncio.timeout``, which
it stands for: the same outcome and the same task state for every order in which the deadline,
a cancellation from outside and the request's own end can come, on a real event loop (no
time passes: the deadline is due at once, or never, and everything else comes loop pass by
loop pass)."""

from __future__ import annotations

import asyncio
import copy
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from httsleep_airflow._async import _Deadline
from tests.scripted_server import Reply, ScriptedServer

pytestmark = pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout: 3.11+")


async def _under_asyncio_timeout(seconds: float, work: Callable[[], Awaitable[Any]]) -> Any:
    async with asyncio.timeout(seconds):
        return await work()


async def _under_deadline(seconds: float, work: Callable[[], Awaitable[Any]]) -> Any:
    deadline = _Deadline(seconds)
    try:
        result = await work()
    except BaseException as exc:
        deadline.end(exc)
        raise
    deadline.end(None)
    return result


class _OwnCancel(asyncio.CancelledError):
    """A cancellation of the request's own kind (asyncio.timeout turns it into TimeoutError
    from Python 3.12 on, not on 3.11)."""


def _after_passes(
    loop: asyncio.AbstractEventLoop, passes: int, callback: Callable[[], Any]
) -> None:
    """Run ``callback`` once ``passes`` more loop passes have run."""
    if passes == 0:
        loop.call_soon(callback)
    else:
        loop.call_soon(_after_passes, loop, passes - 1, callback)


def _run(guard: Any, deadline_due: bool, cancel_at: int | None, done_at: int, inner: str) -> tuple:
    async def work() -> str:
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        _after_passes(loop, done_at, lambda: answer.done() or answer.set_result("answer"))
        try:
            return await answer
        except asyncio.CancelledError:
            if inner == "swallows":
                return "swallowed"
            if inner == "converts":
                raise ValueError("converted") from None
            if inner == "subclasses":
                raise _OwnCancel from None
            raise

    async def main() -> tuple:
        loop = asyncio.get_running_loop()
        task = loop.create_task(guard(0 if deadline_due else 3600, work))
        if cancel_at is not None:
            _after_passes(loop, cancel_at, task.cancel)
        try:
            outcome: Any = ("returned", await asyncio.shield(task))
        except BaseException as exc:  # the outcome is what is compared
            outcome = ("raised", type(exc).__name__)
        if not task.done():
            await asyncio.sleep(0)
        return outcome, task.cancelling() if not task.done() else None, task.cancelled()

    return asyncio.run(main())


@settings(max_examples=300, deadline=None)
@given(
    deadline_due=st.booleans(),
    cancel_at=st.none() | st.integers(0, 4),
    done_at=st.integers(0, 4),
    inner=st.sampled_from(["plain", "swallows", "converts", "subclasses"]),
)
def test_a_request_deadline_ends_as_asyncio_timeout_would(deadline_due, cancel_at, done_at, inner):
    assert _run(_under_deadline, deadline_due, cancel_at, done_at, inner) == _run(
        _under_asyncio_timeout, deadline_due, cancel_at, done_at, inner
    )


def test_a_deadline_due_is_a_timeout_and_an_outside_cancellation_in_the_same_pass_stays_one():
    assert _run(_under_deadline, True, None, 3, "plain")[0] == ("raised", "TimeoutError")
    assert _run(_under_deadline, True, 0, 3, "plain")[0] == ("raised", "CancelledError")
    assert _run(_under_deadline, False, None, 3, "plain")[0] == ("returned", "answer")


def test_the_wait_between_polls_ends_with_its_task_and_leaves_no_timer_behind():
    from httsleep_airflow._async import AsyncHttSleeper

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sleeper = AsyncHttSleeper("http://127.0.0.1:9/", {"status_code": 200})
        waiting = loop.create_task(sleeper._sleep(3600))
        await asyncio.sleep(0)
        assert [handle.when() - loop.time() > 3000 for handle in loop._scheduled] == [True]
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert all(handle.cancelled() for handle in loop._scheduled)
        await sleeper._sleep(0)  # a zero wait is one loop pass

    asyncio.run(main())


def test_a_run_cancelled_between_polls_leaves_no_timer_behind(server: ScriptedServer):
    """The wait between two polls (the runner's own timer, awaited in the run's own frame)
    ends with its task, as ``asyncio.sleep`` does: no timer of it stays scheduled."""
    from httsleep_airflow._async import AsyncHttSleeper

    server.script(Reply(body={"status": "RUNNING"}))

    def long_timers(loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
        scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
        return [h for h in scheduled if not h.cancelled() and h.when() - loop.time() > 3000]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sleeper = AsyncHttSleeper(
            server.url("/jobs/1"), {"json": {"status": "OK"}}, polling_interval=3600
        )
        async with sleeper:
            waiting = loop.create_task(sleeper.run())

            async def asleep() -> None:
                while not long_timers(loop):
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(asleep(), 10)  # polled once, now waiting for the next
            assert len(server.received) == 1 and len(long_timers(loop)) == 1
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert long_timers(loop) == []

    asyncio.run(main())


def test_a_sleeper_copies_as_before():
    from httsleep_airflow._async import AsyncHttSleeper

    sleeper = AsyncHttSleeper("http://127.0.0.1:9/", {"status_code": 200})
    assert copy.deepcopy(sleeper).request.url == sleeper.request.url


def test_request_deadlines_share_the_wheels_timers_and_end_in_their_slot_never_before():
    """Deadlines of a second or more are kept by the loop's wheel: a thousand requests started
    together add one or two timers, not a thousand, a request that ends leaves its slot, and
    a slot's timer ends every deadline still in it, never before it is due and at most one
    slot after."""
    from httsleep_airflow import _async

    async def main() -> None:
        loop = asyncio.get_running_loop()
        before = set(loop._scheduled)  # type: ignore[attr-defined]
        started = loop.time()
        deadlines = [_Deadline(30.0) for _ in range(1000)]
        timers = set(loop._scheduled) - before  # type: ignore[attr-defined]
        assert 1 <= len(timers) <= 2
        due = started + 30.0
        assert all(due <= timer.when() <= loop.time() + 30.0 + _async._SLOT for timer in timers)
        for deadline in deadlines[1:]:
            deadline.end(None)  # ended in time: out of their slot
        (slot,) = [slot for slot in _async._wheel(loop)._slots.values() if slot]
        assert slot == {deadlines[0]}
        asleep = loop.create_future()
        task = asyncio.current_task()
        assert task is not None
        index = next(index for index, members in _async._wheel(loop)._slots.items() if members)
        loop.call_soon(_async._wheel(loop)._end_slot, index)  # the slot's timer, run now
        with pytest.raises(TimeoutError):
            try:
                await asleep
            except BaseException as exc:
                deadlines[0].end(exc)
                raise
        assert task.cancelling() == 0

    asyncio.run(main())


def test_a_short_request_deadline_has_a_timer_of_its_own():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        before = set(loop._scheduled)  # type: ignore[attr-defined]
        deadline = _Deadline(0.5)
        (timer,) = set(loop._scheduled) - before  # type: ignore[attr-defined]
        assert timer.when() == pytest.approx(loop.time() + 0.5, abs=0.05)
        deadline.end(None)
        assert timer.cancelled()

    asyncio.run(main())


def _driven_clock(loop: asyncio.AbstractEventLoop, start: float = 1000.0) -> list[float]:
    """Make ``loop.time()`` read the returned list's one item: no time passes but what a test
    sets there (the loop is not run; the test ends the wheel's slots itself)."""
    now = [start]
    loop.time = lambda: now[0]  # type: ignore[method-assign]
    return now


def test_a_read_timeout_of_a_second_or_more_is_kept_by_the_wheel_and_waits_on_from_the_last_read():
    """aiohttp starts a connection's read timeout again at every read (a timer each time); on
    the wheel a read only notes its time: the slot, when it ends, waits on from the last read,
    and ends the request as aiohttp does (its payload and the connection get the error) only
    once the timeout has passed since it, never before. A shorter one keeps aiohttp's timer."""
    from aiohttp.client_exceptions import SocketTimeoutError

    from httsleep_airflow import _async

    loop = asyncio.new_event_loop()
    try:
        now = _driven_clock(loop)
        handler = _async._Handler(loop=loop)
        handler.read_timeout = 30.0
        wheel = _async._wheel(loop)
        before = len(loop._scheduled)  # type: ignore[attr-defined]
        handler.start_timeout()  # the request is sent
        slot = handler._read_slot
        assert slot is not None and handler in slot
        index = next(index for index, members in wheel._slots.items() if members is slot)
        assert 1030.0 <= index * _async._SLOT <= 1030.0 + _async._SLOT
        for _ in range(3):
            now[0] += 10.0
            handler._reschedule_timeout()  # a read: no timer, the same slot
        assert len(loop._scheduled) == before + 1  # type: ignore[attr-defined]
        assert handler._read_slot is slot and handler._read_at == 1030.0
        wheel._end_slot(index)  # the slot ends, 30 s after the start but 0 after the last read
        assert handler.exception() is None
        later = handler._read_slot
        assert later is not None and later is not slot and handler in later
        now[0] = 1059.9
        wheel._end_slot(next(i for i, members in wheel._slots.items() if members is later))
        assert handler.exception() is None  # not yet: 29.9 s since the last read
        now[0] = 1060.0
        wheel._end_slot(next(i for i, members in wheel._slots.items() if handler in members))
        assert isinstance(handler.exception(), SocketTimeoutError)
        assert handler._read_slot is None and not any(wheel._slots.values())

        handler = _async._Handler(loop=loop)
        handler.read_timeout = 30.0
        handler.start_timeout()
        slot = handler._read_slot
        handler._drop_timeout()  # the body ended: out of its slot
        assert slot is not None and handler not in slot and handler._read_slot is None

        handler = _async._Handler(loop=loop)
        handler.read_timeout = 0.5
        handler.start_timeout()
        assert handler._read_slot is None and handler._read_timeout_handle is not None
        timer = handler._read_timeout_handle
        handler._drop_timeout()
        assert timer.cancelled()
    finally:
        loop.close()


def test_one_timeout_that_raises_does_not_keep_the_others_of_its_slot_from_ending():
    from httsleep_airflow import _async

    loop = asyncio.new_event_loop()
    try:
        seen: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: seen.append(context))
        wheel = _async._Wheel(loop)
        called: list[str] = []

        def bad() -> None:
            raise RuntimeError("a broken timeout")

        wheel.add(bad, 100.0)
        wheel.add(lambda: called.append("ended"), 100.0)
        (index,) = wheel._slots
        wheel._end_slot(index)
        assert called == ["ended"]
        assert [type(context["exception"]) for context in seen] == [RuntimeError]
    finally:
        loop.close()


def test_a_read_timeout_started_again_shorter_leaves_the_later_slot_and_any_timer_of_aiohttp():
    """As aiohttp starts the read timer again at every start: a connection whose last timeout
    is still pending (a longer one, or a short one on aiohttp's own timer) gets the new one's
    slot, never a later one, and no timer is left behind."""
    from httsleep_airflow import _async

    loop = asyncio.new_event_loop()
    try:
        _driven_clock(loop)
        wheel = _async._wheel(loop)
        handler = _async._Handler(loop=loop)
        handler.read_timeout = 0.5
        handler.start_timeout()  # aiohttp's own timer
        timer = handler._read_timeout_handle
        assert timer is not None
        handler.read_timeout = 30.0
        handler.start_timeout()  # the next request, no drop in between
        assert timer.cancelled() and handler._read_timeout_handle is None
        longer = handler._read_slot
        assert longer is not None and handler in longer
        handler.read_timeout = 5.0
        handler.start_timeout()
        shorter = handler._read_slot
        assert shorter is not None and shorter is not longer and handler not in longer
        (index,) = [index for index, members in wheel._slots.items() if members is shorter]
        assert 1005.0 <= index * _async._SLOT <= 1005.0 + _async._SLOT
        handler._drop_timeout()
        assert not any(wheel._slots.values())
    finally:
        loop.close()
