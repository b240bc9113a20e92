"""The errors httsleep raises.

::

    Exception
    ├── HttSleepError                    base of everything below
    │   ├── Alarm                        a response matched an alarm    .response .alarm
    │   ├── ResponseTooLarge             a body went past max_body_bytes  .limit
    │   └── GaveUp                       polling ended with no match    .response .attempts
    │       ├── RetriesExhausted         the attempt budget is spent
    │       │   └── MaxRetriesExceeded   ...as httsleep()/HttSleeper raise it (a StopIteration)
    │       └── DeadlinePassed           the overall deadline has passed
    │           └── DeadlineExceeded     ...as httsleep()/HttSleeper raise it (a StopIteration)
    └── ValueError
        ├── ConditionError (also HttSleepError)   a condition or option is malformed
        ├── JSONTooDeep (also HttSleepError)      a JSON body nests deeper than JSON_MAX_DEPTH
        └── JSONPathTooCostly (also HttSleepError)  a JSONPath would cost more than its budget

    requests.exceptions.ConnectionError         (both runners, from httsleep_airflow._http)
    ├── BodyDropped (also ChunkedEncodingError)  the connection closed inside the body
    └── HeaderTooLarge                           a header line or count past the limits
    requests.exceptions.InvalidURL
    └── RedirectRefused                          a redirect would take a secret body elsewhere
    requests.exceptions.ReadTimeout
    └── RequestDeadlineExceeded                  the request's total deadline passed

The blocking runner raises ``MaxRetriesExceeded`` and ``DeadlineExceeded``, which subclass
``StopIteration`` so that code written for the classic library (``except StopIteration:``) keeps
working. A ``StopIteration`` cannot leave a coroutine (it turns into ``RuntimeError``), so the
core and the asyncio runner raise their bases, ``RetriesExhausted`` and ``DeadlinePassed``:
``except GaveUp`` (or either base) catches both runners' errors. Errors raised by requests (or
translated to them from aiohttp) and not listed in ``ignore_exceptions`` are re-raised as they are.

Both runners raise the same class for the same cause (one translation boundary each, in
``_sync`` and ``_async``); the classes that extend the requests tree live in ``_http``, as this
module imports no I/O library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

__all__ = [
    "Alarm",
    "ConditionError",
    "DeadlineExceeded",
    "DeadlinePassed",
    "GaveUp",
    "HttSleepError",
    "InterruptInThread",
    "JSONPathTooCostly",
    "JSONTooDeep",
    "MaxRetriesExceeded",
    "ResponseTooLarge",
    "RetriesExhausted",
]


class HttSleepError(Exception):
    """Base class of the errors this package raises."""


class InterruptInThread(HttSleepError):
    """User code (a callback, a module it imports) raised, in a worker thread of the async
    runner, an exception that would end more than this wait on the event loop:
    ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit``, a ``CancelledError`` (taken for
    a cancellation of the trigger) or ``StopIteration`` (which no future can carry). It ends
    this wait as an error instead; ``error`` is the exception raised. The requests runner
    raises those as they are (they run on the caller's own thread there).
    """

    error: BaseException | None = None  # also when rebuilt from a trigger's event, without it

    def __init__(self, message: str, error: BaseException | None = None):
        super().__init__(message)
        self.error = error


class ConditionError(HttSleepError, ValueError):
    """An ``until``/``alarms`` condition or a polling option is malformed.

    Raised when the poller is built, but for the TLS files (the CA bundle of ``verify``, the
    client certificate of ``cert``): those are read by the first request to an https URL, as
    requests reads them. Never ignored (``ignore_exceptions``): no retry mends a setting. The
    message names the key or expression at fault.
    """


class JSONTooDeep(HttSleepError, ValueError):
    """A JSON body nests objects and arrays deeper than the limit (``_core.JSON_MAX_DEPTH``).

    A ``ValueError``, like any body that cannot be decoded, so ``ignore_exceptions=[ValueError]``
    covers it.

    :ivar limit: the deepest nesting accepted.
    """

    def __init__(self, message: str, *, limit: int):
        super().__init__(message)
        self.limit = limit


class JSONPathTooCostly(HttSleepError, ValueError):
    """A JSONPath would take more steps on this body than its budget (``_core.JSONPATH_BUDGET``);
    it was not run.

    :ivar expression: the JSONPath's text.
    """

    def __init__(self, message: str, *, expression: str):
        super().__init__(message)
        self.expression = expression


class Alarm(HttSleepError):
    """A response matched one of the alarm conditions.

    Raised as ``Alarm(message, response=..., alarm=...)``; the classic library's positional
    form ``Alarm(response, alarm_condition)`` works too.

    :ivar response: the ``requests.Response`` that matched.
    :ivar alarm: the caller's own condition dict that matched (the very object passed in).
    :ivar mesg: the message (the classic library's name for it).
    """

    def __init__(
        self,
        message: str | requests.Response,
        alarm: dict[str, Any] | None = None,
        *,
        response: requests.Response | None = None,
    ):
        if not isinstance(message, str):  # the classic form: Alarm(response, alarm_condition)
            response, message = message, f"Response matched an error condition: {alarm}"
        super().__init__(message)
        self.response = response
        self.alarm = alarm

    @property
    def mesg(self) -> str:
        return str(self)


class ResponseTooLarge(HttSleepError):
    """A response body was larger than ``max_body_bytes``; it was not read past the limit.

    Raised by the request, so ``ignore_exceptions`` can list it like a connection error.

    :ivar limit: the limit in bytes.
    """

    def __init__(self, message: str, *, limit: int):
        super().__init__(message)
        self.limit = limit


class GaveUp(HttSleepError):
    """Polling stopped before any response met the ``until`` conditions.

    :ivar attempts: how many requests were sent, those of earlier runs counted in.
    :ivar response: the last response, or ``None`` when the last attempt raised an ignored
        exception (then chained as ``__cause__``).
    """

    def __init__(self, message: str, *, attempts: int, response: requests.Response | None):
        super().__init__(message)
        self.attempts = attempts
        self.response = response

    def __str__(self) -> str:  # StopIteration subclasses would show args[0] only; keep it plain.
        return str(self.args[0]) if self.args else ""


class RetriesExhausted(GaveUp):
    """``max_retries`` requests were sent and none met the ``until`` conditions."""


class DeadlinePassed(GaveUp):
    """The overall deadline passed before a response met the ``until`` conditions."""


class MaxRetriesExceeded(RetriesExhausted, StopIteration):
    """``RetriesExhausted``, as the blocking runner raises it: also a ``StopIteration``."""


class DeadlineExceeded(DeadlinePassed, StopIteration):
    """``DeadlinePassed``, as the blocking runner raises it: also a ``StopIteration``."""


#: The blocking runner's form of each core error.
BLOCKING_FORM: dict[type[GaveUp], type[GaveUp]] = {
    RetriesExhausted: MaxRetriesExceeded,
    DeadlinePassed: DeadlineExceeded,
}
