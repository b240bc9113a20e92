"""N deferred task instances on one real ``airflow triggerer``: HttSleepTrigger beside
providers-http's HttpSensorTrigger and a floor (``benchmarks._floor_trigger``: what Airflow's
triggerer costs by itself), each row in a fresh Airflow home, in one run.

For each trigger kind and N, the harness:

1. makes a throwaway home (a copy of a freshly migrated SQLite database) and starts the local
   keep-alive server (``benchmarks._server``, on the second core) whose request log is the clock;
2. starts ``airflow triggerer`` in its own process group, its process tree pinned to the first
   core (``taskset``);
3. serializes a DAG whose mapped sensor ``wait`` waits on N jobs, and defers N of its task
   instances the way the execution API does: a DAG run, N task instances in state ``deferred``
   with ``next_method`` and a ``trigger_id``, a trigger row each, kwargs from the sensor's own
   ``serialize()`` (all with Airflow's models, in one transaction: the deferral instant); ours
   are made as after the worker's first poke (``worker_poke``);
4. waits until every job has been polled (the time to start all N triggers), then measures a
   window of W seconds.

Columns: polls/s in the window and its share of the ideal N / I; lateness of each poll against
its trigger's schedule (the gap since the same job's previous request, less I) at p50/p99;
growth of the triggerer's RSS (parent + runner) per trigger started; the triggerer's CPU in the
window, as a share of one core (parent / runner subprocess); the "async thread was blocked" and
"deadlocked" warnings in the triggerer's own log, as "while the triggers started + in the
window"; the trigger runner's full garbage collections in the window and the longest of them
(``benchmarks/gcwatch``: each stops the runner's loop while it walks every object); bytes
written to the task instances' trigger logs per poll; the size of a trigger's kwargs as stored
in its row; the time from deferral until every trigger had polled.

    make bench-triggerer
    python -m benchmarks.bench_triggerer -n 100 -i 10 -w 10          # a quick look
    python -m benchmarks.bench_triggerer -n 5000 --kind httsleep --profile-start /tmp/start
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks._server import serving
from httsleep_airflow._core import REPEAT_FIRST_GAP
from tests.e2e.services import stop

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "bench_triggerer"
RUN_ID = "bench"
UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}
#: Trigger kind -> (its name in the table, the path each job polls). The server answers 200
#: "RUNNING" under /jobs (ours waits for OK) and 404 under /missing (HttpSensor waits past 404).
#: The floor (``benchmarks._floor_trigger``) is the least a polling trigger can do: what the
#: triggerer spends on it is Airflow's own cost of N polling triggers.
KINDS = {
    "floor": ("floor (bare aiohttp)", "/jobs"),
    "floor-lines": ("floor, a line a minute", "/jobs"),
    "httsleep": ("HttSleepTrigger", "/jobs"),
    "http": ("HttpSensorTrigger", "/missing"),
}
#: The DAG each row serializes: a task lists the jobs, a deferrable sensor is mapped over them.
DAG_SOURCE = """
from airflow.sdk import DAG, task
{imports}

with DAG({dag_id!r}, schedule=None):

    @task
    def jobs() -> list[str]:
        return [f"{prefix}/{{i}}" for i in range({n})]

    {sensor}.expand(endpoint=jobs())
"""
SENSORS = {
    "httsleep": (
        "from httsleep_airflow.sensors.httsleep import HttSleepSensor",
        'HttSleepSensor.partial(task_id="wait", httsleep_conn_id="bench", until={until!r}, '
        "poke_interval={interval!r}, deferrable=True)",
    ),
    "http": (
        "from airflow.providers.http.sensors.http import HttpSensor",
        'HttpSensor.partial(task_id="wait", http_conn_id="bench", poke_interval={interval!r}, '
        "deferrable=True)",
    ),
}
#: The floor's task instances are our sensor's; their triggers are the floor's (``make_trigger``).
SENSORS["floor"] = SENSORS["floor-lines"] = SENSORS["httsleep"]
WARNINGS = {"blocked": "async thread was blocked", "deadlocked": "appears deadlocked"}
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- in the seeding process (the row's home) ----------------------------------------------------


def make_trigger(kind: str, endpoint: str, interval: float, share: float) -> Any:
    """The trigger the kind's sensor defers with, built as its ``execute()`` builds it (the
    floor's: its first poll after ``share`` of the interval, as ours spreads its own)."""
    if kind in ("floor", "floor-lines"):
        from benchmarks._floor_trigger import FloorTrigger

        base = json.loads(os.environ["AIRFLOW_CONN_BENCH"])["host"]
        log_every = REPEAT_FIRST_GAP if kind == "floor-lines" else None
        return FloorTrigger(base + endpoint, interval, phase=share * interval, log_every=log_every)
    if kind == "httsleep":
        from httsleep_airflow._conditions import Rules
        from httsleep_airflow.sensors.httsleep import HttSleepSensor

        ours = HttSleepSensor(
            task_id="wait",
            endpoint=endpoint,
            httsleep_conn_id="bench",
            until=UNTIL,
            poke_interval=interval,
            deferrable=True,
        )
        rules = Rules(ours.until, ours.alarms)
        return ours._trigger(
            rules,
            attempts_made=1,
            deadline=time.time() + ours.timeout,
            follows=worker_poke(),
        )
    from airflow.providers.http.sensors.http import HttpSensor
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    theirs = HttpSensor(
        task_id="wait", endpoint=endpoint, http_conn_id="bench", poke_interval=interval
    )
    return HttpSensorTrigger(  # what HttpSensor.execute defers with
        endpoint=theirs.endpoint,
        http_conn_id=theirs.http_conn_id,
        data=theirs.request_params,
        headers=theirs.headers,
        method=theirs.method,
        extra_options=theirs.extra_options,
        poke_interval=theirs.poke_interval,
    )


@functools.cache
def worker_poke() -> str | None:
    """What the sensor's poke 1 on the worker hands its trigger (``follows``): the fingerprint
    of what that poke found, the job API's one answer (``benchmarks._server.BODY``), made by
    the engine as the poke makes it. The same for every job: made once."""
    from benchmarks._server import BODY
    from httsleep_airflow._conditions import Rules
    from tests.helpers import make_response, poke_fingerprint

    answer = make_response(200, BODY, {"Content-Type": "application/json"})
    return poke_fingerprint(Rules(UNTIL), answer)


def seed(kind: str, n: int, interval: float, go: Callable[[], None]) -> dict[str, float]:
    """Serialize the DAG; once ``go`` returns, defer N task instances of its mapped sensor in
    one transaction."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dagbag import DBDagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.sdk.serde import serialize
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.commit()
        bag = BundleDagBag(dags, bundle_path=dags, bundle_name="dags-folder")
        if bag.import_errors:
            raise RuntimeError(f"the benchmark DAG does not import: {bag.import_errors}")
        sync_bag_to_db(bag, "dags-folder", None, session=session)
    go()
    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag(DAG_ID, session=session)
        assert dag is not None
        now = timezone.utcnow()
        run = dag.create_dagrun(
            run_id=RUN_ID,
            run_after=now,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
        made = {ti.task_id: ti for ti in run.get_task_instances(session=session)}
        made["jobs"].state = TaskInstanceState.SUCCESS
        session.delete(made["wait"])  # the unexpanded placeholder: expanded into N below
        wait, version = dag.get_task("wait"), made["wait"].dag_version_id
        prefix = KINDS[kind][1]
        sizes = []
        for i in range(n):
            trigger = make_trigger(kind, f"{prefix}/{i}", interval, i / n)
            classpath, kwargs = trigger.serialize()
            # As the execution API stores a deferral: the worker's serde form, as JSON.
            row = Trigger(classpath=classpath, kwargs={})
            row.encrypted_kwargs = json.dumps(serialize(kwargs))
            sizes.append(len(row.encrypted_kwargs))
            ti = TaskInstance(wait, dag_version_id=version, run_id=RUN_ID, map_index=i)
            ti.try_number = 1
            ti.start_date = now
            ti.state = TaskInstanceState.DEFERRED
            ti.trigger = row
            ti.next_method = "execute_complete"
            ti.next_kwargs = {}
            session.add(ti)
        session.commit()
        return {"deferred_at": time.time(), "kwargs_bytes": statistics.mean(sizes)}


# -- in the harness ---------------------------------------------------------------------------


def ready_then_wait() -> None:
    """The seeding process's half of the handshake: say "ready", wait for a line."""
    print("ready", flush=True)
    sys.stdin.readline()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as found:
            return [int(child) for child in found.read().split()]
    except FileNotFoundError:
        return []


def read_requests(log: Path) -> list[tuple[float, str]]:
    with open(log) as lines:
        return [(float(t), path) for t, path in (line.split() for line in lines if " " in line)]


@dataclass
class Row:
    kind: str
    n: int
    started: int = 0  # triggers that polled at least once
    start_seconds: float = 0.0
    polls_per_s: float = 0.0
    late_p50: float = 0.0
    late_p99: float = 0.0
    rss_per: float = 0.0
    cpu_parent: float = 0.0
    cpu_runner: float = 0.0
    blocked: int = 0  # over the whole row
    deadlocked: int = 0
    blocked_in_window: int = 0  # of those, in the measured window (the rest: while starting)
    deadlocked_in_window: int = 0
    log_per_poll: float = 0.0
    kwargs_bytes: float = 0.0  # the trigger's kwargs as stored in its row
    full_gcs: int = 0  # full garbage collections of the trigger runner in the window
    full_gc_max: float = 0.0  # the longest of them (the runner's loop stands still meanwhile)


def lateness(
    requests: list[tuple[float, str]], interval: float, w0: float, w1: float
) -> list[float]:
    """How much later than its schedule each poll in [w0, w1] came (its job's previous poll + I)."""
    last: dict[str, float] = {}
    late = []
    for t, path in requests:
        if w0 <= t <= w1 and path in last:
            late.append(t - last[path] - interval)
        last[path] = t
    return sorted(late) or [0.0]


def home_env(home: Path, base: str, settings: Mapping[str, str]) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "benchmarks" / "gcwatch")]),
        "HTTSLEEP_GC_WATCH": str(home / "gc"),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_CONN_BENCH": json.dumps({"conn_type": "httsleep", "host": base}),
        **settings,
    }


@contextmanager
def seeding(
    env: Mapping[str, str], kind: str, n: int, interval: float, log: Path
) -> Iterator[subprocess.Popen[str]]:
    """The seeding process (see ``seed``), started at once: it serializes the DAG meanwhile."""
    with open(log, "w") as errors:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "benchmarks.bench_triggerer"),
                *("--seed", kind, str(n), str(interval)),
            ],
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=ROOT,
        )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@contextmanager
def triggerer(
    env: Mapping[str, str], log: Path, core: int, n: int
) -> Iterator[subprocess.Popen[bytes]]:
    """``airflow triggerer`` in its own process group, pinned to ``core``, for N triggers."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [
                *("taskset", "-c", str(core), BIN / "airflow", "triggerer", "--skip-serve-logs"),
                *("--capacity", str(n + 100)),  # at capacity, it logs so on every loop
            ],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)  # the whole group: the trigger runner too


def wait_for_runner(process: subprocess.Popen[bytes], log: Path, seconds: float = 120) -> int:
    """The trigger runner subprocess's pid, once the triggerer has started it and settled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the triggerer exited:\n{log.read_text()[-3000:]}")
        runners = children(process.pid)
        if runners and "Starting the triggerer" in log.read_text():
            time.sleep(1)  # the runner imports and connects before it is idle
            return runners[0]
        time.sleep(0.5)
    raise TimeoutError(f"the triggerer did not start:\n{log.read_text()[-3000:]}")


@dataclass
class Setup:
    interval: float
    window: float
    start_timeout: float
    template: Path  # a freshly migrated database
    settings: Mapping[str, str]
    cores: tuple[int, int]  # the triggerer's, then the server's and the harness's
    profile: Path | None


def run_row(kind: str, n: int, setup: Setup) -> Row:
    """One row, in a fresh home: start, seed, wait for all N, measure the window."""
    home = Path(tempfile.mkdtemp(prefix="httsleep-bench-triggerer-"))
    (home / "dags").mkdir()
    shutil.copy(setup.template, home / "airflow.db")
    name, prefix = KINDS[kind]
    imports, sensor = SENSORS[kind]
    sensor = sensor.format(until=UNTIL, interval=setup.interval)
    dag = DAG_SOURCE.format(imports=imports, dag_id=DAG_ID, prefix=prefix, n=n, sensor=sensor)
    (home / "dags" / f"{DAG_ID}.py").write_text(dag)
    requests_log, airflow_log = home / "requests.log", home / "triggerer.log"
    row = Row(name, n)
    try:
        with serving(str(requests_log)) as base:
            env = home_env(home, base, setup.settings)
            with (
                seeding(env, kind, n, setup.interval, home / "seed.log") as seeder,
                triggerer(env, airflow_log, setup.cores[0], n) as process,
            ):
                w0, w1, runner = measure(row, process, seeder, setup, requests_log, airflow_log)
        requests = read_requests(requests_log)
        row.polls_per_s = sum(w0 <= t <= w1 for t, _ in requests) / (w1 - w0)
        late = lateness(requests, setup.interval, w0, w1)
        row.late_p50, row.late_p99 = late[len(late) // 2], late[int(len(late) * 0.99)]
        blocked, deadlocked = WARNINGS["blocked"], WARNINGS["deadlocked"]
        row.blocked, row.blocked_in_window = count_warnings(airflow_log, blocked, w0, w1)
        row.deadlocked, row.deadlocked_in_window = count_warnings(airflow_log, deadlocked, w0, w1)
        pauses = full_gc_pauses(home / f"gc.{runner}", w0, w1)
        row.full_gcs, row.full_gc_max = len(pauses), max(pauses, default=0.0)
        trigger_logs = sum(p.stat().st_size for p in (home / "logs").rglob("*.trigger.*.log"))
        row.log_per_poll = trigger_logs / max(1, len(requests))
    finally:
        if os.environ.get("BENCH_KEEP_HOME"):
            print(f"  (home kept: {home})", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)
    return row


def count_warnings(log: Path, text: str, w0: float, w1: float) -> tuple[int, int]:
    """Lines of the triggerer's log that say ``text``: in all, and in the window ``w0..w1``
    (by the ISO time each line starts with)."""
    total = in_window = 0
    for line in log.read_text(errors="replace").splitlines():
        if text in line:
            total += 1
            stamp = line.split(" ", 1)[0].replace("Z", "+00:00")
            try:
                when = datetime.fromisoformat(stamp).timestamp()
            except ValueError:
                continue
            in_window += w0 <= when <= w1
    return total, in_window


def full_gc_pauses(record: Path, w0: float, w1: float) -> list[float]:
    """Seconds each full garbage collection that ended in ``w0..w1`` took (``gcwatch``)."""
    if not record.exists():
        return []
    pauses = [line.split() for line in record.read_text().splitlines()]
    return [float(p[1]) for p in pauses if len(p) == 2 and w0 <= float(p[0]) <= w1]


def seed_failure(home: Path) -> RuntimeError:
    return RuntimeError(f"seeding failed:\n{(home / 'seed.log').read_text()[-3000:]}")


def measure(
    row: Row,
    process: subprocess.Popen[bytes],
    seeder: subprocess.Popen[str],
    setup: Setup,
    requests_log: Path,
    airflow_log: Path,
) -> tuple[float, float, int]:
    """Once the triggerer is idle and the DAG serialized, defer the N task instances, wait
    until all N polled, measure the window; fills ``row``'s start, CPU and memory figures and
    answers the window's bounds."""
    n = row.n
    pid, runner = process.pid, wait_for_runner(process, airflow_log)
    assert seeder.stdout is not None
    for said in seeder.stdout:  # Airflow may log to stdout before it
        if said.strip() == "ready":
            break
    else:
        raise seed_failure(airflow_log.parent)
    rss0 = rss_bytes(pid) + rss_bytes(runner)
    spies = []
    if setup.profile is not None:  # both processes, while the triggers start
        for who, target in (("parent", pid), ("runner", runner)):
            stacks = profile_path(setup.profile, row.kind, n, who)
            command = [BIN / "py-spy", "record", "--pid", str(target), "--format", "raw"]
            command += ["--rate", "100", "--nonblocking", "--output", stacks]
            spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
    print("go", file=seeder.stdin, flush=True)
    out, _ = seeder.communicate(timeout=max(120, n / 10))
    if seeder.returncode:
        raise seed_failure(airflow_log.parent)
    facts = json.loads(out.strip().splitlines()[-1])
    row.kwargs_bytes = facts["kwargs_bytes"]
    deferred = facts["deferred_at"]
    first: dict[str, float] = {}
    deadline = time.time() + setup.start_timeout
    seen = 0
    while len(first) < n and time.time() < deadline:
        time.sleep(0.5)
        requests = read_requests(requests_log)
        for t, path in requests[seen:]:
            first.setdefault(path, t)
        seen = len(requests)
    for spy in spies:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    row.started = len(first)
    row.start_seconds = max(first.values(), default=deferred) - deferred
    cpu0 = cpu_seconds(pid), cpu_seconds(runner)
    w0 = time.time()
    samples = []
    while time.time() < w0 + setup.window:
        time.sleep(max(0.0, min(setup.window / 10, w0 + setup.window - time.time())))
        samples.append(rss_bytes(pid) + rss_bytes(runner))
    w1 = time.time()
    row.cpu_parent = (cpu_seconds(pid) - cpu0[0]) / (w1 - w0)
    row.cpu_runner = (cpu_seconds(runner) - cpu0[1]) / (w1 - w0)
    row.rss_per = (statistics.median(samples) - rss0) / max(1, row.started)
    return w0, w1, runner


def migrated_database() -> Path:
    """One freshly migrated SQLite database; each row starts from a copy of it."""
    home = Path(tempfile.mkdtemp(prefix="httsleep-bench-template-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    return home / "airflow.db"


def profile_path(prefix: Path, kind: str, n: int, who: str) -> Path:
    return prefix.with_name(f"{prefix.name}.{kind}.{n}.{who}.txt")


def profile_summary(path: Path, top: int = 15) -> str:
    """py-spy's raw stacks as the ``top`` frames by inclusive share (below the trunk that every
    sample shares) and by own share, with the share of samples in which this project's code
    (``httsleep_airflow``) is on the stack."""
    inclusive: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    ours = total = 0
    for stack in path.read_text().splitlines():
        frames, _, count = stack.rpartition(" ")
        samples = int(count)
        names = [f for f in frames.split(";") if not f.startswith(("process ", "thread "))]
        total += samples
        own[names[-1] if names else "?"] += samples
        for name in set(names):
            inclusive[name] += samples
        ours += samples * any("httsleep_airflow/" in name for name in names)
    total = max(1, total)
    lines = [
        f"{path.name}: {total} samples at 100 Hz; httsleep_airflow on the stack: {ours / total:.1%}"
    ]
    for title, counts in (("inclusive", inclusive), ("own", own)):
        below_trunk = {k: v for k, v in counts.items() if v < 0.9 * total}
        lines.append(f"  by {title} share:")
        for name, samples in sorted(below_trunk.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"  {samples / total:6.1%}  {name}")
    return "\n".join(lines)


def settings_env(pairs: list[str]) -> dict[str, str]:
    """``section.key=value`` pairs as AIRFLOW__SECTION__KEY variables."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot and section and name):
            raise SystemExit(f"--set wants section.key=value, not {pair!r}")
        env[f"AIRFLOW__{section.upper()}__{name.upper()}"] = value
    return env


HEADER = (
    f"{'trigger':<22} {'N':>6} {'polls/s':>8} {'of ideal':>8} {'late p50':>9} {'late p99':>9} "
    f"{'RSS/trig':>9} {'CPU':>5} {'parent':>6} {'runner':>6} {'blocked':>9} {'deadlk':>6} "
    f"{'full GC':>12} {'log/poll':>8} {'kwargs':>7} {'start all':>10}"
)


def line(row: Row, interval: float, start_timeout: float) -> str:
    ideal = row.n / interval
    start = (
        f"{row.start_seconds:>9.1f}s"
        if row.started == row.n
        else f"only {row.started:,} of {row.n:,} in {start_timeout:.0f}s"
    )
    return (
        f"{row.kind:<22} {row.n:>6,} {row.polls_per_s:>8.1f} {row.polls_per_s / ideal:>8.0%} "
        f"{_ms(row.late_p50):>9} {_ms(row.late_p99):>9} {row.rss_per / 1024:>6.1f}KiB "
        f"{row.cpu_parent + row.cpu_runner:>5.0%} {row.cpu_parent:>6.0%} {row.cpu_runner:>6.0%} "
        f"{_split(row.blocked, row.blocked_in_window):>9} "
        f"{_split(row.deadlocked, row.deadlocked_in_window):>6} "
        f"{f'{row.full_gcs} <={_ms(row.full_gc_max)}':>12} "
        f"{row.log_per_poll:>7.0f}B {row.kwargs_bytes:>6.0f}B "
        f"{start}"
    )


def _split(total: int, in_window: int) -> str:
    """Warnings as ``while starting + in the window``."""
    return f"{total - in_window}+{in_window}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f}ms" if seconds < 10 else f"{seconds:.1f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("-i", "--interval", type=float, default=10, help="seconds between polls")
    parser.add_argument("-w", "--window", type=float, default=60, help="seconds measured")
    parser.add_argument(
        "--kind",
        nargs="+",
        choices=sorted(KINDS),
        default=["floor", "httsleep", "http"],
        help="floor-lines (the floor, logging as the log rule asks) only when named",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=180, help="seconds to wait for all N to poll"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="an Airflow setting for the triggerer (repeatable)",
    )
    parser.add_argument(
        "--profile-start",
        type=Path,
        metavar="PREFIX",
        help="py-spy the triggerer's parent and runner while the triggers start: raw stacks to "
        "PREFIX.<trigger>.<N>.<parent|runner>.txt, the top frames to stderr (needs py-spy)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    parser.add_argument(
        "--seed", nargs=3, metavar=("KIND", "N", "INTERVAL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.seed:
        kind, n, interval = args.seed
        print(json.dumps(seed(kind, int(n), float(interval), ready_then_wait)))
        return
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        raise SystemExit("needs two cores: one for the triggerer, one for the job API")
    cores = (available[0], available[1])
    os.sched_setaffinity(0, {cores[1]})  # this harness, the server and the seeding: the other
    template = migrated_database()
    setup = Setup(
        args.interval,
        args.window,
        args.start_timeout,
        template,
        settings_env(args.set),
        cores,
        args.profile_start,
    )
    print(
        f"N deferred task instances on one airflow triggerer (pinned to core {cores[0]}), "
        f"one poll every {args.interval:g} s each; window {args.window:g} s"
        + (f"; settings: {' '.join(args.set)}" if args.set else "")
    )
    print(HEADER, flush=True)
    rows = []
    try:
        for n in args.n:
            for kind in args.kind:
                rows.append(run_row(kind, n, setup))
                print(line(rows[-1], args.interval, args.start_timeout), flush=True)
                if args.profile_start:
                    for who in ("parent", "runner"):
                        found = profile_path(args.profile_start, rows[-1].kind, n, who)
                        print(profile_summary(found), file=sys.stderr, flush=True)
                if args.json:
                    args.json.write_text(json.dumps([asdict(row) for row in rows], indent=1))
    finally:
        shutil.rmtree(template.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
