"""TLS: verification on by default; a CA bundle from the argument or the environment works."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme

from httsleep_airflow import httsleep
from tests.scripted_server import Reply, ScriptedServer


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA) -> Iterator[ScriptedServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = ScriptedServer(tls=context).start()
    server.script(Reply(body={"status": "OK"}))
    yield server
    server.stop()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_self_signed_certificate_fails_verification(tls_server: ScriptedServer, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(requests.exceptions.SSLError):
        httsleep(tls_server.url("/jobs/1"), {"status_code": 200}, max_retries=1)


def test_ca_bundle_argument(tls_server: ScriptedServer, ca_file: str):
    response = httsleep(tls_server.url("/jobs/1"), {"status_code": 200}, verify=ca_file)
    assert response.json() == {"status": "OK"}


def test_ca_bundle_from_the_environment(tls_server: ScriptedServer, ca_file: str, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    response = httsleep(tls_server.url("/jobs/1"), {"status_code": 200})
    assert response.json() == {"status": "OK"}
