"""HttSleepSensor in real Airflow DAG runs (dag.test(), SQLite) against a real local server."""

from __future__ import annotations

from tests.airflow.conftest import sensor_source, task_states, xcom
from tests.scripted_server import Reply, ScriptedServer, free_port

RUNNING = Reply(body={"status": "RUNNING"})
OK = Reply(body={"status": "OK", "result": {"url": "s3://results/7"}})


def test_success_after_k_pokes_pushes_the_json_body(run_dag, server: ScriptedServer):
    server.script(RUNNING, RUNNING, OK)
    dr = run_dag(
        "success_k_pokes",
        f"""
        HttSleepSensor(
            task_id="wait",
            endpoint="{server.url("/jobs/7")}",
            until={{"jsonpath": [{{"expression": "status", "value": "OK"}}]}},
            poke_interval=0.01,
            max_retries=10,
        )
        """,
    )
    assert task_states(dr) == {"wait": ("success", 1)}
    assert xcom(dr, "wait") == {"status": "OK", "result": {"url": "s3://results/7"}}
    assert len(server.received) == 3
    assert len({r.client_port for r in server.received}) == 1  # one session, kept alive


UNTIL = '{"jsonpath": [{"expression": "status", "value": "OK"}]}'


def sensor(server: ScriptedServer, path: str = "/jobs/7", **extra: str) -> str:
    args = {
        "task_id": '"wait"',
        "endpoint": f'"{server.url(path)}"',
        "until": UNTIL,
        "poke_interval": "0.01",
        "retries": "2",
        "retry_delay": "0",
    }
    return sensor_source(**{**args, **extra})


def test_alarm_fails_at_once_without_using_retries(run_dag, server: ScriptedServer):
    server.script(RUNNING, Reply(body={"status": "ERROR"}), OK)
    dr = run_dag(
        "alarm_fails",
        sensor(server, alarms='[{"json": {"status": "ERROR"}}, {"status_code": 404}]'),
    )
    assert task_states(dr) == {"wait": ("failed", 1)}
    assert len(server.received) == 2


def test_gives_up_after_exactly_max_retries_requests(run_dag, server: ScriptedServer):
    server.script(RUNNING)
    dr = run_dag("give_up", sensor(server, max_retries="4"))
    assert task_states(dr) == {"wait": ("failed", 1)}
    assert len(server.received) == 4


def test_soft_fail_turns_give_up_and_alarm_into_skipped(run_dag, server: ScriptedServer):
    server.script(RUNNING)
    dr = run_dag("soft_give_up", sensor(server, max_retries="3", soft_fail="True"))
    assert task_states(dr) == {"wait": ("skipped", 1)}
    assert len(server.received) == 3
    server.script(Reply(status=404, body="gone"))
    dr = run_dag("soft_alarm", sensor(server, alarms='{"status_code": 404}', soft_fail="True"))
    assert task_states(dr) == {"wait": ("skipped", 1)}
    assert len(server.received) == 1


def test_reschedule_mode_makes_exactly_max_retries_requests(run_dag, server: ScriptedServer):
    server.script(RUNNING)
    dr = run_dag("reschedule_give_up", sensor(server, max_retries="3", mode='"reschedule"'))
    assert task_states(dr) == {"wait": ("failed", 1)}
    assert len(server.received) == 3


def test_reschedule_mode_success(run_dag, server: ScriptedServer):
    server.script(RUNNING, OK)
    dr = run_dag("reschedule_ok", sensor(server, max_retries="3", mode='"reschedule"'))
    assert task_states(dr) == {"wait": ("success", 1)}
    assert xcom(dr, "wait")["status"] == "OK"


def test_xcom_jsonpath_and_no_push(run_dag, server: ScriptedServer):
    server.script(OK)
    dr = run_dag("xcom_path", sensor(server, xcom_jsonpath='"result.url"'))
    assert xcom(dr, "wait") == "s3://results/7"
    dr = run_dag("xcom_off", sensor(server, do_xcom_push="False"))
    assert task_states(dr) == {"wait": ("success", 1)}
    assert xcom(dr, "wait") is None


def test_templated_endpoint_and_post_body(run_dag, server: ScriptedServer):
    server.script(OK)
    dr = run_dag(
        "templated_post",
        sensor(
            server,
            path="/jobs/{{ params.job }}",
            params='{"job": 42}',
            method='"POST"',
            json_body='{"run": "{{ run_id }}"}',
            request_params='{"verbose": "1"}',
        ),
    )
    assert task_states(dr) == {"wait": ("success", 1)}
    received = server.received[0]
    assert (received.method, received.path) == ("POST", "/jobs/42?verbose=1")
    assert dr.run_id in received.body.decode()


def test_alarm_message_names_the_alarm_and_the_response(run_dag, server, capfd):
    server.script(Reply(body={"status": "ERROR", "reason": "executor lost"}))
    run_dag(
        "alarm_message",
        sensor(server, alarms='{"json": {"status": "ERROR", "reason": "executor lost"}}'),
    )
    captured = capfd.readouterr()
    text = captured.out + captured.err  # the task log, as dag.test() prints it
    assert 'alarm {"json": {"status": "ERROR"' in text
    assert "matched: 200" in text
    assert "executor lost" in text


def test_the_sensor_timeout_still_applies(run_dag, server: ScriptedServer):
    server.script(RUNNING)
    dr = run_dag("sensor_timeout", sensor(server, poke_interval="0.05", timeout="0.3"))
    assert task_states(dr) == {"wait": ("failed", 1)}
    assert 2 <= len(server.received) < 20


def test_a_request_error_fails_the_poke_and_the_retries_apply(run_dag):
    url = f"http://127.0.0.1:{free_port()}/jobs/1"
    dr = run_dag(
        "error_retries",
        f"""
        HttSleepSensor(task_id="wait", endpoint="{url}", until={{"status_code": 200}},
                       poke_interval=0.01, retries=2, retry_delay=0, max_retries=5)
        """,
    )
    assert task_states(dr) == {"wait": ("failed", 3)}


def test_ignored_exceptions_count_as_not_yet(run_dag):
    url = f"http://127.0.0.1:{free_port()}/jobs/1"
    dr = run_dag(
        "ignored_errors",
        f"""
        HttSleepSensor(task_id="wait", endpoint="{url}", until={{"status_code": 200}},
                       ignore_exceptions=["requests.exceptions.ConnectionError"],
                       poke_interval=0.01, retries=2, retry_delay=0, max_retries=3)
        """,
    )
    assert task_states(dr) == {"wait": ("failed", 1)}  # gave up: no retries


def test_retry_after_lengthens_the_wait_before_the_next_poke(server: ScriptedServer):
    from httsleep_airflow.sensors.httsleep import HttSleepSensor

    sensor = HttSleepSensor(
        task_id="t", endpoint=server.url("/jobs/1"), until={"status_code": 200}, poke_interval=5
    )
    sensor._sleeper = sensor._build_sleeper()

    def wait_after(reply: Reply) -> float:
        server.script(reply)
        assert sensor.poke({}) is False
        return sensor._get_next_poke_interval(0.0, lambda: 0.0, 1)

    assert wait_after(Reply(503, "busy", {"Retry-After": "42"})) == 42  # longer: as asked
    assert wait_after(Reply(429, "slow down", {"Retry-After": "1"})) == 5  # never shorter
    assert wait_after(Reply(503, "busy", {"Retry-After": "100000"})) == 300  # the engine's cap
    assert wait_after(Reply(202, "pending")) == 5  # no Retry-After: poke_interval again
    sensor._sleeper.close()


def test_the_sensor_timeout_cuts_a_request_in_flight(run_dag, server: ScriptedServer, capfd):
    """A server slower than the sensor's timeout (but within request_timeout): the poke's
    request is cut when the sensor's time is up. Had it waited for the answer (OK, after 4 s),
    the task would have succeeded."""
    server.script(Reply(body={"status": "OK"}, delay=4.0))
    dr = run_dag(
        "timeout_cuts_request",
        sensor(server, timeout="1", request_timeout="30", retries="0"),
    )
    assert task_states(dr) == {"wait": ("failed", 1)}
    out = capfd.readouterr()
    assert "RequestDeadlineExceeded" in out.out + out.err
