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


def test_a_ca_bundle_missing_on_this_machine_is_one_clear_error_in_every_mode(
    tls, monkeypatch, tmp_path
):
    """The connection names a file this machine (a worker, a triggerer) does not have: poke
    mode and the trigger end with the same ``ConditionError``, naming the option and the file,
    before anything is sent; it is not a connection error that ``ignore_exceptions`` retries."""
    from httsleep_airflow.exceptions import ConditionError
    from httsleep_airflow.sensors.httsleep import HttSleepSensor

    server, _ = tls
    missing = str(tmp_path / "ca.pem")
    set_conn(monkeypatch, "tls_missing", server.url(), ca_bundle=missing)
    server.script(Reply(body={"status": "OK"}))
    until = {"status_code": 200}
    with pytest.raises(ConditionError) as raised:
        HttSleepHook("tls_missing").poll(
            "/jobs/1", until, max_retries=3, ignore_exceptions=[ValueError, OSError]
        )
    expected = f"verify: the CA bundle {missing!r} cannot be used (no such file or directory)"
    assert str(raised.value) == expected
    trigger = HttSleepTrigger(
        endpoint="jobs/1",
        httsleep_conn_id="tls_missing",
        conditions={"until": until, "alarms": None},
        max_retries=3,
        ignore_exceptions=["builtins.ValueError", "builtins.OSError"],
    )

    async def collect() -> list:
        return [event async for event in trigger.run()]

    (event,) = asyncio.run(collect())
    assert event.payload["status"] == "error"
    assert event.payload["error_type"] == "httsleep_airflow.exceptions.ConditionError"
    assert event.payload["message"] == expected
    sensor = HttSleepSensor(
        task_id="wait", httsleep_conn_id="tls_missing", endpoint="jobs/1", until=until
    )
    with pytest.raises(ConditionError, match="verify: the CA bundle"):
        sensor.execute_complete({}, event.payload)  # type: ignore[arg-type]
    assert server.received == []
