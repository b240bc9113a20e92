"""Users test their code with ``responses`` and ``requests-mock``, which replace requests'
transport: the engine judges what they return, for every condition kind, as it judges a real
server's answer (the body is read from ``.content`` when there is no raw stream), under the
same body cap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import requests_mock
import responses

from httsleep_airflow import Alarm, HttSleeper
from httsleep_airflow.exceptions import ResponseTooLarge

URL = "http://api.example.test/jobs/1"
RUNNING = {"status": "RUNNING"}
DONE = {"status": "OK", "rows": 3}


def has_rows(response: requests.Response) -> bool:
    return response.json().get("rows", 0) > 0


CONDITIONS: dict[str, Any] = {
    "status_code": {"status_code": 201},
    "text": {"text": '{"status": "OK", "rows": 3}'},
    "json": {"json": DONE},
    "jsonpath": {"jsonpath": [{"expression": "status", "value": "OK"}]},
    "callback": {"callback": has_rows},
}

Mocker = Callable[[list[tuple[int, Any]]], Any]


@pytest.fixture(params=["responses", "requests-mock"])
def mock(request: pytest.FixtureRequest) -> Iterator[Mocker]:
    """Register answers (status, JSON body) for URL, served in order, the last one repeating."""
    if request.param == "responses":
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:

            def register(answers: list[tuple[int, Any]]) -> None:
                for status, body in answers:
                    rsps.add(responses.GET, URL, json=body, status=status)

            yield register
    else:
        with requests_mock.Mocker() as mocker:

            def register(answers: list[tuple[int, Any]]) -> None:
                mocker.get(URL, [{"status_code": s, "json": b} for s, b in answers])

            yield register


@pytest.mark.parametrize("kind", CONDITIONS)
def test_every_condition_kind_under_a_mock_adapter(mock: Mocker, kind: str):
    mock([(200, RUNNING), (201, DONE)])
    with HttSleeper(URL, CONDITIONS[kind], polling_interval=0, max_retries=3) as sleeper:
        response = sleeper.run()
    assert response.status_code == 201 and response.json() == DONE


def test_alarms_under_a_mock_adapter(mock: Mocker):
    mock([(200, RUNNING), (200, {"status": "ERROR"})])
    with (
        pytest.raises(Alarm) as info,
        HttSleeper(
            URL, CONDITIONS["json"], {"json": {"status": "ERROR"}}, polling_interval=0
        ) as sleeper,
    ):
        sleeper.run()
    assert info.value.response.json() == {"status": "ERROR"}


def test_the_body_cap_holds_under_a_mock_adapter(mock: Mocker):
    mock([(200, {"blob": "x" * 5000})])
    with (
        pytest.raises(ResponseTooLarge),
        HttSleeper(URL, CONDITIONS["json"], polling_interval=0, max_body_bytes=1000) as sleeper,
    ):
        sleeper.run()


def test_a_response_with_no_raw_stream_is_judged_from_its_content():
    """A hand-made adapter, as recording libraries and users' own test doubles are."""

    class CannedAdapter(requests.adapters.BaseAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            response = requests.Response()
            response.status_code = 200
            response._content = b'{"status": "OK", "rows": 3}'
            response.headers["Content-Type"] = "application/json"
            response.url = request.url or ""
            response.request = request
            return response  # .raw is None

        def close(self) -> None:
            pass

    session = requests.Session()
    session.mount("http://", CannedAdapter())
    for condition in CONDITIONS.values():
        if "status_code" in condition:
            condition = {"status_code": 200}
        response = HttSleeper(URL, condition, session=session, max_retries=1).run()
        assert response.json() == DONE
    with pytest.raises(ResponseTooLarge):
        HttSleeper(URL, {"status_code": 200}, session=session, max_body_bytes=10).run()
