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
``error``       ``error_type`` and ``message``: a request failed with an exception not ignored
==============  =============================================================================
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from httsleep_airflow._async import AsyncHttSleeper
from httsleep_airflow._conditions import Rules, shorten
from httsleep_airflow._core import Policy
from httsleep_airflow._payload import PayloadError, response_payload
from httsleep_airflow.exceptions import Alarm, GaveUp
from httsleep_airflow.hooks.httsleep import (
    ConnectionSettings,
    HttSleepHook,
    argument_secrets,
    is_absolute,
    make_request,
    settings_of,
)

__all__ = ["HttSleepTrigger"]


async def _mask(secret: str) -> None:
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # Airflow < 3.2: the sync one is safe on a loop there
        from airflow.sdk.log import mask_secret

        mask_secret(secret)
    else:
        await amask_secret(secret)


class HttSleepTrigger(BaseTrigger):
    """Poll an endpoint until ``until`` holds, an alarm matches, or the budget or deadline ends.

    Every argument is plain data (it is stored in the database and rebuilt in the triggerer).
    No secret travels in them: the connection is read in the triggerer.

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
    :param xcom_jsonpath: the JSONPath whose value is the XCom; ``None`` for the whole body.
    :param do_xcom_push: whether the success event carries an XCom value at all.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        conditions: Mapping[str, Any],
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
        xcom_jsonpath: str | None = None,
        do_xcom_push: bool = True,
    ):
        super().__init__()
        self.endpoint = endpoint
        self.conditions = dict(conditions)
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
        self.xcom_jsonpath = xcom_jsonpath
        self.do_xcom_push = do_xcom_push
        # Checked here, so a bad trigger fails where it is built (on the worker).
        Rules(self.conditions.get("until"), self.conditions.get("alarms"))
        Policy.build(
            max_retries=max_retries,
            polling_interval=polling_interval,
            ignore_exceptions=ignore_exceptions,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
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
                "xcom_jsonpath": self.xcom_jsonpath,
                "do_xcom_push": self.do_xcom_push,
            },
        )

    def sleeper(self, settings: ConnectionSettings | None) -> AsyncHttSleeper:
        """The async poller for this trigger (``settings``: the connection, when there is one)."""
        url = self.endpoint
        options: dict[str, Any] = {}
        if settings is not None:
            url = settings.url_for(self.endpoint)
            options = {
                "auth": settings.auth,
                "headers": dict(settings.headers),
                "verify": settings.verify,
                "cert": settings.cert,
                "proxies": settings.proxies,
            }
        request = make_request(
            url,
            method=self.method,
            params=self.params,
            data=self.data,
            json_body=self.json_body,
            headers={**options.pop("headers", {}), **(self.headers or {})},
        )
        timeout = self.request_timeout
        deadline = self.deadline
        return AsyncHttSleeper(
            request,
            self.conditions.get("until"),
            self.conditions.get("alarms"),
            polling_interval=self.polling_interval,
            max_retries=self.max_retries,
            ignore_exceptions=self.ignore_exceptions,
            timeout=tuple(timeout) if isinstance(timeout, list) else timeout,
            max_wait=None if deadline is None else max(0.0, deadline - time.time()),
            clock=time.time,
            **options,
        )

    async def _settings(self) -> ConnectionSettings | None:
        if self.httsleep_conn_id is None or is_absolute(self.endpoint):
            return None
        conn = await HttSleepHook.aget_connection(self.httsleep_conn_id)  # never blocks the loop
        settings = settings_of(self.httsleep_conn_id, conn)
        for secret in settings.secrets:
            await _mask(secret)
        return settings

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            for secret in argument_secrets(self.endpoint, self.headers):
                await _mask(secret)
            sleeper = self.sleeper(await self._settings())
        except Exception as exc:
            yield TriggerEvent(_error_event(exc))
            return
        async with sleeper:  # the session is closed on every way out, cancellation included
            try:
                response = await sleeper.run(
                    attempts_made=self.attempts_made, log=self.log, noun="poke"
                )
            except Alarm as exc:
                event = {"status": "alarm", "alarm": exc.alarm, "message": str(exc)}
            except GaveUp as exc:
                event = {
                    "status": "exhausted",
                    "attempts": exc.attempts,
                    "last_status": None if exc.response is None else exc.response.status_code,
                    "message": str(exc),
                }
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                event = _error_event(exc)
            else:
                event = {"status": "success"}
                if self.do_xcom_push:
                    try:
                        event["xcom"] = response_payload(response, self.xcom_jsonpath)
                    except PayloadError as exc:
                        event["payload_error"] = str(exc)
        yield TriggerEvent(event)


def _error_event(exc: BaseException) -> dict[str, Any]:
    return {
        "status": "error",
        "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": shorten(str(exc), 500),
    }
