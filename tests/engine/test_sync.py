"""httsleep() and HttSleeper against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys

import pytest
import requests
import responses
from requests.auth import HTTPDigestAuth

from httsleep_airflow import Alarm, HttSleeper, MaxRetriesExceeded, httsleep
from httsleep_airflow._sync import DigestAuth
from httsleep_airflow.exceptions import ConditionError
from tests.helpers import Recorder
from tests.scripted_server import Reply, ScriptedServer, free_port

RUNNING = Reply(body={"status": "RUNNING"})
OK = Reply(body={"id": 7, "status": "OK", "result": {"url": "s3://bucket/out"}})
ERROR = Reply(body={"status": "ERROR"})
UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def test_import_does_not_import_airflow():
    code = (
        "import sys, httsleep_airflow, httsleep_airflow._async, httsleep_airflow.testing;"
        "assert 'airflow' not in sys.modules, 'airflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_polls_until_met_and_returns_the_response(server: ScriptedServer, rec: Recorder):
    server.script(RUNNING, RUNNING, OK)
    response = httsleep(
        server.url("/jobs/7"), until=UNTIL, polling_interval=0.5, sleep=rec.sleep, clock=rec.clock
    )
    assert isinstance(response, requests.Response)
    assert response.json()["result"]["url"] == "s3://bucket/out"
    assert rec.sleeps == [0.5, 0.5]
    assert [(r.method, r.path) for r in server.received] == [("GET", "/jobs/7")] * 3


def test_alarm_raises_at_once(server: ScriptedServer, rec: Recorder):
    server.script(RUNNING, ERROR, OK)
    alarm = {"json": {"status": "ERROR"}}
    with pytest.raises(Alarm) as info:
        httsleep(server.url("/jobs/7"), UNTIL, [alarm], sleep=rec.sleep)
    assert info.value.alarm is alarm
    assert info.value.response.json() == {"status": "ERROR"}
    assert len(server.received) == 2


def test_max_retries_is_the_total_number_of_requests(server: ScriptedServer, rec: Recorder):
    server.script(RUNNING)
    with pytest.raises(MaxRetriesExceeded) as info:
        httsleep(server.url("/j"), UNTIL, max_retries=4, polling_interval=3, sleep=rec.sleep)
    assert len(server.received) == 4
    assert rec.sleeps == [3, 3, 3]  # none after the last attempt
    assert info.value.attempts == 4
    assert info.value.response.json() == {"status": "RUNNING"}
    assert isinstance(info.value, StopIteration)


def test_tutorial_except_stop_iteration_still_works(server: ScriptedServer, rec: Recorder):
    server.script(Reply(status=202))
    try:
        with pytest.deprecated_call():
            httsleep(server.url(), status_code=200, max_retries=2, sleep=rec.sleep)
    except StopIteration:
        exhausted = True
    assert exhausted


def test_each_run_starts_with_the_full_budget(server: ScriptedServer, rec: Recorder):
    sleeper = HttSleeper(server.url(), UNTIL, max_retries=2, sleep=rec.sleep)
    for _ in range(2):
        server.script(RUNNING)
        with pytest.raises(MaxRetriesExceeded):
            sleeper.run()
        assert len(server.received) == 2
    server.script(RUNNING, OK)
    assert sleeper.run().json()["status"] == "OK"
    sleeper.close()


def test_post_request_with_body_and_params(server: ScriptedServer, rec: Recorder):
    server.script(Reply(body={"hits": 0}), Reply(body={"hits": 3}))
    request = requests.Request(
        "POST", server.url("/search"), json={"q": "spark"}, params={"page": "1"}
    )
    response = httsleep(
        request, until={"jsonpath": [{"expression": "hits", "value": 3}]}, sleep=rec.sleep
    )
    assert response.json() == {"hits": 3}
    assert [(r.method, r.path, r.body) for r in server.received] == [
        ("POST", "/search?page=1", b'{"q": "spark"}')
    ] * 2


def test_auth_and_headers_apply_to_a_url(server: ScriptedServer, rec: Recorder):
    httsleep(
        server.url(),
        {"status_code": 200},
        auth=("ann", "s3cret"),
        headers={"X-Api-Key": "k1"},
        sleep=rec.sleep,
    )
    headers = server.received[0].headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ann:s3cret").decode()
    assert headers["X-Api-Key"] == "k1"


def test_a_requests_own_auth_and_headers_win(server: ScriptedServer, rec: Recorder):
    request = requests.Request(
        "GET", server.url(), headers={"x-api-key": "mine"}, auth=("own", "pw")
    )
    httsleep(
        request,
        {"status_code": 200},
        auth=("ann", "s3cret"),
        headers={"X-Api-Key": "theirs", "X-Other": "kept"},
        sleep=rec.sleep,
    )
    headers = server.received[0].headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"own:pw").decode()
    assert headers["X-Api-Key"] == "mine"
    assert headers["X-Other"] == "kept"


def test_callers_request_is_not_modified(server: ScriptedServer, rec: Recorder):
    request = requests.Request("GET", server.url(), headers={"A": "1"})
    httsleep(request, {"status_code": 200}, headers={"B": "2"}, auth=("u", "p"), sleep=rec.sleep)
    assert request.headers == {"A": "1"}
    assert request.auth is None


@pytest.mark.parametrize("bad", [42, None, b"http://x", ["http://x"]])
def test_url_or_request_of_another_type_is_a_value_error(bad):
    with pytest.raises(ValueError, match="url_or_request"):
        HttSleeper(bad, {"status_code": 200})


@pytest.mark.parametrize("bad", ["", "jobs/7", "ftp://host/x", "http://"])
def test_a_string_that_is_not_an_http_url_is_a_value_error(bad):
    with pytest.raises(ValueError, match="not an http"):
        HttSleeper(bad, {"status_code": 200})


def test_one_session_is_reused_across_polls_keep_alive(server: ScriptedServer, rec: Recorder):
    server.script(RUNNING, RUNNING, RUNNING, OK)
    httsleep(server.url(), UNTIL, sleep=rec.sleep)
    assert len({r.client_port for r in server.received}) == 1


def test_a_given_session_is_used_and_left_open(server: ScriptedServer, rec: Recorder):
    session = requests.Session()
    session.headers["X-From-Session"] = "yes"
    session.headers["X-Both"] = "session"
    sleeper = HttSleeper(
        server.url(), {"status_code": 200}, session=session, headers={"X-Both": "argument"}
    )
    sleeper.run()
    sleeper.close()
    headers = server.received[0].headers
    assert headers["X-From-Session"] == "yes"
    assert headers["X-Both"] == "argument"
    assert sleeper.session is session
    session.get(server.url())  # still usable
    session.close()


def test_no_module_global_session_between_callers(server: ScriptedServer):
    a = HttSleeper(server.url(), {"status_code": 200})
    b = HttSleeper(server.url(), {"status_code": 200})
    assert a.session is not b.session


def test_close_closes_only_an_owned_session(server: ScriptedServer):
    sleeper = HttSleeper(server.url(), {"status_code": 200})
    owned = sleeper.session
    sleeper.close()
    with HttSleeper(server.url(), {"status_code": 200}) as again:
        assert again.session is not owned


def test_json_condition_on_non_json_body_raises_value_error(server: ScriptedServer, rec):
    server.script(Reply(body="<html>maintenance</html>"))
    with pytest.raises(ValueError):
        httsleep(server.url(), {"json": {"status": "OK"}}, sleep=rec.sleep)
    assert len(server.received) == 1


def test_value_error_can_be_ignored(server: ScriptedServer, rec: Recorder):
    server.script(Reply(body="<html>maintenance</html>"), OK)
    response = httsleep(server.url(), UNTIL, ignore_exceptions=[ValueError], sleep=rec.sleep)
    assert response.json()["status"] == "OK"
    assert len(server.received) == 2


def test_connection_error_ignored_until_the_server_answers():
    port = free_port()
    url = f"http://127.0.0.1:{port}/jobs/1"
    started: list[ScriptedServer] = []

    def sleep(seconds: float) -> None:
        if len(started) == 0 and sleep.calls == 1:  # type: ignore[attr-defined]
            started.append(ScriptedServer(port).start())  # comes up after two refused attempts
            started[0].script(OK)
        sleep.calls += 1  # type: ignore[attr-defined]

    sleep.calls = 0  # type: ignore[attr-defined]
    try:
        response = httsleep(url, UNTIL, ignore_exceptions=[requests.ConnectionError], sleep=sleep)
    finally:
        for server in started:
            server.stop()
    assert response.json()["status"] == "OK"
    assert sleep.calls == 2  # type: ignore[attr-defined]
    assert len(started[0].received) == 1


def test_connection_error_propagates_when_not_ignored(rec: Recorder):
    with pytest.raises(requests.ConnectionError):
        httsleep(f"http://127.0.0.1:{free_port()}/", UNTIL, sleep=rec.sleep)


def test_slow_answer_hits_the_request_timeout(server: ScriptedServer, rec: Recorder):
    server.script(Reply(body={"status": "OK"}, delay=1.0))
    with pytest.raises(requests.Timeout):
        httsleep(server.url(), UNTIL, timeout=0.2, sleep=rec.sleep)


def test_timeout_ignored_counts_as_an_attempt(server: ScriptedServer, rec: Recorder):
    server.script(Reply(body={"status": "OK"}, delay=1.0), OK)
    response = httsleep(
        server.url(), UNTIL, timeout=(2, 0.2), ignore_exceptions=[requests.Timeout], sleep=rec.sleep
    )
    assert response.json()["status"] == "OK"
    assert len(server.received) == 2


@responses.activate
@pytest.mark.parametrize(
    ("given", "sent"), [({}, 30.0), ({"timeout": None}, None), ({"timeout": (3, 10)}, (3.0, 10.0))]
)
def test_timeout_is_passed_on_every_request(given, sent):
    responses.get("http://api.test/jobs/1", json={"status": "OK"})
    httsleep("http://api.test/jobs/1", UNTIL, **given)
    assert responses.calls[0].request.req_kwargs["timeout"] == sent


@pytest.mark.parametrize("bad", [0, -1, "30", (1, 2, 3), (1, "x")])
def test_bad_timeout_is_a_value_error(bad):
    with pytest.raises(ConditionError, match="timeout"):
        HttSleeper("http://api.test/", UNTIL, timeout=bad)


def test_retry_after_sets_the_next_wait(server: ScriptedServer, rec: Recorder):
    server.script(Reply(status=503, body="busy", headers={"Retry-After": "9"}), OK)
    until = {"status_code": 200, **UNTIL}  # the status check spares decoding the 503 page
    httsleep(server.url(), until, polling_interval=1, sleep=rec.sleep, clock=rec.clock)
    assert rec.sleeps == [9.0]


def test_fractional_polling_interval(server: ScriptedServer, rec: Recorder):
    server.script(RUNNING, OK)
    httsleep(server.url(), UNTIL, polling_interval=0.25, sleep=rec.sleep)
    assert rec.sleeps == [0.25]


def test_max_wait_is_an_overall_deadline(server: ScriptedServer, rec: Recorder):
    from httsleep_airflow.exceptions import DeadlineExceeded

    server.script(RUNNING)
    with pytest.raises(DeadlineExceeded) as info:
        httsleep(
            server.url(),
            UNTIL,
            max_retries=None,
            polling_interval=10,
            max_wait=25,
            sleep=rec.sleep,
            clock=rec.clock,
        )
    assert rec.sleeps == [10, 10, 5]
    assert info.value.attempts == len(server.received) == 4


def test_verify_false_is_passed_on():
    with responses.RequestsMock() as mock:
        mock.get("https://api.test/", json={})
        httsleep("https://api.test/", {"status_code": 200}, verify=False)
        assert mock.calls[0].request.req_kwargs["verify"] is False


def test_proxy_environment_variables_apply(server: ScriptedServer, rec, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", server.url())
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    httsleep("http://job-api.invalid/jobs/3", {"status_code": 200}, sleep=rec.sleep)
    assert server.received[0].path == "http://job-api.invalid/jobs/3"  # a proxy's request line


class TestShorthand:
    def test_keywords_build_one_and_condition_with_a_deprecation_warning(self, server, rec):
        server.script(Reply(body={}))
        with pytest.deprecated_call(match="until=") as warned:
            response = httsleep(server.url(), status_code=200, json={}, sleep=rec.sleep)
        assert response.json() == {}
        assert warned[0].filename == __file__  # points at the caller's line

    def test_falsy_shorthand_still_counts(self, server, rec):
        server.script(Reply(body={"status": "RUNNING"}), Reply(body={}))
        with pytest.deprecated_call():
            httsleep(server.url(), status_code=200, json={}, sleep=rec.sleep)
        assert len(server.received) == 2

    def test_combined_with_until_is_an_error(self):
        with pytest.raises(ValueError, match="not both"):
            HttSleeper("http://api.test/", until={"status_code": 200}, text="OK")


class TestLogging:
    def test_log_lines_hold_no_credentials_headers_or_bodies(self, server, rec, caplog):
        caplog.set_level(logging.DEBUG)
        server.script(Reply(body={"status": "RUNNING", "secret": "body-secret"}), OK)
        url = server.url("/jobs/7").replace("http://", "http://user:url-pass@")
        httsleep(
            url,
            UNTIL,
            headers={"Authorization": "Bearer tok-123"},
            max_retries=5,
            sleep=rec.sleep,
        )
        ours = [r for r in caplog.records if r.name.startswith("httsleep_airflow")]
        assert [r.levelno for r in ours] == [logging.INFO, logging.INFO]
        text = "\n".join(r.getMessage() for r in ours)
        assert f"poll 1/5: GET {server.url('/jobs/7')} -> 200; pending" in text
        for secret in ("url-pass", "user:", "tok-123", "body-secret", "Authorization"):
            assert secret not in text

    def test_root_logger_is_untouched(self):
        code = (
            "import logging, httsleep_airflow, httsleep_airflow._core;"
            "root = logging.getLogger();"
            "assert not root.handlers and root.level == logging.WARNING;"
            "assert logging.getLogger('httsleep_airflow').handlers == []"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


class _Text(str):
    """A ``str`` whose ``str()`` and ``encode()`` are not the text it holds."""

    def __str__(self) -> str:
        return "other"

    def encode(self, *args: object, **kwargs: object) -> bytes:  # type: ignore[override]
        return b"other"


@pytest.mark.parametrize(
    "auth",
    [
        (_Text("ann"), _Text("pw-12345")),
        requests.auth.HTTPBasicAuth(_Text("ann"), _Text("pw-12345")),
        requests.auth.HTTPDigestAuth(_Text("ann"), _Text("pw-12345")),
    ],
    ids=["pair", "basic", "digest"],
)
def test_auth_written_as_str_subclasses_is_kept_as_the_text_it_holds(auth: object):
    """What requests sends of a login and password (their ``encode()``) is what is redacted
    (their text): the sleeper's request holds them as plain ``str``, the rest as given."""
    sleeper = HttSleeper("http://127.0.0.1:1/x", until={"status_code": 200}, auth=auth)
    held = sleeper.request.auth
    login, password = held if isinstance(held, tuple) else (held.username, held.password)
    assert (type(login), type(password)) == (str, str)
    assert (login, password) == ("ann", "pw-12345")
    # Digest as DigestAuth, the answers both runners give (a subclass of requests' own)
    assert type(held) is (DigestAuth if isinstance(auth, HTTPDigestAuth) else type(auth))
    assert "pw-12345" in sleeper.secrets


def test_plain_params_and_auth_are_held_as_given():
    params, auth = {"page": ["1", "2"]}, requests.auth.HTTPBasicAuth("ann", "pw-1")
    sleeper = HttSleeper(
        requests.Request("GET", "http://127.0.0.1:1/x", params=params, auth=auth),
        until={"status_code": 200},
    )
    assert sleeper.request.params is params and sleeper.request.auth is auth


def test_credentials_requests_reads_from_netrc_are_redacted(
    server: ScriptedServer, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """requests sends ``~/.netrc``'s login for the host when a request has no auth: a server
    that echoes it shows ``***``."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login nuser password netrc-pw-55555\n")
    monkeypatch.setenv("NETRC", str(netrc))
    token = base64.b64encode(b"nuser:netrc-pw-55555").decode()
    server.script(Reply(body={"saw": f"Basic {token}", "password": "netrc-pw-55555"}))
    with pytest.raises(MaxRetriesExceeded) as raised:
        HttSleeper(server.url("/jobs/1"), {"status_code": 201}, max_retries=1).run()
    assert server.received[0].headers["Authorization"] == f"Basic {token}"
    assert "netrc-pw-55555" not in str(raised.value) and token not in str(raised.value)


def test_urllib3s_own_debug_lines_mask_secret_parameters(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
):
    """urllib3 logs each request's path and query at DEBUG: a secret-looking parameter is
    masked there too, and the request's own secrets (``secrets=``) are redacted."""
    server.script(Reply(body={}))
    url = server.url("/jobs/tok-in-path-4242?api_key=query-secret-999&page=2")
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        HttSleeper(url, {"status_code": 200}, secrets=["tok-in-path-4242"]).run()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("page=2" in line for line in lines)
    assert not any("query-secret-999" in line or "tok-in-path" in line for line in lines)


def test_urllib3s_warnings_and_their_tracebacks_show_no_secret(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
):
    """urllib3 warns of a head it cannot parse (``urllib3.connection``), with the whole URL and
    the error's traceback: a secret parameter and the request's secrets are masked in both."""
    echo = {"Content-Type": "multipart/mixed", "X-Echo own-secret-777": "1"}  # a bad line, kept
    server.script(Reply(body={}, headers=echo))  # as "unparsed data" in the error's text
    url = server.url("/jobs/1?api_key=query-secret-999&page=2")
    sleeper = HttSleeper(url, {"status_code": 200}, max_retries=1, secrets=["own-secret-777"])
    with (
        caplog.at_level(logging.WARNING, logger="urllib3"),
        pytest.raises(requests.RequestException),
    ):
        sleeper.run()
    warned = [r for r in caplog.records if r.name == "urllib3.connection"]
    assert warned, "urllib3 no longer warns of this head: find another"
    shown = caplog.text + "".join(str(r.exc_text) for r in warned)
    assert "Failed to parse headers" in shown and "api_key=***" in shown and "X-Echo" in shown
    assert "query-secret-999" not in shown and "own-secret-777" not in shown


def test_urllib3s_lines_are_cut_once_redacted():
    """A server can make urllib3 quote megabytes (a head of header lines it cannot parse): each
    argument is redacted and cut, so the filter's time does not grow with what a server sent."""
    from httsleep_airflow._secrets import EXCEPTION_TEXT_LIMIT
    from httsleep_airflow._sync import _MaskedUrls

    huge = "X-A: ?api_key=value-777777&" * 250_000
    record = logging.LogRecord(
        "urllib3.connection", logging.WARNING, "", 0, "%s %s", (huge, 7), None
    )
    _MaskedUrls().filter(record)
    text, number = record.args  # type: ignore[misc]
    assert len(text) <= EXCEPTION_TEXT_LIMIT + 1 and number == 7
    assert "value-777777" not in text and "api_key=***" in text


def test_every_urllib3_logger_masks_what_it_quotes():
    """Each urllib3 module that has a logger (found in its source, so a new one is not missed)
    has the filter that masks URLs and the request's secrets."""
    import pathlib
    import re

    import urllib3

    from httsleep_airflow._sync import URLLIB3_LOGGERS, _MaskedUrls

    root = pathlib.Path(urllib3.__file__).parent
    found = {
        "urllib3." + ".".join(path.relative_to(root).with_suffix("").parts)
        for path in root.rglob("*.py")
        if re.search(r"^log = logging\.getLogger\(__name__\)", path.read_text(), re.M)
    }
    found.discard("urllib3.contrib.emscripten.response")  # a browser's; no sockets here
    assert found and found <= set(URLLIB3_LOGGERS)
    for name in URLLIB3_LOGGERS:
        assert any(isinstance(f, _MaskedUrls) for f in logging.getLogger(name).filters), name


def test_cookies_dropped_leave_no_place_behind_in_the_jar():
    """A server that sets cookies under ever new paths: the places ``http.cookiejar`` keeps for
    a path, and a domain, once their cookies are gone go too; a cookie's unknown attributes
    count toward its size."""
    from requests.cookies import RequestsCookieJar, create_cookie

    from httsleep_airflow._http import drop_unsendable_cookies

    jar = RequestsCookieJar()
    for n in range(200):
        jar.set_cookie(create_cookie(f"c{n}", "x" * 5000, domain="h.example", path=f"/p{n}"))
    jar.set_cookie(create_cookie("kept", "v", domain="h.example", path="/"))
    jar.set_cookie(create_cookie("wide", "v", domain="h.example", path="/", rest={"X": "y" * 5000}))
    drop_unsendable_cookies(jar)
    assert [cookie.name for cookie in jar] == ["kept"]
    assert jar._cookies == {"h.example": {"/": {"kept": jar._cookies["h.example"]["/"]["kept"]}}}


class _TokenAuth(requests.auth.AuthBase):
    """An auth of the caller's own, which the runner knows nothing of."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = "Token own-auth-key-42"
        return request


def test_what_a_callers_own_auth_sends_is_redacted_as_a_known_auths_is(server: ScriptedServer):
    """Its header's value and its key alone, echoed, in the give-up message and log lines,
    from the first poll on."""
    server.script(Reply(500, "you sent: Token own-auth-key-42; key own-auth-key-42"))
    with pytest.raises(MaxRetriesExceeded) as raised:
        HttSleeper(server.url("/x"), {"status_code": 200}, auth=_TokenAuth(), max_retries=1).run()
    assert "own-auth" not in str(raised.value)
    assert str(raised.value).endswith("500 you sent: ***; key ***")
    assert server.received[0].headers["Authorization"] == "Token own-auth-key-42"


class _RotatingAuth(requests.auth.AuthBase):
    """An auth that sends a new token on every request (a refreshed OAuth token, a signature
    per request), and an API key in the query."""

    def __init__(self, tokens: list[str]):
        self.tokens = iter(tokens)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {next(self.tokens)}"
        request.prepare_url(request.url, {"api_key": "query-key-4242"})
        return request


def test_what_a_callers_auth_sends_on_every_request_is_redacted_from_that_poll_on(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
):
    """Each poll's token, echoed by that poll's response, is *** in its log line and in the
    give-up message; so is a key the auth puts in the query. Only the last ``LEARNED_KEPT``
    tokens are kept: thirty polls do not make thirty tokens' worth of secrets."""
    from httsleep_airflow._sync import LEARNED_KEPT

    tokens = [f"rotated-{n:03d}-{n * 7919 % 1000:03d}" for n in range(30)]
    server.script(
        *(Reply(body={"status": f"Bearer {token}", "key": "query-key-4242"}) for token in tokens)
    )
    rec = Recorder()
    sleeper = HttSleeper(
        server.url("/x"),
        {"jsonpath": [{"expression": "status", "value": "OK"}]},
        auth=_RotatingAuth(tokens),
        max_retries=30,
        sleep=rec.sleep,
        clock=rec.clock,
    )
    caplog.set_level(logging.DEBUG, logger="httsleep_airflow")
    with pytest.raises(MaxRetriesExceeded) as raised:
        sleeper.run()
    said = caplog.text + str(raised.value)
    assert not [token for token in tokens if token in said]
    assert "query-key-4242" not in said and "***" in str(raised.value)
    assert [r.headers["Authorization"] for r in server.received] == [f"Bearer {t}" for t in tokens]
    # what the last request sent (its header value, the token alone, the key) and what it did not
    assert len(sleeper._learned) == 3 + LEARNED_KEPT
    forms = set(sleeper.secrets)
    assert [token in forms for token in tokens] == [False] * 25 + [True] * 5


def test_an_error_keeps_no_request_that_was_sent(server: ScriptedServer):
    """requests' errors carry the request sent (its credentials, the whole URL): the requests
    runner drops it from every error in the chain, as the aiohttp runner's errors have none."""
    url = f"http://127.0.0.1:{free_port()}/x?api_key=query-secret-1"
    with pytest.raises(requests.exceptions.ConnectionError) as raised:
        HttSleeper(url, {"status_code": 200}, auth=("ann", "basic-pass-1"), max_retries=1).run()
    chain: list[BaseException] = []
    error: BaseException | None = raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    requests_errors = [e for e in chain if isinstance(e, requests.RequestException)]
    assert requests_errors and all(e.request is None for e in requests_errors)


class _SignedAuth(requests.auth.AuthBase):
    """A signature per request after a key the request also carries in its query."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.count += 1
        request.headers["X-Signature"] = f"known-key-77.signed{self.count:04d}secret"
        return request


class _RefreshOn401(requests.auth.AuthBase):
    """requests' documented pattern: a response hook that answers a 401 with a fresh token."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = "Bearer stale-token-0001"
        request.register_hook("response", self.refresh)
        return request

    def refresh(self, response: requests.Response, **kwargs: object) -> requests.Response:
        if response.status_code != 401:
            return response
        response.content  # noqa: B018  (read, so the connection is free again)
        again = response.request.copy()
        again.headers["Authorization"] = "Bearer fresh-token-9f8e7d"
        sent = response.connection.send(again, **kwargs)
        sent.history.append(response)
        sent.request = again
        return sent


@pytest.mark.parametrize(
    ("auth", "replies", "secret"),
    [
        (
            _SignedAuth,
            [Reply(body={"got": "known-key-77.signed0001secret"})],
            "signed0001secret",
        ),
        (
            _RefreshOn401,
            [Reply(401, "again"), Reply(body={"you_sent": "Bearer fresh-token-9f8e7d"})],
            "fresh-token-9f8e7d",
        ),
    ],
    ids=["a signature beside a known key", "a token a 401 hook sends"],
)
def test_what_an_auth_sends_beyond_known_secrets_is_redacted_in_that_polls_message(
    server: ScriptedServer, auth, replies, secret
):
    server.script(*replies)
    with pytest.raises(MaxRetriesExceeded) as raised:
        HttSleeper(
            server.url("/x?api_key=known-key-77"),
            {"status_code": 204},
            auth=auth(),
            max_retries=1,
        ).run()
    assert secret not in str(raised.value) and "***" in str(raised.value)
