"""End to end on the production topology (tests/e2e/cluster.py: PostgreSQL, Redis, CeleryExecutor
with two workers, two triggerers), one deployment for the whole module, with faults:

- the example DAGs in the three modes, as on LocalExecutor;
- a triggerer SIGKILLed under 50 deferred sensors: the other takes its triggers over;
- a Celery worker SIGKILLed while a poke is in flight (poke and reschedule mode);
- Redis restarted, then PostgreSQL restarted (fast stop, start) while sensors wait.

Select them with ``-m cluster`` (``make test-cluster``). Every count asserted is a count of the
job API's own request log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import psutil
import pytest

from httsleep_airflow.testing import JobAPI
from tests.e2e.cluster import Cluster, running_cluster
from tests.e2e.dags import cluster_faults as dags
from tests.e2e.services import Airflow, check_example_dags

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

HEALTH_THRESHOLD = 8  # [triggerer] triggerer_health_check_threshold in this deployment
HA_INTERVAL = 3  # the HA sensors' poke_interval
TI_HEARTBEAT_TIMEOUT = 15  # [scheduler] task_instance_heartbeat_timeout
TASK_QUEUED_TIMEOUT = 30  # [scheduler] task_queued_timeout
RUN_SECONDS = 300


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, job_api_e2e: JobAPI) -> Iterator[Cluster]:
    settings = {
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_THRESHOLD),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TI_HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        # A task a worker took from Redis but never ran (after a Redis restart) is queued again
        # after this long, without using a try.
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(TASK_QUEUED_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "5",
    }
    with running_cluster(
        tmp_path_factory.mktemp("airflow-cluster"),
        {"job_api": {"conn_type": "httsleep", "host": job_api_e2e.url}},
        {"example_httsleep_job", "httsleep_cluster_ha", "httsleep_cluster_outage"},
        settings,
        # Half the HA test's sensors fill the first triggerer; the second takes the rest.
        {"triggerer-1": {"AIRFLOW__TRIGGERER__CAPACITY": str(dags.HA_SENSORS // 2)}},
    ) as deployment:
        yield deployment


def _job_ids(airflow: Airflow, dag_id: str, run_id: str) -> list[str]:
    return [e.rsplit("/", 1)[1] for e in airflow.xcom(dag_id, run_id, "submit_jobs")]


def _polled(api: JobAPI, jobs: list[str], at_least: int) -> set[str]:
    counts = api.requests_per_job()
    return {job for job in jobs if counts[job] >= at_least}


def test_example_dags_on_the_cluster(cluster: Cluster, job_api_e2e: JobAPI):
    check_example_dags(cluster.client, job_api_e2e, RUN_SECONDS)


def test_a_triggerer_dies_the_other_takes_its_sensors_over(
    cluster: Cluster, job_api_e2e: JobAPI, capsys: pytest.CaptureFixture[str]
):
    airflow, api = cluster.client, job_api_e2e
    cluster.stop_component("triggerer-2")  # so that triggerer-1 fills up first
    run_id = airflow.trigger("httsleep_cluster_ha")
    jobs: list[str] = []

    def first_half_polling() -> bool:
        nonlocal jobs
        if not jobs:
            try:
                jobs = _job_ids(airflow, "httsleep_cluster_ha", run_id)
            except Exception:  # not submitted yet
                return False
        states = airflow.states("httsleep_cluster_ha", run_id)
        deferred = [s for s, (state, _) in states.items() if state == "deferred"]
        return len(deferred) == dags.HA_SENSORS and len(_polled(api, jobs, 3)) == len(jobs) // 2

    cluster.wait_for("25 sensors polled by triggerer-1", 400, first_half_polling)
    first = _polled(api, jobs, 3)  # the POST, the worker's poke, then triggerer-1's polls
    assert len(first) == dags.HA_SENSORS // 2
    cluster.start_component("triggerer-2")
    cluster.wait_for("every sensor polled", 120, lambda: _polled(api, jobs, 3) == set(jobs))

    killed_at = time.monotonic()
    cluster.kill("triggerer-1")
    at_kill = api.requests_per_job()
    bound = HEALTH_THRESHOLD + HA_INTERVAL

    def taken_over() -> bool:
        times = api.poll_times()
        return all(any(t > killed_at + 1 for t in times[job]) for job in first)

    cluster.wait_for("triggerer-2 polling triggerer-1's sensors", 4 * bound, taken_over)
    times = api.poll_times()
    waits = {job: min(t for t in times[job] if t > killed_at + 1) - killed_at for job in first}
    assert max(waits.values()) <= bound, waits  # none waited past threshold + one interval
    # triggerer-2's own sensors never stopped polling
    for job in set(jobs) - first:
        gaps = [b - a for a, b in zip(times[job], times[job][1:], strict=False) if b > killed_at]
        assert max(gaps) < 2 * HA_INTERVAL, (job, gaps)

    exhaust = {jobs[i] for i in range(dags.HA_SENSORS) if i % dags.HA_EXHAUST_EVERY == 0}
    released = {job: api.finish_after(job, 2) for job in jobs if job not in exhaust}
    state = airflow.wait_for_run("httsleep_cluster_ha", run_id, RUN_SECONDS)
    states = airflow.states("httsleep_cluster_ha", run_id)
    final = api.requests_per_job()
    assert state == "failed", states  # the budgets that ran out fail the run
    overshoot = {}
    for i, job in enumerate(jobs):
        sensor = f"wait[{i}]"
        if job in exhaust:
            assert states[sensor] == ("failed", 1), sensor
            overshoot[job] = final[job] - 1 - dags.HA_BUDGET  # less the POST
        else:
            assert states[sensor] == ("success", 1), sensor
            assert final[job] == released[job] + 2, sensor  # RUNNING, then OK
            assert airflow.xcom("httsleep_cluster_ha", run_id, "wait", i) == (f"s3://results/{job}")
    orphans = {job: overshoot[job] for job in exhaust & first}
    survivors = {job: overshoot[job] for job in exhaust - first}
    with capsys.disabled():
        print(
            f"\nHA: triggerer-1 killed; takeover waits {min(waits.values()):.1f}-"
            f"{max(waits.values()):.1f} s (bound {bound} s); budget overshoot of the orphaned "
            f"sensors {sorted(orphans.values())} (they had made "
            f"{sorted(at_kill[j] - 2 for j in orphans)} trigger polls at the kill), of the "
            f"others {sorted(survivors.values())}"
        )
    assert orphans and survivors
    assert set(survivors.values()) == {0}
    # The count the dead triggerer recorded is where the next one starts: at most the one
    # request in flight at the kill is counted twice.
    assert all(0 <= o <= 1 for o in orphans.values()), orphans
    cluster.start_component("triggerer-1")


def _worker_running(cluster: Cluster, pid: int, port: int) -> str | None:
    """The Celery worker that started the task process ``pid``, while that process holds a
    connection to ``port`` (a poke in flight to the job API)."""
    for name in Cluster.WORKERS:
        for child in psutil.Process(cluster.processes[name].pid).children(recursive=True):
            if child.pid != pid:
                continue
            try:
                connections = child.net_connections(kind="tcp")
            except psutil.Error:
                return None
            in_flight = any(c.raddr and c.raddr.port == port for c in connections)
            return name if in_flight else None
    return None


def _monotonic(iso: str) -> float:
    """An Airflow timestamp on this process's ``time.monotonic()`` clock (the job API's)."""
    return datetime.fromisoformat(iso).timestamp() - (time.time() - time.monotonic())


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_worker_dies_mid_poke(
    cluster: Cluster, job_api_e2e: JobAPI, mode: str, capsys: pytest.CaptureFixture[str]
):
    airflow, api = cluster.client, job_api_e2e
    dag_id = f"httsleep_cluster_worker_kill_{mode}"
    run_id = airflow.trigger(dag_id)
    job = ""

    def second_poke_in_flight() -> bool:
        nonlocal job
        if not job:
            try:
                (job,) = _job_ids(airflow, dag_id, run_id)
            except Exception:
                return False
        times = api.poll_times()[job]
        # a poke started under a second ago; its answer takes WORKER_KILL_SLOW seconds
        return len(times) >= 2 and time.monotonic() - times[-1] < 1

    task = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/wait"
    worker = None

    def second_poke_in_flight_on_a_worker() -> bool:
        nonlocal worker
        if not second_poke_in_flight():
            return False
        worker = _worker_running(cluster, airflow.get(task)["pid"], api.port)
        return worker is not None

    cluster.wait_for("a second poke in flight", 240, second_poke_in_flight_on_a_worker)
    assert worker is not None
    killed_at = time.monotonic()
    cluster.kill(worker)
    cluster.start_component(worker)
    at_kill = api.requests_per_job()[job]

    def try_2_polling() -> bool:
        _state, try_number = airflow.states(dag_id, run_id)["wait"]
        return try_number == 2 and api.requests_per_job()[job] > at_kill

    cluster.wait_for("try 2 poking", 120, try_2_polling)
    tries = {t["try_number"]: t for t in airflow.get(f"{task}/tries")["task_instances"]}
    retried = _monotonic(tries[2]["start_date"]) - killed_at
    resumed = [t - killed_at for t in api.poll_times()[job] if t > killed_at]
    with capsys.disabled():
        print(
            f"\n{mode}: worker killed mid-poke; Airflow failed try 1 "
            f"{_monotonic(tries[1]['end_date']) - killed_at:.1f} s later and started try 2 at "
            f"{retried:.1f} s; polls since the kill at {[round(t, 1) for t in resumed]} s"
        )
    assert tries[1]["state"] == "failed"
    # Nothing polled while the task was dead: its process went with the worker, and the first
    # poll after the kill is the retry's (0.1 s: Airflow's clock read against this one's).
    assert resumed[0] >= retried - 0.1, (resumed, retried)
    released = api.finish_after(job, 2)
    state = airflow.wait_for_run(dag_id, run_id, RUN_SECONDS)
    assert state == "success", airflow.states(dag_id, run_id)
    assert airflow.states(dag_id, run_id)["wait"] == ("success", 2)  # the retry finished it
    assert api.requests_per_job()[job] == released + 2
    assert airflow.xcom(dag_id, run_id, "wait") == f"s3://results/{job}"


def _outage(cluster: Cluster, api: JobAPI, restart) -> None:
    """Sensors in the three modes wait; ``restart()`` breaks something; they all finish."""
    airflow = cluster.client
    run_id = airflow.trigger("httsleep_cluster_outage")
    jobs: list[str] = []
    modes = ("poke", "reschedule", "deferrable")
    waiting = {"poke": "running", "reschedule": "up_for_reschedule", "deferrable": "deferred"}

    def all_waiting() -> bool:
        nonlocal jobs
        if not jobs:
            try:
                jobs = _job_ids(airflow, "httsleep_cluster_outage", run_id)
            except Exception:
                return False
        states = airflow.states("httsleep_cluster_outage", run_id)
        return len(_polled(api, jobs, 3)) == 3 and all(states[m][0] == waiting[m] for m in modes)

    cluster.wait_for("sensors waiting", 240, all_waiting)
    # A component that exits on the outage is started again, as a process supervisor would:
    # Airflow's scheduler and triggerer exit on a database error mid-loop, sometimes seconds
    # after the database is back.
    with cluster.supervised() as restarts:
        restart()
        at_restart = api.requests_per_job()
        cluster.wait_for(
            "every sensor polling again",
            120,
            lambda: all(api.requests_per_job()[j] >= at_restart[j] + 2 for j in jobs),
        )
        released = {job: api.finish_after(job, 2) for job in jobs}
        state = airflow.wait_for_run("httsleep_cluster_outage", run_id, RUN_SECONDS)
    print(f"outage ({type(restart.__self__).__name__} restarted): started again {restarts}")
    states = airflow.states("httsleep_cluster_outage", run_id)
    assert state == "success", states
    final = api.requests_per_job()
    for mode, job in zip(modes, jobs, strict=True):
        assert states[mode] == ("success", 1), mode  # nothing lost, no retry used
        assert final[job] == released[job] + 2, mode
    # Every component is up at the end, and none went on exiting once the database was back.
    exited = [name for name, p in cluster.processes.items() if p.poll() is not None]
    assert exited == [], cluster.tails(6000)
    assert all(len(times) <= 3 for times in restarts.values()), (restarts, cluster.tails(6000))


def test_redis_restarted_while_sensors_wait(cluster: Cluster, job_api_e2e: JobAPI):
    _outage(cluster, job_api_e2e, cluster.redis.restart)


def test_postgres_restarted_while_sensors_wait(cluster: Cluster, job_api_e2e: JobAPI):
    _outage(cluster, job_api_e2e, cluster.postgres.restart)
