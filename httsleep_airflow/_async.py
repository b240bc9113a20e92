"""The asyncio runner: ``AsyncHttSleeper`` over aiohttp, the twin of ``HttSleeper``.

Responses are handed to the conditions as ``requests.Response`` objects and aiohttp's errors are
translated to the ``requests`` exceptions they correspond to, so one set of conditions,
callbacks and ``ignore_exceptions`` behaves the same under both runners.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import functools
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, get_environ_proxies

from httsleep_airflow._core import Done, Sleep
from httsleep_airflow._sync import BearerAuth, Plan
from httsleep_airflow.exceptions import ConditionError

__all__ = ["AsyncHttSleeper", "translate_error"]

#: Connections one event loop's sleepers share at most (aiohttp's own default); a poll that
#: finds them all busy waits for one.
POOL_LIMIT = 100
#: Bodies larger than this are judged in a worker thread, so decoding them never stalls the loop.
OFFLOAD_BYTES = 64 * 1024


@functools.lru_cache(maxsize=64)
def _ssl_context(cafile: str | None, cert: tuple[str, ...] | None) -> ssl.SSLContext:
    """One context per CA bundle and client certificate, shared: loading a bundle costs ms."""
    context = ssl.create_default_context(cafile=cafile)
    if cert:
        context.load_cert_chain(*cert)
    return context


def _ssl_option(verify: bool | str | None, cert: str | tuple[str, str] | None) -> Any:
    """aiohttp's ``ssl=`` for requests' ``verify``/``cert``, honouring the same environment."""
    if verify is False:
        return False
    if isinstance(verify, str):
        cafile: str | None = verify
    else:
        cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if cafile is None:
            cafile = requests.certs.where()  # requests' default bundle
    certs = (cert,) if isinstance(cert, str) else tuple(cert) if cert else None
    return _ssl_context(cafile, certs)


def _basic(username: str | bytes, password: str | bytes) -> str:
    """The ``Authorization`` value requests sends for Basic auth (latin-1, else UTF-8)."""

    def raw(value: str | bytes) -> bytes:
        if isinstance(value, bytes):
            return value
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            return value.encode("utf-8")

    return "Basic " + base64.b64encode(raw(username) + b":" + raw(password)).decode("ascii")


def _auth_options(auth: Any, headers: CaseInsensitiveDict[str]) -> dict[str, Any]:
    """aiohttp options for a requests-style ``auth``."""
    if auth is None:
        return {}
    if isinstance(auth, tuple) and len(auth) == 2:
        auth = HTTPBasicAuth(*auth)
    if isinstance(auth, HTTPBasicAuth):
        headers["Authorization"] = _basic(auth.username, auth.password)
        return {}
    if isinstance(auth, HTTPDigestAuth):
        return {"middlewares": (aiohttp.DigestAuthMiddleware(auth.username, auth.password),)}
    if isinstance(auth, BearerAuth):
        headers["Authorization"] = f"Bearer {auth.token}"
        return {}
    raise ConditionError(
        f"the async runner supports Basic, Digest and bearer auth, not {type(auth).__name__}"
    )


# aiohttp error -> the requests error raised for the same failure; most specific first.
_TRANSLATIONS: tuple[tuple[type[BaseException], type[requests.RequestException]], ...] = (
    (aiohttp.ClientConnectorCertificateError, requests.exceptions.SSLError),
    (aiohttp.ClientSSLError, requests.exceptions.SSLError),
    (aiohttp.ConnectionTimeoutError, requests.exceptions.ConnectTimeout),
    (aiohttp.ServerTimeoutError, requests.exceptions.ReadTimeout),
    (asyncio.TimeoutError, requests.exceptions.ReadTimeout),
    (aiohttp.TooManyRedirects, requests.exceptions.TooManyRedirects),
    (aiohttp.InvalidURL, requests.exceptions.InvalidURL),
    (aiohttp.ClientPayloadError, requests.exceptions.ChunkedEncodingError),
    (aiohttp.ClientConnectionError, requests.exceptions.ConnectionError),
    (aiohttp.ClientError, requests.exceptions.RequestException),
)


def translate_error(error: BaseException) -> BaseException:
    """The ``requests`` exception for an aiohttp one; anything else as it is."""
    for source, target in _TRANSLATIONS:
        if isinstance(error, source):
            return target(str(error) or type(error).__name__)
    return error


def to_requests_response(
    response: aiohttp.ClientResponse, body: bytes, elapsed: float
) -> requests.Response:
    """A ``requests.Response`` with the status, headers, body, URL and encoding of ``response``."""
    result = requests.Response()
    result.status_code = response.status
    result.reason = response.reason or ""
    result.headers = CaseInsensitiveDict(response.headers)
    result._content = body
    result.url = str(response.url)
    result.encoding = get_encoding_from_headers(result.headers)
    result.elapsed = datetime.timedelta(seconds=elapsed)
    return result


class _Pools:
    """One TCP connection pool per event loop, shared by that loop's sleepers; closed when the
    last of them closes."""

    def __init__(self) -> None:
        self._pools: dict[asyncio.AbstractEventLoop, tuple[aiohttp.TCPConnector, int]] = {}

    def acquire(self) -> aiohttp.TCPConnector:
        loop = asyncio.get_running_loop()
        connector, users = self._pools.get(loop) or (aiohttp.TCPConnector(limit=POOL_LIMIT), 0)
        self._pools[loop] = (connector, users + 1)
        return connector

    async def release(self) -> None:
        loop = asyncio.get_running_loop()
        connector, users = self._pools[loop]
        if users > 1:
            self._pools[loop] = (connector, users - 1)
        else:
            del self._pools[loop]
            await connector.close()


_POOLS = _Pools()


class AsyncHttSleeper(Plan):
    """``HttSleeper`` for asyncio: the same arguments, conditions and rules; ``await run()``.

    Takes the arguments of ``Plan``, and:

    :param session: an ``aiohttp.ClientSession`` to use and leave open; by default one is made
        on first use, reused across polls and runs, and closed by ``close()``.
    :param cert: a client certificate: a path, or a ``(cert, key)`` pair.
    :param proxies: requests-style ``{"https": "http://proxy:3128"}``; proxy environment
        variables apply as well (read at the first poll, like the CA bundle variables). Unlike
        requests, ``~/.netrc`` is not read: give credentials explicitly.
    :param sleep: the awaitable sleeping function (tests pass a recorder).
    """

    def __init__(
        self,
        url_or_request: str | requests.Request,
        until: Any = None,
        alarms: Any = None,
        *,
        session: aiohttp.ClientSession | None = None,
        cert: str | tuple[str, str] | None = None,
        proxies: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        **options: Any,
    ):
        super().__init__(url_or_request, until, alarms, **options)
        request = self.request
        if request.files:
            raise ConditionError("the async runner cannot send files")
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(request.headers)
        extra = _auth_options(request.auth, headers)
        scheme = urlsplit(request.url).scheme
        self._request_options: dict[str, Any] = {
            "params": _params(request.params),
            "data": request.data or None,
            "json": request.json,
            "headers": dict(headers),
            "cookies": request.cookies or None,
            "timeout": _client_timeout(self.timeout),
            **extra,
        }
        self._proxies = dict(proxies or {})
        self._tls = (self.verify, cert) if scheme == "https" else None
        self._environment_read = False
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._offload_always = self.rules.has_callback

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session polls go through (created on first use, on the running loop).

        Each sleeper has its own session (its own cookies), over a connection pool shared by
        every sleeper on the loop: a thousand triggers do not hold a thousand idle connections.
        The environment is read once per sleeper (``send_once``), not by aiohttp per request.
        """
        if self._session is None:
            session = aiohttp.ClientSession(
                connector=_POOLS.acquire(), connector_owner=False, trust_env=False
            )
            # aiohttp silently resends a request whose reused connection was dropped; requests
            # does not. One poll must be one request (the budget counts them), as in requests.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
        return self._session

    async def close(self) -> None:
        """Close the session this sleeper created (a session passed in is left open)."""
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()
            await _POOLS.release()

    async def __aenter__(self) -> AsyncHttSleeper:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send_once(self) -> requests.Response:
        """Send one request and read its body; aiohttp errors come out as requests errors."""
        options = self._request_options
        if not self._environment_read:  # what requests.get would read from the environment
            url = self.request.url
            proxies = {**get_environ_proxies(url), **self._proxies}
            options["proxy"] = proxies.get(urlsplit(url).scheme) or proxies.get("all")
            if self._tls is not None:
                options["ssl"] = _ssl_option(*self._tls)
            self._environment_read = True
        started = time.monotonic()
        try:
            async with self.session.request(
                self.request.method, self.request.url, **options
            ) as response:
                body = await self._read_capped(response)
        except Exception as exc:
            translated = translate_error(exc)
            if translated is exc:
                raise
            raise translated from exc
        return to_requests_response(response, body, time.monotonic() - started)

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, but never more than ``max_body_bytes`` of it."""
        if self.max_body_bytes is None:
            return await response.read()
        self.check_body_size(response.content_length)
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            self.check_body_size(size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _offload(self, outcome: requests.Response | Exception) -> bool:
        """Judge in a worker thread when it could take long: a callback, or a large body."""
        if isinstance(outcome, Exception):
            return False
        return self._offload_always or len(outcome.content) > OFFLOAD_BYTES

    async def run(self, *, attempts_made: int = 0, **options: Any) -> requests.Response:
        """Poll until ``until`` is met; each run starts with the full attempt budget.

        :param attempts_made: attempts already spent elsewhere, counted against ``max_retries``.
        :param options: for the poll state machine: ``log`` (a logger), ``noun`` ("poll").
        :returns: the response that met ``until``.
        :raises Alarm: a response matched an alarm.
        :raises RetriesExhausted: ``max_retries`` requests, none matched.
        :raises DeadlinePassed: ``max_wait`` passed, none matched.
        """
        poller = self.poller(attempts_made=attempts_made, **options)
        while True:
            action = poller.next_action(self._clock())
            if isinstance(action, Done):
                return action.response
            if isinstance(action, Sleep):
                if action.seconds > 0:  # sleeping 0 s still costs a loop iteration
                    await self._sleep(action.seconds)
                continue
            try:
                outcome: requests.Response | Exception = await self.send_once()
            except Exception as exc:
                outcome = exc
            if self._offload(outcome):
                await asyncio.to_thread(poller.receive, outcome, self._clock())
            else:
                poller.receive(outcome, self._clock())


def _params(params: Any) -> Any:
    """requests' params (a dict whose values may be lists) as aiohttp accepts them."""
    if not params:
        return None
    if isinstance(params, Mapping):
        pairs = []
        for key, value in params.items():
            for item in value if isinstance(value, list | tuple) else [value]:
                if item is not None:
                    pairs.append((str(key), str(item)))
        return pairs
    return params


def _client_timeout(timeout: float | tuple[float, float] | None) -> aiohttp.ClientTimeout:
    """requests' timeout (per connect and per read, never total) as an aiohttp one."""
    if timeout is None:
        return aiohttp.ClientTimeout(total=None)
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
