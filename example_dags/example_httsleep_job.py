"""Submit a job to a job API, wait until it is done, hand its result on.

Three DAGs, the same pipeline with the sensor in each mode:

- ``example_httsleep_job``: poke mode (the task sleeps in its worker slot between pokes);
- ``example_httsleep_job_reschedule``: reschedule mode (the slot is freed between pokes, which
  come 15 s apart);
- ``example_httsleep_job_deferrable``: deferrable (the triggerer waits; no worker slot).

They use the ``job_api`` connection; for the local job API
(``python -m httsleep_airflow.testing.jobapi --port 8088``), set it with
``export AIRFLOW_CONN_JOB_API='{"conn_type": "httsleep", "host": "http://127.0.0.1:8088"}'``.

Trigger with ``{"outcome": "ERROR"}`` as the run's conf to see an alarm fail the task at once.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.sensors.httsleep import HttSleepSensor

JOB_DONE = {"jsonpath": [{"expression": "status", "value": "OK"}]}
JOB_BROKEN = [
    {"jsonpath": [{"expression": "status", "value": "ERROR"}]},
    {"jsonpath": [{"expression": "status", "value": "CANCELLED"}]},
    {"status_code": 404},  # the job disappeared
]


@task
def submit(params: dict[str, Any] | None = None) -> str:
    """Create the job; its id goes to XCom."""
    hook = HttSleepHook(httsleep_conn_id="job_api")
    spec = {"polls": (params or {}).get("polls", 3), "outcome": (params or {}).get("outcome", "OK")}
    response = hook.get_conn().post(hook.url_for("jobs"), json=spec, timeout=30)
    response.raise_for_status()
    return response.json()["id"]


@task
def publish(result_url: str) -> str:
    """A downstream task that uses what the sensor pushed (the job's result URL)."""
    print(f"the job's result is at {result_url}")
    return result_url


def job_pipeline(dag_id: str, **sensor_mode: Any) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params={
            "polls": Param(
                3, type="integer", minimum=0, description="GETs before the job ends (job API)"
            ),
            "outcome": Param(
                "OK",
                enum=["OK", "ERROR", "CANCELLED"],
                description="how the job ends: OK succeeds, ERROR or CANCELLED sets off an alarm",
            ),
        },
        default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=5)},
        tags=["httsleep-example"],
        doc_md=__doc__,
    ) as dag:
        job_id = submit()
        wait = HttSleepSensor(
            task_id="wait_for_job",
            httsleep_conn_id="job_api",
            endpoint="jobs/{{ ti.xcom_pull(task_ids='submit') }}",
            until=JOB_DONE,
            alarms=JOB_BROKEN,
            xcom_jsonpath="result.url",  # push just the result URL
            max_retries=60,
            timeout=600,
            **sensor_mode,
        )
        job_id >> wait
        publish(wait.output)
    return dag


poke_dag = job_pipeline("example_httsleep_job", poke_interval=2)
# 15 s between reschedule-mode pokes: a poke due within seconds of the previous run's end can
# meet an Airflow scheduler race (see docs/troubleshooting.md), which costs a retry.
reschedule_dag = job_pipeline(
    "example_httsleep_job_reschedule", mode="reschedule", poke_interval=15
)
deferrable_dag = job_pipeline("example_httsleep_job_deferrable", deferrable=True, poke_interval=2)
