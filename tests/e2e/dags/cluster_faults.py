"""DAGs that wait while a test breaks the distributed deployment (tests/e2e/test_cluster.py).

Their jobs are "held": they report RUNNING until the test lets them finish (the job API's
``finish_after``), so that a fault always falls inside the wait, however long the deployment
took to get there. Every sensor has two retries: none of the outcomes asserted may use them,
except where a worker dies under a task.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.sensors.httsleep import HttSleepSensor

HELD = {"polls": 1_000_000}  # RUNNING until the test says otherwise
NEVER = {"polls": 1_000_000}  # never finishes: the budget ends the wait
HA_SENSORS = 50
HA_EXHAUST_EVERY = 5  # map indexes 0, 5, 10...: a job that never finishes
HA_BUDGET = 40  # max_retries of those
WORKER_KILL_SLOW = 4  # seconds each of the worker-kill job's answers takes: a poke in flight
SENSOR_DEFAULTS: dict[str, Any] = {
    "httsleep_conn_id": "job_api",
    "until": {"jsonpath": [{"expression": "status", "value": "OK"}]},
    "alarms": {"jsonpath": [{"expression": "status", "value": "ERROR"}]},
    "xcom_jsonpath": "result.url",
    "retries": 2,
    "retry_delay": timedelta(seconds=1),
}
START = pendulum.datetime(2026, 1, 1, tz="UTC")


@task
def submit_jobs(specs: list[dict[str, Any]]) -> list[str]:
    """One job per spec; their endpoints, in order."""
    hook = HttSleepHook(httsleep_conn_id="job_api")
    session = hook.get_conn()
    endpoints = []
    for spec in specs:
        created = session.post(hook.url_for("jobs"), json=spec, timeout=30)
        created.raise_for_status()
        endpoints.append(created.headers["Location"])
    return endpoints


@task
def with_budgets(endpoints: list[str], budgets: list[int]) -> list[dict[str, Any]]:
    return [{"endpoint": e, "max_retries": b} for e, b in zip(endpoints, budgets, strict=True)]


@dag(schedule=None, start_date=START, catchup=False)
def httsleep_cluster_ha() -> None:
    """50 deferred sensors, polling every 3 s, over two triggerers; one triggerer dies."""
    exhaust = [i % HA_EXHAUST_EVERY == 0 for i in range(HA_SENSORS)]
    endpoints = submit_jobs([NEVER if e else HELD for e in exhaust])
    budgets = [HA_BUDGET if e else 100_000 for e in exhaust]
    HttSleepSensor.partial(
        task_id="wait", poke_interval=3, deferrable=True, **SENSOR_DEFAULTS
    ).expand_kwargs(with_budgets(endpoints, budgets))


def _nth_job(i: int) -> str:
    return f"{{{{ ti.xcom_pull(task_ids='submit_jobs')[{i}] }}}}"


def worker_kill_dag(mode: str) -> Any:
    @dag(dag_id=f"httsleep_cluster_worker_kill_{mode}", schedule=None, start_date=START)
    def worker_kill() -> None:
        """One sensor in ``mode`` on a slow job, while the worker that runs it dies."""
        submit_jobs([{**HELD, "faults": {"slow": WORKER_KILL_SLOW}}]) >> HttSleepSensor(
            task_id="wait",
            endpoint=_nth_job(0),
            poke_interval=2,
            max_retries=100_000,
            mode=mode,
            **SENSOR_DEFAULTS,
        )

    return worker_kill()


@dag(schedule=None, start_date=START, catchup=False)
def httsleep_cluster_outage() -> None:
    """One sensor in each mode, polling every 3 s, while PostgreSQL or Redis restarts."""
    submitted = submit_jobs([HELD, HELD, HELD])
    for i, mode in enumerate(("poke", "reschedule", "deferrable")):
        submitted >> HttSleepSensor(
            task_id=mode,
            endpoint=_nth_job(i),
            poke_interval=3,
            max_retries=100_000,
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode == "deferrable",
            **SENSOR_DEFAULTS,
        )


ha_dag = httsleep_cluster_ha()
outage_dag = httsleep_cluster_outage()
worker_kill_poke = worker_kill_dag("poke")
worker_kill_reschedule = worker_kill_dag("reschedule")
