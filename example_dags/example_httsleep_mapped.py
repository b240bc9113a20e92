"""Dynamic task mapping: submit several jobs, then one sensor per job with ``.expand()``.

Uses the ``job_api`` connection (see ``example_httsleep_job.py``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.sensors.httsleep import HttSleepSensor


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["httsleep-example"],
)
def example_httsleep_mapped() -> None:
    @task
    def submit_jobs(count: int = 3) -> list[str]:
        hook = HttSleepHook(httsleep_conn_id="job_api")
        session = hook.get_conn()
        endpoints = []
        for polls in range(1, count + 1):
            created = session.post(hook.url_for("jobs"), json={"polls": polls}, timeout=30)
            created.raise_for_status()
            endpoints.append(created.headers["Location"])
        return endpoints

    waits = HttSleepSensor.partial(
        task_id="wait_for_job",
        httsleep_conn_id="job_api",
        until={"jsonpath": [{"expression": "status", "value": "OK"}]},
        alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
        xcom_jsonpath="result.url",
        poke_interval=1,
        max_retries=30,
    ).expand(endpoint=submit_jobs())

    @task
    def collect(urls: list[str]) -> list[str]:
        print(f"{len(urls)} results: {urls}")
        return list(urls)

    collect(waits.output)


mapped_dag = example_httsleep_mapped()
