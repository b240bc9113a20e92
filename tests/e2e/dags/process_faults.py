"""DAGs that wait while a test kills and restarts Airflow's triggerer or scheduler.

Each DAG submits its jobs to the local job API (connection ``job_api``), then waits on them with
three kinds of sensor: one whose job finishes, one whose job fails (an alarm), and one whose job
never finishes (the ``max_retries`` budget ends it). Every sensor has ``retries=2``: none of
these outcomes may use them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.sensors.httsleep import HttSleepSensor

UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}
ALARMS = {"jsonpath": [{"expression": "status", "value": "ERROR"}]}
KINDS = {  # kind -> (job spec, max_retries)
    "finish": ({"polls": 25}, 60),
    "alarm": ({"polls": 25, "outcome": "ERROR"}, 60),
    "exhaust": ({"polls": 100_000}, 20),
}
SENSOR_DEFAULTS: dict[str, Any] = {
    "httsleep_conn_id": "job_api",
    "until": UNTIL,
    "alarms": ALARMS,
    "xcom_jsonpath": "result.url",
    "retries": 2,
    "retry_delay": timedelta(seconds=1),
}


@task
def submit(spec: dict[str, Any], count: int) -> list[str]:
    hook = HttSleepHook(httsleep_conn_id="job_api")
    session = hook.get_conn()
    endpoints = []
    for _ in range(count):
        created = session.post(hook.url_for("jobs"), json=spec, timeout=30)
        created.raise_for_status()
        endpoints.append(created.headers["Location"])
    return endpoints


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def httsleep_triggerer_restart() -> None:
    """Two deferred sensors of each kind, polling every 2 s, while the triggerer dies."""
    for kind, (spec, max_retries) in KINDS.items():
        HttSleepSensor.partial(
            task_id=kind,
            max_retries=max_retries,
            poke_interval=2,
            deferrable=True,
            **SENSOR_DEFAULTS,
        ).expand(endpoint=submit.override(task_id=f"submit_{kind}")(spec, 2))


@task
def submit_with_budgets(specs: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
    """One job per spec, as the keyword arguments of one mapped sensor each."""
    return [
        {"endpoint": endpoint, "max_retries": max_retries}
        for (spec, max_retries) in specs
        for endpoint in submit.function(spec, 1)
    ]


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def httsleep_scheduler_restart() -> None:
    """One reschedule-mode sensor of each kind (finish, alarm, exhaust), poking every 15 s while
    the scheduler dies. One mapped task, so that the three poke in step. (A shorter interval
    can meet Airflow's scheduler race, apache/airflow#71172.)"""
    specs = [({"polls": 4}, 10), ({"polls": 4, "outcome": "ERROR"}, 10), ({"polls": 100_000}, 5)]
    HttSleepSensor.partial(
        task_id="wait", poke_interval=15, mode="reschedule", **SENSOR_DEFAULTS
    ).expand_kwargs(submit_with_budgets(specs))


triggerer_restart = httsleep_triggerer_restart()
scheduler_restart = httsleep_scheduler_restart()
