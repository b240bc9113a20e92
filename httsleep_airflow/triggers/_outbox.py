"""The poll lines of the triggers on one event loop, handed to Airflow together.

In a triggerer, each line a trigger logs travels from the trigger runner to the triggerer's
parent process, and every message the parent receives wakes its loop, which then runs its
database queries over every trigger it holds (``TriggerRunnerSupervisor.run_once``: loading,
assigning and cleaning up triggers) before it waits again. Written one by one, ten thousand
triggers' lines woke it a hundred times a second and took most of its core; lines written
together wake it once. So a trigger's poll lines wait here, at most ``DELAY`` seconds, and go
out with those of every other trigger on the loop, each in its own trigger's context (the
triggerer routes a line to its trigger's log by a context variable) and in the order they
were logged. A trigger sends its own lines before its event (``flush``), and when it ends in
any way, cancellation included.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import Any

#: The longest a poll line waits before it is written (its time stamp is that much later).
DELAY = 0.1


class Outbox:
    """The lines waiting on one event loop."""

    __slots__ = ("_delay", "_handle", "_lines", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float = DELAY) -> None:
        self._loop = loop
        self._delay = delay
        self._lines: list[tuple[contextvars.Context, Any, int, tuple[Any, ...]]] = []
        self._handle: asyncio.TimerHandle | None = None

    def add(self, log: Any, level: int, args: tuple[Any, ...]) -> None:
        self._lines.append((contextvars.copy_context(), log, level, args))
        if self._handle is None:
            self._handle = self._loop.call_later(self._delay, self.flush, context=_QUIET)

    def flush(self) -> None:
        """Write every waiting line now, oldest first."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        lines, self._lines = self._lines, []
        for context, log, level, args in lines:
            with contextlib.suppress(Exception):  # a failing logger loses its line, not others'
                context.run(log.log, level, *args)


#: The context the timer runs in (the lines run in their own).
_QUIET = contextvars.Context()
_OUTBOXES: dict[asyncio.AbstractEventLoop, Outbox] = {}


def outbox() -> Outbox:
    """The running loop's outbox."""
    loop = asyncio.get_running_loop()
    found = _OUTBOXES.get(loop)
    if found is None:
        for ended in [old for old in _OUTBOXES if old.is_closed()]:
            del _OUTBOXES[ended]
        found = _OUTBOXES[loop] = Outbox(loop)
    return found


class CoalescedLog:
    """A trigger's logger, as the engine's poller uses it (``isEnabledFor``, ``log``), whose
    lines wait in the loop's outbox."""

    __slots__ = ("_log", "_outbox")

    def __init__(self, log: Any, box: Outbox) -> None:
        self._log = log
        self._outbox = box

    def isEnabledFor(self, level: int) -> bool:
        return bool(self._log.isEnabledFor(level))

    def log(self, level: int, *args: Any) -> None:
        self._outbox.add(self._log, level, args)
