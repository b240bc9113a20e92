"""Spreading the polls: waits started in the same instant do not poll in lockstep."""

from __future__ import annotations

import asyncio

import pytest

from httsleep_airflow._async import AsyncHttSleeper
from httsleep_airflow.exceptions import DeadlinePassed
from httsleep_airflow.triggers.httsleep import HttSleepTrigger
from tests.scripted_server import Reply, ScriptedServer

UNTIL = {"jsonpath": {"expression": "status", "value": "OK"}}


class Clock:
    """A clock that only moves when the sleeper sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run(server: ScriptedServer, clock: Clock, **options) -> object:
    async def main():
        sleeper = AsyncHttSleeper(
            server.url("/jobs/1"),
            UNTIL,
            polling_interval=10,
            clock=clock,
            sleep=clock.sleep,
            **{k: v for k, v in options.items() if k in ("max_retries", "max_wait")},
        )
        async with sleeper:
            return await sleeper.run(attempts_made=options.get("attempts_made", 0), phase=3.5)

    return asyncio.run(main())


def test_the_phase_is_a_wait_before_the_first_poll_not_an_attempt(server: ScriptedServer):
    server.script(Reply(body={"status": "RUNNING"}), Reply(body={"status": "OK"}))
    clock = Clock()
    response = run(server, clock, max_retries=3, attempts_made=1)
    assert response.json() == {"status": "OK"}
    assert clock.sleeps == [3.5, 10]
    assert len(server.received) == 2  # attempts 2 and 3 of 3: the phase spent none


def test_the_phase_never_moves_the_deadline(server: ScriptedServer):
    server.script(Reply(body={"status": "RUNNING"}))
    clock = Clock()
    with pytest.raises(DeadlinePassed):
        run(server, clock, max_wait=2, max_retries=None)
    assert clock.sleeps == [2]  # cut to the deadline: one last look there, then give up
    assert len(server.received) == 1


class TestTriggerPhase:
    @staticmethod
    def trigger(**kwargs) -> HttSleepTrigger:
        options = {"endpoint": "http://h/jobs/1", "conditions": {"until": UNTIL}}
        options.update(polling_interval=10, attempts_made=1)
        return HttSleepTrigger(**{**options, **kwargs})

    def test_none_when_nothing_was_polled_yet(self):
        assert self.trigger(attempts_made=0).phase() == 0.0

    def test_within_the_interval_and_the_same_on_every_start(self):
        first, again = self.trigger().phase(), self.trigger().phase()
        assert 0 <= first < 10
        assert first == again  # a restarted trigger keeps its place

    def test_tasks_deferred_together_spread_over_the_interval(self):
        phases = []
        for n in range(200):
            trigger = self.trigger()
            trigger.task_instance = _TI(dag_id="d", run_id="r", task_id=f"wait_{n}", map_index=-1)
            phases.append(trigger.phase())
        assert all(0 <= phase < 10 for phase in phases)
        # every second of the interval gets some of them, none gets most
        per_second = [sum(int(phase) == s for phase in phases) for s in range(10)]
        assert min(per_second) > 5
        assert max(per_second) < 40

    def test_a_bad_interval_gives_no_phase(self):
        assert self.trigger(polling_interval="soon").phase() == 0.0


class _TI:
    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)
