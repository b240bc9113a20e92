"""End to end on Airflow's components run one by one (API server, DAG processor, scheduler,
triggerer; LocalExecutor; SQLite), so that a test can kill one and start it again:

- the triggerer dies (SIGKILL, with its trigger runner) while sensors are deferred;
- the scheduler dies (SIGKILL, with its executor) while reschedule-mode sensors wait;
- then every log the deployment wrote is searched for the secrets its DAGs used.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from httsleep_airflow.testing import JobAPI, running_job_api
from tests.e2e.services import Airflow, Deployment, prepare_home
from tests.scripted_server import Reply, ScriptedServer

pytestmark = pytest.mark.e2e

TOKEN = "tok-E2E-" + "7f3a91c0d2" * 30  # 308 characters: an excerpt cut falls inside it
API_KEY = 'key-E2E-"q"\\b-2b8c44'  # a quote and a backslash: JSON-escaped when echoed
PARTNER_KEY = "partner-E2E-93d0e1"
BASIC_PASSWORD = "pw-E2E-5e62aa"
USERINFO_PASSWORD = "ui-E2E-c1d7f0"
QUERY_KEY = "qs-E2E-40aa17"
PROXY_PASSWORD = "proxy-E2E-8e1b02"
SECRETS = {
    "bearer token": TOKEN,
    "API key header": API_KEY,
    "sensor header": PARTNER_KEY,
    "basic password": BASIC_PASSWORD,
    "basic header value": base64.b64encode(f"ann:{BASIC_PASSWORD}".encode()).decode(),
    "user-info password": USERINFO_PASSWORD,
    "query-string key": QUERY_KEY,
    "proxy password": PROXY_PASSWORD,
}
RUN = 8  # no run of this many characters of a secret, in any form, may show


def _runs(secret: str) -> set[str]:
    forms = {secret, json.dumps(secret)[1:-1], urllib.parse.quote(secret, safe="")}
    return {form[i : i + RUN] for form in forms for i in range(len(form) - RUN + 1)}


TRIGGERER_RESTART = "httsleep_triggerer_restart"
SCHEDULER_RESTART = "httsleep_scheduler_restart"
SHARED_TRIGGERER = "httsleep_shared_triggerer"
DEEP_JSON = b"[" * 200_000 + b"]" * 200_000  # past the JSON decoder's depth limit


@pytest.fixture(scope="module")
def job_apis() -> Iterator[tuple[JobAPI, JobAPI]]:
    """The open job API, and one that wants the bearer token."""
    with running_job_api() as open_api, running_job_api(token=TOKEN) as secure_api:
        yield open_api, secure_api


@pytest.fixture(scope="module")
def deep_json_server() -> Iterator[ScriptedServer]:
    """Answers RUNNING once (the worker's poke), then a body the decoder cannot take."""
    server = ScriptedServer().start()
    server.script(Reply(body={"status": "RUNNING"}), Reply(body=DEEP_JSON))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    job_apis: tuple[JobAPI, JobAPI],
    deep_json_server: ScriptedServer,
) -> Iterator[Deployment]:
    open_api, secure_api = job_apis
    home = tmp_path_factory.mktemp("airflow-deployment")
    env = prepare_home(
        home,
        {
            "job_api": {"conn_type": "httsleep", "host": open_api.url},
            "secure_job_api": {
                "conn_type": "httsleep",
                "host": secure_api.url,
                "password": TOKEN,
                "extra": {
                    "auth_type": "bearer",
                    "headers": {"X-Api-Key": API_KEY},
                    "proxies": {"https": f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:9"},
                },
            },
            "basic_job_api": {
                "conn_type": "httsleep",
                "host": open_api.url,
                "login": "ann",
                "password": BASIC_PASSWORD,
            },
        },
    )
    env.update(
        {
            # A dead triggerer's triggers go to a live one once its heartbeat is this old.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW_VAR_PARTNER_HEADER": PARTNER_KEY,
            "AIRFLOW_VAR_USERINFO_PW": USERINFO_PASSWORD,
            "AIRFLOW_VAR_QUERY_KEY": QUERY_KEY,
            "AIRFLOW_VAR_JOB_API_ADDRESS": open_api.url.removeprefix("http://"),
            "AIRFLOW_VAR_DEEP_JSON_URL": deep_json_server.url("/deep"),
        }
    )
    deployment = Deployment(home, env)
    try:
        deployment.start(
            {TRIGGERER_RESTART, SCHEDULER_RESTART, SHARED_TRIGGERER, "httsleep_secrets"}
        )
        yield deployment
    finally:
        deployment.stop()


def _gets(api: JobAPI, endpoints: dict[str, str]) -> dict[str, int]:
    """GETs per sensor (the job API also counts each job's POST)."""
    counts = api.requests_per_job()
    return {name: counts[endpoint.rsplit("/", 1)[1]] - 1 for name, endpoint in endpoints.items()}


def _endpoints(airflow: Airflow, dag_id: str, run_id: str) -> dict[str, str]:
    """Sensor ``kind[i]`` -> the job endpoint its submit task returned."""
    found = {}
    for kind in ("finish", "alarm", "exhaust"):
        for i, endpoint in enumerate(airflow.xcom(dag_id, run_id, f"submit_{kind}")):
            found[f"{kind}[{i}]"] = endpoint
    return found


def _failed_by_scheduler_race(home: Path, task_id: str) -> bool:
    """Whether Airflow's scheduler failed ``task_id`` itself (see ``_task_log``)."""
    race = "finished with state success, but the task instance's state attribute is queued"
    log = (home / "scheduler.log").read_text(errors="replace")
    return any(race in line and f".{task_id} " in line for line in log.splitlines())


def _task_log(home: Path, dag_id: str, run_id: str, task_id: str) -> str:
    """The task's log (try 1), its trigger's lines included (``attempt=1.log.trigger.N.log``):
    the trigger's event carries the cause even when Airflow's scheduler fails a task whose
    trigger fired while the executor's report of its deferral was still on its way (it logs
    "finished with state success, but the task instance's state attribute is queued" and marks
    it failed without resuming it)."""
    folder = home / f"logs/dag_id={dag_id}/run_id={run_id}/task_id={task_id}"
    paths = sorted(folder.glob("attempt=1.log*"))
    assert paths, folder
    return "".join(path.read_text(errors="replace") for path in paths)


def test_one_bad_sensor_never_hurts_another_on_a_shared_triggerer(
    deployment: Deployment, job_apis: tuple[JobAPI, JobAPI], deep_json_server: ScriptedServer
):
    airflow, api = deployment.client, job_apis[0]
    triggerer = deployment.processes["triggerer"]
    requests.post(  # in the database, so that a task can delete it
        f"{airflow.api}/api/v2/connections",
        json={"connection_id": "doomed_api", "conn_type": "httsleep", "host": api.url},
        timeout=30,
    ).raise_for_status()
    run_id = airflow.trigger(SHARED_TRIGGERER)
    state = airflow.wait_for_run(SHARED_TRIGGERER, run_id, 300)
    states = airflow.states(SHARED_TRIGGERER, run_id)
    assert state == "failed", states

    def gets(task_id: str) -> int:
        location = airflow.xcom(SHARED_TRIGGERER, run_id, f"submit_{task_id}")
        return api.requests_per_job()[location.rsplit("/", 1)[1]] - 1  # less the POST

    # Every healthy sensor finishes exactly as it would alone: PENDING, RUNNING x 5, OK.
    for task_id in ("healthy_0", "healthy_1", "healthy_2", "healthy_callback"):
        assert states[task_id] == ("success", 1), task_id
        assert gets(task_id) == 7, task_id
    assert states["healthy_alarm"] == ("failed", 1)  # its alarm, as it would alone
    assert gets("healthy_alarm") == 7
    # Every broken one fails on try 1, within one poll of deferring, with its own cause.
    expected = {
        "unimportable": (1, "httsleep_smuggled_checks.job_done' cannot be imported"),
        "connection_gone": (1, "connection 'doomed_api' could not be read in the triggerer"),
        "raising_callback": (2, "breaks_when_running cannot judge a RUNNING job"),
    }
    for task_id, (requests_made, cause) in expected.items():
        assert states[task_id] == ("failed", 1), task_id
        assert gets(task_id) == requests_made, task_id
        assert cause in _task_log(deployment.home, SHARED_TRIGGERER, run_id, task_id), task_id
    assert states["bad_body"] == ("failed", 1)
    assert len(deep_json_server.received) == 2
    bad_body_log = _task_log(deployment.home, SHARED_TRIGGERER, run_id, "bad_body")
    assert "JSONTooDeep" in bad_body_log  # a ValueError that names the limit
    # The triggerer never restarted: the same process ran every trigger, its runner never died.
    assert deployment.processes["triggerer"] is triggerer and triggerer.poll() is None
    assert "Trigger runner process has died" not in (deployment.home / "triggerer.log").read_text()


def test_triggerer_killed_while_sensors_are_deferred(
    deployment: Deployment, job_apis: tuple[JobAPI, JobAPI]
):
    airflow, api = deployment.client, job_apis[0]
    run_id = airflow.trigger(TRIGGERER_RESTART)
    sensors = [f"{kind}[{i}]" for kind in ("finish", "alarm", "exhaust") for i in range(2)]

    def all_deferred_and_polled() -> bool:
        states = airflow.states(TRIGGERER_RESTART, run_id)
        if any(states.get(s, (None, 0))[0] != "deferred" for s in sensors):
            return False
        gets = _gets(api, _endpoints(airflow, TRIGGERER_RESTART, run_id))
        return min(gets.values()) >= 3  # the worker's poke, then at least two from the trigger

    deployment.wait_for("sensors deferred and polling", 240, all_deferred_and_polled)
    deployment.kill("triggerer")
    time.sleep(1)  # a request the dead triggerer sent has been counted by now
    endpoints = _endpoints(airflow, TRIGGERER_RESTART, run_id)
    at_kill = _gets(api, endpoints)
    time.sleep(3)
    assert _gets(api, endpoints) == at_kill  # nothing polls while no triggerer runs
    deployment.start_component("triggerer")

    state = airflow.wait_for_run(TRIGGERER_RESTART, run_id, 300)
    states = airflow.states(TRIGGERER_RESTART, run_id)
    final = _gets(api, endpoints)
    assert state == "failed", states  # the alarms and the give-ups fail the run
    for i in range(2):
        # A finishing job: the sensor stops at the first OK, whoever polled before.
        assert states[f"finish[{i}]"] == ("success", 1)
        assert final[f"finish[{i}]"] == 26  # PENDING, RUNNING x 24, OK
        assert airflow.xcom(TRIGGERER_RESTART, run_id, "finish", i) == (
            f"s3://results/{endpoints[f'finish[{i}]'].rsplit('/', 1)[1]}"
        )
        # A failing job: the alarm fails the task at once; its two retries are not used.
        assert states[f"alarm[{i}]"] == ("failed", 1)
        assert final[f"alarm[{i}]"] == 26
        # A job that never finishes: the dead triggerer recorded its count after each request
        # (XCom httsleep_polls) and the new one starts from it, so the budget (20) is exceeded
        # by at most the one request in flight at the kill.
        assert states[f"exhaust[{i}]"] == ("failed", 1)
        assert at_kill[f"exhaust[{i}]"] >= 3
        assert final[f"exhaust[{i}]"] in (20, 21)


def test_scheduler_killed_during_a_reschedule_wait(
    deployment: Deployment, job_apis: tuple[JobAPI, JobAPI]
):
    airflow, api = deployment.client, job_apis[0]
    run_id = airflow.trigger(SCHEDULER_RESTART)
    sensors = ["wait[0]", "wait[1]", "wait[2]"]  # finish, alarm, exhaust
    last_change: dict[str, tuple[int, float]] = {}  # sensor -> (GETs, when they last changed)

    def all_waiting_after_two_pokes() -> bool:
        """Each sensor has poked twice and is waiting, its latest poke under 4 s old: its next
        one is 11 s away or more, so no task runs when the scheduler (and its executor) dies."""
        now = time.monotonic()
        try:
            gets = _gets(api, sensor_endpoints())
        except requests.HTTPError:  # the submit task has not pushed the endpoints yet
            return False
        for name, count in gets.items():
            if last_change.get(name, (None, 0.0))[0] != count:
                last_change[name] = (count, now)
        states = airflow.states(SCHEDULER_RESTART, run_id)
        return all(
            states.get(s, (None, 0))[0] == "up_for_reschedule"
            and gets[s] >= 2
            and now - last_change[s][1] < 4
            for s in sensors
        )

    def sensor_endpoints() -> dict[str, str]:
        kwargs = airflow.xcom(SCHEDULER_RESTART, run_id, "submit_with_budgets")
        return {f"wait[{i}]": k["endpoint"] for i, k in enumerate(kwargs)}

    deployment.wait_for("sensors waiting for their next poke", 240, all_waiting_after_two_pokes)
    deployment.kill("scheduler")
    endpoints = sensor_endpoints()
    at_kill = _gets(api, endpoints)
    time.sleep(5)
    deployment.start_component("scheduler")

    state = airflow.wait_for_run(SCHEDULER_RESTART, run_id, 300)
    states = airflow.states(SCHEDULER_RESTART, run_id)
    final = _gets(api, endpoints)
    assert state == "failed", states
    assert min(at_kill.values()) >= 2
    # The poke count lives in the database (one reschedule per poke), so a new scheduler
    # carries on with it: exactly the pokes each job needs, and exactly max_retries.
    assert states["wait[0]"] == ("success", 1)  # finish: PENDING, RUNNING x 3, OK
    assert final["wait[0]"] == 5
    assert states["wait[1]"] == ("failed", 1)  # alarm: PENDING, RUNNING x 3, ERROR
    assert final["wait[1]"] == 5
    assert states["wait[2]"] == ("failed", 1)  # exhaust: max_retries=5
    assert final["wait[2]"] == 5


def test_no_secret_in_any_log(deployment: Deployment, job_apis: tuple[JobAPI, JobAPI]):
    airflow = deployment.client
    run_id = airflow.trigger("httsleep_secrets")
    state = airflow.wait_for_run("httsleep_secrets", run_id, 300)
    states = airflow.states("httsleep_secrets", run_id)
    assert state == "failed", states
    for mode in ("poke", "reschedule", "deferrable"):
        # The secrets were sent (the secure API refuses requests without the token)...
        assert states[f"bearer_{mode}"] == ("failed", 1)
        assert states[f"basic_{mode}"] == ("failed", 1)
        task_id = f"userinfo_{mode}"
        if states[task_id] != ("success", 1) and _failed_by_scheduler_race(
            deployment.home, task_id
        ):  # Airflow's own race (see _task_log): what the sensor did is in its trigger's log
            log = _task_log(deployment.home, "httsleep_secrets", run_id, task_id)
            assert "-> 200; met" in log and "Trigger fired event" in log
            continue
        assert states[task_id] == ("success", 1)
        xcom = airflow.xcom("httsleep_secrets", run_id, task_id)
        assert xcom.startswith("s3://results/")

    # ...and each alarm logged the echoed headers, masked. Now search every file the deployment
    # wrote under its home: task logs (the triggerer's lines included), the DAG processor's,
    # and each component's own output.
    logs = [p for p in deployment.home.rglob("*") if p.is_file() and "log" in p.name]
    text = {p: p.read_bytes().decode(errors="replace") for p in logs}
    masked = re.compile(r'X-Api-Key\\?": \\?"\*\*\*')  # in plain and in JSON log lines
    assert any(masked.search(t) for t in text.values()), "no alarm excerpt was logged"
    assert any("http://127.0.0.1:" in t and "/jobs/" in t for t in text.values())
    assert any("api_key=***" in t for t in text.values()), "no query-string key was logged"
    leaks = [
        f"{what} ({run!r}) in {path.relative_to(deployment.home)}"
        for path, t in text.items()
        for what, secret in SECRETS.items()
        for run in _runs(secret)
        if run in t
    ]
    assert leaks == []
    assert len(logs) > 10  # every task's log, at least
