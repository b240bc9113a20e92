"""Real Airflow services for the end-to-end tests, and a client for their REST API.

Every process is started in its own process group, so stopping (or killing) one component also
stops what it started: the triggerer's trigger runner, the scheduler's LocalExecutor workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import requests
from cryptography.fernet import Fernet

from httsleep_airflow.testing import JobAPI
from tests.scripted_server import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
STARTUP_SECONDS = 180
COMPONENTS = ("scheduler", "triggerer", "dag_processor")


class Airflow:
    """The REST API (v2) of a running Airflow."""

    def __init__(self, api: str, log: Path) -> None:
        self.api = api
        self.log = log

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.api}/api/v2{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        response = requests.post(
            f"{self.api}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": dict(conf or {})},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["dag_run_id"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones included (the API pages by 100)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.get(
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100&offset={len(found)}"
            )["task_instances"]
            found += page
            if len(page) < 100:
                return found

    def states(self, dag_id: str, run_id: str) -> dict[str, tuple[str | None, int]]:
        """``task_id`` (``task_id[i]`` when mapped) -> (state, try number)."""
        return {
            t["task_id"] + (f"[{t['map_index']}]" if t["map_index"] >= 0 else ""): (
                t["state"],
                t["try_number"],
            )
            for t in self.task_instances(dag_id, run_id)
        }

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.get(path + (f"?map_index={map_index}" if map_index >= 0 else ""))["value"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        state = self.run_state(dag_id, run_id)
        while state not in ("success", "failed") and time.monotonic() < deadline:
            time.sleep(1)
            state = self.run_state(dag_id, run_id)
        return state


def prepare_home(home: Path, connections: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """An Airflow home with the example DAGs and this suite's own; the environment to run it."""
    dags = home / "dags"
    dags.mkdir()
    for source in [*(ROOT / "example_dags").glob("*.py"), *(HERE / "dags").glob("*.py")]:
        shutil.copy(source, dags / source.name)
    plugins = home / "plugins"  # the default [core] plugins_folder: on the triggerer's path
    plugins.mkdir()
    for source in [*(ROOT / "example_plugins").glob("*.py"), *(HERE / "plugins").glob("*.py")]:
        shutil.copy(source, plugins / source.name)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", ""),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # As in any real deployment: connection passwords and sealed trigger secrets encrypted.
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
    }
    for conn_id, fields in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(fields)
    return env


def api_url(env: Mapping[str, str]) -> str:
    return f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}"


def start(command: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``airflow <command>`` in its own process group, its output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(BIN / "airflow"), *command],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """Stop a process group: SIGTERM with a grace period, then SIGKILL (or SIGKILL at once).

    What the group started in groups of its own (a task's process, under a Celery worker) goes
    with it, as on a machine that dies: SIGKILLed once the group is gone."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    try:
        _stop_group(process, kill=kill)
    finally:
        for child in descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def _stop_group(process: subprocess.Popen[bytes], *, kill: bool) -> None:
    steps = ((signal.SIGKILL, 10),) if kill else ((signal.SIGTERM, 20), (signal.SIGKILL, 10))
    for sig, grace in steps:
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


def wait_for_line(
    log: Path, text: str, seconds: float, processes: Iterable[subprocess.Popen[bytes]]
) -> None:
    """Until ``text`` shows in ``log``; an error at once when one of ``processes`` exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if any(p.poll() is not None for p in processes):
            break
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{text!r} never showed in {log}:\n{tail}")


def wait_until_ready(
    client: Airflow,
    processes: Iterable[subprocess.Popen[bytes]],
    dag_ids: set[str],
) -> None:
    """Until the health endpoint reports every component healthy and ``dag_ids`` are parsed."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        exited = [" ".join(map(str, p.args[1:])) for p in processes if p.poll() is not None]
        if exited:
            raise RuntimeError(f"{exited} exited:\n{client.log.read_text()[-3000:]}")
        try:
            health = client.get("/monitor/health")
            dags = {d["dag_id"] for d in client.get("/dags?limit=100")["dags"]}
            if all(health[c]["status"] == "healthy" for c in COMPONENTS) and dag_ids <= dags:
                return
        except (requests.RequestException, KeyError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(f"Airflow not ready:\n{client.log.read_text()[-3000:]}")


class Deployment:
    """Airflow's components as separate processes, each of which a test may kill and restart."""

    COMMANDS = {
        "api-server": ["api-server"],
        "dag-processor": ["dag-processor"],
        "scheduler": ["scheduler"],
        "triggerer": ["triggerer"],
    }

    def __init__(self, home: Path, env: Mapping[str, str]) -> None:
        self.home = home
        self.env = dict(env)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.settings: dict[str, dict[str, str]] = {}  # component -> its own environment
        self.client = Airflow(api_url(env), home / "scheduler.log")

    def start(self, dag_ids: set[str]) -> None:
        subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=STARTUP_SECONDS,
        )
        for name in self.COMMANDS:
            self.start_component(name)
        try:
            wait_until_ready(self.client, self.processes.values(), dag_ids)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n{self.tails()}") from None

    def tails(self, chars: int = 2000) -> str:
        """The end of each component's log."""
        return "\n".join(
            f"--- {name}.log\n{(self.home / f'{name}.log').read_text(errors='replace')[-chars:]}"
            for name in self.COMMANDS
            if (self.home / f"{name}.log").exists()
        )

    def start_component(self, name: str) -> None:
        env = {**self.env, **self.settings.get(name, {})}
        self.processes[name] = start(self.COMMANDS[name], env, self.home / f"{name}.log")

    def stop_component(self, name: str) -> None:
        stop(self.processes.pop(name))

    def wait_for(self, what: str, seconds: float, check: Callable[[], bool]) -> None:
        """Until ``check()`` holds; a ``TimeoutError`` naming ``what``, with the logs' ends."""
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}\n{self.tails()}")
            time.sleep(0.5)

    @contextlib.contextmanager
    def supervised(self, every: float = 0.5) -> Iterator[dict[str, list[float]]]:
        """Start again each component that exits while the block runs, as a process supervisor
        would (systemd's ``Restart=always``, Kubernetes), after stopping what it left in its
        process group; yields, per component, the seconds into the block at each start."""
        restarts: dict[str, list[float]] = {}
        done = threading.Event()
        began = time.monotonic()

        def watch() -> None:
            while not done.wait(every):
                for name, process in list(self.processes.items()):
                    if process.poll() is not None:
                        restarts.setdefault(name, []).append(round(time.monotonic() - began, 1))
                        stop(process)  # what it left in its group, as systemd stops a unit's
                        self.start_component(name)

        watcher = threading.Thread(target=watch, name="supervisor", daemon=True)
        watcher.start()
        try:
            yield restarts
        finally:
            done.set()
            watcher.join()

    def kill(self, name: str) -> None:
        """SIGKILL the component and everything it started: no chance to clean up."""
        stop(self.processes.pop(name), kill=True)

    def stop(self) -> None:
        """Every component at once (SIGTERM, then SIGKILL after a grace period)."""
        processes = [self.processes.pop(name) for name in list(self.processes)]
        with ThreadPoolExecutor(max(1, len(processes))) as pool:
            list(pool.map(stop, processes))


def check_example_dags(airflow: Airflow, job_api: JobAPI, seconds: float) -> None:
    """The example DAG in each mode (poke, reschedule, deferrable) and an alarm: the outcomes,
    the XComs and the requests each job got (the same on every executor)."""
    runs = {
        "success": ("example_httsleep_job", {"polls": 2, "outcome": "OK"}),
        "alarm": ("example_httsleep_job", {"polls": 1, "outcome": "ERROR"}),
        "deferrable": ("example_httsleep_job_deferrable", {"polls": 4, "outcome": "OK"}),
        "reschedule": ("example_httsleep_job_reschedule", {"polls": 3, "outcome": "OK"}),
    }
    run_ids = {name: airflow.trigger(dag_id, conf) for name, (dag_id, conf) in runs.items()}
    seen: dict[str, set[str | None]] = {name: set() for name in runs}
    finished: dict[str, str] = {}
    deadline = time.monotonic() + seconds
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
    assert job_api.requests_per_job()[job_id] == 1 + 5  # the POST, then polls + 1 GETs

    # Reschedule: the sensor went through "up_for_reschedule" between pokes.
    assert finished["reschedule"] == "success"
    assert "up_for_reschedule" in seen["reschedule"], seen["reschedule"]
