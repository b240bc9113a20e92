"""TLS settings: an explicit ``verify`` (argument or session) wins over the environment's CA
bundle, in both runners; the environment applies only when none is set."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from httsleep_airflow import HttSleeper
from httsleep_airflow._async import AsyncHttSleeper
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
    # requests reads the server's "certificate required" alert (SSLError); aiohttp's TLS
    # transport sees the reset that follows it. Both are ConnectionErrors.
    outcomes = _both_runners(mtls_server.url("/"), ca_file, None)
    assert all(issubclass(kind, requests.exceptions.ConnectionError) for kind in outcomes)


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
