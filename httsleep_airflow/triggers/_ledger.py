"""The requests a deferred sensor has made, kept where the next triggerer can read them.

A trigger is rebuilt from the kwargs the worker wrote when it deferred. When its triggerer dies,
the triggerer that takes it over would start again from the worker's count, and the dead one's
requests would come on top of ``max_retries``. So each trigger records its count after every
request in an XCom of its own task instance (key ``httsleep_polls``: a small write through the
triggerer's supervisor, the channel Airflow gives triggers for connections, variables and
XComs), and a trigger starts from the larger of the worker's count and the recorded one.

- A budget is never cut short: only requests that were sent are recorded (after they are
  answered or fail), so a slow response or a trigger that starts late changes nothing.
- The overshoot after a triggerer death is at most one request: the one in flight when it died
  (or, had it sent its last request but not its event, that request again).
- The sensor records the worker's count when it defers, so the first read finds a record.
- A trigger that finds more requests recorded than the worker made was taken over: its next
  poll is overdue, so it polls at once (no ``phase``).
- A new try never sees an earlier try's count: Airflow clears a task instance's XComs when a try
  starts (but not when it resumes from a deferral).
- Where the record cannot be read or written (no task instance, the API unreachable), the
  trigger polls on from the worker's count and says so once in its log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, Protocol, TypeVar

KEY = "httsleep_polls"

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Store(Protocol):
    """Where the count lives: one value per task instance."""

    def get(self, ti: Any) -> Any: ...

    def put(self, ti: Any, value: int) -> None: ...


class XComStore:
    """The task instance's XCom ``httsleep_polls``, through the triggerer's supervisor."""

    def get(self, ti: Any) -> Any:
        from airflow.sdk.bases.xcom import BaseXCom

        return BaseXCom.get_one(key=KEY, **_key(ti))

    def put(self, ti: Any, value: int) -> None:
        from airflow.sdk.bases.xcom import BaseXCom

        BaseXCom.set(KEY, value, **_key(ti))


def _key(ti: Any) -> dict[str, Any]:
    return {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "map_index": ti.map_index,
    }


async def _off_loop(function: Callable[..., Any], *args: Any) -> Any:
    """A sync SDK call, made from a worker thread that the supervisor channel serves (calling it
    on the triggerer's loop would block every other trigger, or deadlock)."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(function, thread_sensitive=False)(*args)


class PollLedger:
    """The recorded count of one trigger's task instance."""

    store: Store = XComStore()

    def __init__(self, ti: Any, log: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.ti = ti
        self.log = log
        self._warned = False

    @classmethod
    def of(cls, trigger: Any, log: Any) -> PollLedger | None:
        """The ledger of ``trigger``'s task instance; ``None`` when it has no budget to keep
        (``max_retries`` unset) or runs outside a triggerer (no task instance). ``log``: where
        its warnings go (the trigger's own lines' logger)."""
        ti = getattr(trigger, "task_instance", None)
        if not isinstance(trigger.max_retries, int) or ti is None:
            return None
        return cls(ti, log)

    async def resume(self, attempts_made: int, max_retries: int) -> int:
        """Where the count starts: the larger of the worker's and the recorded one, but with one
        request left (a triggerer that died after its last request but before its event)."""
        return max(attempts_made, min(await self.recorded(), max_retries - 1))

    async def recorded(self) -> int:
        """The count a previous triggerer recorded for this try; 0 when there is none."""
        try:
            value = await _off_loop(self.store.get, self.ti)
        except Exception as exc:
            self._warn("read", exc)
            return 0
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    async def record(self, count: int) -> None:
        try:
            await _off_loop(self.store.put, self.ti, count)
        except Exception as exc:
            self._warn("write", exc)

    def _warn(self, what: str, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            self.log.warning(
                "could not %s the poll count (XCom %s): %s: %s; a triggerer that takes this "
                "trigger over may poll past max_retries by the polls made here",
                what,
                KEY,
                type(exc).__name__,
                exc,
            )

    def counting(
        self, send: Callable[_P, Awaitable[_T]], count: int
    ) -> Callable[_P, Coroutine[Any, Any, _T]]:
        """``send`` (one request), recording ``count`` + the requests sent since, after each."""

        async def send_and_record(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            nonlocal count
            try:
                result = await send(*args, **kwargs)
            except asyncio.CancelledError:
                raise  # the trigger is going away: nothing more to write
            except Exception:
                count += 1
                await self.record(count)
                raise
            count += 1
            await self.record(count)
            return result

        return send_and_record
