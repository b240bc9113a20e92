from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from tests.scripted_server import ScriptedServer

pytest_plugins = ["httsleep_airflow.testing.fixtures"]

# A throwaway Airflow home with SQLite, set before anything imports Airflow.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="httsleep-airflow-tests-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_AIRFLOW_HOME, "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = os.path.join(_AIRFLOW_HOME, "plugins")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def _server() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(_server: ScriptedServer) -> ScriptedServer:
    """A real HTTP server on 127.0.0.1, reset for each test."""
    _server.script()
    return _server


def pytest_unconfigure(config: pytest.Config) -> None:
    """The throwaway Airflow home goes with the test session."""
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
