"""The polling state machine. It decides; runners send requests and sleep.

A runner repeats::

    action = poller.next_action(now)
    Done(response)  -> return response
    Sleep(seconds)  -> sleep that long
    Send()          -> poller.receive(<the response, or the exception sending raised>, now)

``receive`` raises ``Alarm``, ``RetriesExhausted``, ``DeadlinePassed`` or a non-ignored
exception; ``next_action`` never raises. The poller holds no socket and reads no clock: ``now``
comes from the runner (any monotonic clock), so tests drive it as plain function calls.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import logging
import math
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from httsleep_airflow._conditions import Judgement, Rules, Verdict, excerpt, shown
from httsleep_airflow._dotted import import_dotted
from httsleep_airflow._secrets import joined, redact, redact_exception, scrub, tidy
from httsleep_airflow.exceptions import (
    Alarm,
    ConditionError,
    DeadlinePassed,
    GaveUp,
    RetriesExhausted,
)

if TYPE_CHECKING:
    import requests

__all__ = ["Done", "Policy", "PollLog", "Poller", "Send", "Sleep"]

logger = logging.getLogger("httsleep_airflow")

#: The largest count an argument takes (``max_retries``, ``attempts_made``): what a 64-bit
#: integer holds, as Airflow's events and MessagePack carry one.
MAX_COUNT = 2**63 - 1
#: Statuses whose ``Retry-After`` header sets the next wait.
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: Default upper bound for a server-requested wait, in seconds.
DEFAULT_RETRY_AFTER_CAP = 300.0

# --- HTTP limits: both runners obey these, and only these (docs/reference.md: "Limits") ------

#: Redirects followed per request; one more is ``requests.exceptions.TooManyRedirects``.
MAX_REDIRECTS = 30
#: Statuses that redirect, and those of them that turn the method into GET (and drop the body)
#: when it is not already GET/HEAD: 303 always, 301/302 for POST (what browsers and requests do).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: The longest header accepted (name and value, in characters) and the most header lines; a
#: response past either is ``HeaderTooLarge``, in both runners. Both HTTP parsers are set (or
#: are) no stricter than this, so this rule decides (http.client refuses a 100th line: it counts
#: the blank line that ends them); a status line past ``MAX_STATUS_LINE`` bytes stops both.
MAX_HEADER_LINE = 16384
MAX_HEADERS = 99
MAX_STATUS_LINE = 65536
#: The most interim (``1xx``) responses read before the final one: a server that sends them
#: without end would have the runner parse them until the request's deadline.
MAX_INTERIM = 100
#: The content codings decoded, in any chain of at most ``MAX_ENCODINGS`` (``gzip, gzip``
#: included); a body whose chain holds any other coding is handed on as it came.
CONTENT_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "identity"})
MAX_ENCODINGS = 4
#: What both runners send as ``Accept-Encoding`` unless the request sets its own.
ACCEPT_ENCODING = "gzip, deflate"
#: The most cookies a wait keeps, and the largest one (in characters, every attribute), as
#: RFC 6265 asks of a client at least: a server that sets more, or larger, ones poll after
#: poll would grow what every poll sends and every waiting trigger holds without end.
MAX_COOKIES = 50
MAX_COOKIE_SIZE = 4096
#: The deepest JSON nesting decoded (objects and arrays); deeper is ``JSONTooDeep``.
JSON_MAX_DEPTH = 100
#: The most steps one JSONPath evaluation may cost, estimated before it runs when it holds a
#: ``..``: the values in the document, times its depth for each further ``..``. More is
#: ``JSONPathTooCostly`` (a ``ValueError``): one poll is bounded (the aiohttp runner judges
#: such an expression in a worker thread: a step costs 10 to 15 microseconds, so about a
#: second and a half at most).
JSONPATH_BUDGET = 100_000
#: A request's total deadline (connect, headers and the whole body), when ``request_deadline``
#: is not given: the connect timeout plus this many read timeouts.
DEADLINE_FACTOR = 2
#: A request sent when ``max_wait`` has (nearly) run out, its last look, may still take this
#: long (within its own deadline): ``max_wait`` overruns by at most this much.
LAST_LOOK_SECONDS = 1.0
#: The largest number of seconds any option takes (a year): more is a mistake, not a wish.
MAX_SECONDS = 366 * 24 * 3600.0


#: A poll whose result repeats the last line's is logged again at INFO once this many seconds
#: have passed since that line, then at gaps that double up to ``REPEAT_MAX_GAP``; the polls in
#: between go to DEBUG (docs/engine.md: "Logging").
REPEAT_FIRST_GAP = 60.0
REPEAT_MAX_GAP = 960.0


@dataclass(frozen=True, slots=True)
class Send:
    """Send one request now."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds, then ask again."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Done:
    """A response met ``until``; polling is over."""

    response: requests.Response


SEND = Send()


def _exception_classes(value: Any) -> tuple[type[BaseException], ...]:
    if value is None:
        return ()
    if isinstance(value, str | type):
        value = [value]
    classes = []
    for item in value:
        cls = item
        if isinstance(item, str):
            try:
                cls = import_dotted(item)
            except ImportError as exc:
                raise ConditionError(
                    f"ignore_exceptions: {item!r} cannot be imported: {exc}"
                ) from None
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise ConditionError(
                f"ignore_exceptions: {item!r} is not an exception class "
                "(give classes or 'package.module.ClassName' strings)"
            )
        classes.append(cls)
    return tuple(classes)


def check_seconds(
    name: str,
    value: Any,
    *,
    minimum: float = 0,
    allow_equal: bool = True,
    maximum: float = MAX_SECONDS,
) -> float:
    """``value`` as float seconds, checked: a finite number, at least (or more than)
    ``minimum``, at most ``maximum``.

    :raises ConditionError: naming ``name``: not a number, NaN, infinite, or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConditionError(f"{name} must be a number of seconds, not {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        seconds = math.inf
    if math.isnan(seconds) or math.isinf(seconds):
        raise ConditionError(f"{name} must be a finite number of seconds, not {value!r}")
    if seconds < minimum or (not allow_equal and seconds == minimum):
        relation = "at least" if allow_equal else "more than"
        raise ConditionError(f"{name} must be {relation} {minimum:g}, not {value!r}")
    if seconds > maximum:
        raise ConditionError(
            f"{name} must be at most {maximum:g} seconds, not {value!r}: "
            "an infinite or absurd wait cannot run"
        )
    return seconds


def check_timeout(value: Any, name: str = "timeout") -> float | tuple[float, float] | None:
    """Validate a per-request ``timeout``: seconds, a ``(connect, read)`` pair, or ``None``."""
    if value is None:
        return None
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ConditionError(f"{name} must be seconds or a (connect, read) pair, not {value!r}")
        connect, read = (check_seconds(name, part, minimum=0, allow_equal=False) for part in value)
        return (connect, read)
    return check_seconds(name, value, minimum=0, allow_equal=False)


def request_deadline(
    timeout: float | tuple[float, float] | None, explicit: float | None = None
) -> float | None:
    """The total seconds one request may take (connect, headers, whole body): ``explicit``
    when given, else the connect timeout plus ``DEADLINE_FACTOR`` read timeouts; ``None`` (no
    bound but ``max_wait``) when ``timeout`` is ``None`` too."""
    if explicit is not None:
        return explicit
    if timeout is None:
        return None
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return connect + DEADLINE_FACTOR * read


@dataclass(frozen=True, slots=True)
class Policy:
    """How long and how often to poll. Checked when created."""

    max_retries: int | None = 50
    polling_interval: float = 2.0
    ignore_exceptions: tuple[type[BaseException], ...] = ()
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP

    @classmethod
    def build(
        cls,
        *,
        max_retries: int | None = 50,
        polling_interval: float = 2,
        ignore_exceptions: Iterable[type[BaseException] | str] | None = None,
        retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP,
    ) -> Policy:
        if max_retries is not None and (
            isinstance(max_retries, bool)
            or not isinstance(max_retries, int)
            or not 1 <= max_retries <= MAX_COUNT
        ):
            raise ConditionError(
                "max_retries must be a whole number of at least 1 (at most 2**63 - 1), or None, "
                f"not {shown(max_retries)}"
            )
        return cls(
            max_retries=max_retries,
            polling_interval=check_seconds("polling_interval", polling_interval, minimum=0),
            ignore_exceptions=_exception_classes(ignore_exceptions),
            retry_after_cap=check_seconds("retry_after_cap", retry_after_cap, minimum=0),
        )


def retry_after_seconds(response: requests.Response, wall_now: float) -> float | None:
    """Seconds a 429/503 response asks us to wait (``Retry-After``), or ``None``."""
    if response.status_code not in RETRY_AFTER_STATUSES:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if not value.isascii():  # "²" and Arabic-Indic digits are digits to str.isdigit, not to HTTP
        return None
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    reference = wall_now
    server_date = response.headers.get("Date")
    if server_date:  # measure against the server's own clock: immune to clock skew
        reference = _http_date(server_date) or reference
    return max(0.0, when - reference)


def _http_date(value: str) -> float | None:
    """The Unix time of an HTTP date, in any of its three forms (RFC 9110: IMF-fixdate, RFC 850,
    asctime), always GMT: the asctime form names no zone, and is GMT too (not local time)."""
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class PollLog:
    """Which poll lines are worth INFO, for one wait.

    The first poll, every change of result (the pending reason with its status, or the error
    ignored), a ``Retry-After`` wait and the last poll are; a result repeated is again after
    ``REPEAT_FIRST_GAP`` seconds, then at doubling gaps (up to ``REPEAT_MAX_GAP``). The rest go
    to DEBUG, and the next INFO line counts them. A sensor in poke mode keeps one across its
    pokes, so its task log thins out as a trigger's does.

    A wait goes on in another process (the worker's pokes, then a trigger's polls) with
    ``follows``: the ``fingerprint`` of the last line shown there. A first poll whose line
    would say the same is a repeat, its clock starting then, not a first line.

    :param follows: a ``fingerprint`` made by the part of the wait that ran before; anything
        but a string is ignored.
    """

    __slots__ = ("_gap", "_last", "_quiet", "_shown", "_shown_at", "follows")

    def __init__(self, follows: str | None = None) -> None:
        self._last: Hashable = _NOTHING
        self._shown_at = -math.inf
        self._gap = REPEAT_FIRST_GAP
        self._quiet = 0
        self._shown: str | None = None
        self.follows = follows if isinstance(follows, str) else None

    def level(self, result: Hashable, now: float, *, notable: bool = False) -> tuple[int, int]:
        """The level of the line for a poll that found ``result`` at ``now``, and how many polls
        went to DEBUG since the last INFO line (all with that line's result)."""
        repeated = result == self._last
        if repeated and not notable and now - self._shown_at < self._gap:
            self._quiet += 1
            return logging.DEBUG, 0
        if repeated and not notable:
            self._gap = min(self._gap * 2, REPEAT_MAX_GAP)
        else:
            self._gap = REPEAT_FIRST_GAP
        quiet, self._quiet = self._quiet, 0
        self._last, self._shown_at = result, now
        return logging.INFO, quiet

    def follow(self, result: Hashable, now: float, text: str) -> None:
        """The first poll of a wait that goes on from ``follows``: when its line, ``text``,
        says what the last line shown there said, it is a repeat of it, shown at ``now``."""
        if _digest(text) == self.follows:
            self._last, self._shown_at = result, now
        self.follows = None

    def showed(self, text: str) -> None:
        """The line of the poll just shown at INFO said ``text`` (for ``fingerprint``)."""
        self._shown = _digest(text)

    def fingerprint(self) -> str | None:
        """What the last line shown said, as ``follows`` takes it in another process (``None``
        before the first): a short hash of that line's text, as written to the log (its
        secrets already redacted, its excerpts already cut), so it holds nothing the log does
        not show and costs the same whatever the server sent."""
        return self._shown


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(errors="replace"), digest_size=8).hexdigest()


_NOTHING: Hashable = object()


class Poller:
    """One polling run: attempts, verdicts, waits and the deadline.

    :param rules: the compiled ``until``/``alarms``.
    :param policy: the retry budget, interval, ignored exceptions and Retry-After cap.
    :param label: what is polled, for log lines, e.g. ``"GET https://api/jobs/7"``; it must not
        hold credentials.
    :param attempts_made: attempts already spent elsewhere (an earlier poke or worker).
    :param deadline: give up once ``now`` passes it (same clock as ``now``), or ``None``.
    :param log: where the one line per poll goes.
    :param noun: what a log line calls one attempt ("poll", or "poke" in a sensor).
    :param wall_clock: wall time, only to read ``Retry-After`` dates when the server sends no
        ``Date`` header.
    :param secrets: strings replaced by ``***`` in every log line and message (see
        ``_secrets.tidy``): a server may echo credentials in the bodies quoted there.
    :param poll_log: which lines go out at INFO (``PollLog``); one of its own by default.
    """

    __slots__ = (
        "_action",
        "_last_error",
        "_last_response",
        "attempts",
        "deadline",
        "label",
        "log",
        "noun",
        "policy",
        "poll_log",
        "rules",
        "secrets",
        "wall_clock",
    )

    def __init__(
        self,
        rules: Rules,
        policy: Policy,
        *,
        label: str = "",
        attempts_made: int = 0,
        deadline: float | None = None,
        log: logging.Logger | logging.LoggerAdapter[Any] = logger,
        noun: str = "poll",
        wall_clock: Callable[[], float] = time.time,
        secrets: tuple[str, ...] = (),
        poll_log: PollLog | None = None,
    ):
        self.rules = rules
        self.poll_log = PollLog() if poll_log is None else poll_log
        self.policy = policy
        self.label = label
        self.attempts = attempts_made
        self.deadline = deadline
        self.log = log
        self.noun = noun
        self.wall_clock = wall_clock
        self.secrets = secrets
        self._action: Send | Sleep | Done = SEND
        self._last_response: requests.Response | None = None
        self._last_error: BaseException | None = None

    @property
    def budget_left(self) -> int | None:
        """Requests still allowed, or ``None`` for no limit."""
        if self.policy.max_retries is None:
            return None
        return max(0, self.policy.max_retries - self.attempts)

    def request_budget(self, now: float, deadline: float | None) -> float | None:
        """Seconds the next request may take in all: its own ``deadline`` (see
        ``request_deadline``), cut by what is left of the run's; ``None``: no bound."""
        if self.deadline is None:
            return deadline
        left = max(LAST_LOOK_SECONDS, self.deadline - now)
        return left if deadline is None else min(deadline, left)

    def next_action(self, now: float) -> Send | Sleep | Done:
        """What the runner should do next."""
        action = self._action
        if isinstance(action, Sleep):
            self._action = SEND
        return action

    def receive(self, outcome: requests.Response | Exception, now: float) -> Judgement | None:
        """Take the result of the request just sent: a response, or the exception raised.

        :returns: the judgement of a response (``None`` for an ignored exception).
        :raises Alarm: the response matched an alarm.
        :raises RetriesExhausted: that was the last attempt allowed, without a match.
        :raises DeadlinePassed: the deadline has passed, without a match.
        :raises Exception: ``outcome`` itself, or an error raised while judging it (JSON decoding,
            a callback), when it is not in ``ignore_exceptions`` (a ``ConditionError`` never is).
        """
        try:
            return self._receive(outcome, now)
        finally:
            # Nothing of this poll outlives it (but the response in ``Done``): among thousands
            # of waits on one loop, objects kept across a sleep are what the GC walks again.
            self._last_response = self._last_error = None

    def _receive(self, outcome: requests.Response | Exception, now: float) -> Judgement | None:
        self.attempts += 1
        judgement: Judgement | None = None
        error: Exception | None = None
        if isinstance(outcome, Exception):
            error = outcome
        else:
            self._last_response = outcome
            try:
                judgement = self.rules.judge(outcome)
            except Exception as exc:
                error = exc
        if error is not None:
            redact_exception(error, self.secrets)  # it may quote the body, the URL, a secret
            if self.deadline is not None and now >= self.deadline and outcome is error:
                # the request was cut by max_wait: the run is over, whatever the error
                self._last_error, self._last_response = error, None
                self._give_up(DeadlinePassed, f"deadline passed after {self.attempts} attempts")
            if not isinstance(error, self.policy.ignore_exceptions) or isinstance(
                error,
                ConditionError,  # a setting (a TLS file) no retry mends
            ):
                raise error
            self._last_error = error
            if isinstance(outcome, Exception):
                self._last_response = None
            text = f"{type(error).__name__}: {scrub(str(error), self.secrets, 120)} (ignored)"
            self._after_miss(now, (type(error), text), lambda: text)
            return judgement
        else:
            self._last_error = None
            assert judgement is not None
            response = outcome
            assert not isinstance(response, Exception)
            if judgement.verdict is Verdict.ALARM:
                assert judgement.clause is not None
                message = (
                    f"alarm {excerpt(judgement.clause.source, 200, self.secrets)} matched: "
                    + response_excerpt(response, self.secrets)
                )
                self._log_line(f"{response.status_code}; {message}", level=logging.WARNING)
                raise Alarm(message, response=response, alarm=judgement.clause.source)
            if judgement.verdict is Verdict.MET:
                self._log_line(f"{response.status_code}; met")
                self._action = Done(response)
                return judgement
            self._after_miss(
                now,
                (response.status_code, self._pending_key(judgement)),
                lambda: (
                    f"{response.status_code}; pending: " + self._explain(judgement, self.secrets)
                ),
            )
        return judgement

    def _pending_key(self, judgement: Judgement) -> Hashable:
        """The pending reason unworded (``Rules.pending_key``): it is compared on every poll."""
        try:
            key: Hashable = self.rules.pending_key(judgement)
        except Exception:  # worded instead, as explaining would go
            key = self._explain(judgement)
        return key

    def _explain(self, judgement: Judgement, secrets: tuple[str, ...] = ()) -> str:
        try:
            return self.rules.explain_pending(judgement, secrets)
        except Exception as exc:
            return f"({type(exc).__name__} while explaining)"

    def _after_miss(self, now: float, result: Hashable, describe: Callable[[], str]) -> None:
        """After a poll that did not end the run: log it (``PollLog`` decides the level;
        ``describe`` makes the line only when it is written), then give up or sleep."""
        max_retries = self.policy.max_retries
        exhausted = max_retries is not None and self.attempts >= max_retries
        late = self.deadline is not None and now >= self.deadline
        delay = self.policy.polling_interval
        asked = None
        if self._last_response is not None and not exhausted:
            asked = retry_after_seconds(self._last_response, self.wall_clock())
            if asked is not None:
                delay = max(delay, min(asked, self.policy.retry_after_cap))
        poll_log, text = self.poll_log, None
        if poll_log.follows is not None:  # the first poll of a wait begun elsewhere
            text = describe()
            poll_log.follow(result, now, text)
        level, quiet = poll_log.level(result, now, notable=exhausted or late or asked is not None)
        if self.log.isEnabledFor(level):
            line = describe() if text is None else text
            if level == logging.INFO:  # shown: what a wait going on elsewhere follows
                poll_log.showed(line)
            if asked is not None:
                line += f"; waiting {delay:g} s as the server asked (Retry-After)"
            if quiet:
                line += f" [{quiet} {self.noun}{'s' if quiet > 1 else ''} not shown: as before]"
            self._log_line(line, level)
        if exhausted:
            self._give_up(RetriesExhausted, f"no match after {self.attempts} attempts")
        if self.deadline is not None:
            if late:
                self._give_up(DeadlinePassed, f"deadline passed after {self.attempts} attempts")
            delay = min(delay, self.deadline - now)  # one last look at the deadline itself
        self._action = Sleep(delay)

    def _give_up(self, kind: type[GaveUp], text: str) -> None:
        response = self._last_response
        if response is not None:
            text += f"; last response: {response_excerpt(response, self.secrets)}"
        elif self._last_error is not None:
            text += f"; last attempt raised {type(self._last_error).__name__}"
        raise kind(
            redact(text, self.secrets), attempts=self.attempts, response=response
        ) from self._last_error

    def _log_line(self, result: str, level: int = logging.INFO) -> None:
        limit = self.policy.max_retries
        of = f"/{limit}" if limit is not None else ""
        line = redact(f"{self.label} -> {result}", self.secrets)
        self.log.log(level, "%s %d%s: %s", self.noun, self.attempts, of, line)


def response_excerpt(
    response: requests.Response, secrets: tuple[str, ...] = (), limit: int = 200
) -> str:
    """``"<status> <start of body>"`` for messages: the body with ``secrets`` redacted, then
    cut to ``limit`` characters. A body without a declared charset is read as requests reads
    it, but one of more than ``EXCERPT_BYTES`` that is UTF-8 is read as such without asking
    requests' detection (over megabytes it takes seconds, holding the GIL: it stalled a
    triggerer's loop from a worker thread). Read in another charset, a secret of letters past
    ASCII is redacted as that charset shows its UTF-8 bytes too."""
    try:
        body, charset = _body_text(response)
    except Exception:  # undecodable bodies still get a status
        body, charset = "", None
    if charset is not None and secrets:
        secrets = joined(secrets, tidy(_misread(secrets, charset)))
    return f"{response.status_code} {scrub(body, secrets, limit)}".rstrip()


#: Past this, a body without a declared charset that is UTF-8 is read as such, undetected.
EXCERPT_BYTES = 64 * 1024


def _body_text(response: requests.Response) -> tuple[str, str | None]:
    """``response.text``, and the charset it was read in (``None``: a UTF one)."""
    if response.encoding is not None:  # declared, or ISO-8859-1 for text/* (requests' rule)
        return response.text, _not_utf(response.encoding)
    content = response.content or b""
    if len(content) > EXCERPT_BYTES:
        try:
            return content.decode("utf-8"), None
        except UnicodeDecodeError:
            pass
    if not content:
        return "", None
    charset = response.apparent_encoding  # response.text, detected once
    try:
        text = str(content, charset or "", errors="replace")
    except (LookupError, TypeError):
        return str(content, errors="replace"), None
    return text, _not_utf(charset)


def _not_utf(charset: str | None) -> str | None:
    return None if not charset or "utf" in charset.replace("-", "").lower() else charset


def _misread(secrets: tuple[str, ...], charset: str) -> tuple[str, ...]:
    """The secrets past ASCII as a text read in ``charset`` shows their UTF-8 bytes."""
    misread = []
    for secret in secrets:
        if not secret.isascii():
            try:
                misread.append(secret.encode("utf-8").decode(charset, "replace"))
            except (LookupError, UnicodeError):
                continue
    return tuple(misread)
