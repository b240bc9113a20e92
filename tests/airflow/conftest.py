from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> None:
    """``airflow db migrate`` once per test session, in the throwaway AIRFLOW_HOME."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )


class DagRunner:
    """Write a DAG file into the DAGs folder (``dag.test()`` runs only bundled DAGs), run it."""

    def __init__(self) -> None:
        self.folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, dag_id: str, body: str) -> Any:
        import textwrap

        source = textwrap.dedent(
            f"""
            import pendulum
            from airflow.sdk import DAG
            from httsleep_airflow.sensors.httsleep import HttSleepSensor

            with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
            """
        ) + textwrap.indent(textwrap.dedent(body), "    ")
        path = self.folder / f"{dag_id}.py"
        path.write_text(source)
        return self.run_file(path, "dag")

    def run_file(self, path: Path, attribute: str, **test_kwargs: Any) -> Any:
        """Import the DAG file at ``path`` (in the DAGs folder) and ``.test()`` its DAG."""
        import importlib.util

        spec = importlib.util.spec_from_file_location(f"dagfile_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _serialize_for_old_airflow(path)
        return getattr(module, attribute).test(**test_kwargs)


def _serialize_for_old_airflow(path: Path) -> None:
    """Airflow 3.1's dag.test() needs the DAG in the database already; 3.2+ syncs it itself."""
    try:
        import airflow.dag_processing.dagbag  # noqa: F401  (3.2+)
    except ImportError:
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.models.dagbag import DagBag, sync_bag_to_db

        DagBundlesManager().sync_bundles_to_db()
        bag = DagBag(dag_folder=str(path), include_examples=False)
        sync_bag_to_db(bag, "dags-folder", None)


@pytest.fixture(scope="session")
def run_dag() -> DagRunner:
    return DagRunner()


def sensor_source(**args: str) -> str:
    """``HttSleepSensor(...)`` as DAG-file source, each argument given as its source text."""
    return "HttSleepSensor(" + ", ".join(f"{k}={v}" for k, v in args.items()) + ")\n"


def task_states(dag_run: Any) -> dict[str, tuple[str, int]]:
    """``{task_id: (state, try_number)}`` of a finished run."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            ti.task_id: (str(ti.state), ti.try_number)
            for ti in dag_run.get_task_instances(session=session)
        }


def xcom(dag_run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value"
            )
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)
