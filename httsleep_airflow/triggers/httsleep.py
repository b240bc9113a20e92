"""HttSleepTrigger: the sensor's polling, run by the triggerer on its asyncio loop.

It drives the engine's own core through the aiohttp runner, so every rule (alarms first, AND/OR,
JSONPath, callbacks, Retry-After, ignored exceptions, the attempt budget, the deadline) behaves
as in poke mode. It yields exactly one event:

==============  =============================================================================
``success``     ``xcom``: the value to push (``payload_error`` instead when ``xcom_jsonpath``
                cannot be applied)
``alarm``       ``alarm``: the alarm condition (plain data), ``message``: it with a response
                excerpt
``exhausted``   ``attempts``, ``last_status`` and ``message``: the budget or deadline ran out
``error``       ``error_type``, ``message`` and ``fatal``: something failed. ``fatal`` is true
                when retrying cannot help (a callback or exception class the triggerer cannot
                import, a misconfigured connection): the task then fails at once
==============  =============================================================================

A triggerer runs thousands of triggers in one process, so this one contains its own failures:
``__init__`` only stores plain data and never raises, and ``run()`` turns every error (a
connection missing in the triggerer, a callback that cannot be imported there, a body that
breaks the decoder, any unexpected exception) into that one ``error`` event.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
import os
import time
import weakref
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import requests
from airflow.triggers.base import BaseTrigger, TriggerEvent

from httsleep_airflow._async import AsyncHttSleeper, aside, drop_ended_loops
from httsleep_airflow._conditions import shown
from httsleep_airflow._core import DEFAULT_RETRY_AFTER_CAP, MAX_COUNT, Policy, PollLog
from httsleep_airflow._payload import PayloadError, response_payload, sendable_value
from httsleep_airflow._secrets import (
    EVENT_TEXT_LIMIT,
    MASK,
    body_secrets,
    header_names,
    is_secret_name,
    masked_data,
    masked_form,
    masked_json_body,
    prepare,
    scrub,
    secret_query_values,
    tidy,
)
from httsleep_airflow._sync import KeepAuthorization, strip_credentials
from httsleep_airflow.exceptions import Alarm, ConditionError, GaveUp
from httsleep_airflow.hooks.httsleep import (
    ConnectionConfigError,
    ConnectionSettings,
    HttSleepHook,
    argument_secrets,
    for_masker,
    has_authorization,
    has_header,
    is_absolute,
    make_request,
    settings_of,
)
from httsleep_airflow.triggers._ledger import PollLedger
from httsleep_airflow.triggers._outbox import CoalescedLog, outbox

__all__ = ["HttSleepTrigger"]

#: What names one task instance: its trigger's polls are spread by it (``phase``).
TASK_KEY = ("dag_id", "run_id", "task_id", "map_index")

#: Where a callback or exception class must live to be importable in the triggerer.
IMPORTABLE_HINT = (
    "callbacks and ignore_exceptions must be importable in the triggerer: put them in a module "
    "in $AIRFLOW_HOME/plugins/ or in an installed package"
)


async def _mask(secrets: Iterable[Any]) -> None:
    """``secrets`` to Airflow's masker, as far as its bounds allow (``for_masker``), by its
    coroutine where it has one."""
    for secret in for_masker(secrets):
        try:
            from airflow.sdk.log import amask_secret  # type: ignore[attr-defined, unused-ignore]
        except ImportError:  # Airflow < 3.2: the sync one is safe on a loop there
            from airflow.sdk.log import mask_secret

            mask_secret(secret)
        else:
            await amask_secret(secret)


def _unread(conn_id: str, why: str) -> TriggerProblem:
    """A connection that could not be read: missing, a secrets backend down, no answer. Not a
    mistake in the DAG, so the task's retries apply."""
    return TriggerProblem(
        f"connection {conn_id!r} could not be read in the triggerer: {why}", fatal=False
    )


async def _read_settings(conn_id: str) -> ConnectionSettings:
    """A connection's settings, read in the triggerer, its secrets handed to the masker."""
    try:
        conn = await HttSleepHook.aget_connection(conn_id)  # never blocks the loop
    except Exception as exc:
        raise _unread(conn_id, f"{type(exc).__name__}: {exc}") from None
    try:
        settings = settings_of(conn_id, conn)
    except ConnectionConfigError as exc:
        raise TriggerProblem(str(exc), fatal=True) from None
    await _mask(settings.secrets)
    return settings


class SharedReads:
    """Connection reads shared by the triggers of one event loop for ``ttl`` seconds: a thousand
    sensors that defer at once on one connection cost one read of it (each read goes through a
    worker thread and the triggerer's supervisor), not a thousand. A read that fails, or gets
    no answer within ``timeout`` seconds, is not kept: the next trigger reads again. Every
    trigger of a triggerer may read every connection, so sharing a read shows none of them
    anything new; a changed connection is seen by triggers that start ``ttl`` seconds later.
    The read runs in a context of its own, so its log lines belong to no one trigger."""

    def __init__(
        self,
        read: Callable[[str], Awaitable[ConnectionSettings]],
        ttl: float = 10.0,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.ttl = ttl
        self.timeout = timeout
        self._clock = clock
        #: per loop: connection id -> (kept until, the read in flight, or its settings)
        self._loops: dict[
            asyncio.AbstractEventLoop,
            dict[str, tuple[float, asyncio.Future[ConnectionSettings] | ConnectionSettings]],
        ] = {}

    async def read(self, conn_id: str) -> ConnectionSettings:
        loop, now = asyncio.get_running_loop(), self._clock()
        drop_ended_loops(self._loops)
        reads = self._loops.setdefault(loop, {})
        for stale in [name for name, (until, _) in reads.items() if until <= now]:
            del reads[stale]
        future: asyncio.Future[ConnectionSettings] | None = None
        held = reads.get(conn_id)
        if held is not None:
            if not isinstance(held[1], asyncio.Future):
                return held[1]
            if not _failed(held[1]):
                future = held[1]
        if future is None:
            # a context of its own: the read's log lines must not go to one trigger's log
            future = contextvars.Context().run(asyncio.ensure_future, self._bounded(conn_id))
            reads[conn_id] = (now + self.ttl, future)
        until = reads[conn_id][0]
        try:
            # shielded: a trigger cancelled while it waits does not cancel the others' read
            settings = await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled() and not _cancelling():  # the read ended so, not this trigger
                raise _unread(conn_id, "the read was cancelled") from None
            raise
        if conn_id in reads and reads[conn_id][1] is future:
            reads[conn_id] = (until, settings)  # the settings, not the task (it holds the loop)
        return settings

    async def _bounded(self, conn_id: str) -> ConnectionSettings:
        try:
            return await asyncio.wait_for(self._read_with_portal(conn_id), self.timeout)
        except asyncio.TimeoutError:
            raise _unread(conn_id, f"no answer in {self.timeout:g} s") from None

    async def _read_with_portal(self, conn_id: str) -> ConnectionSettings:
        await _portal()  # in the task that reads (wait_for runs it in a task of its own)
        return await self._read(conn_id)


async def _portal() -> None:
    """What Airflow gives each trigger's task, given to the shared read's: a portal through
    which a sync SDK call made on the loop (``mask_secret`` telling the supervisor of a
    connection's extras) reaches the supervisor instead of failing quietly."""
    if os.environ.get("AIRFLOW_DISABLE_GREENBACK_PORTAL", "").lower() == "true":
        return
    try:
        import greenback
    except ImportError:  # not in a triggerer of this Airflow
        return
    await greenback.ensure_portal()


def _cancelling() -> bool:
    """Whether the running task is being cancelled (always assumed so before Python 3.11)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return True if cancelling is None else bool(cancelling())


def _failed(read: asyncio.Future[Any]) -> bool:
    return read.done() and (read.cancelled() or read.exception() is not None)


_CONNECTIONS = SharedReads(_read_settings)

#: Each loop's turn to build a sleeper on it (``_turn``); a lock holds its loop, so the loops
#: that ended are dropped when another comes.
_TURNS: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def _turn() -> asyncio.Lock:
    """The running loop's lock that its triggers build their sleepers under, one per pass of
    the loop: thousands of triggers of one connection wait for one read of it, and resume in
    one pass; built there, each build held every other wait of the loop (a second for a
    thousand). Airflow starts triggers one a pass, so a lone one waits for nothing."""
    loop = asyncio.get_running_loop()
    lock = _TURNS.get(loop)
    if lock is None:
        drop_ended_loops(_TURNS)
        lock = _TURNS[loop] = asyncio.Lock()
    return lock


def _fernet() -> Any:
    from airflow.models.crypto import get_fernet

    return get_fernet()


def seal(secrets: Mapping[str, Any]) -> str:
    """``secrets`` as one token for the trigger's kwargs, encrypted with Airflow's Fernet key
    (as Airflow stores connection passwords), so that no secret shows in ``serialize()`` or in
    the ``repr`` the triggerer logs."""
    token: bytes = _fernet().encrypt(json.dumps(dict(secrets), default=_sent_as).encode())
    return token.decode()


def _sent_as(value: Any) -> str:
    """A value JSON cannot write, as requests sends it: bytes as they are (latin-1 text, which
    requests encodes back to the same bytes), anything else as its text."""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def unseal(token: str) -> dict[str, Any]:
    value = json.loads(_fernet().decrypt(token.encode()).decode())
    if not isinstance(value, dict):
        raise ValueError("the sealed secrets are not an object")
    return value


#: The arguments of a sensor that may hold its own secrets (``split_secrets``).
SEALABLE = ("endpoint", "headers", "params", "data", "json_body")

#: Arguments past this many values (a string counts one per 64 characters) are large: the
#: request and conditions are built from them off the loop (``_weight``).
LARGE_ARGUMENTS = 2_000
#: Arguments holding more secrets than this are large too.
LARGE_SECRETS = 16

#: The arguments that hold a user's own plain data (``escaped``).
PLAIN_DATA = ("conditions", "params", "data", "json_body", "headers")


def escaped(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` as Airflow's serializer can store them and give them back: an argument of
    plain data holding a mapping key that starts with ``__`` (``__type``, ``__var``,
    ``__classname__``: what the serializer reserves, or may one day) goes as JSON text in
    ``as_json`` instead. Stored as it is, such a key is read back as another type, or fails
    the triggerer's runner: every trigger of that triggerer with it.

    :raises ValueError: such an argument holds a value JSON cannot write.
    """
    texts: dict[str, str] = {}
    for name in PLAIN_DATA:
        value = kwargs.get(name)
        if not _has_reserved_key(value):
            continue
        try:
            texts[name] = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name}: a key starting with '__' is stored as JSON text, and this value "
                f"cannot be written so ({exc})"
            ) from None
        kwargs[name] = None
    if texts:
        kwargs["as_json"] = {**(kwargs.get("as_json") or {}), **texts}
    return kwargs


def _has_reserved_key(value: Any) -> bool:
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping | list | tuple):
            if id(item) in seen:  # a value that holds itself: looked at once
                continue
            seen.add(id(item))
        if isinstance(item, Mapping):
            if any(isinstance(key, str) and key.startswith("__") for key in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def split_secrets(
    arguments: Mapping[str, Any], secret_headers: Any = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sensor's own arguments (``SEALABLE``), split into what may show and what must be
    sealed: ``(shown, sealed)``. ``shown`` holds each argument without its secrets (the
    endpoint without user-info, query and body secrets masked or dropped); ``sealed`` those
    that held some, whole (of the headers, only the secret ones)."""
    try:
        marked = frozenset(header_names(secret_headers))
    except ConditionError:  # refused when the trigger runs (its type is checked); none marked here
        marked = frozenset()
    shown: dict[str, Any] = dict(arguments)
    sealed: dict[str, Any] = {}
    endpoint = arguments.get("endpoint")
    if isinstance(endpoint, str) and strip_credentials(endpoint) != endpoint:
        shown["endpoint"], sealed["endpoint"] = strip_credentials(endpoint), endpoint
    headers = arguments.get("headers")
    if headers is not None:
        shown["headers"] = {k: v for k, v in headers.items() if not is_secret_name(k, marked)}
        hidden = {k: v for k, v in headers.items() if is_secret_name(k, marked)}
        if hidden:
            sealed["headers"] = hidden
    params = arguments.get("params")
    if secret_query_values(None, params):  # each sealed whole: the triggerer sends it as given
        shown["params"], sealed["params"] = masked_form(params), params
    for name, masked in (("data", masked_data), ("json_body", masked_json_body)):
        body = arguments.get(name)
        if body_secrets(**{name: body}):
            sealed[name] = body
            try:
                shown[name] = masked(body)
            except RecursionError:  # nested past what can be walked: shown as a mask
                shown[name] = MASK
    return shown, sealed


class TriggerProblem(Exception):
    """What stops a trigger before it polls; ``fatal`` when retrying cannot help."""

    def __init__(self, message: str, *, fatal: bool):
        super().__init__(message)
        self.fatal = fatal


class HttSleepTrigger(BaseTrigger):
    """Poll an endpoint until ``until`` holds, an alarm matches, or the budget or deadline ends.

    Every argument is plain data (it is stored in the database and rebuilt in the triggerer).
    The connection is read in the triggerer; the sensor's own secret values (secret-looking
    headers and query parameters, a password in the endpoint) travel only in ``sealed``.

    :param endpoint: an absolute URL, or a path under the connection's base URL.
    :param conditions: ``{"until": ..., "alarms": ...}`` as plain data (callbacks as dotted paths).
    :param httsleep_conn_id: the connection, or ``None`` for an absolute URL.
    :param method, params, data, json_body, headers: the request.
    :param max_retries: the total budget of requests; ``None`` for no limit.
    :param attempts_made: requests already sent for this try (on the worker).
    :param polling_interval: seconds between polls.
    :param ignore_exceptions: dotted paths of exception classes that count as "not yet".
    :param request_timeout: seconds, ``[connect, read]`` or ``None``.
    :param deadline: a Unix time after which the trigger gives up, or ``None``.
    :param retry_at: a Unix time before which the first poll is not sent: the wait the server
        asked of the worker's last poke (``Retry-After``), or ``None``.
    :param xcom_jsonpath: the JSONPath whose value is the XCom; ``None`` for the whole body.
    :param do_xcom_push: whether the success event carries an XCom value at all.
    :param secret_headers: more header names whose values are credentials.
    :param sealed: the sensor's own secrets, made by ``seal``: they replace ``endpoint``,
        ``params``, ``data`` and ``json_body`` and join ``headers`` in the triggerer.
    :param follows: what the worker's last poke line said, as ``PollLog.fingerprint`` makes it:
        a first poll whose line would say the same goes on from that line (a repeat, not a new
        first line in the trigger's log).
    """

    def __init__(
        self,
        /,
        *,
        endpoint: str | None = None,
        conditions: Mapping[str, Any] | None = None,
        httsleep_conn_id: str | None = None,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        max_retries: int | None = None,
        attempts_made: int = 0,
        polling_interval: float = 60,
        ignore_exceptions: list[str] | None = None,
        request_timeout: float | list[float] | None = 30,
        deadline: float | None = None,
        retry_at: float | None = None,
        xcom_jsonpath: str | None = None,
        do_xcom_push: bool = True,
        secret_headers: list[str] | None = None,
        sealed: str | None = None,
        follows: str | None = None,
        as_json: Mapping[str, str] | None = None,
        **unknown: Any,
    ):
        # Only plain assignments: in the triggerer, an exception here would end the process
        # that runs every other trigger. Everything is checked in run(), which reports it.
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger has no annotations
        self.endpoint = endpoint
        self.conditions = conditions
        self.httsleep_conn_id = httsleep_conn_id
        self.method = method
        self.params = params
        self.data = data
        self.json_body = json_body
        self.headers = headers
        self.max_retries = max_retries
        self.attempts_made = attempts_made
        self.polling_interval = polling_interval
        self.ignore_exceptions = ignore_exceptions
        self.request_timeout = request_timeout
        self.deadline = deadline
        self.retry_at = retry_at
        self.xcom_jsonpath = xcom_jsonpath
        self.do_xcom_push = do_xcom_push
        self.secret_headers = secret_headers
        self.sealed = sealed
        self.follows = follows
        self.as_json = as_json  # arguments stored as JSON text (``escaped``), read by validate()
        # kwargs of another version of this trigger, reported by run(); most have none: no dict
        self.unknown = unknown or None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            escaped(self._kwargs() | self._sealed_arguments()),
        )

    def _sealed_arguments(self) -> dict[str, Any]:
        """For a trigger built with secrets in its plain arguments (a sensor seals its own
        before it builds one): those arguments without them, and them sealed. Nothing when
        it was built sealed or holds none. Arguments it cannot split are shown as they are
        (run() reports them); secrets it cannot seal are an error, never shown."""
        if self.sealed is not None:
            return {}
        try:
            shown, secrets = split_secrets(
                {name: getattr(self, name) for name in SEALABLE}, self.secret_headers
            )
        except Exception:
            return {}
        if not secrets:
            return {}
        try:
            sealed = seal(secrets)
        except Exception as exc:
            raise ValueError(
                f"{type(self).__name__}: the secrets in its arguments cannot be sealed "
                f"({type(exc).__name__}); they are not written anywhere"
            ) from None
        return {**shown, "sealed": sealed}

    def _kwargs(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "conditions": self.conditions,
            "httsleep_conn_id": self.httsleep_conn_id,
            "method": self.method,
            "params": self.params,
            "data": self.data,
            "json_body": self.json_body,
            "headers": self.headers,
            "max_retries": self.max_retries,
            "attempts_made": self.attempts_made,
            "polling_interval": self.polling_interval,
            "ignore_exceptions": self.ignore_exceptions,
            "request_timeout": self.request_timeout,
            "deadline": self.deadline,
            "retry_at": self.retry_at,
            "xcom_jsonpath": self.xcom_jsonpath,
            "do_xcom_push": self.do_xcom_push,
            "secret_headers": self.secret_headers,
            "sealed": self.sealed,
            "follows": self.follows,
        } | ({} if self.as_json is None else {"as_json": self.as_json})

    def __repr__(self) -> str:
        """What the triggerer logs: the kwargs, with the sealed token left out."""
        try:
            classpath, kwargs = self.serialize()
            if kwargs.get("sealed"):
                kwargs["sealed"] = "<sealed>"
            text: str = self.repr(classpath, kwargs)
            return text
        except Exception:
            return f"<{type(self).__name__}>"

    def validate(self) -> None:
        """Check the conditions and the policy, as the worker does before deferring.

        :raises ConditionError: the trigger could not be rebuilt in the triggerer.
        """
        if self.unknown:
            raise ConditionError(
                f"unknown arguments {', '.join(sorted(map(str, self.unknown)))}: the worker and "
                "the triggerer run different versions of httsleep-airflow"
            )
        self._read_as_json()
        if not isinstance(self.endpoint, str):
            raise ConditionError(f"endpoint must be a string, not {type(self.endpoint).__name__}")
        conditions = self.conditions
        if not isinstance(conditions, Mapping):
            raise ConditionError(f"conditions must be an object, not {type(conditions).__name__}")
        from httsleep_airflow._conditions import Rules, checked_jsonpath

        Rules(conditions.get("until"), conditions.get("alarms"))
        Policy.build(
            max_retries=self.max_retries,
            polling_interval=self.polling_interval,
            ignore_exceptions=self.ignore_exceptions,
        )
        for name, value, kinds in (
            ("method", self.method, (str,)),
            ("params", self.params, (type(None), Mapping, list, tuple, str, bytes)),
            ("headers", self.headers, (type(None), Mapping)),
            ("ignore_exceptions", self.ignore_exceptions, (type(None), list, tuple)),
            ("secret_headers", self.secret_headers, (type(None), list, tuple)),
            ("xcom_jsonpath", self.xcom_jsonpath, (type(None), str)),
            ("do_xcom_push", self.do_xcom_push, (bool,)),
        ):
            if not isinstance(value, kinds):
                raise ConditionError(f"{name} must not be {type(value).__name__}")
        if not _is_count(self.attempts_made):
            raise ConditionError(
                f"attempts_made must be a count, not {shown(self.attempts_made):.40}"
            )
        for name, when in (("deadline", self.deadline), ("retry_at", self.retry_at)):
            if when is not None and not _is_time(when):
                raise ConditionError(f"{name} must be a Unix time, not {shown(when):.40}")
        if self.xcom_jsonpath is not None:
            checked_jsonpath(self.xcom_jsonpath, "xcom_jsonpath")

    def _weight(self) -> tuple[bool, bool]:
        """Whether rebuilding this trigger may run user code (a callback or an exception class
        to import), and whether its arguments are large (``LARGE_ARGUMENTS``)."""
        user_code = bool(self.ignore_exceptions) or self.as_json is not None
        budget = LARGE_ARGUMENTS
        stack: list[Any] = [self.endpoint, *(getattr(self, name) for name in PLAIN_DATA)]
        if isinstance(self.as_json, Mapping):  # JSON text: a value in a few characters
            budget -= sum(len(text) // 8 for text in self.as_json.values() if isinstance(text, str))
        while stack and budget > 0:
            item = stack.pop()
            budget -= 1
            if isinstance(item, Mapping):
                user_code = user_code or "callback" in item
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                stack.extend(item)
            elif isinstance(item, str | bytes):
                budget -= len(item) // 64
        large = budget <= 0
        return user_code or large, large

    def _read_as_json(self) -> None:
        """The arguments ``escaped`` stored as JSON text, read back into their places."""
        carried, self.as_json = self.as_json, None
        if carried is None:
            return
        if not isinstance(carried, Mapping):
            raise ConditionError(f"as_json must be an object, not {type(carried).__name__}")
        for name, text in carried.items():
            if name not in PLAIN_DATA or not isinstance(text, str):
                raise ConditionError(f"as_json: {name!r} is no argument stored as JSON text")
            if getattr(self, name) is not None:  # escaped() leaves None in its place
                raise ConditionError(f"as_json: {name!r} is given twice")
            try:
                setattr(self, name, json.loads(text))
            except (ValueError, RecursionError) as exc:
                raise ConditionError(
                    f"as_json: {name!r} is no JSON text ({type(exc).__name__})"
                ) from None

    def sleeper(
        self, settings: ConnectionSettings | None, sealed: Mapping[str, Any] | None = None
    ) -> AsyncHttSleeper:
        """The async poller for this trigger (``settings``: the connection, when there is one;
        ``sealed``: the sensor's own secrets, unsealed)."""
        sealed = sealed or {}
        endpoint = sealed.get("endpoint", self.endpoint)
        own_headers = {**(self.headers or {}), **sealed.get("headers", {})}
        params = sealed.get("params", self.params)
        url = endpoint
        options: dict[str, Any] = {}
        connection_headers: dict[str, str] = {}
        secret_headers = list(self.secret_headers or ())
        if settings is not None:
            url = settings.url_for(endpoint)
            connection_headers = dict(settings.headers)
            secret_headers += settings.secret_headers
            options = {
                "verify": settings.verify,
                "cert": settings.cert,
                "proxies": settings.proxies,
                "secrets": settings.secrets,  # a proxy's password too: no request carries it
                # to its origin only, as its auth (but those the sensor's own replace)
                "origin_headers": [
                    name for name in connection_headers if not has_header(own_headers, name)
                ],
            }
            # the sensor's own Authorization wins, over ~/.netrc and the URL's too (as the hook)
            options["auth"] = (
                KeepAuthorization() if has_authorization(own_headers) else settings.auth
            )
        request = make_request(
            url,
            method=self.method,
            params=params,
            data=sealed.get("data", self.data),
            json_body=sealed.get("json_body", self.json_body),
            headers={**connection_headers, **own_headers},
        )
        timeout = self.request_timeout
        deadline = self.deadline
        conditions = self.conditions
        assert conditions is not None, "validate() checked it"
        return AsyncHttSleeper(
            request,
            conditions.get("until"),
            conditions.get("alarms"),
            polling_interval=self.polling_interval,
            max_retries=self.max_retries,
            ignore_exceptions=self.ignore_exceptions,
            timeout=tuple(timeout) if isinstance(timeout, list) else timeout,
            max_wait=None if deadline is None else max(0.0, deadline - time.time()),
            clock=time.time,
            secret_headers=secret_headers,
            **options,
        )

    async def _settings(self) -> ConnectionSettings | None:
        if self.httsleep_conn_id is None or is_absolute(self.endpoint):
            return None
        return await _CONNECTIONS.read(self.httsleep_conn_id)

    async def _prepare(self) -> AsyncHttSleeper:
        """Everything before the first poll; each failure is a ``TriggerProblem``."""
        sealed: dict[str, Any] = {}
        if self.sealed:
            try:
                sealed = unseal(self.sealed)
            except Exception as exc:
                raise TriggerProblem(
                    "the sensor's secret arguments cannot be decrypted in the triggerer "
                    f"({type(exc).__name__}); its [core] fernet_key must match the workers'",
                    fatal=True,
                ) from None
        own = argument_secrets(  # those sealed, or given as they are (a trigger made by hand)
            sealed.get("endpoint", self.endpoint),
            sealed.get("headers", self.headers),
            sealed.get("params", self.params),
            self.secret_headers,
            data=sealed.get("data", self.data),
            json_body=sealed.get("json_body", self.json_body),
        )
        await _mask(own)
        # in a worker thread: it may import user code (the callbacks' modules: their threads,
        # which callbacks that block may all hold), and takes time that grows with the
        # arguments (compiled again with the request, off the loop too when they are large)
        user_code, large = self._weight()
        large = large or len(own) > LARGE_SECRETS  # each is expanded into its forms
        try:
            await aside(self.validate, user_code=user_code)
        except ConditionError as exc:
            hint = f"; {IMPORTABLE_HINT}" if "import" in str(exc) else ""
            raise TriggerProblem(
                f"the trigger cannot be rebuilt in the triggerer: {exc}{hint}", fatal=True
            ) from None
        settings = await self._settings()
        try:
            if large:
                sleeper: AsyncHttSleeper = await aside(
                    self.sleeper, settings, sealed, user_code=user_code
                )
            else:
                async with _turn():  # one build a pass: those that waited for one connection
                    sleeper = self.sleeper(settings, sealed)  # read resume in one pass
                    await asyncio.sleep(0)
        except ConditionError as exc:
            raise TriggerProblem(f"the trigger cannot be rebuilt: {exc}", fatal=True) from None
        except (TypeError, ValueError, AttributeError, LookupError) as exc:
            # building a request from arguments no sensor makes (headers={1: "x"}): no
            # retry can mend them
            raise TriggerProblem(
                f"the trigger cannot be rebuilt: its arguments make no request "
                f"({type(exc).__name__}: {scrub(str(exc), self._secrets_of(None), 300)})",
                fatal=True,
            ) from None
        if sleeper.secrets:  # redaction's patterns: they take time to make
            await aside(prepare, sleeper.secrets)
        return sleeper

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The one event this trigger ends with; never raises (but on cancellation). One
        frame over the wait, not two: every waiting trigger holds each of its frames over its
        sleep (``_resume`` works out the wait's arguments before it, and is gone by then)."""
        sleeper: AsyncHttSleeper | None = None
        lines: CoalescedLog | None = None
        try:
            log = _class_log(self)
            if hasattr(log, "bind"):  # structlog's lazy logger: assembled once, not every line
                log = log.bind()
            lines = CoalescedLog(log, outbox())
            sleeper = await self._prepare()
            try:
                response = await sleeper.run(**await self._resume(sleeper, lines))
                event = await self._success(response, sleeper)
            except Alarm as exc:
                event = {"status": "alarm", "alarm": _plain(exc.alarm), "message": str(exc)}
            except GaveUp as exc:
                event = {
                    "status": "exhausted",
                    "attempts": exc.attempts,
                    "last_status": None if exc.response is None else exc.response.status_code,
                    "message": str(exc),
                }
            finally:  # the session is closed on every way out, cancellation included
                await sleeper.close()
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except TriggerProblem as exc:
            event = _error_event(exc, self._secrets_of(sleeper), fatal=exc.fatal)
        except BaseException as exc:  # SystemExit included: it is no exit here
            event = _error_event(exc, self._secrets_of(sleeper))
        finally:
            if lines is not None:
                lines.close()  # its lines before its event; any later one (a cancelled poll's
                # worker thread) is written at once
        # a field Airflow cannot send ended its triggerer's runner, every trigger's events with
        # it; the XCom value is checked on its own (``response_payload``)
        yield TriggerEvent(
            {key: value if key == "xcom" else sendable_value(value) for key, value in event.items()}
        )

    def _secrets_of(self, sleeper: AsyncHttSleeper | None) -> tuple[str, ...]:
        """What an error event must not show: the sleeper's secrets, or, when it could not be
        built, those of the trigger's own arguments (worked out only then)."""
        if sleeper is not None:
            return sleeper.secrets
        try:
            return tidy(
                argument_secrets(
                    self.endpoint,
                    self.headers,
                    self.params,
                    data=self.data,
                    json_body=self.json_body,
                )
            )
        except Exception:
            return ()

    def phase(self) -> float:
        """Seconds before this trigger's first poll, when the worker has just polled: a share
        of the interval fixed by which task this is (by its arguments outside a triggerer), so
        that sensors deferred in the same instant spread over the interval instead of polling
        in lockstep. The first poll comes within one interval of the trigger's start; the
        attempts and the deadline do not change. A trigger taken over from a triggerer that
        polled waits none (``_resume``)."""
        if not self.attempts_made or not isinstance(self.polling_interval, int | float):
            return 0.0
        ti = getattr(self, "task_instance", None)
        if ti is not None:
            key = repr([getattr(ti, name, None) for name in TASK_KEY])
        else:
            key = repr([self.endpoint, self.params, self.headers, self.method, self.deadline])
        return zlib.crc32(key.encode()) / 2**32 * max(0.0, float(self.polling_interval))

    async def _resume(self, sleeper: AsyncHttSleeper, lines: CoalescedLog) -> dict[str, Any]:
        """The arguments of the sleeper's run: where the wait stands (what a triggerer that
        died under this trigger sent) and how its lines are shown."""
        attempts_made = self.attempts_made
        phase = self.phase()
        if self.retry_at is not None:  # the server asked the worker's poke to wait longer
            phase = max(phase, min(self.retry_at - time.time(), DEFAULT_RETRY_AFTER_CAP))
        follows = self.follows
        ledger = PollLedger.of(self, lines.logger)
        if ledger is not None and self.max_retries is not None:  # of(): it is an int
            attempts_made = await ledger.resume(attempts_made, self.max_retries)
            if attempts_made > self.attempts_made:
                phase = 0.0  # taken over from a triggerer that polled: the next poll is due
                follows = None  # and what it showed last is not what the worker showed
            sleeper.send_once = ledger.counting(sleeper.send_once, attempts_made)  # type: ignore[method-assign]
        return {
            "attempts_made": attempts_made,
            "phase": phase,
            "log": lines,
            "noun": "poke",
            "poll_log": PollLog(follows),
        }

    async def _success(
        self, response: requests.Response, sleeper: AsyncHttSleeper
    ) -> dict[str, Any]:
        """The event of a met wait. Its XCom value is taken in a worker thread: decoding the
        body, checking it for numbers JSON cannot carry and running ``xcom_jsonpath`` take time
        that grows with the body, up to ``max_body_bytes`` (seconds on the shared loop)."""
        event: dict[str, Any] = {"status": "success"}
        if self.do_xcom_push:
            try:
                event["xcom"] = await aside(
                    response_payload, response, self.xcom_jsonpath, sleeper.secrets
                )
            except PayloadError as exc:
                event["payload_error"] = str(exc)
        return event


#: The logger of each trigger class (``_class_log``).
_CLASS_LOGS: weakref.WeakKeyDictionary[type, Any] = weakref.WeakKeyDictionary()


def _class_log(trigger: HttSleepTrigger) -> Any:
    """The logger ``trigger.log`` gives, made once per class and kept by none of its triggers:
    a lazy logger of its own is eight more objects per waiting trigger for every full garbage
    collection to walk, and the triggerer tells triggers' lines apart by the ``trigger_id`` it
    binds to each one's context, not by logger. Read through ``trigger.log``, it has the name
    Airflow gives that class (a subclass's own, its ``_logger_name`` honoured)."""
    cls = type(trigger)
    log = _CLASS_LOGS.get(cls)
    if log is None:
        had_own = "_log" in vars(trigger)
        log = _CLASS_LOGS[cls] = trigger.log
        if not had_own:
            vars(trigger).pop("_log", None)
    return log


#: An error event carries its exception's arguments up to this many (each cut to
#: ``EVENT_TEXT_LIMIT``); past it, its message alone (a callback's error of ten thousand
#: arguments made an event of megabytes, stored with the trigger).
EVENT_ARGS_LIMIT = 16


def _is_plain_arg(value: Any) -> bool:
    return isinstance(value, str | int) or (isinstance(value, float) and math.isfinite(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_time(value: Any) -> bool:
    """Whether ``value`` is a Unix time: a finite number a float holds (``10**400`` is not)."""
    try:
        return _is_number(value) and math.isfinite(value)
    except OverflowError:
        return False


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _plain(value: Any) -> Any:
    """``value`` as plain data an event can carry (it is JSON-encoded by Airflow)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _error_event(
    exc: BaseException, secrets: tuple[str, ...] = (), *, fatal: bool = False
) -> dict[str, Any]:
    error_type = type(exc)
    name = (
        "" if error_type is TriggerProblem else f"{error_type.__module__}.{error_type.__qualname__}"
    )
    try:
        text = str(exc)
    except Exception:  # a __str__ that raises
        text = f"{error_type.__name__} (its message cannot be shown)"
    event: dict[str, Any] = {
        "status": "error",
        "error_type": name,
        "message": scrub(text, secrets, EVENT_TEXT_LIMIT),
        "fatal": fatal,
    }
    args = exc.args
    if isinstance(exc, OSError) and len(args) == 2 and exc.filename is not None:
        args = (*args, exc.filename)  # its text names the file: OSError(errno, why, file)
    if args and len(args) <= EVENT_ARGS_LIMIT and all(_is_plain_arg(arg) for arg in args):
        # what the task raises again, as poke mode raises the error itself (plain, redacted)
        event["args"] = [
            scrub(arg, secrets, EVENT_TEXT_LIMIT) if isinstance(arg, str) else arg for arg in args
        ]
    return event
