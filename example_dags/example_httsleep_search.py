"""Polling with POST (a search/report API), OR-ed ``until`` conditions and a callback.

The job API's ``POST /search`` reports a job's state; the sensor waits until the job is OK *or*
(second branch) it reports progress past one half, judged by a callback. Uses the ``job_api``
connection (see ``example_httsleep_job.py``).
"""

from __future__ import annotations

import pendulum
import requests
from airflow.sdk import dag, task

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.sensors.httsleep import HttSleepSensor


def past_halfway(response: requests.Response) -> bool:
    """A callback: any function of the response that returns True when the wait is over."""
    return response.json().get("progress", 0) > 0.5


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["httsleep-example"],
)
def example_httsleep_search() -> None:
    @task
    def submit() -> str:
        hook = HttSleepHook(httsleep_conn_id="job_api")
        created = hook.get_conn().post(hook.url_for("jobs"), json={"polls": 4}, timeout=30)
        created.raise_for_status()
        return created.json()["id"]

    job_id = submit()
    HttSleepSensor(
        task_id="wait_for_report",
        httsleep_conn_id="job_api",
        endpoint="search",
        method="POST",
        json_body={"job": job_id},  # templated: the XCom is rendered into the body
        until=[
            {"jsonpath": [{"expression": "status", "value": "OK"}]},
            {"status_code": 200, "callback": past_halfway},
        ],
        alarms=[{"jsonpath": [{"expression": "status", "value": "ERROR"}]}],
        poke_interval=1,
        max_retries=30,
    )


search_dag = example_httsleep_search()
