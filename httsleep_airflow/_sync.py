"""The blocking runner: ``httsleep()`` and ``HttSleeper`` over ``requests``."""

from __future__ import annotations

import contextlib
import errno
import functools
import heapq
import http.client
import io
import itertools
import logging
import math
import operator
import os
import re
import socket
import ssl
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
import urllib3.connection
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar, merge_cookies
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies, get_netrc_auth, parse_dict_header, select_proxy
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from httsleep_airflow._conditions import Rules, meets, normalized
from httsleep_airflow._core import (
    ACCEPT_ENCODING,
    DEFAULT_RETRY_AFTER_CAP,
    MAX_INTERIM,
    Done,
    Policy,
    Poller,
    Sleep,
    check_seconds,
    check_timeout,
)
from httsleep_airflow._core import request_deadline as request_deadline_seconds
from httsleep_airflow._http import (
    AUTHORITY_NEVER,
    BAD_STATUS_TEXT,
    BODY_DROPPED_TEXT,
    HEADER_LIMIT_TEXT,
    IDEMPOTENT_METHODS,
    INTERIM_LIMIT_TEXT,
    MALFORMED_TEXT,
    NO_ANSWER_TEXT,
    PROXY_AUTH,
    TOKEN_CHARACTERS,
    BodyDropped,
    CookieHeaders,
    HeaderTooLarge,
    MalformedHeaders,
    RequestDeadlineExceeded,
    bare_cr,
    basic_header,
    check_cookies,
    check_head_lines,
    check_header_lines,
    check_headers,
    check_json_body,
    check_method,
    check_proxy_credentials,
    connect_failure,
    cookie_header,
    cut_line_refused,
    declared_body_size,
    decode_body,
    drop_unsendable_cookies,
    followable,
    header_limit_cause,
    hop_headers,
    joined_header_lines,
    next_hop,
    proxy_reads_it,
    redirect_location,
    same_origin,
    stale_connection_cause,
    store_cookies,
    text_encoding,
    timeout_cause,
    tls_cause,
    tls_context_of,
    tls_failure,
    trailer_lines,
    tunnel_refusal,
    without_proxy_authorization,
    worded,
)
from httsleep_airflow._secrets import (
    EXCEPTION_TEXT_LIMIT,
    basic_secrets,
    body_secrets,
    causes,
    covered,
    exact_text,
    header_names,
    joined,
    listed,
    mask_url_parts,
    multipart_secrets,
    redact_exception,
    scrub,
    secret_header_values,
    secret_query_values,
    shown_url,
    tidy,
    url_secrets,
)
from httsleep_airflow.exceptions import (
    BLOCKING_FORM,
    ConditionError,
    GaveUp,
    HttSleepError,
    ResponseTooLarge,
)

__all__ = ["BearerAuth", "DigestAuth", "HttSleeper", "Plan", "httsleep"]


#: The default ``max_body_bytes``: far above any job status document.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
#: Bytes asked for per read of a body.
_CHUNK = 64 * 1024
#: Of the secrets found on the wire that no setting named (an auth's rotating token), how many
#: stay redacted (``HttSleeper._learn_sent``): the latest.
LEARNED_KEPT = 8


class WireBasicAuth(AuthBase):
    """Basic auth as both runners send it (``_http.basic_header``: latin-1, else UTF-8)."""

    def __init__(self, username: str | bytes, password: str | bytes):
        self.value = basic_header(username, password)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.value
        return request

    def __repr__(self) -> str:
        return "WireBasicAuth(***)"


def wire_request(request: requests.Request, session: requests.Session) -> requests.Request:
    """``request`` as it goes on the wire through ``session``: Basic credentials (its own, or
    else the session's) encoded by the rule both runners share, and ``Accept-Encoding`` limited
    to the codings both decode (unless the caller set one)."""
    auth = request.auth if request.auth is not None else session.auth
    if isinstance(auth, tuple) and len(auth) == 2:
        auth = WireBasicAuth(*auth)
    elif type(auth) is HTTPBasicAuth:
        auth = WireBasicAuth(auth.username, auth.password)
    headers = CaseInsensitiveDict(request.headers or {})
    if "Accept-Encoding" not in headers and session.headers.get(
        "Accept-Encoding"
    ) == requests.utils.default_headers().get("Accept-Encoding"):
        headers["Accept-Encoding"] = ACCEPT_ENCODING
    return requests.Request(
        method=request.method,
        url=request.url,
        headers=headers,
        files=request.files,
        data=request.data,
        json=request.json,
        params=request.params,
        auth=auth,
        cookies=request.cookies,
        hooks=request.hooks,
    )


def translate_error(
    error: BaseException, deadline: float | None, secrets: tuple[str, ...] = ()
) -> BaseException:
    """The requests runner's one translation boundary: the requests exception for ``error``, by
    its cause, wherever requests or urllib3 let it surface (a body read timeout is a
    ``ReadTimeout``, not a ``ConnectionError``); anything else as it is."""
    if any(isinstance(cause, urllib3.exceptions.InvalidHeader) for cause in causes(error)):
        return MalformedHeaders(MALFORMED_TEXT)  # Content-Length values that disagree
    for cause in causes(error):
        if isinstance(cause, MalformedHeaders | HeaderTooLarge):  # raised while http.client
            return cause  # read the head
        if _bad_status(cause):  # (cut inside the status line too, as the shared rule says)
            return requests.exceptions.ConnectionError(BAD_STATUS_TEXT)
        if cause is not error and type(cause) is requests.exceptions.ConnectionError:
            return type(cause)(*cause.args)  # a shared rule's refusal, which requests wraps
        if isinstance(cause, http.client.RemoteDisconnected):
            return requests.exceptions.ConnectionError(NO_ANSWER_TEXT)
    tunnel = tunnel_refusal(error)
    if tunnel is not None:  # both runners' words for each
        return requests.exceptions.ProxyError(scrub(tunnel, secrets, 300))
    if isinstance(error, requests.exceptions.SSLError) or (
        isinstance(error, requests.exceptions.ProxyError) and tls_cause(error)
    ):  # the second: an https proxy's own certificate or protocol refused
        return requests.exceptions.SSLError(scrub(tls_failure(error), secrets, 300))
    if isinstance(error, _FINAL):
        return error
    message = scrub(str(error) or type(error).__name__, secrets, 300)
    cut = deadline is not None and time.monotonic() >= deadline - _SLACK
    if header_limit_cause(error):
        return HeaderTooLarge(HEADER_LIMIT_TEXT)
    refused = any(isinstance(c, urllib3.exceptions.NewConnectionError) for c in causes(error))
    if refused:  # urllib3 2 makes it a ConnectTimeoutError; requests a ConnectionError, as here
        return requests.exceptions.ConnectionError(connect_failure(error))
    if isinstance(error, requests.exceptions.ConnectTimeout) or any(
        isinstance(cause, urllib3.exceptions.ConnectTimeoutError) for cause in causes(error)
    ):
        return (
            RequestDeadlineExceeded(message) if cut else requests.exceptions.ConnectTimeout(message)
        )
    if isinstance(error, requests.exceptions.Timeout | urllib3.exceptions.TimeoutError) or (
        timeout_cause(error)
    ):
        return RequestDeadlineExceeded(message) if cut else requests.exceptions.ReadTimeout(message)
    if isinstance(error, requests.exceptions.ChunkedEncodingError) or any(
        isinstance(cause, http.client.IncompleteRead | urllib3.exceptions.IncompleteRead)
        for cause in causes(error)
    ):
        return BodyDropped(BODY_DROPPED_TEXT)  # each runner's library words it its own way
    if stale_connection_cause(error):  # reset before any byte of answer (a server that closes
        # with the request unread resets it): the words of a close, as the shared rule says
        return requests.exceptions.ConnectionError(NO_ANSWER_TEXT)
    if isinstance(error, requests.exceptions.ProxyError) and any(
        isinstance(cause, ConnectionAbortedError) for cause in causes(error)
    ):  # urllib3 calls a connection through a proxy that the other end aborts the proxy's
        # error, as though the proxy were never reached; the async runner, as without a proxy
        # (a ProxyError is a proxy refusing a tunnel; a reset is a close, above)
        return requests.exceptions.ConnectionError(message)
    if isinstance(error, requests.exceptions.RequestException):
        return error
    if isinstance(error, urllib3.exceptions.ProtocolError | http.client.HTTPException | OSError):
        return requests.exceptions.ConnectionError(message)
    if isinstance(error, urllib3.exceptions.HTTPError):
        return requests.exceptions.RequestException(message)
    return error


def _bad_status(cause: BaseException) -> bool:
    """Whether http.client refused a status line (a status out of range, another protocol;
    not a connection closed before one): worded as the shared rule words it."""
    if isinstance(cause, http.client.BadStatusLine):
        return not isinstance(cause, http.client.RemoteDisconnected)
    return isinstance(cause, http.client.UnknownProtocol)


#: Errors that already say what happened, passed through the boundary as they are.
_FINAL = (
    HttSleepError,
    RequestDeadlineExceeded,
    BodyDropped,
    HeaderTooLarge,
    requests.exceptions.TooManyRedirects,
    requests.exceptions.ContentDecodingError,
    requests.exceptions.SSLError,
    requests.exceptions.InvalidURL,
)
#: A timeout this close to the deadline was the deadline's doing.
_SLACK = 0.005


class _Cut:
    """One request's watch: the connection it is on (set by the pool), and whether the
    watchdog cut it."""

    __slots__ = ("connection", "fired")

    def __init__(self) -> None:
        self.connection: Any = None
        self.fired = False

    def __call__(self) -> None:
        self.fired = True
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # a blocked read returns at once


class _Watchdog:
    """One daemon thread that cuts requests at their deadlines: it shuts the socket down,
    whatever phase the request is in (a server trickling its headers included)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Cut]] = []
        self._armed: set[int] = set()
        self._cond = threading.Condition()
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, when: float, cut: _Cut) -> int:
        with self._cond:
            key = next(self._count)
            heapq.heappush(self._heap, (when, key, cut))
            self._armed.add(key)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="httsleep-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][1] == key:
                self._cond.notify()
        return key

    def disarm(self, key: int) -> None:
        self._armed.discard(key)  # the entry is dropped when it comes up

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                when, key, cut = self._heap[0]
                left = when - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._heap)
                self._armed.discard(key)
            cut()


_WATCHDOG = _Watchdog()
_CURRENT = threading.local()  # the _Cut of the request this thread is sending


class _HeadReader:
    """The response's socket file, keeping each line read through it (the status line and the
    header section: ``HTTPResponse.begin`` reads them line by line). With ``skip_blank``, the
    next read skips the CR and LF bytes before a status line, as aiohttp's parser does
    (http.client takes them for a bad status line); each keeps the read timeout going, as any
    bytes do."""

    def __init__(self, fp: Any) -> None:
        self._fp = fp
        self.lines: list[bytes] = []
        self.skip_blank = False

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self._fp.readline(limit)
        if self.skip_blank:  # every CR and LF byte before it (a lone CR, CRLF, LF)
            while line and not line.strip(b"\r\n"):
                line = self._fp.readline(limit)
            line = line.lstrip(b"\r\n")
            self.skip_blank = False
        self.lines.append(line)
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


#: A character of a token (RFC 9110 5.6.2), and a quoted string as llhttp reads one.
_TCHAR = f"[{TOKEN_CHARACTERS}]".encode()
_QUOTED = rb'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"'
_EXT_VALUE = _TCHAR + rb"*(?:" + _QUOTED + rb")?"
#: One chunk extension: an optional name, then ``=`` and a value, each optional.
_EXT_ITEM = _TCHAR + rb"*(?:=" + _EXT_VALUE + rb")?"
#: A chunk's size line as aiohttp's parser (llhttp) reads it; http.client took ``int(x, 16)``
#: of what comes before a ``;`` (``" 2"``, ``"+2"``, ``"0x2"``). Hex digits, spaces or tabs,
#: then extensions: after a ``;``, items split by ``;``, each an optional name, ``=`` and a
#: value (a token, a quoted string, or a token and a quoted string), none of them required
#: but the last item not empty; no space around them; CRLF.
_CHUNK_SIZE_LINE = re.compile(
    rb"([0-9A-Fa-f]+)[ \t]*(?:;(?:"
    + _EXT_ITEM
    + rb";)*(?:"
    + _TCHAR
    + rb"+(?:="
    + _EXT_VALUE
    + rb")?|="
    + _EXT_VALUE
    + rb"))?\r\n"
)
#: The same line ended by a bare LF: then llhttp takes empty items (``2;``, ``2;a;``) too.
_CHUNK_SIZE_LF = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;" + _EXT_ITEM + rb")+\n")
#: A size alone ended by a bare LF: llhttp takes the LF for the CR, and an LF must follow.
_CHUNK_SIZE_BARE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*\n")
_TRAILER_NAME = re.compile(_TCHAR + rb"+")


class _FinalResponse(http.client.HTTPResponse):
    """A response read as aiohttp reads it where http.client is looser: it skips interim
    responses (http.client skips a ``100 Continue`` and takes ``102``/``103`` for the response;
    aiohttp skips every ``1xx`` but ``101``, a protocol switch); it refuses a bare CR in the
    head (http.client reads it as a line break: a header hidden in another's value) and a head
    the connection cuts before its blank line (http.client takes it for a whole one)."""

    def _read_status(self) -> tuple[str, int, str]:
        reader = self.fp if isinstance(self.fp, _HeadReader) else None
        for _ in range(MAX_INTERIM + 1):
            if reader is not None:
                reader.lines.clear()  # only the final response's are kept
                reader.skip_blank = True
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200 or status == 101:  # 101: a protocol switch, final
                return version, status, reason
            # an interim response (100 too, which begin() would skip unread): its headers,
            # checked as aiohttp's parser reads them, skipped
            interim = http.client.parse_headers(self.fp)
            if reader is not None:
                check_head_lines(reader.lines)  # cut short, a bare CR: before any defect
            _check_parsed(interim, interim.items(), interim=True)
        raise HeaderTooLarge(INTERIM_LIMIT_TEXT)

    # A chunked body, framed as aiohttp frames it: http.client is looser in three places.

    def _line(self, what: str) -> bytes:
        """One line of a chunked body, at most as long as http.client reads one."""
        line: bytes = self.fp.readline(http.client._MAXLINE + 1)  # type: ignore[attr-defined]
        if len(line) > http.client._MAXLINE:  # type: ignore[attr-defined]
            raise http.client.LineTooLong(what)
        return line

    def _read_next_chunk_size(self) -> int:
        line = self._line("chunk size")
        size = _CHUNK_SIZE_LINE.fullmatch(line) or _CHUNK_SIZE_LF.fullmatch(line)
        if size is None:
            size = _CHUNK_SIZE_BARE.fullmatch(line)
            if size is None or self.fp.read(1) != b"\n":  # ValueError: http.client's way to
                raise ValueError("a chunk size line aiohttp's parser refuses")  # IncompleteRead
        chunk = int(size.group(1), 16)
        if chunk >= 1 << 64:  # past what aiohttp's parser counts: refused at once, as there
            raise ValueError("a chunk size aiohttp's parser refuses")
        return chunk

    def _get_chunk_left(self) -> int | None:
        if self.chunk_left == 0:  # a chunk's data read: a line break ends it (http.client
            end = self._safe_read(1)  # type: ignore[attr-defined]  # skips any two bytes)
            if end == b"\r":
                end = self._safe_read(1)  # type: ignore[attr-defined]
            if end != b"\n":
                raise http.client.IncompleteRead(b"")
            self.chunk_left = None
        return super()._get_chunk_left()  # type: ignore[misc,no-any-return]

    def _read_and_discard_trailer(self) -> None:
        # http.client skips any line up to a blank one or the connection's end; aiohttp reads
        # them as header lines (a name, a colon; a line folded into the one before), but for a
        # Content-Length, and wants the blank line
        folds = False  # whether a line may be folded into the one before
        empty = False  # whether the value of the line before is empty so far
        while True:
            for line in trailer_lines(self._line("trailer line"), empty=empty):
                if not line.endswith(b"\n"):  # the connection's end, in a line or before one
                    if bare_cr(line) or cut_line_refused(line, trailer=True, first=not folds):
                        raise MalformedHeaders(MALFORMED_TEXT)
                    raise http.client.IncompleteRead(b"")
                if line in (b"\r\n", b"\n"):
                    return
                if bare_cr(line):
                    raise MalformedHeaders(MALFORMED_TEXT)
                if line[:1] in (b" ", b"\t") and folds:
                    empty = empty and not line.strip()
                    continue
                name, colon, value = line.partition(b":")
                if (
                    not colon
                    or not _TRAILER_NAME.fullmatch(name)
                    or name.lower() == b"content-length"
                ):
                    raise MalformedHeaders(MALFORMED_TEXT)
                folds, empty = True, not value.strip()

    def begin(self) -> None:
        socket_file = self.fp
        reader = _HeadReader(socket_file)
        self.fp = reader  # type: ignore[assignment]
        try:
            super().begin()
        finally:
            if self.fp is not None:  # None: a bad status line closed it
                self.fp = socket_file
        self.head = reader.lines  # the final response's status line and header lines
        check_head_lines(self.head)
        # http.client takes "chunked" only as the whole value; spaces that end a header value
        # are not part of it (RFC 9110 5.5), and aiohttp decodes such a body as chunked (not
        # after a tab)
        coding = self.headers.get("transfer-encoding")
        if self.status in (204, 304):  # no body, whatever its head says (http.client read a
            self.chunked, self.length = False, 0  # chunked one), as aiohttp reads it
        elif not self.chunked and coding and coding.strip(" \r\n").lower() == "chunked":
            self.chunked, self.chunk_left, self.length = True, None, None


class _Connection(urllib3.connection.HTTPConnection):
    response_class = _FinalResponse


class _AnswerRefused(http.client.HTTPException):
    """A proxy's answer to CONNECT refused as a bad status line or a cut head."""


class _TunnelAnswer(_FinalResponse):
    """A proxy's answer to CONNECT, read as any response's head is (``_FinalResponse.begin``,
    as the aiohttp runner reads it through its own parser): http.client's ``_tunnel`` reads its
    status line, then every line up to a blank one, by looser rules (a bare CR, a cut head, a
    name with a space, CR and LF bytes before the status line). Here its first status read
    reads the whole head, checked, and leaves the tunnel's own reading nothing but the end."""

    _read_whole = False

    def _read_status(self) -> tuple[str, int, str]:
        if self._read_whole:  # ``begin``'s own read of the status line
            return super()._read_status()
        self._read_whole = True
        try:
            self.begin()
            _check_parsed(self.msg, self.msg.items())
        except (MalformedHeaders, HeaderTooLarge):
            raise
        except requests.exceptions.ConnectionError as exc:  # a bad status line, a cut head:
            # raised as http.client's own refusals are (urllib3 calls any OSError raised while
            # connecting through a proxy the proxy's error; this one is the answer's)
            raise _AnswerRefused(str(exc)) from exc
        socket_file, self.fp = self.fp, io.BytesIO(b"\r\n")  # type: ignore[assignment]
        socket_file.close()  # as ``close`` would (the socket stays open for the tunnel)
        return f"HTTP/{self.version / 10:.1f}", self.status, self.reason


class _HandshakeCut(urllib3.exceptions.SSLError):
    """A TLS handshake the other end reset or aborted: a TLS error, as an end of the connection
    inside one is to urllib3 (``SSLEOFError``) and both to the aiohttp runner (urllib3 called
    a reset a connection aborted, or an ``SSLEOFError`` when it raced the close)."""


class _TLSConnection(urllib3.connection.HTTPSConnection):
    response_class = _FinalResponse
    #: Whose TLS handshake ``connect`` is in now: ``"origin"`` once the TCP connection is made
    #: (and again once a tunnel is), ``"proxy"`` in an https proxy's own (before a tunnel, or a
    #: forwarding proxy's), ``None`` while a proxy is asked for a tunnel, and outside.
    _handshake: str | None = None

    def connect(self) -> None:
        self._handshake = None
        try:
            super().connect()
        except ssl.SSLEOFError:
            if self._handshake != "proxy":
                raise
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
            if self._handshake != "origin":
                raise
            raise _HandshakeCut(str(exc)) from exc
        else:
            return
        finally:
            self._handshake = None
        # an https proxy that closed inside its own handshake: a close without an answer (sent
        # again), as a reset there is, and as the aiohttp runner reads both; raised here, out
        # of the handler, with no TLS error behind it
        raise http.client.RemoteDisconnected(NO_ANSWER_TEXT)

    def _new_conn(self) -> Any:
        sock = super()._new_conn()
        # a forwarding https proxy's handshake comes next (urllib3 2.5 makes it as an origin's;
        # later ones in _connect_tls_proxy)
        self._handshake = "proxy" if self.proxy_is_forwarding else "origin"
        return sock

    def send(self, data: Any) -> None:
        """Send ``data``; the other end's close or reset seen while sending is a broken pipe,
        as over plain http: urllib3 then reads the answer a server sent before it (a ``413``
        for a large upload), or finds none (the aiohttp runner reads it alike). Python's TLS
        socket raises it as a TLS error, which urllib3 raised at once."""
        try:
            super().send(data)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            raise BrokenPipeError(errno.EPIPE, "the other end closed the connection") from exc

    def _connect_tls_proxy(self, hostname: str, sock: Any) -> Any:
        # an https proxy's own handshake: the proxy's error, as the aiohttp runner's
        self._handshake = "proxy"
        wrapped = super()._connect_tls_proxy(hostname, sock)
        self._handshake = None
        return wrapped

    def _tunnel(self) -> None:  # CONNECT through a proxy, its answer read as a response's
        self.response_class = _TunnelAnswer
        self._handshake = None
        try:
            super()._tunnel()
        finally:
            del self.response_class
        self._handshake = "origin"


class _WatchedPool(HTTPConnectionPool):
    """A connection pool that tells the request's watch which connection it is on, and whose
    connections skip interim responses as aiohttp does (``_FinalResponse``)."""

    ConnectionCls: type[urllib3.connection.HTTPConnection] = _Connection

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _watch_connection(conn)
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    ConnectionCls = _TLSConnection

    def _prepare_proxy(self, conn: Any) -> None:  # a tunnel: CONNECT, then TLS through it
        _watch_connection(conn)
        super()._prepare_proxy(conn)


def _watch_connection(conn: Any) -> None:
    """Tell the request's watch (``_Cut``) which connection it is on."""
    cut = getattr(_CURRENT, "cut", None)
    if cut is not None:
        cut.connection = conn


_WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


def watch_session(session: requests.Session) -> None:
    """Let the watchdog reach the connections of ``session``'s plain HTTP(S) adapters, a
    proxy's too, and read their responses as aiohttp does (pools made from now on)."""
    for adapter in session.adapters.values():
        if (  # an https proxy checked for http URLs too, whoever subclassed the adapter
            isinstance(adapter, HTTPAdapter)
            and type(adapter).cert_verify is HTTPAdapter.cert_verify
            and "cert_verify" not in vars(adapter)
        ):
            adapter.cert_verify = functools.partial(_proxy_verified, adapter)  # type: ignore[method-assign]
        if type(adapter) is not HTTPAdapter:
            continue
        for manager in (adapter.poolmanager, *adapter.proxy_manager.values()):
            _watch(manager)
        if "proxy_manager_for" not in vars(adapter):  # a proxy's manager is made at its first
            adapter.proxy_manager_for = functools.partial(_watched_proxy, adapter)  # type: ignore[method-assign]


def _watched_proxy(adapter: HTTPAdapter, proxy: str, **options: Any) -> Any:
    """``HTTPAdapter.proxy_manager_for``, its pools watched."""
    manager = HTTPAdapter.proxy_manager_for(adapter, proxy, **options)
    _watch(manager)
    return manager


def _proxy_verified(adapter: HTTPAdapter, conn: Any, url: str, verify: Any, cert: Any) -> None:
    """``HTTPAdapter.cert_verify``, but an ``https://`` proxy that forwards a plain http
    request is verified as for an https URL (``verify``'s bundle, or the default): requests
    turned verification off for it, so a proxy's credentials went to any certificate; the
    aiohttp runner verifies it."""
    if url[:5].lower() == "http:" and isinstance(conn, HTTPSConnectionPool):
        url = "https:" + url[5:]  # the pool of an http URL is TLS only to a proxy
    HTTPAdapter.cert_verify(adapter, conn, url, verify, cert)


def _watch(manager: Any) -> None:
    """Make the pools of a urllib3 manager that makes urllib3's own (not a SOCKS proxy's)
    watched ones, dropping those it made before."""
    stock = urllib3.poolmanager.pool_classes_by_scheme
    if getattr(manager, "pool_classes_by_scheme", None) is stock:
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        manager.clear()


def _no_redirect_target(resp: requests.Response) -> None:
    return None


def _check_parsed(message: Any, pairs: Iterable[tuple[str, str]], *, interim: bool = False) -> None:
    """Check a head http.client parsed (``message``; ``pairs``, its lines as received) as
    aiohttp's parser reads one (``_http.check_header_lines``). http.client drops a line it
    cannot read as a header (an empty name), or ends the header section there (a name with a
    space or a control byte) and reads the rest as the body; it notes each as a defect of the
    message, but for a first line that starts with "From " (taken for a mailbox's envelope
    line)."""
    envelope = getattr(message, "get_unixfrom", lambda: None)()
    if getattr(message, "defects", None) or envelope is not None:
        raise MalformedHeaders(MALFORMED_TEXT)
    check_header_lines(pairs, interim=interim)


def _check_raw_headers(response: requests.Response, **kwargs: Any) -> requests.Response:
    """A response hook: the header limits (``_http.check_header_lines``), on the lines as
    received."""
    raw_headers = getattr(response.raw, "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "iteritems"):
        original = getattr(response.raw, "_original_response", None)
        folded = _folded(getattr(original, "head", ()))
        try:  # a folded line measured as aiohttp holds it (http.client joins it otherwise)
            lines = raw_headers.iteritems() if folded is None else folded
            _check_parsed(getattr(original, "msg", None), lines)
        except (HeaderTooLarge, MalformedHeaders):
            response.close()
            raise
        if folded is not None and original is not None:
            response.headers = _held(folded)
            original.msg = CookieHeaders(folded)  # the session keeps the cookies it reads there
            if response.cookies:  # and the response's own, read before, as the async runner
                response.cookies = RequestsCookieJar()
                request = response.request
                store_cookies(response.cookies, str(request.url), request.headers, folded)
        elif any(value.endswith((" ", "\t")) for value in raw_headers.values()):
            # whitespace that ends a value is not part of it (RFC 9110 5.5); http.client and
            # some aiohttp versions keep it, the async runner drops it too
            response.headers = _held((n, v.rstrip(" \t")) for n, v in raw_headers.iteritems())
    return response


def _folded(head: list[bytes] | tuple[()]) -> list[tuple[str, str]] | None:
    """The header lines of a head with folded (obs-fold) lines as aiohttp reads them: each
    continuation line joined to the line before as it came, whitespace included, less its line
    break (http.client joins them with one space); ``None`` for a head without folds."""
    lines = head[1:-1]
    if not any(line[:1] in (b" ", b"\t") for line in lines):
        return None
    pairs: list[tuple[str, str]] = []
    for line in lines:
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + text)
        else:
            name, _, value = text.partition(":")
            pairs.append((name, value))
    return [(name, value.strip(" \t")) for name, value in pairs]


def _held(pairs: Iterable[tuple[str, str]]) -> CaseInsensitiveDict[str]:
    """Header lines as requests holds them (``_http.joined_header_lines``)."""
    return CaseInsensitiveDict(dict(joined_header_lines(pairs).values()))


class KeepAuthorization(AuthBase):
    """An ``auth`` that leaves the request's own ``Authorization`` header as it is: set on a
    request whose caller gave that header, so that no other auth overrides it (a session's, a
    connection's, ``~/.netrc``'s, a password in the URL), in both runners."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request

    def __repr__(self) -> str:
        return "KeepAuthorization()"


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str):
        self.token = exact_text(token)  # what is sent is what is redacted (an enum's text)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class DigestAuth(HTTPDigestAuth):
    """requests' Digest auth, as both runners answer with it (the aiohttp runner through
    ``_async._Digest``): requests' own header, once per hop for a 4xx whose
    ``WWW-Authenticate`` values (joined, as requests reads them) hold a Digest challenge, and
    on later requests to answer the last challenge. A challenge that cannot be answered (no
    realm or nonce, a ``qop`` or ``algorithm`` requests does not know: requests raised
    ``KeyError`` or ``TypeError``, or sent the request again without credentials, by version)
    leaves the 4xx as the response; a challenge's body is not read (its connection is closed),
    however long it is."""

    def build_digest_header(self, method: str, url: str) -> str | None:
        try:
            return super().build_digest_header(method, url) or None
        except Exception:  # a challenge requests cannot read: no answer
            return None

    def preemptive(self, method: str, url: str) -> str | None:
        """What requests' ``__call__`` puts on a new request: the answer to the last challenge
        answered (``None`` before one); each hop may answer a challenge once again."""
        self.init_per_thread_state()
        self._thread_local.num_401_calls = 1
        if not self._thread_local.last_nonce:
            return None
        return self.build_digest_header(method, url)

    def answer(self, status: int, challenge: str, method: str, url: str) -> str | None:
        """The ``Authorization`` value answering a response of ``status`` whose
        ``WWW-Authenticate`` values are ``challenge``, or ``None``: not a 4xx, no Digest
        challenge, one answered already on this hop, or one that cannot be answered."""
        self.init_per_thread_state()
        state = self._thread_local
        if not 400 <= status < 500 or "digest" not in challenge.lower():
            state.num_401_calls = 1
            return None
        if state.num_401_calls >= 2:  # answered once on this hop: the 4xx stands
            state.num_401_calls = 1
            return None
        state.num_401_calls += 1
        state.chal = parse_dict_header(_DIGEST_WORD.sub("", challenge, count=1))
        return self.build_digest_header(method, url)

    def ended(self, status: int) -> None:
        """A hop's answer came (requests' ``handle_redirect``): a redirect lets the next hop
        answer a challenge of its own."""
        if 300 <= status < 400:
            self.init_per_thread_state()
            self._thread_local.num_401_calls = 1

    def handle_401(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        request = r.request
        header = self.answer(
            r.status_code,
            r.headers.get("WWW-Authenticate", ""),
            request.method or "GET",
            request.url or "",
        )
        if header is None:
            return r
        again = request.copy()
        jar = again._cookies if again._cookies is not None else RequestsCookieJar()
        extract_cookies_to_jar(jar, request, r.raw)  # the challenge's cookies, as requests
        again.prepare_cookies(jar)
        again.headers["Authorization"] = header
        r.raw.close()  # its body not read: the connection closes
        r._content, r._content_consumed = b"", True
        r.close()
        answered: requests.Response = r.connection.send(again, **kwargs)
        _check_raw_headers(answered)  # the hooks before this one ran on the challenge only
        answered.history.append(r)
        answered.request = again
        return answered

    def __repr__(self) -> str:
        return "DigestAuth(***)"


_DIGEST_WORD = re.compile(r"digest ", re.IGNORECASE)


def auth_secrets(auth: Any) -> list[str]:
    """What a requests ``auth`` sends that must not be shown: a token, a password, and the
    ``Basic`` header value made from it."""
    if isinstance(auth, BearerAuth):
        return [auth.token] if auth.token else []
    if isinstance(auth, HTTPDigestAuth):
        password = auth.password
        if isinstance(password, bytes):  # read as tidy() reads bytes
            password = password.decode("latin-1")
        return [password] if password else []
    if isinstance(auth, HTTPBasicAuth):
        return basic_secrets(auth.username, auth.password)
    if isinstance(auth, tuple) and len(auth) == 2:
        return basic_secrets(*auth)
    return []


def request_secrets(
    request: requests.Request,
    session: requests.Session | None = None,
    secret_headers: Iterable[str] = (),
) -> tuple[str, ...]:
    """The secrets ``request`` carries (auth, a password in the URL, secret-looking header,
    query and body values, and the values of ``secret_headers``), with those the ``session``
    adds."""
    found = [*url_secrets(request.url), *auth_secrets(request.auth)]
    found += secret_header_values(request.headers, secret_headers)
    found += secret_query_values(None, request.params)
    found += body_secrets(request.data, request.json) + multipart_secrets(request.files)
    found += cookie_values(request.cookies)
    if session is not None:
        found += auth_secrets(session.auth) + secret_header_values(session.headers, secret_headers)
        found += secret_query_values(None, session.params)
        found += cookie_values(session.cookies)
        found += proxy_secrets(session.proxies)
    return tidy(found)


def cookie_values(cookies: Any) -> list[str]:
    """The values of the cookies a caller gives (a mapping or a cookie jar): sent in a
    ``Cookie`` header, a credential as that header's value is."""
    if isinstance(cookies, CookieJar):
        return [cookie.value for cookie in cookies if isinstance(cookie.value, str)]
    if isinstance(cookies, Mapping):
        return [exact_text(value) for value in cookies.values() if isinstance(value, str)]
    return []


def netrc_auth(url: Any) -> tuple[str, str] | None:
    """The login and password ``~/.netrc`` (or ``$NETRC``) holds for ``url``'s host, which
    requests sends as Basic auth when a request has no auth; the aiohttp runner too."""
    try:
        found = get_netrc_auth(url) if isinstance(url, str) else None
    except Exception:  # an unreadable netrc: requests sends nothing from it either
        return None
    return (found[0], found[1]) if found else None


def netrc_secrets(url: Any) -> list[str]:
    """The credentials ``netrc_auth`` finds for ``url``, as they must not be shown."""
    found = netrc_auth(url)
    return basic_secrets(*found) if found else []


def proxy_secrets(proxies: Any) -> list[str]:
    """The credentials in the proxy URLs of a requests-style ``proxies`` mapping (a password,
    secret-looking query values): each runner sends the ``Proxy-Authorization`` made of them."""
    if not isinstance(proxies, Mapping):
        return []
    return [
        found
        for url in proxies.values()
        if isinstance(url, str)
        for found in url_secrets(url, proxy=True)
    ]


def environ_proxies(url: str) -> Mapping[str, str]:
    """``requests.utils.get_environ_proxies(url)``, worked out once per host and environment:
    requests walks the environment more than once and parses ``no_proxy``, and a triggerer starts
    thousands of sleepers of a few hosts. The key holds every ``*_proxy`` variable, in any
    case, as requests reads them."""
    parts = urlsplit(url)
    return _proxies_of(f"{parts.scheme}://{parts.netloc}", proxy_variables())


def hop_proxies(url: str, proxies: Mapping[str, str] | None) -> dict[str, str]:
    """The proxies a redirect's hop to ``url`` goes through, as requests works them out
    (``rebuild_proxies``): the request's so far, and the environment's for ``url``'s scheme
    when ``NO_PROXY`` does not name its host (a request to a host ``NO_PROXY`` names, sent
    direct, is redirected elsewhere through the proxy; the other way, it stays on it)."""
    found = dict(proxies or {})
    environ = environ_proxies(url)
    if environ:
        scheme = urlsplit(url).scheme
        proxy = environ.get(scheme, environ.get("all"))
        if proxy:
            found.setdefault(scheme, proxy)
    return found


#: The environment last read (a copy of ``os.environ``'s own store) and its proxy variables.
_ENVIRONMENT_SEEN: tuple[dict[Any, Any] | None, tuple[tuple[str, str], ...]] = (None, ())


def proxy_variables() -> tuple[tuple[str, str], ...]:
    """Every ``*_proxy`` variable (any case) and ``REQUEST_METHOD``, with their values. Reading
    ``os.environ`` decodes every variable in Python; its store is compared whole instead (one
    dictionary comparison), and read again only when it changed."""
    global _ENVIRONMENT_SEEN
    store = getattr(os.environ, "_data", None)  # CPython's encoded store; without it, read all
    seen, variables = _ENVIRONMENT_SEEN
    if store is None or seen != store:
        variables = tuple(
            (name, value)
            for name, value in os.environ.items()
            if name[-6:].lower() == "_proxy" or name == "REQUEST_METHOD"
        )
        if store is not None:
            _ENVIRONMENT_SEEN = (dict(store), variables)
    return variables


@functools.lru_cache(maxsize=256)
def _proxies_of(origin: str, environment: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    return types.MappingProxyType(get_environ_proxies(origin))


@functools.lru_cache(maxsize=16)
def _environment_secrets(variables: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    return tuple(
        secret
        for _, value in variables
        if "@" in value or "=" in value
        for secret in url_secrets(value, proxy=True)
    )


def environment_secrets() -> tuple[str, ...]:
    """The credentials in the proxy variables of the environment (a password in a proxy URL,
    secret-looking query values), whichever URL they serve: both runners read them (the
    requests runner per request, the aiohttp one at its first poll), and a proxy, or a server
    behind one, may echo the ``Proxy-Authorization`` made from them."""
    return _environment_secrets(proxy_variables())


class _MaskedUrls(logging.Filter):
    """urllib3's own lines with the URLs they quote masked (``mask_url_parts``: a password in
    the user-info, secret-looking parameters) and the secrets of the request this thread sends
    redacted, in their arguments and in the error they log (its traceback is written from it),
    each argument cut to ``EXCEPTION_TEXT_LIMIT`` once redacted: it logs each request's path and
    query (DEBUG), and a server's unparsable header lines (WARNING, with megabytes of them if a
    server sends so), and the requests runner is urllib3."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = getattr(_CURRENT, "secrets", ())  # the request's own, in this thread
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg
                if isinstance(arg, int | float)
                else mask_url_parts(scrub(str(arg), secrets, EXCEPTION_TEXT_LIMIT))
                for arg in record.args
            )
        if record.exc_info and record.exc_info[1] is not None:
            redact_exception(record.exc_info[1], secrets)  # read by each formatter as it is
        return True


_MASKED_URLS = _MaskedUrls()
#: Every logger of urllib3's that may quote a URL, a header or an error (``_MaskedUrls``).
URLLIB3_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.util.retry",
    "urllib3.poolmanager",
    "urllib3.contrib.pyopenssl",
    "urllib3.http2.connection",
)
for _name in URLLIB3_LOGGERS:
    _logger = logging.getLogger(_name)
    if not any(isinstance(each, _MaskedUrls) for each in _logger.filters):
        _logger.addFilter(_MASKED_URLS)


class _Missing:
    """Sentinel for "not given", where ``None`` is a meaningful value (``json=None``)."""

    def __repr__(self) -> str:
        return "<not given>"


MISSING: Any = _Missing()

_SHORTHAND = ("status_code", "text", "json", "jsonpath", "callback")


def classic_number(name: str, value: Any, cast: Callable[[str], Any]) -> Any:
    """``value``, or a numeric string cast as the classic library cast it (deprecated)."""
    if not isinstance(value, str):
        return value
    try:
        number = cast(value)
    except ValueError:
        raise ConditionError(f"{name} must be a number, not {value!r}") from None
    warnings.warn(
        f"{name}={value!r}: numbers given as strings are deprecated; pass {number!r}",
        DeprecationWarning,
        stacklevel=4,
    )
    return number


def merge_shorthand(until: Any, shorthand: Mapping[str, Any], stacklevel: int) -> Any:
    """Fold the classic shorthand keywords (``status_code=200``...) into one ``until`` dict."""
    given = {key: value for key, value in shorthand.items() if value is not MISSING}
    if not given:
        return until
    if until is not None:
        raise ConditionError(
            f"give conditions either in until or as keywords ({', '.join(given)}), not both"
        )
    warnings.warn(
        f"condition keywords ({', '.join(given)}) are deprecated; pass until={given!r}",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return given


def strip_credentials(url: str) -> str:
    """``url`` without ``user:password@`` and with secret-looking parameters (query, fragment,
    path parameters) as ``***``, for log lines and messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_url_parts(url)
    if "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return mask_url_parts(url)


def check_url(url: Any) -> str:
    if not isinstance(url, str):
        raise ConditionError(f"url must be a string, not {type(url).__name__}")
    text: str = str.__str__(url)  # what requests sends (it reads a URL with str()): its text
    authority = re.split(r"[/?#]", text.partition("://")[2], maxsplit=1)[0]
    if not followable(text) or AUTHORITY_NEVER.search(authority):
        raise ConditionError(f"{shown_url(text)!r} is not an http(s) URL like 'https://host/path'")
    return text


def build_request(
    url_or_request: str | requests.Request,
    *,
    auth: Any = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Request:
    """A new ``requests.Request``: a URL means GET; a Request's own auth and headers win.
    Its headers, and a bearer token's, are checked (``_http.check_headers``)."""
    merged: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(headers or {})
    if isinstance(url_or_request, str):
        merged = _exact_headers(merged)
        check_request_headers(merged, auth)
        return requests.Request(
            "GET", check_url(url_or_request), headers=merged, auth=_exact_auth(auth)
        )
    if isinstance(url_or_request, requests.Request):
        source = url_or_request
        merged.update(source.headers or {})
        merged = _exact_headers(merged)
        auth = _exact_auth(source.auth if source.auth is not None else auth)
        check_request_headers(merged, auth)
        check_cookies(source.cookies)
        check_json_body(source.json)
        return requests.Request(
            method=check_method(source.method or "GET"),
            url=check_url(source.url),
            headers=merged,
            files=source.files,
            data=source.data,
            json=source.json,
            params=_exact_params(source.params),
            auth=auth,
            cookies=source.cookies,
            hooks=source.hooks,
        )
    raise ConditionError(
        "url_or_request must be a URL string or a requests.Request, "
        f"not {type(url_or_request).__name__}"
    )


def _exact_headers(headers: CaseInsensitiveDict[Any]) -> CaseInsensitiveDict[Any]:
    """``headers`` with each name and value that is a ``str`` or ``bytes`` of a subclass (an
    enum member, say, whose ``str()`` is not its text) as the plain one it holds: every rule
    that finds a credential or keeps it within its origin reads a header as text."""
    if all(type(name) is str and type(value) in (str, bytes) for name, value in headers.items()):
        return headers
    return CaseInsensitiveDict(
        {exact_text(name): exact_text(value) for name, value in headers.items()}
    )


def _exact_params(params: Any) -> Any:
    """requests' ``params`` with each name and value that is a ``str`` or ``bytes`` of a
    subclass as the plain one it holds (``exact_text``): requests encodes them with their own
    ``encode``, while every rule that finds a credential reads their text. Unchanged when
    there is none; a mapping with one becomes its list of pairs (a multi-valued one keeps
    every pair)."""
    if isinstance(params, str | bytes):
        return exact_text(params)
    if isinstance(params, Mapping):
        pairs = list(params.items())
    elif isinstance(params, list | tuple):
        pairs = list(params)
    else:
        return params
    exact = [_exact_pair(pair) for pair in pairs]
    return params if all(map(operator.is_, exact, pairs)) else exact


def _exact_pair(pair: Any) -> Any:
    """A ``(name, value)`` pair of ``params`` (a value may be a list of them), as is when all
    it holds is plain."""
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return pair
    name, value = pair
    values = value if isinstance(value, list | tuple) else [value]
    if exact_text(name) is name and all(exact_text(item) is item for item in values):
        return pair
    exact = [exact_text(item) for item in values]
    return (exact_text(name), exact if isinstance(value, list | tuple) else exact[0])


def _exact_auth(auth: Any) -> Any:
    """``auth`` with a login and password that are ``str`` or ``bytes`` of a subclass as the
    plain ones they hold, for the kinds of auth whose credentials are redacted
    (``auth_secrets``): a pair, and requests' own Basic and Digest auth (Digest as
    ``DigestAuth``, a new one per request built: its challenge state is the request's)."""
    if isinstance(auth, tuple) and len(auth) == 2:
        return (exact_text(auth[0]), exact_text(auth[1]))
    if type(auth) in (HTTPDigestAuth, DigestAuth):  # each request its own challenge state
        return DigestAuth(exact_text(auth.username), exact_text(auth.password))
    if type(auth) is HTTPBasicAuth:
        login, password = exact_text(auth.username), exact_text(auth.password)
        if login is not auth.username or password is not auth.password:
            return HTTPBasicAuth(login, password)
    return auth


def check_request_headers(
    headers: Mapping[Any, Any] | None, auth: Any, where: str = "headers", auth_where: str = "auth"
) -> None:
    """``_http.check_headers`` for ``headers`` and for the header a bearer ``auth`` sends."""
    check_headers(headers, where)
    if isinstance(auth, BearerAuth):
        check_headers({"Authorization": f"Bearer {auth.token}"}, auth_where)


def describe_request(request: requests.Request, url: str | None = None) -> str:
    """``"METHOD url?query"`` without credentials, for log lines (``request`` as
    ``build_request`` makes it: its URL is a checked string; ``url``: its prepared URL, when
    the caller has it)."""
    if url is None:
        try:
            url = requests.Request(url=request.url, params=request.params).prepare().url
        except requests.RequestException:  # its own message would quote the whole URL
            url = None
    return f"{request.method} {strip_credentials(url or str(request.url))}"


_NO_NAMES: frozenset[str] = frozenset()


class Plan:
    """What both runners share: the checked conditions, policy and request of one endpoint.

    :param url_or_request: a URL (polled with GET) or a ``requests.Request`` (any method, body,
        params).
    :param until: a condition dict (all keys must hold) or a list of them (any may hold).
    :param alarms: same shape; checked before ``until`` on every response; a match raises
        ``Alarm``.
    :param auth: requests auth for every poll (a Request's own auth wins).
    :param headers: headers for every poll (a Request's own headers win).
    :param verify: TLS verification: ``True``/``False`` or a CA bundle path; ``None`` leaves the
        session's and the environment's setting.
    :param polling_interval: seconds between polls (fractions honoured).
    :param max_retries: total number of requests per run; ``None`` for no limit.
    :param ignore_exceptions: exception classes (or dotted paths) that count as a failed attempt
        instead of ending the run. ``Alarm`` is never ignored.
    :param timeout: per-request timeout in seconds, a ``(connect, read)`` pair, or ``None``.
    :param retry_after_cap: the longest wait a ``Retry-After`` header can ask for, in seconds.
    :param max_wait: overall seconds a run may take before ``DeadlineExceeded``; ``None``: no limit.
        It also cuts a request in flight.
    :param request_deadline: total seconds one request may take (connect, headers, the whole
        body, redirects included); past it the request is abandoned with
        ``RequestDeadlineExceeded`` (a ``ReadTimeout``). Default: the connect timeout plus
        ``_core.DEADLINE_FACTOR`` read timeouts; so a server trickling its body cannot hold a
        poll.
    :param max_body_bytes: the largest body read (10 MiB by default); a larger one raises
        ``ResponseTooLarge`` instead of filling memory. ``None``: no limit.
    :param clock: the clock ``max_wait`` is measured on (monotonic by default).
    :param secrets: more strings that messages must not show.
        The request's own are found without help: its auth, secret-looking header and query
        values and a password in the URL. Each is replaced by ``***`` in log lines and exception
        messages, in every form it may take (``_secrets.tidy``).
    :param secret_headers: more header names whose values are credentials, beside those that
        look secret (``_secrets.is_secret_name``): redacted, and never sent to another origin.
    :param origin_headers: header names that go to the request's own origin only, secret or
        not (a connection's headers): a redirect to another origin drops them.
    """

    def __init__(
        self,
        url_or_request: str | requests.Request,
        until: Any = None,
        alarms: Any = None,
        *,
        auth: Any = None,
        headers: Mapping[str, str] | None = None,
        verify: bool | str | None = None,
        polling_interval: float = 2,
        max_retries: int | None = 50,
        ignore_exceptions: Iterable[type[BaseException] | str] | None = None,
        timeout: float | tuple[float, float] | None = 30,
        retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP,
        max_wait: float | None = None,
        request_deadline: float | None = None,
        max_body_bytes: int | None = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
        secrets: Iterable[str] = (),
        secret_headers: Iterable[str] = (),
        origin_headers: Iterable[str] = (),
    ):
        max_retries = classic_number("max_retries", max_retries, int)
        polling_interval = classic_number("polling_interval", polling_interval, float)
        self.rules = Rules(until, alarms)
        self.secret_headers = frozenset(header_names(secret_headers)) or _NO_NAMES
        self.origin_headers = frozenset(header_names(origin_headers, "origin_headers")) or _NO_NAMES
        self.policy = Policy.build(
            max_retries=max_retries,
            polling_interval=polling_interval,
            ignore_exceptions=ignore_exceptions,
            retry_after_cap=retry_after_cap,
        )
        self.request = build_request(url_or_request, auth=auth, headers=headers)
        given = self.request.auth
        if not (given is None or callable(given) or (isinstance(given, tuple) and len(given) == 2)):
            # requests fails at the first request ("'list' object is not callable")
            raise ConditionError(
                "auth must be a (user, password) tuple or a requests auth object, not "
                f"{type(given).__name__}"
            )
        self._label: str | None = None  # described when first needed (``label``)
        self.secrets = joined(  # each secret's forms worked out once, never expanded again
            request_secrets(self.request, secret_headers=self.secret_headers),
            tidy([*environment_secrets(), *listed(secrets)]),
        )
        self.timeout = check_timeout(timeout)
        self.max_wait = (  # finite; never slept, only compared: no upper bound
            None if max_wait is None else check_seconds("max_wait", max_wait, maximum=math.inf)
        )
        self.request_deadline = request_deadline_seconds(
            self.timeout,
            None
            if request_deadline is None
            else check_seconds("request_deadline", request_deadline, allow_equal=False),
        )
        self.verify = verify
        if max_body_bytes is not None and (
            isinstance(max_body_bytes, bool)
            or not isinstance(max_body_bytes, int)
            or max_body_bytes < 1
        ):
            raise ConditionError(
                f"max_body_bytes must be a positive int or None, not {max_body_bytes!r}"
            )
        self.max_body_bytes = max_body_bytes
        self._clock = clock

    @property
    def label(self) -> str:
        """``"METHOD url?query"`` without credentials: what log lines and messages call it."""
        if self._label is None:
            self._label = describe_request(self.request)
        return self._label

    # --- the classic attributes: settable where the classic library allowed it, checked again

    @property
    def until(self) -> list[dict[str, Any]]:
        """The ``until`` conditions, as a list of dicts (``status_code`` read back as an int)."""
        return normalized(self.rules.until)

    @until.setter
    def until(self, value: Any) -> None:
        self.rules = Rules(value, self.rules.alarms and self.rules.alarms.to_specs())

    @property
    def alarms(self) -> list[dict[str, Any]]:
        """The ``alarms`` conditions, as a list of dicts (``[]`` for none)."""
        return normalized(self.rules.alarms)

    @alarms.setter
    def alarms(self, value: Any) -> None:
        self.rules = Rules(self.rules.until.to_specs(), value)

    @property
    def max_retries(self) -> int | None:
        return self.policy.max_retries

    @max_retries.setter
    def max_retries(self, value: int | None) -> None:
        self._change_policy(max_retries=classic_number("max_retries", value, int))

    @property
    def polling_interval(self) -> float:
        return self.policy.polling_interval

    @polling_interval.setter
    def polling_interval(self, value: float) -> None:
        self._change_policy(polling_interval=classic_number("polling_interval", value, float))

    @property
    def ignore_exceptions(self) -> tuple[type[BaseException], ...]:
        return self.policy.ignore_exceptions

    @ignore_exceptions.setter
    def ignore_exceptions(self, value: Iterable[type[BaseException] | str] | None) -> None:
        self._change_policy(ignore_exceptions=value)

    @property
    def kwargs(self) -> dict[str, Any]:
        """What every request is sent with, in the classic form: ``{"verify": ...}`` when set."""
        return {} if self.verify is None else {"verify": self.verify}

    def _change_policy(self, **changes: Any) -> None:
        current = self.policy
        self.policy = Policy.build(
            **{
                "max_retries": current.max_retries,
                "polling_interval": current.polling_interval,
                "ignore_exceptions": current.ignore_exceptions,
                "retry_after_cap": current.retry_after_cap,
                **changes,
            }
        )

    @staticmethod
    def meets_condition(response: requests.Response, condition: dict[str, Any]) -> bool:
        """Whether ``response`` meets one condition dict, by this package's rules (a key that is
        present always counts, even with a falsy value)."""
        return meets(response, condition)

    def check_body_size(self, size: int | None, *, declared: bool = False) -> None:
        """Raise ``ResponseTooLarge`` once ``size`` bytes (``declared`` by the response's
        ``Content-Length``, or read or decoded so far) pass ``max_body_bytes``. Both runners
        read bodies through this one rule."""
        limit = self.max_body_bytes
        if limit is not None and size is not None and size > limit:
            said = f"it declares {size}" if declared else "more came"  # (read in pieces of
            # each runner's own sizes)
            raise ResponseTooLarge(
                f"{self.label}: the response body is larger than max_body_bytes ({limit} bytes; "
                f"{said})",
                limit=limit,
            )

    def poller(
        self, *, attempts_made: int = 0, deadline: float | None = None, **options: Any
    ) -> Poller:
        """A fresh poll state machine for one run (``options``: ``log``, ``noun``), which gives
        up at ``deadline`` (on the plan's clock), else ``max_wait`` from now."""
        if deadline is None and self.max_wait is not None:
            deadline = self._clock() + self.max_wait
        return Poller(
            self.rules,
            self.policy,
            label=self.label,
            attempts_made=attempts_made,
            deadline=deadline,
            secrets=self.secrets,
            **options,
        )


class HttSleeper(Plan):
    """Poll one HTTP endpoint until a response meets ``until``; raise at once on an alarm.

    Takes the arguments of ``Plan``, and:

    :param session: a ``requests.Session`` to use and leave open; by default the HttSleeper owns
        one, reused across polls and runs (see ``close()``).
    :param sleep: the sleeping function (tests pass a recorder).

    The keywords ``status_code``, ``text``, ``json``, ``jsonpath`` and ``callback`` are the
    classic shorthand for ``until={...}``; they are deprecated.
    """

    def __init__(
        self,
        url_or_request: str | requests.Request,
        until: Any = None,
        alarms: Any = None,
        auth: Any = None,
        headers: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        verify: bool | str | None = None,
        polling_interval: float = 2,
        max_retries: int | None = 50,
        ignore_exceptions: Iterable[type[BaseException] | str] | None = None,
        loglevel: int | str | None = None,
        *,
        sleep: Callable[[float], Any] | None = None,
        status_code: Any = MISSING,
        text: Any = MISSING,
        json: Any = MISSING,
        jsonpath: Any = MISSING,
        callback: Any = MISSING,
        **options: Any,
    ):
        shorthand = {
            "status_code": status_code,
            "text": text,
            "json": json,
            "jsonpath": jsonpath,
            "callback": callback,
        }
        until = merge_shorthand(until, shorthand, stacklevel=2)
        set_classic_loglevel(loglevel, stacklevel=2)
        super().__init__(
            url_or_request,
            until,
            alarms,
            auth=auth,
            headers=headers,
            verify=verify,
            polling_interval=polling_interval,
            max_retries=max_retries,
            ignore_exceptions=ignore_exceptions,
            **options,
        )
        if session is not None:  # a configured session (a connection's) adds its own
            self.secrets = joined(
                self.secrets, request_secrets(self.request, session, self.secret_headers)
            )
        if self.request.auth is None:  # requests sends ~/.netrc's credentials for the host then
            self.secrets = joined(self.secrets, tidy(netrc_secrets(self.request.url)))
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep or time.sleep  # looked up now, so that a patched time.sleep applies
        self._send_options: dict[str, Any] | None = None
        self._wire: tuple[requests.Session | None, requests.Request] = (None, self.request)
        # what ``_learn`` was given, and the secrets it was added to
        self._learned: tuple[str, ...] = ()
        self._unlearned = self._learned_into = self.secrets

    @property
    def session(self) -> requests.Session:
        """The session polls go through (created on first use when none was given)."""
        if self._session is None:
            self._session = requests.Session()
        return self._session

    @session.setter
    def session(self, session: requests.Session) -> None:
        """Poll through ``session`` from now on (it is left open; the classic allowed this)."""
        self.close()
        self._session, self._owns_session, self._send_options = session, False, None
        self.secrets = joined(
            self.secrets, request_secrets(self.request, session, self.secret_headers)
        )

    def close(self) -> None:
        """Close the session this HttSleeper created (a session passed in is left open)."""
        if self._owns_session and self._session is not None:
            self._session.close()
            self._session = None
            self._send_options = None

    def __enter__(self) -> HttSleeper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send_once(self, budget: float | None = MISSING) -> requests.Response:
        """Send one request, follow its redirects and read its body, as every poll does.

        Redirects are followed here, not by requests, by the rules both runners share
        (``_http.next_hop``: at most ``MAX_REDIRECTS``, the method rewritten as browsers do,
        credentials dropped on leaving the origin). The body is read raw and decoded by
        ``_http.decode_body``, never past ``max_body_bytes`` nor the request's deadline.
        Every error comes out in the requests exception tree, by cause (``translate_error``).

        What ``requests.get`` would read from the environment (proxies, CA bundle) is read at
        the first poll and kept: the URL does not change between polls, and reading it costs
        more than the request itself on a keep-alive connection.

        :param budget: seconds the whole request may take (``Poller.request_budget``); by
            default ``request_deadline``.
        """
        if budget is MISSING:
            budget = self.request_deadline
        if budget is None:
            deadline = cut = None
        else:
            deadline = time.monotonic() + budget
            cut = _CURRENT.cut = _Cut()
            key = _WATCHDOG.arm(deadline, cut)
        _CURRENT.secrets = self.secrets  # for urllib3's own lines (``_MaskedUrls``)
        try:
            return self._exchange(deadline)
        except Exception as exc:
            if cut is not None and cut.fired and budget is not None:
                translated: BaseException = RequestDeadlineExceeded.after(self.label, budget)
            else:
                translated = translate_error(exc, deadline, self.secrets)
                translated = worded(translated, self.label, budget)
            for cause in causes(exc):  # what was sent (its credentials, the whole URL) stays
                if isinstance(cause, requests.RequestException):  # here, as in the aiohttp
                    cause.request = None  # runner
            if translated is exc:
                raise
            raise translated from exc
        finally:
            _CURRENT.secrets = ()
            if cut is not None:
                _WATCHDOG.disarm(key)
                _CURRENT.cut = None

    def _exchange(self, deadline: float | None) -> requests.Response:
        session = self.session
        drop_unsendable_cookies(session.cookies)  # a caller's session may hold some
        if self._send_options is None or self._wire[0] is not session:
            watch_session(session)
            self._wire = (session, wire_request(self.request, session))
            prepared = session.prepare_request(self._wire[1])
            settings = session.merge_environment_settings(  # the session's proxies first:
                # requests lets the environment's win over them, the aiohttp runner does not
                prepared.url or "",
                dict(session.proxies),
                None,
                self._verify(session),
                None,
            )
            self._send_options = {**settings, "stream": True}
        else:
            prepared = session.prepare_request(self._wire[1])  # per poll: cookies can change
        self._learn_sent(prepared)
        hops, left_origin = 0, False
        proxies = self._send_options["proxies"]
        while True:
            timeout = self._timeout_until(deadline)
            try:
                response: requests.Response | None = self._send(
                    prepared, timeout, left_origin, proxies
                )
            except requests.exceptions.ConnectionError as exc:
                # closed before any byte of answer: most often a kept-alive connection the
                # server closed after its last answer; sent once more, on a new connection
                # (the same rule as the aiohttp runner)
                if prepared.method not in IDEMPOTENT_METHODS or not stale_connection_cause(exc):
                    raise
                response = None
            if response is None:  # sent again outside the handler: what the second try
                # raises is its own failure, not chained to the first (each runner words it)
                response = self._send(prepared, self._timeout_until(deadline), left_origin, proxies)
            if response.request is not prepared and response.request is not None:
                self._learn_sent(response.request)  # sent again by a hook (an auth's 401 retry)
            location = redirect_location(response.status_code, response.headers)
            if location is None:
                break
            # every body is read, a redirect's too, so its connection is reused alike
            self._read_body(response, deadline)
            current = prepared.url or ""
            method, url, keep_body = next_hop(
                prepared.method or "GET",
                current,
                response.status_code,
                location,
                hops,
                prepared.body,
                self.secrets,
            )
            hops += 1
            left_origin = left_origin or not same_origin(current, url)
            prepared = self._next_hop(prepared, method, url, keep_body, left_origin)
            proxies = hop_proxies(url, proxies)
        self._read_body(response, deadline)
        return response

    def _learn_sent(self, prepared: requests.PreparedRequest) -> None:
        """What an auth of the caller's put on this request (``Token <key>``, an API key header
        or query parameter, a token it refreshes or a signature it makes per request): secrets
        from now on (``_learn``), as the known auths' are (those, the aiohttp runner's too, hold
        a known secret; a Digest answer holds none: its hash is masked wherever it shows)."""
        # its Cookie is the caller's cookies (known) and the server's own, as in the aiohttp
        # runner, which learns nothing from the wire
        headers = {k: v for k, v in prepared.headers.items() if k.lower() != "cookie"}
        sent = secret_header_values(headers, self.secret_headers)
        sent += secret_query_values(prepared.url)
        self._learn(sent)

    def _learn(self, sent: list[str]) -> None:
        """Secrets a request sent that the plan did not know (``sent``: credentials as sent,
        ``secret_header_values``): secrets from now on. What it sends stays a secret, and of
        what it sent before and no longer sends, the last ``LEARNED_KEPT`` values: a token that
        changes on every request does not grow the secrets without end."""
        # "Bearer <token>" of a known token is known: redacted as "Bearer ***" in both runners
        if all(covered(value, self.secrets) for value in sent):
            return
        if self.secrets is not self._learned_into:  # set elsewhere since: the new base
            self._unlearned = self.secrets
        # what this request sent, and the latest of what earlier ones sent and this one not
        older = [value for value in self._learned if value not in sent][-LEARNED_KEPT:]
        self._learned = (*older, *dict.fromkeys(sent))
        self.secrets = self._learned_into = joined(self._unlearned, tidy(self._learned))

    def _send(
        self,
        prepared: requests.PreparedRequest,
        timeout: Any,
        left_origin: bool = False,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One hop, through ``Session.send`` (so that mounted adapters and the mocking libraries
        users test with, which patch it, see every request), with redirects left to us.

        ``Session.send`` looks ahead at a redirect even when it does not follow it, reading the
        redirect's whole body (unbounded, and past the deadline) to prepare a request we never
        send: for this call the session reports no redirect target. The header limits are
        checked by a response hook, before the session keeps any cookie from them.
        """
        session = self.session
        prepared.hooks = {"response": [_check_raw_headers, *prepared.hooks.get("response", [])]}
        options = self._send_options
        assert options is not None, "set by _exchange()"
        if proxies is not None and proxies != options["proxies"]:  # a redirect's hop's
            options = {**options, "proxies": proxies}
        if (prepared.url or "").startswith("https:"):
            if left_origin:  # a client certificate goes to its origin only
                options = {**options, "cert": None}
            tls_context_of(options["verify"], options["cert"])  # its files, read alike by the
            # aiohttp runner
        elif options["cert"]:  # no TLS over http: requests would look for its files even so
            options = {**options, "cert": None}
        url = prepared.url or ""
        chosen = options.get("proxies")
        proxy = select_proxy(url, chosen) if chosen else None  # none: no URL parse a poll
        if proxy:
            check_proxy_credentials(proxy)  # as the aiohttp runner refuses them
            if url.startswith("http:") and proxy.lower().startswith("https:"):
                tls_context_of(options["verify"], None)  # the proxy's CA bundle (_proxy_verified)
        if PROXY_AUTH in prepared.headers and not proxy_reads_it(url, proxy):  # not to the origin
            prepared = prepared.copy()
            prepared.headers = CaseInsensitiveDict(without_proxy_authorization(prepared.headers))
        session.get_redirect_target = _no_redirect_target  # type: ignore[method-assign]
        try:
            return session.send(prepared, allow_redirects=False, timeout=timeout, **options)
        finally:
            del session.get_redirect_target
            drop_unsendable_cookies(session.cookies)  # those the response set

    def _verify(self, session: requests.Session) -> bool | str | None:
        """TLS verification: the argument's, else the session's when it was set (``False`` or a
        CA bundle), else ``None``: the environment's ``REQUESTS_CA_BUNDLE``, else on. requests
        alone would let the environment override a session's ``verify``."""
        if self.verify is not None:
            return self.verify
        return None if session.verify is True else session.verify

    def _next_hop(
        self,
        previous: requests.PreparedRequest,
        method: str,
        url: str,
        keep_body: bool,
        left_origin: bool,
    ) -> requests.PreparedRequest:
        """The request a redirect leads to (``_http.hop_headers`` decides its headers)."""
        hop = previous.copy()
        hop.method, hop.url = method, url
        hop.headers = CaseInsensitiveDict(
            hop_headers(
                previous.headers,
                keep_body=keep_body,
                cross_origin=left_origin,
                secret_headers=self.secret_headers,
                origin_headers=self.origin_headers,
            )
        )
        if not keep_body:
            hop.body = None
        if left_origin:  # no auth handler (Digest's retry) and no cookie beyond the origin
            hop.hooks = {"response": []}
        else:
            cookie = cookie_header(self._hop_jar(), url, hop.headers)
            if cookie:
                hop.headers["Cookie"] = cookie
        return hop

    def _hop_jar(self) -> CookieJar:
        """The session's cookies with the request's own (as requests merges them)."""
        jar = self.session.cookies
        if not self.request.cookies:
            return jar
        merged = RequestsCookieJar()
        merged.update(jar)
        return merge_cookies(merged, self.request.cookies)

    def _timeout_until(self, deadline: float | None) -> Any:
        """The timeout for the next send: the configured one, cut to the deadline."""
        if deadline is None:
            return self.timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise RequestDeadlineExceeded(f"{self.label}: the request deadline passed")
        connect, read = self.timeout if isinstance(self.timeout, tuple) else (self.timeout,) * 2
        if connect is not None and read is not None and left >= max(connect, read):
            return self.timeout  # the deadline is further than any one wait
        return (
            left if connect is None else min(connect, left),
            left if read is None else min(read, left),
        )

    def _read_body(self, response: requests.Response, deadline: float | None) -> None:
        """Read the raw body as it arrives, never past ``max_body_bytes`` (before and after
        decoding) nor the deadline, then decode it as ``_http.decode_body`` says."""
        raw = response.raw
        if raw is None or not hasattr(raw, "read"):  # a test double's canned response
            self.check_body_size(len(response.content or b""))
            return
        try:
            method = response.request.method if response.request is not None else None
            self.check_body_size(
                declared_body_size(
                    method, response.status_code, response.headers.get("Content-Length")
                ),
                declared=True,
            )
            read = getattr(raw, "read1", None) or raw.read
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            read_timeout = self.timeout[1] if isinstance(self.timeout, tuple) else self.timeout
            chunks, size = [], 0
            while True:
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise RequestDeadlineExceeded(f"{self.label}: the request deadline passed")
                    if sock is not None:
                        sock.settimeout(left if read_timeout is None else min(left, read_timeout))
                try:
                    chunk = read(_CHUNK, decode_content=False)
                except urllib3.exceptions.ProtocolError as exc:  # the connection went (a
                    # reset too) inside the body: cut short, as requests' iter_content says
                    raise requests.exceptions.ChunkedEncodingError(exc) from exc
                if not chunk:
                    break
                size += len(chunk)
                self.check_body_size(size)
                chunks.append(chunk)
            body = decode_body(
                b"".join(chunks), response.headers.get("Content-Encoding"), self.check_body_size
            )
        except BaseException:
            response.close()
            raise
        response._content = body
        response._content_consumed = True
        response.encoding = text_encoding(response.encoding)

    def run(self, *, attempts_made: int = 0, **options: Any) -> requests.Response:
        """Poll until ``until`` is met; each run starts with the full attempt budget.

        :param attempts_made: attempts already spent elsewhere, counted against ``max_retries``.
        :param options: for the poll state machine: ``log`` (a logger), ``noun`` ("poll").
        :returns: the response that met ``until``.
        :raises Alarm: a response matched an alarm.
        :raises MaxRetriesExceeded: ``max_retries`` requests, none matched.
        :raises DeadlineExceeded: ``max_wait`` passed, none matched.
        """
        poller = self.poller(attempts_made=attempts_made, **options)
        while True:
            action = poller.next_action(self._clock())
            if isinstance(action, Done):
                return action.response
            if isinstance(action, Sleep):
                if action.seconds > 0:  # sleeping 0 s still costs a system call
                    self._sleep(action.seconds)
                continue
            budget = poller.request_budget(self._clock(), self.request_deadline)
            try:
                outcome: requests.Response | Exception = self.send_once(budget)
            except Exception as exc:
                outcome = exc
            poller.secrets = self.secrets  # with those the first request found
            try:
                poller.receive(outcome, self._clock())
            except GaveUp as exc:  # in the StopIteration form the classic API promises
                raise BLOCKING_FORM[type(exc)](
                    str(exc), attempts=exc.attempts, response=exc.response
                ) from exc.__cause__


def httsleep(
    url_or_request: str | requests.Request,
    until: Any = None,
    alarms: Any = None,
    auth: Any = None,
    headers: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    verify: bool | str | None = None,
    polling_interval: float = 2,
    max_retries: int | None = 50,
    ignore_exceptions: Iterable[type[BaseException] | str] | None = None,
    loglevel: int | str | None = None,
    **options: Any,
) -> requests.Response:
    """Poll until a response meets ``until`` and return it.

    ``HttSleeper(...).run()`` with the same arguments, in the classic library's order; see
    ``HttSleeper`` and ``Plan`` for each of them and for the further keyword-only ``options``
    (``timeout``, ``retry_after_cap``, ``max_wait``, ``sleep``, ``clock``, the deprecated
    condition keywords).
    """
    shorthand = {key: options.pop(key) for key in _SHORTHAND if key in options}
    set_classic_loglevel(loglevel, stacklevel=2)
    with HttSleeper(
        url_or_request,
        merge_shorthand(until, shorthand, stacklevel=2),
        alarms,
        auth,
        headers,
        session,
        verify,
        polling_interval,
        max_retries,
        ignore_exceptions,
        **options,
    ) as sleeper:
        return sleeper.run()


def set_classic_loglevel(loglevel: int | str | None, stacklevel: int) -> None:
    """The classic ``loglevel=``: deprecated; it sets this package's logger level (the classic
    set the root logger's, which is not a library's to touch)."""
    if loglevel is None:
        return
    warnings.warn(
        "loglevel= is deprecated: configure the 'httsleep_airflow' logger instead",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    logging.getLogger("httsleep_airflow").setLevel(loglevel)
