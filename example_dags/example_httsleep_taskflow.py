"""TaskFlow: wait inside a ``@task`` with ``HttSleepHook.poll`` (the engine, with the connection).

Uses the ``job_api`` connection (see ``example_httsleep_job.py``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from httsleep_airflow.hooks.httsleep import HttSleepHook


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["httsleep-example"],
)
def example_httsleep_taskflow() -> None:
    @task
    def run_job() -> str:
        hook = HttSleepHook(httsleep_conn_id="job_api")
        created = hook.get_conn().post(hook.url_for("jobs"), json={"polls": 2}, timeout=30)
        created.raise_for_status()
        response = hook.poll(
            created.headers["Location"],  # "/jobs/<id>", under the connection's base URL
            until={"jsonpath": [{"expression": "status", "value": "OK"}]},
            alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
            polling_interval=1,
            max_retries=30,
        )
        return response.json()["result"]["url"]

    @task
    def report(url: str) -> None:
        print(f"result: {url}")

    report(run_job())


taskflow_dag = example_httsleep_taskflow()
