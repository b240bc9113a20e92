"""The response the async runner returns is the requests runner's: the same attributes, and the
same cookies (those of the response's own ``Set-Cookie`` lines), though its jar is made only
when read."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3 import HTTPHeaderDict

from httsleep_airflow import HttSleeper
from httsleep_airflow._async import AsyncHttSleeper, _Response, joined
from httsleep_airflow._sync import describe_request
from httsleep_airflow.exceptions import ConditionError
from tests.helpers import run_in
from tests.raw_server import RawReply, RawServer
from tests.scripted_server import Reply, ScriptedServer

UNTIL = {"status_code": 200}


def test_the_async_response_has_every_attribute_of_a_requests_response():
    made = set(vars(requests.Response()))
    ours = set(vars(_Response())) - {"_cookies", "_request", "_sent"}
    assert ours == made - {"cookies", "request"}  # a requests upgrade that adds one shows here
    assert _Response().request is None  # made when read, from what was sent
    assert len(_Response().cookies) == 0


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
        shared = first._client()
        assert second._client() is shared
        await first.close()
        assert not shared.closed
        await second.run()  # still usable by the other
        await second.close()
        assert shared.closed
        third = AsyncHttSleeper(server.url("/jobs/3"), UNTIL)
        await third.run()  # a new one, once the last has closed
        assert third._client() is not shared and not third._client().closed
        await third.close()

    asyncio.run(main())


def test_a_session_read_from_a_sleeper_is_its_own(server: ScriptedServer):
    server.script(Reply(body={"status": "OK"}))

    async def main() -> None:
        first = AsyncHttSleeper(server.url("/tenant-a"), UNTIL)
        second = AsyncHttSleeper(server.url("/tenant-b"), UNTIL)
        first.session.headers["X-Api-Key"] = "tenant-a-secret"
        await first.run()
        await second.run()
        await first.session.close()  # closing it harms no other sleeper
        await second.run()
        await first.close()
        await second.close()

    asyncio.run(main())
    keys = [(r.path, r.headers.get("X-Api-Key")) for r in server.received]
    assert keys == [("/tenant-a", "tenant-a-secret"), ("/tenant-b", None), ("/tenant-b", None)]


def test_a_sleeper_closed_on_another_loop_leaves_that_loops_session_alone(
    server: ScriptedServer,
):
    server.script(Reply(body={"status": "OK"}))
    used_elsewhere = AsyncHttSleeper(server.url("/jobs/1"), UNTIL)
    first_loop = asyncio.new_event_loop()
    first_loop.run_until_complete(used_elsewhere.run())

    async def main() -> None:
        here = AsyncHttSleeper(server.url("/jobs/2"), UNTIL)
        await here.run()
        await used_elsewhere.close()  # its session was the other loop's
        assert not here._client().closed
        await here.run()
        await here.close()

    asyncio.run(main())
    first_loop.close()
    assert len(server.received) == 3


def test_the_body_reads_alike_in_every_way(server: ScriptedServer):
    body = b'{"status": "OK"}\n{"line": 2}\n'
    sync, async_ = _both(server, Reply(body=body, headers={"Content-Type": "application/x-ndjson"}))
    for response in (sync, async_):
        assert list(response.iter_lines()) == [b'{"status": "OK"}', b'{"line": 2}']
        assert b"".join(response.iter_content(4)) == body
        assert response.content == body and response.text == body.decode()


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from(["/jobs/1", "/a b/ü", "/x?api_key=s3cret&page=2", "/%7Ejob"]),
    userinfo=st.sampled_from(["", "user:pa55@", "user@"]),
    params=st.none()
    | st.dictionaries(st.sampled_from(["token", "page", "ü"]), st.text(max_size=4)),
    method=st.sampled_from(["GET", "post"]),
)
def test_both_runners_label_a_request_alike(path, userinfo, params, method):
    """The async runner describes its request from the URL it prepared once; the label is the
    one ``describe_request`` gives (credentials left out)."""
    request = requests.Request(method, f"http://{userinfo}127.0.0.1:9{path}", params=params)
    sync, async_ = HttSleeper(request, UNTIL), AsyncHttSleeper(request, UNTIL)
    assert async_.label == sync.label == describe_request(sync.request)
    assert "pa55" not in async_.label and "s3cret" not in async_.label


_NAMES = st.sampled_from(["Content-Type", "content-type", "X-A", "x-a", "Set-Cookie", "\u00c0"])
_PAIRS = st.lists(st.tuples(_NAMES, st.text(max_size=5)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(pairs=_PAIRS, asked=st.one_of(_NAMES, st.just("absent"), st.integers(), st.none()))
def test_response_headers_are_those_of_the_requests_runner(pairs, asked):
    """The headers are built in one pass and read without ``KeyError``: the same names (the
    first spelling), order, joined values and answers as the requests runner's, which makes
    them from urllib3's header dict."""
    reference = requests.structures.CaseInsensitiveDict(HTTPHeaderDict(pairs))
    ours = joined(pairs)
    assert list(ours.items()) == list(reference.items())
    assert ours == reference
    for read in (lambda headers: headers.get(asked, "-"), lambda headers: asked in headers):
        assert _outcome(read, ours) == _outcome(read, reference)
    assert dict(ours.copy()) == dict(reference.copy())


def _outcome(read, headers):
    try:
        return read(headers)
    except Exception as exc:  # a key that is no text fails alike
        return type(exc)


class _Pairs(list):  # type: ignore[type-arg]
    def __bool__(self) -> bool:  # as numpy- and pandas-like containers refuse a truth test
        raise ValueError("ambiguous")


@pytest.mark.parametrize(
    "params", [None, {}, [], (), "", b"", {"a": "1"}, [("a", "1")], "a=1", _Pairs([("a", "1")])]
)
@pytest.mark.parametrize(
    "data", [None, {}, [], (), "", b"", bytearray(), memoryview(b""), set(), range(0), "x=1"]
)
@pytest.mark.parametrize("json_body", [None, {"a": 1}])
def test_the_request_is_prepared_as_requests_prepares_it(params, data, json_body):
    """Empty params and data skip requests' type checks, but only where requests would prepare
    them as nothing: an empty bytearray or set is a stream to requests (the async runner
    refuses it, as before), and a value that refuses a truth test is never asked one."""
    request = requests.Request(
        "POST", "http://u:p@127.0.0.1:9/x", params=params, data=data, json=json_body
    )
    expected = requests.Request(
        "POST",
        "http://u:p@127.0.0.1:9/x",
        params=params,
        data=data,
        json=json_body,
        headers={"Accept-Encoding": "gzip, deflate"},
    ).prepare()
    try:
        sleeper = AsyncHttSleeper(request, UNTIL)
    except ConditionError as exc:
        assert "cannot send" in str(exc)
        assert expected.headers.get("Transfer-Encoding") == "chunked"  # a stream to requests
        return
    assert sleeper._url == expected.url
    assert sleeper._body == (
        expected.body.encode() if isinstance(expected.body, str) else expected.body
    )
    for name in ("Content-Type", "Content-Length", "Authorization", "Transfer-Encoding"):
        assert sleeper._headers.get(name) == expected.headers.get(name), name


@pytest.mark.parametrize("fold", [b"\r\n\t", b"\r\n ", b"\r\n  "])
def test_a_folded_set_cookie_is_the_same_cookie_in_both_runners(raw_server: RawServer, fold: bytes):
    """aiohttp joins a folded line to the one before as it came, less its line break; requests
    read the line from http.client's message, which kept the break (or made it one space)."""
    head = b"HTTP/1.1 200 OK\r\nSet-Cookie: c=d" + fold + b"e; Path=/\r\nContent-Length: 2\r\n\r\n"
    cookies = []
    for runner in ("sync", "async"):
        raw_server.script(RawReply(raw=head + b"{}"))
        cookies.append(dict(run_in(runner, raw_server.url("/c"), UNTIL).cookies))
    assert cookies[0] == cookies[1] == {"c": "d" + fold[2:].decode() + "e"}


@pytest.mark.parametrize(("coding", "size"), [("gzip", 10 * 2**20 - 100), ("deflate", 900_000)])
def test_a_small_body_that_decodes_to_much_is_undone_off_the_loop_and_alike(
    raw_server: RawServer, coding: str, size: int, monkeypatch: pytest.MonkeyPatch
):
    """10 KiB of gzip holds 10 MiB: a body is undone on the loop only while what it decodes to
    is within ``OFFLOAD_BYTES``, then again in a worker thread (it held the triggerer's loop
    for 60 ms), to the same content as the requests runner's."""
    import gzip
    import threading
    import zlib

    from httsleep_airflow import _async

    threads: list[str] = []
    real = _async.decode_body

    def recorded(*args: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(_async, "decode_body", recorded)
    data = b"\0" * size
    raw = gzip.compress(data, 9) if coding == "gzip" else zlib.compress(data, 9)
    assert len(raw) < _async.OFFLOAD_BYTES
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {len(raw)}"
    contents = []
    for runner in ("sync", "async"):
        raw_server.script(RawReply(raw=head.encode() + b"\r\n\r\n" + raw))
        contents.append(run_in(runner, raw_server.url("/c"), UNTIL).content)
    assert contents[0] == contents[1] == data
    assert threads[-1] != threading.main_thread().name, threads


@pytest.mark.parametrize("lines", [1, 3, 20])
def test_long_set_cookie_lines_are_read_off_the_loop_and_alike(
    raw_server: RawServer, lines: int, monkeypatch: pytest.MonkeyPatch
):
    """``Set-Cookie`` lines of thousands of attributes (each within the header limits) took
    ``http.cookiejar`` 650 ms on the triggerer's loop for one response: past
    ``OFFLOAD_COOKIE_CHARS`` in all they are read in a worker thread, to the same cookies."""
    import threading

    from tests.helpers import threads_storing_cookies

    threads = threads_storing_cookies(monkeypatch)
    attributes = b";a=b" * 4000
    head = b"".join(b"Set-Cookie: c%d=v%s; Path=/\r\n" % (n, attributes) for n in range(lines))
    raw = b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 2\r\n\r\n{}"
    kept = []
    for runner in ("sync", "async"):
        raw_server.script(RawReply(raw=raw), RawReply(raw=raw))
        with_jar = run_in(runner, raw_server.url("/c"), UNTIL)
        kept.append(dict(with_jar.cookies))
    assert kept[0] == kept[1] == {f"c{n}": "v" for n in range(lines)}
    assert threads and threading.main_thread().name not in threads, threads


@pytest.mark.parametrize(
    ("method", "status"), [("HEAD", 200), ("HEAD", 404), ("GET", 204), ("GET", 304)]
)
def test_what_a_response_without_a_body_declares_is_no_body_past_the_limit(
    raw_server: RawServer, method: str, status: int
):
    """``HEAD`` answered with the length of a 50 MiB export (what ``GET`` would send), a
    ``204`` or ``304`` that states one: no body comes, in either runner, and none is judged
    too large (the declared length was refused before it was read)."""
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n".encode()
    request = requests.Request(method, raw_server.url("/exports/1"))
    until = {"status_code": status}
    raw_server.script(RawReply(raw=head))
    with HttSleeper(request, until, max_retries=1) as sleeper:
        sync = sleeper.run()

    async def main() -> requests.Response:
        async with AsyncHttSleeper(request, until, max_retries=1) as sleeper:
            return await sleeper.run()

    raw_server.script(RawReply(raw=head))
    for response in (sync, asyncio.run(main())):
        assert (response.status_code, response.content) == (status, b"")
        assert response.headers["Content-Length"] == str(50 * 1024 * 1024)


@pytest.mark.parametrize(
    "charset",
    ["undefined", "idna", "punycode", "base64", "x-unknown", "utf-8", "latin-1", "utf-16"],
)
def test_a_charset_no_text_can_be_read_in_is_read_as_utf8_by_both_runners(
    server: ScriptedServer, charset: str
):
    """requests' ``text`` raised for a codec that reads no bytes (``undefined``, ``idna``,
    ``punycode``), and with it every ``text`` or ``json`` condition and the XCom push: such a
    charset is no charset (UTF-8, as requests reads one it does not know)."""
    from httsleep_airflow._payload import response_payload

    body = '{"status": "OK", "name": "Zoë"}'
    data = body.encode({"utf-16": "utf-16", "latin-1": "latin-1"}.get(charset, "utf-8"))
    content_type = f"application/json; charset={charset}"
    until = {"text": body, "jsonpath": [{"expression": "status", "value": "OK"}]}
    server.script(Reply(body=data, headers={"Content-Type": content_type}))
    sync = HttSleeper(server.url("/jobs/1"), until, max_retries=1).run()

    async def main() -> requests.Response:
        async with AsyncHttSleeper(server.url("/jobs/1"), until, max_retries=1) as sleeper:
            return await sleeper.run()

    server.script(Reply(body=data, headers={"Content-Type": content_type}))
    shorn = asyncio.run(main())
    assert (sync.encoding, sync.text) == (shorn.encoding, shorn.text)
    assert response_payload(sync) == response_payload(shorn) == json.loads(body)
    if charset in ("undefined", "idna", "punycode"):
        assert sync.encoding == "utf-8"


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
CUT_BODIES = {
    "fewer bytes than Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nab",
    "a chunk size 0x2": CHUNKED + b"0x2\r\nab\r\n0\r\n\r\n",
    "a chunk size +2": CHUNKED + b"+2\r\nab\r\n0\r\n\r\n",
    "a chunk cut": CHUNKED + b"5\r\nab",
    "no last chunk": CHUNKED + b"2\r\nab\r\n",
}


@pytest.mark.parametrize("case", sorted(CUT_BODIES))
def test_a_body_cut_short_is_the_same_error_with_the_same_message_in_both_runners(
    raw_server: RawServer, case: str
):
    """Each library words it its own way (http.client's ``IncompleteRead(2 bytes read, 48
    more expected)``, aiohttp's ``ContentLengthError`` or its parser's multi-line refusal of
    a chunk size): one message, in every mode."""
    from httsleep_airflow import BodyDropped
    from httsleep_airflow._http import BODY_DROPPED_TEXT

    outcomes = []
    for runner in ("requests", "aiohttp"):
        raw_server.script(RawReply(raw=CUT_BODIES[case]))
        try:
            if runner == "requests":
                HttSleeper(raw_server.url("/x"), UNTIL, max_retries=1).run()
            else:

                async def main() -> None:
                    async with AsyncHttSleeper(raw_server.url("/x"), UNTIL, max_retries=1) as s:
                        await s.run()

                asyncio.run(main())
        except Exception as exc:
            outcomes.append((type(exc), str(exc)))
    assert outcomes == [(BodyDropped, BODY_DROPPED_TEXT)] * 2


@pytest.mark.parametrize(
    ("method", "options", "replies"),
    [
        ("GET", {}, [Reply(body={"ok": 1})]),
        ("GET", {"params": {"q": "a b"}, "auth": ("ann", "pw-1")}, [Reply(body={})]),
        ("POST", {"json": {"job": 7}, "headers": {"X-Team": "data"}}, [Reply(body={})]),
        ("PUT", {"data": {"a": "1"}}, [Reply(308, "", {"Location": "/moved"}), Reply(body={})]),
        ("POST", {"data": b"raw"}, [Reply(303, "", {"Location": "/result#top"}), Reply()]),
    ],
)
def test_a_callback_reads_the_same_request_on_the_response_of_either_runner(
    server: ScriptedServer, method: str, options: dict, replies: list[Reply]
):
    """``response.request``: the last hop's method, URL, body and the headers both runners
    send (aiohttp's own, such as ``Host``, aside)."""
    request = requests.Request(method, server.url("/jobs/1"), **options)
    until = {"status_code": 200}
    server.script(*replies)
    with HttSleeper(request, until, max_retries=1) as sleeper:
        sync = sleeper.run().request

    async def main() -> requests.Response:
        async with AsyncHttSleeper(request, until, max_retries=1) as sleeper:
            return await sleeper.run()

    server.script(*replies)
    shorn = asyncio.run(main()).request
    assert shorn is not None
    assert (shorn.method, shorn.url, shorn.body) == (sync.method, sync.url, sync.body)
    assert dict(shorn.headers) == dict(sync.headers)
