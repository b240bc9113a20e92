"""Code written for the classic httsleep 0.3.1 runs unchanged on ours: every example of its
tutorial with the import line swapped (``import httsleep_airflow as httsleep``), its public
attributes, its positional arguments, its ``Alarm``. Where we differ on purpose, the README's
compatibility table says so, and a test here pins the difference."""

from __future__ import annotations

import datetime
import logging
import time
import warnings
from collections.abc import Iterator

import pytest
import requests
from jsonpath_rw.jsonpath import Fields
from requests import Request
from requests.exceptions import ConnectionError

import httsleep_airflow as httsleep
from httsleep_airflow import HttSleeper
from httsleep_airflow.exceptions import Alarm
from tests.scripted_server import Reply, ScriptedServer, free_port

OK = Reply(body={"status": "OK"})
RUNNING = Reply(body={"status": "RUNNING"})


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch) -> Iterator[list[float]]:
    """The classic API has no ``sleep=``: patch the clock's sleep, as a user's test would."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    yield slept


@pytest.fixture
def url(server: ScriptedServer) -> str:
    return server.url("/jobs/1")


# --- the tutorial, example by example ------------------------------------------------------------


def test_polling_with_the_defaults(server, url, no_real_sleep):
    server.script(RUNNING, RUNNING, OK)
    with pytest.warns(DeprecationWarning):  # the shorthand keywords, deprecated as they were
        response = httsleep.httsleep(url, status_code=200)
    assert isinstance(response, requests.Response) and response.status_code == 200
    server.script(Reply(status=503), Reply(status=503), OK)
    with pytest.warns(DeprecationWarning):
        httsleep.httsleep(url, status_code=200)
    assert no_real_sleep == [2, 2]  # every 2 seconds by default


def test_max_retries_exhausted_is_a_stop_iteration(server, url, no_real_sleep):
    server.script(Reply(status=503))
    with pytest.warns(DeprecationWarning), pytest.raises(StopIteration):
        httsleep.httsleep(url, status_code=200, max_retries=10, polling_interval=60)
    assert len(server.received) == 10
    assert no_real_sleep == [60] * 9  # no sleep after the last attempt (as in 0.3.1)


def test_a_request_object_polls_with_post(server, url):
    server.script(OK)
    # The tutorial writes Request(url, method="POST", ...), which requests itself has refused
    # since 1.0 (its first parameter is the method): the URL goes by name.
    req = Request(url=url, method="POST", data={"payload": "here"})
    with pytest.warns(DeprecationWarning):
        httsleep.httsleep(req, status_code=200)
    assert server.received[0].method == "POST" and server.received[0].body == b"payload=here"


def test_ignore_exceptions_keeps_polling_a_dodgy_server(server, url):
    down = f"http://127.0.0.1:{free_port()}/jobs/1"
    with pytest.warns(DeprecationWarning), pytest.raises(StopIteration):
        httsleep.httsleep(down, status_code=200, ignore_exceptions=[ConnectionError], max_retries=3)


def test_text_json_and_jsonpath(server, url):
    server.script(Reply(body="OK!"))
    with pytest.warns(DeprecationWarning):
        assert httsleep.httsleep(url, text="OK!").text == "OK!"
    server.script(OK)
    with pytest.warns(DeprecationWarning):
        httsleep.httsleep(url, json={"status": "OK"})
    server.script(RUNNING, OK)
    with pytest.warns(DeprecationWarning):
        httsleep.httsleep(url, jsonpath=[{"expression": "status", "value": "OK"}])
    server.script(RUNNING, OK)
    with pytest.warns(DeprecationWarning):
        httsleep.httsleep(url, jsonpath=[{"expression": Fields("status"), "value": "OK"}])
    assert len(server.received) == 2


def ensure_scheduled_change_in_past(response):
    data = response.json()
    last_scheduled_change = datetime.datetime.strptime(
        data["last_scheduled_change"], "%Y-%m-%d %H:%M:%S"
    )
    if last_scheduled_change < datetime.datetime.utcnow():
        return True


def test_callback(server, url):
    server.script(
        Reply(body={"last_scheduled_change": "2999-01-01 00:00:00"}),
        Reply(body={"last_scheduled_change": "2016-01-01 00:00:00"}),
    )
    with pytest.warns(DeprecationWarning):
        httsleep.httsleep(url, callback=ensure_scheduled_change_in_past)
    assert len(server.received) == 2


def test_multiple_conditions_and_until(server, url):
    server.script(Reply(body={"a": 1}), Reply(body={}))
    httsleep.httsleep(url, until={"status_code": 200, "json": {}})
    # Deliberate: a falsy value counts. The classic skipped json={} and took the first 200.
    assert len(server.received) == 2


def test_alarms(server, url):
    server.script(RUNNING, Reply(body={"status": "ERROR"}))
    with pytest.raises(Alarm) as info:
        httsleep.httsleep(
            url, until={"json": {"status": "OK"}}, alarms={"json": {"status": "ERROR"}}
        )
    e = info.value
    assert e.response.json() == {"status": "ERROR"}
    assert e.alarm == {"json": {"status": "ERROR"}}
    assert isinstance(e, httsleep.exceptions.Alarm)


def test_chaining_with_lists(server, url):
    server.script(RUNNING, Reply(body={"status": "PENDING"}))
    httsleep.httsleep(
        url,
        until=[{"json": {"status": "SUCCESS"}}, {"json": {"status": "PENDING"}}],
        alarms=[{"json": {"status": "ERROR"}}, {"json": {"status": "TIMEOUT"}}],
    )
    assert len(server.received) == 2


def is_job_really_failing(response):
    return True


def test_putting_it_all_together(server, url):
    until = {"status_code": 200, "jsonpath": [{"expression": "status", "value": "OK"}]}
    alarms = [
        {"json": {"status": "ERROR"}},
        {
            "jsonpath": [
                {"expression": "status", "value": "UNKNOWN"},
                {"expression": "owner", "value": "Chris"},
            ],
            "callback": is_job_really_failing,
        },
        {"status_code": 404},
    ]
    server.script(RUNNING, Reply(body={"status": "UNKNOWN", "owner": "Chris"}))
    with pytest.raises(Alarm) as info:
        httsleep.httsleep(url, until=until, alarms=alarms, max_retries=20)
    assert info.value.alarm is alarms[1]
    server.script(RUNNING, Reply(status=404, body="gone"))
    with pytest.raises(Alarm) as info:
        httsleep.httsleep(url, until=until, alarms=alarms, max_retries=20)
    assert info.value.alarm is alarms[2]
    server.script(RUNNING, OK)
    assert httsleep.httsleep(url, until=until, alarms=alarms, max_retries=20).json() == OK.body


# --- the classic surface -------------------------------------------------------------------------


def test_the_classic_positional_order(server, url):
    server.script(OK)
    session = requests.Session()
    sleeper = HttSleeper(
        url,
        {"status_code": 200},
        None,
        ("ann", "pw"),  # auth, the fourth positional argument
        {"X-Team": "data"},
        session,
        False,  # verify
        1,  # polling_interval
        5,  # max_retries
        [ConnectionError],
    )
    sleeper.run()
    assert server.received[0].headers["X-Team"] == "data"
    assert server.received[0].headers["Authorization"].startswith("Basic ")
    assert sleeper.session is session and sleeper.kwargs == {"verify": False}
    assert (sleeper.polling_interval, sleeper.max_retries) == (1, 5)
    assert sleeper.ignore_exceptions == (ConnectionError,)
    server.script(OK)
    httsleep.httsleep(url, {"status_code": 200}, None, ("ann", "pw"))


def test_attributes_read_back_normalised_and_validate_on_set(url):
    until = {"status_code": "200"}
    sleeper = HttSleeper(url, until)
    assert sleeper.until == [{"status_code": 200}] and until == {"status_code": "200"}
    assert sleeper.alarms == [] and sleeper.kwargs == {}
    sleeper.alarms = {"json": {"status": "ERROR"}}
    assert sleeper.alarms == [{"json": {"status": "ERROR"}}]
    sleeper.until = [{"text": "done"}]
    assert sleeper.until == [{"text": "done"}] and sleeper.alarms  # alarms kept
    with pytest.raises(ValueError, match="stauts_code"):
        sleeper.until = {"stauts_code": 200}
    sleeper.max_retries = 3
    sleeper.polling_interval = 0.5
    sleeper.ignore_exceptions = ["requests.exceptions.ConnectionError"]
    assert sleeper.ignore_exceptions == (ConnectionError,)
    with pytest.raises(ValueError, match="max_retries"):
        sleeper.max_retries = 0
    assert isinstance(sleeper.request, requests.Request) and sleeper.request.url == url
    sleeper.session = requests.Session()
    assert isinstance(sleeper.session, requests.Session)


def test_meets_condition_is_static(server, url):
    server.script(Reply(body={"status": "OK"}))
    response = requests.get(url, timeout=5)
    assert HttSleeper.meets_condition(response, {"status_code": 200, "json": {"status": "OK"}})
    assert not HttSleeper.meets_condition(response, {"status_code": 404})
    assert HttSleeper.meets_condition(response, {})


def test_empty_alarms_mean_none_and_empty_dicts_are_skipped(server, url):
    for alarms in ([], {}, [{}], None):
        server.script(OK)
        assert HttSleeper(url, {"status_code": 200}, alarms).run().status_code == 200
    server.script(Reply(body="x"), OK)
    sleeper = HttSleeper(url, [{}, {"json": {"status": "OK"}}], ignore_exceptions=[ValueError])
    sleeper.run()
    assert sleeper.until == [{"json": {"status": "OK"}}]
    for empty in ({}, [], [{}]):
        with pytest.raises(ValueError, match="until is empty"):
            HttSleeper(url, empty)


def test_numeric_strings_are_cast_with_a_warning(url):
    with pytest.warns(DeprecationWarning) as record:
        sleeper = HttSleeper(url, {"status_code": 200}, max_retries="3", polling_interval="1")
    assert sorted(str(w.message).split(":")[0] for w in record) == [
        "max_retries='3'",
        "polling_interval='1'",
    ]
    assert (sleeper.max_retries, sleeper.polling_interval) == (3, 1.0)
    with pytest.raises(ValueError, match="max_retries"):
        HttSleeper(url, {"status_code": 200}, max_retries="three")


def test_loglevel_sets_our_logger_not_the_root(url):
    root = logging.getLogger().level
    ours = logging.getLogger("httsleep_airflow")
    before = ours.level
    try:
        with pytest.warns(DeprecationWarning, match="loglevel"):
            HttSleeper(url, {"status_code": 200}, loglevel=logging.WARNING)
        assert ours.level == logging.WARNING and logging.getLogger().level == root
    finally:
        ours.setLevel(before)


def test_alarm_in_the_classic_positional_form():
    response = requests.Response()
    alarm = Alarm(response, {"status_code": 500})
    assert alarm.response is response and alarm.alarm == {"status_code": 500}
    assert alarm.mesg == "Response matched an error condition: {'status_code': 500}"
    ours = Alarm("alarm matched", response=response, alarm={"text": "x"})
    assert ours.mesg == "alarm matched" == str(ours)


def test_no_warning_for_the_modern_spelling(server, url):
    server.script(OK)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        httsleep.httsleep(url, until={"status_code": 200}, max_retries=3, polling_interval=0)


# --- the deliberate changes, one test each (the README's compatibility table) ---------------


def test_changed_fractional_intervals_are_honoured(server, url, no_real_sleep):
    server.script(RUNNING, OK)
    httsleep.httsleep(url, {"json": {"status": "OK"}}, polling_interval=0.5)
    assert no_real_sleep == [0.5]  # the classic's int() made it 0


def test_changed_a_request_times_out_by_default(url):
    assert HttSleeper(url, {"status_code": 200}).timeout == 30.0


def test_changed_an_alarm_is_never_swallowed(server, url):
    server.script(Reply(body={"status": "ERROR"}))
    with pytest.raises(Alarm):
        httsleep.httsleep(
            url, {"status_code": 599}, {"json": {"status": "ERROR"}}, ignore_exceptions=[Exception]
        )
    assert len(server.received) == 1


def test_changed_no_session_is_shared_between_unrelated_waits(server, url):
    server.script(Reply(body={"status": "OK"}, headers={"Set-Cookie": "tenant=a"}))
    httsleep.httsleep(url, {"status_code": 200})
    server.script(OK)
    httsleep.httsleep(url, {"status_code": 200})
    assert "Cookie" not in server.received[0].headers  # the classic sent tenant=a here


def test_changed_bodies_are_capped(server, url):
    from httsleep_airflow.exceptions import ResponseTooLarge

    server.script(Reply(body="x" * 5000))
    with pytest.raises(ResponseTooLarge):
        httsleep.httsleep(url, {"status_code": 200}, max_body_bytes=1000)
