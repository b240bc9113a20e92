"""TLS settings: an explicit ``verify`` (argument or session) wins over the environment's CA
bundle, in both runners; the environment applies only when none is set."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
import requests
import trustme

from httsleep_airflow import HttSleeper
from httsleep_airflow._async import AsyncHttSleeper
from httsleep_airflow._http import BAD_STATUS_TEXT, BODY_DROPPED_TEXT, CUT_HEAD_TEXT
from httsleep_airflow.exceptions import ConditionError, RetriesExhausted
from tests.helpers import read_head, run_in, serving_each
from tests.scripted_server import Reply, ScriptedServer

UNTIL = {"status_code": 200}


@pytest.fixture
def other_bundle(monkeypatch) -> None:
    """The environment names a CA bundle that does not hold the server's CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())


def test_a_session_without_verification_wins_over_the_environment(
    tls_server: ScriptedServer, other_bundle: None
):
    session = requests.Session()
    session.verify = False
    with HttSleeper(tls_server.url("/"), UNTIL, session=session, max_retries=1) as sleeper:
        assert sleeper.run().status_code == 200


def test_a_session_ca_bundle_wins_over_the_environment(
    tls_server: ScriptedServer, ca_file: str, other_bundle: None
):
    session = requests.Session()
    session.verify = ca_file
    with HttSleeper(tls_server.url("/"), UNTIL, session=session, max_retries=1) as sleeper:
        assert sleeper.run().status_code == 200


@pytest.mark.parametrize("verify", ["ca", False])
def test_the_argument_wins_over_the_environment_in_both_runners(
    tls_server: ScriptedServer, ca_file: str, other_bundle: None, verify
):
    verify = ca_file if verify == "ca" else verify
    with HttSleeper(tls_server.url("/"), UNTIL, verify=verify, max_retries=1) as sleeper:
        assert sleeper.run().status_code == 200

    async def main() -> int:
        async with AsyncHttSleeper(
            tls_server.url("/"), UNTIL, verify=verify, max_retries=1
        ) as sleeper:
            return (await sleeper.run()).status_code

    assert asyncio.run(main()) == 200


def test_the_environment_applies_when_nothing_is_set(
    tls_server: ScriptedServer, ca_file: str, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    with HttSleeper(tls_server.url("/"), UNTIL, max_retries=1) as sleeper:
        assert sleeper.run().status_code == 200


@pytest.fixture
def client_cert(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "client.pem"
    ca.issue_cert("client.example").private_key_and_cert_chain_pem.write_to_path(str(path))
    return str(path)


def _both_runners(url: str, verify: bool | str, cert: str | None) -> list[Any]:
    session = requests.Session()
    session.verify, session.cert = verify, cert
    outcomes: list[Any] = []
    try:
        with HttSleeper(url, UNTIL, session=session, max_retries=1) as sleeper:
            outcomes.append(sleeper.run().status_code)
    except requests.RequestException as exc:
        outcomes.append(type(exc))

    async def main() -> Any:
        try:
            async with AsyncHttSleeper(
                url, UNTIL, verify=verify, cert=cert, max_retries=1
            ) as sleeper:
                return (await sleeper.run()).status_code
        except requests.RequestException as exc:
            return type(exc)

    outcomes.append(asyncio.run(main()))
    return outcomes


@pytest.mark.parametrize("verify", ["ca", False])
def test_a_client_certificate_is_presented_whether_or_not_the_server_is_verified(
    mtls_server: ScriptedServer, ca_file: str, client_cert: str, verify
):
    verify = ca_file if verify == "ca" else verify
    assert _both_runners(mtls_server.url("/"), verify, client_cert) == [200, 200]


def test_without_a_client_certificate_both_runners_fail_with_a_connection_error(
    mtls_server: ScriptedServer, ca_file: str
):
    # this server closes with the request unread once it refused the certificate: whether a
    # runner reads the alert first or meets the reset is a race (the test below has none)
    outcomes = _both_runners(mtls_server.url("/"), ca_file, None)
    assert all(issubclass(kind, requests.exceptions.ConnectionError) for kind in outcomes)


def _refusing_server(ca: trustme.CA, accepted: list[int]) -> Any:
    """A TLS 1.3 server that wants a client certificate: it refuses a client without one (an
    alert, after the client's side of the handshake is done), reads the request that follows
    and closes, so the alert is read, not raced by a reset. Close it to stop it."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED

    def serve(connection: Any) -> None:
        accepted.append(1)
        kept = connection.dup()  # the TLS socket closes its own at a failed handshake
        with (
            contextlib.suppress(ssl.SSLError, OSError),
            context.wrap_socket(connection, server_side=True) as tls,
        ):
            tls.recv(65536)
        with kept:
            kept.settimeout(1)
            with contextlib.suppress(OSError):
                kept.recv(65536)  # the request, sent after the client's handshake

    return serving_each(serve)


def test_a_client_certificate_refused_after_the_handshake_is_the_same_tls_error(
    ca: trustme.CA, ca_file: str
):
    """TLS 1.3 refuses a missing client certificate once the client's handshake is done,
    with an alert the client reads with the response: the same ``SSLError`` in both runners
    (aiohttp raised it as a connection's ``OSError``), sent once."""
    accepted: list[int] = []
    listener = _refusing_server(ca, accepted)
    url = f"https://localhost:{listener.getsockname()[1]}/jobs/3"
    said = []
    try:
        for runner in ("sync", "async"):
            with pytest.raises(requests.exceptions.SSLError) as raised:
                run_in(runner, url, UNTIL, max_retries=1, verify=ca_file, timeout=5)
            said.append(str(raised.value))
    finally:
        listener.close()
    assert said[0] == said[1]
    assert said[0].startswith(
        f"GET {url}: the TLS handshake failed ([SSL: TLSV13_ALERT_CERTIFICATE"
    )
    assert len(accepted) == 2


@pytest.mark.parametrize("verify", ["ca", "default"])
def test_a_redirect_from_http_to_https_keeps_the_tls_settings(
    server: ScriptedServer, tls_server: ScriptedServer, ca_file: str, verify, monkeypatch
):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    server.script(Reply(302, "", {"Location": tls_server.url("/jobs/1")}))
    outcomes = _both_runners(server.url("/start"), ca_file if verify == "ca" else True, None)
    if verify == "ca":
        assert outcomes == [200, 200]
    else:  # the default bundle does not hold the throwaway CA: refused by both
        assert outcomes == [requests.exceptions.SSLError] * 2


def test_a_client_certificate_goes_to_its_own_origin_only(
    tls_server: ScriptedServer, mtls_server: ScriptedServer, ca_file: str, client_cert: str
):
    """Across a redirect to another origin, neither runner presents the client certificate:
    the other origin, which asks for one, refuses the handshake."""
    tls_server.script(Reply(302, "", {"Location": mtls_server.url("/elsewhere")}))
    mtls_server.script(Reply(body={"status": "OK"}))
    outcomes = _both_runners(tls_server.url("/start"), ca_file, client_cert)
    assert all(issubclass(kind, requests.exceptions.ConnectionError) for kind in outcomes)
    assert mtls_server.received == []
    # within its origin, a redirect keeps it
    here = Reply(302, "", {"Location": mtls_server.url("/here")})
    mtls_server.script(here, Reply(body={}), here, Reply(body={}))
    assert _both_runners(mtls_server.url("/start"), ca_file, client_cert) == [200, 200]
    assert [r.path for r in mtls_server.received] == ["/start", "/here"] * 2


def _outcomes(url: str, verify: bool | str, cert: Any, **options: Any) -> list[Any]:
    """What each runner makes of ``url`` with these TLS settings (``verify`` and ``cert`` given
    as a session's in the requests runner, as a connection's are): a status, or the error's
    class and message."""
    session = requests.Session()
    session.verify, session.cert = verify, cert
    outcomes: list[Any] = []
    try:
        with HttSleeper(url, UNTIL, session=session, max_retries=1, **options) as sleeper:
            outcomes.append(sleeper.run().status_code)
    except Exception as exc:
        outcomes.append((type(exc), str(exc)))

    async def main() -> Any:
        try:
            async with AsyncHttSleeper(
                url, UNTIL, verify=verify, cert=cert, max_retries=1, **options
            ) as sleeper:
                return (await sleeper.run()).status_code
        except Exception as exc:
            return (type(exc), str(exc))

    outcomes.append(asyncio.run(main()))
    return outcomes


@pytest.fixture
def unusable(tmp_path: Path, ca_file: str, client_cert: str) -> dict[str, tuple[Any, Any, str]]:
    """TLS settings whose files cannot be used: (verify, cert, what the error names)."""
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")
    directory = tmp_path / "certs"
    directory.mkdir()
    pem = Path(client_cert).read_text()
    key = "".join(pem.partition("-----BEGIN CERTIFICATE")[:1])
    plain = tmp_path / "client.crt"
    plain.write_text(pem.replace(key, ""))
    encrypted = tmp_path / "client-encrypted.key"
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(key.encode(), password=None)
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    missing = str(tmp_path / "missing.pem")
    fifo = str(tmp_path / "fifo.pem")  # opened, it would wait for a writer without end
    os.mkfifo(fifo)
    fifos = tmp_path / "fifo-dir"  # a CA directory: OpenSSL opens its files in a handshake
    fifos.mkdir()
    os.mkfifo(fifos / "0badc0de.0")
    return {
        "missing CA bundle": (missing, None, f"verify: the CA bundle {missing!r}"),
        "CA bundle not PEM": (str(text), None, f"verify: the CA bundle {str(text)!r}"),
        "missing certificate": (ca_file, missing, f"cert: the client certificate file {missing!r}"),
        "certificate not PEM": (ca_file, str(text), "cert: the client certificate"),
        "missing key": (ca_file, (str(plain), missing), f"file {missing!r}"),
        "a directory as certificate": (False, str(directory), "(a directory)"),
        "encrypted key": (ca_file, (str(plain), str(encrypted)), "its key is encrypted"),
        "a FIFO as CA bundle": (
            fifo,
            None,
            f"verify: the CA bundle {fifo!r} cannot be used (not a file)",
        ),
        "a FIFO as certificate": (ca_file, fifo, f"file {fifo!r} cannot be used (not a file)"),
        "a FIFO in a CA directory": (str(fifos), None, "(it holds an entry that is not a file)"),
    }


CASES = [
    "missing CA bundle",
    "CA bundle not PEM",
    "missing certificate",
    "certificate not PEM",
    "missing key",
    "a directory as certificate",
    "encrypted key",
    "a FIFO as CA bundle",
    "a FIFO as certificate",
    "a FIFO in a CA directory",
]


@pytest.mark.parametrize("case", CASES)
def test_a_tls_file_that_cannot_be_used_is_the_same_clear_error_in_both_runners(
    tls_server: ScriptedServer, unusable: dict[str, tuple[Any, Any, str]], case: str
):
    """Not a connection error to retry (requests said ``OSError`` or, after connecting,
    ``SSLError``; aiohttp ``FileNotFoundError`` or ``ssl.SSLError``): one ``ConditionError``
    naming the option and the file, before anything is sent; ``ignore_exceptions`` that lists
    ``ValueError`` does not retry it."""
    verify, cert, named = unusable[case]
    tls_server.script(Reply(body={}))
    outcomes = _outcomes(tls_server.url("/"), verify, cert, ignore_exceptions=[ValueError])
    assert outcomes[0] == outcomes[1], outcomes
    kind, message = outcomes[0]
    assert kind is ConditionError and named in message, message
    assert tls_server.received == []


@pytest.mark.parametrize("case", ["missing CA bundle", "missing certificate", "encrypted key"])
def test_tls_files_are_read_only_for_https_as_requests_reads_them(
    server: ScriptedServer,
    tls_server: ScriptedServer,
    unusable: dict[str, tuple[Any, Any, str]],
    case: str,
):
    """Not for http; for a redirect to https, the CA bundle, but not the client certificate,
    which goes to its own origin only."""
    verify, cert, named = unusable[case]
    server.script(Reply(body={}))
    assert _outcomes(server.url("/"), verify, cert) == [200, 200]
    server.script(Reply(302, "", {"Location": tls_server.url("/jobs/1")}))
    tls_server.script(Reply(body={}))
    outcomes = _outcomes(server.url("/start"), verify, cert)
    assert outcomes[0] == outcomes[1], outcomes
    if case == "missing CA bundle":
        assert outcomes[0][0] is ConditionError and named in outcomes[0][1]
        assert tls_server.received == []
    else:
        assert outcomes == [200, 200]
    assert [r.path for r in server.received] == ["/start"] * 2


def test_a_directory_of_ca_certificates_is_a_ca_bundle_in_both_runners(
    tls_server: ScriptedServer, tmp_path: Path
):
    """As requests takes it (``ca_cert_dir``): here one without the server's CA, refused
    alike by both runners when verifying the server."""
    tls_server.script(Reply(body={}))
    assert _outcomes(tls_server.url("/"), str(tmp_path), None) == [
        (requests.exceptions.SSLError, ANY),
        (requests.exceptions.SSLError, ANY),
    ]


def _server_context(ca: trustme.CA, version: str) -> Any:
    """A server's TLS context, with a certificate ``ca`` issued for localhost, up to ``version``."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.maximum_version = getattr(ssl.TLSVersion, version)
    ca.issue_cert("localhost").configure_cert(context)
    return context


def _early_answer_server(
    ca: trustme.CA, version: str | None, answer: bytes, seen: list[int]
) -> Any:
    """A server (over TLS up to ``version``, or plain http for ``None``) that reads a request's
    head, sends ``answer`` (nothing: none) without reading the body, and closes: the body's
    unread bytes make the close a reset, which the client meets while it still sends. Each
    request is counted in ``seen``."""
    context = _server_context(ca, version) if version else None

    def serve(connection: Any) -> None:
        with contextlib.suppress(OSError):
            if context is not None:
                connection = context.wrap_socket(connection, server_side=True)
            with connection:
                read_head(connection)
                seen.append(1)
                connection.sendall(answer)
                time.sleep(0.1)  # the server's own pace: the client reads meanwhile

    return serving_each(serve, threads=True)


TOO_LARGE = (
    b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Type: application/json\r\n"
    b'Content-Length: 23\r\n\r\n{"status": "TOO_LARGE"}'
)
#: What a server answers a large upload before reading it, and how both runners end.
EARLY_ANSWERS = {
    "413": (TOO_LARGE, ("answered", 413, {"status": "TOO_LARGE"})),
    "no answer": (b"", ("ConnectionError", "the server closed the connection without answering")),
    "a status line begun": (b"HTTP/1.1 4", ("ConnectionError", BAD_STATUS_TEXT)),
    "a head begun": (
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Le",
        ("ConnectionError", CUT_HEAD_TEXT),
    ),
    "part of a body": (
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 10\r\n\r\nab",
        ("BodyDropped", BODY_DROPPED_TEXT),
    ),
}


@pytest.mark.parametrize(
    "version", [None, "TLSv1_2", "TLSv1_3"], ids=["http", "TLS 1.2", "TLS 1.3"]
)
@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("answer", list(EARLY_ANSWERS))
def test_an_upload_answered_or_cut_early_ends_alike(
    ca: trustme.CA, ca_file: str, version: str | None, method: str, answer: str
):
    """A server that answers a large upload before reading it (or answers nothing) and closes,
    which the client meets as a reset while it still sends: the answer in both runners, or
    what a close there is (the requests runner called the reset over TLS a failed TLS
    handshake; the aiohttp runner, its write failed, called a cut answer a close without an
    answer and sent a PUT again); a close without an answer is sent again alike."""
    sent, expected = EARLY_ANSWERS[answer]
    scheme = "https" if version else "http"
    ends, counts = [], []
    for runner in ("sync", "async"):
        seen: list[int] = []
        listener = _early_answer_server(ca, version, sent, seen)
        url = f"{scheme}://localhost:{listener.getsockname()[1]}/upload"
        request = requests.Request(method, url, data=b"x" * (8 << 20))
        try:
            run_in(runner, request, UNTIL, timeout=5, max_retries=1, verify=ca_file)
        except RetriesExhausted as exc:
            assert exc.response is not None
            ends.append(("answered", exc.response.status_code, exc.response.json()))
        except requests.RequestException as exc:
            ends.append((type(exc).__name__, str(exc).replace(url, "URL")))
        finally:
            listener.close()
        counts.append(len(seen))
    assert ends == [expected, expected]
    assert counts[0] == counts[1] == (2 if method == "PUT" and not sent else 1)


def _resetting_server(ca: trustme.CA, version: str, answer: bytes, seen: list[int]) -> Any:
    """A TLS server that reads a request, sends ``answer``, and a moment later resets the
    connection (the client has read the answer by then). Each request is counted in ``seen``;
    a second one is answered in full."""
    import socket
    import struct

    context = _server_context(ca, version)

    def serve(connection: Any) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True) as tls:
            read_head(tls)
            seen.append(1)
            if len(seen) > 1:
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                time.sleep(0.2)
                return
            tls.sendall(answer)
            time.sleep(0.1)
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return serving_each(serve, threads=True)


_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
#: What a server sends before it resets, and what both runners make of it.
RESET_AFTER = {
    "nothing": (b"", ("answered", 200), 2),  # a close without an answer: a GET sent again
    "a status line begun": (b"HTTP/1.1 2", ("ConnectionError", BAD_STATUS_TEXT), 1),
    "a head begun": (_HEAD + b"Content-Ty", ("ConnectionError", CUT_HEAD_TEXT), 1),
    "an interim head, then a status line begun": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2",
        ("ConnectionError", BAD_STATUS_TEXT),
        1,
    ),
    "part of a body of a declared length": (
        _HEAD + b'Content-Length: 17\r\n\r\n{"sta',
        ("BodyDropped", BODY_DROPPED_TEXT),
        1,
    ),
    "part of a chunk": (
        _HEAD + b"Transfer-Encoding: chunked\r\n\r\n11\r\n{",
        ("BodyDropped", BODY_DROPPED_TEXT),
        1,
    ),
    "a body the close ends": (_HEAD + b'\r\n{"status": "DONE"}', ("answered", 200), 1),
}


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
@pytest.mark.parametrize("case", list(RESET_AFTER))
def test_a_reset_over_tls_is_read_as_a_close_alike(
    ca: trustme.CA, ca_file: str, version: str, case: str
):
    """Over TLS the requests runner reads a reset as the stream's end (TLS's close notice is
    missing from a close too, so the two cannot be told apart): after a byte of an answer, the
    aiohttp runner does so too, and both say what a close there is (they said a close without
    an answer and sent a GET again, or a body cut short, where the requests runner read a cut
    head, or a whole body). Before any byte, both call it a close without an answer."""
    answer, expected, requests_seen = RESET_AFTER[case]
    ends, counts = [], []
    for runner in ("sync", "async"):
        seen: list[int] = []
        listener = _resetting_server(ca, version, answer, seen)
        url = f"https://localhost:{listener.getsockname()[1]}/jobs/1"
        try:
            response = run_in(
                runner, url, {"status_code": 299}, timeout=5, max_retries=1, verify=ca_file
            )
        except RetriesExhausted as exc:
            assert exc.response is not None
            ends.append(("answered", exc.response.status_code))
        except requests.RequestException as exc:
            ends.append((type(exc).__name__, str(exc).replace(url, "URL")))
        else:
            ends.append(("met", response.status_code))
        finally:
            listener.close()
        counts.append(len(seen))
    assert ends == [expected, expected]
    assert counts == [requests_seen, requests_seen]
