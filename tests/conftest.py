from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography.fernet import Fernet

from tests.scripted_server import Reply, ScriptedServer

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


# --- TLS: a throwaway CA and a server whose certificate it signed (engine and runner tests) ---


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


def _serving_tls(ca: trustme.CA, *, client_certificate: bool) -> Iterator[ScriptedServer]:
    """A TLS server with a certificate from ``ca``; with ``client_certificate``, it accepts only
    clients that present one from ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    if client_certificate:
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    server = ScriptedServer(tls=context).start()
    server.script(Reply(body={"status": "OK"}))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA) -> Iterator[ScriptedServer]:
    yield from _serving_tls(ca, client_certificate=False)


@pytest.fixture(scope="module")
def mtls_server(ca: trustme.CA) -> Iterator[ScriptedServer]:
    """A TLS server that accepts only clients with a certificate from ``ca``."""
    yield from _serving_tls(ca, client_certificate=True)


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


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
