"""HttSleepHook: connections from AIRFLOW_CONN_<ID> JSON, auth kinds, extras, secrets."""

from __future__ import annotations

import base64
import json
import logging
import warnings

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from httsleep_airflow.get_provider_info import get_provider_info
from httsleep_airflow.hooks.httsleep import (
    TEXT_JSON_KEYS,
    ConnectionConfigError,
    HttSleepHook,
    argument_secrets,
    settings_from_connection,
)
from tests.airflow.conftest import task_states, xcom
from tests.scripted_server import Reply, ScriptedServer

OK = Reply(body={"status": "OK"})


def set_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "httsleep", **fields})
    )


def test_basic_auth_and_extra_headers_from_env_json(monkeypatch, server: ScriptedServer):
    set_conn(
        monkeypatch,
        "jobs_basic",
        host=server.url("/api"),
        login="ann",
        password="pw-basic-123",
        extra={"headers": {"X-Api-Key": "key-456"}},
    )
    hook = HttSleepHook("jobs_basic")
    server.script(OK)
    response = hook.poll("jobs/1", {"status_code": 200})
    assert response.json() == OK.body
    received = server.received[0]
    assert received.path == "/api/jobs/1"
    assert (
        received.headers["Authorization"]
        == "Basic " + base64.b64encode(b"ann:pw-basic-123").decode()
    )
    assert received.headers["X-Api-Key"] == "key-456"


def test_bearer_token(monkeypatch, server: ScriptedServer):
    set_conn(
        monkeypatch,
        "jobs_bearer",
        host=server.url(),
        password="tok-789",
        extra={"auth_type": "bearer"},
    )
    HttSleepHook("jobs_bearer").poll("/jobs/1", {"status_code": 200})
    assert server.received[0].headers["Authorization"] == "Bearer tok-789"


def test_host_name_completed_by_schema_and_port(monkeypatch):
    set_conn(monkeypatch, "by_parts", host="api.example.com", schema="https", port=8443)
    assert (
        HttSleepHook("by_parts").url_for("/v1/jobs/2") == "https://api.example.com:8443/v1/jobs/2"
    )


@pytest.mark.parametrize(
    "proxies",
    [{"http": "http://p:1"}, {"all": "http://p:1"}, {"https://api.example": "http://p:1"}],
)
def test_every_key_requests_chooses_a_proxy_by_is_taken(proxies):
    assert settings_from_connection("p1", host="http://h", extra={"proxies": proxies}).proxies


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        (
            {"host": "127.0.0.1", "schema": "v1", "port": 8080},
            "schema 'v1' is not 'http' or 'https'",
        ),
        ({"host": "http://h:80", "port": 8080}, "host 'http://h:80' has the port 80 and the Port"),
    ],
)
def test_fields_that_contradict_or_are_misplaced_are_named(fields, needle):
    """A base path written in the Schema field (``httsleep://host:8080/v1``) was reported as a
    host that is no URL; a Port beside a host's own port was dropped without a word."""
    with pytest.raises(ConnectionConfigError) as info:
        settings_from_connection("c7", **fields)
    assert needle in str(info.value)


def test_absolute_url_passes_through_without_a_connection():
    hook = HttSleepHook("no_such_connection")
    assert hook.url_for("https://elsewhere.test/x") == "https://elsewhere.test/x"


def test_one_session_per_hook(monkeypatch, server: ScriptedServer):
    set_conn(monkeypatch, "reuse", host=server.url())
    hook = HttSleepHook("reuse")
    assert hook.get_conn() is hook.get_conn()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            {"X-Api-Key": "k"},
            "unknown extra key 'X-Api-Key'; allowed keys: headers, verify, ca_bundle, cert",
        ),
        ({"auth_type": "oauth"}, "auth_type"),
        ({"headers": ["a"]}, "headers"),
        ({"timeout": -1}, "timeout"),
        ("{not json", "not valid JSON"),
        ({"headers": {"X-Key": "k\nX-Evil: 1"}}, "extra 'headers': header 'X-Key' has a line"),
        ({"headers": {"X:Key": "k"}}, "extra 'headers': a header name (not shown) has a ':' at"),
        ({"headers": {"X-Key": "\u20ac"}}, "header 'X-Key' has a character beyond ASCII"),
        ({"proxies": {"htp": "http://p:1"}}, "extra 'proxies': 'htp' is no key a proxy is"),
        ({"proxies": {"HTTPS": "http://p:1"}}, "'HTTPS' is no key a proxy is chosen by"),
    ],
)
def test_bad_extra_is_a_clear_error(extra, needle):
    with pytest.raises(ValueError) as info:
        settings_from_connection("c1", host="http://h", extra=extra)
    assert needle in str(info.value)
    assert "'c1'" in str(info.value)


def test_a_bearer_token_that_cannot_be_sent_is_named_never_shown():
    with pytest.raises(ValueError) as info:
        settings_from_connection(
            "c3", host="http://h", password="t0ken\r\n", extra={"auth_type": "bearer"}
        )
    assert "'c3'" in str(info.value) and "password (the bearer token)" in str(info.value)
    assert "line break" in str(info.value) and "t0ken" not in str(info.value)


def test_bearer_without_token_is_an_error():
    with pytest.raises(ValueError, match="bearer"):
        settings_from_connection("c2", host="http://h", extra={"auth_type": "bearer"})


def test_form_field_prefix_and_blank_fields_are_understood():
    settings = settings_from_connection(
        "c3", host="http://h", extra={"extra__httsleep__timeout": 5, "extra__httsleep__verify": ""}
    )
    assert settings.timeout == 5.0
    assert settings.verify is None


@pytest.mark.parametrize(
    ("form", "written"),
    [
        ({"verify": "false"}, {"verify": False}),
        ({"verify": "true"}, {"verify": True}),
        ({"verify": None, "ca_bundle": "/ca.pem"}, {"verify": "/ca.pem"}),
        ({"verify": "true", "ca_bundle": "/ca.pem"}, {"verify": "/ca.pem"}),
        ({"timeout": "[3.05, 30]"}, {"timeout": [3.05, 30]}),
        ({"timeout": "12"}, {"timeout": 12}),
        ({"headers": '{"X-Api-Key": "k"}'}, {"headers": {"X-Api-Key": "k"}}),
        ({"proxies": '{"https": "http://p:3128"}'}, {"proxies": {"https": "http://p:3128"}}),
        ({"cert": '["c.pem", "k.pem"]'}, {"cert": ["c.pem", "k.pem"]}),
        ({"auth_type": None, "timeout": None, "verify": None}, {}),
    ],
)
def test_form_values_mean_what_the_same_json_means(form, written):
    """The connection form's values (text fields in Airflow 3.1, typed ones later, empty ones
    as null) and hand-written JSON go through one rule."""
    from_form = settings_from_connection("f", host="http://h", extra=form)
    by_hand = settings_from_connection("f", host="http://h", extra=json.dumps(written))
    assert repr(from_form) == repr(by_hand)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"verify": "false", "ca_bundle": "/ca.pem"}, "'verify' is false but 'ca_bundle' is set"),
        ({"verify": "/a.pem", "ca_bundle": "/b.pem"}, "two CA bundles"),
        ({"timeout": "soon"}, "extra 'timeout' is not seconds or [connect, read] (Expecting"),
        ({"timeout": '["1", 2]'}, "extra 'timeout' must be seconds or [connect, read] seconds"),
        ({"headers": "{X-Api-Key: k}"}, "extra 'headers' is not valid JSON"),
        ({"timeout": "[1, 2, 3]"}, "timeout"),
    ],
)
def test_contradictory_or_garbled_form_values_are_clear_errors(extra, needle):
    with pytest.raises(ValueError) as info:
        settings_from_connection("c4", host="http://h", extra=extra)
    assert needle in str(info.value)


def test_test_connection(monkeypatch, server: ScriptedServer):
    set_conn(monkeypatch, "testable", host=server.url())
    assert HttSleepHook("testable").test_connection()[0] is True
    server.script(Reply(status=401, body="no"))
    ok, message = HttSleepHook("testable").test_connection()
    assert not ok and "401" in message


def test_test_connection_keeps_the_credentials_within_the_origin(
    monkeypatch, server: ScriptedServer
):
    """It follows redirects as a poll does: with the credentials within the origin only."""
    set_conn(
        monkeypatch,
        "redirected",
        host=server.url(),
        login="ann",
        password="pw-basic-123",
        extra={
            "headers": {"X-Api-Key": "key-456", "X-Tenant": "tenant-789"},
            "secret_headers": ["X-Tenant"],
        },
    )
    other = ScriptedServer().start()  # another port: another origin
    try:
        other.script(OK)
        server.script(
            Reply(status=302, headers={"Location": "/moved"}),
            Reply(status=302, headers={"Location": other.url("/landing")}),
        )
        ok, message = HttSleepHook("redirected").test_connection()
    finally:
        other.stop()
    assert not ok and "redirected to another origin" in message, message  # nothing checked
    assert [r.path for r in server.received] == ["/", "/moved"]
    for own in server.received:
        assert own.headers["Authorization"].startswith("Basic ")
        assert own.headers["X-Api-Key"] == "key-456" and own.headers["X-Tenant"] == "tenant-789"
    (foreign,) = other.received
    assert foreign.path == "/landing"
    assert not {"Authorization", "X-Api-Key", "X-Tenant"} & set(foreign.headers)


DIGEST = 'Digest realm="api", nonce="abc123", qop="auth", algorithm=MD5'


def test_test_connection_answers_only_its_own_origins_digest_challenge(
    monkeypatch, server: ScriptedServer
):
    set_conn(
        monkeypatch,
        "digest",
        host=server.url(),
        login="ann",
        password="pw-digest-123",
        extra={"auth_type": "digest"},
    )
    server.script(Reply(status=401, headers={"WWW-Authenticate": DIGEST}), OK)
    ok, message = HttSleepHook("digest").test_connection()
    assert ok, message
    assert server.received[1].headers["Authorization"].startswith('Digest username="ann"')
    other = ScriptedServer().start()
    try:
        other.script(Reply(status=401, headers={"WWW-Authenticate": DIGEST}), OK)
        server.script(Reply(status=302, headers={"Location": other.url("/landing")}))
        ok, message = HttSleepHook("digest").test_connection()
    finally:
        other.stop()
    assert not ok and "401" in message and "pw-digest-123" not in message
    assert [r.headers.get("Authorization") for r in other.received] == [None]


def test_test_connection_waits_a_bounded_time_and_names_a_redirect_elsewhere(
    monkeypatch, server: ScriptedServer
):
    """The Test button waits at most ``TEST_SECONDS`` (a server that stalls held it for the
    connect and read timeouts, up to 90 s), and a base URL redirected to another origin, where
    the credentials are not sent, does not pass (its 200 checked no credential)."""
    set_conn(monkeypatch, "tested", host=server.url(), login="ann", password="pw-test-1")
    monkeypatch.setattr(HttSleepHook, "TEST_SECONDS", 0.3)
    server.script(Reply(delay=3, body={"status": "OK"}))
    ok, message = HttSleepHook("tested").test_connection()
    assert not ok and "RequestDeadlineExceeded" in message and "0.3 s" in message, message
    other = ScriptedServer().start()
    try:
        other.script(OK)
        server.script(Reply(status=302, headers={"Location": other.url("/landing")}))
        ok, message = HttSleepHook("tested").test_connection()
    finally:
        other.stop()
    assert not ok and "redirected to another origin (http://127.0.0.1:" in message, message
    assert "answered 200" in message and "pw-test-1" not in message
    assert [r.headers.get("Authorization") for r in other.received] == [None]


def test_a_test_endpoint_on_another_origin_gets_no_credentials(monkeypatch, server: ScriptedServer):
    """As ``sleeper()`` polls such a URL: a plain request."""
    other = ScriptedServer().start()
    try:
        other.script(OK)
        for test_endpoint in (other.url("/health"), server.url("/health"), "/health"):
            set_conn(
                monkeypatch,
                "probed",
                host=server.url(),
                password="tok-789",
                extra={
                    "auth_type": "bearer",
                    "headers": {"X-Api-Key": "key-456"},
                    "test_endpoint": test_endpoint,
                },
            )
            ok, message = HttSleepHook("probed").test_connection()
            assert ok and message.endswith("/health answered 200 OK"), message
    finally:
        other.stop()
    (foreign,) = other.received
    assert "Authorization" not in foreign.headers and "X-Api-Key" not in foreign.headers
    assert len(server.received) == 2  # the same origin, absolute or not
    for own in server.received:
        assert own.headers["Authorization"] == "Bearer tok-789"
        assert own.headers["X-Api-Key"] == "key-456"


def test_a_test_endpoint_of_another_kind_is_a_failed_test(monkeypatch, server: ScriptedServer):
    set_conn(
        monkeypatch,
        "bad_probe",
        host=server.url(),
        extra={"test_endpoint": "http//ann:pw-probe-1234@h/health"},
    )
    ok, message = HttSleepHook("bad_probe").test_connection()
    assert not ok and "test_endpoint" in message and "mistyped" in message
    assert "pw-probe" not in message and server.received == []


#: What a connection form's line of text may hold around a secret, mistyped or not JSON at all.
GARBLED = (
    '{"X-Api-Key": "SECRET",}',
    '{"https": "http://puser:SECRET@proxy:3128",}',
    '["SECRET",',
    '["SECRET", "k.pem"',
    '{"X-Api-Key": "SECRET"',
    '"SECRET"',
    '["SECRET", 1]',
    "SECRET",
)


@hypothesis.settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from(TEXT_JSON_KEYS),
    shape=st.sampled_from(GARBLED),
    secret=st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
)
def test_a_garbled_extra_value_is_named_never_quoted(key: str, shape: str, secret: str):
    secret = "Zq7Secret" + secret  # found in no message unless the value is quoted
    try:
        settings_from_connection(
            "c5", host="http://h", extra={key: shape.replace("SECRET", secret)}
        )
    except ConnectionConfigError as exc:
        assert f"extra {key!r}" in exc.detail, exc.detail
        assert "Zq7Secret" not in str(exc) and "Zq7Secret" not in repr(exc)
    # else a value that means something (a header value, a certificate path)


def test_the_test_button_names_a_garbled_extra_never_quotes_it(monkeypatch):
    set_conn(monkeypatch, "garbled", host="http://h", extra={"headers": '{"X-Api-Key": "k-1234",}'})
    ok, message = HttSleepHook("garbled").test_connection()
    assert not ok and "k-1234" not in message
    assert message.startswith("the connection being tested: extra 'headers' is not valid JSON (")
    assert "line 1 column 24" in message


@pytest.mark.parametrize(
    ("host", "needle"),
    [
        ("http//ann:{pw}@api.example.com", "host 'http//***@api.example.com' is a mistyped"),
        ("https:/ann:{pw}@api.example.com", "host 'https:/***@api.example.com' is a mistyped"),
        ("//ann:{pw}@api.example.com", "host '//***@api.example.com' is a scheme-relative URL"),
        ("http:///ann:{pw}@api.example.com", "host 'http:///***@api.example.com' is not an http"),
        ("http://ann:{pw}@api.example.com:port", "has a port that is not a number"),
        ("ftp://ann:{pw}@api.example.com", "host 'ftp://***@api.example.com' is not an http"),
    ],
)
def test_a_mistyped_host_is_an_error_that_never_shows_its_password(host: str, needle: str):
    """Not read as a host name (``http//ann:...`` made ``http://http//ann:...``, whose
    password no parser finds)."""
    with pytest.raises(ConnectionConfigError) as info:
        settings_from_connection("c6", host=host.format(pw="pw-host-5678"))
    assert needle in str(info.value) and "pw-host" not in str(info.value)


def test_provider_registration():
    from importlib.metadata import entry_points

    (entry,) = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.value.startswith("httsleep_airflow")
    ]
    info = entry.load()()
    assert info == get_provider_info()
    assert info["package-name"] == "httsleep-airflow"
    conn = info["connection-types"][0]
    assert conn["connection-type"] == HttSleepHook.conn_type
    assert conn["hook-class-name"] == f"{HttSleepHook.__module__}.{HttSleepHook.__name__}"
    assert HttSleepHook.get_ui_field_behaviour()["relabeling"]["host"] == "Base URL or host"


def test_providers_manager_lists_the_provider_and_connection_type():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "httsleep-airflow" in manager.providers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # .hooks moved to the task SDK's manager in 3.2
        assert "httsleep" in manager.hooks


def test_secrets_never_reach_the_task_log(
    run_dag, monkeypatch, server: ScriptedServer, capfd, caplog
):
    caplog.set_level(logging.INFO)
    set_conn(
        monkeypatch,
        "secret_jobs",
        host=server.url(),
        login="ann",
        password="pw-SECRET-1",
        extra={"headers": {"X-Api-Key": "key-SECRET-2"}},
    )
    server.script(Reply(body={"status": "RUNNING"}), OK)
    dr = run_dag(
        "secrets_masked",
        """
        HttSleepSensor(
            task_id="wait",
            endpoint="/jobs/1",
            httsleep_conn_id="secret_jobs",
            until={"json": {"status": "OK"}},
            poke_interval=0.01,
        )
        """,
    )
    assert task_states(dr) == {"wait": ("success", 1)}
    assert xcom(dr, "wait") == {"status": "OK"}
    log = capfd.readouterr().out + capfd.readouterr().err + caplog.text
    assert "poke 1: GET " in log  # the capture holds the task log
    assert "pw-SECRET-1" not in log
    assert "key-SECRET-2" not in log
    assert base64.b64encode(b"ann:pw-SECRET-1").decode() not in log


def test_what_is_handed_to_the_secrets_masker():
    headers = {"X-Api-Key": "k", "Cookie": "c", "X-Team": "data", "Authorization": ""}
    basic = settings_from_connection(
        "c", host="h", login="ann", password="pw", extra={"headers": headers}
    )
    token = base64.b64encode(b"ann:pw").decode()  # the Basic header's value, should it be echoed
    assert set(basic.secrets) == {"pw", "ann:pw", token, "k", "c"}
    bearer = settings_from_connection(
        "c", host="h", password="tok", extra={"auth_type": "bearer", "headers": headers}
    )
    assert set(bearer.secrets) == {"tok", "k", "c"}
    # a login without a password (an API key sent as the Basic user) is the credential
    login_only = settings_from_connection("c", host="h", login="sk_live_1")
    assert set(login_only.secrets) == {"sk_live_1", base64.b64encode(b"sk_live_1:").decode()}
    assert settings_from_connection("c", host="h").secrets == ()
    # A sensor's own request: user-info in an absolute endpoint, secret-looking headers.
    own = argument_secrets("http://ann:ui@h/x", {"Authorization": "Bearer t", "Accept": "json"})
    assert set(own) == {"Bearer t", "t", "ui", "ann:ui", base64.b64encode(b"ann:ui").decode()}
    assert argument_secrets("/x", None) == []
    assert argument_secrets("{{ var.value.url }}", "{{ headers }}") == []  # not rendered yet


def test_unknown_extra_fails_the_task_with_the_allowed_keys(run_dag, monkeypatch, server, caplog):
    set_conn(monkeypatch, "bad_extra", host=server.url(), extra={"token": "x"})
    dr = run_dag(
        "bad_extra",
        """
        HttSleepSensor(task_id="wait", endpoint="/j", httsleep_conn_id="bad_extra",
                       until={"status_code": 200}, poke_interval=0.01)
        """,
    )
    assert task_states(dr)["wait"][0] == "failed"
    assert server.received == []


def test_one_secret_header_name_alone_in_the_extra_is_one_name():
    settings = settings_from_connection("sh", host="http://h", extra={"secret_headers": "X-T"})
    assert settings.secret_headers == ("x-t",)
