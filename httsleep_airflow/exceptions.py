"""The errors httsleep raises.

::

    Exception
    ├── HttSleepError                    base of everything below
    │   ├── Alarm                        a response matched an alarm    .response .alarm
    │   └── GaveUp (also StopIteration)  polling ended with no match    .response .attempts
    │       ├── MaxRetriesExceeded       the attempt budget is spent
    │       └── DeadlineExceeded         the overall deadline has passed
    └── ValueError
        └── ConditionError (also HttSleepError)   a condition or option is malformed

``GaveUp`` subclasses ``StopIteration`` so that code written for the classic library
(``except StopIteration:``) keeps working. Errors raised by requests or aiohttp and not listed in
``ignore_exceptions`` are re-raised as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

__all__ = [
    "Alarm",
    "ConditionError",
    "DeadlineExceeded",
    "GaveUp",
    "HttSleepError",
    "MaxRetriesExceeded",
]


class HttSleepError(Exception):
    """Base class of the errors this package raises."""


class ConditionError(HttSleepError, ValueError):
    """An ``until``/``alarms`` condition or a polling option is malformed.

    Raised when the poller is built, never while polling. The message names the key or
    expression at fault.
    """


class Alarm(HttSleepError):
    """A response matched one of the alarm conditions.

    :ivar response: the ``requests.Response`` that matched.
    :ivar alarm: the caller's own condition dict that matched (the very object passed in).
    """

    def __init__(self, message: str, *, response: requests.Response, alarm: dict[str, Any]):
        super().__init__(message)
        self.response = response
        self.alarm = alarm


class GaveUp(HttSleepError, StopIteration):
    """Polling stopped before any response met the ``until`` conditions.

    :ivar attempts: how many requests were sent in this run.
    :ivar response: the last response, or ``None`` when the last attempt raised an ignored
        exception (then chained as ``__cause__``).
    """

    def __init__(self, message: str, *, attempts: int, response: requests.Response | None):
        super().__init__(message)
        self.attempts = attempts
        self.response = response

    def __str__(self) -> str:  # StopIteration would show args[0] only; keep it explicit.
        return str(self.args[0]) if self.args else ""


class MaxRetriesExceeded(GaveUp):
    """``max_retries`` requests were sent and none met the ``until`` conditions."""


class DeadlineExceeded(GaveUp):
    """The overall deadline passed before a response met the ``until`` conditions."""
