"""End to end: the example DAGs run by real Airflow services (``airflow standalone``: API server,
scheduler, DAG processor, triggerer; LocalExecutor; SQLite) against the local job API.

Bounded in time; every process started here is stopped at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from httsleep_airflow.testing import JobAPI, running_job_api
from tests.scripted_server import free_port

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STARTUP_SECONDS = 180
RUN_SECONDS = 240


class Airflow:
    """A running ``airflow standalone`` and its REST API."""

    def __init__(self, api: str, log: Path) -> None:
        self.api = api
        self.log = log

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.api}/api/v2{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        response = requests.post(
            f"{self.api}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": conf},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["dag_run_id"])

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, tuple[str | None, int]]:
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {t["task_id"]: (t["state"], t["try_number"]) for t in body["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.get(path)["value"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"])


@pytest.fixture(scope="module")
def job_api_e2e() -> Iterator[JobAPI]:
    with running_job_api() as api:
        yield api


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, job_api_e2e: JobAPI) -> Iterator[Airflow]:
    home = tmp_path_factory.mktemp("airflow-home")
    dags = home / "dags"  # the example DAGs, and this suite's own
    dags.mkdir()
    for source in [*(ROOT / "example_dags").glob("*.py"), *(HERE / "dags").glob("*.py")]:
        shutil.copy(source, dags / source.name)
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW_CONN_JOB_API": json.dumps({"conn_type": "httsleep", "host": job_api_e2e.url}),
    }
    log = home / "standalone.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(Path(bin_dir) / "airflow"), "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its children
        )
    try:
        client = Airflow(f"http://127.0.0.1:{port}", log)
        _wait_until_ready(client, process)
        yield client
    finally:
        _stop_group(process)


def _wait_until_ready(client: Airflow, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    wanted = {"example_httsleep_job", "example_httsleep_job_deferrable", "httsleep_load_deferrable"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow standalone exited:\n{client.log.read_text()[-3000:]}")
        try:
            health = client.get("/monitor/health")
            dags = {d["dag_id"] for d in client.get("/dags?limit=100")["dags"]}
            components = ("scheduler", "triggerer", "dag_processor")
            if all(health[c]["status"] == "healthy" for c in components) and wanted <= dags:
                return
        except (requests.RequestException, KeyError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(f"airflow standalone not ready:\n{client.log.read_text()[-3000:]}")


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; its children may linger a moment in the group
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


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
            seen[name].add(airflow.task_instances(dag_id, run_ids[name])["wait_for_job"][0])
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
    tis = airflow.task_instances(dag_id, run_ids["alarm"])
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
    deadline = time.monotonic() + 900
    state = "queued"
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(2)
        state = airflow.run_state("httsleep_load_deferrable", run_id)
    waits: list[dict[str, Any]] = []
    while len(waits) % 100 == 0:  # the API pages by 100 at most
        page = airflow.get(
            f"/dags/httsleep_load_deferrable/dagRuns/{run_id}/taskInstances"
            f"?task_id=wait&limit=100&offset={len(waits)}"
        )["task_instances"]
        if not page:
            break
        waits += page
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
