"""Request headers: what a task gives is sent alike by both runners, byte for byte, or refused
alike when the runner is built, with a message that names the header and never shows its value.
The same for cookies: the request's own, and those a server sets (kept by neither runner when
they could not be sent back alike).

requests sends text as latin-1 and aiohttp as UTF-8, and each lets through control characters
the other refuses; both runners therefore refuse a header value with leading whitespace, a line
break, a control character or a character beyond ASCII, and a name that is not an HTTP token.
"""

from __future__ import annotations

import contextlib
import enum
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httsleep_airflow._sync import BearerAuth
from httsleep_airflow.exceptions import ConditionError
from tests.helpers import run_in
from tests.raw_server import RawReply, RawServer

UNTIL = {"status_code": 200}
MARK = "Zq9"  # in every generated value: a refusal's message must not contain it
CHARACTERS = st.one_of(
    st.characters(max_codepoint=0x7F),
    st.characters(min_codepoint=0x80, exclude_categories=("Cs",)),
    st.sampled_from("\r\n\t \x00\x0b\x7f\x85\xa0\xe9\u2028\u20ac\U0001f600"),
)
CORES = st.text(CHARACTERS, max_size=10)
PREFIXES = st.sampled_from(["", "", "", " ", "\t"])
NAMES = st.one_of(
    st.sampled_from(["X-Key", "Authorization", "Accept", "x_odd.name!~", "X Key", "X:Key", ""]),
    st.text(CHARACTERS, min_size=1, max_size=6),
    st.binary(min_size=1, max_size=6),
)


@st.composite
def values(draw: st.DrawFn) -> Any:
    text = draw(PREFIXES) + MARK + draw(CORES)
    kind = draw(st.sampled_from(["text", "text", "bytes", "other"]))
    if kind == "bytes":
        return text.encode(draw(st.sampled_from(["utf-8", "latin-1"])), "replace")
    if kind == "other":
        return draw(st.sampled_from([None, 7, 1.5]))
    return text


def _outcome(
    server: RawServer, headers: dict[Any, Any] | None, auth: Any, request: Any, runner: str
) -> Any:
    """``("refused", message)``, or ``("sent", the request's header lines)``."""
    server.script(RawReply(body=b"{}"))
    try:
        url = request or server.url("/h")
        run_in(runner, url, UNTIL, headers=headers, auth=auth, max_retries=1, timeout=5)
    except ConditionError as exc:
        assert not server.received, "refused, yet sent"
        return ("refused", str(exc))
    (received,) = server.received
    lines = received.head.split(b"\r\n")[1:]
    return ("sent", sorted(line for line in lines if not line.lower().startswith(b"host:")))


def _assert_alike(
    server: RawServer, headers: dict[Any, Any] | None, auth: Any, request: Any = None
) -> Any:
    """Both runners' outcomes, equal; a refusal that does not show the value."""
    sync, async_ = (
        _outcome(server, headers, auth, request, runner) for runner in ("sync", "async")
    )
    assert sync == async_
    if sync[0] == "refused":
        assert MARK not in sync[1]
    return sync


SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(name=NAMES, value=values())
def test_a_header_is_sent_alike_by_both_runners_or_refused_alike(
    raw_server: RawServer, name: Any, value: Any
):
    kind, found = _assert_alike(raw_server, {name: value}, None)
    if kind == "sent":  # as given, byte for byte
        wire_name = name if isinstance(name, bytes) else name.encode("ascii")
        wire_value = value if isinstance(value, bytes) else value.encode("ascii")
        assert wire_name + b": " + wire_value in found


@SETTINGS
@given(token=st.builds(lambda prefix, core: prefix + MARK + core, PREFIXES, CORES))
def test_a_bearer_token_is_sent_alike_by_both_runners_or_refused_alike(
    raw_server: RawServer, token: str
):
    kind, found = _assert_alike(raw_server, None, BearerAuth(token))
    if kind == "sent":
        assert b"Authorization: Bearer " + token.encode("ascii") in found


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Key": "k\r\nX-Evil: 1"}, "header 'X-Key' has a line break at position 1"),
        ({"X-Key": " k"}, "header 'X-Key' has leading whitespace at position 0"),
        ({"X-Key": "k\x00"}, "header 'X-Key' has a control character at position 1"),
        ({"X-Name": "d\u00e9j\u00e0"}, "header 'X-Name' has a character beyond ASCII at"),
        ({"X-Name": b"d\xe9j\xe0"}, "header 'X-Name' has a character beyond ASCII at"),
        ({"X Key": "k"}, "a header name (not shown) has a space at position 1"),
        ({"X-Key": None}, "header 'X-Key' must be text, not NoneType"),
    ],
)
def test_what_is_refused_and_why(raw_server: RawServer, headers: dict[str, Any], message: str):
    kind, found = _assert_alike(raw_server, headers, None)
    assert kind == "refused" and found.startswith(f"headers: {message}")


def test_tabs_inner_and_trailing_spaces_and_an_empty_value_are_sent_alike(raw_server: RawServer):
    headers = {"X-Tab": "a\tb", "X-Trail": "a ", "X-Empty": ""}
    kind, found = _assert_alike(raw_server, headers, None)
    assert kind == "sent"
    assert {b"X-Tab: a\tb", b"X-Trail: a ", b"X-Empty: "} <= set(found)


#: Set-Cookie bytes; not CR or LF, which would end the header line (framing is tested apart),
#: but in a line break folded (obs-fold) into the next line
COOKIE_BYTES = st.binary(max_size=8).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
COOKIE_BYTES |= st.sampled_from(
    [b"\xe9", b"\xc3\xa9", b"\x01", b"\x7f", b"\t", b"\x00", b"\r\n\tx", b"\r\n x"]
)


def _cookie_lines(server: RawServer, runner: str) -> Any:
    """The outcome's class and the ``Cookie`` lines of every request ``runner`` sent."""
    outcome = "matched"
    try:
        run_in(runner, server.url("/c"), UNTIL, max_retries=2, polling_interval=0, timeout=5)
    except requests.RequestException as exc:  # a header section refused (a NUL in a value)
        outcome = type(exc).__name__
    heads = [received.head.split(b"\r\n") for received in server.received]
    return outcome, [[line for line in h if line.lower().startswith(b"cookie:")] for h in heads]


@SETTINGS
@given(name=COOKIE_BYTES, value=COOKIE_BYTES)
def test_a_cookie_a_server_sets_comes_back_alike_from_both_runners_or_from_neither(
    raw_server: RawServer, name: bytes, value: bytes
):
    """Whatever bytes a ``Set-Cookie`` holds, the runners end alike and send the same
    ``Cookie`` lines; one beyond visible ASCII (or with a control byte) comes back from neither."""
    set_cookie = b"k" + name + b"=" + MARK.encode() + value + b"; Path=/"
    sent = []
    for runner in ("sync", "async"):
        raw_server.script(RawReply(status=500, headers=[(b"Set-Cookie", set_cookie)]), RawReply())
        sent.append(_cookie_lines(raw_server, runner))
    assert sent[0] == sent[1]
    for lines in sent[0][1]:
        for line in lines:
            assert all(byte == 9 or 0x20 <= byte <= 0x7E for byte in line)


@SETTINGS
@given(name=st.text(CHARACTERS, min_size=1, max_size=6), core=CORES)
def test_a_request_cookie_is_sent_alike_by_both_runners_or_refused_alike(
    raw_server: RawServer, name: str, core: str
):
    value = MARK + core
    request = requests.Request("GET", raw_server.url("/c"), cookies={name: value})
    kind, found = _assert_alike(raw_server, None, None, request)
    if kind == "sent":
        assert f"Cookie: {name}={value}".encode("ascii") in found


def test_a_pasted_line_where_a_name_should_be_is_not_shown(raw_server: RawServer):
    kind, found = _assert_alike(raw_server, {"Authorization: Bearer s3cr3t-tok": "x"}, None)
    assert kind == "refused" and "s3cr3t" not in found
    assert "a header name (not shown) has a ':' at position 13" in found


@pytest.mark.parametrize(
    "request_args",
    [
        {"method": "POST", "data": b"ab"},  # aiohttp added Content-Type: application/octet-stream
        {"method": "POST"},
        {"method": "PUT", "data": b""},
        {"method": "PATCH", "data": bytearray(b"ab")},  # the async runner refused a bytearray
        {"method": "POST", "json": {"a": 1}},
        {"method": "POST", "data": {"a": "1"}},
        {"method": "POST", "data": b"ab", "headers": {"Content-Type": "text/plain"}},
    ],
    ids=repr,
)
def test_a_body_goes_with_the_same_headers_from_both_runners(
    raw_server: RawServer, request_args: dict[str, Any]
):
    request = requests.Request(url=raw_server.url("/h"), **request_args)
    kind, found = _assert_alike(raw_server, None, None, request)
    assert kind == "sent" and any(line.startswith(b"Content-Length: ") for line in found)


def test_sleepers_with_equal_headers_and_options_hold_one_dict_no_longer_than_they_live():
    """A waiting trigger holds its sleeper's request headers and request options over every
    sleep; sleepers that send the same hold one dict of each, and a header value (a token
    among them) is forgotten with the last sleeper that sends it."""
    import asyncio
    import gc

    from httsleep_airflow import _async

    def sleeper(token: str, url: str = "http://127.0.0.1:9/") -> _async.AsyncHttSleeper:
        return _async.AsyncHttSleeper(url, UNTIL, headers={"Authorization": f"Bearer {token}"})

    one, two, other = sleeper("tok-1"), sleeper("tok-1"), sleeper("tok-2")
    assert one._headers is two._headers and one._headers is not other._headers
    assert dict(one._headers) == dict(other._headers, Authorization="Bearer tok-1")

    async def environment_read(*sleepers: _async.AsyncHttSleeper) -> None:
        for each in sleepers:  # the first send reads the environment, then fails to connect
            with contextlib.suppress(requests.RequestException):
                await each.send_once(0.5)
            await each.close()

    asyncio.run(environment_read(one, two, other))
    assert one._request_options is two._request_options is other._request_options
    assert one._request_options["proxy"] is None and one._request_options["ssl"] is not None

    del one, two, other
    gc.collect()
    assert not [key for key in _async._SHARED if "tok-1" in repr(key) or "tok-2" in repr(key)]


def test_a_value_that_cannot_be_shared_stays_the_sleepers_own():
    from httsleep_airflow import _async

    own = {"timeout": [1, 2]}  # an unhashable value
    assert _async._shared(own) is own
    held = _async._shared({"a": 1})  # held: equal dicts share it while it lives
    assert _async._shared({"a": 1}) is held and _async._shared({"a": True}) is not held

    class Named(str, enum.Enum):  # equal to its text, but another name when read as text
        KEY = "X-Api-Key"

    named = _async._shared({Named.KEY: "v"})
    assert _async._shared({"X-Api-Key": "v"}) is not named
    ordered = _async._shared({"b": "1", "a": "1"})  # sent in another order: not the same
    assert _async._shared({"a": "1", "b": "1"}) is not ordered


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_a_password_that_is_no_text_is_sent_as_requests_sends_it(runner, raw_server: RawServer):
    """requests sends ``str()`` of a login or password that is neither text nor bytes; both
    runners failed with ``AttributeError`` at the first request."""
    raw_server.script(RawReply(body=b"{}"))
    run_in(runner, raw_server.url("/j"), UNTIL, auth=("u", 123), max_retries=1)
    (received,) = raw_server.received
    assert received.headers["Authorization"] == requests.auth._basic_auth_str("u", "123")


@pytest.mark.parametrize("runner", ["sync", "async"])
@pytest.mark.parametrize("auth", [["u", "pw-1234567"], ("u",), "u:pw-1234567", 7])
def test_an_auth_that_is_no_auth_is_refused_when_built_alike(runner, auth):
    """requests failed at the first request (``'list' object is not callable``); the aiohttp
    runner refused it with words of its own."""
    with pytest.raises(ConditionError, match=r"auth must be a \(user, password\) tuple") as info:
        run_in(runner, "http://127.0.0.1:9/j", UNTIL, auth=auth, max_retries=1)
    assert "pw-1234567" not in str(info.value)


def test_a_requests_session_given_to_the_async_runner_is_named_as_such():
    from httsleep_airflow._async import AsyncHttSleeper

    with pytest.raises(ConditionError, match=r"must be an aiohttp\.ClientSession, not Session"):
        AsyncHttSleeper("http://127.0.0.1:9/j", UNTIL, session=requests.Session())


@settings(SETTINGS, max_examples=60)
@given(inner=st.lists(st.sampled_from([b"a", b"\\", b'"', b'\\"', b" "]), max_size=6))
def test_a_quoted_cookie_is_kept_and_sent_back_alike(raw_server: RawServer, inner: list[bytes]):
    """A quoted value holding ``\\"``: requests takes ``\\"`` out of it each time a jar takes
    it (the response's own jar once, the session's again at each request); the async runner
    does as much, in the response's cookies and in what it sends back."""
    set_cookie = b'k="' + b"".join(inner) + b'"; Path=/'
    ended = []
    for runner in ("sync", "async"):
        seen: list[dict[str, Any]] = []

        def kept(response: Any, seen: list[dict[str, Any]] = seen) -> bool:
            seen.append({cookie.name: cookie.value for cookie in response.cookies})
            return len(seen) >= 2

        raw_server.script(RawReply(headers=[(b"Set-Cookie", set_cookie)], body=b"{}"), RawReply())
        try:
            run_in(
                runner, raw_server.url("/c"), {"callback": kept}, max_retries=2, polling_interval=0
            )
        except requests.RequestException as exc:
            seen.append({"raised": type(exc).__name__})
        heads = [received.head.split(b"\r\n") for received in raw_server.received]
        sent = [[line for line in h if line.lower().startswith(b"cookie:")] for h in heads]
        ended.append((seen[:1], sent))
    assert ended[0] == ended[1]


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_connect_is_no_method_to_poll_with(server, runner: str):
    """A tunnel to open, no request to a job API: aiohttp sent its target as host:port,
    requests as the URL's path. Refused alike, before anything is sent."""
    request = requests.Request("connect", server.url("/x"))
    with pytest.raises(ConditionError, match=r"not 'CONNECT' \(a tunnel\)"):
        run_in(runner, request, {"status_code": 200}, max_retries=1)
    assert server.received == []
