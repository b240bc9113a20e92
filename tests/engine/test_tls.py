"""TLS: verification on by default; a CA bundle from the argument or the environment works."""

from __future__ import annotations

import pytest
import requests

from httsleep_airflow import httsleep
from tests.scripted_server import ScriptedServer


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
