"""End to end: the example DAGs run by real Airflow services (``airflow standalone``: API server,
scheduler, DAG processor, triggerer; LocalExecutor; SQLite) against the local job API.

Bounded in time; every process started here is stopped at the end, also on failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from httsleep_airflow.testing import JobAPI, running_job_api
from tests.e2e.services import Airflow, api_url, prepare_home, start, stop, wait_until_ready

pytestmark = pytest.mark.e2e

RUN_SECONDS = 240


@pytest.fixture(scope="module")
def job_api_e2e() -> Iterator[JobAPI]:
    with running_job_api() as api:
        yield api


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, job_api_e2e: JobAPI) -> Iterator[Airflow]:
    home = tmp_path_factory.mktemp("airflow-home")
    env = prepare_home(home, {"job_api": {"conn_type": "httsleep", "host": job_api_e2e.url}})
    log = home / "standalone.log"
    process = start(["standalone"], env, log)
    try:
        client = Airflow(api_url(env), log)
        wanted = {"example_httsleep_job", "example_httsleep_job_deferrable"}
        wait_until_ready(client, [process], wanted | {"httsleep_load_deferrable"})
        yield client
    finally:
        stop(process)


def test_example_dags_on_real_services(airflow: Airflow, job_api_e2e: JobAPI):
    runs = {
        "success": ("example_httsleep_job", {"polls": 2, "outcome": "OK"}),
        "alarm": ("example_httsleep_job", {"polls": 1, "outcome": "ERROR"}),
        "deferrable": ("example_httsleep_job_deferrable", {"polls": 4, "outcome": "OK"}),
        "reschedule": ("example_httsleep_job_reschedule", {"polls": 3, "outcome": "OK"}),
    }
    run_ids = {name: airflow.trigger(dag_id, conf) for name, (dag_id, conf) in runs.items()}
    seen: dict[str, set[str | None]] = {name: set() for name in runs}
    finished: dict[str, str] = {}
    deadline = time.monotonic() + RUN_SECONDS
    while len(finished) < len(runs) and time.monotonic() < deadline:
        for name, (dag_id, _) in runs.items():
            if name in finished:
                continue
            seen[name].add(airflow.states(dag_id, run_ids[name])["wait_for_job"][0])
            state = airflow.run_state(dag_id, run_ids[name])
            if state in ("success", "failed"):
                finished[name] = state
        time.sleep(0.3)
    assert len(finished) == len(runs), (
        f"runs still going: {seen}\n{airflow.log.read_text()[-3000:]}"
    )

    # The success DAG succeeds and hands the result URL on.
    dag_id = runs["success"][0]
    assert finished["success"] == "success"
    job_id = airflow.xcom(dag_id, run_ids["success"], "submit")
    assert airflow.xcom(dag_id, run_ids["success"], "wait_for_job") == f"s3://results/{job_id}"

    # The alarm fails the sensor at once: try 1 of 3 allowed, no retry used.
    assert finished["alarm"] == "failed"
    tis = airflow.states(dag_id, run_ids["alarm"])
    assert tis["wait_for_job"] == ("failed", 1)
    assert tis["publish"][0] == "upstream_failed"

    # Deferrable: the sensor really went through "deferred" and the triggerer finished it.
    deferrable_dag = runs["deferrable"][0]
    assert finished["deferrable"] == "success"
    assert "deferred" in seen["deferrable"], seen["deferrable"]
    job_id = airflow.xcom(deferrable_dag, run_ids["deferrable"], "submit")
    assert airflow.xcom(deferrable_dag, run_ids["deferrable"], "wait_for_job") == (
        f"s3://results/{job_id}"
    )
    assert job_api_e2e.requests_per_job()[job_id] == 1 + 5  # the POST, then polls + 1 GETs

    # Reschedule: the sensor went through "up_for_reschedule" between pokes.
    assert finished["reschedule"] == "success"
    assert "up_for_reschedule" in seen["reschedule"], seen["reschedule"]


def test_200_deferrable_sensors_on_one_triggerer(airflow: Airflow, job_api_e2e: JobAPI):
    before = set(job_api_e2e.jobs)
    run_id = airflow.trigger("httsleep_load_deferrable", {})
    state = airflow.wait_for_run("httsleep_load_deferrable", run_id, 900)
    waits = [
        t
        for t in airflow.task_instances("httsleep_load_deferrable", run_id)
        if t["task_id"] == "wait"
    ]
    summary: dict[tuple[str, int], int] = {}
    for t in waits:
        summary[(t["state"], t["try_number"])] = summary.get((t["state"], t["try_number"]), 0) + 1
    assert state == "success", (state, summary)
    assert len(waits) == 200
    assert {(t["state"], t["try_number"]) for t in waits} == {("success", 1)}
    # Each job: its POST, then exactly the GETs it takes to finish (PENDING, RUNNING x3, OK):
    # no duplicate polls, no request past the budget.
    counts = job_api_e2e.requests_per_job()
    new_jobs = set(counts) - before
    assert len(new_jobs) == 200
    assert {counts[job] for job in new_jobs} == {6}
