"""One table of scenarios, run against both runners (requests and aiohttp) on a real server.

Each scenario scripts the server, polls it, and states what must happen: the same responses,
the same sleeps, the same requests on the wire, the same exceptions, whichever runner polls.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from httsleep_airflow import Alarm, HttSleeper
from httsleep_airflow._async import AsyncHttSleeper
from httsleep_airflow._sync import BearerAuth
from httsleep_airflow.exceptions import DeadlinePassed, ResponseTooLarge, RetriesExhausted
from tests.helpers import Recorder
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
    check: Any = None  # extra assertion on (result, server)


def sent_body(server: ScriptedServer) -> bytes:
    return server.received[0].body


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
        "dropped connection is a requests ConnectionError",
        [Reply(drop=True)],
        outcome="raises",
        raises=requests.exceptions.ConnectionError,
    ),
    Scenario(
        "a flapping server, its drops ignored, then met",
        [RUNNING, Reply(drop=True), RUNNING, Reply(drop=True), OK],
        options={"ignore_exceptions": [requests.exceptions.ConnectionError]},
        requests_seen=5,
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


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario, runner: str, server: ScriptedServer):
    server.script(*scenario.replies)
    url = f"http://127.0.0.1:{free_port()}/jobs/1" if scenario.refused else server.url("/jobs/1")
    target: Any = url
    if scenario.request is not None:
        target = requests.Request(url=url, **scenario.request)
    rec = Recorder()
    result: Any
    try:
        result = RUNNERS[runner](target, scenario, rec)
    except BaseException as exc:
        result = exc
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
