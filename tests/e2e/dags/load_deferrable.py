"""Load: 200 deferrable sensors in one DAG run, all waiting in one triggerer.

Each job takes about 20 s in the trigger: long enough that the scheduler has processed the
worker's exit from deferring before the trigger fires. (Airflow 3.3 fails a deferred task whose
trigger fires before that: apache/airflow#72716, not this provider's to fix.)
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.sensors.httsleep import HttSleepSensor

JOBS = 200


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def httsleep_load_deferrable() -> None:
    @task
    def submit_all() -> list[str]:
        hook = HttSleepHook(httsleep_conn_id="job_api")
        session = hook.get_conn()
        endpoints = []
        for _ in range(JOBS):
            created = session.post(hook.url_for("jobs"), json={"polls": 4}, timeout=30)
            created.raise_for_status()
            endpoints.append(created.headers["Location"])
        return endpoints

    HttSleepSensor.partial(
        task_id="wait",
        httsleep_conn_id="job_api",
        until={"jsonpath": [{"expression": "status", "value": "OK"}]},
        alarms={"jsonpath": [{"expression": "status", "value": "ERROR"}]},
        xcom_jsonpath="result.url",
        poke_interval=5,
        max_retries=10,
        deferrable=True,
    ).expand(endpoint=submit_all())


load_dag = httsleep_load_deferrable()
