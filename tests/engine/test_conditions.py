"""The condition language, judged on in-memory responses (no I/O)."""

from __future__ import annotations

import copy
import functools
import http
import json

import pytest
import requests
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonpath_rw.jsonpath import Fields

from httsleep_airflow import _conditions as conditions
from httsleep_airflow._conditions import Rules, Verdict, compile_conditions, decode_json
from httsleep_airflow.exceptions import ConditionError
from tests.helpers import make_response


def judge(until, response, alarms=None):
    return Rules(until, alarms).judge(response).verdict


def job_is_done(response: requests.Response) -> bool:
    return response.json().get("status") == "OK"


def returns_one(response: requests.Response) -> int:
    return 1


def returns_truthy_string(response: requests.Response) -> str:
    return "yes"


class TestKeys:
    def test_status_code(self):
        assert judge({"status_code": 200}, make_response(200)) is Verdict.MET
        assert judge({"status_code": 200}, make_response(503)) is Verdict.PENDING

    def test_status_code_as_string(self):
        assert judge({"status_code": "201"}, make_response(201)) is Verdict.MET

    def test_text(self):
        assert judge({"text": "OK!"}, make_response(body="OK!")) is Verdict.MET
        assert judge({"text": "OK!"}, make_response(body="OK")) is Verdict.PENDING

    def test_json(self):
        assert judge({"json": {"status": "OK"}}, make_response(body={"status": "OK"})) is (
            Verdict.MET
        )
        assert judge({"json": {"status": "OK"}}, make_response(body={"status": "NO"})) is (
            Verdict.PENDING
        )

    def test_jsonpath_single_match_compares_its_value(self):
        until = {"jsonpath": [{"expression": "status", "value": "OK"}]}
        assert judge(until, make_response(body={"id": 3, "status": "OK"})) is Verdict.MET
        assert judge(until, make_response(body={"id": 3, "status": "RUNNING"})) is Verdict.PENDING

    def test_jsonpath_several_matches_compare_as_a_list(self):
        until = {"jsonpath": [{"expression": "tasks[*].state", "value": ["done", "done"]}]}
        body = {"tasks": [{"state": "done"}, {"state": "done"}]}
        assert judge(until, make_response(body=body)) is Verdict.MET
        body = {"tasks": [{"state": "done"}, {"state": "queued"}]}
        assert judge(until, make_response(body=body)) is Verdict.PENDING

    def test_jsonpath_no_match_is_not_met_even_for_none(self):
        until = {"jsonpath": [{"expression": "missing", "value": None}]}
        assert judge(until, make_response(body={"status": "OK"})) is Verdict.PENDING

    def test_jsonpath_every_entry_must_hold(self):
        until = {
            "jsonpath": [
                {"expression": "status", "value": "UNKNOWN"},
                {"expression": "owner", "value": "Chris"},
            ]
        }
        assert judge(until, make_response(body={"status": "UNKNOWN", "owner": "Chris"})) is (
            Verdict.MET
        )
        assert judge(until, make_response(body={"status": "UNKNOWN", "owner": "Ann"})) is (
            Verdict.PENDING
        )

    def test_jsonpath_precompiled_expression(self):
        until = {"jsonpath": [{"expression": Fields("status"), "value": "OK"}]}
        assert judge(until, make_response(body={"status": "OK"})) is Verdict.MET

    def test_callback_callable(self):
        assert judge({"callback": job_is_done}, make_response(body={"status": "OK"})) is (
            Verdict.MET
        )
        assert judge({"callback": job_is_done}, make_response(body={"status": "NO"})) is (
            Verdict.PENDING
        )

    def test_callback_dotted_path(self):
        path = f"{__name__}.job_is_done"
        assert judge({"callback": path}, make_response(body={"status": "OK"})) is Verdict.MET

    def test_callback_met_only_when_equal_to_true(self):
        assert judge({"callback": returns_one}, make_response()) is Verdict.MET  # 1 == True
        assert judge({"callback": returns_truthy_string}, make_response()) is Verdict.PENDING
        assert judge({"callback": lambda r: None}, make_response()) is Verdict.PENDING


class TestFalsyValuesCount:
    """A key that is present counts even when its value is falsy (the original ignored them)."""

    def test_empty_json_object_requires_empty_body_object(self):
        until = {"status_code": 200, "json": {}}
        assert judge(until, make_response(200, body={})) is Verdict.MET
        assert judge(until, make_response(200, body={"status": "RUNNING"})) is Verdict.PENDING

    def test_empty_text_requires_empty_body(self):
        assert judge({"text": ""}, make_response(body="")) is Verdict.MET
        assert judge({"text": ""}, make_response(body="x")) is Verdict.PENDING

    def test_json_null_and_zero_and_false(self):
        assert judge({"json": None}, make_response(body=b"null")) is Verdict.MET
        assert judge({"json": 0}, make_response(body=b"0")) is Verdict.MET
        # JSON's booleans are no numbers: Python's False == 0 and True == 1 do not carry over
        assert judge({"json": False}, make_response(body=b"0")) is Verdict.PENDING
        assert judge({"json": 1}, make_response(body=b"true")) is Verdict.PENDING
        assert judge({"json": [True]}, make_response(body=b"[1]")) is Verdict.PENDING
        assert judge({"json": {"n": 1}}, make_response(body=b'{"n": 1.0}')) is Verdict.MET
        until = {"jsonpath": [{"expression": "done", "value": True}]}
        assert judge(until, make_response(body={"done": 1})) is Verdict.PENDING
        assert judge(until, make_response(body={"done": True})) is Verdict.MET
        assert judge({"json": None}, make_response(body=b"{}")) is Verdict.PENDING

    def test_jsonpath_value_zero(self):
        until = {"jsonpath": [{"expression": "left", "value": 0}]}
        assert judge(until, make_response(body={"left": 0})) is Verdict.MET
        assert judge(until, make_response(body={"left": 3})) is Verdict.PENDING


class TestAndOr:
    def test_and_inside_a_dict(self):
        until = {"status_code": 200, "json": {"status": "OK"}}
        assert judge(until, make_response(200, {"status": "OK"})) is Verdict.MET
        assert judge(until, make_response(201, {"status": "OK"})) is Verdict.PENDING

    def test_or_across_a_list(self):
        until = [{"json": {"status": "SUCCESS"}}, {"json": {"status": "PENDING"}}]
        assert judge(until, make_response(body={"status": "PENDING"})) is Verdict.MET
        assert judge(until, make_response(body={"status": "SUCCESS"})) is Verdict.MET
        assert judge(until, make_response(body={"status": "FAILED"})) is Verdict.PENDING

    def test_alarms_are_checked_before_until(self):
        rules = Rules({"status_code": 200}, alarms={"json": {"status": "ERROR"}})
        judgement = rules.judge(make_response(200, {"status": "ERROR"}))
        assert judgement.verdict is Verdict.ALARM

    def test_alarm_clause_is_the_callers_own_dict(self):
        alarm_404 = {"status_code": 404}
        alarms = [{"json": {"status": "ERROR"}}, alarm_404]
        judgement = Rules({"status_code": 200}, alarms).judge(make_response(404, b"gone"))
        assert judgement.clause is not None
        assert judgement.clause.source is alarm_404

    def test_cheap_checks_first_so_an_html_error_page_is_not_decoded(self):
        until = {"json": {"status": "OK"}, "status_code": 200}
        html = make_response(502, b"<html>Bad gateway</html>")
        assert judge(until, html) is Verdict.PENDING

    def test_tutorial_putting_it_all_together(self):
        def is_job_really_failing(response):
            return True

        until = {"status_code": 200, "jsonpath": [{"expression": "status", "value": "OK"}]}
        alarms = [
            {"json": {"status": "ERROR"}},
            {
                "jsonpath": [
                    {"expression": "status", "value": "UNKNOWN"},
                    {"expression": "owner", "value": "Chris"},
                ],
                "callback": is_job_really_failing,
            },
            {"status_code": 404},
        ]
        rules = Rules(until, alarms)
        assert rules.judge(make_response(200, {"status": "OK"})).verdict is Verdict.MET
        assert rules.judge(make_response(200, {"status": "RUNNING"})).verdict is Verdict.PENDING
        unknown = make_response(200, {"status": "UNKNOWN", "owner": "Chris"})
        assert rules.judge(unknown).clause.source is alarms[1]
        assert rules.judge(make_response(404, {"x": 1})).clause.source is alarms[2]
        assert rules.judge(make_response(200, {"status": "ERROR"})).clause.source is alarms[0]


class TestJsonErrors:
    def test_non_json_body_raises_value_error(self):
        with pytest.raises(ValueError):
            Rules({"json": {"a": 1}}).judge(make_response(200, b"not json"))

    def test_non_json_body_under_jsonpath_raises_value_error(self):
        until = {"jsonpath": [{"expression": "a", "value": 1}]}
        with pytest.raises(ValueError):
            Rules(until).judge(make_response(200, b"<html>"))


class TestValidation:
    @pytest.mark.parametrize(
        ("until", "needle"),
        [
            ({"status": 200}, "'status'"),
            ({"status_code": 200, "jsonpaht": []}, "'jsonpaht'"),
            ({}, "until is empty"),
            ([], "until is empty"),
            ([{}, {}], "until is empty"),
            ({"jsonpath": []}, "jsonpath"),
            ({"jsonpath": [{"expression": "a[", "value": 1}]}, "'a['"),
            ({"jsonpath": [{"expression": "a"}]}, "jsonpath[0]"),
            ({"jsonpath": [{"expression": "a", "value": 1, "x": 2}]}, "jsonpath[0]"),
            ({"jsonpath": [{"expression": 5, "value": 1}]}, "expression"),
            ({"callback": "no.such.module.fn"}, "'no.such.module.fn'"),
            ({"callback": "json.nope"}, "'json.nope'"),
            ({"callback": 42}, "callback"),
            ({"callback": "json.__doc__"}, "not callable"),
            ({"status_code": "abc"}, "status_code"),
            ({"status_code": True}, "status_code"),
            ({"status_code": 42}, "status_code"),
            ({"text": 5}, "'text'"),
            ("status_code", "until must be"),
            ([{"status_code": 200}, "x"], "until[1]"),
            ([{"status_code": 200}, {"bogus": 1}], "until[1]"),
        ],
    )
    def test_mistakes_name_the_key(self, until, needle):
        with pytest.raises(ConditionError, match=None) as info:
            Rules(until)
        assert needle in str(info.value)
        assert isinstance(info.value, ValueError)

    def test_unknown_key_lists_the_allowed_keys(self):
        with pytest.raises(ValueError, match="allowed keys: status_code, text, json"):
            Rules({"stauts_code": 200})

    def test_until_is_required(self):
        with pytest.raises(ValueError, match="until is required"):
            Rules(None)

    def test_alarms_are_validated_too(self):
        with pytest.raises(ValueError, match=r"alarms\[1\]: unknown condition key 'jsn'"):
            Rules({"status_code": 200}, [{"status_code": 500}, {"jsn": {}}])

    def test_callers_dicts_are_not_mutated(self):
        until = [
            {"status_code": "200", "jsonpath": {"expression": "a", "value": 1}},
            {"callback": f"{__name__}.job_is_done"},
        ]
        alarms = {"jsonpath": [{"expression": Fields("s"), "value": "ERROR"}]}
        before = copy.deepcopy((until, alarms))
        Rules(until, alarms).judge(make_response(200, {"a": 1}))
        assert (until, alarms) == before


class TestJsonPathCache:
    def test_each_expression_is_parsed_once_per_process(self, monkeypatch):
        import httsleep_airflow._conditions as conditions

        calls = []
        real = conditions._jsonpath_parse
        monkeypatch.setattr(conditions, "_jsonpath_parse", lambda e: calls.append(e) or real(e))
        for _ in range(3):
            compile_conditions({"jsonpath": [{"expression": "only.once.here", "value": 1}]}, "u")
            compile_conditions({"jsonpath": {"expression": "only.once.here", "value": 2}}, "u")
        assert calls == ["only.once.here"]


class TestExplain:
    def test_pending_reason_names_the_expected_and_got_values(self):
        rules = Rules({"jsonpath": [{"expression": "status", "value": "OK"}]})
        reason = rules.explain_pending(make_response(200, {"status": "RUNNING"}))
        assert reason == 'status == "OK" (got "RUNNING")'

    def test_explaining_a_judgement_runs_no_callback_or_decoding_again(self, monkeypatch):
        calls = []

        def not_yet(response):
            calls.append(response)
            return False

        monkeypatch.setattr(conditions, "decode_json", counted_decode := _Counted(decode_json))
        until = [{"jsonpath": {"expression": "status", "value": "OK"}}, {"callback": not_yet}]
        rules = Rules(until)
        judgement = rules.judge(make_response(200, {"status": "RUNNING"}))
        reason = rules.explain_pending(judgement, ("RUNNING",))
        assert reason.startswith('status == "OK" (got "***") | callback ')
        assert len(calls) == 1
        assert counted_decode.calls == 1

    def test_each_or_branch_gets_a_reason(self):
        rules = Rules([{"status_code": 200}, {"text": "done"}])
        reason = rules.explain_pending(make_response(202, "working"))
        assert reason == 'status_code == 200 (got 202) | text == "done" (got "working")'


@pytest.mark.parametrize(
    ("expression", "needle"),
    [
        ("result[url", "ends too early"),
        ("a..", "ends too early"),
        ("jobs[?(@.state=='done')]", "filter expressions"),
        ("foo bar", "near token bar"),
    ],
)
def test_a_jsonpath_that_does_not_parse_says_why_in_words(expression, needle):
    with pytest.raises(ConditionError) as info:
        Rules({"jsonpath": [{"expression": expression, "value": 1}]})
    assert needle in str(info.value) and "NoneType" not in str(info.value)


class _Counted:
    def __init__(self, function):
        self.function, self.calls = function, 0

    def __call__(self, *args):
        self.calls += 1
        return self.function(*args)


# --- plain JSONPaths are walked without jsonpath-rw's objects, with its results ---------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "a", "0", "RUNNING"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "0", "status"]), inner, max_size=3)
    ),
    max_leaves=12,
)
_STEP = st.sampled_from([".a", ".b", ".status", ".'0'", "[0]", "[1]", "[-1]", "['a']"])


def _find(expression, data):
    """jsonpath-rw's own evaluation: the outcome of ``find``; where it raises for a value of
    another type (an index into an object or ``null``), no match."""
    try:
        matches = expression.find(data)
    except (TypeError, KeyError, AttributeError, IndexError):
        return (False, None)
    if not matches:
        return (False, None)
    return (True, matches[0].value if len(matches) == 1 else [m.value for m in matches])


def _walked(expression, data):
    try:
        return conditions.jsonpath_value(expression, data)
    except Exception as exc:
        return ("raises", type(exc))


@settings(max_examples=400, deadline=None)
@given(
    root=st.sampled_from(["$", "status", "a", "b"]), steps=st.lists(_STEP, max_size=4), data=_JSON
)
def test_a_plain_jsonpath_finds_what_jsonpath_rw_finds(root, steps, data):
    text = root + "".join(steps)
    expression = conditions.parse_jsonpath(text)
    assert conditions._shape(expression).steps is not None, f"{text} is walked"
    assert _walked(expression, data) == _find(expression, data)


@pytest.mark.parametrize(
    "text", ["a.*", "a[*]", "a..b", "a[0:1]", "a,b", "a.$", "$..status", "`this`"]
)
def test_other_jsonpaths_are_left_to_jsonpath_rw(text):
    expression = conditions.parse_jsonpath(text)
    assert conditions._shape(expression).steps is None
    data = {"a": [{"b": 1}, {"b": 2}], "b": 3, "status": "OK"}
    assert _walked(expression, data) == _find(expression, data)


def test_a_plain_jsonpath_honours_jsonpath_rws_auto_id_field(monkeypatch):
    import jsonpath_rw.jsonpath

    monkeypatch.setattr(jsonpath_rw.jsonpath, "auto_id_field", "id")
    expression = conditions.parse_jsonpath("a.id")
    assert conditions.jsonpath_value(expression, {"a": {"x": 1}}) == (True, "a")


# --- the pending reason is compared unworded: equal keys, equal words ---------------------------

_VALUES = st.sampled_from([1, 1.0, True, "1", None, [1], [True], {"a": 1}, "RUNNING", "x" * 70])
_BODIES = st.one_of(
    _VALUES.map(lambda value: json.dumps({"status": value})),
    st.dictionaries(st.sampled_from(["status", "a"]), _VALUES, max_size=2).map(json.dumps),
    st.sampled_from(["NaN", '{"status": NaN}', "RUNNING", "x" * 70 + "y", "x" * 70 + "z"]),
)


def _clauses(values: st.SearchStrategy, texts: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "status_code": st.sampled_from([200, 202]),
                "text": texts,
                "json": values,
                "jsonpath": st.lists(
                    st.fixed_dictionaries(
                        {"expression": st.sampled_from(["status", "a", "a[0]"]), "value": values}
                    ),
                    min_size=1,
                    max_size=2,
                ),
            },
        ).filter(bool),
        min_size=1,
        max_size=2,
    )


_CLAUSES = _clauses(_VALUES, st.sampled_from(["RUNNING", "OK"]))


@settings(max_examples=500, deadline=None)
@given(until=_CLAUSES, first=_BODIES, second=_BODIES, statuses=st.sampled_from([200, 202]))
@example(
    [{"jsonpath": {"expression": "status", "value": 2}}], '{"status": 1}', '{"status": true}', 200
)
@example([{"json": 2}], "1.0", "1", 200)
@example([{"json": 2}], '{"status": NaN}', '{"status": NaN}', 200)
def test_equal_pending_keys_mean_equal_pending_reasons(until, first, second, statuses):
    rules = Rules(until)

    def reason(body):
        try:
            judgement = rules.judge(make_response(statuses, body))
        except Exception:  # not JSON, an index into an object...: an error, no pending reason
            return None
        if judgement.verdict is not Verdict.PENDING:
            return None
        return rules.pending_key(judgement), rules.explain_pending(judgement)

    a, b = reason(first), reason(second)
    if a is not None and b is not None and a[0] == b[0]:
        assert a[1] == b[1]


def _outcome(rules: Rules, response: requests.Response) -> tuple:
    """All a poller reads of one judgement: the verdict, the clause, the pending key and
    reason, or the error raised."""
    try:
        judgement = rules.judge(response)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    if judgement.verdict is not Verdict.PENDING:
        return (judgement.verdict, judgement.clause)
    return (judgement.verdict, rules.pending_key(judgement), rules.explain_pending(judgement))


_ENCODINGS = st.sampled_from([None, "utf-8", "latin-1", "utf-16"])


@settings(max_examples=300, deadline=None)
@given(
    until=_CLAUSES,
    polls=st.lists(
        st.tuples(
            st.sampled_from([200, 202]), _BODIES.map(str.encode) | st.just(b'"\xe9"'), _ENCODINGS
        ),
        min_size=1,
        max_size=6,
    ),
)
@example(
    [{"jsonpath": {"expression": "status", "value": "é"}}],
    [(200, '{"status": "é"}'.encode(), "latin-1"), (200, '{"status": "é"}'.encode(), "utf-8")],
)
@example([{"json": 1}], [(200, b"1", "utf-8"), (200, b"1", "utf-16")])
def test_one_rules_judging_poll_after_poll_judges_each_response_as_new_rules_would(until, polls):
    """A body decoded at the last poll is not decoded again (``LastBody``): judging a run of
    responses with one ``Rules`` gives, response by response, what a fresh ``Rules`` gives."""
    kept = Rules(until)
    for status, body, encoding in polls:
        response = make_response(status, body)
        response.encoding = encoding
        again = make_response(status, body)
        again.encoding = encoding
        assert _outcome(kept, response) == _outcome(Rules(until), again)


def test_a_body_kept_from_the_last_poll_is_judged_again_when_the_depth_limit_changes(monkeypatch):
    rules = Rules({"jsonpath": [{"expression": "a", "value": 1}]})
    body = json.dumps({"a": [[[["deep"]]]]})
    assert rules.judge(make_response(200, body)).verdict is Verdict.PENDING
    monkeypatch.setattr("httsleep_airflow._core.JSON_MAX_DEPTH", 3)
    with pytest.raises(conditions.JSONTooDeep):
        rules.judge(make_response(200, body))


def test_a_large_body_is_not_kept_over_the_wait():
    rules = Rules({"jsonpath": [{"expression": "status", "value": "OK"}]})
    small = make_response(200, {"status": "RUNNING"})
    rules.judge(small)
    assert rules._last_body._last is not None
    rules.judge(
        make_response(200, {"status": "RUNNING", "pad": "x" * conditions.LastBody.MAX_BYTES})
    )
    assert rules._last_body._last[0][0] == small.content  # the small one, still


class _CannedJson(requests.Response):
    """A response whose ``json()`` is its own (its bytes say nothing)."""

    def __init__(self, data: object):
        super().__init__()
        self.status_code = 200
        self._content = b"{}"
        self.encoding = "utf-8"
        self._data = data

    def json(self, **kwargs: object) -> object:
        return self._data


class _TextFromHeader(requests.Response):
    """A response whose ``text`` (which requests' ``json()`` decodes) is not its bytes."""

    @property
    def text(self) -> str:
        return self.headers["X-Body"]


def _with_text(body: str) -> requests.Response:
    response = _TextFromHeader()
    response.status_code, response._content, response.encoding = 200, b"opaque", "utf-8"
    response.headers["X-Body"] = body
    return response


def _with_own_json(data: object) -> requests.Response:
    response = make_response(200, b"{}")
    response.json = lambda **kwargs: data  # a test double's way
    return response


@pytest.mark.parametrize(
    ("until", "first", "second"),
    [
        ({"json": {"s": 2}}, _with_own_json({"s": 1}), _with_own_json({"s": 2})),
        (
            {"jsonpath": {"expression": "s", "value": 2}},
            _CannedJson({"s": 1}),
            _CannedJson({"s": 2}),
        ),
        ({"json": {"s": 2}}, _with_text('{"s": 1}'), _with_text('{"s": 2}')),
    ],
    ids=["json on the response itself", "json of a subclass", "text of a subclass"],
)
def test_a_response_that_decodes_its_own_way_is_never_taken_for_the_last_body(until, first, second):
    rules = Rules(until)
    assert rules.judge(first).verdict is Verdict.PENDING
    assert rules.judge(second).verdict is Verdict.MET


class _UntellableJson(requests.Response):
    def __init__(self) -> None:
        super().__init__()
        self.status_code, self._content = 200, b"{}"

    def json(self, **kwargs: object) -> object:
        return {("a", 1): "running"}  # a key no excerpt can show (json.dumps refuses it)


def test_a_finding_that_cannot_be_told_leaves_the_verdict_pending_and_the_key_to_the_poller():
    rules = Rules({"json": {"status": "done"}})
    judgement = rules.judge(_UntellableJson())
    assert judgement.verdict is Verdict.PENDING
    assert hash(judgement)  # frozen, as before
    with pytest.raises(TypeError):  # the poller words the reason instead (Poller._pending_key)
        rules.pending_key(judgement)


def test_a_body_that_is_not_bytes_fails_as_decoding_it_fails():
    response = requests.Response()  # no raw, no content: content is None
    response.status_code = 200
    with pytest.raises(AttributeError):
        Rules({"json": {}}).judge(response)


class _Text(str):
    pass


class TestSharedChecks:
    """Equal condition dicts of plain JSON data (every trigger of a mapped task, or of one DAG)
    share one compiled copy of their checks; each clause keeps the caller's own dict."""

    def test_equal_plain_conditions_share_their_checks_and_keep_their_own_dicts(self):
        first = {"status_code": 200, "jsonpath": [{"expression": "status", "value": "OK"}]}
        second = copy.deepcopy(first)
        a = compile_conditions(first, "until").clauses[0]
        b = compile_conditions([second], "alarms").clauses[0]
        c = compile_conditions([{}, copy.deepcopy(first)], "until").clauses[0]
        assert a.checks is compile_conditions(second, "until").clauses[0].checks
        assert (a.source, b.source) == (first, second)
        assert a.source is first and b.source is second
        assert a.checks == b.checks == c.checks

    @pytest.mark.parametrize(
        "spec",
        [
            {"json": [1, (2, 3)]},  # a tuple: JSON gives a list back
            {"json": _Text("OK")},  # a subclass: JSON gives a plain str back
            {"status_code": http.HTTPStatus.OK},
            {"callback": "tests.engine.test_conditions.job_is_done"},
            {"text": "\ud83d\ude00"},  # JSON text writes the pair as it writes "\U0001f600"
            {"json": {"\ud83d": 1}},
            {"json": list(range(300))},  # large: the cache keeps what it holds for good
            {"json": functools.reduce(lambda inner, _: [inner], range(40), [])},
        ],
        ids=[
            "tuple",
            "str-subclass",
            "int-enum",
            "callback",
            "surrogate-pair",
            "surrogate-key",
            "large",
            "deep",
        ],
    )
    def test_conditions_json_would_not_give_back_exactly_are_compiled_each_time(self, spec):
        a = compile_conditions(spec, "until").clauses[0]
        b = compile_conditions(spec, "until").clauses[0]
        assert a.checks is not b.checks
        assert a.source is spec

    def test_a_dict_changed_after_compiling_does_not_change_the_shared_copy(self):
        spec = {"json": {"status": "OK"}}
        compile_conditions(spec, "until")
        spec["json"]["status"] = "FAILED"  # the caller's own dict, changed afterwards
        ok = make_response(body={"status": "OK"})
        assert judge({"json": {"status": "OK"}}, ok) is Verdict.MET

    def test_a_surrogate_pair_is_not_taken_for_the_character_it_stands_for(self):
        emoji = make_response(body="\U0001f600")
        assert judge({"text": "\U0001f600"}, emoji) is Verdict.MET  # compiled and shared first
        assert judge({"text": "\ud83d\ude00"}, emoji) is Verdict.PENDING  # as compiled alone

    def test_what_to_data_gives_is_a_copy_no_other_wait_shares(self):
        first, second = Rules({"json": {"status": "OK"}}), Rules({"json": {"status": "OK"}})
        data = second.to_data()
        data["until"][0]["json"]["status"] = "FAILED"
        ok = make_response(body={"status": "OK"})
        assert first.judge(ok).verdict is second.judge(ok).verdict is Verdict.MET

    def test_a_spec_nested_deeper_than_a_body_may_be_is_refused_without_recursing(self):
        deep: list = []
        for _ in range(100_000):
            deep = [deep]
        with pytest.raises(ConditionError, match=r"^until: 'json' nests deeper than 100"):
            compile_conditions({"json": deep}, "until")

    def test_an_invalid_plain_condition_fails_every_time_with_its_own_place(self):
        for where in ("until", "alarms"):
            with pytest.raises(ConditionError, match=rf"^{where}\[1\]: .*status_code"):
                compile_conditions([{"text": "a"}, {"status_code": "abc"}], where)


#: Strings JSON text writes alike or oddly: a surrogate pair and the character it stands for,
#: a lone surrogate, non-ASCII, a line separator.
_ODD_TEXT = st.sampled_from(["\ud83d\ude00", "\U0001f600", "\ud83d", "é", "\u2028", "OK"])
_ODD_VALUES = st.one_of(
    _VALUES,
    _ODD_TEXT,
    st.sampled_from([-0.0, 0.0, 0, False, 10**30, 1e308]),
    st.lists(_ODD_TEXT, max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    until=_clauses(_ODD_VALUES, _ODD_TEXT),
    alarms=_clauses(_ODD_VALUES, _ODD_TEXT) | st.none(),
    bodies=st.lists(
        _BODIES
        | _ODD_VALUES.map(lambda value: json.dumps({"status": value, "a": [value]}))
        | _ODD_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),
        max_size=4,
    ),
)
def test_shared_checks_judge_as_checks_compiled_for_one_wait(until, alarms, bodies):
    """Differential: rules whose checks come from the shared copy judge every response as rules
    compiled on their own do, verdict, clause, pending key and reason alike."""
    shared = Rules(copy.deepcopy(until), copy.deepcopy(alarms))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conditions, "_plain_text", lambda spec: None)
        own = Rules(until, alarms)
    assert all(
        a.checks is not b.checks
        for a, b in zip(shared.until.clauses, own.until.clauses, strict=True)
    )
    for body in bodies:
        assert _outcome(shared, make_response(200, body)) == _outcome(own, make_response(200, body))


class TestLastBodyJudged:
    """A body judged pending is judged pending again, with the same finding, when the next
    response has the same bytes, status, encoding and type (a job API's "running", poll after
    poll): its checks do not run again. Whatever the order of responses, one set of rules
    judges each as a fresh set would."""

    UNTIL = [
        {"jsonpath": [{"expression": "status", "value": "OK"}]},
        {"status_code": 201, "text": '{"status": "RUNNING"}'},
    ]
    ALARMS = [{"json": {"status": "FAILED"}}, {"status_code": 500}]

    @given(
        st.lists(
            st.tuples(
                st.sampled_from([200, 201, 500]),
                st.sampled_from(
                    [
                        b'{"status": "RUNNING"}',
                        b'{"status": "OK"}',
                        b'{"status": "FAILED"}',
                        b'{"status": "R\xc3\xa9"}',
                        b"<html>busy</html>",
                        b'{"other": 1}',
                        b"",
                    ]
                ),
                st.sampled_from(["utf-8", "latin-1", None]),
            ),
            max_size=8,
        )
    )
    @example(
        polls=[
            (201, b'{"status": "R\xc3\xa9"}', "utf-8"),
            (201, b'{"status": "R\xc3\xa9"}', "latin-1"),
        ]
    )
    @example(
        polls=[(201, b'{"status": "RUNNING"}', "utf-8"), (200, b'{"status": "RUNNING"}', "utf-8")]
    )
    @settings(max_examples=200, deadline=None)
    def test_one_set_of_rules_judges_each_response_as_a_fresh_set_would(self, polls):
        kept = Rules(self.UNTIL, self.ALARMS)
        for status, body, encoding in polls:
            response = make_response(status, body)
            response.encoding = encoding
            assert _outcome(kept, response) == _outcome(Rules(self.UNTIL, self.ALARMS), response)

    def test_the_checks_of_a_body_judged_pending_do_not_run_again(self, monkeypatch):
        rules = Rules({"jsonpath": [{"expression": "status", "value": "OK"}]})
        first = rules.judge(make_response(200, {"status": "RUNNING"}))
        runs = []
        real = conditions.ConditionSet.first_match
        monkeypatch.setattr(
            conditions.ConditionSet,
            "first_match",
            lambda self, *args: runs.append(1) or real(self, *args),
        )
        again = rules.judge(make_response(200, {"status": "RUNNING"}))
        assert (again.verdict, again.pending) == (Verdict.PENDING, first.pending) and not runs
        assert rules.explain_pending(again) == rules.explain_pending(first)
        rules.judge(make_response(202, {"status": "RUNNING"}))  # another status: judged
        rules.judge(make_response(200, {"status": "RUNNING"}))  # and again
        assert len(runs) == 2

    def test_a_body_judged_pending_is_kept_without_its_data(self):
        """A waiting trigger holds the finding over its sleep, not the decoded body; wording
        a finding again (a line shown) keeps it."""
        rules = Rules({"jsonpath": [{"expression": "status", "value": "OK"}]})
        judged = rules.judge(make_response(200, {"status": "RUNNING", "id": [1, 2]}))
        key, data, finding = rules._last_body._last
        assert data is conditions._NO_DATA and finding == (200, judged.pending)
        again = rules.judge(make_response(200, {"status": "RUNNING", "id": [1, 2]}))
        assert 'got "RUNNING"' in rules.explain_pending(again)
        assert rules._last_body._last == (key, conditions._NO_DATA, finding)

    def test_a_callback_is_called_on_every_response(self):
        calls = []

        def running(response: requests.Response) -> bool:
            calls.append(response)
            return False

        rules = Rules([{"callback": running}, {"json": {"status": "OK"}}])
        for _ in range(3):
            assert rules.judge(make_response(200, {"status": "RUNNING"})).verdict is Verdict.PENDING
        assert len(calls) == 3

    def test_a_limit_changed_since_is_judged_under_the_new_limit(self, monkeypatch):
        from httsleep_airflow import _core

        body = json.dumps({"a": [{"b": {"c": i}} for i in range(20)]}).encode()
        until = {"jsonpath": [{"expression": "$..a..c", "value": 99}]}
        kept = Rules(until)
        assert kept.judge(make_response(200, body)).verdict is Verdict.PENDING
        monkeypatch.setattr(_core, "JSONPATH_BUDGET", 10)
        fresh = _outcome(Rules(until), make_response(200, body))
        assert fresh[0] == "raised" and _outcome(kept, make_response(200, body)) == fresh

    def test_jsonpath_rw_auto_id_set_since_is_read(self, monkeypatch):
        import jsonpath_rw.jsonpath

        until = {"jsonpath": [{"expression": "id", "value": "`this`"}]}
        kept = Rules(until)
        assert kept.judge(make_response(200, b'{"s": 1}')).verdict is Verdict.PENDING
        monkeypatch.setattr(jsonpath_rw.jsonpath, "auto_id_field", "id")
        again = _outcome(kept, make_response(200, b'{"s": 1}'))
        assert again == _outcome(Rules(until), make_response(200, b'{"s": 1}'))

    def test_a_response_with_its_own_apparent_encoding_is_never_taken_for_the_last_body(self):
        class Sniffed(requests.Response):
            @property
            def apparent_encoding(self) -> str:  # what text decodes by without an encoding
                return self.headers.get("X-Charset", "utf-8")

        def sniffed(charset: str) -> requests.Response:
            response = Sniffed()
            response.status_code, response._content, response.encoding = 200, '"é"'.encode(), None
            response.headers["X-Charset"] = charset
            return response

        kept = Rules({"text": '"é"'})
        assert kept.judge(sniffed("latin-1")).verdict is Verdict.PENDING
        assert kept.judge(sniffed("utf-8")).verdict is Verdict.MET


def _deepest(content: bytes) -> int:
    """The most brackets open at once outside JSON strings, one byte at a time (a backslash
    escapes the byte after it wherever it stands: outside a string, where JSON has none, too)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in content:
        char = bytes([byte])
        if escaped:
            escaped = False
        elif char == b"\\":
            escaped = True
        elif in_string:
            if char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


@settings(max_examples=500, deadline=None, derandomize=True)
@given(content=st.lists(st.sampled_from([b'"', b"\\", b"[", b"]", b"{", b"}", b"a", b"\n"])))
@example(content=[b"["] * 3 + [b'"'] + [b"\\", b'"'] * 50)  # escaped quotes, never ended
def test_the_depth_precheck_reads_strings_as_json_does(content: list[bytes]):
    """Brackets inside strings (an escaped quote, an escaped line break, a string that never
    ends) do not count; the check reads each byte about once."""
    text = b"".join(content)
    deepest = _deepest(text)
    assert conditions._nests_deeper(text, 2) == (deepest > 2)
    assert conditions._nests_deeper(text, deepest) is False


@pytest.mark.parametrize(
    ("until", "long"),
    [
        ({"jsonpath": [{"expression": "status", "value": "OK"}]}, False),
        ({"jsonpath": [{"expression": "jobs[0].status", "value": "OK"}]}, False),
        ({"jsonpath": [{"expression": "jobs[*].status", "value": "OK"}]}, True),
        ({"jsonpath": [{"expression": "(status|state)", "value": "OK"}]}, True),
        ({"json": {"status": "OK"}, "status_code": 200}, False),
        ({"jsonpath": [{"expression": "$..status", "value": "OK"}]}, True),
        ([{"status_code": 200}, {"jsonpath": [{"expression": "a..b", "value": 1}]}], True),
        ({"callback": "json.dumps"}, True),
    ],
)
def test_what_may_take_long_to_judge_is_known_before_any_body(until: object, long: bool):
    """A callback, or a JSONPath that is no plain path (a ``..``, a wildcard, a union: each
    may walk the whole document or fan out): the aiohttp runner judges such rules in a worker
    thread, whatever the body's size (a wildcard was judged on the loop: 0.12 s a poll on a
    60 KiB body)."""
    assert Rules(until).may_take_long is long
    assert Rules({"status_code": 200}, alarms=until).may_take_long is long


@pytest.mark.parametrize(
    ("expression", "body"),
    [
        ("tasks[*].state", {"tasks": [{"state": "RUNNING"}] * 60_000}),  # 120,000 values
        (".".join(["(a|a)"] * 18), {"a": {"a": 1}}),  # each union doubles: 2^18 matches
    ],
)
def test_a_wildcard_or_unions_are_within_the_budget(expression: str, body: object):
    """Only ``..`` was counted: a wildcard over a large body took seconds and a gigabyte
    (each match an object), eighteen unions on a tiny one 2.5 s; both are refused now."""
    rules = Rules({"jsonpath": [{"expression": expression, "value": "OK"}]})
    with pytest.raises(conditions.JSONPathTooCostly, match="would take more than"):
        rules.judge(make_response(200, json.dumps(body).encode()))  # estimated, not run


def test_one_descendant_operator_is_within_the_budget_too(monkeypatch: pytest.MonkeyPatch):
    """A single ``..`` visits every value of the document: counted against the budget."""
    from httsleep_airflow import _core

    body = json.dumps({"a": [{"b": i} for i in range(30)]}).encode()
    rules = Rules({"jsonpath": [{"expression": "$..b", "value": 99}]})
    assert rules.judge(make_response(200, body)).verdict is Verdict.PENDING
    monkeypatch.setattr(_core, "JSONPATH_BUDGET", 40)
    with pytest.raises(conditions.JSONPathTooCostly):
        Rules({"jsonpath": [{"expression": "$..b", "value": 99}]}).judge(make_response(200, body))


@pytest.mark.parametrize("codec", ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le"])
def test_depth_is_judged_alike_whatever_the_json_encoding(codec: str):
    """The pre-check reads bytes; a UTF-16 or UTF-32 body (as requests guesses it) is walked
    once decoded instead: nesting past the limit is ``JSONTooDeep`` in every encoding, a wide
    body within it is decoded."""
    deep = json.dumps(functools.reduce(lambda inner, _: [inner], range(150), 1))
    wide = json.dumps({"jobs": [[{"s": '[\\"[['}] for _ in range(300)]})

    def response(text: str) -> requests.Response:
        made = make_response(200, text.encode(codec))
        made.encoding = None  # no charset: requests guesses a JSON body's, as served
        return made

    assert conditions.decode_json(response(wide))["jobs"][0][0]["s"] == '[\\"[['
    with pytest.raises(conditions.JSONTooDeep):
        conditions.decode_json(response(deep))


@pytest.mark.parametrize(("charset", "char"), [("shift_jis", "ソ"), ("gbk", "乗")])
def test_a_charset_whose_characters_hold_a_backslash_byte_is_judged_once_decoded(
    charset: str, char: str
):
    """In Shift_JIS or GBK a character may end in the byte of a backslash: read byte by byte
    it escaped the quote after it, and a shallow body was refused as too deep."""
    assert char.encode(charset)[-1:] == b"\\"
    text = json.dumps([char, "[" * 101], ensure_ascii=False)
    response = make_response(200, text.encode(charset))
    response.encoding = charset
    assert conditions.decode_json(response) == [char, "[" * 101]
    deep = make_response(200, ("[" * 150 + "]" * 150).encode(charset))
    deep.encoding = charset
    with pytest.raises(conditions.JSONTooDeep):
        conditions.decode_json(deep)


@pytest.mark.parametrize("expression", ["result[0].url", "$.result[0].url", "result[*].url"])
@pytest.mark.parametrize("result", [None, {}, {"0": "x"}, 5, True, []])
def test_a_path_into_a_value_of_another_type_is_pending_not_an_error(expression, result):
    """``{"result": null}`` (or an object, a number) where a list will be: the job is not done
    yet. jsonpath-rw raises (``TypeError: object of type 'NoneType' has no len()``, ``KeyError:
    0``): that failed the task; it is no match, in alarms too, and the reason says so."""
    body = json.dumps({"status": "RUNNING", "result": result})
    rules = Rules(
        {"jsonpath": [{"expression": expression, "value": "u"}]},
        [{"jsonpath": [{"expression": expression, "value": "bad"}]}],
    )
    judgement = rules.judge(make_response(200, body))
    assert judgement.verdict is Verdict.PENDING
    assert rules.explain_pending(judgement) == f'{expression} == "u" (no match)'
    done = json.dumps({"result": [{"url": "u"}]})
    assert rules.judge(make_response(200, done)).verdict is Verdict.MET


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"json": {1: "a"}}, "until: 'json' has the key 1: JSON object keys are strings"),
        ({"json": {"status": float("nan")}}, "until: 'json' holds NaN"),
        ({"json": {"tags": {"a", "b"}}}, "until: 'json' holds a set"),
        ({"json": b"OK"}, "until: 'json' holds a bytes"),
        (
            {"jsonpath": [{"expression": "a", "value": frozenset()}]},
            "until: jsonpath[0]: 'value' holds a frozenset",
        ),
        (
            {"jsonpath": {"expression": "a", "value": {2: 1}}},
            "until: jsonpath[0]: 'value' has the key 2",
        ),
        ({"status_code": "2_00"}, "until: 'status_code' must be an int like 200, not '2_00'"),
        ({"status_code": " 200 "}, "until: 'status_code' must be an int like 200"),
    ],
)
def test_a_condition_no_body_can_ever_meet_is_refused_naming_its_key(spec, said):
    """Python reads these, no decoded body ever equals them: the wait would never end, its
    reason saying ``json == {"a": [1, 2]} (got {"a": [1, 2]})``."""
    with pytest.raises(ConditionError) as raised:
        compile_conditions(spec, "until")
    assert str(raised.value).startswith(said)


def test_a_tuple_in_a_condition_is_met_by_the_list_json_decodes():
    body = make_response(body={"a": [1, [2, 3]]})
    assert judge({"json": {"a": (1, (2, 3))}}, body) is Verdict.MET
    assert judge({"jsonpath": [{"expression": "a", "value": (1, (2, 3))}]}, body) is Verdict.MET


def test_an_object_with_its_own_equality_is_compared_by_it():
    from unittest.mock import ANY

    assert judge({"json": {"id": ANY, "ok": True}}, make_response(body={"id": 7, "ok": True})) is (
        Verdict.MET
    )


def test_an_int_enum_and_a_long_number_compare_as_json_values():
    import enum

    class One(enum.IntEnum):
        ONE = 1

    assert judge({"json": {"done": One.ONE}}, make_response(body=b'{"done": true}')) is (
        Verdict.PENDING
    )
    assert judge({"json": {"done": One.ONE}}, make_response(body=b'{"done": 1}')) is Verdict.MET
    digits = "7" * 5000  # decoded as text of its own kind: no string condition equals it
    body = make_response(body=('{"n": ' + digits + "}").encode())
    assert judge({"json": {"n": digits}}, body) is Verdict.PENDING


def test_a_jsonpath_of_more_steps_than_its_reading_recurses_through_is_refused_when_built():
    """jsonpath-rw reads a path by recursion: ``$..a..a...`` of thousands of steps parsed,
    then ended in ``RecursionError`` at the first body. Refused when built, every time (a
    refused path is not kept as parsed)."""
    from httsleep_airflow._conditions import JSONPATH_MAX_STEPS

    fits = "$" + ".a" * (JSONPATH_MAX_STEPS - 1)
    Rules({"jsonpath": [{"expression": fits, "value": 1}]}, None)
    for _ in range(2):
        with pytest.raises(ConditionError, match=f"more than {JSONPATH_MAX_STEPS} steps"):
            Rules({"jsonpath": [{"expression": "$" + "..a" * 5000, "value": 1}]}, None)


@pytest.mark.parametrize(
    "value", [10**5000, [10**5000], {"id": -(10**5000)}], ids=["int", "list", "dict"]
)
def test_an_integer_too_long_for_text_is_described_in_messages(value: object):
    """Python writes no integer of more than 4,300 digits as text: a message quoting one
    raised ``ValueError`` instead of the error it was for."""
    from httsleep_airflow._conditions import excerpt, shown

    described = excerpt(value)
    assert "an integer of 16610 bits" in described or "that has no text" in described
    assert shown(value) == described or isinstance(value, int)
    with pytest.raises(ConditionError, match="not an HTTP status code"):
        Rules({"status_code": 10**5000}, None)
