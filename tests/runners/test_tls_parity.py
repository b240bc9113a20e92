"""TLS settings: an explicit ``verify`` (argument or session) wins over the environment's CA
bundle, in both runners; the environment applies only when none is set."""

from __future__ import annotations

import asyncio

import pytest
import requests

from httsleep_airflow import HttSleeper
from httsleep_airflow._async import AsyncHttSleeper
from tests.scripted_server import ScriptedServer

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
