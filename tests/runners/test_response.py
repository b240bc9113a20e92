"""The response the async runner returns is the requests runner's: the same attributes, and the
same cookies (those of the response's own ``Set-Cookie`` lines), though its jar is made only
when read."""

from __future__ import annotations

import asyncio

import requests

from httsleep_airflow import HttSleeper
from httsleep_airflow._async import AsyncHttSleeper, _Response
from tests.scripted_server import Reply, ScriptedServer

UNTIL = {"status_code": 200}


def test_the_async_response_has_every_attribute_of_a_requests_response():
    made = set(vars(requests.Response()))
    ours = set(vars(_Response(None))) - {"_set_cookie", "_cookies"}
    assert ours == made - {"cookies"}  # a requests upgrade that adds one shows here
    assert len(_Response(None).cookies) == 0


def _both(server: ScriptedServer, *replies: Reply) -> tuple[requests.Response, requests.Response]:
    server.script(*replies)
    sync = HttSleeper(server.url("/jobs/1"), UNTIL, max_retries=3, polling_interval=0).run()

    async def main() -> requests.Response:
        async with AsyncHttSleeper(
            server.url("/jobs/1"), UNTIL, max_retries=3, polling_interval=0
        ) as sleeper:
            return await sleeper.run()

    server.script(*replies)
    return sync, asyncio.run(main())


def test_cookies_of_the_final_response_as_requests_reads_them(server: ScriptedServer):
    setting = Reply(body={"status": "OK"}, headers={"Set-Cookie": "sid=s1; Path=/"})
    sync, async_ = _both(server, setting)
    assert dict(sync.cookies) == dict(async_.cookies) == {"sid": "s1"}

    earlier = Reply(302, "", {"Set-Cookie": "first=1; Path=/", "Location": "/jobs/2"})
    sync, async_ = _both(server, earlier, Reply(body={"status": "OK"}))
    assert dict(sync.cookies) == dict(async_.cookies) == {}  # a redirect's are not the final's

    sync, async_ = _both(server, Reply(body={"status": "OK"}))
    assert dict(sync.cookies) == dict(async_.cookies) == {}


def test_the_loop_shares_one_session_until_the_last_sleeper_closes(server: ScriptedServer):
    server.script(Reply(body={"status": "OK"}))

    async def main() -> None:
        first = AsyncHttSleeper(server.url("/jobs/1"), UNTIL)
        second = AsyncHttSleeper(server.url("/jobs/2"), UNTIL)
        await first.run()
        await second.run()
        shared = first.session
        assert second.session is shared
        await first.close()
        assert not shared.closed
        await second.run()  # still usable by the other
        await second.close()
        assert shared.closed
        third = AsyncHttSleeper(server.url("/jobs/3"), UNTIL)
        await third.run()  # a new one, once the last has closed
        assert third.session is not shared and not third.session.closed
        await third.close()

    asyncio.run(main())
