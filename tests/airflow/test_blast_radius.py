"""One bad sensor never hurts another: the trigger never raises out of ``__init__`` or ``run()``
and ends with exactly one event naming the task's problem; mistakes that can be seen at DAG
parse time are errors there; a misconfigured connection fails the task at once."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httsleep_airflow._conditions import shown
from httsleep_airflow.exceptions import InterruptInThread
from httsleep_airflow.hooks import httsleep as hooks
from httsleep_airflow.sensors.httsleep import HttSleepSensor
from httsleep_airflow.triggers.httsleep import HttSleepTrigger
from tests.airflow.conftest import sensor_source, task_states
from tests.scripted_server import Reply, ScriptedServer

RUNNING = Reply(body={"status": "RUNNING"})
OK = Reply(body={"status": "OK"})
UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}


def events_of(trigger: HttSleepTrigger) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(main())


def trigger_for(server: ScriptedServer, **kwargs: Any) -> HttSleepTrigger:
    args: dict[str, Any] = {
        "endpoint": server.url("/jobs/1"),
        "conditions": {"until": UNTIL, "alarms": None},
        "polling_interval": 0,
        "max_retries": 5,
    }
    return HttSleepTrigger(**{**args, **kwargs})


def raises_in_callback(response: Any) -> bool:
    raise RuntimeError(f"cannot judge {response.text}")


# Each failure kind the triggerer can meet: (trigger arguments, server script, fatal, message).
FAILURES: dict[str, tuple[dict[str, Any], list[Reply], bool, str]] = {
    "unimportable callback": (
        {"conditions": {"until": {"callback": "checks_mod_nowhere.job_is_done"}}},
        [OK],
        True,
        "cannot be imported",
    ),
    "unimportable exception class": (
        {"ignore_exceptions": ["nowhere_mod.Flaky"]},
        [OK],
        True,
        "nowhere_mod.Flaky",
    ),
    "condition that no longer validates": (
        {"conditions": {"until": {"stauts_code": 200}}},
        [OK],
        True,
        "unknown condition key 'stauts_code'",
    ),
    "conditions that are not an object": ({"conditions": "garbage"}, [OK], True, "conditions"),
    "a polling option that does not validate": (
        {"polling_interval": "soon"},
        [OK],
        True,
        "polling_interval",
    ),
    "sealed secrets that do not decrypt": ({"sealed": "not-a-token"}, [OK], True, "fernet_key"),
    "missing connection": (
        {"endpoint": "jobs/1", "httsleep_conn_id": "missing_in_triggerer"},
        [OK],
        False,
        "connection 'missing_in_triggerer' could not be read",
    ),
    "misconfigured connection": (
        {"endpoint": "jobs/1", "httsleep_conn_id": "broken_extra"},
        [OK],
        True,
        "unknown extra key 'X-Api-Key'",
    ),
    "a body that breaks the JSON decoder": (
        {},
        [Reply(body=b"[" * 200_000 + b"]" * 200_000)],
        False,
        "",
    ),
    "a body that is not JSON": ({}, [Reply(body="<html>down</html>")], False, "JSONDecodeError"),
    "a callback that raises": (
        {"conditions": {"until": {"callback": f"{__name__}.raises_in_callback"}}},
        [Reply(body={"status": "RUNNING"})],
        False,
        "cannot judge",
    ),
    "an xcom value that cannot be taken": (
        {"xcom_jsonpath": "result.url"},
        [Reply(body=b"[" * 200_000 + b"]" * 200_000)],
        False,
        "",
    ),
}


@pytest.mark.parametrize("kind", FAILURES)
def test_every_failure_in_the_triggerer_is_exactly_one_error_event(
    kind: str, server: ScriptedServer, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BROKEN_EXTRA",
        json.dumps({"conn_type": "httsleep", "host": server.url(), "extra": {"X-Api-Key": "k"}}),
    )
    kwargs, replies, fatal, needle = FAILURES[kind]
    if kind == "an xcom value that cannot be taken":
        kwargs = {**kwargs, "conditions": {"until": {"status_code": 200}}}
    server.script(*replies)
    trigger = trigger_for(server, **kwargs)  # construction never raises
    repr(trigger)  # nor does the repr the triggerer logs
    events = events_of(trigger)
    assert len(events) == 1, events
    (event,) = events
    if "payload_error" in event:  # the XCom step reports its own failure
        assert event["status"] == "success"
        return
    assert event["status"] == "error", event
    assert event["fatal"] is fatal
    assert needle in f"{event['error_type']}: {event['message']}", event


def test_construction_with_garbage_never_raises():
    trigger = HttSleepTrigger(endpoint=None, conditions=None, headers=5, request_timeout="x")  # type: ignore[arg-type]
    (event,) = events_of(trigger)
    assert event["status"] == "error" and event["fatal"] is True


def test_an_unexpected_exception_is_an_event_too(server: ScriptedServer, monkeypatch):
    from httsleep_airflow import _async

    async def explode(self: Any, **options: Any) -> Any:
        raise KeyError("something nobody expected")

    monkeypatch.setattr(_async.AsyncHttSleeper, "run", explode)
    (event,) = events_of(trigger_for(server))
    assert event["status"] == "error" and event["fatal"] is False
    assert event["error_type"] == "builtins.KeyError"
    assert "something nobody expected" in event["message"]


def test_a_broken_trigger_does_not_disturb_its_neighbours(server: ScriptedServer):
    """Many triggers on one loop, as in the triggerer: the broken ones end with their own
    event, the healthy ones poll to the end exactly as they would alone."""
    server.script(RUNNING, RUNNING, OK)  # the healthy ones see RUNNING, RUNNING, OK... shared

    async def main() -> list[list[dict[str, Any]]]:
        triggers = [
            trigger_for(server, polling_interval=0.01),
            trigger_for(server, conditions={"until": {"callback": "nowhere.fn"}}),
            trigger_for(
                server, conditions={"until": {"callback": f"{__name__}.raises_in_callback"}}
            ),
            trigger_for(server, polling_interval=0.01),
        ]

        async def collect(trigger: HttSleepTrigger) -> list[dict[str, Any]]:
            return [event.payload async for event in trigger.run()]

        return await asyncio.gather(*(collect(t) for t in triggers))

    healthy_a, unimportable, raising, healthy_b = asyncio.run(main())
    assert [e["status"] for e in healthy_a] == ["success"]
    assert [e["status"] for e in healthy_b] == ["success"]
    assert [(e["status"], e["fatal"]) for e in unimportable] == [("error", True)]
    assert [(e["status"], e["fatal"]) for e in raising] == [("error", False)]


# --- the sensor turns a fatal event into a failure at once ------------------------------------


def test_a_fatal_event_fails_the_task_at_once_with_its_message():
    from airflow.providers.common.compat.sdk import AirflowFailException

    from httsleep_airflow.exceptions import HttSleepError

    sensor = HttSleepSensor(task_id="wait", endpoint="/jobs/1", until={"status_code": 200})
    fatal = {"status": "error", "error_type": "", "message": "callback x cannot be imported"}
    with pytest.raises(AirflowFailException, match=r"wait: callback x cannot be imported"):
        sensor.execute_complete({}, {**fatal, "fatal": True})
    with pytest.raises(HttSleepError, match=r"wait: callback x"):  # retries apply
        sensor.execute_complete({}, {**fatal, "fatal": False})


# --- parse time --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    ["ftp://x", "htp://host/x", "http//host/x", "file:///etc/passwd", "//host/x", "https:/host"],
)
def test_an_endpoint_of_another_kind_is_a_parse_error(endpoint: str):
    with pytest.raises(ValueError, match=r"HttSleepSensor 'wait': endpoint .*(scheme|URL)"):
        HttSleepSensor(task_id="wait", endpoint=endpoint, until={"status_code": 200})


@pytest.mark.parametrize("endpoint", ["jobs/1", "/jobs/1?x=1", "v1/jobs/1:cancel", "jobs:1"])
def test_paths_stay_paths(endpoint: str):
    HttSleepSensor(task_id="wait", endpoint=endpoint, until={"status_code": 200})


def test_a_callback_defined_in_the_dag_file_fails_at_parse_time(run_dag, server):
    body = textwrap.dedent(
        """
        def job_is_done(response):
            return response.json()["status"] == "OK"

        """
    ) + sensor_source(
        task_id='"wait"',
        endpoint=f'"{server.url("/jobs/1")}"',
        until='{"callback": job_is_done}',
        deferrable="True",
    )
    with pytest.raises(ValueError) as info:
        run_dag("blast_dagfile_callback", body)
    message = str(info.value)
    assert "HttSleepSensor 'wait': callback" in message and "job_is_done" in message
    assert "cannot run in deferrable mode" in message and "$AIRFLOW_HOME/plugins/" in message
    assert server.received == []


def test_a_callback_beside_the_dag_file_fails_at_parse_time(run_dag, server):
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "checks_beside_dag.py").write_text("def job_is_done(response):\n    return True\n")
    sys.path.insert(0, str(folder))  # as Airflow does while it parses
    importlib.invalidate_caches()
    try:
        for until in ('{"callback": "checks_beside_dag.job_is_done"}', '{"callback": job_is_done}'):
            body = "from checks_beside_dag import job_is_done\n" + sensor_source(
                task_id='"wait"',
                endpoint=f'"{server.url("/jobs/1")}"',
                until=until,
                deferrable="True",
            )
            with pytest.raises(ValueError, match=r"'checks_beside_dag' lies in the DAG folder"):
                run_dag("blast_beside_callback", body)
    finally:
        sys.path.remove(str(folder))


PLUGIN = """
import requests


def job_is_done(response: requests.Response) -> bool:
    return response.json()["status"] == "OK"


class Flaky(Exception):
    pass
"""


@pytest.fixture
def plugin_module() -> str:
    """A callback module in ``$AIRFLOW_HOME/plugins`` (on the triggerer's path), executed twice
    as Airflow's plugins manager does: a new module object replaces the one a DAG imported."""
    folder = Path(os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "httsleep_plugin_checks.py").write_text(PLUGIN)
    importlib.invalidate_caches()
    return "httsleep_plugin_checks"


@pytest.mark.parametrize(
    "mode", ['mode="poke"', 'mode="reschedule"', "deferrable=True"], ids=["poke", "resched", "def"]
)
def test_a_plugins_folder_callback_works_in_every_mode(run_dag, server, plugin_module, mode):
    server.script(RUNNING, OK)
    body = f"from {plugin_module} import job_is_done, Flaky\n" + sensor_source(
        task_id='"wait"',
        endpoint=f'"{server.url("/jobs/1")}"',
        until='{"callback": job_is_done}',
        ignore_exceptions="[Flaky]",
        poke_interval="0.05",
        **dict([mode.split("=")]),
    )
    # The plugins manager runs the plugin file again: the DAG's function is no longer the
    # object its dotted path resolves to, but it is the same definition.
    sys.modules.pop(plugin_module, None)
    dag_id = f"blast_plugin_{mode.split('=')[1].strip(chr(34)).lower()}"
    dr = run_dag(dag_id, body)
    assert task_states(dr) == {"wait": ("success", 1)}
    assert len(server.received) == 2


# --- a misconfigured connection fails the task at once; one that cannot be read retries -------


@pytest.mark.parametrize(
    ("conn", "needle"),
    [
        ({"host": "HOST", "extra": "{not json"}, "extra is not valid JSON"),
        ({"host": "HOST", "extra": {"X-Api-Key": "k"}}, "unknown extra key 'X-Api-Key'"),
        ({"host": "", "extra": {}}, "host is empty"),
        ({"host": "HOST", "extra": {"auth_type": "kerberos"}}, "'auth_type' must be one of"),
    ],
    ids=["bad-json", "unknown-key", "empty-host", "auth-type"],
)
@pytest.mark.parametrize("deferrable", ["False", "True"], ids=["poke", "deferrable"])
def test_a_misconfigured_connection_fails_at_once(
    run_dag, server, monkeypatch, capfd, conn, needle, deferrable
):
    fields = {k: (server.url() if v == "HOST" else v) for k, v in conn.items()}
    if isinstance(fields.get("extra"), dict):
        fields["extra"] = json.dumps(fields["extra"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_MISCONFIGURED", json.dumps({"conn_type": "httsleep", **fields})
    )
    body = sensor_source(
        task_id='"wait"',
        endpoint='"jobs/1"',
        httsleep_conn_id='"misconfigured"',
        until='{"status_code": 200}',
        retries="3",
        retry_delay="0",
        deferrable=deferrable,
    )
    dag_id = f"blast_conn_{abs(hash((needle, deferrable))) % 10**8}"
    dr = run_dag(dag_id, body)
    assert task_states(dr) == {"wait": ("failed", 1)}  # no retry: it would fail the same way
    out = capfd.readouterr()
    log = out.out + out.err
    assert "connection 'misconfigured'" in log and needle in log
    assert server.received == []


def test_a_connection_that_cannot_be_read_uses_the_retries(run_dag, server):
    body = sensor_source(
        task_id='"wait"',
        endpoint='"jobs/1"',
        httsleep_conn_id='"never_defined"',
        until='{"status_code": 200}',
        retries="1",
        retry_delay="0",
    )
    dr = run_dag("blast_conn_missing", body)
    assert task_states(dr) == {"wait": ("failed", 2)}


def test_airflow_dags_test_rejects_a_dag_file_callback_at_parse_time(tmp_path, server):
    """The command a user runs: ``airflow dags test`` imports the DAG file under Airflow's own
    generated module name; the sensor refuses the callback there, before any request."""
    import subprocess

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "cli_callback_dag.py").write_text(
        textwrap.dedent(
            f"""
            import pendulum
            from airflow.sdk import DAG
            from httsleep_airflow.sensors.httsleep import HttSleepSensor


            def job_is_done(response):
                return response.json()["status"] == "OK"


            with DAG("cli_callback_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
                HttSleepSensor(
                    task_id="wait",
                    endpoint="{server.url("/jobs/1")}",
                    until={{"callback": job_is_done}},
                    deferrable=True,
                )
            """
        )
    )
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "dags", "test", "cli_callback_dag"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "HttSleepSensor 'wait': callback cli_callback_dag.py:job_is_done cannot run in " in output
    )
    assert "Move it to a module in $AIRFLOW_HOME/plugins/" in output
    assert server.received == []


# --- callbacks that exit or cannot be printed, kwargs of another version ------------------------


def exits(response: Any) -> bool:
    raise SystemExit(response)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def raises_unprintable(response: Any) -> bool:
    raise Unprintable()


@pytest.mark.parametrize("callback", ["exits", "raises_unprintable", "sys.exit"])
def test_a_callback_that_exits_or_cannot_be_printed_is_one_event(server, callback):
    path = callback if "." in callback else f"{__name__}.{callback}"
    server.script(OK)

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        broken = trigger_for(server, conditions={"until": {"callback": path}})
        healthy = trigger_for(server, conditions={"until": {"status_code": 200}})

        async def collect(trigger: HttSleepTrigger) -> list[dict[str, Any]]:
            return [event.payload async for event in trigger.run()]

        return await asyncio.gather(collect(broken), collect(healthy))

    broken_events, healthy_events = asyncio.run(main())
    assert [(e["status"], e["fatal"]) for e in broken_events] == [("error", False)]
    assert [e["status"] for e in healthy_events] == ["success"]


def interrupts(response: Any) -> bool:
    raise KeyboardInterrupt("ctrl-c")


def ends_a_generator(response: Any) -> bool:
    raise GeneratorExit("closed")


def cancels(response: Any) -> bool:
    raise asyncio.CancelledError("cancel me")


def cancels_a_future(response: Any) -> bool:
    import concurrent.futures

    raise concurrent.futures.CancelledError()


def stops(response: Any) -> bool:
    raise StopIteration("no more")


class LoudInterrupt(KeyboardInterrupt):
    def __str__(self) -> str:
        raise KeyboardInterrupt("from __str__")


def interrupts_loudly(response: Any) -> bool:
    raise LoudInterrupt()


@pytest.mark.parametrize(
    ("callback", "raised"),
    [
        ("interrupts", "builtins.KeyboardInterrupt raised in a worker thread: ctrl-c"),
        ("ends_a_generator", "builtins.GeneratorExit raised in a worker thread: closed"),
        ("cancels", "asyncio.exceptions.CancelledError raised in a worker thread: cancel me"),
        ("cancels_a_future", "concurrent.futures._base.CancelledError raised in a worker thread;"),
        ("stops", "builtins.StopIteration raised in a worker thread: no more"),
        ("interrupts_loudly", f"{__name__}.LoudInterrupt raised in a worker thread;"),
    ],
)
def test_a_callback_raising_what_ends_a_loop_or_a_task_ends_only_its_wait(
    server: ScriptedServer, callback: str, raised: str
):
    """Raised in a worker thread, these would stop the event loop (``KeyboardInterrupt``), pass
    for a cancellation of the trigger (no event: the task waits until its deferral times out),
    or never reach it (a future cannot hold ``StopIteration``): each is one error event, the
    triggers beside it unharmed, and the task fails with it."""
    server.script(OK)

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        broken = trigger_for(server, conditions={"until": {"callback": f"{__name__}.{callback}"}})
        healthy = trigger_for(server, conditions={"until": {"status_code": 200}})

        async def collect(trigger: HttSleepTrigger) -> list[dict[str, Any]]:
            return [event.payload async for event in trigger.run()]

        return await asyncio.wait_for(asyncio.gather(collect(broken), collect(healthy)), 30)

    broken_events, healthy_events = asyncio.run(main())
    (event,) = broken_events
    assert event["error_type"] == "httsleep_airflow.exceptions.InterruptInThread", event
    assert event["message"].startswith(raised), event
    assert [e["status"] for e in healthy_events] == ["success"]
    sensor = HttSleepSensor(task_id="wait", endpoint="/jobs/1", until={"status_code": 200})
    with pytest.raises(InterruptInThread, match="raised in a worker thread"):
        sensor.execute_complete({}, event)


def test_kwargs_of_another_version_are_one_fatal_event(server):
    trigger = HttSleepTrigger(conditions={"until": {"status_code": 200}}, retry_after_cap=60)  # type: ignore[call-arg]
    (event,) = events_of(trigger)
    assert event["fatal"] is True and "retry_after_cap" in event["message"]


@pytest.mark.parametrize("follows", [123, ["a"], {"x": 1}, "z" * 100_000, "", None])
def test_follows_is_a_hint_never_a_failure(server: ScriptedServer, follows: Any):
    """What the worker's poke found only decides a log level: any value polls as usual."""
    server.script(RUNNING, OK)
    (event,) = events_of(trigger_for(server, follows=follows))
    assert event["status"] == "success", event
    assert len(server.received) == 2


def test_a_bound_method_callback_is_a_parse_error_when_deferrable():
    class Checker:
        def is_done(self, response: Any) -> bool:
            return True

    with pytest.raises(ValueError, match=r"'wait'.*callback"):
        HttSleepSensor(
            task_id="wait",
            endpoint="/jobs/1",
            until={"callback": Checker().is_done},
            deferrable=True,
        )


def test_an_exception_class_from_main_names_the_plugins_folder():
    import types

    flaky = types.new_class("Flaky", (Exception,))
    flaky.__module__ = "__main__"
    with pytest.raises(ValueError) as info:
        HttSleepSensor(
            task_id="wait",
            endpoint="/jobs/1",
            until={"status_code": 200},
            ignore_exceptions=[flaky],
            deferrable=True,
        )
    assert "'wait'" in str(info.value) and "$AIRFLOW_HOME/plugins/" in str(info.value)


#: An argument of each kind the trigger takes, with values no sensor makes (a hand-made
#: trigger, another version's): each is a fatal event that names it, before any request.
ODD_ARGUMENTS = [
    ("method", None),
    ("params", 5),
    ("headers", "X-A: 1"),
    ("attempts_made", None),
    ("attempts_made", -1),
    ("attempts_made", True),
    ("deadline", "soon"),
    ("deadline", float("nan")),
    ("xcom_jsonpath", 5),
    ("xcom_jsonpath", "$.result["),
    ("secret_headers", "X-Tenant"),
    ("ignore_exceptions", "ValueError"),
    ("do_xcom_push", "yes"),
    ("headers", {1: "x"}),
    ("params", [1, 2]),
    ("params", b"\xff"),
    ("method", "G ET"),
    # past what Python writes as text (4,300 digits): every message of them raised ValueError
    ("max_retries", 10**5000),
    ("max_retries", 2**63),
    ("attempts_made", 10**5000),
    ("deadline", 10**5000),
    ("retry_at", -(10**5000)),
    ("conditions", {"until": {"status_code": 10**5000}}),
    ("conditions", {"until": {"json": {"id": 10**5000}}, "alarms": {"status_code": 10**5000}}),
    # thousands of steps: read by recursion, RecursionError when a body was read
    ("xcom_jsonpath", "$" + "..a" * 5000),
    ("conditions", {"until": {"jsonpath": [{"expression": "$" + ".a" * 65, "value": 1}]}}),
]


@pytest.mark.parametrize(
    ("name", "value"),
    ODD_ARGUMENTS,
    ids=[f"{name}={shown(value):.60}" for name, value in ODD_ARGUMENTS],
)
def test_an_odd_argument_is_one_fatal_event_naming_it_before_any_request(
    name: str, value: Any, server: ScriptedServer
):
    """No retry can mend an argument of the wrong kind: the task fails at once, told which."""
    trigger = trigger_for(server, **{name: value})
    (event,) = events_of(trigger)
    assert event["status"] == "error" and event["fatal"] is True, event
    named = ("until: ", "alarms: ") if name == "conditions" else (name, "make no request")
    assert any(word in event["message"] for word in named), event
    assert len(event["message"]) <= 1000
    assert server.received == []


@pytest.mark.parametrize(
    ("error_type", "raised"),
    [
        ("requests.exceptions.ReadTimeout", "ReadTimeout"),
        ("httsleep_airflow._http.RequestDeadlineExceeded", "RequestDeadlineExceeded"),
        ("httsleep_airflow._http.HeaderTooLarge", "HeaderTooLarge"),
        ("builtins.ValueError", "ValueError"),
        ("httsleep_airflow.exceptions.ResponseTooLarge", "ResponseTooLarge"),  # takes limit=
        ("json.decoder.JSONDecodeError", "JSONDecodeError"),  # takes more than a message
        ("builtins.SystemExit", "HttSleepError"),  # no Exception
        ("builtins.eval", "HttSleepError"),  # no class: never called
        ("builtins.exec", "HttSleepError"),
        ("httsleep_airflow.testing.jobapi.main", "HttSleepError"),
        ("httsleep_airflow.testing.JobAPI", "HttSleepError"),  # no module __getattr__ run
        ("httsleep_airflow.__init__.HeaderTooLarge", "HttSleepError"),  # nothing imported
        ("elsewhere.Error", "HttSleepError"),  # not a module errors come from here
        ("", "HttSleepError"),
    ],
)
def test_a_deferred_request_error_is_raised_as_poke_mode_raises_it(error_type: str, raised: str):
    """Poke mode fails a poke with the request's own error (its retries apply): a deferred
    sensor raises one of the same class and message, so that failure callbacks see the same."""
    sensor = HttSleepSensor(task_id="wait", endpoint="/jobs/1", until={"status_code": 200})
    event = {
        "status": "error",
        "error_type": error_type,
        "message": "GET x: no answer",
        "fatal": False,
    }
    with pytest.raises(Exception) as info:
        sensor.execute_complete({}, event)
    assert type(info.value).__name__ == raised
    assert "GET x: no answer" in str(info.value)


def test_a_deferred_error_holds_the_arguments_the_triggers_held(tmp_path):
    """Its plain arguments go with the event: a ``KeyError`` reads as poke mode's, and nothing
    named by an event but an exception class is ever called."""
    sensor = HttSleepSensor(task_id="wait", endpoint="/jobs/1", until={"status_code": 200})
    event = {"status": "error", "error_type": "builtins.KeyError", "message": "'missing'"}
    with pytest.raises(KeyError) as info:
        sensor.execute_complete({}, {**event, "args": ["missing"], "fatal": False})
    assert str(info.value) == str(KeyError("missing"))
    touched = tmp_path / "touched"
    code = f"__import__('pathlib').Path({str(touched)!r}).touch()"
    from httsleep_airflow.exceptions import HttSleepError

    for name in ("builtins.eval", "builtins.exec"):
        with pytest.raises(HttSleepError):
            sensor.execute_complete(
                {}, {**event, "error_type": name, "args": [code], "fatal": False}
            )
    assert not touched.exists()


def raises_with_a_lone_surrogate(response: Any) -> bool:
    raise ValueError("cannot judge \ud800 this")


@pytest.mark.parametrize(
    ("body", "conditions", "field"),
    [
        (b'{"id": "\\ud800"}', {"until": {"status_code": 200}}, "payload_error"),
        (b'{"\\udc80": 1}', {"until": {"status_code": 200}}, "payload_error"),
        (
            b'{"id": 123456789012345678901234567890}',
            {"until": {"status_code": 200}},
            "payload_error",
        ),
        (b'{"id": -9223372036854775809}', {"until": {"status_code": 200}}, "payload_error"),
        (b"{}", {"until": {"callback": f"{__name__}.raises_with_a_lone_surrogate"}}, "message"),
        (b'{"id": "a\\u0000b"}', {"until": {"status_code": 200}}, "payload_error"),
        (b'{"a\\u0000": 1}', {"until": {"status_code": 200}}, "payload_error"),
        (b"DONE\x00", {"until": {"status_code": 200}}, "payload_error"),
        (
            b"\x00\x01 gone \x00",
            {"until": {"status_code": 200}, "alarms": {"status_code": 200}},
            "message",
        ),
        (b"oops\x00", {"until": {"status_code": 201}}, "message"),
    ],
)
def test_every_event_can_be_sent_by_airflow(
    body: bytes, conditions: dict[str, Any], field: str, server: ScriptedServer
):
    """Airflow sends events as MessagePack: a lone surrogate or an integer past 64 bits in one
    ended the triggerer's runner, and every other trigger's events with it; it stores them in
    PostgreSQL's JSONB, which refuses a NUL character (the triggerer's write of the event ends
    it). The XCom value that holds one is refused, naming where; a message that holds one shows
    U+FFFD."""
    import msgspec  # what Airflow's triggerer sends its events with

    server.script(Reply(body=body))
    (event,) = events_of(trigger_for(server, conditions=conditions, max_retries=1))
    msgspec.msgpack.encode(event)
    assert field in event, event
    assert "\\u0000" not in json.dumps(event).replace("\\\\u0000", "")  # no NUL, escaped
    if field == "payload_error":
        assert "XCom cannot carry" in event["payload_error"]
    else:
        assert "\ufffd" in event["message"]


_LONG_KEY = "k" * 300_000


@pytest.mark.parametrize(
    ("body", "kwargs"),
    [
        (f'{{"status": "OK", "{_LONG_KEY}": NaN}}', {}),
        (f'{{"status": "OK", "{_LONG_KEY}": {{"a": NaN}}}}', {"xcom_jsonpath": "$"}),
        (
            f'{{"{_LONG_KEY}": {{"tok-86420-x": 1, "Bearer tok-86420-x": 2}}}}',
            {"headers": {"Authorization": "Bearer tok-86420-x"}},
        ),
        ("not json " * 40_000, {"xcom_jsonpath": "$.id"}),
        (f'{{"{_LONG_KEY}": 1}}', {"xcom_jsonpath": "$.id"}),
    ],
    ids=["NaN under a long key", "under the whole body", "two secret keys", "no JSON", "no match"],
)
def test_every_text_of_an_event_is_cut_whatever_the_server_sent(
    body: str, kwargs: dict[str, Any], server: ScriptedServer
):
    """An event's texts (a message, a payload error) are cut to ``EVENT_TEXT_LIMIT``: a path
    made of the server's keys went whole into the event (megabytes, through the triggerer's
    supervisor into the database)."""
    from httsleep_airflow._secrets import EVENT_TEXT_LIMIT

    server.script(Reply(body=body.encode(), headers={"Content-Type": "application/json"}))
    (event,) = events_of(
        trigger_for(server, conditions={"until": {"status_code": 200}}, max_retries=1, **kwargs)
    )
    texts = {key: value for key, value in event.items() if isinstance(value, str)}
    assert "payload_error" in texts, event
    assert all(len(text) <= EVENT_TEXT_LIMIT for text in texts.values()), {
        key: len(text) for key, text in texts.items()
    }
    assert "tok-86420" not in json.dumps(event)


def test_a_callbacks_module_is_imported_off_the_loop_and_its_failure_is_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
):
    """The callback's module was imported on the triggerer's loop (a slow import stalled every
    trigger), and a module that raised while imported ended with its own error, not fatal,
    without the hint: its retries were spent, and each retry imported it again on the loop."""
    (tmp_path / "broken_checks_mod.py").write_text(
        "import os, threading\n"
        "os.environ['BROKEN_CHECKS_THREAD'] = threading.current_thread().name\n"
        "raise RuntimeError('no database in the triggerer')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("BROKEN_CHECKS_THREAD", raising=False)
    server.script(OK)
    conditions = {"until": {"callback": "broken_checks_mod.job_is_done"}}
    (event,) = events_of(trigger_for(server, conditions=conditions))
    assert event["status"] == "error" and event["fatal"] is True, event
    assert "RuntimeError: no database in the triggerer" in event["message"]
    assert "plugins" in event["message"]  # where such a module must live
    assert os.environ["BROKEN_CHECKS_THREAD"] != "MainThread"  # the loop's thread
    assert not server.received  # nothing sent


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the triggers hand to Airflow's masker, in a process that has handed nothing yet."""
    import airflow.sdk.log

    handed: list[str] = []

    async def amask_secret(secret: str) -> None:
        handed.append(secret)

    monkeypatch.setattr(airflow.sdk.log, "amask_secret", amask_secret, raising=False)
    monkeypatch.setattr(airflow.sdk.log, "mask_secret", handed.append)
    monkeypatch.setattr(hooks, "_MASKED", set())
    return handed


def test_each_secret_is_handed_to_airflows_masker_once_and_never_a_long_one(handed: list[str]):
    """Airflow's masker compiles one pattern of every secret it holds at every new one, on the
    loop: the triggers handed it every encoded form of every secret, each time (100 presigned
    URLs stalled the loop 42 s, a 4 KB token 0.76 s)."""
    from httsleep_airflow.triggers import httsleep as module

    long = "t" * (hooks.MASKED_MAX_CHARS + 1)
    asyncio.run(module._mask(["sig-0123456789", b"pw-bytes-1", long, "ab"]))
    asyncio.run(module._mask(["sig-0123456789", "pw-bytes-1"]))
    assert handed == ["sig-0123456789", "pw-bytes-1"]


def test_airflows_masker_gets_a_bounded_number_of_secrets(handed: list[str]):
    """Airflow's masker compiles a pattern of every secret it holds at each new one, on the
    loop, and keeps them all: a body of 1,500 tokens held the loop a minute, and after 1,000
    per-run tokens each new trigger's held it 0.27 s. A trigger hands over its first eight,
    a process its first 64."""
    from httsleep_airflow.triggers import httsleep as module

    asyncio.run(module._mask([f"token-{i:06d}" for i in range(1_500)]))
    assert handed == [f"token-{i:06d}" for i in range(hooks.MASKED_PER_CALL)]
    for run in range(100):  # triggers of per-run tokens
        asyncio.run(module._mask([f"run-token-{run:06d}"]))
    assert len(handed) == len(hooks._MASKED) == hooks.MASKED_MAX


def test_a_body_of_many_secret_looking_values_gives_a_bounded_number_of_secrets():
    """``{"keys": [...]}`` looks secret by its name: a thousand object keys were a thousand
    secrets, each message redacted of each in all its forms (seconds of the loop a poll)."""
    from httsleep_airflow._secrets import BODY_SECRETS_MAX, body_secrets

    keys = [f"exports/part-{i:05d}.parquet" for i in range(1_000)]
    assert len(body_secrets(json_body={"keys": keys})) == BODY_SECRETS_MAX
    assert len(body_secrets(json_body={"keys": keys[:10]})) == 10
    # a credential beside them is kept, wherever it stands (it was cut when walked after them)
    for body in (
        {"client_secret": "cs-0123456789", "api_keys": keys},
        {"api_keys": keys, "client_secret": "cs-0123456789"},
        {"keys": keys, "auth": [{"password": "pw-0123456789"}], "more": [{"token": keys}]},
        {"items": [{"token": key} for key in keys], "cred": {"password": "pw-0123456789"}},
    ):
        found = body_secrets(json_body=body)
        assert len(found) == BODY_SECRETS_MAX
        assert {"cs-0123456789", "pw-0123456789"} & set(found), body


@pytest.mark.parametrize("name", ["deadline", "retry_at"])
def test_a_time_past_what_a_float_holds_is_a_clear_fatal_event(name: str, server: ScriptedServer):
    (event,) = events_of(trigger_for(server, **{name: 10**400}))
    assert event["fatal"] is True and f"{name} must be a Unix time" in event["message"], event


def _raised(make: Any) -> BaseException:
    try:
        make()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


@pytest.mark.parametrize(
    ("make", "same_class"),
    [
        (lambda: b"caf\xc3\xa9".decode("ascii"), False),  # its arguments are no plain data
        (lambda: "café".encode("ascii"), True),
        (lambda: open("/nonexistent/dir/x"), True),  # noqa: SIM115
        (lambda: compile("1 +", "<string>", "exec"), True),
        (lambda: {}["missing"], True),
        (lambda: int("x"), True),
        (lambda: requests.get("http://127.0.0.1:9/", timeout=1), True),
    ],
)
def test_a_deferred_error_says_what_poke_modes_says(make: Any, same_class: bool):
    """The error a poke raises, sent as the trigger's event and raised again by the deferred
    sensor: of the same class and message when it can be built again so (a file's name, a
    syntax error's place included), else a plain error that still quotes the whole message,
    never one of that class with its text lost."""
    from httsleep_airflow.exceptions import HttSleepError
    from httsleep_airflow.triggers.httsleep import _error_event

    error = _raised(make)
    event = _error_event(error)
    sensor = HttSleepSensor(task_id="wait", endpoint="/jobs/1", until={"status_code": 200})
    with pytest.raises(Exception) as info:
        sensor.execute_complete({}, event)
    if same_class:
        assert type(info.value) is type(error)
        assert str(info.value) == str(error)
    else:
        assert type(info.value) is HttSleepError
        assert str(error) in str(info.value) and str(error)


# --- plain data with keys Airflow's serializer reserves ----------------------------------------

#: Keys Airflow's serializers read as their own (``__type``/``__var``: Airflow 3.1's and the old
#: form 3.3 still reads; ``__classname__``, ``__version__``, ``__data__``, ``__id__``: 3.3's),
#: and ones a JSON API may send (GraphQL's ``__typename``).
RESERVED = ["__type", "__var", "__classname__", "__version__", "__data__", "__id__", "__typename"]


def through_a_trigger_row(trigger: HttSleepTrigger) -> HttSleepTrigger:
    """The trigger as the triggerer rebuilds it: serialized, stored as Airflow stores a trigger
    row's kwargs (encrypted), read back and constructed."""
    from airflow.models.trigger import Trigger

    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("HttSleepTrigger")
    return HttSleepTrigger(**Trigger._decrypt_kwargs(Trigger.encrypt_kwargs(kwargs)))


plain_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(RESERVED) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=plain_json,
    reserved=st.dictionaries(st.sampled_from(RESERVED), plain_json, min_size=1, max_size=3),
)
def test_plain_data_with_reserved_keys_comes_back_from_a_trigger_row_as_it_was(
    value: Any, reserved: dict[str, Any]
):
    """Stored as they are, ``{"__type": "Job", "__var": "done"}`` comes back as another value,
    ``__classname__`` fails Airflow's runner (every trigger of the triggerer with it): every
    argument of plain data comes back equal."""
    document = {**reserved, "v": value}
    arguments = {
        "conditions": {
            "until": {"json": document},
            "alarms": [{"jsonpath": [{"expression": "a", "value": document}]}],
        },
        "json_body": document,
        "params": {"q": json.dumps(document)},
        "headers": {"X-A": "1"},
    }
    trigger = HttSleepTrigger(endpoint="http://127.0.0.1:9/jobs/1", **arguments)
    rebuilt = through_a_trigger_row(trigger)
    rebuilt.validate()  # reads back what went as JSON text
    assert {name: getattr(rebuilt, name) for name in arguments} == arguments
    assert rebuilt.serialize() == trigger.serialize()


def test_a_condition_with_serializer_keys_is_judged_as_written(server: ScriptedServer):
    document = {"__type": "Job", "__var": "done", "__classname__": "x", "__version__": 1}
    server.script(Reply(body=document))
    trigger = trigger_for(server, conditions={"until": {"json": document}}, do_xcom_push=False)
    (event,) = events_of(through_a_trigger_row(trigger))
    assert event == {"status": "success"}  # (such a value is no XCom: docs/reference.md)


def test_plain_data_json_cannot_write_is_an_error_when_serialized_not_in_the_triggerer():
    trigger = HttSleepTrigger(
        endpoint="http://127.0.0.1:9/jobs/1", json_body={"__type": "x", "v": {1, 2}}
    )
    with pytest.raises(ValueError, match="json_body: a key starting with '__'"):
        trigger.serialize()


@pytest.mark.parametrize(
    "carried",
    [
        {"headers": '{"X-B": "1"}'},  # given twice: as a value and as JSON text
        {"json_body": "[" * 200_000 + "]" * 200_000},  # nested past what can be read
        {"json_body": "{"},
        {"endpoint": '"http://elsewhere/"'},
        {"params": 5},
        [],
    ],
    ids=["twice", "too deep", "not JSON", "not plain data", "not text", "not an object"],
)
def test_arguments_carried_as_json_that_cannot_be_read_are_one_fatal_event(
    server: ScriptedServer, carried: Any
):
    (event,) = events_of(trigger_for(server, headers={"X-A": "1"}, as_json=carried))
    assert event["fatal"] is True and "as_json" in event["message"], event
    assert server.received == []


def test_plain_data_that_holds_itself_is_an_error_when_serialized():
    body: dict[str, Any] = {"__type": "x"}
    body["self"] = body
    trigger = HttSleepTrigger(endpoint="http://127.0.0.1:9/jobs/1", json_body=body)
    with pytest.raises(ValueError, match="json_body"):
        trigger.serialize()


def test_a_row_naming_self_is_one_fatal_event(server: ScriptedServer):
    (event,) = events_of(trigger_for(server, self="x"))
    assert event["fatal"] is True and "unknown arguments self" in event["message"], event
    assert server.received == []


# --- what other triggers' user code or size cannot take from a trigger -------------------------

gate = threading.Event()
blocked = threading.Semaphore(0)


def blocks_until_released(response: Any) -> bool:
    blocked.release()
    gate.wait(60)
    return True


def test_callbacks_that_block_every_callback_thread_hold_up_no_trigger_without_one(
    server: ScriptedServer,
):
    """A DAG's callbacks that never return hold the callbacks' threads (all of them here); a
    trigger without callbacks is rebuilt, polls and ends in the runner's own threads."""
    from httsleep_airflow._async import _POOL_SIZES

    server.script(*[OK] * (_POOL_SIZES[True] + 1))
    callback = {"callback": f"{__name__}.blocks_until_released"}

    async def main() -> list[dict[str, Any]]:
        stuck = [
            asyncio.ensure_future(collect(trigger_for(server, conditions={"until": callback})))
            for _ in range(_POOL_SIZES[True])
        ]
        try:
            for _ in stuck:  # every callback thread is held
                await asyncio.get_running_loop().run_in_executor(None, blocked.acquire, True, 30)
            healthy = trigger_for(server, conditions={"until": {"status_code": 200}})
            return await asyncio.wait_for(collect(healthy), 30)
        finally:
            gate.set()
            await asyncio.gather(*stuck)

    assert [e["status"] for e in asyncio.run(main())] == ["success"]


async def collect(trigger: HttSleepTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


@pytest.mark.parametrize(
    "arguments",
    [
        {"conditions": {"until": [{"status_code": 200 + i % 2} for i in range(3_000)]}},
        {"params": {"a": list(range(3_000))}, "conditions": {"until": {"status_code": 200}}},
        {"json_body": {"rows": ["x" * 64] * 3_000}, "method": "POST"},
        {"as_json": {"json_body": json.dumps({"__x": 1, "rows": list(range(3_000))})}},
    ],
    ids=["3,000 alternatives", "3,000 params", "a 200 KB body", "3,000 in as_json"],
)
def test_a_trigger_of_large_arguments_is_built_off_the_loop(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any]
):
    """Compiling thousands of conditions or encoding a large request takes the time it takes:
    in a worker thread, not on the loop every trigger shares."""
    from httsleep_airflow._async import AsyncHttSleeper

    built_in: list[str] = []
    real_init = AsyncHttSleeper.__init__

    def spied(self: AsyncHttSleeper, *args: Any, **kwargs: Any) -> None:
        built_in.append(threading.current_thread().name)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(AsyncHttSleeper, "__init__", spied)
    server.script(OK)
    (event,) = events_of(trigger_for(server, **arguments))
    assert event["status"] == "success", event
    assert built_in and built_in[0].startswith("httsleep"), built_in
    small = trigger_for(server, conditions={"until": {"status_code": 200}})
    server.script(OK)
    assert events_of(small)[0]["status"] == "success"
    assert built_in[1] == "MainThread"  # a small one on the loop: no thread hop per trigger


def test_a_trigger_of_many_secrets_is_built_and_its_redaction_prepared_off_the_loop(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
):
    """Forty tokens in a body, each expanded into its forms, and redaction's patterns of them
    all: made on the loop (at the first message) they held it 0.9 s for a thousand."""
    from httsleep_airflow import _secrets
    from httsleep_airflow._async import AsyncHttSleeper

    built_in: list[str] = []
    real_init, real_prepare = AsyncHttSleeper.__init__, _secrets.prepare

    def spied(self: AsyncHttSleeper, *args: Any, **kwargs: Any) -> None:
        built_in.append(threading.current_thread().name)
        real_init(self, *args, **kwargs)

    def prepare(secrets: tuple[str, ...]) -> None:
        built_in.append(threading.current_thread().name)
        real_prepare(secrets)

    monkeypatch.setattr(AsyncHttSleeper, "__init__", spied)
    monkeypatch.setattr("httsleep_airflow.triggers.httsleep.prepare", prepare)
    server.script(Reply(body={"status": "RUNNING"}), OK)
    body = {"items": [{"token": f"tok-{i:08d}-xyz"} for i in range(40)]}
    (event,) = events_of(trigger_for(server, json_body=body, method="POST", max_retries=3))
    assert event["status"] == "success", event
    assert len(built_in) == 2 and all(name.startswith("httsleep") for name in built_in)


def test_rules_of_many_checks_are_judged_off_the_loop():
    from httsleep_airflow._conditions import MANY_CHECKS, Rules

    many = Rules([{"status_code": 200 + i} for i in range(MANY_CHECKS + 1)])
    few = Rules([{"status_code": 200 + i} for i in range(MANY_CHECKS)])
    assert (many.may_take_long, few.may_take_long) == (True, False)


@pytest.mark.parametrize("count", [16, 17, 10_000])
def test_an_error_events_arguments_are_bounded_in_number(count: int):
    """Each argument is cut to ``EVENT_TEXT_LIMIT``, and an error of more arguments than
    ``EVENT_ARGS_LIMIT`` sends its message alone: ten thousand of 100 KB made an event of
    megabytes, stored with the trigger."""
    from httsleep_airflow.triggers.httsleep import EVENT_ARGS_LIMIT, _error_event

    event = _error_event(ValueError(*["x" * 100_000] * count))
    assert len(json.dumps(event)) < 20_000
    assert ("args" in event) == (count <= EVENT_ARGS_LIMIT)
