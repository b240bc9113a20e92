"""One table of scenarios, run against both runners (requests and aiohttp) on a real server.

Each scenario scripts the server, polls it, and states what must happen: the same responses,
the same sleeps, the same requests on the wire, the same exceptions, whichever runner polls.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import gzip
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from httsleep_airflow import Alarm, HttSleeper
from httsleep_airflow._async import AsyncHttSleeper
from httsleep_airflow._http import (
    BodyDropped,
    HeaderTooLarge,
    RedirectRefused,
    RequestDeadlineExceeded,
)
from httsleep_airflow._payload import PayloadError, response_payload
from httsleep_airflow._sync import BearerAuth
from httsleep_airflow.exceptions import (
    ConditionError,
    DeadlinePassed,
    JSONPathTooCostly,
    JSONTooDeep,
    ResponseTooLarge,
    RetriesExhausted,
)
from tests.helpers import Recorder, run_in
from tests.raw_server import RawReply, RawServer
from tests.scripted_server import Reply, ScriptedServer, free_port

RUNNING = Reply(body={"status": "RUNNING"})
OK = Reply(body={"status": "OK", "result": {"url": "s3://out/1"}}, headers={"X-Job": "1"})
ERROR = Reply(body={"status": "ERROR"})
UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}
ALARMS = [{"json": {"status": "ERROR"}}, {"status_code": 404}]


def job_done(response: requests.Response) -> bool:
    """A callback that looks at every part of the response it is given."""
    assert isinstance(response, requests.Response)
    return (
        response.status_code == 200
        and response.headers.get("x-job") == "1"
        and response.url.endswith("/jobs/1")
        and response.json()["status"] == "OK"
    )


@dataclass
class Scenario:
    name: str
    replies: list[Reply]
    until: Any = field(default_factory=lambda: UNTIL)
    alarms: Any = field(default_factory=lambda: ALARMS)
    options: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] | None = None  # a requests.Request's arguments instead of GET
    refused: bool = False  # poll a port where nothing listens
    # what must happen
    outcome: str = "met"  # met | alarm | gave_up | raises
    raises: type[BaseException] | None = None
    alarm: int | None = None  # index into alarms
    requests_seen: int | None = None
    sleeps: list[float] | None = None
    check: Any = None  # extra assertion on (result, server); server.other: the other origin
    within: float | None = None  # real seconds the run may take at most


def sent_body(server: ScriptedServer) -> bytes:
    return server.received[0].body


def payload_error(result: Any) -> str:
    """The XCom outcome of a matched response: the value, or the error's message."""
    try:
        response_payload(result)
    except PayloadError as exc:
        return str(exc)
    raise AssertionError("the payload should have been refused")


def basic(user: str, password: str, encoding: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode(encoding)).decode()


CREDENTIALS = {"auth": ("ann", "pw-12345"), "headers": {"X-Api-Key": "key-67890"}}


class _Named(str, enum.Enum):
    """Header names and values as some code writes them: a ``str`` whose ``str()`` is not its
    text ("_Named.API_KEY")."""

    API_KEY = "X-Api-Key"
    KEY = "key-67890"
    TENANT = "X-Tenant"


class _Lying(str):
    """Text whose ``str()``, ``encode()``, ``lower()`` and ``format()`` say something else:
    what a runner sends and what it redacts must both be the text it holds."""

    def __str__(self) -> str:
        return "lie"

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        return b"lie"

    def lower(self) -> str:
        return "lie"

    def __format__(self, spec: str) -> str:
        return "lie"


#: The same credentials, the header's name and value written so.
NAMED_CREDENTIALS = {"auth": ("ann", "pw-12345"), "headers": {_Named.API_KEY: _Named.KEY}}
SET_COOKIE = Reply(body={"status": "RUNNING"}, headers={"Set-Cookie": "sid=cookie-1; Path=/"})


def carries_credentials(received: Any) -> bool:
    headers = received.headers
    return (
        headers.get("Authorization") == basic("ann", "pw-12345", "latin-1")
        and headers.get("X-Api-Key") == "key-67890"
        and headers.get("Cookie") == "sid=cookie-1"
    )


def carries_none(received: Any) -> bool:
    return not {"authorization", "x-api-key", "cookie"} & {k.lower() for k in received.headers}


def credentials_stayed_home(server: Any) -> bool:
    """After a redirect to the other origin: its one request carries no credential, cookie or
    ``X-Tenant`` (marked secret), where the origin's carried them."""
    other = server.other.received
    return (
        carries_credentials(server.received[1])
        and len(other) == 1
        and carries_none(other[0])
        and "x-tenant" not in {k.lower() for k in other[0].headers}
    )


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_a(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


RAW_OK = RawReply(body=b'{"status": "OK"}', headers=[("Content-Type", "application/json")])


def interim_then_silence(
    name: str, interim: bytes, *, timeout: float, stall: float, within: float
) -> Scenario:
    """The server sends ``interim`` (heads of ``1xx`` responses) and then nothing for ``stall``
    seconds, past the request deadline: a ``ReadTimeout`` after the read timeout, in both
    runners, never the deadline's."""
    return Scenario(
        name,
        [RawReply(body=b"{}", interim=interim, interim_stall=stall)],
        options={"timeout": timeout},
        outcome="raises",
        raises=requests.exceptions.ReadTimeout,
        check=lambda error, server: not isinstance(error, RequestDeadlineExceeded),
        within=within,
    )


RAW_RUNNING = RawReply(
    body=b'{"status": "RUNNING"}', headers=[("Content-Type", "application/json")]
)


SCENARIOS = [
    Scenario("met after pending polls", [RUNNING, RUNNING, OK], requests_seen=3, sleeps=[1, 1]),
    Scenario("alarm at once", [RUNNING, ERROR, OK], outcome="alarm", alarm=0, requests_seen=2),
    Scenario("alarm on 404 HTML", [Reply(404, "<html>nope</html>")], outcome="alarm", alarm=1),
    Scenario(
        "AND needs every key",
        [Reply(201, {"status": "OK"}), Reply(200, {"status": "OK"})],
        until={"status_code": 200, "json": {"status": "OK"}},
        requests_seen=2,
    ),
    Scenario(
        "OR takes any branch",
        [RUNNING, Reply(body={"status": "SKIPPED"})],
        until=[{"json": {"status": "OK"}}, {"json": {"status": "SKIPPED"}}],
        requests_seen=2,
    ),
    Scenario(
        "gives up after max_retries, no sleep after the last",
        [RUNNING],
        options={"max_retries": 3},
        outcome="gave_up",
        raises=RetriesExhausted,
        requests_seen=3,
        sleeps=[1, 1],
    ),
    Scenario(
        "non-JSON body raises ValueError",
        [Reply(body="<html>maintenance</html>")],
        outcome="raises",
        raises=ValueError,
        requests_seen=1,
    ),
    Scenario(
        "non-JSON body ignored",
        [Reply(body="<html>maintenance</html>"), OK],
        options={"ignore_exceptions": [ValueError]},
        requests_seen=2,
    ),
    Scenario(
        "Retry-After sets the wait",
        [Reply(503, "busy", {"Retry-After": "9"}), OK],
        until={"status_code": 200, **UNTIL},
        alarms=None,
        requests_seen=2,
        sleeps=[9.0],
    ),
    Scenario(
        "connection refused propagates as requests.ConnectionError",
        [],
        refused=True,
        outcome="raises",
        raises=requests.exceptions.ConnectionError,
        # not a ConnectTimeout (urllib3 2 makes a refused connection a ConnectTimeoutError)
        check=lambda error, server: type(error) is requests.exceptions.ConnectionError,
    ),
    *(
        Scenario(
            f"a redirect to {location!r} is InvalidURL in both runners",
            [RawReply(status=302, headers=[("Location", location)])],
            outcome="raises",
            raises=requests.exceptions.InvalidURL,
            check=lambda error, server: len(server.received) == 1,
        )
        for location in (
            "http://[::1/",  # was a bare ValueError in both
            "http://h:abc/",  # a ValueError in the async runner
            "http://a..b/",  # a UnicodeError in the async runner
            "ftp://h/",  # InvalidSchema in one, RequestException in the other
            "http://256.256.256.256/",
            "http://h\x7f/",
        )
    ),
    Scenario(
        "connection refused is not a Timeout to ignore",
        [],
        refused=True,
        options={"ignore_exceptions": ["requests.exceptions.Timeout"], "max_retries": 3},
        outcome="raises",
        raises=requests.exceptions.ConnectionError,
    ),
    Scenario(
        "connection refused ignored, then gives up with no response",
        [],
        refused=True,
        options={"ignore_exceptions": ["requests.exceptions.ConnectionError"], "max_retries": 2},
        outcome="gave_up",
        raises=RetriesExhausted,
        check=lambda error, server: error.response is None and error.attempts == 2,
    ),
    Scenario(
        "slow answer is a requests timeout",
        [Reply(body={"status": "OK"}, delay=1.0)],
        options={"timeout": 0.2},
        outcome="raises",
        raises=requests.exceptions.Timeout,
    ),
    Scenario(
        "timeout ignored, then met",
        [Reply(body={"status": "OK"}, delay=1.0), OK],
        options={"timeout": (2, 0.2), "ignore_exceptions": [requests.exceptions.Timeout]},
        requests_seen=2,
    ),
    Scenario(
        "dropped connection is a requests ConnectionError, after one resend",
        [Reply(drop=True)],
        outcome="raises",
        raises=requests.exceptions.ConnectionError,
        requests_seen=2,
    ),
    Scenario(
        "a flapping server, its drops ignored, then met",
        # a request the server drops unanswered is resent once, on a new connection
        [
            RUNNING,
            Reply(drop=True),
            Reply(drop=True),
            RUNNING,
            Reply(drop=True),
            Reply(drop=True),
            OK,
        ],
        options={"ignore_exceptions": [requests.exceptions.ConnectionError]},
        requests_seen=7,
        sleeps=[1, 1, 1, 1],
    ),
    Scenario("callback by function", [RUNNING, OK], until={"callback": job_done}),
    Scenario(
        "callback by dotted path",
        [RUNNING, OK],
        until={"callback": f"{__name__}.job_done"},
        requests_seen=2,
    ),
    Scenario(
        "POST with a JSON body and params",
        [OK],
        request={"method": "POST", "json": {"q": "spark"}, "params": {"page": "2"}},
        check=lambda result, server: (
            server.received[0].method == "POST"
            and server.received[0].path == "/jobs/1?page=2"
            and sent_body(server) == b'{"q": "spark"}'
        ),
    ),
    Scenario(
        "form data",
        [OK],
        request={"method": "POST", "data": {"a": "1", "b": "x y"}},
        check=lambda result, server: sent_body(server) == b"a=1&b=x+y",
    ),
    Scenario(
        "Basic auth and headers",
        [OK],
        options={"auth": ("ann", "pw"), "headers": {"X-Api-Key": "k"}},
        check=lambda result, server: (
            server.received[0].headers["Authorization"]
            == "Basic " + base64.b64encode(b"ann:pw").decode()
            and server.received[0].headers["X-Api-Key"] == "k"
        ),
    ),
    Scenario(
        "bearer auth",
        [OK],
        options={"auth": BearerAuth("tok")},
        check=lambda result, server: server.received[0].headers["Authorization"] == "Bearer tok",
    ),
    Scenario(
        "text decoded with the charset the server names",
        [
            Reply(
                body="d\xe9j\xe0".encode("latin-1"),
                headers={"Content-Type": "text/plain; charset=latin-1"},
            )
        ],
        until={"text": "d\xe9j\xe0"},
        alarms=None,
    ),
    Scenario(
        "a body over max_body_bytes is an error, not a memory hog",
        [Reply(body="x" * 5000)],
        options={"max_body_bytes": 1000},
        outcome="raises",
        raises=ResponseTooLarge,
        check=lambda error, server: error.limit == 1000,
    ),
    Scenario(
        "a body over max_body_bytes can be ignored like a failed request",
        [Reply(body="x" * 5000), OK],
        options={"max_body_bytes": 1000, "ignore_exceptions": [ResponseTooLarge]},
        requests_seen=2,
    ),
    Scenario(
        "a redirect loop is requests' TooManyRedirects",
        [Reply(302, "", {"Location": "/jobs/1"})],
        outcome="raises",
        raises=requests.exceptions.TooManyRedirects,
    ),
    Scenario(
        "a body that is not valid UTF-8 is judged, not a crash",
        [Reply(body=b'{"status": "\xe9t\xe9"}', headers={"Content-Type": "application/json"})],
        until={"json": {"status": "OK"}},
        alarms=None,
        options={"max_retries": 1},
        outcome="gave_up",
        raises=RetriesExhausted,
    ),
    Scenario(
        "credentials a server echoes are *** in the alarm message",
        [Reply(body={"status": "ERROR", "saw": "Bearer tok-12345", "key": "key-67890"})],
        alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
        options={"auth": BearerAuth("tok-12345"), "headers": {"X-Api-Key": "key-67890"}},
        outcome="alarm",
        alarm=0,
        check=lambda error, server: (
            server.received[0].headers["X-Api-Key"] == "key-67890"
            and "tok-12345" not in str(error)
            and "key-67890" not in str(error)
            and '"saw": "Bearer ***", "key": "***"' in str(error)
        ),
    ),
    Scenario(
        "a credential header written as a str subclass is *** in the alarm message",
        [Reply(body={"status": "ERROR", "key": "key-67890"})],
        alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
        options=NAMED_CREDENTIALS,
        outcome="alarm",
        alarm=0,
        check=lambda error, server: (
            server.received[0].headers["X-Api-Key"] == "key-67890"
            and "key-67890" not in str(error)
            and '"key": "***"' in str(error)
        ),
    ),
    Scenario(
        "a query parameter and Basic auth written as str subclasses send their text, "
        "which is *** in the alarm message",
        [Reply(body={"status": "ERROR", "echo": "pw-12345 qk-13579"})],
        alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
        request={
            "params": {_Lying("api_key"): [_Lying("qk-13579")], "page": _Lying("2")},
            "auth": (_Lying("ann"), _Lying("pw-12345")),
        },
        outcome="alarm",
        alarm=0,
        check=lambda error, server: (
            server.received[0].headers["Authorization"] == basic("ann", "pw-12345", "latin-1")
            and server.received[0].path == "/jobs/1?api_key=qk-13579&page=2"
            and "pw-12345" not in str(error)
            and "qk-13579" not in str(error)
            and '"echo": "*** ***"' in str(error)
        ),
    ),
    Scenario(
        "a cookie the caller gives is *** when the server echoes it",
        [Reply(body={"status": "ERROR", "saw": "sessionid=cookie-secret-4242"})],
        alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
        request={"cookies": {"sessionid": "cookie-secret-4242"}},
        outcome="alarm",
        alarm=0,
        check=lambda error, server: (
            server.received[0].headers["Cookie"] == "sessionid=cookie-secret-4242"
            and "cookie-secret-4242" not in str(error)
            and '"saw": "sessionid=***"' in str(error)
        ),
    ),
    Scenario(
        "a server that sets ever more cookies: the first 50 are kept and sent back, none over "
        "4096 characters (name, value, domain 127.0.0.1 and path /jobs counted)",
        [
            RawReply(
                body=b'{"status": "RUNNING"}',
                headers=[
                    ("Set-Cookie", "a-fit=" + "y" * 4077),
                    ("Set-Cookie", "a-big=" + "x" * 4078),
                ]
                + [("Set-Cookie", f"c{n:02}=v{n}") for n in range(60)],
            ),
            RAW_OK,
        ],
        check=lambda result, server: (
            server.received[1].headers["Cookie"]
            == "; ".join(["a-fit=" + "y" * 4077] + [f"c{n:02}=v{n}" for n in range(49)])
        ),
    ),
    Scenario(
        "a method that is no HTTP token is refused when built, before any request",
        [OK],
        request={"method": "G ET"},
        outcome="raises",
        raises=ConditionError,
        requests_seen=0,
    ),
    Scenario(
        "secrets given by the caller are *** in the give-up message",
        [Reply(body={"status": "RUNNING", "query": "sig=qs-secret-1"})],
        options={"max_retries": 1, "secrets": ["qs-secret-1"]},
        outcome="gave_up",
        raises=RetriesExhausted,
        check=lambda error, server: "qs-secret-1" not in str(error) and "sig=***" in str(error),
    ),
    Scenario(
        "deadline",
        [RUNNING],
        options={"max_retries": None, "polling_interval": 10, "max_wait": 25},
        outcome="gave_up",
        raises=DeadlinePassed,
        requests_seen=4,
        sleeps=[10, 10, 5],
    ),
    # --- issue 12, "Why": each bullet, the same outcome on both runners -----------------------
    Scenario(
        "a read timeout inside the body is a ReadTimeout",
        [RawReply(body=b'{"status": "OK"}', stall=1.0)],
        options={"timeout": 0.2},
        outcome="raises",
        raises=requests.exceptions.ReadTimeout,
        check=lambda error, server: not isinstance(error, requests.exceptions.ConnectionError),
    ),
    Scenario(
        "a read timeout inside the body is ignored as a Timeout",
        [RawReply(body=b'{"status": "OK"}', stall=1.0), RAW_OK],
        options={"timeout": 0.2, "ignore_exceptions": ["requests.exceptions.Timeout"]},
        requests_seen=2,
    ),
    Scenario(  # a read timeout of a second or more is kept by the async runner's wheel
        "a read timeout of a second inside the body is a ReadTimeout, at most a slot late",
        [RawReply(body=b'{"status": "OK"}', stall=1.8)],
        options={"timeout": 1.0},
        outcome="raises",
        raises=requests.exceptions.ReadTimeout,
        check=lambda error, server: not isinstance(error, requests.exceptions.ConnectionError),
        within=1.6,
    ),
    # aiohttp drops its read timeout after an interim head, as after a 204
    interim_then_silence(
        "an interim head and then silence is a ReadTimeout, not the request deadline",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        timeout=0.2,
        stall=2.0,
        within=0.55,  # the request deadline: 0.6 s
    ),
    # read again past the close, by a parser of its own: the timeout goes on too
    interim_then_silence(
        "an interim head that implies a close, another, and then silence is a ReadTimeout",
        b"HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
        timeout=0.2,
        stall=2.0,
        within=0.55,
    ),
    interim_then_silence(
        "interim heads and then silence: a read timeout of a second, on the wheel",
        b"HTTP/1.1 102 Processing\r\n\r\n" * 2,
        timeout=1.0,
        stall=3.5,
        within=1.6,
    ),
    Scenario(
        "bytes that keep coming within a read timeout of a second outlast it",
        [RawReply(body=b'{"status":"OK"}', trickle=0.1)],  # 1.5 s in all, 0.1 s apart
        options={"timeout": 1.0},
    ),
    Scenario(
        "a 15-hop redirect chain is followed",
        [Reply(302, "", {"Location": f"/jobs/1?hop={i}"}) for i in range(15)] + [OK],
        requests_seen=16,
    ),
    Scenario(
        "30 redirects are followed",
        [Reply(302, "", {"Location": "/jobs/1"})] * 30 + [OK],
        requests_seen=31,
    ),
    Scenario(
        "the 31st redirect is TooManyRedirects",
        [Reply(302, "", {"Location": "/jobs/1"})] * 31 + [OK],
        outcome="raises",
        raises=requests.exceptions.TooManyRedirects,
        requests_seen=31,
    ),
    Scenario(
        "a 303 after a POST is a GET without the body",
        [Reply(303, "", {"Location": "/jobs/2"}), OK],
        request={"method": "POST", "json": {"q": 1}},
        check=lambda result, server: (
            server.received[1].method == "GET"
            and server.received[1].body == b""
            and "content-type" not in {k.lower() for k in server.received[1].headers}
        ),
    ),
    Scenario(
        "a 307 after a POST keeps the method and body",
        [Reply(307, "", {"Location": "/jobs/2"}), OK],
        request={"method": "POST", "json": {"q": 1}},
        check=lambda result, server: (
            server.received[1].method == "POST" and server.received[1].body == b'{"q": 1}'
        ),
    ),
    *(
        Scenario(
            f"a {status} to another origin, for a body holding {what}, is not followed",
            [Reply(status, "", {"Location": "{other}/collect"})],
            request={"method": "POST", **body},
            options=options,
            outcome="raises",
            raises=RedirectRefused,
            requests_seen=1,
            check=lambda error, server: (
                not server.other.received
                and isinstance(error, requests.exceptions.InvalidURL)
                and "holds a credential" in str(error)
            ),
        )
        for status in (307, 308)
        for what, body, options in (
            ("a secret-looking JSON field", {"json": {"client_secret": "cs-424242"}}, {}),
            ("a form password", {"data": {"user": "u", "password": "pw-424242"}}, {}),
            ("a form's secret as text", {"data": "grant=x&api_key=ak-424242"}, {}),
            (
                "the request's API key under a plain name",
                {"json": {"note": "key-67890"}},
                {"headers": {"X-Api-Key": "key-67890"}},
            ),
            ("the auth's password, base64", {"data": "blob=YW5uOnB3LTEyMzQ1"}, CREDENTIALS),
            # named as secrets, too short to be redacted (a PIN, a one-time code)
            ("a short JSON password", {"json": {"password": "1234"}}, {}),
            ("a short form client_secret", {"data": {"client_secret": "abc"}}, {}),
            ("a short one-time code as text", {"data": "user=u&otp=9"}, {}),
            ("a short pin in a nested JSON field", {"json": {"user": {"pin": 42}}}, {}),
        )
    ),
    Scenario(
        "a 307 to another origin for a body without a credential is followed, body and all",
        [Reply(307, "", {"Location": "{other}/collect"})],
        request={"method": "POST", "json": {"q": 1}},
        options=CREDENTIALS,
        requests_seen=1,
        check=lambda result, server: (
            server.other.received[0].method == "POST"
            and server.other.received[0].body == b'{"q": 1}'
            and carries_none(server.other.received[0])
        ),
    ),
    *(
        Scenario(
            f"a 307 to another origin for a body of {what} is followed",
            [Reply(307, "", {"Location": "{other}/collect"})],
            request={"method": "POST", **body},
            requests_seen=1,
            check=lambda result, server, sent=sent: server.other.received[0].body == sent,
        )
        for what, body, sent in (
            (
                "an empty password field",
                {"json": {"code": "1234", "password": ""}},
                b'{"code": "1234", "password": ""}',
            ),
            (
                "short values under names that only hold a secret word's letters",
                {"json": {"author": "bob", "keyboard": "us", "session_count": 3, "max_tokens": 9}},
                b'{"author": "bob", "keyboard": "us", "session_count": 3, "max_tokens": 9}',
            ),
            ("a short form field named author", {"data": "author=bob"}, b"author=bob"),
        )
    ),
    Scenario(
        "a 308 within the origin keeps a body holding a credential",
        [Reply(308, "", {"Location": "/jobs/2"}), OK],
        request={"method": "POST", "json": {"client_secret": "cs-424242"}},
        check=lambda result, server: server.received[1].body == b'{"client_secret": "cs-424242"}',
    ),
    Scenario(
        "a 303 to another origin after a POST holding a credential drops the body and goes",
        [Reply(303, "", {"Location": "{other}/collect"})],
        request={"method": "POST", "json": {"client_secret": "cs-424242"}},
        check=lambda result, server: (
            server.other.received[0].method == "GET" and server.other.received[0].body == b""
        ),
    ),
    *(
        Scenario(
            f"a text body with {what} is sent as UTF-8, as its Content-Length counts it",
            [OK],
            request={"method": "POST", "data": text},
            within=5,
            check=lambda result, server, text=text: (
                server.received[0].body == text.encode("utf-8")
                and server.received[0].headers["Content-Length"] == str(len(text.encode()))
            ),
        )
        for what, text in (("latin-1 letters", "note=Päss"), ("Cyrillic", "note=пароль"))
    ),
    Scenario(
        "a header value given as bytes is sent as those bytes",
        [OK],
        request={"method": "GET", "headers": {"X-Token": b"tok-123"}},
        check=lambda result, server: server.received[0].headers.get("X-Token") == "tok-123",
    ),
    Scenario(
        "the met response's cookies are its own Set-Cookie's",
        [Reply(body={"status": "OK"}, headers={"Set-Cookie": "sid=met-1; Path=/"})],
        check=lambda result, server: dict(result.cookies) == {"sid": "met-1"},
    ),
    Scenario(
        "a cookie set by an IP host is sent back",
        [SET_COOKIE, OK],
        requests_seen=2,
        check=lambda result, server: (
            "Cookie" not in server.received[0].headers
            and server.received[1].headers.get("Cookie") == "sid=cookie-1"
        ),
    ),
    Scenario(
        "a same-origin redirect keeps credentials and cookies",
        [SET_COOKIE, Reply(302, "", {"Location": "/jobs/2"}), OK],
        options=CREDENTIALS,
        requests_seen=3,
        check=lambda result, server: (
            server.received[2].path == "/jobs/2" and carries_credentials(server.received[2])
        ),
    ),
    Scenario(
        "a cross-origin redirect drops credentials and cookies",
        [SET_COOKIE, Reply(302, "", {"Location": "{other}/elsewhere"})],
        options={**CREDENTIALS, "secret_headers": ["X-Tenant"]},
        request={"method": "GET", "headers": {"X-Tenant": "tenant-secret", "X-Plain": "p"}},
        requests_seen=2,
        check=lambda result, server: (
            credentials_stayed_home(server)
            and server.other.received[0].headers.get("X-Plain") == "p"
        ),
    ),
    Scenario(
        "a cross-origin redirect drops a credential header written as a str subclass",
        [SET_COOKIE, Reply(302, "", {"Location": "{other}/elsewhere"})],
        options={**NAMED_CREDENTIALS, "secret_headers": [_Named.TENANT]},
        request={"method": "GET", "headers": {"X-Tenant": "tenant-secret"}},
        requests_seen=2,
        check=lambda result, server: credentials_stayed_home(server),
    ),
    Scenario(
        "a header line over 8190 bytes is accepted",
        [Reply(body={"status": "OK"}, headers={"X-Long": "v" * 9000})],
    ),
    Scenario(
        "a header past the limit is HeaderTooLarge, claiming no status",
        [Reply(body={"status": "OK"}, headers={"X-Long": "v" * 20000})],
        outcome="raises",
        raises=HeaderTooLarge,
        check=lambda error, server: (
            "400" not in str(error) and isinstance(error, requests.exceptions.ConnectionError)
        ),
    ),
    Scenario(
        "a header line over 65536 bytes is HeaderTooLarge too",
        [RawReply(body=b"{}", headers=[("X-Long", "v" * 70000)])],
        outcome="raises",
        raises=HeaderTooLarge,
    ),
    Scenario(
        "more than 100 headers is HeaderTooLarge",
        [RawReply(body=b"{}", headers=[(f"X-{i}", "1") for i in range(120)])],
        outcome="raises",
        raises=HeaderTooLarge,
    ),
    Scenario(  # Content-Length is the 100th line (http.client counts the blank line too)
        "a 100th header line is HeaderTooLarge in both runners",
        [RawReply(body=b"{}", headers=[(f"X-{i}", "1") for i in range(99)])],
        outcome="raises",
        raises=HeaderTooLarge,
    ),
    Scenario(
        "99 header lines are read",
        [RawReply(body=b'{"status": "OK"}', headers=[(f"X-{i}", "1") for i in range(98)])],
    ),
    Scenario(
        "Retry-After with a non-ASCII digit is absent",
        [RawReply(503, b"busy", [("Retry-After", "\u00b2")]), RAW_OK],
        until={"status_code": 200},
        alarms=None,
        options={"ignore_exceptions": [ValueError]},
        requests_seen=2,
        sleeps=[1],
    ),
    Scenario(
        "Retry-After in Arabic-Indic digits is absent",
        [RawReply(503, b"busy", [("Retry-After", "\u0663")]), RAW_OK],
        until={"status_code": 200},
        alarms=None,
        requests_seen=2,
        sleeps=[1],
    ),
    Scenario(
        "Retry-After as an HTTP date",
        [
            RawReply(
                503,
                b"busy",
                [
                    ("Retry-After", "Thu, 01 Jan 2037 00:00:09 GMT"),
                    ("Date", "Thu, 01 Jan 2037 00:00:00 GMT"),
                ],
            ),
            RAW_OK,
        ],
        until={"status_code": 200},
        alarms=None,
        requests_seen=2,
        sleeps=[9.0],
    ),
    Scenario(
        "NaN in a matched body: the XCom value is refused, naming the path",
        [RawReply(body=b'{"status": "OK", "score": [1, NaN]}')],
        check=lambda result, server: (
            "NaN" in payload_error(result) and "$.score[1]" in payload_error(result)
        ),
    ),
    Scenario(
        "Content-Encoding gzip, gzip is decoded",
        [
            RawReply(
                body=gzip.compress(gzip.compress(b'{"status": "OK"}')),
                headers=[("Content-Encoding", "gzip, gzip")],
            )
        ],
        check=lambda result, server: result.json() == {"status": "OK"},
    ),
    Scenario(
        "a chunked deflate body is decoded",
        [
            RawReply(
                body=__import__("zlib").compress(b'{"status": "OK"}'),
                chunks=3,
                headers=[("Content-Encoding", "deflate")],
            )
        ],
    ),
    Scenario(
        "a corrupt gzip body is ContentDecodingError",
        [RawReply(body=b"not gzip", headers=[("Content-Encoding", "gzip")])],
        outcome="raises",
        raises=requests.exceptions.ContentDecodingError,
    ),
    Scenario(
        "a non-latin-1 password is sent as UTF-8",
        [OK],
        options={"auth": ("ann", "\u043f\u0430\u0440\u043e\u043b\u044c")},
        check=lambda result, server: (
            server.received[0].headers["Authorization"]
            == basic("ann", "\u043f\u0430\u0440\u043e\u043b\u044c", "utf-8")
        ),
    ),
    Scenario(
        "a latin-1 password is sent as latin-1",
        [OK],
        options={"auth": ("ann", "p\u00e4ss")},
        check=lambda result, server: (
            server.received[0].headers["Authorization"] == basic("ann", "p\u00e4ss", "latin-1")
        ),
    ),
    Scenario(
        "a server closing after each response loses no poll",
        [RawReply(body=b'{"status": "RUNNING"}', close=True)],
        options={"polling_interval": 0, "max_retries": 10},
        outcome="gave_up",
        raises=RetriesExhausted,
        requests_seen=10,
        check=lambda error, server: error.response is not None and error.attempts == 10,
    ),
    Scenario(
        "a body dropped mid-transfer is a ConnectionError and a ChunkedEncodingError",
        [RawReply(body=b'{"status": "OK", "pad": "xxxxxxxx"}', cut=10)],
        outcome="raises",
        raises=BodyDropped,
        check=lambda error, server: (
            isinstance(error, requests.exceptions.ConnectionError)
            and isinstance(error, requests.exceptions.ChunkedEncodingError)
        ),
    ),
    Scenario(
        "a dropped chunked body, ignored as a ConnectionError, then met",
        [RawReply(body=b'{"status": "OK", "pad": "xxxxxxxx"}', chunks=4, cut=12), RAW_OK],
        options={"ignore_exceptions": [requests.exceptions.ConnectionError]},
        requests_seen=2,
    ),
    Scenario(
        "deeply nested JSON is a ValueError, not a RecursionError",
        [RawReply(body=nested(100_000))],
        outcome="raises",
        raises=JSONTooDeep,
        check=lambda error, server: isinstance(error, ValueError),
    ),
    Scenario(
        "JSON nested past the limit is ignored as a ValueError",
        [RawReply(body=nested(150)), RAW_OK],
        options={"ignore_exceptions": [ValueError]},
        requests_seen=2,
    ),
    Scenario(
        "an explosive JSONPath is refused at once, as a ValueError",
        [RawReply(body=nested_a(60))],
        until={"jsonpath": [{"expression": "$..a..a..a..a", "value": 1}]},
        alarms=None,
        outcome="raises",
        raises=JSONPathTooCostly,
        within=1.0,
    ),
    Scenario(
        "a trickled body cannot outlast the request deadline",
        [RawReply(body=b'{"status": "OK"}' + b" " * 60, trickle=0.1)],
        options={"timeout": 0.3},  # deadline: 0.3 + 2 x 0.3
        outcome="raises",
        raises=RequestDeadlineExceeded,
        check=lambda error, server: isinstance(error, requests.exceptions.ReadTimeout),
        within=2.0,
    ),
    Scenario(
        "trickled headers cannot outlast the request deadline",
        [RawReply(body=b'{"status": "OK"}', headers=[("X-Slow", "s" * 40)], trickle_head=0.1)],
        options={"timeout": 0.3},
        outcome="raises",
        raises=RequestDeadlineExceeded,
        within=2.0,
    ),
    Scenario(
        "an explicit request_deadline cuts a trickled body",
        [RawReply(body=b'{"status": "OK"}' + b" " * 60, trickle=0.1), RAW_OK],
        options={"request_deadline": 0.5, "ignore_exceptions": [requests.exceptions.Timeout]},
        requests_seen=2,
        within=2.0,
    ),
    Scenario(
        "max_wait cuts a request in flight",
        [RawReply(body=b'{"status": "OK"}' + b" " * 60, trickle=0.1)],
        options={"max_wait": 1.2},
        outcome="raises",
        raises=RequestDeadlineExceeded,
        within=2.5,
    ),
    Scenario(
        "timeout=inf is refused when built, naming the key",
        [OK],
        options={"timeout": float("inf")},
        outcome="raises",
        raises=ConditionError,
        requests_seen=0,
        check=lambda error, server: "timeout" in str(error),
    ),
    Scenario(
        "timeout=1e12 is refused when built",
        [OK],
        options={"timeout": 1e12},
        outcome="raises",
        raises=ConditionError,
        requests_seen=0,
    ),
    Scenario(
        "polling_interval=inf is refused when built, naming the key",
        [OK],
        options={"polling_interval": float("inf")},
        outcome="raises",
        raises=ConditionError,
        requests_seen=0,
        check=lambda error, server: "polling_interval" in str(error),
    ),
    Scenario(
        "max_wait=nan and request_deadline=inf are refused",
        [OK],
        options={"max_wait": float("nan")},
        outcome="raises",
        raises=ConditionError,
        requests_seen=0,
    ),
    # --- disagreements the differential test found, fixed ------------------------------------
    Scenario(
        "a response refused for its headers sets no cookie",
        [RawReply(body=b"{}", headers=[("Set-Cookie", "sid=x1"), ("X-Long", "v" * 20000)]), RAW_OK],
        options={"ignore_exceptions": [requests.exceptions.ConnectionError]},
        requests_seen=2,
        check=lambda result, server: "Cookie" not in server.received[1].headers,
    ),
    Scenario(
        "a redirect from a server that then closes silently is followed on a new connection",
        [RawReply(302, b"moved", [("Location", "/jobs/2")], close=True), RAW_OK],
        options={"polling_interval": 0},
        requests_seen=2,
    ),
    Scenario(
        "30 redirects with bodies are followed quickly (no look-ahead read)",
        [RawReply(302, b"x" * 100, [("Location", "/jobs/1")])] * 30 + [RAW_OK],
        requests_seen=31,
        within=3.0,
    ),
    Scenario(
        "a redirect's body counts against max_body_bytes too",
        [Reply(302, "x" * 5000, {"Location": "/jobs/2"}), OK],
        options={"max_body_bytes": 1000},
        outcome="raises",
        raises=ResponseTooLarge,
        requests_seen=1,
    ),
    Scenario(
        "a jsonpath alarm that cannot judge an HTML page does not hide a met until",
        [Reply(200, "<html>done</html>")],
        until={"status_code": 200},
        alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
        requests_seen=1,
    ),
    Scenario(
        "a jsonpath alarm that cannot judge, with until pending: the alarm's error",
        [Reply(202, "<html>wait</html>")],
        until={"status_code": 200},
        alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
        outcome="raises",
        raises=ValueError,
        requests_seen=1,
    ),
]


def run_sync(target, scenario: Scenario, rec: Recorder) -> Any:
    options = {"polling_interval": 1, **scenario.options}
    with HttSleeper(
        target, scenario.until, scenario.alarms, sleep=rec.sleep, clock=rec.clock, **options
    ) as sleeper:
        return sleeper.run()


def run_async(target, scenario: Scenario, rec: Recorder) -> Any:
    async def sleep(seconds: float) -> None:
        rec.sleep(seconds)

    async def main() -> Any:
        options = {"polling_interval": 1, **scenario.options}
        async with AsyncHttSleeper(
            target, scenario.until, scenario.alarms, sleep=sleep, clock=rec.clock, **options
        ) as sleeper:
            return await sleeper.run()

    return asyncio.run(main())


RUNNERS = {"requests": run_sync, "aiohttp": run_async}


def _placed(reply: Any, other_url: str) -> Any:
    """``reply`` with ``{other}`` in its Location replaced by the other server's URL."""
    if isinstance(reply, Reply) and "{other}" in reply.headers.get("Location", ""):
        location = reply.headers["Location"].replace("{other}", other_url)
        return Reply(reply.status, reply.body, {**reply.headers, "Location": location})
    return reply


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(
    scenario: Scenario,
    runner: str,
    server: ScriptedServer,
    raw_server: RawServer,
    other_server: ScriptedServer,
):
    if any(isinstance(reply, RawReply) for reply in scenario.replies):
        server = raw_server  # type: ignore[assignment]
    server.other = other_server  # type: ignore[attr-defined]
    other_url = other_server.url("").rstrip("/")
    server.script(*(_placed(reply, other_url) for reply in scenario.replies))
    other_server.script(OK)
    url = f"http://127.0.0.1:{free_port()}/jobs/1" if scenario.refused else server.url("/jobs/1")
    target: Any = url
    if scenario.request is not None:
        target = requests.Request(url=url, **scenario.request)
    rec = Recorder()
    result: Any
    started = time.monotonic()
    try:
        result = RUNNERS[runner](target, scenario, rec)
    except BaseException as exc:
        result = exc
    if scenario.within is not None:
        assert time.monotonic() - started < scenario.within
    expected = {"met": requests.Response, "alarm": Alarm}.get(scenario.outcome, scenario.raises)
    assert isinstance(result, expected), f"{runner}: got {result!r}"
    if scenario.outcome == "met":
        assert result.status_code in (200, 201)
    if scenario.alarm is not None:
        assert result.alarm is scenario.alarms[scenario.alarm]
        assert isinstance(result.response, requests.Response)
    if scenario.requests_seen is not None:
        assert len(server.received) == scenario.requests_seen
    if scenario.sleeps is not None:
        assert rec.sleeps == scenario.sleeps
    if scenario.check is not None:
        assert scenario.check(result, server)


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_url_written_as_a_str_subclass_is_polled_by_its_text(runner: str, server: ScriptedServer):
    """requests reads a URL with ``str()``; both runners poll the text it holds, and a
    password in it is *** in what they say."""
    server.script(Reply(body={"status": "ERROR", "echo": "pw-24680"}))
    url = server.url("/jobs/1").replace("http://", "http://ann:pw-24680@")
    scenario = Scenario("", [], alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}])
    with pytest.raises(Alarm) as raised:
        RUNNERS[runner](_Lying(url), scenario, Recorder())
    error = raised.value
    assert server.received[0].path == "/jobs/1"
    assert server.received[0].headers["Authorization"] == basic("ann", "pw-24680", "latin-1")
    assert "pw-24680" not in str(error) and '"echo": "***"' in str(error)


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize(
    ("auth", "sent"),
    [
        (("ann", "pw-12345"), {"Authorization": basic("ann", "pw-12345", "latin-1")}),
        (BearerAuth("tok-12345"), {"Authorization": "Bearer tok-12345"}),
        (None, {"Authorization": basic("urluser", "url-pass-1", "latin-1")}),
        # a Proxy-Authorization with no proxy on the way: the origin would read it, not sent
        (requests.auth.HTTPProxyAuth("pxuser", "px-pass-1"), {}),
    ],
    ids=["basic", "bearer", "none", "proxy"],
)
def test_given_auth_wins_over_a_password_in_the_url_alike(
    runner: str, auth: Any, sent: dict[str, str], server: ScriptedServer
):
    """As requests prepares a request: a given auth, not the URL's user-info, is sent (the
    user-info only when no auth is given); ``HTTPProxyAuth`` is a ``Proxy-Authorization``
    header, never an ``Authorization`` one, and goes only to a proxy
    (``test_proxy_parity``)."""
    server.script(OK)
    url = server.url("/jobs/1").replace("http://", "http://urluser:url-pass-1@")
    scenario = Scenario("", [], alarms=None, options={"auth": auth} if auth else {})
    RUNNERS[runner](url, scenario, Recorder())
    received = server.received[0].headers
    assert {name: received.get(name) for name in ("Authorization", "Proxy-Authorization")} == {
        "Authorization": None,
        "Proxy-Authorization": None,
        **sent,
    }


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize(
    "userinfo", [":tok-12345@", ":@", "@", "ann@", "ann:@", "ann:pw-12345@", "%3Atok:x%40y@"]
)
def test_a_url_user_info_of_any_shape_is_sent_as_requests_sends_it(
    runner: str, userinfo: str, server: ScriptedServer
):
    """requests sends a URL's user-info as Basic when its login or password is not empty
    (``http://:key@host``, a key-only login some APIs document, included), and nothing for
    ``:@``; the URL itself goes without it."""
    server.script(OK)
    url = server.url("/jobs/1").replace("http://", f"http://{userinfo}")
    prepared = requests.Request("GET", url).prepare()
    RUNNERS[runner](url, Scenario("", [], alarms=None), Recorder())
    received = server.received[0]
    assert received.headers.get("Authorization") == prepared.headers.get("Authorization")
    assert received.path == "/jobs/1"


def test_an_auth_with_its_own_call_is_refused_by_the_async_runner_when_built():
    class Signed(requests.auth.HTTPBasicAuth):
        def __call__(self, request: Any) -> Any:
            request.headers["X-Signature"] = "signed"
            return request

    with pytest.raises(ConditionError, match="not Signed"):
        AsyncHttSleeper("http://127.0.0.1:1/x", {"status_code": 200}, auth=Signed("a", "b"))


@pytest.mark.parametrize("runner", RUNNERS)
def test_no_error_behind_the_one_raised_shows_a_credential_in_its_repr(
    runner: str, raw_server: RawServer
):
    """aiohttp's errors keep the request they were raised for, and their ``repr()`` shows its
    headers: kept as our error's cause, they forget it."""
    from httsleep_airflow._http import causes

    raw_server.script(
        RawReply(raw=b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n")
    )
    scenario = Scenario(
        "", [], alarms=None, options={"auth": ("ann", "pw-12345"), "max_retries": 1}
    )
    with pytest.raises(requests.RequestException) as raised:
        RUNNERS[runner](raw_server.url("/jobs/1"), scenario, Recorder())
    shown = " ".join(f"{cause!r} {cause}" for cause in causes(raised.value))
    assert "pw-12345" not in shown and basic("ann", "pw-12345", "latin-1")[6:] not in shown


@pytest.mark.parametrize(
    "options",
    [{"headers": {"X-Api-Key": "key-67890"}}, {"auth": "basic"}],
    ids=["headers", "auth"],
)
def test_a_session_with_credentials_of_its_own_is_refused_by_the_async_runner(options):
    """aiohttp sends a session's default headers and auth to every origin: the async runner
    takes none (headers= and auth= go only to their origin, and are redacted)."""
    import aiohttp

    async def main() -> None:
        made = dict(options)
        if made.get("auth") == "basic":
            made["auth"] = aiohttp.BasicAuth("ann", "pw-12345")
        async with aiohttp.ClientSession(**made) as session:
            with pytest.raises(ConditionError, match="no default headers or auth"):
                AsyncHttSleeper("http://127.0.0.1:1/x", {"status_code": 200}, session=session)

    asyncio.run(main())


@pytest.mark.parametrize("runner", ["sync", "async"])
@pytest.mark.parametrize("body", [{"a": float("nan")}, {"a": {1, 2}}, [b"x"]])
def test_a_json_body_that_cannot_be_sent_is_refused_when_built_alike(runner, body, server):
    """requests refused it when preparing the body: the requests runner at its first poll, the
    aiohttp runner when built, each with its own error. Both refuse it when built now."""
    request = requests.Request("POST", server.url("/jobs/1"), json=body)
    with pytest.raises(ConditionError, match=r"^json_body cannot be sent as JSON: "):
        run_in(runner, request, {"status_code": 200})
    assert not server.received


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_one_secret_header_name_given_alone_is_one_name_in_both_runners(runner, server):
    server.script(Reply(body={"status": "ERROR", "echo": "tenant-secret-9"}))
    with pytest.raises(Alarm) as raised:
        run_in(
            runner,
            requests.Request("GET", server.url("/jobs/1"), headers={"X-Tenant": "tenant-secret-9"}),
            UNTIL,
            alarms={"jsonpath": [{"expression": "status", "value": "ERROR"}]},
            secret_headers="X-Tenant",
            max_retries=1,
        )
    assert "tenant-secret-9" not in str(raised.value) and '"echo": "***"' in str(raised.value)


def test_a_multipart_part_holding_a_credential_does_not_follow_a_307_elsewhere(
    server: ScriptedServer, other_server: ScriptedServer
):
    """The requests runner alone sends ``files``: a part named as a secret is one, in what is
    redacted and in what a redirect may carry to another origin."""
    server.script(Reply(307, "", {"Location": other_server.url("/collect")}))
    request = requests.Request(
        "POST", server.url("/token"), files={"password": (None, "hunter2Secret99")}
    )
    with pytest.raises(RedirectRefused):
        run_in("sync", request, {"status_code": 200})
    assert not other_server.received
