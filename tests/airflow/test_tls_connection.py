"""A self-signed server: verification fails by default; the CA bundle named in the connection
makes the hook (poke mode) and the trigger (deferrable mode) trust it."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator

import pytest
import requests
import trustme

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.triggers.httsleep import HttSleepTrigger
from tests.scripted_server import Reply, ScriptedServer


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScriptedServer, str]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server = ScriptedServer(tls=context).start()
    server.script(Reply(body={"status": "OK"}))
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield server, str(ca_file)
    server.stop()


def set_conn(monkeypatch, conn_id: str, host: str, **extra) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "httsleep", "host": host, "extra": extra}),
    )


def test_hook_fails_verification_without_the_ca(tls, monkeypatch):
    server, _ = tls
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    set_conn(monkeypatch, "tls_plain", server.url())
    with pytest.raises(requests.exceptions.SSLError):
        HttSleepHook("tls_plain").poll("/jobs/1", {"status_code": 200}, max_retries=1)


def test_hook_trusts_the_ca_bundle_from_the_connection(tls, monkeypatch):
    server, ca_file = tls
    set_conn(monkeypatch, "tls_ca", server.url(), verify=ca_file)
    response = HttSleepHook("tls_ca").poll("/jobs/1", {"status_code": 200})
    assert response.json() == {"status": "OK"}


@pytest.mark.parametrize(("verify", "status"), [(None, "error"), ("ca", "success")])
def test_trigger_uses_the_connections_tls_settings(tls, monkeypatch, verify, status):
    server, ca_file = tls
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    extra = {"verify": ca_file} if verify else {}
    set_conn(monkeypatch, f"tls_trigger_{status}", server.url(), **extra)
    trigger = HttSleepTrigger(
        endpoint="jobs/1",
        httsleep_conn_id=f"tls_trigger_{status}",
        conditions={"until": {"status_code": 200}, "alarms": None},
        max_retries=1,
    )

    async def collect() -> list:
        return [event async for event in trigger.run()]

    (event,) = asyncio.run(collect())
    assert event.payload["status"] == status
    if status == "error":
        assert event.payload["error_type"] == "requests.exceptions.SSLError"
