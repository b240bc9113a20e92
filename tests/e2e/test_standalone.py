"""End to end: the example DAGs run by real Airflow services (``airflow standalone``: API server,
scheduler, DAG processor, triggerer; LocalExecutor; SQLite) against the local job API.

Bounded in time; every process started here is stopped at the end, also on failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from httsleep_airflow.testing import JobAPI
from tests.e2e.services import (
    Airflow,
    api_url,
    check_example_dags,
    prepare_home,
    start,
    stop,
    wait_until_ready,
)

pytestmark = pytest.mark.e2e

RUN_SECONDS = 240


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
    check_example_dags(airflow, job_api_e2e, RUN_SECONDS)


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
