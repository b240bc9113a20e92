"""Healthy and broken deferrable sensors side by side on one triggerer.

The healthy ones wait on jobs of the local job API (``job_api``) with JSONPath conditions, a
plugins-folder callback, and an alarm. Each broken one fails only once it has deferred:

- ``unimportable``: its callback module is put on ``sys.path`` by this DAG file, so it passes
  parse time and the worker's first poke, but the triggerer cannot import it;
- ``connection_gone``: its callback deletes its connection during the first poke;
- ``bad_body``: the server's second answer is nested too deep for the JSON decoder;
- ``raising_callback``: its callback raises on the second answer.

No sensor has retries: a broken one fails on try 1 with its own message in its own log.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.sensors.httsleep import HttSleepSensor

# A module the worker can import (this file puts it on the path at parse time) and the
# triggerer cannot: the wrong place for a callback, smuggled past the parse-time check.
# Every process that parses this file (DAG processor, each worker) may write the module at the
# same moment another imports it: it is written once, whole (a rename), never rewritten in place.
SMUGGLED = Path(os.environ["AIRFLOW_HOME"]) / "smuggled"
SMUGGLED.mkdir(exist_ok=True)
_CHECKS = SMUGGLED / "httsleep_smuggled_checks.py"
_SOURCE = "def job_done(response):\n    return False\n"
if not _CHECKS.exists() or _CHECKS.read_text() != _SOURCE:
    _partial = SMUGGLED / f".httsleep_smuggled_checks.{os.getpid()}.tmp"
    _partial.write_text(_SOURCE)
    os.replace(_partial, _CHECKS)
if str(SMUGGLED) not in sys.path:
    sys.path.append(str(SMUGGLED))

UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}
ALARMS = {"jsonpath": [{"expression": "status", "value": "ERROR"}]}
COMMON: dict[str, Any] = {"deferrable": True, "poke_interval": 2, "max_retries": 30}


@task
def submit(conn_id: str, spec: dict[str, Any]) -> str:
    hook = HttSleepHook(httsleep_conn_id=conn_id)
    created = hook.get_conn().post(hook.url_for("jobs"), json=spec, timeout=30)
    created.raise_for_status()
    return str(created.headers["Location"])


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def httsleep_shared_triggerer() -> None:
    for i in range(3):
        HttSleepSensor(
            task_id=f"healthy_{i}",
            httsleep_conn_id="job_api",
            endpoint=submit.override(task_id=f"submit_healthy_{i}")("job_api", {"polls": 6}),
            until=UNTIL,
            alarms=ALARMS,
            xcom_jsonpath="result.url",
            **COMMON,
        )
    HttSleepSensor(
        task_id="healthy_callback",
        httsleep_conn_id="job_api",
        endpoint=submit.override(task_id="submit_healthy_callback")("job_api", {"polls": 6}),
        until={"callback": "httsleep_e2e_checks.job_done"},
        **COMMON,
    )
    HttSleepSensor(
        task_id="healthy_alarm",
        httsleep_conn_id="job_api",
        endpoint=submit.override(task_id="submit_healthy_alarm")(
            "job_api", {"polls": 6, "outcome": "ERROR"}
        ),
        until=UNTIL,
        alarms=ALARMS,
        **COMMON,
    )
    HttSleepSensor(
        task_id="unimportable",
        httsleep_conn_id="job_api",
        endpoint=submit.override(task_id="submit_unimportable")("job_api", {"polls": 6}),
        until={"callback": "httsleep_smuggled_checks.job_done"},
        **COMMON,
    )
    HttSleepSensor(
        task_id="connection_gone",
        httsleep_conn_id="doomed_api",
        endpoint=submit.override(task_id="submit_connection_gone")("job_api", {"polls": 6}),
        until=[UNTIL, {"callback": "httsleep_e2e_checks.deletes_its_connection"}],
        **COMMON,
    )
    HttSleepSensor(
        task_id="bad_body",
        endpoint="{{ var.value.deep_json_url }}",
        until=UNTIL,
        **COMMON,
    )
    HttSleepSensor(
        task_id="raising_callback",
        httsleep_conn_id="job_api",
        endpoint=submit.override(task_id="submit_raising_callback")("job_api", {"polls": 6}),
        until={"callback": "httsleep_e2e_checks.breaks_when_running"},
        **COMMON,
    )


shared_triggerer_dag = httsleep_shared_triggerer()
