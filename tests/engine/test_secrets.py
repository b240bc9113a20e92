"""Which secrets a request carries, and that the engine's log lines and messages never show them."""

from __future__ import annotations

import base64
import logging

import pytest
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from httsleep_airflow._conditions import Rules
from httsleep_airflow._core import Policy, Poller
from httsleep_airflow._secrets import redact, secret_forms, tidy
from httsleep_airflow._sync import BearerAuth, HttSleeper, request_secrets
from httsleep_airflow.exceptions import Alarm, RetriesExhausted
from tests.helpers import make_response


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("request_kwargs", "expected"),
    [
        ({"auth": BearerAuth("tok-123")}, {"tok-123"}),
        ({"auth": HTTPBasicAuth("ann", "pw-456")}, {"pw-456", b64("ann:pw-456")}),
        ({"auth": ("ann", "pw-456")}, {"pw-456", b64("ann:pw-456")}),
        ({"auth": HTTPDigestAuth("ann", "pw-456")}, {"pw-456"}),
        ({"url": "http://ann:pw-789@h/x"}, {"pw-789", b64("ann:pw-789")}),
        (
            {"headers": {"X-Api-Key": "k-12345", "Cookie": "c=12345", "Accept": "text/plain"}},
            {"k-12345", "c=12345"},
        ),
        ({"headers": {"Authorization": "Bearer t-1", "X-Token": "abc"}}, {"Bearer t-1"}),
        ({}, set()),
    ],
)
def test_what_a_request_carries(request_kwargs, expected):
    request = requests.Request("GET", **{"url": "http://h/x", **request_kwargs})
    found = set(request_secrets(request))
    assert expected <= found  # "abc" is too short to redact
    assert all(any(form in secret_forms(s) for s in expected) for form in found)


def test_a_session_adds_its_auth_and_headers():
    session = requests.Session()
    session.auth = BearerAuth("session-token")
    session.headers["X-Api-Key"] = "session-key"
    found = request_secrets(requests.Request("GET", "http://h/x"), session)
    assert set(found) == {"session-token", "session-key"}  # no other forms: nothing to escape
    sleeper = HttSleeper("http://h/x", {"status_code": 200}, session=session, secrets=["extra-1"])
    assert {"session-token", "session-key", "extra-1"} <= set(sleeper.secrets)


def test_redact_replaces_the_longest_secret_first():
    secrets = tidy(["abcde", "abcdefgh", "xy"])
    assert secrets == ("abcdefgh", "abcde")
    assert redact("k=abcdefgh, j=abcde, xy", secrets) == "k=***, j=***, xy"


def test_poller_log_lines_and_messages_never_show_a_secret(caplog):
    caplog.set_level(logging.INFO)
    rules = Rules(
        {"jsonpath": [{"expression": "status", "value": "OK"}]},
        {"jsonpath": [{"expression": "status", "value": "ERROR"}]},
    )
    poller = Poller(
        rules,
        Policy.build(max_retries=2, polling_interval=0),
        label="GET http://h/jobs/1",
        secrets=tidy(["tok-SECRET"]),
    )
    poller.receive(make_response(body={"status": "tok-SECRET"}), 0.0)  # pending, explained
    with pytest.raises(RetriesExhausted) as gave_up:
        poller.receive(make_response(body={"status": "RUNNING", "t": "tok-SECRET"}), 0.0)
    alarm_poller = Poller(rules, Policy.build(), secrets=tidy(["tok-SECRET"]))
    with pytest.raises(Alarm) as alarm:
        alarm_poller.receive(make_response(body={"status": "ERROR", "t": "tok-SECRET"}), 0.0)
    written = caplog.text + str(gave_up.value) + str(alarm.value)
    assert "poke" not in written and "poll 1/2" in written  # the lines were logged...
    assert "tok-SECRET" not in written  # ...without the secret
    assert written.count("***") >= 4
