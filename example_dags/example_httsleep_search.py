"""Polling with POST (a search/report API), OR-ed ``until`` conditions and a callback.

The job API's ``POST /search`` reports a job's state; the sensor waits until the job is OK *or*
(second branch) it reports progress past one half, judged by a callback. The sensor is
deferrable, so its callback lives in ``$AIRFLOW_HOME/plugins/httsleep_example_checks.py``
(``example_plugins/`` in this repository), where the triggerer can import it. Uses the
``job_api`` connection (see ``example_httsleep_job.py``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task
from httsleep_example_checks import past_halfway  # $AIRFLOW_HOME/plugins/

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.sensors.httsleep import HttSleepSensor


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
        deferrable=True,  # the callback runs in the triggerer too
    )


search_dag = example_httsleep_search()
