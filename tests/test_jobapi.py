"""The local job API that ships for demos and users' own tests (fixture ``job_api``)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from httsleep_airflow import Alarm, httsleep
from httsleep_airflow.testing import JobAPI


def submit(api: JobAPI, **spec) -> str:
    response = requests.post(api.url + "/jobs", json=spec, timeout=5)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/jobs/{response.json()['id']}"
    assert response.json()["status"] == "PENDING"
    return response.json()["id"]


def states(api: JobAPI, job: str, n: int) -> list[str]:
    return [requests.get(f"{api.url}/jobs/{job}", timeout=5).json()["status"] for _ in range(n)]


def test_a_job_moves_pending_running_ok(job_api: JobAPI):
    job = submit(job_api, polls=3)
    assert states(job_api, job, 5) == ["PENDING", "RUNNING", "RUNNING", "OK", "OK"]
    final = requests.get(f"{job_api.url}/jobs/{job}", timeout=5).json()
    assert final["result"] == {"url": f"s3://results/{job}"}


@pytest.mark.parametrize("outcome", ["ERROR", "CANCELLED"])
def test_failing_outcomes(job_api: JobAPI, outcome: str):
    job = submit(job_api, polls=1, outcome=outcome)
    assert states(job_api, job, 2) == ["PENDING", outcome]


def test_unknown_and_deleted_jobs_are_404(job_api: JobAPI):
    assert requests.get(job_api.url + "/jobs/999", timeout=5).status_code == 404
    job = submit(job_api)
    assert requests.delete(f"{job_api.url}/jobs/{job}", timeout=5).status_code == 204
    assert requests.get(f"{job_api.url}/jobs/{job}", timeout=5).status_code == 404


def test_bad_job_spec_is_400(job_api: JobAPI):
    response = requests.post(job_api.url + "/jobs", json={"outcome": "MAYBE"}, timeout=5)
    assert response.status_code == 400
    assert "outcome" in response.json()["error"]


def test_faults(job_api: JobAPI):
    job = submit(job_api, polls=1, faults={"unavailable": 1, "retry_after": 2, "garbage": 1})
    busy = requests.get(f"{job_api.url}/jobs/{job}", timeout=5)
    assert (busy.status_code, busy.headers["Retry-After"]) == (503, "2")
    garbage = requests.get(f"{job_api.url}/jobs/{job}", timeout=5)
    with pytest.raises(ValueError):
        garbage.json()
    assert states(job_api, job, 2) == ["PENDING", "OK"]
    dropped = submit(job_api, faults={"drop": 1})
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{job_api.url}/jobs/{dropped}", timeout=5)


def test_slow_fault_hits_a_short_timeout(job_api: JobAPI):
    job = submit(job_api, faults={"slow": 0.5})
    with pytest.raises(requests.Timeout):
        requests.get(f"{job_api.url}/jobs/{job}", timeout=0.1)


def test_search_by_post_and_stats(job_api: JobAPI):
    job = submit(job_api, polls=1)
    found = requests.post(job_api.url + "/search", json={"job": job}, timeout=5).json()
    assert found["status"] == "PENDING"
    assert requests.get(job_api.url + "/stats", timeout=5).json() == {job: 2}


def test_the_engine_against_it(job_api: JobAPI):
    ok, failing = submit(job_api, polls=2), submit(job_api, polls=2, outcome="ERROR")
    until = {"jsonpath": [{"expression": "status", "value": "OK"}]}
    alarms = {"jsonpath": [{"expression": "status", "value": "ERROR"}]}
    response = httsleep(f"{job_api.url}/jobs/{ok}", until, alarms, polling_interval=0)
    assert response.json()["result"]["url"] == f"s3://results/{ok}"
    with pytest.raises(Alarm):
        httsleep(f"{job_api.url}/jobs/{failing}", until, alarms, polling_interval=0)


def test_runs_as_a_module():
    process = subprocess.Popen(
        [sys.executable, "-m", "httsleep_airflow.testing.jobapi", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("job API listening on http://127.0.0.1:")
        url = line.split()[-1]
        assert requests.post(url + "/jobs", json={}, timeout=5).status_code == 201
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_token_is_required_when_set():
    from httsleep_airflow.testing import running_job_api

    with running_job_api(token="t0ken") as api:
        assert requests.post(api.url + "/jobs", timeout=5).status_code == 401
        assert requests.get(api.url + "/stats", timeout=5).status_code == 401
        wrong = {"Authorization": "Bearer other"}
        assert requests.get(api.url + "/stats", headers=wrong, timeout=5).status_code == 401
        right = {"Authorization": "Bearer t0ken"}
        created = requests.post(api.url + "/jobs", json={}, headers=right, timeout=5)
        assert created.status_code == 201
        assert api.requests_per_job() == {created.json()["id"]: 1}  # refused ones count for no job


def test_a_job_can_echo_request_headers(job_api: JobAPI):
    job = submit(job_api, polls=1, echo_headers=["X-Api-Key", "X-Absent"])
    state = requests.get(f"{job_api.url}/jobs/{job}", headers={"X-Api-Key": "k"}, timeout=5).json()
    assert state["headers"] == {"X-Api-Key": "k", "X-Absent": None}


def test_the_root_describes_the_api_so_a_connection_test_is_green(job_api: JobAPI, monkeypatch):
    import json

    from httsleep_airflow.hooks.httsleep import HttSleepHook

    root = requests.get(job_api.url + "/", timeout=5)
    assert root.status_code == 200 and "POST /jobs" in root.json()["routes"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_JOB_API_TEST", json.dumps({"conn_type": "httsleep", "host": job_api.url})
    )
    ok, message = HttSleepHook("job_api_test").test_connection()
    assert ok and message == f"GET {job_api.url} answered 200 OK"


def test_running_the_module_prints_no_warning():
    process = subprocess.Popen(
        [sys.executable, "-W", "error", "-m", "httsleep_airflow.testing.jobapi", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("job API listening on http://127.0.0.1:"), first
    finally:
        process.terminate()
        process.wait(timeout=10)
