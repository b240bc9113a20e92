"""A DAG whose sensors carry every kind of secret, in every mode, for the log-grepping test.

- ``secure_job_api``: a bearer token and an ``X-Api-Key`` header (the connection);
- ``X-Partner-Key``: a sensor header rendered from a Variable whose name Airflow does not treat
  as sensitive;
- ``basic_job_api``: login and password (HTTP Basic);
- a password in the user-info of an absolute endpoint, rendered from a Variable;
- an ``api_key`` query parameter, rendered from a Variable;
- a proxy password in the connection (for https only: never used here, never shown).

The bearer token is long (an excerpt cut falls inside it) and the API key holds a quote and a
backslash (JSON-escaped when echoed).

The jobs echo the secret request headers back in their state and end in ERROR, so each alarm
logs an excerpt of a body that holds them: only the masking keeps them out of the logs.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from httsleep_airflow.hooks.httsleep import HttSleepHook
from httsleep_airflow.sensors.httsleep import HttSleepSensor

UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}
ALARMS = {"jsonpath": [{"expression": "status", "value": "ERROR"}]}
ECHO = ["Authorization", "X-Api-Key", "X-Partner-Key"]
MODES: dict[str, dict[str, Any]] = {
    "poke": {"poke_interval": 1},
    # Not shorter: a reschedule due before the scheduler has seen the last poke end can meet
    # Airflow's scheduler race (apache/airflow#71172; seen here at 2 s and 5 s under load).
    "reschedule": {"poke_interval": 15, "mode": "reschedule"},
    "deferrable": {"poke_interval": 1, "deferrable": True},
}


@task
def submit(conn_id: str, spec: dict[str, Any]) -> str:
    hook = HttSleepHook(httsleep_conn_id=conn_id)
    created = hook.get_conn().post(hook.url_for("jobs"), json=spec, timeout=30)
    created.raise_for_status()
    return str(created.headers["Location"])


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def httsleep_secrets() -> None:
    failing = {"polls": 2, "outcome": "ERROR", "echo_headers": ECHO}
    for mode, options in MODES.items():
        HttSleepSensor(
            task_id=f"bearer_{mode}",
            endpoint=submit.override(task_id=f"submit_bearer_{mode}")("secure_job_api", failing),
            httsleep_conn_id="secure_job_api",
            headers={"X-Partner-Key": "{{ var.value.partner_header }}"},
            until=UNTIL,
            alarms=ALARMS,
            max_retries=10,
            **options,
        )
        HttSleepSensor(
            task_id=f"basic_{mode}",
            endpoint=submit.override(task_id=f"submit_basic_{mode}")("basic_job_api", failing),
            httsleep_conn_id="basic_job_api",
            request_params={"api_key": "{{ var.value.query_key }}", "page": "1"},
            until=UNTIL,
            alarms=ALARMS,
            max_retries=10,
            **options,
        )
        job = submit.override(task_id=f"submit_userinfo_{mode}")("job_api", {"polls": 2})
        (
            HttSleepSensor(
                task_id=f"userinfo_{mode}",
                endpoint="http://ann:{{ var.value.userinfo_pw }}@{{ var.value.job_api_address }}"
                + "{{ ti.xcom_pull(task_ids='submit_userinfo_"
                + mode
                + "') }}",
                until=UNTIL,
                alarms=ALARMS,
                max_retries=10,
                xcom_jsonpath="result.url",
                **options,
            )
            << job
        )


secrets_dag = httsleep_secrets()
