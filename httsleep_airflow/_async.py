"""The asyncio runner: ``AsyncHttSleeper`` over aiohttp, the twin of ``HttSleeper``.

Responses are handed to the conditions as ``requests.Response`` objects and aiohttp's errors are
translated to the ``requests`` exceptions they correspond to, so one set of conditions,
callbacks and ``ignore_exceptions`` behaves the same under both runners.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import datetime
import functools
import inspect
import math
import os
import re
import ssl
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from http.cookiejar import CookieJar
from typing import Any, cast

import aiohttp
import requests
import yarl
from aiohttp.client_proto import ResponseHandler
from aiohttp.helpers import set_exception
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, InvalidHeader, LineTooLong
from multidict import CIMultiDict, CIMultiDictProxy
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth, HTTPProxyAuth
from requests.cookies import RequestsCookieJar, merge_cookies
from requests.structures import CaseInsensitiveDict
from requests.utils import (
    default_headers,
    get_encoding_from_headers,
    select_proxy,
)

from httsleep_airflow._core import (
    ACCEPT_ENCODING,
    MAX_HEADERS,
    MAX_INTERIM,
    MAX_STATUS_LINE,
    Done,
    Sleep,
)
from httsleep_airflow._http import (
    BAD_STATUS_TEXT,
    BLANK_BYTES,
    BODY_DROPPED_TEXT,
    CUT_HEAD_TEXT,
    HEADER_LIMIT_TEXT,
    IDEMPOTENT_METHODS,
    INTERIM_LIMIT_TEXT,
    MALFORMED_TEXT,
    NO_ANSWER_TEXT,
    PROXY_AUTH,
    BodyDropped,
    HeaderTooLarge,
    MalformedHeaders,
    RequestDeadlineExceeded,
    basic_header,
    check_header_lines,
    check_status,
    check_status_line,
    checked_proxy,
    connect_failure,
    cookie_header,
    declared_body_size,
    decode_body,
    drop_unsendable_cookies,
    framing_line,
    heads_refused,
    hop_headers,
    joined_header_lines,
    next_hop,
    proxy_reads_it,
    redirect_location,
    same_origin,
    stale_connection_cause,
    store_cookies,
    text_encoding,
    tls_cause,
    tls_context_of,
    tls_failure,
    tunnel_refusal,
    without_proxy_authorization,
    worded,
)
from httsleep_airflow._secrets import basic_secrets, causes, scrub, tidy
from httsleep_airflow._secrets import joined as joined_secrets
from httsleep_airflow._sync import (
    MISSING,
    BearerAuth,
    DigestAuth,
    KeepAuthorization,
    Plan,
    describe_request,
    environ_proxies,
    hop_proxies,
    netrc_auth,
    proxy_secrets,
)
from httsleep_airflow.exceptions import ConditionError, HttSleepError, InterruptInThread

if sys.version_info < (3, 11):  # aiohttp depends on async-timeout before Python 3.11
    from async_timeout import timeout as _timeout_before_3_11

__all__ = ["AsyncHttSleeper", "aside", "drop_ended_loops", "translate_error"]

#: Connections one event loop's sleepers hold at most to one host; a poll that finds them all
#: busy waits for one, and that wait counts against its request deadline. There is no limit
#: across hosts (each sleeper has one request in flight at most), so pollers stalled on one
#: host never make a poller of another host wait.
POOL_PER_HOST = 100
#: aiohttp's parser limit on header lines, set far above ``_core.MAX_HEADERS`` so that the
#: shared rule (``_http.check_header_lines``) decides, as in the requests runner.
_PARSER_MAX_HEADERS = 10_000
#: aiohttp's own header-count limit, where this aiohttp has it (3.14+); without it the count is
#: still checked, once the headers are parsed (``_http.check_header_lines``).
_PARSER_LIMITS: dict[str, Any] = (
    {"max_headers": _PARSER_MAX_HEADERS}
    if "max_headers" in inspect.signature(aiohttp.ClientSession.__init__).parameters
    else {}
)
#: Worker threads for what must not hold up the loop: one pool for the runners' own work, which
#: the limits bound (undoing a body, judging a large one, an XCom value), one for judging with
#: callbacks, user code of unknown cost: callbacks that block hold up no poller but those with
#: callbacks (the loop's default pool, which ``asyncio.to_thread`` uses, is shared with them).
_POOLS: dict[bool, concurrent.futures.ThreadPoolExecutor] = {}
_POOL_SIZES = {False: min(8, (os.cpu_count() or 1) + 2), True: 32}
_POOLS_LOCK = threading.Lock()


def aside(func: Callable[..., Any], *args: Any, user_code: bool = False) -> Awaitable[Any]:
    """``func(*args)`` in a worker thread of its pool (``_POOLS``: ``user_code`` for judging
    that runs callbacks), in a copy of this context, as ``asyncio.to_thread`` runs it."""
    pool = _POOLS.get(user_code)
    if pool is None:
        with _POOLS_LOCK:
            pool = _POOLS.get(user_code)
            if pool is None:
                pool = _POOLS[user_code] = concurrent.futures.ThreadPoolExecutor(
                    _POOL_SIZES[user_code],
                    thread_name_prefix="httsleep-callbacks" if user_code else "httsleep",
                )
    call = functools.partial(contextvars.copy_context().run, _contained, func, *args)
    return asyncio.get_running_loop().run_in_executor(pool, call)


def _contained(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)``, but an exception that must not reach the loop as itself comes out as
    ``InterruptInThread`` (no signal reaches a worker thread: it was raised by the code run)."""
    try:
        return func(*args)
    except (StopIteration, concurrent.futures.CancelledError) as exc:
        raise _interrupt(exc) from None
    except Exception:
        raise
    except BaseException as exc:  # KeyboardInterrupt, SystemExit, GeneratorExit, cancellation
        raise _interrupt(exc) from None


def _interrupt(exc: BaseException) -> InterruptInThread:
    kind = type(exc)
    try:
        text = str(exc)
    except BaseException:  # a __str__ that raises (a KeyboardInterrupt too: no signal here)
        text = ""
    said = f": {text}" if text else ""
    return InterruptInThread(
        f"{kind.__module__}.{kind.__qualname__} raised in a worker thread{said}; it ends this "
        "wait as an error (on the event loop it would end more than this wait)",
        exc,
    )


class _NetrcAbsence:
    """Whether a netrc file may exist where requests looks (``$NETRC``, or ``~/.netrc`` and
    ``~/_netrc``): a finding that none does is kept ``ttl`` seconds. A sleeper is built per
    trigger, and two ``stat`` calls each (most hosts have no netrc) waited for the GIL on a
    busy triggerer's loop: a quarter of a millisecond a trigger at start."""

    def __init__(self, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._absent: tuple[tuple[str | None, str | None], float] | None = None

    def may_exist(self) -> bool:
        where = (os.environ.get("NETRC"), os.environ.get("HOME"))
        now = self._clock()
        absent = self._absent
        if absent is not None and absent[0] == where and now - absent[1] < self.ttl:
            return False
        places = (where[0],) if where[0] is not None else ("~/.netrc", "~/_netrc")
        if any(os.path.exists(os.path.expanduser(place)) for place in places):
            self._absent = None
            return True
        self._absent = (where, now)
        return False


_NETRC = _NetrcAbsence()


class _DecodesLong(Exception):
    """A body undone on the loop is past ``OFFLOAD_BYTES``: it is undone again, aside."""


#: Set-Cookie lines longer than this in all (thousands of attributes: ``http.cookiejar`` reads
#: each in Python) are read in a worker thread.
OFFLOAD_COOKIE_CHARS = 4096


def _cookie_chars(pairs: list[tuple[str, str]]) -> int:
    return sum(
        len(value) for name, value in pairs if len(name) == 10 and name.lower() == "set-cookie"
    )


#: Bodies larger than this are undone (their content codings) and judged in a worker thread
#: (work in Python holds the GIL even there, but lets the loop run between its turns; the body
#: cap bounds how long one poll can take).
OFFLOAD_BYTES = 64 * 1024


def _ssl_option(verify: bool | str | None, cert: str | tuple[str, str] | None) -> Any:
    """aiohttp's ``ssl=`` for requests' ``verify``/``cert``, honouring the same environment. A
    client certificate is presented whether the server's is verified or not, as requests does.

    :raises ConditionError: a file that cannot be used (``tls_context``).
    """
    if verify is False and not cert:
        return False
    if verify is None or verify is True:
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    context = tls_context_of(verify, cert)
    if cert and context not in _FOR_PROXY:
        _FOR_PROXY[context] = tls_context_of(verify, None)
    return context


#: The TLS settings for an https proxy of those with a client certificate: the same check by
#: ``verify``, no certificate (its origin's; ``_Connector._create_direct_connection``).
_FOR_PROXY: weakref.WeakKeyDictionary[ssl.SSLContext, ssl.SSLContext] = weakref.WeakKeyDictionary()


def _auth_options(auth: Any, headers: CaseInsensitiveDict[str | bytes]) -> dict[str, Any]:
    """aiohttp options for a requests-style ``auth``, chosen by what its ``__call__`` does (a
    subclass that keeps it is the same auth; one that has its own cannot run here): Basic,
    Basic to a proxy (``HTTPProxyAuth``: a ``Proxy-Authorization`` header, as requests adds
    it), Digest, bearer."""
    if auth is None:
        return {}
    if isinstance(auth, tuple) and len(auth) == 2:
        auth = HTTPBasicAuth(*auth)
    call = type(auth).__call__ if isinstance(auth, AuthBase) else None
    if call is HTTPBasicAuth.__call__:
        headers["Authorization"] = basic_header(auth.username, auth.password)
        return {}
    if call is HTTPProxyAuth.__call__:
        headers["Proxy-Authorization"] = basic_header(auth.username, auth.password)
        return {}
    if call is HTTPDigestAuth.__call__:  # answered as the requests runner answers it
        own = auth if type(auth) is DigestAuth else DigestAuth(auth.username, auth.password)
        return {"middlewares": (_Digest(own),), "digest": own}
    if call is BearerAuth.__call__:
        headers["Authorization"] = f"Bearer {auth.token}"
        return {}
    if call is KeepAuthorization.__call__:  # the request's own Authorization stands
        return {}
    raise ConditionError(
        "the async runner supports Basic (to a server or a proxy), Digest and bearer auth, "
        f"not {type(auth).__name__}"
    )


class _Digest:
    """aiohttp middleware that answers a Digest challenge with ``DigestAuth``'s header, by its
    rules (once per hop, a challenge it cannot answer leaves the 4xx, its body unread), as the
    requests runner answers it; the answer to the last challenge on a later request is sent
    by ``AsyncHttSleeper._exchange`` (``DigestAuth.preemptive``), as requests prepares it."""

    __slots__ = ("_auth", "cookie")

    def __init__(self, auth: DigestAuth) -> None:
        self._auth = auth
        #: the ``Cookie`` for an answer, given the challenge's URL and header lines (set by the
        #: sleeper: it keeps the challenge's cookies first, as requests does for its answer)
        self.cookie: Callable[[str, list[tuple[str, str]]], Awaitable[str | None]] | None = None

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        response = await handler(request)
        challenge = ", ".join(  # the lines joined, as requests reads them (latin-1)
            value.decode("latin-1")
            for name, value in response.raw_headers
            if name.lower() == b"www-authenticate"
        )
        url = str(request.url)
        header = self._auth.answer(response.status, challenge, request.method, url)
        if header is None:
            return response
        cookie = await self.cookie(url, _headers(response.raw_headers)) if self.cookie else None
        response.close()  # its body not read, as the requests runner
        request.headers["Authorization"] = header
        if cookie:
            request.headers["Cookie"] = cookie
        answered = await handler(request)
        self._auth.ended(answered.status)
        return answered


class _Stalled(aiohttp.ClientConnectionError):
    """Nothing came within the connect timeout once a connection was made (``_Connector``)."""


# aiohttp error -> the requests error raised for the same cause; most specific first.
_TRANSLATIONS: tuple[tuple[type[BaseException], type[requests.RequestException]], ...] = (
    (aiohttp.ClientConnectorCertificateError, requests.exceptions.SSLError),
    (aiohttp.ClientSSLError, requests.exceptions.SSLError),
    (aiohttp.ConnectionTimeoutError, requests.exceptions.ConnectTimeout),
    (_Stalled, requests.exceptions.ReadTimeout),  # a TLS handshake, a proxy's CONNECT
    (aiohttp.ServerTimeoutError, requests.exceptions.ReadTimeout),
    (aiohttp.TooManyRedirects, requests.exceptions.TooManyRedirects),
    (aiohttp.InvalidURL, requests.exceptions.InvalidURL),
    (aiohttp.ClientHttpProxyError, requests.exceptions.ProxyError),  # a CONNECT refused (407)
    (aiohttp.ClientConnectionError, requests.exceptions.ConnectionError),
    (aiohttp.ClientResponseError, requests.exceptions.ConnectionError),  # unparsable response
    (asyncio.TimeoutError, RequestDeadlineExceeded),  # the request's own deadline
    (aiohttp.ClientError, requests.exceptions.RequestException),
)
#: Errors that already say what happened, passed through the boundary as they are.
_FINAL = (HttSleepError, requests.exceptions.RequestException)


#: How aiohttp's parser words the refusals ``_http.MalformedHeaders`` describes.
_MALFORMED_MESSAGES = (
    "Invalid header token",
    "Duplicate Content-Length",
    "Empty Content-Length",
    "Missing expected LF after header value",
    "Expected LF after headers",  # a CR that begins a line, not followed by LF
    "Content-Length overflow",
    "Invalid character in Content-Length",
    "Transfer-Encoding can't be present with Content-Length",
    "Content-Length can't be present with Transfer-Encoding",
)


#: How it words a refused status line.
_BAD_STATUS_MESSAGES = ("Expected HTTP/", "Invalid HTTP version", "Invalid status code")

#: How it words a refused chunk of the body (its size line, or what ends it).
_BAD_CHUNK_MESSAGES = (
    "Invalid character in chunk size",
    "Invalid character in chunk extension",  # its name, value, or what follows a ';'
    "Expected LF after chunk data",
    "Expected LF after chunk size",  # a bare LF ends the size line
    "Chunk size overflow",  # more hex digits than a length holds
)


def _parser_refused(error: BaseException, messages: tuple[str, ...]) -> bool:
    """Whether ``error`` is aiohttp's parser refusing what one of ``messages`` words."""
    return isinstance(error, BadHttpMessage) and error.message.startswith(messages)


_NO_AUTO_TYPE = ("Content-Type",)


def _latin1(text: str) -> str:
    """Text aiohttp decoded as UTF-8 (``surrogateescape``), as http.client reads it: latin-1."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def translate_error(error: BaseException, secrets: tuple[str, ...] = ()) -> BaseException:
    """The aiohttp runner's one translation boundary: the ``requests`` exception for an aiohttp
    one, by cause (the same class the requests runner raises); anything else as it is.
    aiohttp's own errors behind it forget the request they were raised for
    (``_forget_request``)."""
    _forget_request(error)
    if isinstance(error, _FINAL):
        return error
    for cause in causes(error):  # a shared rule's refusal, raised while aiohttp's parser read
        if isinstance(cause, requests.exceptions.ConnectionError):  # (a bad status line too):
            return type(cause)(*cause.args)  # a new one (it will have the error as its cause)
    if any(isinstance(cause, LineTooLong) for cause in causes(error)):
        return HeaderTooLarge(HEADER_LIMIT_TEXT)
    if any(  # InvalidHeader: a NUL in a value
        isinstance(cause, InvalidHeader) or _parser_refused(cause, _MALFORMED_MESSAGES)
        for cause in causes(error)
    ):
        return MalformedHeaders(MALFORMED_TEXT)
    if isinstance(error, aiohttp.ClientPayloadError) or any(
        _parser_refused(cause, _BAD_CHUNK_MESSAGES) for cause in causes(error)
    ):  # a body cut short, or a chunk size refused (as urllib3's InvalidChunkLength)
        return BodyDropped(BODY_DROPPED_TEXT)
    if isinstance(error, aiohttp.ServerDisconnectedError) and error.message is _CUT_PAST_LIMIT:
        return HeaderTooLarge(HEADER_LIMIT_TEXT)  # a cut head, past the requests runner's limit
    if isinstance(error, aiohttp.ServerDisconnectedError) and error.message is _CUT_STATUS_LINE:
        return requests.exceptions.ConnectionError(BAD_STATUS_TEXT)
    if isinstance(error, aiohttp.ServerDisconnectedError) and not _closed_before_answering(error):
        return requests.exceptions.ConnectionError(CUT_HEAD_TEXT)
    if isinstance(error, aiohttp.ClientConnectionError) and type(error.__cause__) is TypeError:
        # a TLS handshake through an https proxy's tunnel that failed (TLS in TLS: asyncio's
        # transport fails with a TypeError, which aiohttp wraps): a close inside it too
        return requests.exceptions.SSLError(scrub(tls_failure(error), secrets, 300))
    if _closed_before_answering(error) or stale_connection_cause(error):  # a reset before any
        # byte of answer too (a server that closes with the request unread resets it)
        return requests.exceptions.ConnectionError(NO_ANSWER_TEXT)
    if isinstance(error, aiohttp.ClientConnectorError) and not isinstance(
        error, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError
    ):  # no connection made: refused, a name that does not resolve, a proxy not reached
        return requests.exceptions.ConnectionError(connect_failure(error))
    if any(  # what else refused a status line (aiohttp 3.13 words one without its class)
        isinstance(cause, BadStatusLine) or _parser_refused(cause, _BAD_STATUS_MESSAGES)
        for cause in causes(error)
    ):
        return requests.exceptions.ConnectionError(BAD_STATUS_TEXT)
    refused = tunnel_refusal(error)
    if refused is not None:  # both runners' words for each
        return requests.exceptions.ProxyError(scrub(refused, secrets, 300))
    if isinstance(error, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError) or (
        isinstance(error, aiohttp.ClientConnectionError | TypeError) and tls_cause(error)
    ):  # the second: an alert after the handshake (TLS 1.3 refuses a client's certificate so),
        # or one through an https proxy's tunnel, where asyncio's TLS in TLS fails with a
        # TypeError of its own
        return requests.exceptions.SSLError(scrub(tls_failure(error), secrets, 300))
    for source, target in _TRANSLATIONS:
        if isinstance(error, source):
            text = error.message if isinstance(error, aiohttp.ClientResponseError) else str(error)
            return target(scrub(text or type(error).__name__, secrets, 300))
    return error


_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


def _forget_request(error: BaseException) -> None:
    """aiohttp's errors behind ``error`` without the request they hold: its headers (its
    credentials among them), its URLs' user-info (a proxy's password), the responses before
    it, and a connection key's proxy credentials. Their ``repr()`` shows them, and the error
    is kept as the cause of ours."""
    for cause in causes(error):
        info = getattr(cause, "request_info", None)
        if isinstance(info, aiohttp.RequestInfo):
            with contextlib.suppress(AttributeError, TypeError, ValueError):
                cause.request_info = info._replace(  # type: ignore[attr-defined]
                    url=info.url.with_user(None),
                    headers=_NO_HEADERS,
                    real_url=info.real_url.with_user(None),
                )
        if isinstance(cause, aiohttp.ClientResponseError):
            cause.history = ()
        key = getattr(cause, "_conn_key", None)  # a connection's key: its proxy's credentials
        if getattr(key, "proxy", None) is not None or getattr(key, "proxy_auth", None):
            with contextlib.suppress(AttributeError, TypeError, ValueError):
                bare = key._replace(proxy=key.proxy and key.proxy.with_user(None), proxy_auth=None)  # type: ignore[union-attr]
                cause._conn_key = bare  # type: ignore[attr-defined]
                cause.args = tuple(bare if arg is key else arg for arg in cause.args)


def _closed_before_answering(error: BaseException) -> bool:
    """Whether the server closed the connection before any byte of its answer: aiohttp's
    message is then its default text, and the head it began to read after a byte."""
    return isinstance(error, aiohttp.ServerDisconnectedError) and isinstance(error.message, str)


def _headers(raw_headers: Any) -> list[tuple[str, str]]:
    """A head's header lines (aiohttp's ``raw_headers``) as http.client reads them (latin-1
    text), without the whitespace that ends a value (some aiohttp versions keep it; the
    requests runner drops it too)."""
    return [
        (name.decode("latin-1"), value.decode("latin-1").rstrip(" \t"))
        for name, value in raw_headers
    ]


class ResponseHeaders(CaseInsensitiveDict[str]):
    """A response's headers, as requests holds them, read without an exception for a name that
    is absent (``Mapping.get`` and ``in`` go through ``KeyError``): every poll asks for a few."""

    def get(self, key: str, default: Any = None) -> Any:
        held = self._store.get(key.lower())  # a key without .lower() raises as in requests
        return default if held is None else held[1]

    def __contains__(self, key: object) -> bool:
        return key.lower() in self._store  # type: ignore[attr-defined]


def joined(pairs: list[tuple[str, str]]) -> ResponseHeaders:
    """Header lines as the requests runner holds them (``_http.joined_header_lines``)."""
    headers = ResponseHeaders.__new__(ResponseHeaders)  # CaseInsensitiveDict() but its update
    headers._store = joined_header_lines(pairs)
    return headers


#: What a hop sent: its method, URL, headers and body.
_Sent = tuple[str, str, Mapping[str, Any], Any]


class _Response(requests.Response):
    """The ``requests.Response`` the async runner returns, as the requests runner's, made for
    less: without ``Set-Cookie`` lines its (empty) cookie jar is made only when read, which
    most polls never do; with them it holds their cookies (``cookies``), as requests fills it."""

    def __init__(
        self,
        cookies: RequestsCookieJar | None = None,
        headers: CaseInsensitiveDict[str] | None = None,
    ):
        # requests.Response.__init__ but the jar (tests/runners/test_response.py checks the set)
        self._content = False
        self._content_consumed = True  # the whole body is read, as requests reads it
        self._next = None
        self.status_code = 0
        self.headers: CaseInsensitiveDict[str] = (
            CaseInsensitiveDict() if headers is None else headers
        )
        self.raw = None
        self.url = ""
        self.encoding = None
        self.history: list[requests.Response] = []
        self.reason = ""
        self.elapsed = datetime.timedelta(0)
        self._request: requests.PreparedRequest | None = None
        self._sent: _Sent | None = None  # what the last hop sent: ``request``, when read
        self._cookies: RequestsCookieJar | None = cookies

    @property  # type: ignore[override]
    def request(self) -> requests.PreparedRequest | None:
        """The request of the last hop, as the requests runner's response holds it (its
        method, URL, headers as sent, but aiohttp's own, and body), made when read."""
        if self._request is None and self._sent is not None:
            method, url, headers, body = self._sent
            prepared = requests.PreparedRequest()
            prepared.method, prepared.url, prepared.body = method, url, body
            prepared.headers = CaseInsensitiveDict(
                {name: value for name, value in headers.items() if value is not None}
            )
            self._request = prepared
        return self._request

    @request.setter
    def request(self, request: requests.PreparedRequest | None) -> None:
        self._request, self._sent = request, None

    @property
    def cookies(self) -> RequestsCookieJar:
        if self._cookies is None:
            self._cookies = RequestsCookieJar()
        return self._cookies

    @cookies.setter
    def cookies(self, jar: RequestsCookieJar) -> None:
        self._cookies = jar


def to_requests_response(
    response: aiohttp.ClientResponse,
    body: bytes,
    elapsed: float,
    headers: CaseInsensitiveDict[str] | None = None,
    cookies: RequestsCookieJar | None = None,
    url: str | None = None,
    sent: _Sent | None = None,
) -> requests.Response:
    """A ``requests.Response`` with the status, headers, body, URL and encoding of ``response``.

    Headers are read as requests reads them: latin-1 text, repeated names joined by ``", "``.
    ``cookies``: the cookies it sets, when it sets any. ``url``: ``str(response.url)``, when
    known. ``sent``: what the hop sent (``request``).
    """
    result = _Response(
        cookies, joined(_headers(response.raw_headers)) if headers is None else headers
    )
    result.status_code = response.status
    # aiohttp reads the reason as UTF-8 (undecodable bytes escaped), http.client as latin-1,
    # without the whitespace around it
    reason = response.reason or ""
    result.reason = (reason if reason.isascii() else _latin1(reason)).strip()
    result._content = body
    result.url = str(response.url) if url is None else url
    result.encoding = _encoding(result.headers.get("Content-Type"))
    result.elapsed = datetime.timedelta(seconds=elapsed)
    result._sent = sent
    return result


def _encoding(content_type: str | None) -> str | None:
    """``requests.utils.get_encoding_from_headers`` for a ``Content-Type`` value: worked out
    once per value (a poller's server sends the same one every poll)."""
    if content_type is not None and len(content_type) > 200:  # a long one is rare: not kept
        return _encoding_of.__wrapped__(content_type)
    return _encoding_of(content_type)


@functools.lru_cache(maxsize=256)
def _encoding_of(content_type: str | None) -> str | None:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    if content_type is not None:
        headers["Content-Type"] = content_type
    return text_encoding(get_encoding_from_headers(headers))


def drop_ended_loops(registry: dict[asyncio.AbstractEventLoop, Any]) -> None:
    """Forget what ``registry`` keeps for event loops that have closed (a loop that ended
    without its users cleaning up). Safe while loops of other threads add to it."""
    for ended in [loop for loop in list(registry) if loop.is_closed()]:
        registry.pop(ended, None)


class _Sessions:
    """One aiohttp session per event loop, shared by that loop's sleepers, and closed when the
    last of them closes. What differs between sleepers (headers, timeouts, auth, proxy, TLS)
    goes with each request; the session holds only what is the same for all, so a thousand
    triggers hold one session, not a thousand. No caller can reach it (``session`` gives a
    sleeper a session of its own), so none can change it for the others."""

    def __init__(self) -> None:
        self._sessions: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, int]] = {}

    def acquire(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        drop_ended_loops(self._sessions)
        session, users = self._sessions.get(loop) or (_new_session(), 0)
        self._sessions[loop] = (session, users + 1)
        return session

    async def release(self, loop: asyncio.AbstractEventLoop) -> None:
        """One sleeper of ``loop`` (where it took the session) is done with it."""
        if loop not in self._sessions:
            return
        session, users = self._sessions[loop]
        if users > 1:
            self._sessions[loop] = (session, users - 1)
            return
        del self._sessions[loop]
        if loop is asyncio.get_running_loop():  # another loop's cannot be closed from here
            await session.close()


#: The protocols made for the connection being made (``_Connector._made``).
_MADE: contextvars.ContextVar[list[_Handler] | None] = contextvars.ContextVar("_MADE", default=None)
#: The connect timeout, while a connection is made: a proxy's answer to CONNECT is waited for
#: with it between reads (``_Handler.set_response_params``).
_TUNNEL_READ: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "_TUNNEL_READ", default=None
)


class _Connector(aiohttp.TCPConnector):
    """aiohttp's connector, but a pooled connection that holds bytes no request asked for (an
    answer the server sent unasked, bytes past a response's end) is closed instead of reused:
    they would be read as the next poll's answer. urllib3 drops a pooled connection that is
    readable before it reuses it, so both runners send that poll on a new connection."""

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._factory = self._made  # type: ignore[assignment]

    def _made(self) -> _Handler:
        """A connection's protocol: made once its TCP connection is (before a TLS handshake,
        or a proxy's answer to CONNECT)."""
        handler = _Handler(loop=self._loop)
        made = _MADE.get()
        if made is not None:
            made.append(handler)
        return handler

    async def _create_direct_connection(
        self,
        req: Any,
        traces: Any,
        timeout: Any,
        *,
        client_error: type[Exception] = aiohttp.ClientConnectorError,
    ) -> Any:
        """aiohttp's, but an https proxy is checked by ``verify`` alone: the origin's client
        certificate goes to its origin only, as the requests runner presents it (aiohttp
        presented it to the proxy too)."""
        if client_error is aiohttp.ClientProxyConnectionError and req.is_ssl():
            for_proxy = _FOR_PROXY.get(req.ssl) if isinstance(req.ssl, ssl.SSLContext) else None
            if for_proxy is not None:
                req._ssl = for_proxy
        return await super()._create_direct_connection(
            req, traces, timeout, client_error=client_error
        )

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
        """aiohttp's, but what stalls once the TCP connection is made (a TLS handshake, a
        proxy's answer to CONNECT) is a read timeout at the connect timeout, as requests
        reads it (aiohttp called a stalled handshake a connect timeout, and waited for the
        proxy's answer until the request's deadline); and a TLS handshake the other end closes,
        resets or aborts is a TLS error, as urllib3 reads an EOF in a handshake (the requests
        runner a reset too: ``_sync._HandshakeCut``), not a lost or refused connection."""
        made: list[_Handler] = []
        tokens = _MADE.set(made), _TUNNEL_READ.set(timeout.sock_connect)
        try:
            protocol = await super()._create_connection(req, traces, timeout)
        except asyncio.TimeoutError as exc:
            if not made or timeout.sock_connect is None:  # not the connect timeout's doing
                raise
            raise _Stalled(
                f"{req.host}:{req.port}: no answer within the connect timeout "
                f"({timeout.sock_connect:g} s) once connected"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            # the TLS connection's protocol is made before its handshake (through a proxy,
            # after the proxy's own); aiohttp's TLS errors may hold no OS error at all
            handshaking = req.is_ssl() and len(made) > (req.proxy is not None)
            if isinstance(exc, aiohttp.ClientSSLError) or not handshaking:
                raise
            os_error = getattr(exc, "_os_error", None)  # closed (no errno), reset, aborted
            if not isinstance(
                os_error, ConnectionResetError | ConnectionAbortedError | BrokenPipeError
            ):
                raise
            raise aiohttp.ClientConnectorSSLError(req.connection_key, os_error) from exc
        finally:
            _MADE.reset(tokens[0])
            _TUNNEL_READ.reset(tokens[1])
        for handler in made:  # a proxy's, its tunnel taken over: it waits for nothing more
            if handler is not protocol:
                handler._read_timeout = None
                handler._drop_timeout()
        return protocol

    def _get(self, key: Any, traces: Any) -> Any:  # what aiohttp awaits: no coroutine of ours
        for protocol, _ in self._conns.get(key, ()):  # reused from the left; a closed one is
            if not protocol.should_close:  # skipped and dropped by aiohttp itself
                break
            protocol.close()
        return super()._get(key, traces)


#: What a response parser returns for bytes it drops (``_Framed``): no message.
_NOTHING: tuple[tuple[Any, ...], bool, bytes] = ((), False, b"")
#: The most of a head that has not ended ``_Framed`` keeps, to read it again: as much as the
#: parser holds of the longest head it reads (``MAX_HEADERS`` lines of ``MAX_STATUS_LINE``, the
#: spaces before a value that no other limit counts included: 6.6 MB).
_KEEP_HEAD = MAX_STATUS_LINE * (MAX_HEADERS + 2)
#: The most lines of a head, after its status line, that the requests runner reads (http.client's
#: limit): the blank line that ends it, or the end of a cut one, counted.
_HEAD_LINES = 100
#: What ``_Framed.feed_eof`` gives aiohttp for a head the connection cut after more lines than
#: that: aiohttp puts it in its ``ServerDisconnectedError`` (``translate_error``).
_CUT_PAST_LIMIT = object()
#: What it gives aiohttp for a head cut inside its status line (a bad status line).
_CUT_STATUS_LINE = object()
#: Why a head's bytes are refused when aiohttp's parser read them (``_http.heads_refused``).
_REFUSED_LINE = "a header line the requests runner refuses"
#: The end of a blank line: where a response's head ends (a bare LF too, as both parsers read).
_BLANK_LINE = re.compile(rb"\n\r?\n")


def _past_lead(before: bytes | bytearray, data: bytes) -> bytes:
    """``data`` past the CR and LF bytes before a status line, when none of it came before."""
    return data if before else data.lstrip(b"\r\n")


class _Framed:
    """aiohttp's parser of one response, but bytes past the response's end that come in the
    read that ends it are dropped with the connection, as urllib3 leaves them unread: a server
    that sends more than its ``Content-Length`` (or a body after a 204) gets its response
    read as the requests runner reads it, not a ``ConnectionError``. aiohttp's parser parses
    them as the next response and raises, the response before them lost with it.

    Reads go to aiohttp's parser as they come. When it raises past the end of a response that
    ended whole (its body at its end, no error on it), the error is dropped, and so is every
    later byte; the connection closes after this response (``should_close``). When that
    response's head ended in the read that raised, the read is parsed again, from the start of
    that head, by a parser of the same settings, head by head, so that the response is out
    before any byte past it goes in. An interim head that implies a close (after which
    aiohttp's parser refuses every byte, the final head's too) is read past the same way, and
    the parser that read the final head reads on. Every other error is aiohttp's, as before.
    """

    __slots__ = (
        "_dropping",
        "_head",
        "_interims",
        "_known",
        "_lead",
        "_line_at",
        "_lines",
        "_options",
        "_parser",
        "_payload",
        "_protocol",
        "_refusing",
    )

    def __init__(self, parser: Any, protocol: _Handler, options: dict[str, Any]):
        self._parser = parser
        self._protocol = protocol
        self._options: dict[str, Any] | None = options  # the parser's (set_response_params)
        self._payload: Any = None  # the body of the final response, once its head is read
        # what came of a head that has not ended yet (most heads end in the read they begin
        # in); None once it is more than any head either runner reads
        self._head: bytes | bytearray | None = b""
        self._lines = 0  # line ends in ``_head``, past the CR and LF bytes before its status
        self._lead = True  # only those have come of the head yet
        self._interims = 0  # interim heads ended
        self._line_at = 0  # where the head's line not ended yet begins in ``_head``
        self._known: bool | None = None  # whether that line is a framing line, once known
        self._dropping = False
        # a status line its parser refused: read to its end (its bytes so far), or past
        # MAX_STATUS_LINE, as the requests runner reads one
        self._refusing: int | None = None

    def feed_data(self, data: bytes) -> tuple[Any, bool, bytes]:
        if self._dropping:
            return _NOTHING
        if self._refusing is not None:  # a status line aiohttp's parser refused
            _check_status_line_length(data, 0, self._refusing)
            if b"\n" in data:
                raise requests.exceptions.ConnectionError(BAD_STATUS_TEXT)
            self._refusing += len(data)
            return _NOTHING
        before = (self._head or b"") if self._payload is None else None  # a head not ended yet
        if before is not None:
            if self._lead and not before and not data.strip(b"\r\n"):
                return _NOTHING  # CR and LF bytes before a status line, which both parsers
                # skip: a server may send them without end, looked at once each, in C
            self._count_lines(before, data)
        try:
            found = self._parser.feed_data(data)
        except Exception as exc:
            if before is not None and self._refused(before, data):
                raise InvalidHeader(_REFUSED_LINE) from exc
            if (
                before is not None
                and not self._line_at
                and not isinstance(exc, LineTooLong)  # past the limits: HeaderTooLarge
                and b"\n" not in _past_lead(before, data)
            ):
                # refused inside a status line that has not ended: the requests runner reads
                # on to its end (a bad status line), the connection's (a cut head) or a read
                # timeout, and so does this one (``_refusing``)
                self._refusing = len(before) + len(_past_lead(before, data))
                return _NOTHING
            again = self._read_again(data) if self._payload is None else None
            if again is not None and not again[1]:  # read on by the parser that read it again
                if _final_payload(again[0]) is None:  # interim heads only, as below
                    self._protocol._interim = True
                return again[0], False, b""
            if again is None and not _whole(self._payload):
                # a body whose head went out: its reader is told, as a cut body's (aiohttp's
                # parser forgets it, and the wait went on until the request's deadline)
                if self._payload is not None and self._payload.exception() is None:
                    set_exception(self._payload, aiohttp.ClientPayloadError(str(exc)), exc)
                raise
            self._dropping = True  # the response ended whole: the rest is no answer to it
            self._protocol._should_close = True
            return (again[0] if again else ()), False, b""
        if before is not None:
            if self._refused(before, data):
                raise InvalidHeader(_REFUSED_LINE)
            for message, _ in found[0]:  # interim heads, checked as the requests runner does
                if message.code < 200:
                    check_header_lines(_headers(message.raw_headers), interim=True)
        if self._payload is None:
            self._payload = _final_payload(found[0])
            if self._payload is not None:  # nothing to read again: not kept over the sleep
                self._options = self._head = None
            else:
                if found[0]:  # interim heads only: the final one is still to come
                    self._protocol._interim = True
                    if found[0][-1][0].should_close:  # its parser would refuse the final head
                        self._parser = self._scratch_parser()
                if self._head is not None:
                    self._keep(data)
        return found  # type: ignore[no-any-return]

    def _refused(self, before: bytes | bytearray, data: bytes) -> bool:
        """``heads_refused`` of the heads a read holds: ``data``, after ``before`` (what came of
        a head that has not ended, looked at when it came but for its last line's end; never
        the CR and LF bytes before its status line, ``_keep``). Each byte is looked at about
        once, however the head is cut into reads."""
        if not before:  # most reads: a head begins
            return heads_refused(data)
        if before[-1:] not in b"\r\n" and not data.strip(b" \t"):  # spaces or tabs that go
            return False  # on a line (a status line would not end with them): nothing to refuse
        start = self._line_at  # the line not ended yet (``before`` is the head kept)
        if not start:  # inside the status line
            end = data.find(b"\n")
            if end < 0:
                return False
            status = bytes(before) + data[: end + 1]
            check_status_line(status)
            return heads_refused(data[end + 1 :], line=1, interim=status[9:10] == b"1")
        interim = before[9:10] == b"1"  # the status line ended: its code is there
        if start < len(before) and before[start] != 13:  # inside a header line (a CR alone
            # may begin the blank line that ends the head)
            framing = self._framing(before, start)
            if framing is not None:  # its end, and a CR that ended the last read
                return heads_refused(
                    bytes(before[-1:]) + data, line=3, interim=interim, framing=framing
                )
        previous = before.rfind(b"\n", 0, start - 1) + 1  # where the line before begins
        if not previous:  # the status line: the first header line is next
            return heads_refused(bytes(before[start:]) + data, line=1, interim=interim)
        framing = framing_line(before, previous)  # a line folded into it is refused
        return heads_refused(bytes(before[start:]) + data, line=2, interim=interim, framing=framing)

    def _framing(self, head: bytes | bytearray, start: int) -> bool | None:
        """Whether the line at ``start`` of ``head`` (``_line_at``), not ended yet, is a framing
        line (``framing_line``), once its start tells (``_framing_open``); worked out once a
        line (``_known``, forgotten wherever ``_line_at`` moves)."""
        if self._known is None:
            if _framing_open(head, start):
                return None
            self._known = framing_line(head, start)
        return self._known

    def _count_lines(self, before: bytes | bytearray, data: bytes) -> None:
        """Refuse a head once it has more lines than the requests runner reads of one
        (``HeaderTooLarge``, as it refuses it), counted as it counts them: every line after the
        status line, a folded one and the blank line that ends the head included, the CR and
        LF bytes before a status line not. Each head of this read is counted (interim heads,
        then the final one) before aiohttp's parser holds it: it took thousands of lines, each
        of up to ``MAX_STATUS_LINE`` bytes, then refused them with an error of another class,
        and counted a folded line as one."""
        if not before and data[:5] == b"HTTP/" and data[9:10] != b"1":  # most reads: a final
            blank = _BLANK_LINE.search(data)  # head begins, and (below) ends in this read
            if blank is not None:
                self._lead = False
                _check_status_line_length(data, 0)
                _check_line_ends(data.count(b"\n", 0, blank.end()))
                return
        began = not self._lead  # the status line began in an earlier read
        if began:
            if before.find(b"\n") < 0:  # its status line has not ended yet
                _check_status_line_length(data, 0, len(before))
            tail = bytes(before[-2:])  # a blank line may begin in the last read
            blank = _BLANK_LINE.search(tail + data)
        else:  # the CR and LF bytes before a status line end no head: looked past
            tail = b""
            start = BLANK_BYTES.match(data).end()  # type: ignore[union-attr]  # always
            _check_status_line_length(data, start)
            blank = _BLANK_LINE.search(data, start)
        if blank is None:
            self._lines += self._line_ends(data, 0, len(data))
            _check_line_ends(self._lines)
            return
        end = max(0, blank.end() - len(tail))
        _check_line_ends(self._lines + self._line_ends(data, 0, end))
        # a status line cut between reads: its start, and this read's
        interim = _interim(bytes(before[:16]) + data[:16]) if began else _interim(data)
        while interim:  # more heads in this read: each counted on its own
            self._interims += 1
            if self._interims > MAX_INTERIM:  # refused before the parser reads them
                raise HeaderTooLarge(INTERIM_LIMIT_TEXT)
            self._lead = True
            start = BLANK_BYTES.match(data, end).end()  # type: ignore[union-attr]  # always
            if start == len(data):
                break  # only the CR and LF bytes before the next status line, so far
            _check_status_line_length(data, start)
            blank = _BLANK_LINE.search(data, start)
            end = len(data) if blank is None else blank.end()
            _check_line_ends(self._line_ends(data, start, end))
            if blank is None:
                break  # counted again by ``_keep``, as the head it keeps
            interim = _interim(data, start)

    def _line_ends(self, data: bytes | bytearray, start: int, end: int) -> int:
        """The line ends in ``data[start:end]`` past the CR and LF bytes before a status line
        (``_lead``: none but those have come of this head yet)."""
        if self._lead:
            start = BLANK_BYTES.match(data, start, end).end()  # type: ignore[union-attr]
            self._lead = start == end
        return data.count(b"\n", start, end)

    def _keep(self, data: bytes) -> None:
        """Keep what ``data`` holds of a head that has not ended: what follows the last blank
        line (an interim response's head ended there, and went out)."""
        head = self._head if isinstance(self._head, bytearray) else bytearray(self._head or b"")
        searched_from = max(0, len(head) - 2)  # a blank line may begin in the last read
        line_end = data.rfind(b"\n")
        if line_end >= 0:
            self._line_at, self._known = len(head) + line_end + 1, None
        head += data
        bare, crlf = head.rfind(b"\n\n", searched_from), head.rfind(b"\n\r\n", searched_from)
        end = max(bare + 2 if bare >= 0 else 0, crlf + 3 if crlf >= 0 else 0)
        if end:
            del head[:end]
            self._lead, self._known, self._line_at = True, None, self._line_at - end
            self._lines = self._line_ends(head, 0, len(head))
        if head and head[0] in b"\r\n":  # the CR and LF bytes before a status line: skipped
            # by both parsers, and not kept (each read would look at them all again)
            lead = BLANK_BYTES.match(head).end()  # type: ignore[union-attr]  # always
            del head[:lead]
            self._known, self._line_at = None, max(0, self._line_at - lead)
        self._head = head if len(head) <= _KEEP_HEAD else None

    def _read_again(self, data: bytes) -> tuple[list[Any], bool] | None:
        """The responses whose heads end in ``data``, read again from the head that began
        before it, head by head, and whether the final one ended whole before the bytes that
        made aiohttp's parser raise (they are dropped); ``None`` when it did not, or the read
        is refused again.

        Past an interim head, what made the first parser raise may be that head: one that
        implies a close (``Connection: close``, ``HTTP/1.0``) makes it refuse every later byte,
        the final head's too; http.client reads on. Then the parser that read the rest reads
        on (``False``: nothing dropped), and a refusal of the final response is its own."""
        if self._head is None:
            return None
        read = bytes(self._head) + data if self._head else data
        parser = self._scratch_parser()
        messages: list[Any] = []
        start = 0
        interim = False  # an interim head was read again, and a parser of its own took over
        try:
            while True:
                blank = _BLANK_LINE.search(read, start)
                if blank is None:
                    if not interim:
                        return None
                    rest = read[start:]  # the final head, not ended yet
                    parser.feed_data(rest)
                    self._parser, self._head, self._lead = parser, b"", True
                    self._line_at = 0
                    self._known = None
                    self._lines = self._line_ends(rest, 0, len(rest))
                    self._keep(rest)
                    return messages, False
                found, _, _ = parser.feed_data(read[start : blank.end()])
                start = blank.end()
                messages += found
                payload = _final_payload(found)
                if payload is not None:
                    break
                interim = True
                parser = self._scratch_parser()  # each head to a parser of its own
            try:
                more, _, _ = parser.feed_data(read[start:])
            except Exception:  # what made the first parser raise: bytes past the response
                if _whole(payload):
                    return messages, True
                for message, _ in found:  # or its body: its head is refused first, as the
                    check_header_lines(_headers(message.raw_headers))  # requests runner does
                raise
        except (HeaderTooLarge, MalformedHeaders):
            raise
        except Exception:  # a head or body refused: the final response's own refusal when
            if interim:  # an interim head was read past, the first parser's error else
                raise
            return None
        self._parser, self._payload = parser, payload
        self._options = self._head = None
        return messages + list(more), False

    def _scratch_parser(self) -> Any:
        """A new parser of the same settings, for the same protocol (the bodies it reads are
        read through the connection); the protocol keeps this one."""
        protocol = self._protocol
        ResponseHandler.set_response_params(protocol, **(self._options or {}))  # aiohttp's own
        parser, protocol._parser = protocol._parser, self  # type: ignore[assignment]
        return parser

    def feed_eof(self) -> Any:
        if self._dropping:
            return None
        if self._refusing is not None or self._inside_status_line():  # a head cut there: what the
            return _CUT_STATUS_LINE  # requests runner calls a bad status line
        uncompleted = self._parser.feed_eof()
        if self._payload is None and self._head is not None:  # a head cut before its end
            # the line begun, and the stream's end: lines the requests runner reads too
            begun = self._lines > 0 and not self._head.endswith(b"\n")
            if max(0, self._lines - 1) + begun + 1 > _HEAD_LINES:
                return _CUT_PAST_LIMIT
        return uncompleted

    def answer_begun(self) -> bool:
        """Whether a byte of an answer came (past the CR and LF bytes before a status line, and
        past any interim head that ended): a head begun, or a final head that ended."""
        return self._payload is not None or self._refusing is not None or self._head != b""

    def _inside_status_line(self) -> bool:
        """Whether a head has begun and its status line has not ended (``_head``: past the CR
        and LF bytes before it, and past any interim head that ended)."""
        head = self._head
        if self._payload is not None or not head:
            return False
        return not self._line_at and b"\n" not in head

    def __getattr__(self, name: str) -> Any:  # what else aiohttp asks of its parser
        return getattr(self._parser, name)


#: The status line of an interim response (a 101 switches protocols: it is the final one).
_INTERIM = re.compile(rb"[\r\n]*HTTP/\d\.\d 1(?!01)\d\d")


def _interim(head: bytes | bytearray, start: int = 0) -> bool:
    """Whether the head that begins at ``start`` is an interim response's."""
    return _INTERIM.match(head, start) is not None


def _check_status_line_length(read: bytes, start: int, before: int = 0) -> None:
    """Refuse a status line that begins at ``start`` of ``read`` (``before`` bytes of it came
    in earlier reads) once it is longer, its line end included, than the requests runner reads
    (``MAX_STATUS_LINE``, http.client's limit; aiohttp's parser counts its reason alone)."""
    room = MAX_STATUS_LINE - before
    if len(read) - start >= room and read.find(b"\n", start, start + room) < 0:
        raise HeaderTooLarge(HEADER_LIMIT_TEXT)


def _check_line_ends(line_ends: int) -> None:
    """Refuse a head whose line ends, past the CR and LF bytes before its status line, are past
    what the requests runner reads (``_HEAD_LINES`` after the status line's own)."""
    if line_ends - 1 > _HEAD_LINES:
        raise HeaderTooLarge(HEADER_LIMIT_TEXT)


def _framing_open(read: bytes | bytearray, start: int) -> bool:
    """Whether the line at ``start`` of ``read``, not ended yet, may still become a framing
    line (``framing_line``) or not, as more of it comes: so far it is the start of one's name,
    or a whole name, spaces, its colon and spaces, with no value yet."""
    return _FRAMING_OPEN.match(read, start) is not None


def _name_starts(*names: str) -> bytes:
    """A pattern of every start of ``names``, each a whole name too."""
    starts = {name[:end] for name in names for end in range(1, len(name) + 1)}
    return "|".join(re.escape(start) for start in sorted(starts, key=len, reverse=True)).encode()


#: A line that may still become a framing line: see ``_framing_open``.
_FRAMING_OPEN = re.compile(
    rb"(?i)(?:(?:content-length|transfer-encoding)[ \t]*(?::[ \t]*)?|"
    + _name_starts("content-length", "transfer-encoding")
    + rb")\Z"
)


def _final_payload(messages: Any) -> Any:
    """The body of the final (not interim) response among parsed ``messages``, or ``None``."""
    for message, payload in messages:
        if message.code >= 200:
            return payload
    return None


def _whole(payload: Any) -> bool:
    """Whether a response body ended whole: at its end, with no error on it."""
    return payload is not None and payload.is_eof() and payload.exception() is None


class _Handler(ResponseHandler):
    """aiohttp's connection protocol, its responses parsed by ``_Framed``, and its read timeout
    (``sock_read``: requests' read timeout, the longest wait for the next bytes) kept by the
    loop's ``_Wheel`` when it is of a second or more: aiohttp starts it again at every read (a
    timer made, pushed into the loop's heap and cancelled, three times a poll); here a read
    only notes its time, and the wheel's slot, when it ends, waits on from the last read or
    ends the request as aiohttp would (``_on_read_timeout``), up to ``_SLOT`` seconds late."""

    #: When the last bytes came (the loop's time), the wheel's slot the timeout is in, and
    #: when that slot was asked for.
    _read_at = 0.0
    _read_slot: set[Any] | None = None
    _read_due = 0.0
    #: An interim head (``1xx``) ended the read being parsed: aiohttp drops the read timeout
    #: after it, as after a response without a body, but the final response is still to
    #: come, and http.client waits for it with the read timeout, as for any bytes.
    _interim = False

    def set_response_params(self, **options: Any) -> None:
        tunnel = _TUNNEL_READ.get()  # a proxy's answer to CONNECT, sent already: waited for
        if tunnel is not None and options.get("read_timeout") is None:  # with the connect
            options["read_timeout"] = tunnel  # timeout, as requests waits for it
        super().set_response_params(**options)
        if self._parser is not None:
            self._parser = _Framed(self._parser, self, options)  # type: ignore[assignment]
        if tunnel is not None:
            self._reschedule_timeout()

    def _reschedule_timeout(self) -> None:  # aiohttp: the read timeout starts again
        if self._interim:  # marked by the read before, which ended without a drop
            self._interim = False
        timeout = self._read_timeout
        if timeout is None or not _WHEELED_FROM <= timeout <= _WHEELED_UNTIL:
            self._drop_timeout()
            super()._reschedule_timeout()  # its own timer, to the instant
            return
        self._read_at = now = self._loop.time()
        due = now + timeout
        if self._read_slot is None or due < self._read_due:
            # none yet, or one due later (a longer timeout, before), or aiohttp's own timer
            self._drop_timeout()
            self._wait_until(due)

    def _drop_timeout(self) -> None:  # aiohttp: no read timeout until it starts again
        if self._interim:  # after an interim head, in the same read: it goes on
            self._interim = False
            return
        slot = self._read_slot
        if slot is not None:
            slot.discard(self)
            self._read_slot = None
        if self._read_timeout_handle is not None:
            super()._drop_timeout()

    def connection_lost(self, exc: BaseException | None) -> None:
        if isinstance(exc, ConnectionResetError) and self._reset_reads_as_close():
            exc = None
        super().connection_lost(exc)

    def _reset_reads_as_close(self) -> bool:
        """Whether a reset now is taken for a close: once a byte of an answer came, over TLS,
        or while the request is still being sent (its bytes past what the connection holds
        unsent). There the requests runner reads a reset as the stream's end: its TLS socket
        (a close without TLS's close notice is one too, so it cannot tell them apart), and its
        plain socket once a send met the reset first (urllib3 then reads the early answer,
        and the socket says the reset once). It calls the answer cut there (a bad status line,
        a close inside the header section, a body cut short) or reads a body the close ends
        whole. A reset before any byte of an answer stays what both call a close without an
        answer."""
        parser, transport = self._parser, self.transport
        return (
            isinstance(parser, _Framed)
            and parser.answer_begun()
            and transport is not None
            and (self.writing_paused or transport.get_extra_info("sslcontext") is not None)
        )

    def __call__(self) -> None:  # the wheel's slot of the read timeout ended
        self._read_slot = None
        timeout = self._read_timeout
        if timeout is None:
            return
        due = self._read_at + timeout
        if self._loop.time() < due:  # bytes came since: wait on from the last of them
            self._wait_until(due)
        else:
            self._on_read_timeout()

    def _wait_until(self, due: float) -> None:
        self._read_slot, self._read_due = _wheel(self._loop).add(self, due), due


def _new_session() -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(
        connector=_Connector(limit=0, limit_per_host=POOL_PER_HOST),
        trust_env=False,  # the environment is read by each sleeper, once (``send_once``)
        cookie_jar=aiohttp.DummyCookieJar(),  # cookies are each sleeper's own (``_jar``)
        auto_decompress=False,  # decoded by the shared rule (``_http.decode_body``)
        max_line_size=MAX_STATUS_LINE,
        max_field_size=MAX_STATUS_LINE,
        **_PARSER_LIMITS,
    )
    # aiohttp silently resends a request whose reused connection was dropped; requests does
    # not. One poll must be one request (the budget counts them), as in requests.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


_SESSIONS = _Sessions()


class AsyncHttSleeper(Plan):
    """``HttSleeper`` for asyncio: the same conditions and rules; ``await run()``.

    Takes the arguments of ``Plan`` (``until`` and ``alarms`` positional, the rest by name; not
    the classic library's deprecated forms ``HttSleeper`` still takes: condition keywords such
    as ``status_code=200``, positional ``auth`` and ``headers``, ``loglevel``), and:

    :param session: an ``aiohttp.ClientSession`` to use and leave open (without default headers
        or auth, which aiohttp would send to every origin); by default the loop's
        shared one (``session``), taken on first use and given back by ``close()``.
    :param cert: a client certificate: a path, or a ``(cert, key)`` pair.
    :param proxies: requests-style ``{"https": "http://proxy:3128"}``; proxy environment
        variables apply as well (read at the first poll, like the CA bundle variables), and
        ``~/.netrc`` (or ``$NETRC``) when the request has no auth, as requests reads them.
    :param sleep: the awaitable sleeping function (tests pass a recorder).
    """

    #: why the TLS files cannot be used, once known (the first poll): raised by a hop to https
    _tls_problem: str | None = None
    _bad_proxy: str | None = None  # a proxy requests refuses (``checked_proxy``), when chosen
    #: the body as text, when requests prepared it so (``response.request.body``)
    _text_body: str | None = None

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
        # The request is built by requests' own rules (URL and params, body, headers), so both
        # runners put the same bytes on the wire; only auth and cookies are added per hop.
        headers: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(default_headers())
        if "Accept-Encoding" not in (request.headers or {}):
            headers["Accept-Encoding"] = ACCEPT_ENCODING
        headers.update(request.headers or {})
        auth = request.auth
        if auth is None and _NETRC.may_exist():  # as requests: ~/.netrc's credentials for
            found = netrc_auth(cast(str, request.url))  # the host, if it has some
            if found is not None:
                auth = HTTPBasicAuth(*found)
                self.secrets = joined_secrets(self.secrets, tidy(basic_secrets(*found)))
        extra = _auth_options(auth, headers)
        # requests' Request.prepare but its cookie and hook steps (none are given here; cookies
        # go per hop), and with no empty params or data to run through its type checks
        url = cast(str, request.url)  # a checked string (Plan: build_request)
        prepared = requests.PreparedRequest()
        prepared.prepare_method(request.method)
        prepared.prepare_url(url, _unless_empty(request.params))
        prepared.prepare_headers(headers)
        prepared.prepare_body(_unless_empty(request.data), None, request.json)
        if auth is None:  # a password in the URL: Basic, as requests (given auth wins)
            prepared.prepare_auth(None, url)
        self._method = prepared.method or "GET"
        self._url = prepared.url or url
        self._label = describe_request(request, self._url)  # not prepared a second time
        self._target = _wire_url(self._url)  # parsed once: every poll sends to it first
        self._body = _body_bytes(prepared.body)
        if isinstance(prepared.body, str):  # as requests holds it (a form's, text): its request
            self._text_body = prepared.body
        # aiohttp takes text only; a value is ASCII (Plan: check_headers), so bytes read alike
        self._headers: Mapping[str, str | bytes] = _shared(
            {
                name: value.decode("latin-1") if isinstance(value, bytes) else value
                for name, value in prepared.headers.items()
            }
        )
        self._proxy_authorization = any(name.lower() == PROXY_AUTH for name in self._headers)
        request_options: dict[str, Any] = {
            "allow_redirects": False,
            "auto_decompress": False,  # decoded by the shared rule (_http.decode_body)
            "timeout": _client_timeout(self.timeout),
        }
        if self._body or self._method in ("POST", "PUT", "PATCH"):
            # requests sends no Content-Type it was not given; aiohttp adds one to a body
            request_options["skip_auto_headers"] = _NO_AUTO_TYPE
        # shared with equal ones once the first send has added the environment's (send_once)
        self._request_options: Mapping[str, Any] = request_options
        self._middlewares = extra.get("middlewares")
        self._digest: DigestAuth | None = extra.get("digest")
        for middleware in self._middlewares or ():
            if isinstance(middleware, _Digest):
                middleware.cookie = self._challenge_cookie
        # made at the first Set-Cookie; the same cookie policy as requests (IP hosts included)
        self._jar: RequestsCookieJar | None = None
        self._proxies: Mapping[str, str] | None = dict(proxies) if proxies else None  # most
        # have none: no dict held; with the environment's once it is read (``send_once``)
        if proxies:
            self.secrets = joined_secrets(self.secrets, tidy(proxy_secrets(proxies)))
        # for every https hop, a redirect's from http included (aiohttp ignores it on http)
        self._tls = (self.verify, cert)
        self._environment_read = False
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConditionError(
                f"session must be an aiohttp.ClientSession, not {type(session).__name__} "
                "(a requests.Session is the requests runner's: HttSleeper)"
            )
        if session is not None and (getattr(session, "headers", None) or session.auth):
            raise ConditionError(
                "a session given to the async runner must have no default headers or auth: "
                "aiohttp would send them to every origin a redirect leads to, and they would not "
                "be redacted; give them as headers= and auth="
            )
        self._session = session  # the caller's, or one of its own once ``session`` is read
        self._owns_session = session is None
        # the loop's shared session once taken, and that loop (two fields, not a tuple: one
        # object fewer held by every waiting sleeper)
        self._shared: aiohttp.ClientSession | None = None
        self._shared_loop: asyncio.AbstractEventLoop | None = None
        self._sleep = _pause if sleep is asyncio.sleep else sleep  # no method held per sleeper
        self._offload_always = self.rules.may_take_long

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session this sleeper's polls go through from now on: the one passed in, or one
        of its own, made when this is first read and closed by ``close()``. A sleeper whose
        session nobody reads uses its event loop's shared session (one connection pool for all:
        a thousand triggers do not hold a thousand sessions), which no caller can reach.
        Cookies are kept by the sleeper itself (``http.cookiejar``'s policy, as requests), not
        by aiohttp; the environment is read once per sleeper (``send_once``).
        """
        if self._session is None:
            self._session = _new_session()
        return self._session

    def _client(self) -> aiohttp.ClientSession:
        if self._session is not None:
            return self._session
        if self._shared is None:
            self._shared_loop = asyncio.get_running_loop()
            self._shared = _SESSIONS.acquire(self._shared_loop)
        return self._shared

    async def close(self) -> None:
        """Give back the loop's shared session, and close the one this sleeper made (a
        session passed in is left open)."""
        if self._shared_loop is not None:  # set with ``_shared``, and cleared with it
            loop, self._shared, self._shared_loop = self._shared_loop, None, None
            await _SESSIONS.release(loop)
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> AsyncHttSleeper:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send_once(self, budget: float | None = MISSING) -> requests.Response:
        """Send one request, follow its redirects and read its body, by the rules the requests
        runner follows (``_http``); aiohttp errors come out as the same requests errors.

        :param budget: seconds the whole request may take, waiting for a pooled connection
            included (``Poller.request_budget``); by default ``request_deadline``.
        """
        if budget is MISSING:
            budget = self.request_deadline
        if not self._environment_read:  # what requests.get would read from the environment
            environ = environ_proxies(self._url)
            proxies = {**environ, **self._proxies} if self._proxies else environ
            self._proxies = proxies or None  # each hop's is chosen from them (``_exchange``)
            try:
                tls = _ssl_option(*self._tls)
            except ConditionError as exc:  # raised by a hop to an https URL, as requests does
                tls, self._tls_problem = False, str(exc)
            proxy = select_proxy(self._url, proxies)  # type: ignore[arg-type]
            if proxy:
                try:
                    proxy = checked_proxy(proxy)
                except (requests.RequestException, ValueError):  # raised by each request, as
                    # requests raises it
                    proxy, self._bad_proxy = None, proxy
            self._request_options = _shared(
                {**self._request_options, "proxy": proxy or None, "ssl": tls}
            )
            self._environment_read = True
        try:
            if budget is None:
                return await self._exchange()
            if sys.version_info < (3, 11):
                async with _timeout_before_3_11(budget):
                    return await self._exchange()
            deadline = _Deadline(budget)
            try:
                response = await self._exchange()
            except BaseException as exc:
                deadline.end(exc)
                raise
            deadline.end(None)
            return response
        except Exception as exc:
            if budget is not None and type(exc) is TimeoutError:  # the deadline's own
                raise RequestDeadlineExceeded.after(self.label, budget) from exc
            translated = worded(translate_error(exc, self.secrets), self.label, budget)
            if translated is exc:
                raise
            raise translated from exc

    def _check_decoded_on_loop(self, size: int) -> None:
        """``check_body_size``, and a stop once a body undone on the loop is past
        ``OFFLOAD_BYTES`` (a few KiB of gzip may hold megabytes)."""
        self.check_body_size(size)
        if size > OFFLOAD_BYTES:
            raise _DecodesLong

    def _keep_cookies(
        self, url: str, headers: Mapping[str, Any], pairs: list[tuple[str, str]]
    ) -> RequestsCookieJar:
        """Keep the cookies a response sets (its header ``pairs``) in the sleeper's jar, those
        both runners send, and give them as the response's own jar, as requests fills it."""
        if self._jar is None:
            self._jar = RequestsCookieJar()
        own = RequestsCookieJar()
        store_cookies(self._jar, url, headers, pairs, also=own)
        drop_unsendable_cookies(self._jar)
        return own

    async def _exchange(self) -> requests.Response:
        started = time.monotonic()
        method, url, body, headers = self._method, self._url, self._body, self._headers
        cookie = self._cookie_for(url, headers)
        if cookie:
            headers = {**headers, "Cookie": cookie}  # never into the sleeper's own
        if self._digest is not None:  # as requests prepares a request: the last challenge's
            answer = self._digest.preemptive(method, url)  # answer, on each hop in the origin
            if answer:
                headers = {**headers, "Authorization": answer}
        middlewares = self._middlewares
        hops, left_origin = 0, False
        target: yarl.URL | None = self._target
        proxies = self._proxies
        while True:
            options = self._request_options  # shared, not copied: the first hop is most polls
            if middlewares:
                options = {**options, "middlewares": middlewares}
            if url.startswith("https:"):  # its TLS files are read now, as requests reads them
                if left_origin and self._tls[1]:  # a client certificate goes to its origin only
                    options = {**options, "ssl": _ssl_option(self._tls[0], None)}
                elif self._tls_problem is not None:
                    raise ConditionError(self._tls_problem)
            if hops:  # each hop through its own scheme's proxy, as requests
                proxies = hop_proxies(url, proxies)
                proxy = select_proxy(url, proxies)
                proxy = checked_proxy(proxy) if proxy else None
                if proxy != options.get("proxy"):
                    options = {**options, "proxy": proxy}
            elif self._bad_proxy is not None:
                checked_proxy(self._bad_proxy)  # raises what requests raises for it
            if url.startswith("http:") and str(options.get("proxy") or "").startswith("https:"):
                # TLS to an https proxy only: checked by verify, and no client certificate
                # (the origin's), as the requests runner; a CA bundle that cannot be used is
                # refused, never taken for no checking
                options = {**options, "ssl": _ssl_option(self._tls[0], None)}
            sent = headers
            if self._proxy_authorization and not proxy_reads_it(url, options.get("proxy")):
                sent = without_proxy_authorization(headers)  # not to the origin (this hop)
            if target is None:
                target = _wire_url(url)
            try:
                response: aiohttp.ClientResponse | None = await self._client().request(
                    method, target, data=body, headers=sent, **options
                )
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # closed before any byte of answer: most often a kept-alive connection the
                # server closed after its last answer; sent once more, on a new connection
                # (the same rule as the requests runner)
                stale = _closed_before_answering(exc) or stale_connection_cause(exc)
                if method not in IDEMPOTENT_METHODS or not stale:
                    raise
                response = None
            if response is None:  # sent again outside the handler: what the second try
                # raises is its own failure, not chained to the first (each runner words it)
                response = await self._client().request(
                    method, target, data=body, headers=sent, **options
                )
            async with response:
                check_status(response.status, response.version or (0, 0))
                pairs = _headers(response.raw_headers)
                check_header_lines(pairs)
                cookies = None
                # aiohttp's own parsed headers: one lookup (a line it calls Set-Cookie that the
                # latin-1 reading does not only makes an empty jar)
                if "Set-Cookie" in response.headers:
                    # kept now: expiry is judged at the time they arrive; read in a worker
                    # thread when long (thousands of attributes take http.cookiejar long)
                    long = _cookie_chars(pairs) > OFFLOAD_COOKIE_CHARS
                    keep = functools.partial(self._keep_cookies, url, headers, pairs)
                    cookies = await aside(keep) if long else keep()
                result_headers = joined(pairs)
                location = redirect_location(response.status, result_headers)
                # every body is read, a redirect's too, so its connection is reused alike
                raw = await self._read_capped(response)
                coding = result_headers.get("Content-Encoding")
                # undone in a worker thread when large, as judged, or stacked (a small body's
                # outer coding may hold megabytes of gzip members to undo)
                if coding and (len(raw) > OFFLOAD_BYTES or "," in coding):
                    content = await aside(decode_body, raw, coding, self.check_body_size)
                else:
                    try:
                        content = decode_body(raw, coding, self._check_decoded_on_loop)
                    except _DecodesLong:  # a small body of much: undone again, aside
                        content = await aside(decode_body, raw, coding, self.check_body_size)
                if location is None:
                    return to_requests_response(
                        response,
                        content,
                        time.monotonic() - started,
                        result_headers,
                        cookies,
                        url,  # as requests: the URL asked for (a fragment kept)
                        (
                            method,
                            url,
                            headers,
                            self._text_body if body is self._body and self._text_body else body,
                        ),
                    )
            method, next_url, keep_body = next_hop(
                method,
                url,
                response.status,
                location,
                hops,
                body,
                self.secrets,
            )
            hops += 1
            left_origin = left_origin or not same_origin(url, next_url)
            headers = hop_headers(
                headers,
                keep_body=keep_body,
                cross_origin=left_origin,
                secret_headers=self.secret_headers,
                origin_headers=self.origin_headers,
            )
            url, target = next_url, None
            if not keep_body:
                body = None
            if left_origin:  # no auth handler (Digest's retry) and no cookie beyond the origin
                middlewares = None
            else:
                cookie = self._cookie_for(url, headers)
                if cookie:
                    headers["Cookie"] = cookie

    async def _challenge_cookie(self, url: str, pairs: list[tuple[str, str]]) -> str | None:
        """The ``Cookie`` for the answer to a Digest challenge at ``url`` whose header lines are
        ``pairs``: its cookies kept first, as requests keeps them for its answer (long ones in
        a worker thread, as a response's)."""
        if any(name.lower() == "set-cookie" for name, _ in pairs):
            keep = functools.partial(self._keep_cookies, url, self._headers, pairs)
            if _cookie_chars(pairs) > OFFLOAD_COOKIE_CHARS:
                await aside(keep)
            else:
                keep()
        return self._cookie_for(url, self._headers)

    def _cookie_for(self, url: str, headers: Mapping[str, str | bytes]) -> str | None:
        """The ``Cookie`` value for a hop to ``url``: the sleeper's cookies with the request's
        own (as requests merges them); ``None`` when there are none (see ``cookie_header``)."""
        jar: CookieJar | None = self._jar
        if self.request.cookies or jar:  # as requests' prepare_request: a new jar of copies
            # (its set_cookie takes a quoted value's \" out again), then the request's own
            jar = merge_cookies(merge_cookies(RequestsCookieJar(), jar), self.request.cookies)
        return cookie_header(jar, url, headers) if jar else None

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """The raw body as it arrives, but never more than ``max_body_bytes`` of it."""
        self.check_body_size(
            declared_body_size(
                response.method, response.status, response.headers.get("Content-Length")
            ),
            declared=True,
        )
        if response.content_length is not None:  # aiohttp reads no byte past the declared length
            return await response.read()
        # a body the close ends: aiohttp ends it at a reset too, and keeps the reset only on
        # the connection's protocol; cut short, as the requests runner says (BodyDropped)
        protocol = response.connection.protocol if response.connection is not None else None
        chunks, size, content = [], 0, response.content
        while True:
            # readchunk looks for an error before each wait; readany did not after a wait a
            # chunk's end ended without data, and an error set then was never raised (the
            # wait went on until the request's deadline)
            chunk, chunk_end = await content.readchunk()
            if not chunk:
                if chunk_end and not content.at_eof():  # a chunk's end: more to come
                    continue
                break  # the body's end (aiohttp's empty body says a chunk's end once read)
            size += len(chunk)
            self.check_body_size(size)
            chunks.append(chunk)
        if protocol is not None and isinstance(protocol.exception(), aiohttp.ClientOSError):
            raise BodyDropped(BODY_DROPPED_TEXT)
        return b"".join(chunks)

    def _offload(self, outcome: requests.Response | Exception) -> bool:
        """Judge in a worker thread when it could take long: a callback, a JSONPath that walks
        the whole document, or a large body."""
        if isinstance(outcome, Exception):
            return False
        return self._offload_always or len(outcome.content) > OFFLOAD_BYTES

    async def run(
        self, *, attempts_made: int = 0, phase: float = 0.0, **options: Any
    ) -> requests.Response:
        """Poll until ``until`` is met; each run starts with the full attempt budget.

        :param attempts_made: attempts already spent elsewhere, counted against ``max_retries``.
        :param phase: seconds to wait before the first poll, so that waits started in the same
            instant do not poll in lockstep; ``max_wait`` counts from before it, and the first
            poll comes by the deadline at the latest. It is no attempt.
        :param options: for the poll state machine: ``log`` (a logger), ``noun`` ("poll").
        :returns: the response that met ``until``.
        :raises Alarm: a response matched an alarm.
        :raises RetriesExhausted: ``max_retries`` requests, none matched.
        :raises DeadlinePassed: ``max_wait`` passed, none matched.
        """
        poller = self.poller(attempts_made=attempts_made, **options)
        del options  # not held over every sleep of the run
        if phase > 0:
            if poller.deadline is not None:
                phase = min(phase, max(0.0, poller.deadline - self._clock()))
            await self._sleep(phase)
        while True:
            action = poller.next_action(self._clock())
            if isinstance(action, Done):
                return action.response
            if isinstance(action, Sleep):
                seconds = action.seconds
                del action  # not held over the sleep: one object fewer per waiting sleeper
                if seconds <= 0:  # one loop pass: a close the server sent is seen before the
                    await asyncio.sleep(0)  # connection is reused, as urllib3 checks it first
                elif self._sleep is _pause:  # ``_pause`` in this frame: no coroutine held over
                    woken, timer = _timer(seconds)  # every wait of every waiting sleeper
                    try:
                        await woken
                    finally:
                        timer.cancel()
                else:
                    await self._sleep(seconds)
                continue
            budget = poller.request_budget(self._clock(), self.request_deadline)
            try:
                outcome: requests.Response | Exception = await self.send_once(budget)
            except Exception as exc:
                outcome = exc
            if self._offload(outcome):
                await aside(
                    poller.receive, outcome, self._clock(), user_code=self.rules.has_callback
                )
            else:
                poller.receive(outcome, self._clock())
            del outcome  # not kept over the sleep (see Poller.receive)


class _Shared(dict):  # type: ignore[type-arg]
    """A dict that sleepers with an equal one hold in its place (``_shared``); never written to."""

    __slots__ = ("__weakref__",)


#: The request headers and request options of live sleepers, one dict for all with equal ones.
_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], _Shared] = weakref.WeakValueDictionary()


def _shared(mapping: dict[str, Any]) -> Mapping[str, Any]:
    """``mapping``, or an equal dict another sleeper holds (read only from then on): a waiting
    trigger holds its sleeper's over every sleep, and triggers of one connection send the same
    headers with the same options. Equal means the same items in the same order (the wire
    bytes), each name and value of the same type. Held only while a sleeper holds it: no
    header value, a credential among them, outlives the sleepers that send it."""
    try:
        key = tuple((type(name), name, type(value), value) for name, value in mapping.items())
        shared = _SHARED.get(key)
        if shared is None:
            shared = _SHARED.setdefault(key, _Shared(mapping))
    except TypeError:  # a value that cannot be hashed: this sleeper's own
        return mapping
    return shared


_TIMERS = threading.local()


def _timer_context() -> contextvars.Context:
    """What the runner's timers run in: one empty context per thread (one thread's loop runs
    one callback at a time), where asyncio would copy the caller's context for each timer (two
    a poll, one held over the wait); theirs read no context variable."""
    context: contextvars.Context | None = getattr(_TIMERS, "context", None)
    if context is None:
        context = _TIMERS.context = contextvars.Context()
    return context


async def _pause(seconds: float) -> None:
    """``asyncio.sleep(seconds)``, its timer run in ``_timer_context()``."""
    if seconds <= 0:
        await asyncio.sleep(0)
        return
    woken, timer = _timer(seconds)
    try:
        await woken
    finally:
        timer.cancel()


def _timer(seconds: float) -> tuple[asyncio.Future[None], asyncio.TimerHandle]:
    """A future that ``seconds`` from now is done, and its timer (run in ``_timer_context()``):
    whoever awaits it cancels the timer when the wait ends (a cancelled wait leaves none)."""
    loop = asyncio.get_running_loop()
    woken = loop.create_future()
    return woken, loop.call_later(seconds, _wake, woken, context=_timer_context())


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # cancelled meanwhile
        future.set_result(None)


#: Request deadlines and read timeouts of at least this many seconds are kept by the loop's
#: ``_Wheel``, and end up to ``_SLOT`` seconds late; shorter ones have a timer each, to the
#: instant.
_WHEELED_FROM = 1.0
#: The width of a slot of the wheel, in seconds.
_SLOT = 1 / 16
#: Longer deadlines (a caller's own budget past the options' bound, ``inf``) keep a timer.
_WHEELED_UNTIL = 1e9


class _Deadline:
    """``async with asyncio.timeout(seconds)`` around one request, for less: no context manager
    coroutines or states, and no timer of its own (``_Wheel``: a request that ends in time, as
    most do, costs a set insertion and removal, not a timer's heap push, cancellation and pop);
    a timer runs in ``_timer_context()``, not a copy of the caller's. The same outcome: when
    the deadline cancelled the request and nothing else cancelled the task meanwhile, ``end``
    turns the ``CancelledError`` into ``TimeoutError`` (a subclass of it too from Python 3.12
    on, as asyncio.timeout); a cancellation from outside stays one."""

    __slots__ = ("_cancelling", "_task", "_timer", "expired")

    def __init__(self, seconds: float):
        loop = asyncio.get_running_loop()
        task: Any = asyncio.current_task()  # cancelling, uncancel: 3.11+ (mypy reads 3.10)
        if task is None:
            raise RuntimeError("a request deadline needs a task")
        self._task = task
        self._cancelling: int = task.cancelling()
        self.expired = False
        # its wheel slot, or a timer of its own
        self._timer: set[Callable[[], None]] | asyncio.Handle = (
            _wheel(loop).add(self, loop.time() + seconds)
            if _WHEELED_FROM <= seconds <= _WHEELED_UNTIL
            else loop.call_later(seconds, self, context=_timer_context())
            if seconds > 0
            else loop.call_soon(self, context=_timer_context())
        )

    def __call__(self) -> None:  # the deadline
        self._task.cancel()
        self.expired = True

    def end(self, error: BaseException | None) -> None:
        """The request is over, having raised ``error`` (``None``: it returned)."""
        timer = self._timer
        if isinstance(timer, set):
            timer.discard(self)
        else:
            timer.cancel()
        if (
            self.expired
            and self._task.uncancel() <= self._cancelling
            and (  # asyncio.timeout's test: CancelledError itself on 3.11, a subclass from 3.12
                isinstance(error, asyncio.CancelledError)
                if sys.version_info >= (3, 12)
                else type(error) is asyncio.CancelledError
            )
        ):
            raise TimeoutError from error


class _Wheel:
    """The request timeouts of one event loop (deadlines, ``_Deadline``; read timeouts,
    ``_Handler``), by the slot of ``_SLOT`` seconds they end in: one timer per slot in use,
    which calls every timeout of its slot still in it. Thousands of polls a second share a few
    timers, and a request that ends in time leaves none behind."""

    __slots__ = ("_slots", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._slots: dict[int, set[Callable[[], None]]] = {}

    def add(self, due: Callable[[], None], when: float) -> set[Callable[[], None]]:
        """Call ``due`` at ``when`` (the loop's time), never before, up to ``_SLOT`` seconds
        after; its slot is returned, to leave it (``discard``) when it is no longer due."""
        index = math.ceil(when / _SLOT)
        slot = self._slots.get(index)
        if slot is None:
            slot = self._slots[index] = set()
            self.loop.call_at(index * _SLOT, self._end_slot, index, context=_timer_context())
        slot.add(due)
        return slot

    def _end_slot(self, index: int) -> None:
        for due in list(self._slots.pop(index, ())):  # popped: ``end`` leaves another set
            try:
                due()  # cancels a task, or sets a read timeout's error: nothing runs meanwhile
            except Exception as exc:  # never: but the slot's others are still ended
                self.loop.call_exception_handler({"message": "a request timeout", "exception": exc})


def _wheel(loop: asyncio.AbstractEventLoop) -> _Wheel:
    """The wheel of ``loop``: one per thread at a time (a thread runs one loop at a time; a
    loop met again after another gets a new one, and the old one's slots still end)."""
    wheel: _Wheel | None = getattr(_TIMERS, "wheel", None)
    if wheel is None or wheel.loop is not loop:
        wheel = _TIMERS.wheel = _Wheel(loop)
    return wheel


#: Empty values requests prepares as it prepares ``None`` (no query, no body, not a stream).
_PLAIN_EMPTY = (dict, list, tuple, str, bytes)


def _unless_empty(value: Any) -> Any:
    """``None`` for an empty dict, list, tuple, str or bytes (those exact types: a subclass, or
    an empty bytearray, which requests sends as a stream, is passed on as it is)."""
    return None if type(value) in _PLAIN_EMPTY and not value else value


def _wire_url(url: str) -> yarl.URL:
    """``url`` as aiohttp sends it. A password in the URL went into the Authorization header
    (as requests does); aiohttp refuses both at once, so the URL goes without it (a password
    without a login, ``http://:key@host``, too: yarl reads no user there)."""
    target = yarl.URL(url, encoded=True)
    if target.user is None and target.password is None:
        return target
    return target.with_user(None)


def _body_bytes(body: Any) -> bytes | None:
    """A prepared request's body as bytes: text as UTF-8, as urllib3 sends it for requests and
    as requests counts its ``Content-Length`` (latin-1 bytes sent under that length left the
    server waiting for the rest)."""
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):  # sent as they are, as requests does
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    raise ConditionError(f"the async runner cannot send a {type(body).__name__} body")


@functools.lru_cache(maxsize=64, typed=True)
def _client_timeout(timeout: float | tuple[float, float] | None) -> aiohttp.ClientTimeout:
    """requests' timeout (per connect and per read, never total) as an aiohttp one (frozen:
    one for every sleeper with the same timeout)."""
    if timeout is None:
        return aiohttp.ClientTimeout(total=None)
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
