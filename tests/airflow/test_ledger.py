"""The poll count a trigger records for the triggerer that may take it over (triggers/_ledger.py):
a real trigger polling a local server, its task instance's record kept in memory."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from httsleep_airflow._conditions import Rules
from httsleep_airflow.triggers._ledger import PollLedger
from httsleep_airflow.triggers.httsleep import HttSleepTrigger
from tests.helpers import make_response, poke_fingerprint
from tests.scripted_server import Reply, ScriptedServer

RUNNING = Reply(body={"status": "RUNNING"})
OK = Reply(body={"status": "OK"})
TI = SimpleNamespace(dag_id="d", task_id="wait", run_id="r", map_index=3)
UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}


class MemoryStore:
    """One value per task instance, and every value written, in order."""

    def __init__(self, value: Any = None, *, broken: bool = False) -> None:
        self.value = value
        self.written: list[int] = []
        self.broken = broken

    def get(self, ti: Any) -> Any:
        assert ti is TI
        if self.broken:
            raise ConnectionError("the API server is away")
        return self.value

    def put(self, ti: Any, value: int) -> None:
        assert ti is TI
        if self.broken:
            raise ConnectionError("the API server is away")
        self.value = value
        self.written.append(value)


@pytest.fixture
def store(monkeypatch) -> MemoryStore:
    memory = MemoryStore()
    monkeypatch.setattr(PollLedger, "store", memory)
    return memory


def trigger(server: ScriptedServer, *, max_retries: int | None = 5, ti: Any = TI):
    made = HttSleepTrigger(
        endpoint=server.url("/jobs/1"),
        conditions={"until": UNTIL},
        max_retries=max_retries,
        attempts_made=1,  # the worker's poke
        polling_interval=0,
    )
    if ti is not None:
        made.task_instance = ti
    return made


def outcome(made: HttSleepTrigger) -> dict[str, Any]:
    async def collect() -> list[Any]:
        return [event async for event in made.run()]

    (event,) = asyncio.run(collect())
    return event.payload


def test_each_request_is_recorded_after_it_is_sent(server: ScriptedServer, store: MemoryStore):
    server.script(RUNNING, RUNNING, OK)
    assert outcome(trigger(server))["status"] == "success"
    assert store.written == [2, 3, 4]  # the worker's poke, then the trigger's three
    assert len(server.received) == 3


def test_a_trigger_taken_over_starts_from_the_recorded_count(
    server: ScriptedServer, store: MemoryStore
):
    store.value = 4  # the dead triggerer sent 3 after the worker's poke
    server.script(RUNNING, RUNNING, RUNNING)
    event = outcome(trigger(server))
    assert event["status"] == "exhausted"
    assert event["attempts"] == 5
    assert len(server.received) == 1  # max_retries in total, not max_retries - 1 more
    assert store.written == [5]


def test_a_budget_spent_by_the_dead_triggerer_allows_one_more_request(
    server: ScriptedServer, store: MemoryStore
):
    store.value = 5  # it sent its last request, then died before its event
    server.script(RUNNING)
    event = outcome(trigger(server))
    assert (event["status"], event["attempts"]) == ("exhausted", 5)
    assert len(server.received) == 1


@pytest.mark.parametrize("recorded", [None, 0, "3", True, [4]])
def test_the_worker_count_wins_over_a_smaller_or_odd_record(
    server: ScriptedServer, store: MemoryStore, recorded: Any
):
    store.value = recorded
    server.script(RUNNING, RUNNING, RUNNING, RUNNING, RUNNING)
    assert outcome(trigger(server))["attempts"] == 5
    assert len(server.received) == 4  # 5 less the worker's poke


def test_failed_requests_count_too(store: MemoryStore):
    unreachable = ScriptedServer().start()
    unreachable.stop()  # nothing listens there now: every request fails to connect
    made = trigger(unreachable, max_retries=3)
    made.ignore_exceptions = ["requests.exceptions.ConnectionError"]
    event = outcome(made)
    assert (event["status"], event["attempts"]) == ("exhausted", 3)
    assert store.written == [2, 3]


def test_a_store_that_fails_never_stops_the_polling(server: ScriptedServer, monkeypatch, capfd):
    monkeypatch.setattr(PollLedger, "store", MemoryStore(broken=True))
    server.script(RUNNING, OK)
    assert outcome(trigger(server))["status"] == "success"
    assert len(server.received) == 2
    out = capfd.readouterr().out
    assert out.count("could not") == 1, out  # said once, not at every request
    assert "could not read the poll count (XCom httsleep_polls): ConnectionError" in out


def test_no_record_without_a_budget_or_a_task_instance(server: ScriptedServer, store):
    server.script(RUNNING, OK)
    assert outcome(trigger(server, max_retries=None))["status"] == "success"
    server.script(RUNNING, OK)
    assert outcome(trigger(server, ti=None))["status"] == "success"
    assert store.written == []


@pytest.mark.parametrize(("recorded", "shown"), [(None, False), (3, True)])
def test_a_trigger_taken_over_shows_its_first_poll(
    server: ScriptedServer, store: MemoryStore, capfd, recorded: Any, shown: bool
):
    """The worker's line is what a first trigger goes on from; a trigger taken over from a
    triggerer that polled (its lines unknown here) shows its first poll."""
    store.value = recorded
    server.script(RUNNING, OK)
    made = trigger(server)
    made.follows = poke_fingerprint(Rules(UNTIL), make_response(200, {"status": "RUNNING"}))
    capfd.readouterr()  # (the worker's line, made above)
    assert outcome(made)["status"] == "success"
    out = capfd.readouterr()
    assert ('(got "RUNNING")' in out.out + out.err) is shown
    assert "met" in out.out + out.err  # the trigger's lines are there
