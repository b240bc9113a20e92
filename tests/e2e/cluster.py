"""The production topology, on one machine: PostgreSQL, Redis, and Airflow with the CeleryExecutor
(API server, scheduler, DAG processor, two Celery workers, two triggerers), every server a
throwaway one on a free loopback port under a temporary directory.

``make cluster`` runs this module for people (``python -m tests.e2e.cluster``: the example DAGs
against the local job API, until Ctrl-C); the cluster tests start the same deployment with
``Cluster``. PostgreSQL and Redis come from Debian's packages (``scripts/cluster-deps.sh``
installs them); nothing else on the machine is used.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.e2e.services import Deployment, prepare_home, wait_for_line
from tests.scripted_server import free_port

INSTALL_HINT = (
    "run scripts/cluster-deps.sh as root (it runs: apt-get install postgresql redis-server), "
    "or install Debian's postgresql and redis-server packages another way"
)
STARTUP_SECONDS = 60


class MissingServer(RuntimeError):
    """A server program this deployment needs is not installed."""


def server_program(name: str) -> Path:
    """``name`` on PATH, else in Debian's PostgreSQL directories (the newest version first)."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return Path(candidate)
    raise MissingServer(f"{name} is not installed: {INSTALL_HINT}")


def _owner() -> pwd.struct_passwd | None:
    """Whom PostgreSQL runs as: it refuses to run as root, so root hands it to ``postgres``."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise MissingServer(
            f"running as root, but there is no 'postgres' user: {INSTALL_HINT}"
        ) from None


def _run_as(owner: pwd.struct_passwd | None, command: list[str]) -> list[str]:
    if owner is None:
        return command
    return ["runuser", "-u", owner.pw_name, "--", *command]


class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust authentication, user ``airflow``)."""

    def __init__(self) -> None:
        # The real program (not a link to it), so that its siblings are found beside it.
        self.initdb = server_program("initdb").resolve()
        self.pg_ctl = self.initdb.parent / "pg_ctl"
        self.owner = _owner()
        self.root = Path(tempfile.mkdtemp(prefix="httsleep-pg-"))
        if self.owner is not None:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"

    def _run(self, *command: str | Path, timeout: float = STARTUP_SECONDS) -> None:
        result = subprocess.run(
            _run_as(self.owner, [str(c) for c in command]),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {result.stdout}{result.stderr}\n{log}")

    def start(self) -> None:
        if not self.data.exists():
            self._run(self.initdb, "-D", self.data, "-U", "airflow", "--auth=trust", "-E", "UTF8")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            " -c max_connections=300 -c fsync=off"
        )
        self._run(self.pg_ctl, "-D", self.data, "-l", self.log, "-o", options, "-w", "start")
        if not (self.root / "created").exists():
            createdb = self.initdb.parent / "createdb"
            self._run(createdb, "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow", "airflow")
            (self.root / "created").touch()

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back, sessions are cut."""
        if (self.data / "postmaster.pid").exists():
            self._run(self.pg_ctl, "-D", self.data, "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """A throwaway redis-server on 127.0.0.1 that keeps its data across a restart (an append-only
    file, as a broker in production must: Celery's queued messages live in it)."""

    def __init__(self) -> None:
        self.program = server_program("redis-server")
        self.root = Path(tempfile.mkdtemp(prefix="httsleep-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = self.root / "redis.log"
        command = [str(self.program), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.root), "--appendonly", "yes", "--appendfsync", "always"]
        command += ["--save", "", "--logfile", str(log)]
        self.process = subprocess.Popen(command, start_new_session=True)
        wait_for_line(log, "Ready to accept connections", STARTUP_SECONDS, [self.process])

    def stop(self) -> None:
        """SIGTERM: redis-server flushes its append-only file and exits."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=STARTUP_SECONDS)
            self.process = None

    def restart(self) -> None:
        self.stop()
        (self.root / "redis.log").unlink(missing_ok=True)
        self.start()

    def remove(self) -> None:
        try:
            if self.process is not None:
                self.process.kill()
                self.process.wait(timeout=STARTUP_SECONDS)
                self.process = None
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class Cluster(Deployment):
    """Airflow on PostgreSQL with Celery workers on Redis, and two triggerers."""

    WORKERS = ("worker-1", "worker-2")
    TRIGGERERS = ("triggerer-1", "triggerer-2")
    COMMANDS = {
        "api-server": ["api-server"],
        "dag-processor": ["dag-processor"],
        "scheduler": ["scheduler"],
        # Every component shares the Airflow home's log folder, so none needs to serve its logs.
        **{name: ["triggerer", "--skip-serve-logs"] for name in TRIGGERERS},
    }

    def __init__(self, home: Path, env: Mapping[str, str], postgres: Postgres, redis: Redis):
        super().__init__(home, env)
        self.COMMANDS = {
            **self.COMMANDS,
            **{
                name: [
                    *("celery", "worker", "-H", f"{name}@%h", "--skip-serve-logs"),
                    *("--pid", str(home / f"{name}.pid")),
                ]
                for name in self.WORKERS
            },
        }
        self.postgres = postgres
        self.redis = redis

    def start(self, dag_ids: set[str]) -> None:
        super().start(dag_ids)
        for name in self.WORKERS:  # Celery says so once it consumes the queue
            wait_for_line(self.home / f"{name}.log", " ready.", 120, self.processes.values())


def cluster_env(
    home: Path,
    connections: Mapping[str, Mapping[str, Any]],
    postgres: Postgres,
    redis: Redis,
    worker_slots: int = 8,
) -> dict[str, str]:
    """The Airflow home's environment for the CeleryExecutor on ``postgres`` and ``redis``."""
    env = prepare_home(home, connections)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "64",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url,
            "AIRFLOW__CELERY__BROKER_URL": redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_slots),
            "AIRFLOW__API__WORKERS": "1",
        }
    )
    return env


@contextmanager
def running_cluster(
    root: Path,
    connections: Mapping[str, Mapping[str, Any]],
    dag_ids: set[str],
    settings: Mapping[str, str] | None = None,
    component_settings: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[Cluster]:
    """PostgreSQL, Redis and Airflow's components, started in that order and all stopped on
    the way out (failures included); the Airflow home is ``root``. ``settings`` add to every
    component's environment, ``component_settings`` to one's."""
    postgres = Postgres()
    redis: Redis | None = None
    cluster: Cluster | None = None
    try:
        postgres.start()
        redis = Redis()
        redis.start()
        env = {**cluster_env(root, connections, postgres, redis), **(settings or {})}
        cluster = Cluster(root, env, postgres, redis)
        cluster.settings = {k: dict(v) for k, v in (component_settings or {}).items()}
        cluster.start(dag_ids)
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        if redis is not None:
            redis.remove()
        postgres.remove()


def main() -> None:
    from httsleep_airflow.testing import running_job_api

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job-api-port", type=int, default=0, help="the local job API's port")
    args = parser.parse_args()
    stop = False

    def interrupted(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, also when in the background
    home = Path(tempfile.mkdtemp(prefix="httsleep-cluster-"))
    try:
        with running_job_api(args.job_api_port) as api:
            connections = {"job_api": {"conn_type": "httsleep", "host": api.url}}
            print(f"== starting PostgreSQL, Redis and Airflow (home {home}); this takes a minute")
            dag_ids = {"example_httsleep_job", "example_httsleep_job_deferrable"}
            with running_cluster(home, connections, dag_ids) as cluster:
                print(f"== job API: {api.url} (connection job_api)")
                print(f"== PostgreSQL: {cluster.postgres.url}; Redis: {cluster.redis.url}")
                print(f"== components: {', '.join(cluster.processes)}; logs in {home}")
                print(f"== Airflow UI: {cluster.client.api}  (Ctrl-C stops everything)")
                try:
                    while not stop:
                        time.sleep(0.5)
                except KeyboardInterrupt:
                    pass
                print("== stopping every component, Redis and PostgreSQL")
        print("== stopped")
    except KeyboardInterrupt:
        print("== interrupted: everything started is stopped")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except MissingServer as exc:
        raise SystemExit(str(exc)) from None
