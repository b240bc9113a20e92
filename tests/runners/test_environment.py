"""Both runners read the proxy environment as requests does, at each sleeper's first poll; the
async runner keeps what it read per host and environment, so a change is seen by the next one
(a variable of any case, its value changed in place included)."""

from __future__ import annotations

import asyncio

import pytest

from httsleep_airflow import HttSleeper
from httsleep_airflow._async import AsyncHttSleeper
from tests.scripted_server import Reply, ScriptedServer

UNTIL = {"status_code": 200}
JOB = "http://job-api.invalid/jobs/3"


def _poll_both(url: str) -> None:
    HttSleeper(url, UNTIL, max_retries=1, polling_interval=0).run()

    async def main() -> None:
        async with AsyncHttSleeper(url, UNTIL, max_retries=1, polling_interval=0) as sleeper:
            await sleeper.run()

    asyncio.run(main())


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "Http_Proxy"])
def test_a_proxy_set_in_the_environment_is_used_by_both_runners(
    name: str, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
):
    for other in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(other, raising=False)
    _poll_both(server.url("/direct"))  # read once without it: what is kept must not stay
    monkeypatch.setenv(name, server.url())
    server.script(Reply(body={}), Reply(body={}))
    _poll_both(JOB)
    assert [r.path for r in server.received] == [JOB, JOB]  # a proxy's request lines


def test_no_proxy_set_later_is_seen_by_the_next_sleeper(
    server: ScriptedServer, other_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
):
    for other in ("http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv("HTTP_PROXY", other_server.url())
    target = server.url("/jobs/3")
    other_server.script(Reply(body={}), Reply(body={}))
    _poll_both(target)
    assert len(other_server.received) == 2  # through the proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server.script(Reply(body={}), Reply(body={}))
    _poll_both(target)
    assert [r.path for r in server.received] == ["/jobs/3", "/jobs/3"]  # straight to it


def test_a_proxy_changed_in_place_in_any_case_is_seen(
    server: ScriptedServer, other_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
):
    for other in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv("Http_Proxy", server.url())
    server.script(Reply(body={}), Reply(body={}))
    _poll_both(JOB)
    assert len(server.received) == 2
    monkeypatch.setenv("Http_Proxy", other_server.url())  # same name, same length of environment
    other_server.script(Reply(body={}), Reply(body={}))
    _poll_both(JOB)
    assert [r.path for r in other_server.received] == [JOB, JOB]
