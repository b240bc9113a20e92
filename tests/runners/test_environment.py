"""Both runners read the proxy environment as requests does, at each sleeper's first poll; the
async runner keeps what it read per host and environment, so a change is seen by the next one
(a variable of any case, its value changed in place included)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from httsleep_airflow import HttSleeper
from httsleep_airflow._async import AsyncHttSleeper
from tests.raw_server import RawReply, RawServer
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


PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY")
PROXY_PASSWORD = "proxy-pw-31337"


def _end_both(url: str, **options: object) -> list[BaseException]:
    """What each runner raised polling ``url`` (the requests one with ``session``, the aiohttp
    one with ``proxies``, when given)."""
    session, proxies = options.pop("session", None), options.pop("proxies", None)
    ended: list[BaseException] = []
    try:
        HttSleeper(url, UNTIL, session=session, max_retries=1, **options).run()  # type: ignore[arg-type]
    except Exception as exc:
        ended.append(exc)

    async def main() -> None:
        async with AsyncHttSleeper(url, UNTIL, proxies=proxies, max_retries=1, **options) as s:  # type: ignore[arg-type]
            await s.run()

    try:
        asyncio.run(main())
    except Exception as exc:
        ended.append(exc)
    return ended


@pytest.mark.parametrize("given", ["environment", "arguments"])
def test_a_proxy_password_is_redacted_when_the_proxy_echoes_it(
    given: str, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
):
    """The password of a proxy from the environment, or from the arguments (the aiohttp
    runner's ``proxies``, a requests session's), is ``***`` when the proxy echoes what it got."""
    import base64

    import requests

    for name in (*PROXY_VARIABLES, "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = server.url().replace("http://", f"http://ann:{PROXY_PASSWORD}@")
    basic = base64.b64encode(f"ann:{PROXY_PASSWORD}".encode()).decode()
    echo = Reply(status=202, body={"got": f"Basic {basic}", "password": PROXY_PASSWORD})
    server.script(echo, echo)
    options: dict[str, object] = {}
    if given == "environment":
        monkeypatch.setenv("HTTP_PROXY", proxy)
    else:
        session = requests.Session()
        session.proxies = {"http": proxy}
        options = {"session": session, "proxies": {"http": proxy}}
    ended = _end_both(JOB, **options)
    assert [r.headers.get("Proxy-Authorization") for r in server.received] == [f"Basic {basic}"] * 2
    assert len(ended) == 2
    for exc in ended:
        assert PROXY_PASSWORD not in str(exc) and basic not in str(exc) and "***" in str(exc)


def test_each_hop_goes_through_its_own_schemes_proxy_alike(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
):
    """An http proxy only: a redirect to https goes straight there in both runners (the
    aiohttp runner sent it through the first hop's proxy, a CONNECT with its credentials)."""
    from tests.scripted_server import free_port

    for name in (*PROXY_VARIABLES, "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url().replace("http://", "http://ann:pw-1234567@"))
    away = Reply(status=302, headers={"Location": f"https://127.0.0.1:{free_port()}/x"})
    server.script(away, away)
    ended = _end_both(JOB)
    assert [r.path for r in server.received] == [JOB, JOB]  # no CONNECT
    assert [type(exc).__name__ for exc in ended] == ["ConnectionError", "ConnectionError"]


def test_a_proxy_that_refuses_a_tunnel_is_a_proxy_error_in_both_runners(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
):
    """A ``407`` to a CONNECT is ``ProxyError`` from both runners, a proxy where nothing
    listens ``ConnectionError``; their text and ``repr()``, their causes' included, show no
    proxy password."""
    from httsleep_airflow._http import causes
    from tests.scripted_server import free_port

    for name in (*PROXY_VARIABLES, "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    server.script(Reply(status=407, headers={"Proxy-Authenticate": "Basic"}))
    for proxy, error in (
        (server.url(), "ProxyError"),
        (f"http://127.0.0.1:{free_port()}", "ConnectionError"),
    ):
        monkeypatch.setenv("HTTPS_PROXY", proxy.replace("http://", f"http://ann:{PROXY_PASSWORD}@"))
        ended = _end_both("https://job-api.invalid/jobs/3", timeout=5)
        assert [type(exc).__name__ for exc in ended] == [error, error]
        for exc in ended:
            shown = " ".join(f"{cause!r} {cause}" for cause in causes(exc))
            assert PROXY_PASSWORD not in shown


@pytest.mark.parametrize(
    ("options", "sent"),
    [
        ({}, "netrc"),  # no auth: ~/.netrc's, as requests reads it
        ({"headers": {"Authorization": "Bearer own-1234567"}}, "netrc"),  # requests' own rule
        ({"auth": ("ann", "pw-1234567")}, "given"),
    ],
    ids=["no auth", "own header", "given auth"],
)
def test_netrc_is_read_alike_and_redacted(
    options: dict[str, object], sent: str, server: ScriptedServer, tmp_path, monkeypatch
):
    """Both runners send ``~/.netrc``'s credentials for the host when a request has no auth
    (the triggerer as the worker), and show them as ``***`` when a server echoes them."""
    import base64

    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login nuser password netrc-pw-55555\n")
    monkeypatch.setenv("NETRC", str(netrc))
    token = base64.b64encode(b"nuser:netrc-pw-55555").decode()
    given = base64.b64encode(b"ann:pw-1234567").decode()
    echo = Reply(status=202, body={"saw": f"Basic {token}", "password": "netrc-pw-55555"})
    server.script(echo, echo)
    ended = _end_both(server.url("/jobs/1"), **options)
    expected = f"Basic {token}" if sent == "netrc" else f"Basic {given}"
    assert [r.headers.get("Authorization") for r in server.received] == [expected] * 2
    assert len(ended) == 2
    for exc in ended:  # the credentials sent are ***
        assert ("netrc-pw-55555" not in str(exc) and token not in str(exc)) == (sent == "netrc")


def test_proxies_given_win_over_the_environments_in_both_runners(
    server: ScriptedServer, other_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
):
    """A session's proxies (a connection's, on the worker) and the aiohttp runner's
    ``proxies`` (the same connection's, in the triggerer) are used over ``HTTP_PROXY``:
    requests alone let the environment's win."""
    import requests

    for name in (*PROXY_VARIABLES, "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", other_server.url())
    server.script(Reply(body={}), Reply(body={}))
    session = requests.Session()
    session.proxies = {"http": server.url()}
    HttSleeper(JOB, UNTIL, session=session, max_retries=1).run()

    async def main() -> None:
        async with AsyncHttSleeper(
            JOB, UNTIL, proxies={"http": server.url()}, max_retries=1
        ) as sleeper:
            await sleeper.run()

    asyncio.run(main())
    assert [r.path for r in server.received] == [JOB, JOB] and other_server.received == []


def test_a_proxy_password_is_in_no_error_behind_a_tunnel_that_fails(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch
):
    """A tunnel made, then closed before TLS: aiohttp's errors behind ours hold the
    connection's key, its proxy URL with the password; one of them was reached only as the
    context of another, which the redaction did not follow."""
    from httsleep_airflow._http import causes

    for name in (*PROXY_VARIABLES, "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    raw_server.script(RawReply(raw=b"HTTP/1.1 200 Connection established\r\n\r\n"))
    proxy = raw_server.url().replace("http://", f"http://ann:{PROXY_PASSWORD}@")
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    ended = _end_both("https://job-api.invalid/jobs/3", timeout=5)
    assert len(ended) == 2
    for exc in ended:
        for cause in causes(exc):
            shown = f"{cause!r} {cause} {cause.args!r} {getattr(cause, '__dict__', {})!r}"
            assert PROXY_PASSWORD not in shown


#: Proxy values requests refuses before sending, each its own way; the aiohttp runner quoted
#: the first two whole (the password with them) and tried the SOCKS and ftp ones as http.
REFUSED_PROXIES = [
    "ann:{pw}@127.0.0.1:9",  # no scheme: the login read as one, so no host
    "socks5://ann:{pw}@127.0.0.1:9",
    "socks5h://ann:{pw}@127.0.0.1:9",
    "ftp://ann:{pw}@127.0.0.1:9",
    "http://ann:{pw}@[::1:9",
    "http://ann:{pw}@127.0.0.1:99999",
    "http://ann:{pw}/tail@127.0.0.1:9",  # an unencoded / ? #: the parser quotes what is before
    "http://ann:{pw}?tail@127.0.0.1:9",
    "http://ann:{pw}#tail@127.0.0.1:9",
    "http://ann:{pw}[tail@127.0.0.1:9",  # Python's parser refuses it: requests' ValueError
]


REFUSALS = ("InvalidProxyURL", "InvalidSchema", "InvalidURL", "ValueError")


def _refusal(exc: BaseException) -> tuple[str, str]:
    return type(exc).__name__, str(exc)


@pytest.mark.parametrize("proxy", REFUSED_PROXIES)
def test_a_proxy_requests_refuses_is_refused_alike_and_shows_no_password(
    proxy: str, monkeypatch: pytest.MonkeyPatch
):
    """Both runners refuse it before any request, with the same error and text, and neither
    (nor any error behind it) shows the proxy's password."""
    from httsleep_airflow._http import causes

    for name in (*PROXY_VARIABLES, "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.format(pw=PROXY_PASSWORD))
    ended = _end_both(JOB, timeout=5)
    assert len(ended) == 2 and _refusal(ended[0]) == _refusal(ended[1])
    assert type(ended[0]).__name__ in REFUSALS
    for exc in ended:
        for cause in causes(exc):
            shown = f"{cause!r} {cause} {cause.args!r} {getattr(cause, '__dict__', {})!r}"
            assert PROXY_PASSWORD not in shown


@settings(max_examples=40, deadline=None)
@given(
    lead=st.sampled_from(["", "http://", "https://", "HTTP://", "socks4://", "ftp://", "//"]),
    login=st.sampled_from(["", "ann", "ann:", "a%40b:"]),
    password=st.text(
        st.characters(codec="ascii", categories=("L", "N"), include_characters="-._~!$/?#["),
        min_size=8,
        max_size=16,
    ),
    host=st.sampled_from(["127.0.0.1:9", "127.0.0.1", "[::1]:9", "[::1:9", "h:99999", "h :1"]),
)
def test_a_generated_proxy_ends_alike_in_both_runners_without_its_password(
    lead: str, login: str, password: str, host: str
):
    """Whatever a proxy variable holds, with a scheme or none, a login or none: both runners
    end with the same error and text (nothing listens where one is valid), and neither shows
    the password (a proxy with no scheme was quoted whole by aiohttp)."""
    from httsleep_airflow._http import causes

    userinfo = f"{login}{password}@" if login else f"{password}@"
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in (*PROXY_VARIABLES, "all_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"{lead}{userinfo}{host}")
        ended = _end_both(JOB, timeout=2)
    assert len(ended) == 2
    sync, aio = (_refusal(exc) for exc in ended)
    if sync[0] in REFUSALS:  # refused alike; else the proxy was tried (each its own words for
        assert sync == aio  # what it met: nothing there, or a host a password's / made)
    for exc in ended:
        for cause in causes(exc):
            shown = f"{cause!r} {cause} {cause.args!r}"
            assert password not in shown and quote(password) not in shown


@pytest.mark.parametrize(
    "userinfo", [":pw-1234567", "key-1234567", "ann:pw-1234567", "ann:", "a%40b:pw%2F1234567"]
)
def test_a_proxy_gets_the_same_credentials_from_both_runners(
    userinfo: str, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
):
    """requests sends ``Proxy-Authorization`` only with a login, and reads a login alone as no
    credentials; aiohttp sent ``Basic`` of ``:pw`` and of ``key:``."""
    for name in (*PROXY_VARIABLES, "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url().replace("http://", f"http://{userinfo}@"))
    server.script(Reply(body={}), Reply(body={}))
    _poll_both(JOB)
    sent = [r.headers.get("Proxy-Authorization") for r in server.received]
    assert len(sent) == 2 and sent[0] == sent[1], sent


def test_the_absence_of_a_netrc_is_kept_a_moment_and_a_new_one_is_seen_after_it(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """The async runner asks the file system whether a netrc exists once a second at most
    (two ``stat`` calls a sleeper waited for the GIL on a busy triggerer); a netrc written is
    seen once that second is over, or at once where ``$NETRC`` or ``$HOME`` changed."""
    import os

    from httsleep_airflow._async import _NetrcAbsence

    now = [100.0]
    asked: list[str] = []
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda path: asked.append(path) or real_exists(path))
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    absence = _NetrcAbsence(ttl=1.0, clock=lambda: now[0])
    assert [absence.may_exist() for _ in range(50)] == [False] * 50
    assert len(asked) == 2  # ~/.netrc and ~/_netrc, once
    (tmp_path / ".netrc").write_text("machine h login u password p\n")
    now[0] += 0.5
    assert absence.may_exist() is False  # within the second: not asked again
    now[0] += 0.6
    assert absence.may_exist() is True
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("NETRC", str(other / "netrc"))
    assert absence.may_exist() is False  # another place: asked at once
    (other / "netrc").write_text("machine h login u password p\n")
    monkeypatch.setenv("HOME", str(other))
    assert absence.may_exist() is True
