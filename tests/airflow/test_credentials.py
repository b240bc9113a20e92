"""Credentials stay with their origin, and never show: not cut, not escaped, not re-encoded.

Each test searches what a run exposes (task and trigger log lines, exception texts, events,
reprs, serialized trigger kwargs, rendered fields) for every form of every secret.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
import time
import urllib.parse
from typing import Any

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from httsleep_airflow._conditions import Rules
from httsleep_airflow.hooks.httsleep import (
    ConnectionConfigError,
    HttSleepHook,
    settings_from_connection,
)
from httsleep_airflow.sensors.httsleep import HttSleepSensor, _has_template
from httsleep_airflow.triggers.httsleep import HttSleepTrigger
from tests.airflow.conftest import sensor_source, task_states
from tests.raw_server import RawReply, RawServer
from tests.scripted_server import Reply, ScriptedServer

RUN = 8

TOKEN = "tok-" + "0123456789abcdefghij" * 15  # 304 characters: any excerpt cut falls inside
API_KEY = 'key-"quoted"\\back-slash-0042'  # JSON-escaped when echoed (a header value is ASCII)
QS_KEY = "qs-key-7777777777"
PROXY_PASS = "proxy-pass-55555"
USERINFO_PASS = "ui-pass-333333"
PARTNER_KEY = "partner-key-99999999"
SECRETS = (TOKEN, API_KEY, QS_KEY, PROXY_PASS, USERINFO_PASS, PARTNER_KEY)


def forms(secret: str) -> set[str]:
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret, safe=""),
    }


def leaks(text: str) -> list[str]:
    """Every run of ``RUN`` characters of any form of any secret found in ``text``."""
    found = []
    for secret in SECRETS:
        for form in forms(secret):
            found += [
                form[i : i + RUN] for i in range(len(form) - RUN + 1) if form[i : i + RUN] in text
            ]
    return found


def echo(status: str) -> Reply:
    """A job API that echoes what it was sent, in the forms a real one would."""
    return Reply(
        body={
            "status": status,
            "saw": {"Authorization": f"Bearer {TOKEN}", "X-Api-Key": API_KEY},
            "url": f"/jobs/1?api_key={QS_KEY}",
            "encoded": urllib.parse.quote(API_KEY, safe=""),
            "partner": PARTNER_KEY,
        }
    )


@pytest.fixture
def secret_conn(monkeypatch, server: ScriptedServer) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SECRET_API",
        json.dumps(
            {
                "conn_type": "httsleep",
                "host": server.url(),
                "password": TOKEN,
                "extra": {
                    "auth_type": "bearer",
                    "headers": {"X-Api-Key": API_KEY},
                    "proxies": {"https": f"http://proxyuser:{PROXY_PASS}@127.0.0.1:9"},
                },
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW_VAR_PARTNER_KEY", PARTNER_KEY)
    return "secret_api"


MODES = {"poke": 'mode="poke"', "reschedule": 'mode="reschedule"', "deferrable": "deferrable=True"}


@pytest.mark.parametrize("mode", MODES)
def test_no_form_of_any_secret_in_anything_a_run_exposes(
    run_dag, server: ScriptedServer, secret_conn, capfd, mode
):
    server.script(echo("RUNNING"), echo("RUNNING"), echo("ERROR"))
    userinfo = ScriptedServer().start()  # it echoes only what that sensor sent
    userinfo.script(Reply(body={"status": "RUNNING", "echo": f"ann:{USERINFO_PASS}"}))
    key, value = MODES[mode].split("=")
    body = sensor_source(
        task_id='"wait"',
        endpoint=f'"jobs/1?api_key={QS_KEY}"',
        httsleep_conn_id=f'"{secret_conn}"',
        headers='{"X-Partner-Key": "{{ var.value.partner_key }}"}',
        until='{"jsonpath": [{"expression": "status", "value": "OK"}]}',
        alarms='{"jsonpath": [{"expression": "status", "value": "ERROR"}]}',
        poke_interval="0.05",
        **{key: value},
    ) + sensor_source(
        task_id='"wait_userinfo"',
        endpoint=f'"http://ann:{USERINFO_PASS}@127.0.0.1:{userinfo.port}/jobs/2"',
        until='{"status_code": 599}',
        max_retries="2",
        poke_interval="0.05",
        **{key: value},
    )
    try:
        dr = run_dag(f"credentials_{mode}", body)
    finally:
        userinfo.stop()
    states = task_states(dr)
    assert states["wait"] == ("failed", 1)  # the alarm, at once
    # Each secret was really sent, so the search below is not vacuous.
    sent = {r.path: r.headers for r in server.received}
    first = sent[f"/jobs/1?api_key={QS_KEY}"]
    assert first["Authorization"] == f"Bearer {TOKEN}" and first["X-Partner-Key"] == PARTNER_KEY
    assert userinfo.received[0].headers["Authorization"].startswith("Basic ")
    out = capfd.readouterr()
    log = out.out + out.err
    assert "alarm" in log and "***" in log and "api_key=***" in log
    assert leaks(log) == []
    assert leaks(rendered_fields(dr)) == []


def rendered_fields(dag_run: Any) -> str:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_run.dag_id).all()
        return json.dumps([row.rendered_fields for row in rows], default=str)


def test_the_hook_sends_credentials_only_to_its_own_origin(secret_conn, server: ScriptedServer):
    other = ScriptedServer().start()  # another port: another origin
    try:
        other.script(Reply(body={"status": "OK"}))
        server.script(Reply(body={"status": "OK"}))
        hook = HttSleepHook(secret_conn)
        hook.poll(other.url("/result"), {"status_code": 200})
        hook.poll(server.url("/jobs/1"), {"status_code": 200})  # absolute, same origin
        hook.poll("jobs/1", {"status_code": 200})
    finally:
        other.stop()
    (foreign,) = other.received
    assert "Authorization" not in foreign.headers and "X-Api-Key" not in foreign.headers
    for own in server.received:
        assert own.headers["Authorization"] == f"Bearer {TOKEN}"
        assert own.headers["X-Api-Key"] == API_KEY


@pytest.mark.parametrize("mode", MODES)
def test_the_connections_headers_follow_no_redirect_to_another_origin(
    run_dag, monkeypatch, server: ScriptedServer, mode
):
    """Every header of the connection, secret-looking or not, goes to its own origin only, as
    its auth does: a redirect to another origin drops them in every mode (and keeps the
    sensor's own), one within the origin keeps them."""
    other = ScriptedServer().start()  # another port: another origin
    headers = {"X-Org-Id": "org-4711", "X-Api-Key": API_KEY}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORG_API",
        json.dumps({"conn_type": "httsleep", "host": server.url(), "extra": {"headers": headers}}),
    )
    away = Reply(status=302, headers={"Location": other.url("/result")})
    within = Reply(status=302, headers={"Location": server.url("/result")})
    server.script(away, within, Reply(body={"status": "OK"}))
    other.script(Reply(body={"status": "RUNNING"}))
    key, value = MODES[mode].split("=")
    try:
        dr = run_dag(
            f"credentials_origin_headers_{mode}",
            sensor_source(
                task_id='"wait"',
                endpoint='"jobs/1"',
                httsleep_conn_id='"org_api"',
                headers='{"X-Own": "own-1"}',
                until='{"json": {"status": "OK"}}',
                poke_interval="0.05",
                **{key: value},
            ),
        )
    finally:
        other.stop()
    assert task_states(dr) == {"wait": ("success", 1)}
    (foreign,) = other.received
    assert "X-Org-Id" not in foreign.headers and "X-Api-Key" not in foreign.headers
    assert foreign.headers["X-Own"] == "own-1"
    assert [r.headers["X-Org-Id"] for r in server.received] == ["org-4711"] * 3


def test_the_hooks_connection_headers_follow_no_redirect_to_another_origin(
    monkeypatch, server: ScriptedServer
):
    other = ScriptedServer().start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORG_API",
        json.dumps(
            {"conn_type": "httsleep", "host": server.url(), "extra": {"headers": {"X-Org": "o"}}}
        ),
    )
    away = Reply(status=302, headers={"Location": other.url("/result")})
    server.script(away, away, away)
    other.script(Reply(body={}), Reply(body={}), Reply(body={}))
    try:
        hook = HttSleepHook("org_api")
        hook.poll("jobs/1", {"status_code": 200})
        hook.poll("jobs/1", {"status_code": 200}, headers={"x-org": "mine"})  # the caller's own
        hook.poll("jobs/1", {"status_code": 200}, headers={"X-B": "b"}, origin_headers="X-B")
    finally:
        other.stop()
    assert [r.headers.get("X-Org") for r in server.received] == ["o", "mine", "o"]
    assert [r.headers.get("X-Org") for r in other.received] == [None, "mine", None]
    assert [r.headers.get("X-B") for r in other.received] == [None, None, None]  # one name


def test_a_proxy_password_holding_a_slash_shows_nowhere():
    """A parser ends a URL's user-info at an unencoded ``/``, ``?`` or ``#``: a proxy has no
    path, so all before its last ``@`` is its user-info."""
    for mark in "/?#":
        password = f"Zq9SECRET{mark}Tail+9"
        settings = settings_from_connection(
            "px",
            host="http://h",
            extra={"proxies": {"http": f"http://proxyuser:{password}@127.0.0.1:3128"}},
        )
        assert password in settings.secrets and "Zq9SECRET" not in repr(settings)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_the_callers_authorization_wins_over_the_connections(
    run_dag, secret_conn, server: ScriptedServer, deferrable
):
    server.script(Reply(body={"status": "RUNNING"}), Reply(body={"status": "OK"}))
    dr = run_dag(
        f"credentials_own_auth_{deferrable}",
        sensor_source(
            task_id='"wait"',
            endpoint='"jobs/1"',
            httsleep_conn_id=f'"{secret_conn}"',
            headers='{"Authorization": "Bearer caller-own-token"}',
            until='{"json": {"status": "OK"}}',
            poke_interval="0.05",
            deferrable=str(deferrable),
        ),
    )
    assert task_states(dr) == {"wait": ("success", 1)}
    assert [r.headers["Authorization"] for r in server.received] == ["Bearer caller-own-token"] * 2
    assert all(r.headers["X-Api-Key"] for r in server.received)  # the other headers still go


def test_no_secret_in_reprs_or_serialized_trigger_kwargs(secret_conn, server: ScriptedServer):
    hook = HttSleepHook(secret_conn)
    settings = hook.settings
    sensor = HttSleepSensor(
        task_id="t",
        endpoint=f"http://ann:{USERINFO_PASS}@127.0.0.1:{server.port}/jobs/1?api_key={QS_KEY}",
        headers={"X-Partner-Key": PARTNER_KEY, "X-Team": "data"},
        until={"status_code": 200},
        deferrable=True,
    )
    trigger = sensor._trigger(
        Rules(sensor.until, sensor.alarms), attempts_made=1, deadline=time.time() + 3600
    )
    _, kwargs = trigger.serialize()
    exposed = " ".join(
        [repr(settings), repr(hook), repr(sensor), repr(trigger), json.dumps(kwargs)]
    )
    assert leaks(exposed) == []
    assert kwargs["headers"] == {"X-Team": "data"} and kwargs["sealed"]
    # ...and the triggerer gets them back: the request carries every one of them.
    server.script(Reply(body={"ok": 1}))
    rebuilt = HttSleepTrigger(**kwargs)

    async def run() -> list[Any]:
        return [event.payload async for event in rebuilt.run()]

    (event,) = asyncio.run(run())
    assert event["status"] == "success", event
    (received,) = server.received
    assert received.headers["X-Partner-Key"] == PARTNER_KEY
    assert received.path == f"/jobs/1?api_key={QS_KEY}"
    assert (
        received.headers["Authorization"]
        == "Basic " + base64.b64encode(f"ann:{USERINFO_PASS}".encode()).decode()
    )


def test_every_credential_of_a_connection_is_masked(monkeypatch):
    from airflow.sdk.log import mask_secret  # noqa: F401  (the masker the hook feeds)

    settings = settings_from_connection(
        "c",
        host=f"http://ann:{USERINFO_PASS}@h:8080",
        extra={
            "headers": {
                "X-Access-Keys": "akeys-111111",
                "X-Session-Id": "sess-222222",
                "X-Custom": "custom-333333",
                "X-Team": "data-team",
            },
            "secret_headers": ["X-Custom"],
            "proxies": {"https": f"http://u:{PROXY_PASS}@proxy:3128"},
        },
    )
    assert {USERINFO_PASS, PROXY_PASS, "akeys-111111", "sess-222222", "custom-333333"} <= set(
        settings.secrets
    )
    assert "data-team" not in settings.secrets
    assert leaks(repr(settings)) == [] and "akeys-111111" not in repr(settings)


def test_test_connection_never_shows_a_userinfo_password(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BADPORT",
        json.dumps({"conn_type": "httsleep", "host": f"http://ann:{USERINFO_PASS}@h:badport"}),
    )
    ok, message = HttSleepHook("badport").test_connection()
    assert not ok and "port" in message and "the connection being tested" in message
    assert leaks(message) == []


def test_a_query_string_secret_is_masked_in_every_logged_url(server: ScriptedServer, caplog):
    import logging

    from httsleep_airflow import HttSleeper
    from httsleep_airflow.exceptions import RetriesExhausted

    caplog.set_level(logging.INFO)
    server.script(Reply(body={"status": "RUNNING", "url": f"/jobs/1?api_key={QS_KEY}"}))
    url = server.url(f"/jobs/1?api_key={QS_KEY}&page=2")
    with (
        pytest.raises(RetriesExhausted) as gave_up,
        HttSleeper(url, {"json": {"status": "OK"}}, max_retries=2, polling_interval=0) as sleeper,
    ):
        sleeper.run()
    assert sleeper.label.endswith("/jobs/1?api_key=***&page=2")
    text = caplog.text + str(gave_up.value)
    assert "api_key=***" in text and leaks(text) == []


def test_without_a_fernet_key_the_sealed_secrets_still_never_show_in_a_repr(
    monkeypatch, server: ScriptedServer
):
    from airflow.models import crypto

    null_fernet = getattr(crypto, "_NullFernet", None) or crypto.NullFernet  # 3.2+ / 3.1
    monkeypatch.setattr(crypto, "get_fernet", lambda: null_fernet())
    sensor = HttSleepSensor(
        task_id="t",
        endpoint=server.url("/jobs/1"),
        headers={"X-Partner-Key": PARTNER_KEY},
        until={"status_code": 200},
        deferrable=True,
    )
    trigger = sensor._trigger(
        Rules(sensor.until, sensor.alarms), attempts_made=1, deadline=time.time() + 3600
    )
    assert leaks(repr(trigger)) == [] and "<sealed>" in repr(trigger)
    server.script(Reply(body={"ok": 1}))

    async def run() -> list[Any]:
        return [event.payload async for event in HttSleepTrigger(**trigger.serialize()[1]).run()]

    assert asyncio.run(run())[0]["status"] == "success"
    assert server.received[0].headers["X-Partner-Key"] == PARTNER_KEY


# --- credentials where a parser, an encoder or a redirect may lose track of them ------------


def test_a_url_read_apart_by_two_parsers_is_refused_not_sent(secret_conn, server: ScriptedServer):
    other = f"http://127.0.0.1:{server.port}\\@127.0.0.1:9/jobs/1"
    with pytest.raises(ValueError, match="not an http"):
        HttSleepHook(secret_conn).poll(other, {"status_code": 200})
    assert server.received == []


def test_a_proxy_password_never_shows_in_a_trigger_event(monkeypatch, server: ScriptedServer):
    """The proxy (the scripted server) echoes its Proxy-Authorization in an alarm body."""
    basic = base64.b64encode(f"puser:{PROXY_PASS}".encode()).decode()
    server.script(Reply(body={"status": "ERROR", "proxy_saw": f"Basic {basic}", "raw": PROXY_PASS}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROXIED",
        json.dumps(
            {
                "conn_type": "httsleep",
                "host": "http://api.example.invalid",
                "extra": {
                    "proxies": {"http": f"http://puser:{PROXY_PASS}@127.0.0.1:{server.port}"}
                },
            }
        ),
    )
    trigger = HttSleepTrigger(
        endpoint="jobs/1",
        httsleep_conn_id="proxied",
        conditions={
            "until": {"status_code": 599},
            "alarms": {"jsonpath": [{"expression": "status", "value": "ERROR"}]},
        },
        polling_interval=0,
        max_retries=2,
    )

    async def run() -> list[Any]:
        return [event.payload async for event in trigger.run()]

    (event,) = asyncio.run(run())
    assert event["status"] == "alarm" and server.received[0].headers["Proxy-Authorization"]
    assert PROXY_PASS not in json.dumps(event) and basic not in json.dumps(event)


@pytest.mark.parametrize(
    "params", [{"api_key": QS_KEY, "page": "1"}, [("api_key", QS_KEY), ("page", "1")]]
)
def test_secret_parameters_are_sealed_in_relative_endpoints_and_params(secret_conn, params):
    sensor = HttSleepSensor(
        task_id="t",
        endpoint=f"jobs/1?token={QS_KEY}",
        httsleep_conn_id=secret_conn,
        request_params=params,
        until={"status_code": 200},
        deferrable=True,
    )
    trigger = sensor._trigger(
        Rules(sensor.until, sensor.alarms), attempts_made=1, deadline=time.time() + 3600
    )
    _, kwargs = trigger.serialize()
    assert leaks(json.dumps(kwargs) + repr(trigger)) == [] and kwargs["sealed"]
    assert kwargs["params"] == {"page": "1"} and kwargs["endpoint"] == "jobs/1?token=***"


def test_a_header_the_connection_marks_secret_is_sealed(monkeypatch, server: ScriptedServer):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TENANT",
        json.dumps(
            {
                "conn_type": "httsleep",
                "host": server.url(),
                "extra": {"secret_headers": ["X-Tenant"]},
            }
        ),
    )
    sensor = HttSleepSensor(
        task_id="t",
        endpoint="jobs/1",
        httsleep_conn_id="tenant",
        headers={"X-Tenant": PARTNER_KEY},
        until={"status_code": 200},
        deferrable=True,
    )
    sensor._sleeper = sensor._build_sleeper()  # as execute() does: the connection is read
    trigger = sensor._trigger(
        Rules(sensor.until, sensor.alarms), attempts_made=1, deadline=time.time() + 3600
    )
    _, kwargs = trigger.serialize()
    assert PARTNER_KEY not in json.dumps(kwargs) and kwargs["headers"] == {}


def test_the_poke_mode_xcom_error_is_redacted(secret_conn, server: ScriptedServer):
    from airflow.providers.common.compat.sdk import AirflowFailException

    server.script(Reply(body={"status": "OK", "you_sent": f"Bearer {TOKEN}"}))
    sensor = HttSleepSensor(
        task_id="t",
        endpoint="jobs/1",
        httsleep_conn_id=secret_conn,
        until={"status_code": 200},
        xcom_jsonpath="result.url",
    )
    sensor._sleeper = sensor._build_sleeper()
    with pytest.raises(AirflowFailException) as info:
        sensor.poke({})
    assert "matched nothing" in str(info.value) and leaks(str(info.value)) == []


def test_test_connection_redacts_the_reason_phrase(monkeypatch):
    server = RawServer().start()  # a server may put anything in its reason phrase
    try:
        server.script(RawReply(status=401, reason=f"bad token Bearer {TOKEN}".encode()))
        monkeypatch.setenv(
            "AIRFLOW_CONN_REASON",
            json.dumps(
                {
                    "conn_type": "httsleep",
                    "host": server.url(),
                    "password": TOKEN,
                    "extra": {"auth_type": "bearer"},
                }
            ),
        )
        ok, message = HttSleepHook("reason").test_connection()
    finally:
        server.stop()
    assert not ok and "401 bad token Bearer ***" in message and leaks(message) == []


def test_a_proxy_without_a_scheme_is_a_configuration_error():
    from httsleep_airflow.hooks.httsleep import ConnectionConfigError

    with pytest.raises(ConnectionConfigError, match="proxy must be a URL") as info:
        settings_from_connection(
            "px", host="http://h", extra={"proxies": {"http": f"puser:{PROXY_PASS}@proxy:3128"}}
        )
    assert PROXY_PASS not in str(info.value)


def test_a_callers_secret_headers_add_to_the_connections(monkeypatch, server: ScriptedServer):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TENANT_HEADERS",
        json.dumps(
            {
                "conn_type": "httsleep",
                "host": server.url(),
                "extra": {"headers": {"X-Tenant": PARTNER_KEY}, "secret_headers": ["X-Tenant"]},
            }
        ),
    )
    other = ScriptedServer().start()  # another port: another origin
    try:
        other.script(Reply(body={"status": "OK"}))
        server.script(Reply(status=302, headers={"Location": other.url("/landing")}))
        HttSleepHook("tenant_headers").poll(
            "jobs/1",
            {"status_code": 200},
            headers={"X-Mine": "mine-secret-4321"},
            secret_headers=["X-Mine"],
        )
    finally:
        other.stop()
    assert server.received[0].headers["X-Tenant"] == PARTNER_KEY
    (foreign,) = other.received
    assert "X-Tenant" not in foreign.headers and "X-Mine" not in foreign.headers


#: Starts of a URL that is not an http(s) URL or is a mistyped one.
MISTYPED = (
    "http//",
    "https:/",
    "http:\\\\",
    "//",
    "\\\\",
    "HTTP//",
    " http/",
    "htps://",
    "ftp://",
    "http:///",
)


@hypothesis.settings(max_examples=200, deadline=None)
@given(
    lead=st.sampled_from(MISTYPED),
    user=st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    password=st.text(st.characters(exclude_categories=("Cs",)), max_size=24),
    rest=st.sampled_from(("api.example.com/jobs/1", "h", "h:8080/x?page=1")),
)
# a user-info that reads as a secret parameter ('#:Zq7Secret=@...'), whose '@' its mask folds
@hypothesis.example(lead="http//", user="#", password="=", rest="api.example.com/jobs/1")
def test_a_mistyped_endpoint_or_host_never_shows_its_password(lead, user, password, rest):
    """However the user-info is written, and whatever precedes it: a parser may find none."""
    url = f"{lead}{user}:Zq7Secret{password}@{rest}"
    # a Jinja template is checked once rendered, not when the DAG is parsed
    hypothesis.assume(_has_template(url) is False)
    # a user-info that mends the mistake ("https:/" and "/"): a URL with no mistake at all
    hypothesis.assume(not url.startswith("https://"))
    with pytest.raises(ValueError) as parse_error:
        HttSleepSensor(task_id="t", endpoint=url, until={"status_code": 200})
    with pytest.raises(ConnectionConfigError) as config_error:
        settings_from_connection("c", host=url)
    for error in (parse_error.value, config_error.value):
        assert "Zq7Secret" not in str(error), str(error)
        assert "***@" in str(error)


def test_a_header_the_connection_marks_secret_is_masked_in_the_rendered_fields(
    run_dag, monkeypatch, server: ScriptedServer
):
    """Airflow stores the rendered fields before execute() reads the connection."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_TENANT_RENDERED",
        json.dumps(
            {
                "conn_type": "httsleep",
                "host": server.url(),
                "extra": {"secret_headers": ["X-Tenant"]},
            }
        ),
    )
    server.script(Reply(body={"status": "OK"}))
    dr = run_dag(
        "credentials_rendered_tenant",
        sensor_source(
            task_id='"wait"',
            endpoint='"jobs/1"',
            httsleep_conn_id='"tenant_rendered"',
            headers=f'{{"X-Tenant": "{PARTNER_KEY}", "X-Team": "{{{{ dag.dag_id }}}}"}}',
            until='{"status_code": 200}',
            poke_interval="0.05",
        ),
    )
    assert task_states(dr) == {"wait": ("success", 1)}
    assert server.received[0].headers["X-Tenant"] == PARTNER_KEY  # sent as it is
    stored = rendered_fields(dr)
    assert "credentials_rendered_tenant" in stored  # the template was rendered and stored
    assert leaks(stored) == []


def test_a_connection_unread_at_render_time_fails_the_task_in_execute(
    run_dag, monkeypatch, server: ScriptedServer, capfd
):
    """Rendering reads the connection for its secret header names, but never fails on it:
    a misconfigured connection still fails the task at once, with its own message."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_GARBLED_RENDERED",
        json.dumps(
            {
                "conn_type": "httsleep",
                "host": server.url(),
                "extra": {"headers": f'{{"X-Api-Key": "{QS_KEY}",}}'},
            }
        ),
    )
    dr = run_dag(
        "credentials_rendered_garbled",
        sensor_source(
            task_id='"wait"',
            endpoint='"jobs/1"',
            httsleep_conn_id='"garbled_rendered"',
            headers='{"X-Tenant": "t"}',
            until='{"status_code": 200}',
            retries="3",
            retry_delay="0",
        ),
    )
    assert task_states(dr) == {"wait": ("failed", 1)}
    out = capfd.readouterr()
    log = out.out + out.err
    assert "connection 'garbled_rendered': extra 'headers' is not valid JSON (" in log
    assert leaks(log) == [] and server.received == []


def _sealed_then_sent(trigger: HttSleepTrigger, server: ScriptedServer) -> tuple[dict, Any]:
    """``trigger``'s serialized kwargs (sealed), and the one request the trigger rebuilt from
    them sent to ``server``."""
    _, kwargs = trigger.serialize()
    assert kwargs["sealed"]
    server.script(Reply(body={}))

    async def run() -> list[Any]:
        return [event.payload async for event in HttSleepTrigger(**kwargs).run()]

    assert asyncio.run(run())[0]["status"] == "success"
    (received,) = server.received
    return kwargs, received


@pytest.mark.parametrize(
    "params", [{"api_key": QS_KEY, "page": "1"}, [["api_key", QS_KEY], ["page", "1"]]]
)
def test_a_trigger_built_with_plain_secrets_seals_them_when_serialized(
    server: ScriptedServer, params: Any
):
    """A trigger built by other code than the sensor (which seals before it builds one): its
    kwargs and repr show no secret, and the trigger rebuilt from them sends every one."""
    trigger = HttSleepTrigger(
        endpoint=server.url("/jobs/1").replace("://", f"://ann:{USERINFO_PASS}@"),
        params=params,
        headers={"X-Partner-Key": PARTNER_KEY, "X-Team": "data"},
        conditions={"until": {"status_code": 200}},
        polling_interval=0,
        max_retries=1,
    )
    kwargs, received = _sealed_then_sent(trigger, server)
    assert leaks(json.dumps(kwargs) + repr(trigger)) == []
    assert kwargs["headers"] == {"X-Team": "data"}
    assert received.headers["X-Partner-Key"] == PARTNER_KEY
    assert f"api_key={QS_KEY}" in received.path and "page=1" in received.path
    assert (
        received.headers["Authorization"]
        == "Basic " + base64.b64encode(f"ann:{USERINFO_PASS}".encode()).decode()
    )


def test_secrets_json_cannot_write_are_sealed_as_requests_sends_them(server: ScriptedServer):
    """A bytes header value or a number type JSON cannot write: sealed all the same (as the
    text requests sends), never left in the kwargs."""
    from decimal import Decimal

    trigger = HttSleepTrigger(
        endpoint=server.url("/jobs/1"),
        params={"api_key": Decimal("12345678.5")},
        headers={"X-Partner-Key": PARTNER_KEY.encode()},
        conditions={"until": {"status_code": 200}},
        polling_interval=0,
        max_retries=1,
    )
    kwargs, received = _sealed_then_sent(trigger, server)
    assert kwargs["headers"] == {} and kwargs["params"] == {}
    assert PARTNER_KEY not in repr(trigger) and "12345678" not in json.dumps(kwargs)
    assert received.headers["X-Partner-Key"] == PARTNER_KEY
    assert "api_key=12345678.5" in received.path


class _Named(str, enum.Enum):
    """A header name as some code writes it: its ``str()`` is "_Named.TENANT", not its text."""

    TENANT = "X-Tenant"
    AUTHORIZATION = "Authorization"


def test_a_secret_header_named_by_a_str_subclass_is_sealed(server: ScriptedServer):
    """``secret_headers`` read by their text: a header so marked never shows in the kwargs or
    the repr of the trigger the sensor defers to, and is still sent."""
    trigger = HttSleepTrigger(
        endpoint=server.url("/jobs/1"),
        headers={"X-Tenant": PARTNER_KEY},
        secret_headers=[_Named.TENANT],
        conditions={"until": {"status_code": 200}},
        polling_interval=0,
        max_retries=1,
    )
    kwargs, received = _sealed_then_sent(trigger, server)
    assert kwargs["headers"] == {} and leaks(json.dumps(kwargs) + repr(trigger)) == []
    assert received.headers["X-Tenant"] == PARTNER_KEY


def test_a_callers_authorization_named_by_a_str_subclass_wins_over_the_connections():
    from httsleep_airflow.hooks.httsleep import has_authorization

    assert has_authorization({_Named.AUTHORIZATION: "Bearer mine"})


def test_a_connection_to_a_host_beyond_ascii_sends_its_credentials_there(monkeypatch, server):
    """The hook reads a host written beyond ASCII as urllib3 connects to it (its IDNA form):
    the connection's origin, so its credentials go with a poke, as with a trigger's poll."""
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url())  # the server stands for the host
    monkeypatch.setenv(
        "AIRFLOW_CONN_IDN_API",
        json.dumps(
            {
                "conn_type": "httsleep",
                "host": "http://bücher.example",
                "password": TOKEN,
                "extra": {"auth_type": "bearer"},
            }
        ),
    )
    server.script(Reply(body={"status": "OK"}))
    HttSleepHook("idn_api").poll("jobs/1", {"status_code": 200})
    (received,) = server.received
    assert received.path == "http://xn--bcher-kva.example/jobs/1"
    assert received.headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_hooks_sleeper_hands_its_requests_own_secrets_to_the_masker(secret_conn, monkeypatch):
    """A secret of the request itself (a query parameter, a header) is Airflow's masker's too:
    a line the TaskFlow task or a library writes (urllib3's warnings quote the URL) hides it."""
    from httsleep_airflow.hooks import httsleep as module

    handed: list[str] = []
    monkeypatch.setattr(module, "mask_secret", handed.append)
    monkeypatch.setattr(module, "_MASKED", set())  # a process that has handed none yet
    hook = HttSleepHook(secret_conn)
    for endpoint in (f"jobs/1?api_key={QS_KEY}", f"http://127.0.0.1:9/x?token={QS_KEY}"):
        hook.sleeper(endpoint, {"status_code": 200}, headers={"X-Partner-Key": PARTNER_KEY})
        assert {QS_KEY, PARTNER_KEY, TOKEN} <= set(handed)  # the connection's as before
    # within the masker's bounds: each new one compiles a pattern of all it holds (a task
    # polling 600 signed URLs took 80 ms a sleeper, and rising)
    signatures = [f"{n:064x}" for n in range(200)]
    for signature in signatures:
        hook.sleeper(f"jobs/1?signature={signature}", {"status_code": 200})
    assert 0 < len(set(signatures) & set(handed)) < module.MASKED_MAX


def test_a_json_body_given_as_json_text_is_sealed(server: ScriptedServer):
    """JSON text given as ``json_body`` is sent as a JSON string, its text whole: its secret
    values are sealed and masked where it shows (its kwargs and repr showed them), and sent."""
    body = json.dumps({"user": "ann", "password": PARTNER_KEY})
    trigger = HttSleepTrigger(
        endpoint=server.url("/jobs/1"),
        method="POST",
        json_body=body,
        conditions={"until": {"status_code": 200}},
        polling_interval=0,
        max_retries=1,
    )
    kwargs, received = _sealed_then_sent(trigger, server)
    assert leaks(json.dumps(kwargs) + repr(trigger)) == []
    assert json.loads(kwargs["json_body"]) == {"user": "ann", "password": "***"}
    assert json.loads(received.body) == body
