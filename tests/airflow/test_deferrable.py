"""Deferrable mode: the first poke on the worker, the rest in HttSleepTrigger (dag.test() runs
triggers inline), with the same outcomes as poke mode."""

from __future__ import annotations

import asyncio
import time

import pytest

from httsleep_airflow._conditions import Rules
from httsleep_airflow.sensors.httsleep import HttSleepSensor
from httsleep_airflow.triggers.httsleep import HttSleepTrigger
from tests.airflow.callbacks import job_done
from tests.airflow.conftest import sensor_source, task_states, xcom
from tests.scripted_server import Reply, ScriptedServer

RUNNING = Reply(body={"status": "RUNNING"})
OK = Reply(body={"status": "OK", "result": {"url": "s3://results/9"}})
UNTIL = '{"jsonpath": [{"expression": "status", "value": "OK"}]}'


def sensor(server: ScriptedServer, **extra: str) -> str:
    args = {
        "task_id": '"wait"',
        "endpoint": f'"{server.url("/jobs/9")}"',
        "until": UNTIL,
        "poke_interval": "0.05",
        "retries": "2",
        "retry_delay": "0",
        "deferrable": "True",
    }
    return sensor_source(**{**args, **extra})


def test_deferred_success_pushes_the_xcom(run_dag, server: ScriptedServer, capfd):
    server.script(RUNNING, RUNNING, OK)
    dr = run_dag("def_success", sensor(server, xcom_jsonpath='"result.url"', max_retries="5"))
    assert task_states(dr) == {"wait": ("success", 1)}
    assert xcom(dr, "wait") == "s3://results/9"
    assert len(server.received) == 3
    out = capfd.readouterr()
    log = out.out + out.err
    assert "poke 1/5" in log and "poke 3/5" in log and "met" in log


def test_the_trigger_goes_on_from_the_workers_line(run_dag, server: ScriptedServer, capfd):
    """Poke 1 (the worker) is the wait's first line; the trigger's first poll finds the same
    and is a repeat, not a second first line; a change after it is shown, with the count."""
    server.script(RUNNING, RUNNING, Reply(body={"status": "QUEUED"}), OK)
    dr = run_dag("def_follows", sensor(server, max_retries="5"))
    assert task_states(dr) == {"wait": ("success", 1)}
    assert len(server.received) == 4
    out = capfd.readouterr()
    log = out.out + out.err
    assert "poke 1/5" in log and "poke 4/5" in log
    assert "poke 2/5" not in log  # DEBUG: what poke 1 showed
    assert '(got "QUEUED") [1 poke not shown: as before]' in log


def test_met_on_the_first_poke_never_defers(run_dag, server: ScriptedServer):
    server.script(OK)
    dr = run_dag("def_first", sensor(server))
    assert task_states(dr) == {"wait": ("success", 1)}
    assert xcom(dr, "wait")["status"] == "OK"
    assert len(server.received) == 1


def test_deferred_alarm_fails_without_retries(run_dag, server: ScriptedServer):
    server.script(RUNNING, RUNNING, Reply(body={"status": "ERROR"}))
    dr = run_dag("def_alarm", sensor(server, alarms='{"json": {"status": "ERROR"}}'))
    assert task_states(dr) == {"wait": ("failed", 1)}
    assert len(server.received) == 3


def test_exhausted_after_exactly_max_retries_in_total(run_dag, server: ScriptedServer):
    server.script(RUNNING)
    dr = run_dag("def_exhausted", sensor(server, max_retries="4"))
    assert task_states(dr) == {"wait": ("failed", 1)}
    assert len(server.received) == 4  # 1 on the worker + 3 in the trigger


def test_soft_fail_skips_when_exhausted(run_dag, server: ScriptedServer):
    server.script(RUNNING)
    dr = run_dag("def_soft", sensor(server, max_retries="2", soft_fail="True"))
    assert task_states(dr) == {"wait": ("skipped", 1)}
    assert len(server.received) == 2


def test_trigger_bounds_itself_by_the_sensor_timeout(run_dag, server: ScriptedServer):
    server.script(RUNNING)
    dr = run_dag("def_deadline", sensor(server, timeout="0.5", poke_interval="0.1"))
    assert task_states(dr) == {"wait": ("failed", 1)}
    assert 2 <= len(server.received) <= 10


def test_request_error_in_the_trigger_uses_the_retries(run_dag, server: ScriptedServer):
    server.script(RUNNING, Reply(drop=True))
    dr = run_dag("def_error", sensor(server, max_retries="5"))
    assert task_states(dr) == {"wait": ("failed", 3)}


@pytest.mark.parametrize(
    "callback", ["job_done", '"tests.airflow.callbacks.job_done"'], ids=["function", "dotted"]
)
def test_callback_runs_in_the_trigger(run_dag, server: ScriptedServer, callback):
    server.script(RUNNING, OK)
    dag_id = f"def_callback_{'dotted' if '.' in callback else 'function'}"
    body = "from tests.airflow.callbacks import job_done\n" + sensor(
        server, until=f'{{"callback": {callback}}}'
    )
    dr = run_dag(dag_id, body)
    assert task_states(dr) == {"wait": ("success", 1)}
    assert len(server.received) == 2


def test_lambda_is_rejected_at_construction_naming_the_task():
    with pytest.raises(ValueError, match=r"'wait_lambda'.*callback.*dotted path"):
        HttSleepSensor(
            task_id="wait_lambda",
            endpoint="/jobs/1",
            until={"callback": lambda response: True},
            deferrable=True,
        )


def test_closure_exception_class_is_rejected_when_deferrable():
    class LocalError(Exception):
        pass

    with pytest.raises(ValueError, match=r"'wait_local'.*LocalError"):
        HttSleepSensor(
            task_id="wait_local",
            endpoint="/jobs/1",
            until={"status_code": 200},
            ignore_exceptions=[LocalError],
            deferrable=True,
        )


def make_trigger(server: ScriptedServer, **extra) -> HttSleepTrigger:
    from jsonpath_rw.jsonpath import Fields

    sensor = HttSleepSensor(
        task_id="t",
        endpoint=server.url("/jobs/9"),
        until=[
            {"jsonpath": [{"expression": Fields("status"), "value": "OK"}]},
            {"callback": job_done},
        ],
        alarms={"status_code": 404},
        ignore_exceptions=[ValueError, "requests.exceptions.ConnectionError"],
        poke_interval=0.01,
        max_retries=6,
        request_timeout=(3, 7),
        deferrable=True,
    )
    rules = Rules(sensor.until, sensor.alarms)
    return sensor._trigger(rules, attempts_made=1, deadline=time.time() + 3600, **extra)


async def collect(trigger: HttSleepTrigger) -> list:
    return [event async for event in trigger.run()]


def test_serialize_is_plain_data_and_round_trips(server: ScriptedServer):
    import json

    trigger = make_trigger(server)
    path, kwargs = trigger.serialize()
    assert path == "httsleep_airflow.triggers.httsleep.HttSleepTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain data only
    assert kwargs["conditions"]["until"][0] == {
        "jsonpath": [{"expression": "status", "value": "OK"}]
    }
    assert kwargs["conditions"]["until"][1] == {"callback": "tests.airflow.callbacks.job_done"}
    assert kwargs["ignore_exceptions"] == [
        "builtins.ValueError",
        "requests.exceptions.ConnectionError",
    ]
    rebuilt = type(trigger)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    for candidate in (trigger, rebuilt):
        server.script(RUNNING, Reply(body="not json"), OK)
        (event,) = asyncio.run(collect(candidate))
        assert event.payload == {"status": "success", "xcom": OK.body}
        assert len(server.received) == 3


def test_no_secret_travels_in_the_trigger(monkeypatch, server: ScriptedServer):
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_SECRET_TRIGGER",
        json.dumps({"conn_type": "httsleep", "host": server.url(), "password": "pw-XYZ-7"}),
    )
    sensor = HttSleepSensor(
        task_id="t",
        endpoint="/jobs/1",
        httsleep_conn_id="secret_trigger",
        until={"status_code": 200},
        deferrable=True,
    )
    rules = Rules(sensor.until, sensor.alarms)
    _, kwargs = sensor._trigger(rules, attempts_made=1, deadline=time.time() + 3600).serialize()
    assert "pw-XYZ-7" not in json.dumps(kwargs)
    assert kwargs["httsleep_conn_id"] == "secret_trigger"


@pytest.mark.parametrize(
    "body",
    [
        {"json_body": {"grant": "client", "client_secret": "cs-XYZ-7", "auth": {"pin": 97531}}},
        {"data": {"grant": "client", "password": "pw-XYZ-7"}},
        {"data": "grant=client&password=pw-XYZ-7"},
        {"data": b'{"grant": "client", "password": "pw-XYZ-7"}'},
    ],
)
def test_a_bodys_secrets_travel_sealed_and_are_sent_as_given(server: ScriptedServer, body):
    """A POST body's secret-looking fields were in the trigger's kwargs and its repr, in clear;
    the triggerer must still send the body as the worker would."""
    import json

    sensor = HttSleepSensor(
        task_id="t",
        endpoint=server.url("/token"),
        method="POST",
        until={"status_code": 200},
        poke_interval=0.1,
        deferrable=True,
        **body,
    )
    trigger = sensor._trigger(Rules(sensor.until, None), attempts_made=1, deadline=time.time() + 60)
    _, kwargs = trigger.serialize()
    shown = json.dumps(kwargs) + repr(trigger)
    assert "XYZ" not in shown and "97531" not in shown and "grant" in shown
    asyncio.run(_events(trigger))
    sent = server.received[-1].body
    sensor._sleeper = sensor._build_sleeper()  # what poke mode sends
    sensor._sleeper.send_once()
    assert sent == server.received[-1].body and b"XYZ" in sent


async def _events(trigger: HttSleepTrigger) -> list[object]:
    return [event async for event in trigger.run()]


def test_connection_is_read_in_the_triggerer(monkeypatch, server: ScriptedServer):
    import base64
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIGGER_CONN",
        json.dumps(
            {
                "conn_type": "httsleep",
                "host": server.url("/api"),
                "login": "u",
                "password": "p",
                "extra": {"headers": {"X-Team": "data"}},
            }
        ),
    )
    trigger = HttSleepTrigger(
        endpoint="jobs/1",
        httsleep_conn_id="trigger_conn",
        conditions={"until": {"status_code": 200}, "alarms": None},
        polling_interval=0,
    )
    server.script(OK)
    (event,) = asyncio.run(collect(trigger))
    assert event.payload["status"] == "success"
    received = server.received[0]
    assert received.path == "/api/jobs/1"
    assert received.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert received.headers["X-Team"] == "data"


def test_cancellation_closes_the_session(server: ScriptedServer):
    trigger = make_trigger(server)
    made = []
    real = trigger.sleeper

    def spy(*args):
        made.append(real(*args))
        return made[-1]

    trigger.sleeper = spy  # type: ignore[method-assign]
    server.script(RUNNING)

    async def main() -> None:
        task = asyncio.ensure_future(collect(trigger))
        while len(server.received) < 2:
            await asyncio.sleep(0.01)
        session = made[0].session
        assert not session.closed
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert session.closed

    asyncio.run(main())


def test_secrets_never_reach_trigger_logs_events_or_xcom(run_dag, monkeypatch, server, capfd):
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_SECRET_DEFERRED",
        json.dumps(
            {
                "conn_type": "httsleep",
                "host": server.url(),
                "password": "tok-SECRET-3",
                "extra": {"auth_type": "bearer", "headers": {"X-Api-Key": "key-SECRET-4"}},
            }
        ),
    )
    server.script(RUNNING, RUNNING, Reply(body={"status": "OK", "echo": "fine"}))
    dr = run_dag(
        "def_secrets",
        """
        HttSleepSensor(
            task_id="wait",
            endpoint="/jobs/1",
            httsleep_conn_id="secret_deferred",
            until={"json": {"status": "OK", "echo": "fine"}},
            poke_interval=0.05,
            deferrable=True,
        )
        """,
    )
    assert task_states(dr) == {"wait": ("success", 1)}
    assert server.received[-1].headers["Authorization"] == "Bearer tok-SECRET-3"  # sent...
    out = capfd.readouterr()
    log = out.out + out.err
    assert "poke 3: GET" in log  # ...the trigger's own log lines are in the capture...
    for secret in ("tok-SECRET-3", "key-SECRET-4"):
        assert secret not in log  # ...but never the secrets
        assert secret not in json.dumps(xcom(dr, "wait"))


def test_triggers_share_their_class_logger_and_keep_its_name(server: ScriptedServer, capfd):
    """A waiting trigger holds no logger of its own (thousands wait in one triggerer, which
    routes each line by the trigger_id in its context); the lines keep the class's name."""
    triggers = [make_trigger(server), make_trigger(server)]
    server.script(RUNNING, OK, RUNNING, OK)

    async def main() -> list[list]:
        return [await collect(trigger) for trigger in triggers]

    for (event,) in asyncio.run(main()):
        assert event.payload["status"] == "success"
    out = capfd.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if "/6: GET" in line]
    assert len(lines) == 4, lines  # each trigger's two polls
    assert all("httsleep_airflow.triggers.httsleep.HttSleepTrigger" in line for line in lines)
    assert all("_log" not in vars(trigger) for trigger in triggers)


class _OwnTrigger(HttSleepTrigger):
    pass


class _NamedTrigger(HttSleepTrigger):
    _logger_name = "my.company.waits"


def test_a_subclass_logs_under_its_own_name_whichever_class_polled_first(server, capfd):
    """One logger per class: a subclass's lines keep the name Airflow gives it (its own, or its
    ``_logger_name``), though the base class made its logger first."""
    base = make_trigger(server)
    _, kwargs = base.serialize()
    triggers = [base, _OwnTrigger(**kwargs), _NamedTrigger(**kwargs)]
    server.script(OK, OK, OK)

    async def main() -> None:
        for trigger in triggers:
            (event,) = await collect(trigger)
            assert event.payload["status"] == "success"

    asyncio.run(main())
    out = capfd.readouterr()
    names = [
        line.rsplit("[", 1)[1].split("]")[0]
        for line in (out.out + out.err).splitlines()
        if "/6: GET" in line
    ]
    assert names == [
        "httsleep_airflow.triggers.httsleep.HttSleepTrigger",
        "tests.airflow.test_deferrable._OwnTrigger",
        "my.company.waits",
    ]


def test_airflows_deferral_timeout_is_a_backstop_past_the_triggers_own(server: ScriptedServer):
    """The trigger ends the wait at the sensor's timeout with the message of every mode;
    Airflow's deferral timeout (its scheduler looks every 15 s) comes later, for a trigger that
    never ran, so that it does not end some waits first with a message of its own."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from httsleep_airflow.sensors.httsleep import DEFERRAL_SLACK

    server.script(RUNNING)
    sensor = HttSleepSensor(
        task_id="t",
        endpoint=server.url("/jobs/1"),
        until={"status_code": 299},
        timeout=600,
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"task_reschedule_count": 0})
    trigger = deferred.value.trigger
    left = trigger.deadline - time.time()
    assert 590 < left <= 600
    assert deferred.value.timeout.total_seconds() == pytest.approx(left + DEFERRAL_SLACK, abs=2)
