"""The poll lines of the triggers on one event loop, handed to Airflow together.

In a triggerer, each line a trigger logs travels from the trigger runner to the triggerer's
parent process, and every message the parent receives wakes its loop, which then runs its
database queries over every trigger it holds (``TriggerRunnerSupervisor.run_once``: loading,
assigning and cleaning up triggers) before it waits again. Written one by one, ten thousand
triggers' lines woke it a hundred times a second and took most of its core; lines written
together wake it once. So a trigger's poll lines wait here, at most ``DELAY`` seconds, and go
out with those of every other trigger on the loop, each in its own trigger's context (the
triggerer routes a line to its trigger's log by a context variable) and in the order they
were logged. A trigger sends its own lines before its event (``CoalescedLog.close``), and when
it ends in any way, cancellation included.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from typing import Any

from httsleep_airflow._async import drop_ended_loops

#: The longest a poll line waits before it is written (its time stamp is that much later).
DELAY = 0.1


class Outbox:
    """The lines waiting on one event loop. Lines may come from the loop's thread or from a
    worker thread (the runner judges large bodies and callbacks in one): the queue is a deque
    (appends and pops are atomic), and only the loop's thread sets the timer."""

    __slots__ = ("_delay", "_handle", "_lines", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float = DELAY) -> None:
        self._loop = loop
        self._delay = delay
        self._lines: deque[tuple[contextvars.Context, Any, int, tuple[Any, ...]]] = deque()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, log: Any, level: int, args: tuple[Any, ...]) -> None:
        self._lines.append((contextvars.copy_context(), log, level, args))
        if self._handle is not None:
            return
        if _running_loop() is self._loop:
            self._arm()
        else:  # a worker thread: the loop sets the timer (flush clears it before it drains)
            with contextlib.suppress(RuntimeError):  # the loop is closed: no line can go out
                self._loop.call_soon_threadsafe(self._arm, context=contextvars.Context())

    def _arm(self) -> None:
        if self._handle is None and self._lines:
            # a context of its own: one Context cannot be entered by two loops' threads at once
            self._handle = self._loop.call_later(
                self._delay, self.flush, context=contextvars.Context()
            )

    def flush(self) -> None:
        """Write the lines waiting now, oldest first (on the loop's thread); lines that come
        meanwhile wait for the next timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        lines = self._lines
        try:
            for _ in range(len(lines)):
                context, log, level, args = lines.popleft()
                # a failing logger loses its line, not others'; SystemExit is no exit here
                with contextlib.suppress(Exception, SystemExit):
                    context.run(log.log, level, *args)
        finally:
            if lines:
                self._arm()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_OUTBOXES: dict[asyncio.AbstractEventLoop, Outbox] = {}


def outbox() -> Outbox:
    """The running loop's outbox (loops of other threads may ask at the same time)."""
    loop = asyncio.get_running_loop()
    found = _OUTBOXES.get(loop)
    if found is None:
        drop_ended_loops(_OUTBOXES)
        found = _OUTBOXES.setdefault(loop, Outbox(loop))
    return found


class CoalescedLog:
    """A trigger's logger, as the engine's poller uses it (``isEnabledFor``, ``log``), whose
    lines wait in the loop's outbox until the trigger ends (``close``); later lines are written
    at once."""

    __slots__ = ("_closed", "_outbox", "logger")

    def __init__(self, logger: Any, box: Outbox) -> None:
        self.logger = logger  #: where the lines go
        self._outbox = box
        self._closed = False

    def isEnabledFor(self, level: int) -> bool:
        return bool(self.logger.isEnabledFor(level))

    def log(self, level: int, *args: Any) -> None:
        if self._closed:
            self.logger.log(level, *args)
        else:
            self._outbox.add(self.logger, level, args)

    def close(self) -> None:
        """Write the waiting lines now (this trigger's among them), and any later at once."""
        self._closed = True
        self._outbox.flush()
