"""Through a proxy, both runners end as they do without one: a request through a forwarding
proxy has its answer read by the same rules and cut at the same deadline; what stalls once a
connection is made (a TLS handshake, a proxy's answer to CONNECT, a handshake through the
tunnel) is a read timeout at the connect timeout; a connection closed without an answer is a
``ConnectionError``, whether a proxy is on the way or not (``ProxyError`` is a proxy refusing
a tunnel: ``test_environment``), and one closed inside a TLS handshake an ``SSLError``."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
import requests
from hypothesis import given

from httsleep_airflow.exceptions import ConditionError, RetriesExhausted
from tests.helpers import read_head, run_in, serving_each
from tests.raw_server import RawReply, RawServer
from tests.runners.test_framing import HEAD_PIECES, SETTINGS, STATUS_LINES

UNTIL = {"status_code": 200}
TLS_CUT_TEXT = "the TLS handshake failed (the other end closed the connection inside it)"
JOB = "http://job-api.invalid/jobs/3"
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY")
PROXY_VARIABLES += ("all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _end(runner: str, url: str, **options: Any) -> Any:
    """What ``runner`` made of polling ``url`` once: (status, body, headers), or its error's
    class."""
    options = {"timeout": 5, "max_retries": 1, **options}
    try:
        response = run_in(runner, url, UNTIL, **options)
    except RetriesExhausted as exc:  # no match (each runner names it its own way)
        return ("no match", exc.response.status_code if exc.response is not None else None)
    except requests.RequestException as exc:
        return type(exc).__name__
    return (response.status_code, response.content, sorted(response.headers.items()))


def _ends(server: RawServer, monkeypatch: pytest.MonkeyPatch, reply: RawReply) -> list[Any]:
    """How each runner ends with ``reply``, straight from ``server``, then with ``server`` as
    the forwarding proxy of another host."""
    server.script(reply)
    ended = [_end(runner, server.url("/jobs/3")) for runner in ("sync", "async")]
    monkeypatch.setenv("HTTP_PROXY", server.url())
    ended += [_end(runner, JOB) for runner in ("sync", "async")]
    monkeypatch.delenv("HTTP_PROXY")
    return ended


@pytest.mark.parametrize(
    "reply",
    [
        RawReply(body=b"{}", interim=b"HTTP/1.1 102 Processing\r\n\r\n"),  # skipped by both
        RawReply(body=b"{}", headers=[(b"X", b"a\rY: 1")]),  # a bare CR: refused by both
        RawReply(raw=b"HTTP/1.1 200 OK\r\nX-A: 1\r\n"),  # a head cut: http.client took it whole
        RawReply(raw=b"HTTP/1.1 2"),
        RawReply(drop=True),  # closed without a word: urllib3 called it the proxy's error
        RawReply(status=204, body=b"{}"),  # no body, whatever its head says
        RawReply(raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        RawReply(body=b"{}", headers=[(f"X-{n}", "1") for n in range(101)]),  # too many lines
        RawReply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n \r\n\r\n{}"),  # a folded length
        RawReply(body=b"{}", cut=1),
    ],
    ids=lambda reply: repr(reply.raw or reply.headers or reply)[:40],
)
def test_a_reply_through_a_forwarding_proxy_ends_as_without_one(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, reply: RawReply
):
    """The requests runner read an answer through a proxy by http.client's rules alone: an
    interim ``102`` was the answer, a bare CR or a cut head was read, and a close was a
    ``ProxyError``."""
    ended = _ends(raw_server, monkeypatch, reply)
    assert ended == [ended[0]] * 4


@SETTINGS
@given(lines=HEAD_PIECES)
def test_a_head_through_a_forwarding_proxy_is_read_as_without_one(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, lines: list[bytes]
):
    raw = b"HTTP/1.1 200 OK\r\n" + b"".join(lines) + b"\r\nContent-Length: 2\r\n\r\n{}"
    ended = _ends(raw_server, monkeypatch, RawReply(raw=raw))
    assert ended == [ended[0]] * 4


def _tunnel_ends(server: RawServer, monkeypatch: pytest.MonkeyPatch, answer: bytes) -> list[Any]:
    """How each runner ends when ``server``, a proxy, answers CONNECT with ``answer`` and then
    closes: a tunnel made ends in the TLS handshake through it (``SSLError``)."""
    server.script(RawReply(raw=answer))
    monkeypatch.setenv("HTTPS_PROXY", server.url())
    return [_end(runner, "https://job-api.invalid/jobs/3") for runner in ("sync", "async")]


@pytest.mark.parametrize(
    ("answer", "end"),
    [
        (b"HTTP/1.1 200 Connection established\r\n\r\n", "SSLError"),  # a tunnel
        (b"\r\nHTTP/1.1 200 OK\r\n\r\n", "SSLError"),  # CR and LF bytes before it: skipped
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", "SSLError"),
        (b"HTTP/1.1 200 OK\r\nX: a\rY: 1\r\n\r\n", "MalformedHeaders"),  # a bare CR
        (b"HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n", "MalformedHeaders"),  # no token
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", "MalformedHeaders"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n", "HeaderTooLarge"),
        (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n", "ConnectionError"),  # a head cut
        (b"HTTP/1.1 099 Odd\r\n\r\n", "ConnectionError"),  # a bad status line
        (b"RTSP/1.0 200 OK\r\n\r\n", "ConnectionError"),
        (b"HTTP/2.0 407 No\r\n\r\n", "ConnectionError"),
        (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", "ProxyError"),  # refused
    ],
    ids=lambda value: repr(value)[:40],
)
def test_a_proxys_answer_to_connect_is_read_as_a_response_is(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, answer: bytes, end: str
):
    """http.client read a proxy's answer to CONNECT by looser rules than a response's (a bare
    CR, a name with a space, two lengths, 101 lines, a cut head were a tunnel; CR and LF bytes
    before the status line a bad one), and aiohttp's parser read ``RTSP/1.0`` and a status
    below 100: each runner ended its own way."""
    assert _tunnel_ends(raw_server, monkeypatch, answer) == [end, end]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
            "ProxyError: GET https://job-api.invalid/jobs/3: the proxy refused the tunnel "
            "(407 Proxy Authentication Required)",
        ),
        (
            b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n",
            "ProxyError: GET https://job-api.invalid/jobs/3: the proxy refused the tunnel "
            "(302 Found)",
        ),
    ],
    ids=["407", "302"],
)
def test_a_refused_tunnel_is_worded_alike_in_both_runners(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, answer: bytes, said: str
):
    """The words too, not only the class: urllib3 named its internal pool class inside a
    ``Max retries exceeded`` sentence, aiohttp gave the proxy's reason alone."""
    raw_server.script(RawReply(raw=answer))
    monkeypatch.setenv("HTTPS_PROXY", raw_server.url())
    for runner in ("sync", "async"):
        try:
            run_in(runner, "https://job-api.invalid/jobs/3", UNTIL, timeout=5, max_retries=1)
        except requests.RequestException as exc:
            assert f"{type(exc).__name__}: {exc}".startswith(said), (runner, str(exc))
        else:
            raise AssertionError(f"{runner} ended without an error")


@SETTINGS
@given(lines=HEAD_PIECES, line=STATUS_LINES)
def test_a_generated_answer_to_connect_ends_alike_in_both_runners(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, lines: list[bytes], line: bytes
):
    ended = _tunnel_ends(raw_server, monkeypatch, line + b"".join(lines) + b"\r\n\r\n")
    assert ended[0] == ended[1]


@pytest.mark.parametrize("through", ["forwarding", "tunnel"])
def test_a_request_through_a_proxy_is_cut_at_its_deadline(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, through: str
):
    """The requests runner's watchdog did not reach a proxy's connections: a head trickled
    through one (or a proxy's answer to CONNECT) took as long as the server took (the
    deadline's error came after it)."""
    if through == "forwarding":
        raw_server.script(RawReply(body=b"{}", trickle_head=0.1))  # a head of 40 bytes: 4 s
        monkeypatch.setenv("HTTP_PROXY", raw_server.url())
        url = JOB
    else:
        answer = b"HTTP/1.1 200 Connection established\r\nX-A: 1\r\n\r\n"  # 4.8 s
        raw_server.script(RawReply(raw=answer, trickle_head=0.1))
        monkeypatch.setenv("HTTPS_PROXY", raw_server.url())
        url = "https://job-api.invalid/jobs/3"
    for runner in ("sync", "async"):
        began = time.monotonic()
        assert _end(runner, url, timeout=(1, 5), request_deadline=0.5) == "RequestDeadlineExceeded"
        assert time.monotonic() - began < 2.5  # at the deadline, not at the server's pace


@pytest.mark.parametrize("stalls", ["handshake", "proxy-answer", "handshake-in-tunnel"])
def test_what_stalls_once_connected_is_a_read_timeout_in_both_runners(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, stalls: str
):
    """requests reads a TLS handshake and a proxy's answer to CONNECT under the connect
    timeout, and calls a stall there a read timeout; aiohttp called a stalled handshake a
    connect timeout, and waited for the proxy's answer until the request's deadline."""
    url = "https://job-api.invalid/jobs/3"
    if stalls == "handshake":  # a server that reads the handshake's bytes, and says nothing
        url = f"https://127.0.0.1:{raw_server.port}/jobs/3"
    elif stalls == "proxy-answer":
        raw_server.script(RawReply(delay=5))
    else:  # a tunnel made, then nothing through it
        raw_server.script(RawReply(reason=b"Connection established"))
    if stalls != "handshake":
        monkeypatch.setenv("HTTPS_PROXY", raw_server.url())
    ended = [_end(run, url, timeout=(0.3, 5), request_deadline=4) for run in ("sync", "async")]
    assert ended == ["ReadTimeout", "ReadTimeout"]


def _handshake_server(
    after_hello: bytes = b"", *, reset: str = "", accepted: list[int] | None = None
) -> Any:
    """A listening socket that reads each connection's ClientHello and then sends
    ``after_hello`` (nothing: it closes); with ``reset``, it resets the connection instead of
    closing it, once it has read the ClientHello (``"read"``) or with it unread
    (``"unread"``). Each connection it takes is counted in ``accepted``. Close it to stop
    it."""
    import select
    import socket
    import struct

    def serve(connection: socket.socket) -> None:
        if accepted is not None:
            accepted.append(1)
        with connection:
            if reset == "unread":  # closed with the ClientHello unread: the kernel resets
                select.select([connection], [], [], 5)
                return
            connection.recv(65536)  # the ClientHello
            if reset:  # no lingering: a reset, not an orderly end
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif after_hello:
                connection.sendall(after_hello)

    return serving_each(serve)


def _tls_errors(after_hello: bytes, *, reset: str = "") -> tuple[str, list[str]]:
    """A TLS server's URL, and the ``SSLError`` text each runner raised polling it
    (``_handshake_server``), each on one connection (a handshake that failed is no stale
    connection: the request is not sent again)."""
    accepted: list[int] = []
    listener = _handshake_server(after_hello, reset=reset, accepted=accepted)
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/jobs/3"
    said = []
    try:
        for runner in ("sync", "async"):  # the class and the words
            before = len(accepted)
            with pytest.raises(requests.exceptions.SSLError) as raised:
                run_in(runner, url, UNTIL, timeout=5, max_retries=1)
            said.append(str(raised.value))
            assert len(accepted) - before == 1, (runner, said)
    finally:
        listener.close()
    return url, said


def test_a_tls_handshake_the_server_closes_is_a_tls_error_in_both_runners():
    """urllib3 reads an end of the connection inside a TLS handshake as a TLS error
    (``SSLEOFError``); aiohttp called it a lost connection."""
    url, said = _tls_errors(b"")
    assert said == [f"GET {url}: {TLS_CUT_TEXT}"] * 2


@pytest.mark.parametrize("reset", ["read", "unread"])
def test_a_tls_handshake_the_server_resets_is_the_same_tls_error_in_both_runners(reset: str):
    """A reset inside a TLS handshake: urllib3 called it a connection aborted (or, racing the
    reset, an ``SSLEOFError``), aiohttp a connection it could not make; both runners say now
    what they say of a handshake the other end closes."""
    url, said = _tls_errors(b"", reset=reset)
    assert said == [f"GET {url}: {TLS_CUT_TEXT}"] * 2


def test_a_tls_handshake_reset_through_a_tunnel_is_a_tls_error_in_both_runners(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch
):
    """A proxy makes the tunnel, then the connection is reset while the handshake goes through
    it: the same ``SSLError`` from both runners (not a refused tunnel, not a lost connection)."""
    url = "https://job-api.invalid/jobs/3"
    monkeypatch.setenv("HTTPS_PROXY", raw_server.url())
    said = []
    for runner in ("sync", "async"):
        raw_server.script(RawReply(reason=b"Connection established", close=True, reset=True))
        with pytest.raises(requests.exceptions.SSLError) as raised:
            run_in(runner, url, UNTIL, timeout=5, max_retries=1)
        said.append(str(raised.value))
    assert said == [f"GET {url}: {TLS_CUT_TEXT}"] * 2


def test_a_reset_before_any_tunnel_is_no_tls_error(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch
):
    """A proxy that resets the connection instead of answering ``CONNECT``: no TLS handshake
    began, so neither runner calls it a TLS error."""
    monkeypatch.setenv("HTTPS_PROXY", raw_server.url())
    ended = []
    for runner in ("sync", "async"):
        raw_server.script(RawReply(drop=True, reset=True))
        ended.append(_end(runner, "https://job-api.invalid/jobs/3"))
    assert ended[0] == ended[1] != "SSLError", ended


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("HTTP_PROXY", "http://job-api.invalid/jobs/3"),
        ("HTTPS_PROXY", "https://job-api.invalid/jobs/3"),
    ],
)
def test_a_proxy_that_resets_before_answering_is_worded_alike(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, variable: str, url: str
):
    """A proxy that reads the request (or ``CONNECT``) and resets: a close without an answer
    in both runners, sent again once as one (urllib3's pool and proxy words, a class of the
    runner's own among them, stay out of it)."""
    monkeypatch.setenv(variable, raw_server.url())
    said = []
    for runner in ("sync", "async"):
        raw_server.script(*[RawReply(drop=True, reset=True)] * 2)
        with pytest.raises(requests.exceptions.ConnectionError) as raised:
            run_in(runner, url, UNTIL, timeout=5, max_retries=1)
        said.append(str(raised.value))
        assert len(raw_server.received) == 2
    assert said == ["the server closed the connection without answering"] * 2


@pytest.mark.parametrize(
    "target", ["https://job-api.invalid/jobs/3", "http://job-api.invalid/jobs/3"]
)
@pytest.mark.parametrize("cut", ["read", ""], ids=["reset", "close"])
def test_an_https_proxys_own_handshake_cut_is_a_close_without_answer_in_both_runners(
    monkeypatch: pytest.MonkeyPatch, cut: str, target: str
):
    """A reset or a close inside the TLS handshake with an ``https://`` proxy (before a tunnel,
    or forwarding plain http) is the proxy's failure, not the origin's TLS handshake: a close
    without an answer, sent again once, in both runners (the requests runner named urllib3's
    pool, or called a close a TLS error of the origin on urllib3 2.5)."""
    accepted: list[int] = []
    listener = _handshake_server(reset=cut, accepted=accepted)
    proxy = f"https://127.0.0.1:{listener.getsockname()[1]}"
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    said, counts = [], []
    try:
        for runner in ("sync", "async"):
            accepted.clear()
            with pytest.raises(requests.exceptions.RequestException) as raised:
                run_in(runner, target, UNTIL, timeout=5, max_retries=1)
            said.append(f"{type(raised.value).__name__}: {raised.value}")
            counts.append(len(accepted))
    finally:
        listener.close()
    assert said == ["ConnectionError: the server closed the connection without answering"] * 2
    assert counts == [2, 2]


@pytest.mark.parametrize("given_as", ["header", "HTTPProxyAuth"])
def test_proxy_authorization_goes_only_to_a_proxy_that_reads_it(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, given_as: str
):
    """A ``Proxy-Authorization`` header (or ``HTTPProxyAuth``'s) goes to a forwarding proxy,
    not to the origin when no proxy is on the way (requests sends it there), in both
    runners; over https a proxy sees only the tunnel, so it is not sent there either
    (``proxy_reads_it``)."""
    from requests.auth import HTTPProxyAuth

    from httsleep_airflow._http import proxy_reads_it

    value = "Basic cHU6cHJveHlQVy0yMjI="  # pu:proxyPW-222
    raw_server.script(RawReply(body=b"{}", headers=[("Content-Type", "application/json")]))

    def request(url: str) -> requests.Request:
        if given_as == "header":
            return requests.Request("GET", url, headers={"Proxy-Authorization": value})
        return requests.Request("GET", url, auth=HTTPProxyAuth("pu", "proxyPW-222"))

    for runner in ("sync", "async"):
        assert _end(runner, request(raw_server.url("/jobs/3")))[0] == 200
        assert "Proxy-Authorization" not in raw_server.received[-1].headers, runner
    monkeypatch.setenv("HTTP_PROXY", raw_server.url())
    for runner in ("sync", "async"):
        assert _end(runner, request(JOB))[0] == 200
        assert raw_server.received[-1].headers["Proxy-Authorization"] == value, runner
    assert not proxy_reads_it("https://job-api.invalid/jobs/3", "http://proxy:3128")
    assert not proxy_reads_it("http://job-api.invalid/jobs/3", None)


@pytest.mark.parametrize(
    "password",
    ["p%E9ssword", "pa%E2%82%ACss", "pa€ss", "%FF%FE"],
    ids=["latin1-escape", "euro", "raw-euro", "bytes"],
)
def test_proxy_credentials_requests_cannot_send_are_refused_alike(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, password: str
):
    """A proxy password past latin-1 once percent-decoded (as requests decodes it: UTF-8, an
    escape that is none as U+FFFD): requests raised a bare ``UnicodeEncodeError`` at each
    request, aiohttp sent an undecodable escape as written; both refuse it now, and a
    connection that names such a proxy fails when it is read."""
    from httsleep_airflow.hooks.httsleep import ConnectionConfigError, settings_from_connection

    proxy = raw_server.url().replace("://", f"://ann:{password}@")
    monkeypatch.setenv("HTTP_PROXY", proxy)
    assert [_end(runner, JOB) for runner in ("sync", "async")] == ["InvalidProxyURL"] * 2
    assert not raw_server.received
    with pytest.raises(ConnectionConfigError, match="not latin-1 text once percent-decoded"):
        settings_from_connection("c", host="h", extra={"proxies": {"http": proxy}})
    monkeypatch.setenv("HTTP_PROXY", raw_server.url().replace("://", "://ann:p%C3%A9ss@"))
    raw_server.script(RawReply(body=b"{}", headers=[("Content-Type", "application/json")]))
    for runner in ("sync", "async"):
        assert _end(runner, JOB)[0] == 200
        assert raw_server.received[-1].headers["Proxy-Authorization"] == "Basic YW5uOnDpc3M="


def test_a_redirect_from_a_no_proxy_host_goes_elsewhere_through_the_proxy(
    raw_server: RawServer, server: Any, monkeypatch: pytest.MonkeyPatch
):
    """``NO_PROXY`` is judged per hop, as requests judges it (``rebuild_proxies``): a request
    sent direct to a host it names, redirected to another host, goes there through the proxy
    (both runners went direct, and could not resolve it)."""
    from tests.scripted_server import Reply

    monkeypatch.setenv("HTTP_PROXY", raw_server.url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for runner in ("sync", "async"):
        server.script(Reply(302, "", {"Location": JOB}))
        raw_server.script(RawReply(body=b"{}", headers=[("Content-Type", "application/json")]))
        assert _end(runner, server.url("/start"))[0] == 200, runner
        assert len(server.received) == 1
        assert raw_server.received[-1].head.startswith(f"GET {JOB} HTTP/1.1".encode()), runner


def test_a_handshake_answered_without_tls_is_worded_alike_in_both_runners():
    """A server that reads the ClientHello and answers plain HTTP: ssl's own reason, in the
    same words from both runners."""
    url, said = _tls_errors(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    assert said[0] == said[1], said
    assert said[0].startswith(f"GET {url}: the TLS handshake failed ([SSL: "), said


def _tls_proxy(tmp_path: Any) -> tuple[Any, Any]:
    """A CA bundle in ``tmp_path``, and a server's TLS context with a certificate for
    127.0.0.1 that it trusts (an ``https://`` proxy's)."""
    import ssl

    import trustme

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return bundle, context


@pytest.mark.parametrize(
    ("verify", "scheme"),
    [
        ("bundle", "http"),
        ("off", "http"),
        ("default", "http"),
        ("default", "https"),
        ("a missing client certificate", "http"),
        ("a missing bundle", "http"),
        ("an adapter of the user's", "http"),
    ],
)
def test_an_https_proxys_certificate_is_verified_alike(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, verify: str, scheme: str
):
    """An ``https://`` proxy's certificate is checked by ``verify`` in both runners, and its
    refusal worded alike (the requests runner gave urllib3's pool text): for an https URL,
    before its tunnel, and for a plain http one it forwards (requests turned verification off
    for an http URL, so the proxy's credentials went to any certificate); ``verify=False``
    checks nothing, in both. A CA bundle that cannot be used is refused, never taken for no
    check, and so is a client certificate that cannot be used (its origin's: an http URL has
    none to present it to, and the aiohttp runner took the failure for no check at all); a
    session's own adapter (a subclass) checks it as well."""
    bundle, context = _tls_proxy(tmp_path)
    forwarded: list[bytes] = []

    def serve(connection: Any) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True) as tls:
            forwarded.append(tls.recv(65536).split(b"\r\n")[0])
            tls.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{"status": "OK"}')

    listener = serving_each(serve, threads=True)
    monkeypatch.setenv(f"{scheme.upper()}_PROXY", f"https://127.0.0.1:{listener.getsockname()[1]}")
    given: dict[str, Any] = {
        "bundle": {"verify": str(bundle)},
        "off": {"verify": False},
        "a missing client certificate": {"cert": str(tmp_path / "missing-client.pem")},
        "a missing bundle": {"verify": str(tmp_path / "missing.pem")},
    }.get(verify, {})
    url = f"{scheme}://job-api.invalid/jobs/3"
    ends = []
    try:
        for runner in ("sync", "async"):
            options = dict(given)
            if runner == "sync" and ("cert" in given or verify == "an adapter of the user's"):
                session = requests.Session()  # the requests runner's certificate is its session's
                session.cert = options.pop("cert", None)
                if verify == "an adapter of the user's":
                    session.mount(
                        "http://", type("Adapter", (requests.adapters.HTTPAdapter,), {})()
                    )
                options["session"] = session
            try:
                response = run_in(runner, url, UNTIL, timeout=5, max_retries=1, **options)
                ends.append(response.json())
            except (requests.RequestException, ConditionError) as exc:
                ends.append(f"{type(exc).__name__}: {exc}")
    finally:
        listener.close()
    if verify == "a missing bundle":
        assert (
            ends
            == [
                f"ConditionError: verify: the CA bundle {str(tmp_path / 'missing.pem')!r} "
                "cannot be used (no such file or directory)"
            ]
            * 2
        )
        assert forwarded == []
    elif verify != "bundle" and verify != "off":
        failed = f"SSLError: GET {url}: the TLS handshake failed ([SSL: CERTIFICATE_VERIFY_FAILED]"
        assert ends[0] == ends[1] and ends[0].startswith(failed), ends
        assert forwarded == []
    else:
        assert ends == [{"status": "OK"}] * 2
        assert forwarded == [b"GET http://job-api.invalid/jobs/3 HTTP/1.1"] * 2


@pytest.mark.parametrize("cut", ["close", "reset"])
def test_a_handshake_cut_inside_an_https_proxys_tunnel_is_a_tls_error_in_both_runners(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, cut: str
):
    """An ``https://`` proxy makes the tunnel, then the origin's handshake through it is cut
    (TLS inside TLS): the same ``SSLError`` from both runners, sent once (asyncio's transport
    fails there with a ``TypeError`` of its own, which escaped the aiohttp runner or was worded
    as no answer)."""
    import socket
    import struct

    bundle, context = _tls_proxy(tmp_path)
    tunnels: list[int] = []

    def serve(connection: Any) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True) as tls:
            read_head(tls)
            tunnels.append(1)
            tls.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            tls.recv(65536)  # the origin's ClientHello, through the tunnel
            if cut == "reset":
                tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    listener = serving_each(serve, threads=True)
    monkeypatch.setenv("HTTPS_PROXY", f"https://127.0.0.1:{listener.getsockname()[1]}")
    url = "https://job-api.invalid/jobs/3"
    said, counts = [], []
    try:
        for runner in ("sync", "async"):
            tunnels.clear()
            with pytest.raises(requests.exceptions.SSLError) as raised:
                run_in(runner, url, UNTIL, timeout=5, max_retries=1, verify=str(bundle))
            said.append(str(raised.value))
            counts.append(len(tunnels))
    finally:
        listener.close()
    assert said == [f"GET {url}: {TLS_CUT_TEXT}"] * 2
    assert counts == [1, 1]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_https_proxy_is_never_shown_the_origins_client_certificate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, scheme: str
):
    """A client certificate goes to its origin only: an ``https://`` proxy that asks for one
    (forwarding a plain http request, or asked for a tunnel to an https URL) gets none from
    either runner. The aiohttp runner presented it to the proxy before a tunnel."""
    import ssl

    import trustme

    bundle, context = _tls_proxy(tmp_path)
    clients = trustme.CA()  # the CA of the client's certificate, which the proxy trusts
    client = tmp_path / "client.pem"
    clients.issue_cert("client.test").private_key_and_cert_chain_pem.write_to_path(str(client))
    clients.configure_trust(context)
    context.verify_mode = ssl.CERT_OPTIONAL  # asks for a certificate, takes a client without
    presented: list[Any] = []

    def serve(connection: Any) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True) as tls:
            presented.append(tls.getpeercert())
            read_head(tls)
            if scheme == "https":  # the tunnel refused: what matters was the handshake
                tls.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            else:
                tls.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{"status": "OK"}')

    listener = serving_each(serve, threads=True)
    monkeypatch.setenv(f"{scheme.upper()}_PROXY", f"https://127.0.0.1:{listener.getsockname()[1]}")
    url = f"{scheme}://job-api.invalid/jobs/3"
    ends = []
    try:
        for runner in ("sync", "async"):
            options: dict[str, Any] = {"verify": str(bundle)}
            if runner == "sync":
                options["session"] = session = requests.Session()
                session.cert = str(client)
            else:
                options["cert"] = str(client)
            try:
                ends.append(run_in(runner, url, UNTIL, timeout=5, max_retries=1, **options).json())
            except requests.RequestException as exc:
                ends.append(f"{type(exc).__name__}: {exc}")
    finally:
        listener.close()
    if scheme == "https":
        assert ends == [f"ProxyError: GET {url}: the proxy refused the tunnel (403 Forbidden)"] * 2
    else:
        assert ends == [{"status": "OK"}] * 2
    assert presented == [None, None]  # asked for, none given
