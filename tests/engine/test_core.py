"""The poll state machine, driven as plain function calls: no sockets, no clock, no sleep."""

from __future__ import annotations

import contextlib
import logging

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from httsleep_airflow._conditions import Rules
from httsleep_airflow._core import Done, Policy, Poller, Send, Sleep, retry_after_seconds
from httsleep_airflow.exceptions import (
    Alarm,
    ConditionError,
    DeadlinePassed,
    GaveUp,
    RetriesExhausted,
)
from tests.helpers import make_response

RUNNING = {"status": "RUNNING"}
OK = {"status": "OK"}
UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}
ALARMS = [{"json": {"status": "ERROR"}}, {"status_code": 404}]


def poller(until=UNTIL, alarms=ALARMS, **policy) -> Poller:
    return Poller(Rules(until, alarms), Policy.build(**policy), label="GET http://h/jobs/1")


def drive(p: Poller, outcomes: list, now: float = 0.0) -> list:
    """Feed outcomes in turn; return the actions the poller asked for."""
    actions = []
    for outcome in outcomes:
        action = p.next_action(now)
        actions.append(action)
        assert isinstance(action, Send)
        p.receive(outcome, now)
        action = p.next_action(now)
        actions.append(action)
        if isinstance(action, Done):
            break
        assert isinstance(action, Sleep)
        now += action.seconds
    return actions


def test_sleeps_between_pending_polls_then_done():
    p = poller(polling_interval=0.5)
    ok = make_response(200, OK)
    actions = drive(p, [make_response(200, RUNNING), make_response(200, RUNNING), ok])
    assert actions == [Send(), Sleep(0.5), Send(), Sleep(0.5), Send(), Done(ok)]
    assert p.attempts == 3


def test_alarm_raises_with_response_and_callers_dict():
    p = poller()
    bad = make_response(404, b"<html>no such job</html>")
    p.next_action(0)
    with pytest.raises(Alarm) as info:
        p.receive(bad, 0)
    assert info.value.response is bad
    assert info.value.alarm is ALARMS[1]
    assert "404" in str(info.value)
    assert "no such job" in str(info.value)


def test_max_retries_is_the_total_number_of_requests_and_no_sleep_after_the_last():
    p = poller(max_retries=3, polling_interval=1)
    last = make_response(200, RUNNING)
    p.next_action(0)
    p.receive(make_response(200, RUNNING), 0)
    assert p.next_action(0) == Sleep(1)
    p.next_action(1)
    p.receive(make_response(200, RUNNING), 1)
    assert p.next_action(1) == Sleep(1)
    p.next_action(2)
    with pytest.raises(RetriesExhausted) as info:
        p.receive(last, 2)
    assert info.value.attempts == 3
    assert info.value.response is last
    assert isinstance(info.value, GaveUp)
    assert not isinstance(info.value, StopIteration)  # the core's form can leave a coroutine
    assert "RUNNING" in str(info.value)


def test_ignored_exception_counts_as_an_attempt_and_polling_goes_on():
    p = poller(max_retries=5, ignore_exceptions=[requests.ConnectionError])
    actions = drive(p, [requests.ConnectionError("refused"), make_response(200, OK)])
    assert [type(a) for a in actions] == [Send, Sleep, Send, Done]
    assert p.attempts == 2


def test_last_attempt_raising_an_ignored_exception_gives_up_with_no_response():
    p = poller(max_retries=2, ignore_exceptions=["requests.exceptions.ConnectionError"])
    p.next_action(0)
    p.receive(make_response(200, RUNNING), 0)
    p.next_action(0)
    p.next_action(0)
    error = requests.ConnectionError("refused")
    with pytest.raises(RetriesExhausted) as info:
        p.receive(error, 0)
    assert info.value.response is None
    assert info.value.__cause__ is error
    assert info.value.attempts == 2


def test_exception_not_ignored_propagates_as_is():
    p = poller(ignore_exceptions=[requests.Timeout])
    error = requests.ConnectionError("refused")
    p.next_action(0)
    with pytest.raises(requests.ConnectionError) as info:
        p.receive(error, 0)
    assert info.value is error


def test_non_json_body_raises_value_error_unless_ignored():
    html = make_response(500, b"<html>oops</html>")
    p = poller(alarms=None)
    p.next_action(0)
    with pytest.raises(ValueError):
        p.receive(html, 0)
    p = poller(alarms=None, ignore_exceptions=[ValueError])
    p.next_action(0)
    p.receive(html, 0)
    assert isinstance(p.next_action(0), Sleep)


def test_alarm_is_never_swallowed_even_when_exception_is_ignored():
    p = poller(ignore_exceptions=[Exception, BaseException])
    p.next_action(0)
    with pytest.raises(Alarm):
        p.receive(make_response(200, {"status": "ERROR"}), 0)


def test_max_retries_exceeded_is_never_swallowed_either():
    p = poller(max_retries=1, ignore_exceptions=[Exception])
    p.next_action(0)
    with pytest.raises(RetriesExhausted):
        p.receive(make_response(200, RUNNING), 0)


def test_no_limit_when_max_retries_is_none():
    p = poller(max_retries=None, polling_interval=0)
    drive(p, [make_response(200, RUNNING)] * 500)
    assert p.attempts == 500
    assert p.budget_left is None


def test_attempts_made_elsewhere_count_against_the_budget():
    p = Poller(Rules(UNTIL), Policy.build(max_retries=3), attempts_made=2)
    assert p.budget_left == 1
    p.next_action(0)
    with pytest.raises(RetriesExhausted) as info:
        p.receive(make_response(200, RUNNING), 0)
    assert info.value.attempts == 3


class TestRetryAfter:
    @staticmethod
    def wait_after(response, **policy) -> Sleep:
        p = poller(until={"status_code": 200}, alarms=None, **policy)
        p.next_action(0)
        p.receive(response, 0)
        return p.next_action(0)

    @pytest.mark.parametrize("status", [429, 503])
    def test_seconds_extend_the_wait(self, status):
        response = make_response(status, b"slow down", {"Retry-After": "7"})
        assert self.wait_after(response, polling_interval=2) == Sleep(7.0)

    def test_capped(self):
        response = make_response(503, b"", {"Retry-After": "3600"})
        assert self.wait_after(response, polling_interval=2, retry_after_cap=60) == Sleep(60.0)

    def test_never_shortens_the_interval(self):
        response = make_response(503, b"", {"Retry-After": "1"})
        assert self.wait_after(response, polling_interval=5) == Sleep(5.0)

    def test_only_for_429_and_503(self):
        response = make_response(500, b"", {"Retry-After": "30"})
        assert self.wait_after(response, polling_interval=2) == Sleep(2.0)

    def test_http_date_measured_against_the_server_date(self):
        response = make_response(
            503,
            b"",
            {
                "Retry-After": "Wed, 21 Oct 2026 07:28:40 GMT",
                "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
        )
        assert retry_after_seconds(response, wall_now=0) == 40.0

    def test_http_date_without_server_date_uses_the_wall_clock(self):
        response = make_response(503, b"", {"Retry-After": "Wed, 21 Oct 2026 07:28:40 GMT"})
        wall = 1792567700.0  # 2026-10-21 07:28:20 GMT
        assert retry_after_seconds(response, wall_now=wall) == 20.0

    @pytest.mark.parametrize(
        "when",
        [
            "Wed, 21 Oct 2026 07:28:40 GMT",  # IMF-fixdate
            "Wednesday, 21-Oct-26 07:28:40 GMT",  # RFC 850
            "Wed Oct 21 07:28:40 2026",  # asctime: no zone, GMT all the same
            "Wed, 21 Oct 2026 07:28:40 -0000",
        ],
    )
    @pytest.mark.parametrize("date", ["Wed, 21 Oct 2026 07:28:00 GMT", "Wed Oct 21 07:28:00 2026"])
    def test_every_form_of_an_http_date_is_gmt(self, when: str, date: str, monkeypatch):
        """RFC 9110's three forms of a date, whichever the server's own ``Date`` takes, and
        whatever the zone this process runs in."""
        import time as time_module

        monkeypatch.setenv("TZ", "America/New_York")
        time_module.tzset()
        try:
            response = make_response(503, b"", {"Retry-After": when, "Date": date})
            assert retry_after_seconds(response, wall_now=0) == 40.0
            alone = make_response(503, b"", {"Retry-After": when})
            assert retry_after_seconds(alone, wall_now=1792567700.0) == 20.0
        finally:
            monkeypatch.delenv("TZ")
            time_module.tzset()

    def test_garbage_is_ignored(self):
        assert retry_after_seconds(make_response(503, b"", {"Retry-After": "soon"}), 0) is None


class TestDeadline:
    def test_last_sleep_is_clipped_to_the_deadline_then_gives_up(self):
        p = Poller(Rules(UNTIL), Policy.build(polling_interval=10, max_retries=None), deadline=25)
        actions = drive(p, [make_response(200, RUNNING)] * 3)
        assert actions[1::2] == [Sleep(10.0), Sleep(10.0), Sleep(5.0)]
        p.next_action(25)
        with pytest.raises(DeadlinePassed) as info:
            p.receive(make_response(200, RUNNING), 25)
        assert info.value.attempts == 4

    def test_a_match_at_the_deadline_still_wins(self):
        p = Poller(Rules(UNTIL), Policy.build(polling_interval=10), deadline=5)
        p.next_action(7)
        ok = make_response(200, OK)
        p.receive(ok, 7)
        assert p.next_action(7) == Done(ok)


class TestPolicyValidation:
    @pytest.mark.parametrize(
        ("options", "needle"),
        [
            ({"max_retries": 0}, "max_retries"),
            ({"max_retries": -3}, "max_retries"),
            ({"max_retries": 2.5}, "max_retries"),
            ({"max_retries": True}, "max_retries"),
            ({"polling_interval": -1}, "polling_interval"),
            ({"polling_interval": "2"}, "polling_interval"),
            ({"ignore_exceptions": [KeyError, "no.such.Error"]}, "'no.such.Error'"),
            ({"ignore_exceptions": [int]}, "not an exception class"),
            ({"ignore_exceptions": ["json.dumps"]}, "not an exception class"),
        ],
    )
    def test_mistakes_fail_at_construction(self, options, needle):
        with pytest.raises(ConditionError) as info:
            Policy.build(**options)
        assert needle in str(info.value)

    def test_fractional_interval_is_kept(self):
        assert Policy.build(polling_interval=0.5).polling_interval == 0.5


class TestLogLine:
    def test_one_info_line_per_poll_with_the_pending_reason(self, caplog):
        caplog.set_level(logging.INFO, logger="httsleep_airflow")
        p = poller(max_retries=10)
        drive(p, [make_response(200, RUNNING), make_response(200, OK)])
        lines = [r.getMessage() for r in caplog.records]
        assert lines == [
            'poll 1/10: GET http://h/jobs/1 -> 200; pending: status == "OK" (got "RUNNING")',
            "poll 2/10: GET http://h/jobs/1 -> 200; met",
        ]

    def test_ignored_error_line(self, caplog):
        caplog.set_level(logging.INFO, logger="httsleep_airflow")
        p = poller(max_retries=None, ignore_exceptions=[requests.ConnectionError])
        drive(p, [requests.ConnectionError("refused"), make_response(200, OK)])
        assert caplog.records[0].getMessage() == (
            "poll 1: GET http://h/jobs/1 -> ConnectionError: refused (ignored)"
        )


class TestLogVolume:
    """Which poll lines reach INFO: the first, each change, Retry-After waits, the last; a
    repeat only after a minute, then at doubling gaps; the rest at DEBUG, counted."""

    @staticmethod
    def run(caplog, outcomes: list, *, interval: float = 10, **policy) -> list[tuple[int, str]]:
        caplog.set_level(logging.DEBUG, logger="httsleep_airflow")
        p = poller(polling_interval=interval, **policy)
        with contextlib.suppress(GaveUp):
            drive(p, outcomes)
        return [(r.levelno, r.getMessage()) for r in caplog.records]

    def test_repeats_thin_out_at_doubling_gaps_and_are_counted(self, caplog):
        lines = self.run(caplog, [make_response(200, RUNNING)] * 40, max_retries=None)
        info = [(n, text) for n, (level, text) in enumerate(lines, 1) if level == logging.INFO]
        # polls every 10 s: poll 1 at t=0; repeats at t>=60 (poll 7), then 120 s later (poll
        # 19), then 240 s later (poll 43, past the end)
        assert [n for n, _ in info] == [1, 7, 19]
        assert info[1][1].endswith('(got "RUNNING") [5 polls not shown: as before]')
        assert info[2][1].endswith("[11 polls not shown: as before]")
        assert len(lines) == 40  # the others went to DEBUG, whole
        assert all(level == logging.DEBUG for n, (level, _) in enumerate(lines, 1) if n == 2)

    def test_every_change_of_reason_or_status_is_info(self, caplog):
        outcomes = [
            make_response(200, RUNNING),
            make_response(200, RUNNING),
            make_response(200, {"status": "QUEUED"}),
            make_response(202, {"status": "QUEUED"}),
            make_response(202, {"status": "QUEUED"}),
            make_response(200, OK),
        ]
        lines = self.run(caplog, outcomes, max_retries=None)
        assert [level for level, _ in lines] == [
            logging.INFO,
            logging.DEBUG,
            logging.INFO,
            logging.INFO,
            logging.DEBUG,
            logging.INFO,
        ]
        assert lines[2][1].endswith('(got "QUEUED") [1 poll not shown: as before]')
        assert lines[5][1] == "poll 6: GET http://h/jobs/1 -> 200; met"

    def test_retry_after_waits_and_the_last_poll_are_info(self, caplog):
        busy = make_response(503, RUNNING, headers={"Retry-After": "30"})
        outcomes = [make_response(200, RUNNING), make_response(200, RUNNING), busy]
        outcomes += [make_response(200, RUNNING)] * 2
        lines = self.run(caplog, outcomes, max_retries=5)
        assert [level for level, _ in lines] == [
            logging.INFO,
            logging.DEBUG,
            logging.INFO,
            logging.INFO,  # back to 200: a change
            logging.INFO,  # the last poll
        ]
        assert "waiting 30 s as the server asked (Retry-After)" in lines[2][1]

    def test_ignored_errors_follow_the_same_rule(self, caplog):
        refused = requests.ConnectionError("refused")
        outcomes = [refused, requests.ConnectionError("refused"), make_response(200, OK)]
        lines = self.run(caplog, outcomes, max_retries=None, ignore_exceptions=[Exception])
        assert [level for level, _ in lines] == [logging.INFO, logging.DEBUG, logging.INFO]

    def test_one_poll_log_across_pollers_as_poke_mode_keeps_it(self, caplog):
        from httsleep_airflow._core import PollLog

        caplog.set_level(logging.DEBUG, logger="httsleep_airflow")
        shared = PollLog()
        for n in range(3):  # one poller per poke, one PollLog for the sensor's run
            p = Poller(Rules(UNTIL), Policy.build(), attempts_made=n, poll_log=shared)
            p.next_action(n * 5.0)
            p.receive(make_response(200, RUNNING), n * 5.0)
        assert [r.levelno for r in caplog.records] == [logging.INFO, logging.DEBUG, logging.DEBUG]

    def test_a_wait_that_goes_on_elsewhere_follows_its_last_line(self, caplog):
        """The worker's poke 1 shows RUNNING; its trigger's polls that find the same are
        repeats (the first one's clock starting there), not a second first line."""
        from httsleep_airflow._core import PollLog

        caplog.set_level(logging.DEBUG, logger="httsleep_airflow")
        worker = PollLog()
        p = Poller(Rules(UNTIL), Policy.build(), poll_log=worker)
        drive(p, [make_response(200, RUNNING)])
        follows = worker.fingerprint()
        assert isinstance(follows, str)
        caplog.clear()
        p = Poller(
            Rules(UNTIL),
            Policy.build(polling_interval=10),
            attempts_made=1,
            poll_log=PollLog(follows),
            label="GET http://h/jobs/1",
        )
        drive(p, [make_response(200, RUNNING)] * 8, now=1000.0)
        levels = [r.levelno for r in caplog.records]
        # the trigger's first poll (poll 2) is a repeat; 60 s later (poll 8) it is shown
        assert levels == [logging.DEBUG] * 6 + [logging.INFO, logging.DEBUG]
        assert caplog.records[6].getMessage().endswith("[6 polls not shown: as before]")

    @pytest.mark.parametrize(
        "before",
        [None, {"status": "QUEUED"}],
        ids=["nothing shown before", "another result before"],
    )
    def test_a_first_poll_that_differs_from_what_was_shown_is_info(self, caplog, before):
        from httsleep_airflow._core import PollLog

        worker = PollLog()
        if before is not None:
            drive(
                Poller(Rules(UNTIL), Policy.build(), poll_log=worker), [make_response(200, before)]
            )
        caplog.set_level(logging.DEBUG, logger="httsleep_airflow")
        caplog.clear()
        shown = PollLog(worker.fingerprint())
        drive(Poller(Rules(UNTIL), Policy.build(), poll_log=shown), [make_response(200, RUNNING)])
        assert [r.levelno for r in caplog.records] == [logging.INFO]

    def test_a_fingerprint_is_of_the_line_as_shown(self, caplog):
        """It hashes the text the log shows (secrets redacted, excerpts cut), so it holds
        nothing the log does not, and a server's echo of a credential changes nothing: two
        secrets, one fingerprint. However large the body, the hashed text is a cut line."""
        import hashlib

        from httsleep_airflow._core import PollLog
        from httsleep_airflow._secrets import tidy

        caplog.set_level(logging.INFO, logger="httsleep_airflow")
        prints = []
        for secret in ("s3cr3t-Token-aaaa", "s3cr3t-Token-bbbb"):
            shown = PollLog()
            p = Poller(
                Rules(UNTIL),
                Policy.build(),
                poll_log=shown,
                secrets=tidy([secret]),
                label="GET http://h/jobs/1",
            )
            echo = {"status": f"RUNNING as {secret} " + "a." * 100_000 + "@"}
            drive(p, [make_response(200, echo)])
            prints.append(shown.fingerprint())
        assert prints[0] == prints[1]
        line = caplog.records[-1].getMessage()
        assert "s3cr3t" not in line and len(line) < 1000
        said = line.split(" -> ", 1)[1]  # the line less "poll N: <label> -> "
        assert prints[1] == hashlib.blake2b(said.encode(), digest_size=8).hexdigest()
        assert PollLog().fingerprint() is None  # nothing shown yet

    def test_a_line_not_written_is_no_fingerprint(self):
        """What follows is the last line shown: a poke whose log does not write INFO showed
        nothing, so the trigger's first poll is shown (and no line is worded for nothing)."""
        from httsleep_airflow._core import PollLog

        quiet = logging.getLogger("tests.quiet_task_log")
        quiet.setLevel(logging.WARNING)
        shown = PollLog()
        drive(
            Poller(Rules(UNTIL), Policy.build(), poll_log=shown, log=quiet),
            [make_response(200, RUNNING)],
        )
        assert shown.fingerprint() is None

    @settings(max_examples=150, deadline=None)
    @given(
        bodies=st.lists(st.sampled_from(["RUNNING", "QUEUED", "PAUSED"]), min_size=2, max_size=20),
        split=st.integers(min_value=1, max_value=19),
        gaps=st.lists(st.floats(min_value=0, max_value=200), min_size=20, max_size=20),
    )
    def test_a_wait_split_anywhere_shows_each_change_and_no_second_first_line(
        self, bodies, split, gaps
    ):
        """However a wait is split between two processes (each with its own poller and log
        record, the second following the first's fingerprint), the second part's first poll is
        shown exactly when its result differs from the first part's last, every change after
        it is shown, and it never shows more than a fresh start would."""
        from httsleep_airflow._core import PollLog

        class Levels:
            def __init__(self) -> None:
                self.seen: list[int] = []

            def isEnabledFor(self, level: int) -> bool:
                return True

            def log(self, level: int, *args: object) -> None:
                self.seen.append(level)

        def run(poll_log: PollLog, part: list[str], times: list[float]) -> list[int]:
            log = Levels()
            p = Poller(Rules(UNTIL), Policy.build(max_retries=None), poll_log=poll_log, log=log)
            for body, now in zip(part, times, strict=True):
                p.next_action(now)
                p.receive(make_response(200, {"status": body}), now)
            return log.seen

        split = min(split, len(bodies) - 1)
        times = [sum(gaps[: i + 1]) for i in range(len(bodies))]
        first = PollLog()
        run(first, bodies[:split], times[:split])
        levels = run(PollLog(first.fingerprint()), bodies[split:], times[split:])
        fresh = run(PollLog(), bodies[split:], times[split:])
        assert (levels[0] == logging.INFO) == (bodies[split] != bodies[split - 1])
        for i in range(1, len(levels)):
            if bodies[split + i] != bodies[split + i - 1]:
                assert levels[i] == logging.INFO
        assert levels.count(logging.INFO) <= fresh.count(logging.INFO)

    def test_debug_off_builds_no_line(self, caplog, monkeypatch):
        caplog.set_level(logging.INFO, logger="httsleep_airflow")
        p = poller(polling_interval=10, max_retries=None)
        explained = []
        real = Rules.explain_pending

        def counted(self, judgement, secrets=()):
            explained.append(secrets)
            return real(self, judgement, secrets)

        monkeypatch.setattr(Rules, "explain_pending", counted)
        drive(p, [make_response(200, RUNNING)] * 3)
        # worded for the one line shown; the polls are compared by what they found (unworded)
        assert explained == [()]


def _members_undone(body: bytes) -> bytes:
    """gzip members one after another, NUL bytes between them, undone one at a time: what
    ``decode_body`` must give, however it reads them."""
    import zlib

    out = []
    while body:
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(decoder.decompress(body))
        assert decoder.eof
        body = decoder.unused_data.lstrip(b"\0")
    return b"".join(out)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    members=st.lists(
        st.tuples(st.binary(max_size=3000), st.integers(0, 3), st.integers(1, 9)),
        min_size=1,
        max_size=12,
    ),
    cut=st.integers(0, 40),
)
def test_gzip_members_are_undone_in_order_whatever_their_sizes(
    members: list[tuple[bytes, int, int]], cut: int
):
    """A body of gzip members (of any size, NUL bytes between them) is undone member by
    member, each read in pieces that grow from 1 KiB; cut short, it is refused."""
    import gzip

    from httsleep_airflow._http import decode_body

    body = b"".join(
        gzip.compress(data, compresslevel=level) + b"\0" * nuls for data, nuls, level in members
    )
    sizes: list[int] = []
    assert decode_body(body, "gzip", sizes.append) == b"".join(data for data, _, _ in members)
    assert decode_body(body, "gzip", lambda size: None) == _members_undone(body)
    assert sizes == sorted(sizes)  # checked as it grows
    data, nuls, level = members[-1]
    if 0 < cut < len(gzip.compress(data, compresslevel=level)):  # within the last member
        with pytest.raises(requests.exceptions.ContentDecodingError):
            decode_body(body[: len(body) - nuls - cut], "gzip", lambda size: None)


def test_a_body_of_many_small_gzip_members_is_read_once():
    """Each member is given its decoder in pieces that grow from 1 KiB: what follows a member
    is copied once per member, not the whole rest of the body (which made 400 KB of empty
    members take seconds)."""
    import gzip
    import zlib

    from httsleep_airflow import _http

    body = gzip.compress(b"") * 5_000
    fed: list[int] = []
    real = zlib.decompressobj

    class Counted:
        def __init__(self, wbits: int) -> None:
            self._decoder = real(wbits)

        def decompress(self, data: bytes, most: int) -> bytes:
            fed.append(len(data))
            return self._decoder.decompress(data, most)

        def __getattr__(self, name: str) -> object:
            return getattr(self._decoder, name)

    _http.zlib.decompressobj = Counted  # type: ignore[assignment]
    try:
        assert _http.decode_body(body, "gzip", lambda size: None) == b""
    finally:
        _http.zlib.decompressobj = real
    assert len(fed) == 5_000 and sum(fed) <= 5_000 * _http._FIRST_IN


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, 2**64, -(2**63) - 1, 2**64 - 1, -(2**63)])
    | st.floats()
    | st.text(max_size=3)
    | st.sampled_from(["\ud800", "a\udfff", "1234567890123456789012", "a\0b", "\\u0000"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=3)
            | st.sampled_from(["\udc80", "__classname__", "__id__", "__type", "__var", "k\0"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def _first_uncarried(value: object, path: str = "") -> str | None:
    """The path of the first NaN, infinity, integer past 64 bits, lone surrogate, NUL or key
    of Airflow's serializer, by hand."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -(2**63) <= value <= 2**64 - 1 else path
    if isinstance(value, str):
        return None if all(not 0xD800 <= ord(c) <= 0xDFFF and c != "\0" for c in value) else path
    if isinstance(value, dict):
        for key in value:
            if any(0xD800 <= ord(c) <= 0xDFFF or c == "\0" for c in key):
                return f"{path}.{key}"
        if "__classname__" in value or "__id__" in value or {"__type", "__var"} <= set(value):
            return path
        children = [(f"{path}.{key}", child) for key, child in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", child) for index, child in enumerate(value)]
    else:
        children = []
    for child_path, child in children:
        found = _first_uncarried(child, child_path)
        if found is not None:
            return found
    return None


@settings(max_examples=400, deadline=None, derandomize=True)
@given(value=JSON_VALUES)
def test_what_xcom_cannot_carry_is_named_by_its_path(value: object):
    """NaN, an infinity, an integer past 64 bits, a lone surrogate or a NUL (PostgreSQL's
    JSONB refuses it) in a string or a key, a key Airflow's serializer reserves: each is found,
    by the path of the first; anything else (the text ``\\u0000`` too) passes."""
    from httsleep_airflow._payload import sendable, uncarried

    expected, found = _first_uncarried(value), uncarried(value)
    assert (found is None) == (expected is None)
    if expected is not None and found is not None:
        assert found[0] == sendable(expected)
        found[0].encode("utf-8"), found[1].encode("utf-8")  # both can be sent
        assert "\0" not in found[0] + found[1]


@pytest.mark.parametrize("digits", [20, 4300, 4301, 20_000])
def test_an_integer_of_any_length_is_json_and_an_integer_past_64_bits(digits: int):
    """Python converts integers of at most 4,300 digits: a body with a longer one was no JSON
    (a ``json`` condition raised Python's ``ValueError``, the XCom value was the whole text).
    It is JSON whatever its length: the conditions read the rest of the body, and XCom refuses
    the integer by its path, as it refuses one of 20 digits."""
    from httsleep_airflow._payload import PayloadError, response_payload

    body = '{"status": "OK", "size": 9' + "7" * (digits - 1) + "}"
    response = make_response(200, body)
    rules = Rules({"jsonpath": [{"expression": "status", "value": "OK"}]})
    assert rules.judge(response).verdict.name == "MET"
    assert response_payload(response, "status") == "OK"
    with pytest.raises(PayloadError, match=r"an integer past 64 bits at \$\.size"):
        response_payload(response)


@pytest.mark.parametrize("fill", ["🔥 ", "€", "Grüße aus Köln. ", "\0"])
@pytest.mark.parametrize("size", [10, 70_000, 3_000_000])
def test_an_excerpt_reads_a_long_utf8_body_as_requests_does_without_detecting_it(
    fill: str, size: int, monkeypatch: pytest.MonkeyPatch
):
    """A message quotes the start of a body as ``response.text`` reads it: one without a
    declared charset past ``EXCERPT_BYTES`` that is UTF-8 is read so without requests'
    detection (seconds for megabytes, holding the GIL); its start alone was detected as cp1125
    or EBCDIC, and showed mojibake."""
    import requests.models

    from httsleep_airflow._core import EXCERPT_BYTES, response_excerpt

    body = (fill * (size // len(fill.encode()) + 1)).encode()[:size]
    body = body.decode("utf-8", "ignore").encode()
    response = requests.Response()
    response.status_code, response._content, response.encoding = 200, body, None
    expected = f"200 {' '.join(response.text.split())}"[:60]
    read: list[int] = []
    real = requests.models.chardet.detect  # type: ignore[union-attr]
    monkeypatch.setattr(
        requests.models.chardet, "detect", lambda data: read.append(len(data)) or real(data)
    )
    shown = response_excerpt(response, limit=300)
    assert shown.startswith(expected.rstrip()), (shown[:60], expected)
    assert read == ([] if len(body) > EXCERPT_BYTES else [len(body)]) or not body


@pytest.mark.parametrize(("fill", "size"), [("ж", 40000), ("ü", 30), ("ü", 400), ("ü", 40000)])
def test_a_secret_past_ascii_is_redacted_in_a_body_read_in_another_charset(fill: str, size: int):
    """A server echoing a password of letters past ASCII in a body without a declared charset
    that requests takes for CP932 or windows-1250: the excerpt showed the password's UTF-8
    bytes in that charset, readable back by encoding the message again."""
    import json

    from httsleep_airflow._core import response_excerpt
    from httsleep_airflow._secrets import basic_secrets, tidy

    secret = "Pä55wörd€Ünïcødé"
    body = json.dumps(
        {"user": "ann", "password": secret, "n": fill * size}, ensure_ascii=False
    ).encode()
    response = requests.Response()
    response.status_code, response._content, response.encoding = 200, body, None
    shown = response_excerpt(response, tidy([*basic_secrets("ann", secret), secret]), 200)
    assert '"password": "***"' in shown, shown[:80]
