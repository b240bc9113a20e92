"""The example DAGs: they import cleanly, and each runs (or fails exactly as intended) with
dag.test() against the local job API."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from httsleep_airflow.testing import JobAPI
from tests.airflow.conftest import DagRunner, task_states, xcom

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
PLUGINS = EXAMPLES.parent / "example_plugins"


@pytest.fixture(autouse=True)
def example_plugins() -> None:
    """The examples' callbacks in the plugins folder, where the triggerer finds them."""
    import importlib
    import os

    folder = Path(os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    for path in PLUGINS.glob("*.py"):
        shutil.copy(path, folder / path.name)
    importlib.invalidate_caches()


@pytest.fixture
def examples(run_dag: DagRunner, job_api: JobAPI, monkeypatch) -> DagRunner:
    """The example files in the DAGs folder, and the job_api connection pointing at the API."""
    for path in EXAMPLES.glob("*.py"):
        shutil.copy(path, run_dag.folder / path.name)
    monkeypatch.setenv(
        "AIRFLOW_CONN_JOB_API", json.dumps({"conn_type": "httsleep", "host": job_api.url})
    )
    return run_dag


def test_every_example_imports_without_errors_or_warnings(tmp_path):
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    for path in EXAMPLES.glob("*.py"):
        shutil.copy(path, tmp_path / path.name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "example_httsleep_job",
        "example_httsleep_job_reschedule",
        "example_httsleep_job_deferrable",
        "example_httsleep_taskflow",
        "example_httsleep_mapped",
        "example_httsleep_search",
    }


@pytest.mark.parametrize("attribute", ["poke_dag", "reschedule_dag", "deferrable_dag"])
def test_job_pipeline_succeeds_in_every_mode(examples, job_api: JobAPI, attribute):
    path = examples.folder / "example_httsleep_job.py"
    dr = examples.run_file(path, attribute, run_conf={"polls": 2, "outcome": "OK"})
    states = task_states(dr)
    assert states == {
        "submit": ("success", 1),
        "wait_for_job": ("success", 1),
        "publish": ("success", 1),
    }
    (job_id,) = job_api.jobs
    assert xcom(dr, "wait_for_job") == f"s3://results/{job_id}"
    assert xcom(dr, "publish") == f"s3://results/{job_id}"


def test_job_pipeline_alarm_fails_without_retries(examples, job_api: JobAPI):
    path = examples.folder / "example_httsleep_job.py"
    dr = examples.run_file(path, "poke_dag", run_conf={"polls": 1, "outcome": "ERROR"})
    states = task_states(dr)
    assert states["wait_for_job"] == ("failed", 1)  # retries=2 were not used
    assert states["publish"][0] == "upstream_failed"


def test_taskflow_example(examples, job_api: JobAPI):
    dr = examples.run_file(examples.folder / "example_httsleep_taskflow.py", "taskflow_dag")
    assert {s for s, _ in task_states(dr).values()} == {"success"}
    (job_id,) = job_api.jobs
    assert xcom(dr, "run_job") == f"s3://results/{job_id}"


def test_mapped_example(examples, job_api: JobAPI):
    dr = examples.run_file(examples.folder / "example_httsleep_mapped.py", "mapped_dag")
    assert {s for s, _ in task_states(dr).values()} == {"success"}
    assert sorted(xcom(dr, "collect")) == sorted(f"s3://results/{j}" for j in job_api.jobs)
    assert len(job_api.jobs) == 3


def test_search_example(examples, job_api: JobAPI):
    dr = examples.run_file(examples.folder / "example_httsleep_search.py", "search_dag")
    assert {s for s, _ in task_states(dr).values()} == {"success"}
    (job_id,) = job_api.jobs
    assert job_api.jobs[job_id].seen == 3  # the callback branch held at progress 0.6
