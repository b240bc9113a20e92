"""Mistakes in a sensor's arguments fail when the DAG is parsed, naming the task and the key."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from httsleep_airflow.sensors.httsleep import HttSleepSensor


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"until": {"stauts_code": 200}}, "'stauts_code'"),
        ({"until": {"status_code": 200}, "alarms": [{"jsonpath": []}]}, "jsonpath"),
        ({"until": {"jsonpath": [{"expression": "a[", "value": 1}]}}, "'a['"),
        ({"until": {"status_code": 200}, "max_retries": 0}, "max_retries"),
        ({"until": {"status_code": 200}, "ignore_exceptions": ["no.such.Error"]}, "no.such.Error"),
        ({"until": {"status_code": 200}, "xcom_jsonpath": "a["}, "xcom_jsonpath"),
        ({"until": {"status_code": 200}, "request_timeout": -5}, "request_timeout must be more"),
        ({"until": {"status_code": 200}, "endpoint": "http://"}, "not an http"),
        ({"until": {"status_code": 200}, "headers": {"X-Key": "k\r\nX-Evil: 1"}}, "'X-Key'"),
        ({"until": {"status_code": 200}, "headers": {"X Key": "k"}}, "a header name (not shown)"),
        ({"until": {"status_code": 200}, "headers": {"X-Name": "d\u00e9j\u00e0"}}, "ASCII"),
        ({"until": {"status_code": 200}, "headers": {"X-Name": None}}, "must be text"),
        ({"until": {"status_code": 200}, "headers": [("X-A", "b")]}, "must map header names"),
        ({"until": {"status_code": 200}, "endpoint": None}, "endpoint must be a string"),
        ({"until": {"status_code": 200}, "endpoint": 5}, "endpoint must be a string"),
        ({"until": {"status_code": 200}, "method": "GET X"}, "method must be an HTTP method"),
        ({"until": {"status_code": 200}, "method": 5}, "method must be an HTTP method"),
        ({"until": {"status_code": 200}, "method": "connect"}, "not 'CONNECT' (a tunnel)"),
        ({"until": {"status_code": 200}, "xcom_jsonpath": 3}, "xcom_jsonpath must be a JSONPath"),
        ({"until": {"status_code": 200}, "json_body": {1, 2}}, "json_body cannot be sent as JSON"),
        (
            {"until": {"status_code": 200}, "json_body": {"a": float("nan")}},
            "json_body cannot be sent as JSON",
        ),
        ({"until": {"json": float("nan")}}, "until: 'json' holds NaN"),
        ({"until": {"json": {"a": {1, 2}}}}, "until: 'json' holds a set"),
        ({"until": {"status_code": "2_00"}}, "'status_code' must be an int"),
        ({"until": {"status_code": 200}, "secret_headers": 5}, "secret_headers must be a list"),
        ({"until": {"status_code": 200}, "poke_interval": True}, "poke_interval must be seconds"),
        ({"until": {"status_code": 200}, "timeout": True}, "timeout must be seconds"),
        ({"until": {"status_code": 200}, "timeout": float("inf")}, "timeout must be seconds"),
        ({"until": {"status_code": 200}, "poke_interval": 0}, "poke_interval must be more than 0"),
        ({"until": {"status_code": 200}, "request_params": "a=1"}, "request_params must map"),
        ({"until": {"status_code": 200}, "request_params": ["a=1"]}, "request_params must map"),
    ],
)
def test_bad_arguments_name_the_task(kwargs, needle):
    kwargs = {"endpoint": "/jobs/1", **kwargs}
    with pytest.raises(ValueError) as info:
        HttSleepSensor(task_id="wait_for_job", **kwargs)
    assert "'wait_for_job'" in str(info.value)
    assert needle in str(info.value)


def test_a_bad_header_value_is_named_never_shown():
    with pytest.raises(ValueError) as info:
        HttSleepSensor(
            task_id="t", endpoint="/j", until={"status_code": 200}, headers={"X-Key": "s3cr3t\n"}
        )
    assert "headers: header 'X-Key' has a line break at position 6" in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_templated_headers_are_checked_after_rendering():
    sensor = HttSleepSensor(
        task_id="t", endpoint="/j", until={"status_code": 200}, headers={"X": "{{ var.value.v }}"}
    )  # a template is not checked before it renders
    sensor.headers = {"X": "line\nbreak"}  # what a bad render would leave
    with pytest.raises(ValueError, match=r"'t'.*header 'X' has a line break"):
        sensor._check(rendered=True)


def test_templated_conditions_are_checked_after_rendering():
    sensor = HttSleepSensor(task_id="t", endpoint="/j", until={"status_code": "{{ params.code }}"})
    sensor.until = {"status_code": "abc"}  # what a bad render would leave
    with pytest.raises(ValueError, match=r"'t'.*status_code"):
        sensor._check(rendered=True)


def test_bad_condition_is_a_dag_import_error(tmp_path):
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    (tmp_path / "bad.py").write_text(
        textwrap.dedent(
            """
            import pendulum
            from airflow.sdk import DAG
            from httsleep_airflow.sensors.httsleep import HttSleepSensor

            with DAG("bad", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
                HttSleepSensor(task_id="wait_for_export", endpoint="/x", until={"jsn": {}})
            """
        )
    )
    bag = DagBag(dag_folder=str(tmp_path))
    (error,) = bag.import_errors.values()
    assert "wait_for_export" in error
    assert "'jsn'" in error


def test_template_fields():
    assert set(HttSleepSensor.template_fields) >= {
        "endpoint",
        "request_params",
        "data",
        "json_body",
        "headers",
        "until",
        "alarms",
        "httsleep_conn_id",
    }


def test_equal_conditions_are_validated_once_and_a_changed_one_again(monkeypatch):
    import httsleep_airflow.sensors.httsleep as module

    compiled = []
    real = module.Rules
    monkeypatch.setattr(module, "Rules", lambda *a: compiled.append(a) or real(*a))
    until = {"jsonpath": [{"expression": "state", "value": "done-once"}]}
    for i in range(3):
        HttSleepSensor(task_id=f"same_{i}", endpoint="/j", until=dict(until))
    assert len(compiled) == 1
    until["jsonpath"][0]["value"] = {"bad": object()}  # still valid: any value may be expected
    HttSleepSensor(task_id="changed", endpoint="/j", until=until)
    assert len(compiled) == 2
    until["stauts"] = 1
    with pytest.raises(ValueError, match=r"'broken'.*'stauts'"):
        HttSleepSensor(task_id="broken", endpoint="/j", until=until)


def test_sensor_timeout_comes_from_the_argument_then_default_args_then_config(monkeypatch):
    import pendulum
    from airflow.sdk import DAG

    import httsleep_airflow.sensors.httsleep as module

    module._default_timeout.cache_clear()
    monkeypatch.setenv("AIRFLOW__SENSORS__DEFAULT_TIMEOUT", "4321")
    try:
        with DAG(
            "timeouts",
            schedule=None,
            start_date=pendulum.datetime(2026, 1, 1),
            default_args={"timeout": 600},
        ):
            from_default_args = HttSleepSensor(task_id="a", endpoint="/j", until={"text": "x"})
            explicit = HttSleepSensor(task_id="b", endpoint="/j", until={"text": "x"}, timeout=9)
        from_config = HttSleepSensor(task_id="c", endpoint="/j", until={"text": "x"})
    finally:
        module._default_timeout.cache_clear()
    assert (from_default_args.timeout, explicit.timeout, from_config.timeout) == (600, 9, 4321)


def test_xcom_args_in_templated_fields_make_upstream_tasks():
    import pendulum
    from airflow.sdk import DAG, task

    @task
    def submit() -> str:
        return "jobs/1"

    @task
    def expected() -> str:
        return "done"

    with DAG("upstreams", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
        endpoint, state = submit(), expected()
        sensor = HttSleepSensor(
            task_id="wait",
            endpoint=endpoint,
            until={"jsonpath": [{"expression": "state", "value": state}]},
        )
    assert sensor.upstream_task_ids == {"submit", "expected"}
    assert sensor.endpoint is endpoint  # stored as given, resolved when rendered


def test_one_secret_header_name_given_alone_is_one_name():
    """``secret_headers="X-Tenant"`` is that header, not its eight letters (its value showed
    in the alarm message)."""
    sensor = HttSleepSensor(
        task_id="t", endpoint="/j", until={"status_code": 200}, secret_headers="X-Tenant"
    )
    assert sensor.secret_headers == ("x-tenant",)


@pytest.mark.parametrize(
    ("until", "alarms", "needle"),
    [
        ({"text": "{{ params.x }}"}, {"stauts_code": 500}, "alarms: unknown condition key"),
        ("{{ params.until }}", {"stauts_code": 500}, "alarms: unknown condition key"),
        ("{{ params.until }}", [{"status_code": "5xx"}], "alarms[0]: 'status_code' must be"),
        ({"stauts_code": 200, "text": "{{ params.x }}"}, None, "until: unknown condition key"),
        (
            {"jsonpath": [{"expression": "{{ params.p }}", "value": 1, "vlaue": 2}]},
            None,
            "jsonpath[0] must be a dict with exactly the keys",
        ),
        (
            [{"status_code": "{{ params.code }}"}, {"json": {"a": {1, 2}}}],
            None,
            "until[1]: 'json' holds a set",
        ),
        (
            {"jsonpath": [{"expression": "a[", "value": "{{ params.v }}"}]},
            None,
            "JSONPath 'a[' does not parse",
        ),
    ],
)
def test_what_is_known_at_parse_is_checked_though_a_template_is_beside_it(until, alarms, needle):
    """A template in one value turned off every check of the conditions until they rendered:
    a mistyped key failed the task at run time, with its retries."""
    with pytest.raises(ValueError) as info:
        HttSleepSensor(task_id="t", endpoint="/j", until=until, alarms=alarms)
    assert needle in str(info.value) and "'t'" in str(info.value)


@pytest.mark.parametrize(
    "until",
    [
        "{{ params.until }}",
        {"status_code": "{{ params.code }}", "text": "{{ params.t }}"},
        {"callback": "{{ params.callback_path }}"},
        {"jsonpath": "{{ params.entries }}"},
        {"jsonpath": ["{{ params.entry }}", {"expression": "{{ params.p }}", "value": 1}]},
        [{"status_code": 200}, "{{ params.more }}"],
    ],
)
def test_templated_conditions_valid_once_rendered_pass_parse(until):
    HttSleepSensor(task_id="t", endpoint="/j", until=until, alarms=[{"status_code": "{{ p }}"}])


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"until": {"stauts_code": 200}}, "until: unknown condition key 'stauts_code'"),
        ({"until": {"status_code": 200}, "max_retries": 0}, "max_retries"),
        ({"alarms": {"stauts_code": 500}}, "alarms: unknown condition key"),
        ({"until": {"status_code": 200}, "poke_interval": 0}, "poke_interval must be more"),
        ({"until": {"status_code": 200}, "timeout": float("inf")}, "timeout must be seconds"),
        ({"endpoint": "ftp://h/a", "until": {"status_code": 200}}, "scheme 'ftp'"),
        (
            {"until": {"callback": "no.such.module.check"}, "deferrable": True},
            "no.such.module.check",
        ),
    ],
)
def test_partial_arguments_are_checked_at_parse(kwargs, needle):
    """``.partial(...).expand(...)`` made no sensor at parse: a mistake in the arguments given
    to ``partial`` failed each mapped task at run time, with its retries."""
    import pendulum
    from airflow.sdk import DAG

    start = pendulum.datetime(2026, 1, 1)
    with DAG("mapped", schedule=None, start_date=start) as dag, pytest.raises(ValueError) as info:
        HttSleepSensor.partial(task_id="wait", **kwargs).expand(headers=[{"X-A": "1"}])
    assert "'wait'" in str(info.value) and needle in str(info.value)
    assert dag.tasks == []  # the check made no task


def test_partial_arguments_that_are_right_make_a_mapped_sensor():
    import pendulum
    from airflow.sdk import DAG

    with DAG("mapped", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        HttSleepSensor.partial(
            task_id="wait",
            until={"status_code": "{{ params.code }}"},
            alarms={"status_code": 500},
            timeout=timedelta(minutes=5),
            poke_interval=5,
        ).expand(endpoint=["/a", "/b"])
    (task,) = dag.tasks
    assert type(task).__name__ == "MappedOperator" and task.partial_kwargs["poke_interval"] == 5


def test_partial_reads_the_dags_default_args_and_leaves_an_xcomarg_to_the_expansion():
    """``partial`` checked its own arguments without the DAG's ``default_args`` (a callback
    refused as deferrable where the DAG said not to defer; ``poke_interval=0`` let through),
    and refused an ``until`` an upstream task gives."""
    import pendulum
    from airflow.sdk import DAG, task

    start = pendulum.datetime(2026, 1, 1)
    with DAG("d1", schedule=None, start_date=start, default_args={"deferrable": False}):
        HttSleepSensor.partial(task_id="w", until={"callback": lambda r: True}).expand(
            endpoint=["/a"]
        )
    zero = {"poke_interval": 0}
    refused = pytest.raises(ValueError, match=r"'w': poke_interval must be more than 0")
    with DAG("d2", schedule=None, start_date=start, default_args=zero), refused:
        HttSleepSensor.partial(task_id="w", until={"status_code": 200})

    @task
    def conditions() -> dict[str, int]:
        return {"status_code": 200}

    with DAG("d3", schedule=None, start_date=start) as dag:
        HttSleepSensor.partial(task_id="w", until=conditions()).expand(endpoint=["/a"])
    assert {t.task_id for t in dag.tasks} == {"conditions", "w"}
