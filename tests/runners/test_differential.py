"""Differential testing: generated server behaviours, served from a real 127.0.0.1 server, polled
by both runners with the same configuration; both must end the same way.

Compared: the outcome's class (a response, ``Alarm``, a give-up, or the exception raised),
the requests the server received (method, path, cookie), the waits asked for, the attempts
counted, and the XCom value of a matched response. Each disagreement found becomes a fixed row of
``test_scenarios.py``.

The CI profile runs a few hundred examples in seconds; ``make fuzz`` runs the long one
(``PARITY_PROFILE=parity-fuzz``).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import zlib
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httsleep_airflow import Alarm, HttSleeper, _core
from httsleep_airflow._async import AsyncHttSleeper
from httsleep_airflow._payload import response_payload
from httsleep_airflow.exceptions import DeadlinePassed, GaveUp, RetriesExhausted
from tests.helpers import Recorder
from tests.raw_server import RawReply, RawServer

settings.register_profile(  # the same 300 examples on every CI run; make fuzz explores
    "parity-ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "parity-fuzz",
    max_examples=int(os.environ.get("PARITY_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = settings.get_profile(os.environ.get("PARITY_PROFILE", "parity-ci"))

STATUS = st.sampled_from(
    [200, 200, 200, 201, 202, 204, 301, 302, 303, 304, 307, 308, 404, 429, 500, 503]
)
#: What may come before a response's status line: blank lines (aiohttp's parser skips them,
#: http.client refused them), interim heads (a 100 too, whose headers http.client skipped
#: unread; one with a Transfer-Encoding, which no interim body has; an envelope line).
BEFORE_HEAD = st.sampled_from(
    [b""] * 12
    + [
        b"\r\n",
        b"\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\nX Y: 1\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
        b"HTTP/1.0 102 Processing\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\nFrom nobody\r\n\r\n",
    ]
)
RETRY_AFTER = st.sampled_from(
    [
        "1",
        "5",
        "0",
        " 7 ",
        "\u00b2",
        "\u0663",
        "-1",
        "1.5",
        "99999",
        "abc",
        "",
        "Thu, 01 Jan 2037 00:00:09 GMT",
        "Mon, 01 Jan 1990 00:00:00 GMT",
    ]
)
#: Header lines (as ``name: value``) with a CR not followed by LF, or a space or tab before a
#: name: aiohttp's parser takes a CR right after the colon for the line's end, and reads past a
#: space before the first header.
ODD_LINES = st.sampled_from(
    [
        (b"X", b"\rY: 1"),
        (b"X", b"\r"),
        (b"X", b"a\rb"),
        (b" X", b"1"),
        (b"\tX", b"1"),
        (b"X\r", b"1"),
    ]
)
CODING = st.sampled_from(["gzip", "gzip, gzip", "deflate", "identity", "br", "x-gzip", "gzip, br"])
CONTENT_TYPE = st.sampled_from(
    ["application/json", "text/plain; charset=latin-1", "text/html; charset=utf-8"]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["OK", "RUNNING", "é"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "status", "x"]), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def bodies(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["status", "status", "json", "html", "nan", "bytes", "deep"]))
    if kind == "status":
        document = {"status": draw(st.sampled_from(["OK", "RUNNING", "ERROR"]))}
        if draw(st.booleans()):
            document["extra"] = draw(JSON_VALUES)
        return json.dumps(document).encode()
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "html":
        return draw(st.sampled_from([b"<html>busy</html>", b"done", b"", b"d\xe9j\xe0"]))
    if kind == "nan":
        return draw(
            st.sampled_from([b'{"status": "OK", "v": NaN}', b'{"status": "OK", "v": [-Infinity]}'])
        )
    if kind == "deep":
        depth = draw(st.sampled_from([50, 99, 101, 3000]))
        return b'{"status": "OK", "d": ' + b"[" * depth + b"]" * depth + b"}"
    return draw(st.binary(max_size=40))


def encode(body: bytes, coding: str) -> bytes:
    for part in [p.strip() for p in coding.split(",")]:
        if part in ("gzip", "x-gzip"):
            body = gzip.compress(body)
        elif part == "deflate":
            body = zlib.compress(body)
    return body


@st.composite
def replies(draw: Any) -> RawReply:
    status = draw(STATUS)
    headers: list[tuple[str | bytes, str | bytes]] = []
    body = draw(bodies())
    if status in (301, 302, 303, 307, 308) and draw(st.integers(0, 9)):
        headers.append(("Location", draw(st.sampled_from(["/jobs/1", "/jobs/2?x=1", "/r/é"]))))
    if status in (429, 503) and draw(st.booleans()):
        headers.append(("Retry-After", draw(RETRY_AFTER)))
    if draw(st.booleans()):
        headers.append(("Content-Type", draw(CONTENT_TYPE)))
    if draw(st.integers(0, 3)) == 0:
        headers.append(
            ("Set-Cookie", draw(st.sampled_from(["sid=1; Path=/", "a=b", "t=2; Max-Age=0"])))
        )
    if draw(st.integers(0, 3)) == 0:
        coding = draw(CODING)
        headers.append(("Content-Encoding", coding))
        if draw(st.integers(0, 5)):
            body = encode(body, coding)
    if draw(st.integers(0, 5)) == 0:
        headers.append(("X-Long", "v" * draw(st.sampled_from([100, 9000, 16385]))))
    if draw(st.integers(0, 7)) == 0:  # a line aiohttp's parser reads and requests' refuses
        headers.insert(draw(st.integers(0, len(headers))), draw(ODD_LINES))
    if status in (204, 304):  # no body, whatever the head says (bytes sent as one would be
        coded = [h for h in headers if h[0] != "Content-Encoding"]  # read as the next answer)
        return RawReply(status=status, headers=coded, interim=draw(BEFORE_HEAD))
    # (read timeouts are scenario rows: a generated stall would race a busy machine's clock)
    trouble = draw(st.sampled_from(["none"] * 16 + ["cut", "close", "drop", "no-length"] * 2))
    cut = trouble == "cut" and bool(body)
    return RawReply(
        status=status,
        body=body,
        headers=headers,
        chunks=draw(st.sampled_from([0, 0, 0, 1, 5])),
        cut=draw(st.integers(0, max(0, len(body) - 1))) if cut else None,
        close=trouble == "close",
        drop=trouble == "drop",
        # a close with a reset instead: where a body is cut, or no answer comes at all
        reset=(cut or trouble == "drop") and draw(st.booleans()),
        content_length=trouble != "no-length",
        interim=draw(BEFORE_HEAD),
    )


UNTILS = [
    {"jsonpath": [{"expression": "status", "value": "OK"}]},
    {"status_code": 200},
    {"json": {"status": "OK"}},
    [{"status_code": 201}, {"jsonpath": [{"expression": "status", "value": "OK"}]}],
    {"text": "done"},
]
ALARMS = [
    None,
    [{"json": {"status": "ERROR"}}],
    [{"jsonpath": [{"expression": "status", "value": "ERROR"}]}, {"status_code": 404}],
]
IGNORES = [
    [],
    [ValueError],
    ["requests.exceptions.ConnectionError"],
    ["requests.exceptions.RequestException", ValueError],
]


@st.composite
def configs(draw: Any) -> dict[str, Any]:
    return {
        "until": draw(st.sampled_from(UNTILS)),
        "alarms": draw(st.sampled_from(ALARMS)),
        "ignore_exceptions": draw(st.sampled_from(IGNORES)),
        "max_retries": draw(st.integers(1, 4)),
        "polling_interval": draw(st.sampled_from([0, 1, 2.5])),
        "max_wait": draw(st.sampled_from([None, None, 4])),
        "timeout": (5, 5),  # no timeout here decides by the runner: a busy machine is slow
        "request_deadline": 60.0,
    }


def outcome(result: Any) -> Any:
    """What must be the same whichever runner produced ``result``."""
    if isinstance(result, requests.Response):
        try:
            payload: Any = ("xcom", response_payload(result))
        except ValueError as exc:
            payload = ("xcom refused", type(exc).__name__)
        return ("met", result.status_code, result.content, payload)
    if isinstance(result, Alarm):
        return ("alarm", result.response.status_code, json.dumps(result.alarm))
    if isinstance(result, GaveUp):
        kind = RetriesExhausted if isinstance(result, RetriesExhausted) else DeadlinePassed
        status = None if result.response is None else result.response.status_code
        return ("gave up", kind.__name__, result.attempts, status)
    # the same message too: poke mode's task log and a deferred one's say the same
    return ("raised", type(result).__name__, re.sub(r"127\.0\.0\.1:\d+", "HOST", str(result)))


def run(runner: str, server: RawServer, script: list[RawReply], config: dict) -> tuple:
    server.script(*script)
    rec = Recorder()
    config = dict(config)
    until, alarms = config.pop("until"), config.pop("alarms")
    url = server.url("/jobs/1")
    try:
        if runner == "requests":
            with HttSleeper(url, until, alarms, sleep=rec.sleep, clock=rec.clock, **config) as s:
                result: Any = s.run()
        else:

            async def sleep(seconds: float) -> None:
                rec.sleep(seconds)

            async def main() -> Any:
                async with AsyncHttSleeper(
                    url, until, alarms, sleep=sleep, clock=rec.clock, **config
                ) as sleeper:
                    return await sleeper.run()

            result = asyncio.run(main())
    except Exception as exc:
        result = exc
    seen = [(r.method, r.path, r.headers.get("Cookie")) for r in server.received]
    return outcome(result), seen, rec.sleeps


def one_kind_of_close(script: list[RawReply]) -> list[RawReply]:
    """A script closes connections silently or drops requests, not both.

    Whether a client notices a silent close before it sends on that connection is a race in
    any client (urllib3 checks the socket first, aiohttp learns it from its loop; here the
    server even needs the GIL back to close). The loser's request dies unseen and is resent
    once, so no poll is lost; but when the server then drops requests too, whether that one
    resend was spent on the unseen request or on a dropped one decides how many requests the
    server saw: the race's doing, not the runner's.
    """
    if any(reply.close for reply in script):
        for reply in script:
            reply.drop = False
    return script


@pytest.fixture
def no_real_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deadlines measured in real seconds (the request's own, the last look at ``max_wait``)
    decide by machine speed, not by runner: out of the comparison (scenario rows test them)."""
    monkeypatch.setattr(_core, "LAST_LOOK_SECONDS", 60.0)


@settings(PROFILE)
@given(script=st.lists(replies(), min_size=1, max_size=4).map(one_kind_of_close), config=configs())
def test_both_runners_agree(
    script: list[RawReply], config: dict, _raw_server: RawServer, no_real_deadlines: None
):
    by_requests = run("requests", _raw_server, script, config)
    by_aiohttp = run("aiohttp", _raw_server, script, config)
    assert by_requests == by_aiohttp
