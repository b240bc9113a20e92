"""Which secrets a request carries, and that the engine's log lines and messages never show them."""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from httsleep_airflow._conditions import Rules
from httsleep_airflow._core import Policy, Poller
from httsleep_airflow._secrets import _deep_forms, mask_url_parts, redact, tidy
from httsleep_airflow._sync import BearerAuth, HttSleeper, request_secrets
from httsleep_airflow.exceptions import Alarm, RetriesExhausted
from tests.helpers import make_response


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("request_kwargs", "expected"),
    [
        ({"auth": BearerAuth("tok-123")}, {"tok-123"}),
        ({"auth": HTTPBasicAuth("ann", "pw-456")}, {"pw-456", "ann:pw-456", b64("ann:pw-456")}),
        ({"auth": ("ann", "pw-456")}, {"pw-456", "ann:pw-456", b64("ann:pw-456")}),
        ({"auth": HTTPDigestAuth("ann", "pw-456")}, {"pw-456"}),
        # bytes credentials go on the wire as they are: their secrets are the same
        ({"auth": HTTPBasicAuth(b"ann", b"pw-456")}, {"pw-456", "ann:pw-456", b64("ann:pw-456")}),
        ({"auth": (b"ann", b"pw-456")}, {"pw-456", "ann:pw-456", b64("ann:pw-456")}),
        ({"auth": HTTPDigestAuth(b"ann", b"pw-456")}, {"pw-456"}),
        ({"url": "http://ann:pw-789@h/x"}, {"pw-789", "ann:pw-789", b64("ann:pw-789")}),
        (
            {"headers": {"X-Api-Key": "k-12345", "Cookie": "c=12345", "Accept": "text/plain"}},
            {"k-12345", "c=12345"},
        ),
        ({"headers": {"Authorization": "Bearer t-1", "X-Token": "abc"}}, {"Bearer t-1"}),
        # a body's secret-looking fields: a form's, a JSON body's at any depth
        ({"method": "POST", "data": {"password": "pw-2468", "user": "ann"}}, {"pw-2468"}),
        ({"method": "POST", "data": "grant=x&client_secret=cs-1357"}, {"cs-1357"}),
        ({"method": "POST", "data": [("api_key", "ak-9753")]}, {"ak-9753"}),
        (
            {"method": "POST", "json": {"job": {"credentials": {"user": "ann", "pin": 135790}}}},
            {"135790"},
        ),
        ({"method": "POST", "json": [{"client_secret": "cs-8642", "name": "report"}]}, {"cs-8642"}),
        ({"method": "POST", "data": '{"token": {"value": "tk-1928"}}'}, {"tk-1928"}),
        ({}, set()),
    ],
)
def test_what_a_request_carries(request_kwargs, expected):
    request = requests.Request(**{"method": "GET", "url": "http://h/x", **request_kwargs})
    found = set(request_secrets(request))
    assert expected <= found  # "abc" is too short to redact
    assert all(any(form in _deep_forms(s) for s in expected) for form in found)


def test_a_session_adds_its_auth_and_headers():
    session = requests.Session()
    session.auth = BearerAuth("session-token")
    session.headers["X-Api-Key"] = "session-key"
    session.params = {"api_key": "session-param", "page": "2"}
    found = request_secrets(requests.Request("GET", "http://h/x"), session)
    assert {"session-token", "session-key", "session-param"} <= set(found)
    assert set(found) == set(  # and their other forms
        tidy(["session-token", "session-key", "session-param"])
    )
    sleeper = HttSleeper("http://h/x", {"status_code": 200}, session=session, secrets=["extra-1"])
    assert {"session-token", "session-key", "extra-1"} <= set(sleeper.secrets)


def test_a_session_set_later_adds_the_values_of_its_secret_headers_too():
    session = requests.Session()
    session.headers["X-Tenant"] = "session-tenant-1"
    sleeper = HttSleeper("http://h/x", {"status_code": 200}, secret_headers=["X-Tenant"])
    sleeper.session = session  # the classic allowed setting it after building
    assert "session-tenant-1" in sleeper.secrets


class _Raw(bytes):
    """Bytes that say they are other bytes: requests sends what they hold."""

    def __bytes__(self) -> bytes:
        return b"not-what-is-sent"


def test_secrets_are_read_by_what_is_sent_whatever_type_carries_them():
    sent = "pw-bytes-123"
    assert sent in tidy([_Raw(sent.encode())])
    sleeper = HttSleeper("http://h/x", {"status_code": 200}, auth=("ann", _Raw(sent.encode())))
    assert sent in sleeper.secrets and "not-what-is-sent" not in sleeper.secrets


def test_redact_replaces_the_longest_secret_first():
    secrets = tidy(["abcde", "abcdefgh", "xy"])
    assert secrets.index("abcdefgh") < secrets.index("abcde") and "xy" not in secrets
    assert [len(form) for form in secrets] == sorted(map(len, secrets), reverse=True)
    assert redact("k=abcdefgh, j=abcde, xy", secrets) == "k=***, j=***, xy"


def test_poller_log_lines_and_messages_never_show_a_secret(caplog):
    caplog.set_level(logging.INFO)
    rules = Rules(
        {"jsonpath": [{"expression": "status", "value": "OK"}]},
        {"jsonpath": [{"expression": "status", "value": "ERROR"}]},
    )
    poller = Poller(
        rules,
        Policy.build(max_retries=2, polling_interval=0),
        label="GET http://h/jobs/1",
        secrets=tidy(["tok-SECRET"]),
    )
    poller.receive(make_response(body={"status": "tok-SECRET"}), 0.0)  # pending, explained
    with pytest.raises(RetriesExhausted) as gave_up:
        poller.receive(make_response(body={"status": "RUNNING", "t": "tok-SECRET"}), 0.0)
    alarm_poller = Poller(rules, Policy.build(), secrets=tidy(["tok-SECRET"]))
    with pytest.raises(Alarm) as alarm:
        alarm_poller.receive(make_response(body={"status": "ERROR", "t": "tok-SECRET"}), 0.0)
    written = caplog.text + str(gave_up.value) + str(alarm.value)
    assert "poke" not in written and "poll 1/2" in written  # the lines were logged...
    assert "tok-SECRET" not in written  # ...without the secret
    assert written.count("***") >= 4


# --- every form, every message path: generated ------------------------------------------------

import json as _json  # noqa: E402
import urllib.parse  # noqa: E402

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from httsleep_airflow._payload import PayloadError, response_payload  # noqa: E402
from httsleep_airflow._secrets import basic_secrets, scrub  # noqa: E402

RUN = 8  # no run of this many consecutive characters of a secret may survive
#: The words the messages are made of, around what they quote.
SCAFFOLD = (
    'poll 1/3: GET http://h/x -> 200; pending: status == "OK" (got "RUNNING") (no match) '
    'alarm {"jsonpath": [{"expression": "status", "value": "RUNNING"}]} matched: '
    'no match after 1 attempts; last response: 200 {"status": "RUNNING", "note": '
    "\"echo\": ValueError: cannot use (ignored) xcom_jsonpath 'nothing.here' matched nothing in "
    "needs a JSON body; got callback tests.engine.test_secrets.judge_raises(response) == True "
    # the repr of each exception the paths raise
    "RetriesExhausted('no match Alarm('alarm ValueError('cannot use PayloadError(\"xcom_jsonpath "
    "JSONDecodeError JSONTooDeep"
)


def survivors(secret: str, text: str) -> list[str]:
    return [
        secret[i : i + RUN] for i in range(len(secret) - RUN + 1) if secret[i : i + RUN] in text
    ]


# Secrets as they come: long tokens, passwords with spaces, quotes, backslashes and non-ASCII.
secret_text = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\n\t"
    ),
    min_size=RUN,
    max_size=300,
).filter(lambda s: len(s.strip()) >= RUN and len(set(s)) >= 4)

FORMS = {
    "as is": lambda s: s,
    "json-escaped": lambda s: _json.dumps(s)[1:-1],
    "json-escaped ascii": lambda s: _json.dumps(s, ensure_ascii=True)[1:-1],
    "percent-encoded": lambda s: urllib.parse.quote(s, safe=""),
    "form-encoded": lambda s: urllib.parse.quote_plus(s),
    "whitespace folded": lambda s: " ".join(s.split()),
    "basic value": lambda s: basic_secrets("ann", s)[1],
    "basic value utf-8": lambda s: basic_secrets("ann", s)[-1],
}


def echo_body(secret: str, form: str, padding: int) -> str:
    """A JSON document that echoes ``secret`` in ``form`` after ``padding`` characters."""
    echoed = FORMS[form](secret)
    return '{"status": "RUNNING", "note": "' + "x" * padding + '", "echo": "' + echoed + '"}'


@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    secret=secret_text,
    form=st.sampled_from(sorted(FORMS)),
    padding=st.integers(min_value=0, max_value=260),
    path=st.sampled_from(["pending", "alarm", "gave up", "ignored", "raised", "payload"]),
)
def test_no_run_of_a_secret_survives_any_message(secret, form, padding, path):
    # A secret spelled like the messages' own words ("jsonpath") is no leak when they show.
    assume(not survivors(secret, SCAFFOLD))
    lines: list[str] = []
    log = logging.getLogger("tests.secrets.generated")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.handlers = [logging.Handler()]
    log.handlers[0].emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    body = echo_body(secret, form, padding)
    response = make_response(body=body.encode("utf-8", "surrogatepass"))
    secrets = tidy([secret, *basic_secrets("ann", secret)])
    until = {"jsonpath": [{"expression": "status", "value": "OK"}]}
    alarms = {"jsonpath": [{"expression": "status", "value": "RUNNING"}]}

    def judge_raises(r: requests.Response) -> bool:
        raise ValueError(f"cannot use {r.text}")

    options: dict = {"max_retries": 3}
    rules = Rules(until, alarms if path == "alarm" else None)
    if path in ("ignored", "raised"):
        rules = Rules({"callback": judge_raises})
        options["ignore_exceptions"] = [ValueError] if path == "ignored" else None
    if path == "gave up":
        options["max_retries"] = 1
    policy = Policy.build(polling_interval=0, **options)
    poller = Poller(rules, policy, label="GET http://h/x", secrets=secrets, log=log)
    written = []
    try:
        if path == "payload":
            response_payload(response, "nothing.here", secrets)
        else:
            poller.receive(response, 0.0)
    except (Alarm, RetriesExhausted, ValueError, PayloadError) as exc:
        written.append(str(exc))
        written.append(repr(exc))
    written += lines
    echoed = FORMS[form](secret)
    for text in written:
        assert survivors(secret, text) == [], (form, path, text)
        assert survivors(echoed, text) == [], (form, path, text)  # nor of the form it came in
    assert written, "every path writes something: the search is not vacuous"


def test_a_long_token_cut_by_the_excerpt_leaves_no_part_of_it():
    token = "T0k3n" + "abcdef0123456789" * 19  # 309 characters: any cut falls inside
    secrets = tidy([token])
    for padding in range(0, 200, 7):
        text = "x" * padding + token + " trailing"
        assert survivors(token, scrub(text, secrets, 150)) == []


def test_exceptions_keep_their_class_and_lose_the_secret():
    from httsleep_airflow._secrets import redact_exception

    class Custom(Exception):
        def __init__(self, value: str):
            super().__init__("code 7")
            self.value = value

        def __str__(self) -> str:
            return f"custom: {self.value}"

    secret = "s3cr3t-value-0001"
    for error in (ValueError(f"bad {secret}"), KeyError(secret), Custom(secret)):
        cause = RuntimeError(f"because {secret}")
        error.__cause__ = cause
        error.add_note(f"note {secret}")
        redacted = redact_exception(error, tidy([secret]))
        assert redacted is error and type(error).__mro__[1:] and isinstance(error, Exception)
        assert secret not in str(error) and secret not in repr(error.args)
        assert secret not in str(cause) and secret not in " ".join(error.__notes__)
    assert isinstance(Custom("x"), Custom)


# --- forms other encoders write, and URLs in any text ------------------------------------------

import re as _re  # noqa: E402

from httsleep_airflow._http import origin as origin_of  # noqa: E402
from httsleep_airflow._secrets import redact_exception as _redact_exception  # noqa: E402
from httsleep_airflow._sync import check_url, strip_credentials  # noqa: E402

TOKEN_WITH_SLASHES = "eyJhbGciOiJIUzI1NiJ9/abcDEF123/ghiJKL456+mnoPQR789/stuVWX000"
PASSPHRASE = "correct horse battery staple über-geheim"
OTHER_ENCODERS = {
    "PHP json_encode": _json.dumps(TOKEN_WITH_SLASHES).replace("/", "\\/")[1:-1],
    "Java upper-case \\u": _re.sub(
        r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), _json.dumps(PASSPHRASE)[1:-1]
    ),
    ".NET lower-case percent": _re.sub(
        r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(PASSPHRASE, safe="")
    ),
    "JavaScript encodeURIComponent": urllib.parse.quote(PASSPHRASE, safe="!'()*-._~"),
    "quote() keeping /": urllib.parse.quote(TOKEN_WITH_SLASHES),
    "cut by the server": TOKEN_WITH_SLASHES[:40] + "...",
    "wrapped onto two lines": PASSPHRASE.replace("battery ", "battery\n"),
    "escaped twice": _json.dumps(_json.dumps(PASSPHRASE, ensure_ascii=False))[1:-1],
    "bytes repr": repr(PASSPHRASE.encode())[2:-1],
}


@pytest.mark.parametrize("form", OTHER_ENCODERS)
def test_forms_other_encoders_write_lose_every_run(form):
    secrets = tidy([TOKEN_WITH_SLASHES, PASSPHRASE])
    text = f'{{"status": "ERROR", "detail": "token {OTHER_ENCODERS[form]} expired"}}'
    for limit in (60, 200, None):
        shown = scrub(text, secrets, limit)
        assert survivors(TOKEN_WITH_SLASHES, shown) == [], shown
        assert survivors(PASSPHRASE, shown) == [], shown


def test_urls_in_any_text_lose_their_passwords_and_secret_parameters():
    text = (
        "407, url='http://puser:proxy-pw-1234@proxy:3128' then "
        "GET http://h/jobs?x=1;api_key=KEY123456&page=2 #access_token=TOK987654 "
        "/app;jsessionid=SESS55555"
    )
    shown = redact(text, ())
    for secret in ("proxy-pw-1234", "KEY123456", "TOK987654", "SESS55555"):
        assert secret not in shown
    assert "page=2" in shown and "x=1" in shown
    label = strip_credentials("http://u:pw-123456@h/x?api_key=abc&b=1#access_token=zz")
    assert label == "http://h/x?api_key=***&b=1#access_token=***"


@pytest.mark.parametrize("value", ["TOK987654", "a:b:TOK987654", "TOK:"])
def test_a_secret_parameter_ending_a_label_keeps_the_colon_after_it(value):
    """A message quotes the URL, then ": " and why: the mask takes the value, not the colon
    that ends the label (a colon inside the value is the value's)."""
    shown = mask_url_parts(f"GET https://h/jobs?access_token={value}: the TLS handshake failed")
    assert shown == "GET https://h/jobs?access_token=***: the TLS handshake failed"
    assert mask_url_parts(f"?token={value}&page=2") == "?token=***&page=2"


@pytest.mark.timeout(20)
def test_a_password_after_any_scheme_is_masked_in_time_linear_in_the_text():
    """The user-info is found after its "://": a scheme after a dot or a digit is no hiding
    place, and a long run of scheme characters before an "@" (which took time growing with
    its square: hours for a body of megabytes) is read once."""
    shown = mask_url_parts("x .http://u:pw-1@h 1http://a:pw-2@c git+ssh://g:pw-3@h")
    assert "pw-" not in shown, shown
    assert shown == "x .http://u:***@h 1http://a:***@c git+ssh://g:***@h"
    assert mask_url_parts("https://h:8080/p@x") == "https://h:8080/p@x"  # a port, no user-info
    hostile = "a." * 2_000_000 + "@"
    assert redact(hostile, ()) == hostile


def test_every_process_orders_a_secrets_forms_alike():
    """Forms of equal length are ordered by text, not by a set's (hash-seeded) order, so two
    processes redact overlapping secrets alike."""
    import subprocess
    import sys

    code = (
        "from httsleep_airflow._secrets import tidy, redact; "
        "s = tidy(['abcdef12', 'ef12WXYZ']); print(s, redact('xxabcdef12WXYZxx', s))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(1, 7)
    }
    assert len(outs) == 1, outs


def test_exception_groups_and_os_errors_lose_the_secret():
    secret = "s3cr3t-value-0002"
    import builtins

    group_class = getattr(builtins, "ExceptionGroup", None)  # Python 3.11+
    if group_class is None:
        pytest.skip("no ExceptionGroup before Python 3.11")
    group = group_class("several", [ValueError(f"bad {secret}")])
    os_error = FileNotFoundError(2, "No such file", f"/spool/{secret}")
    for error in (group, os_error):
        _redact_exception(error, tidy([secret]))
    assert secret not in str(group.exceptions[0]) and secret not in str(os_error)
    assert "No such file" in str(os_error)


def test_origin_and_url_checks_read_the_host_as_requests_connects_to_it():
    assert origin_of("http://127.0.0.1:8080\\@evil.example/x")[1] == ""  # no origin: no creds
    assert origin_of("http://H.example:80/x") == ("http", "h.example", 80)
    assert origin_of("https://h/x") == origin_of("https://h:443/y")
    for bad in ("http://h\\@good/x", "http://h x/", "http://h\t/x"):
        with pytest.raises(ValueError):
            check_url(bad)
    with pytest.raises(ValueError) as info:
        check_url("http://ann:pw-secret-123456@127.0.0.1:99999/x")
    assert "pw-secret-123456" not in str(info.value) and "***" in str(info.value)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("https://h/x", "https://h:443/y", True),
        ("http://h/x", "https://h/x", False),
        ("http://[fe80::1%25eth0]:8080/", "http://[fe80::2%25eth1]:9999/", False),  # zone ids
        ("http://[fe80::1%25eth0]:8080/", "http://[fe80::1%25eth0]:8080/y", True),
        ("http://bücher.example/x", "http://xn--bcher-kva.example/y", True),  # IDNA, as urllib3
        ("http://BÜCHER.example/x", "http://bücher.example:80/y", True),
        ("http://straße.de/x", "http://strasse.de/x", False),  # IDNA 2008, not 2003
        ("http://a\\@b/x", "http://c\\@d/y", False),  # read as two hosts: no origin
        ("http://a\\@b/x", "http://a\\@b/x", False),
    ],
)
def test_a_url_with_no_origin_shares_it_with_no_other(first: str, second: str, same: bool):
    """Credentials follow a redirect only within an origin: two URLs whose hosts the libraries
    read differently have none, and do not share one."""
    from httsleep_airflow._http import same_origin

    assert same_origin(first, second) is same and same_origin(second, first) is same


# --- every class of credential and of encoder: generated ---------------------------------------

import unicodedata  # noqa: E402

from httsleep_airflow._secrets import (  # noqa: E402
    is_secret_parameter,
    secret_header_values,
    secret_query_values,
    url_secrets,
)

#: The characters encoders treat specially, beside any other.
SPECIAL = "%+&#;'\"\\ <>/=?:@"
tricky_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(SPECIAL),
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    ),
    min_size=RUN,
    max_size=60,
).filter(lambda s: s == s.strip() and len(set(s)) >= 4)  # whitespace at an end is no secret
ECHO = '{{"status": "ERROR", "detail": "credential {} refused", "page": 2}}'
GENERATED = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def assert_hidden(secrets: tuple[str, ...], echoed: str, *hidden: str) -> None:
    """No run of what must be ``hidden`` (``echoed`` if nothing is named) shows once a message
    quoting ``echoed`` is redacted, cut or not."""
    hidden = hidden or (echoed,)
    assume(not any(survivors(text, ECHO) for text in hidden))
    text = ECHO.format(echoed)
    for shown in (scrub(text, secrets, 60), scrub(text, secrets), redact(text, secrets)):
        for original in hidden:
            assert survivors(original, shown) == [], (original, shown)


@GENERATED
@given(
    login=tricky_text,
    password=st.one_of(st.just(""), tricky_text),
    given_as=st.sampled_from(["auth", "own header", "user-info"]),
    charset=st.sampled_from(["latin-1", "utf-8"]),
)
def test_basic_credentials_lose_every_run_however_given(login, password, given_as, charset):
    """A Basic credential is the password, or the login when the password is empty (an API
    key sent as the user name); given as auth, as the caller's own header or in the URL."""
    assume(":" not in login)  # a Basic login cannot hold one
    try:
        value = "Basic " + base64.b64encode(f"{login}:{password}".encode(charset)).decode()
    except UnicodeEncodeError:
        assume(False)
    if given_as == "auth":
        found = basic_secrets(login, password)
    elif given_as == "own header":
        found = secret_header_values({"Authorization": value})
    else:
        userinfo = urllib.parse.quote(login, safe="")
        if password:
            userinfo += ":" + urllib.parse.quote(password, safe="")
        found = url_secrets(f"http://{userinfo}@h/x")
    secrets = tidy(found)
    credential = password or login
    assert_hidden(secrets, value)
    assert_hidden(secrets, credential)
    assert_hidden(secrets, f"{login}:{password}", credential)


secret_names = st.sampled_from(
    [
        "api_key",
        "auth[token]",
        "access_token",
        "X-Amz-Signature",
        "password",
        "sessionid",
        "pass",
        "pw",
        "passphrase",
        "jwt",
        "X-Bearer",
    ]
)


def encode_name(name: str, choices: list[bool], upper: bool) -> str:
    """``name`` as a query may write it: any of its characters percent-encoded (either hex
    case), a space as "+"."""
    hex_case = str.upper if upper else str.lower
    return "".join(
        hex_case(f"%{ord(c):02x}") if chosen else c for c, chosen in zip(name, choices, strict=True)
    )


@GENERATED
@given(name=secret_names, value=tricky_text, data=st.data())
def test_a_secret_parameter_is_one_rule_however_its_name_is_written(name, value, data):
    """``mask_url_parts`` and ``secret_query_values`` read a parameter's name as a server does,
    so the value of a secret one, its name encoded anyhow, is masked in a URL and redacted in
    an echo; another parameter stays."""
    choices = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    written = encode_name(name, choices, data.draw(st.booleans())).replace("%20", "+")
    encoded_value = urllib.parse.quote_plus(value)
    url = f"http://h/jobs?page=2&{written}={encoded_value}#top"
    assert is_secret_parameter(written)
    shown = mask_url_parts(url)
    assert survivors(encoded_value, shown) == [] and "page=2" in shown, shown
    assert value in secret_query_values(url)
    assert_hidden(tidy(url_secrets(url)), value)


#: Around a word, what a name in a URL may hold (a space is written "+" or "%20", a double
#: quote "%22").
name_part = st.text(alphabet=st.sampled_from("aS_%25F+[].-x:/@!$'()*,"), max_size=5)


@GENERATED
@given(
    name=st.tuples(
        name_part,
        st.sampled_from(["key", "TOKEN", "sig", "page", "id", "pass", "pw", "jwt", "passenger"]),
        name_part,
    ),
    value=st.text(alphabet=st.sampled_from("ABCxyz0129-_.~"), min_size=RUN, max_size=20),
)
def test_what_is_masked_in_a_url_is_what_is_found_in_it(name, value):
    """One rule: a parameter's value is masked in a URL exactly when it is found as a secret."""
    name = "".join(name)
    url = f"http://h/x?{name}={value}"
    masked = f"{name}=***" in mask_url_parts(url)
    assert masked == (value in secret_query_values(url)) == is_secret_parameter(name), name


@GENERATED
@given(
    value=tricky_text,
    shape=st.sampled_from(["dict", "dict of a list", "pairs", "tuple of pairs", "str", "bytes"]),
)
def test_query_values_are_found_in_every_shape_of_params(value, shape):
    pairs = [("page", "2"), ("api_key", value)]
    query = urllib.parse.urlencode(pairs)
    params = {
        "dict": dict(pairs),
        "dict of a list": {"page": "2", "api_key": ["other-value", value]},
        "pairs": pairs,
        "tuple of pairs": tuple(pairs),
        "str": query,
        "bytes": query.encode(),
    }[shape]
    assert value in secret_query_values(None, params)
    assert "2" not in secret_query_values(None, params)
    secrets = tidy(secret_query_values(None, params))
    sent = requests.Request("GET", "http://h/x", params=params).prepare().url
    assert_hidden(secrets, value)
    written = sent.rpartition("api_key=")[2]  # as sent: percent-encoded
    assert_hidden(secrets, written, written, value)


def hex_of(number: int, width: int, upper: bool) -> str:
    return f"{number:0{width}X}" if upper else f"{number:0{width}x}"


def percent(char: str, charset: str, upper: bool) -> str:
    """``%FC`` (latin-1) or ``%C3%BC`` (UTF-8)."""
    return "".join("%" + hex_of(byte, 2, upper) for byte in char.encode(charset))


def javascript_escape(char: str, charset: str, upper: bool) -> str:
    """JavaScript's ``escape()``: ``%FC``, ``%u20AC``."""
    if ord(char) > 0xFF:
        return "".join("%u" + hex_of(unit, 4, upper) for unit in utf16_units(char))
    return percent(char, "latin-1", upper)


def utf16_units(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def json_escape(char: str, charset: str, upper: bool) -> str:
    """``\\u00fc``, a surrogate pair beyond the BMP (JSON, Java, JavaScript)."""
    return "".join("\\u" + hex_of(unit, 4, upper) for unit in utf16_units(char))


def python_escape(char: str, charset: str, upper: bool) -> str:
    """In a repr of bytes (``\\xc3\\xbc``, ``\\xfc``) or of text (``\\u20ac``, ``\\U0001f600``)."""
    if ord(char) <= 0xFF or charset == "utf-8":
        return "".join("\\x" + hex_of(byte, 2, upper) for byte in char.encode(charset))
    if ord(char) <= 0xFFFF:
        return "\\u" + hex_of(ord(char), 4, upper)
    return "\\U" + hex_of(ord(char), 8, upper)


def fits(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


#: Each family: how it writes a character it escapes, and the characters it always escapes (its
#: own escape character, and what it cannot leave as it is).
ESCAPE_FAMILIES = {
    "percent": (percent, "%+"),
    "JavaScript escape()": (javascript_escape, "%"),
    "HTML decimal reference": (lambda c, charset, upper: f"&#{ord(c)};", "&"),
    "HTML hex reference": (lambda c, charset, upper: f"&#x{hex_of(ord(c), 1, upper)};", "&"),
    "JSON \\u": (json_escape, '\\"'),
    "Python \\x \\u \\U": (python_escape, "\\"),
}


@GENERATED
@given(
    secret=tricky_text,
    family=st.sampled_from(sorted(ESCAPE_FAMILIES)),
    charset=st.sampled_from(["utf-8", "latin-1"]),
    upper=st.booleans(),
    plus_for_space=st.booleans(),
    data=st.data(),
)
def test_an_escaping_encoder_of_any_subset_in_any_case_loses_every_run(
    secret, family, charset, upper, plus_for_space, data
):
    """An encoder of a family may escape any subset of the characters (beside those it must),
    with either hex case, its bytes in latin-1 or UTF-8: its output loses every run, and so
    does the secret."""
    escape, always = ESCAPE_FAMILIES[family]
    if not fits(secret, charset):
        charset = "utf-8"  # a latin-1 encoder cannot write this secret
    chosen = data.draw(st.lists(st.booleans(), min_size=len(secret), max_size=len(secret)))
    echoed = "".join(
        "+"
        if char == " " and plus_for_space and family == "percent"
        else escape(char, charset, upper)
        if pick or char in always
        else char
        for char, pick in zip(secret, chosen, strict=True)
    )
    assert_hidden(tidy([secret]), echoed, echoed, secret)


#: Whole-text forms: the secret's bytes read or written as other text, its case or its
#: Unicode normal form changed.
WHOLE_FORMS = {
    "utf-8 read as latin-1": lambda s: s.encode("utf-8").decode("latin-1"),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64url, unpadded": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    # within a longer value (a JWT's payload): the characters that hold no byte of the prefix
    "base64 in a longer value, +1": lambda s: base64.b64encode(b'{"k": "' + s.encode()).decode()[
        12:
    ],
    "base64 in a longer value, +2": lambda s: base64.b64encode(b'{"key":"' + s.encode()).decode()[
        12:
    ],
    "hex": lambda s: s.encode().hex(),
    "upper-case hex": lambda s: s.encode().hex().upper(),
    "upper-cased": str.upper,
    "lower-cased": str.lower,
    "NFD": lambda s: unicodedata.normalize("NFD", s),
    "NFC": lambda s: unicodedata.normalize("NFC", s),
}


@GENERATED
@given(secret=tricky_text, form=st.sampled_from(sorted(WHOLE_FORMS)))
def test_a_secrets_bytes_read_as_other_text_lose_every_run(secret, form):
    echoed = WHOLE_FORMS[form](secret)
    assert_hidden(tidy([secret]), echoed, echoed, secret)


WIDE = ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]


@GENERATED
@given(
    secret=tricky_text,
    wide=st.sampled_from(WIDE),
    reading=st.sampled_from(["latin-1", "utf-8"]),
    start=st.integers(0, 8),
    limit=st.sampled_from([60, 200, None]),
)
def test_a_secret_in_utf16_or_utf32_text_read_a_byte_at_a_time_loses_every_run(
    secret: str, wide: str, reading: str, start: int, limit: int | None
):
    """A server that answers in UTF-16 or UTF-32 without saying so: requests reads the body a
    byte at a time (UTF-8 for JSON, latin-1 for text), each ASCII character with NULs beside
    it; no run of the secret, whole or echoed from any place on, shows with the NULs taken
    out."""
    echoed = secret[start:]
    assume(len(echoed) >= RUN)
    text = ECHO.format(echoed).encode(wide, "surrogatepass").decode(reading, "replace")
    shown = scrub(text, tidy([secret]), limit)
    assert survivors(echoed, shown.replace("\0", "")) == [], shown


def test_utf32_text_keeps_what_is_no_part_of_a_secret():
    """Runs of a secret are looked for in the text read without its NULs, not in the secret's
    wide forms (a run of eight of UTF-32's characters holds two of the secret's)."""
    secret = "tok-hunter2-verysecret"
    for wide in WIDE:
        body = f'{{"you_sent": "Bearer {secret}", "status": "refused"}}'.encode(wide)
        shown = scrub(body.decode("latin-1"), tidy([secret]), 1000).replace("\0", "")
        assert shown == '{"you_sent": "Bearer ***", "status": "refused"}', (wide, shown)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    secret=st.text(alphabet=st.sampled_from("abcXYZ0189-_%+&=;"), min_size=RUN, max_size=40),
    cut=st.integers(1, 6),
    copies=st.sampled_from([3, 300, 3000, 30_000]),
    pad=st.sampled_from(["", "?session_id=" + "x" * 70_000 + " "]),
    limit=st.sampled_from([60, 500]),
)
def test_a_long_text_that_redaction_shrinks_shows_no_run_of_a_secret(
    secret: str, cut: int, copies: int, pad: str, limit: int
):
    """Redact before you shorten, however long the text and however much redaction shrinks
    what comes first: echoes of a secret cut short (no exact form matches them), over and over
    or after a parameter the URL masking folds, past the length where redaction looks for runs
    in the whole text."""
    echo = urllib.parse.quote(secret[:cut], safe="") + secret[cut:]
    text = pad + (secret[cut:] + " " + echo + " ") * copies
    shown = scrub(text, tidy([secret]), limit)
    assert survivors(secret, shown) == [], shown[:200]
    assert len(shown) <= limit


@pytest.mark.timeout(8)  # seconds per body before; a fraction of one now
def test_scrub_takes_bounded_time_on_hostile_texts():
    """What a cut message shows comes from a bounded start of the text: a 10 MB body costs
    what its start costs, whatever it holds."""
    secrets = tidy([f"secret-number-{i:04d}" for i in range(200)])
    for body in ("?session=" + "v" * 10_000_000, "?a=" + ";b" * 5_000_000, "x " * 5_000_000):
        assert len(scrub(body, secrets, 500)) <= 500


@pytest.mark.parametrize(
    "form",
    [
        lambda token: token.encode().hex(" "),
        lambda token: ", ".join(str(byte) for byte in token.encode()),
        lambda token: urllib.parse.quote(token, safe=""),
        lambda token: token,
    ],
    ids=["hex", "decimal", "percent", "plain"],
)
@pytest.mark.parametrize("limit", [120, 1000])
def test_a_text_that_redaction_shrinks_is_read_over_a_bounded_window(
    form: Callable[[str], str], limit: int, monkeypatch: pytest.MonkeyPatch
):
    """A body of nothing but a secret echoed (in hex, say) shrinks to ``***`` when redacted:
    what a cut shows is looked for in a few times its length of the text, not the whole of
    it (reading escaped bytes costs per character, and the server chose the text), and no
    part of a run the window's end cut shows."""
    from httsleep_airflow import _secrets

    token = "s3cr3tT0kenABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    secrets = tidy(["Bearer " + token, token])
    read: list[int] = []
    real = _secrets.redact
    monkeypatch.setattr(_secrets, "redact", lambda text, s: read.append(len(text)) or real(text, s))
    text = ((form(token) + " , ") * 3000)[:65_000]
    shown = scrub(text, secrets, limit)
    assert survivors(token, shown) == [] and len(shown) <= limit
    assert sum(read) <= 2 * _secrets._WINDOWS * (limit + _secrets._RUN_ROOM), read
    assert form(token[:6]) not in shown  # nor a shorter part of it, in the form it came in


def test_an_error_whose_repr_shows_other_attributes_is_redacted_in_its_repr_too():
    """A library error that builds its ``repr()`` from an attribute (aiohttp's from the request
    it was raised for) keeps its class, and shows ``***`` there."""
    from httsleep_airflow._secrets import redact_exception, tidy

    class Raised(ValueError):
        def __init__(self, message: str, headers: dict[str, str]) -> None:
            super().__init__(message)
            self.headers = headers

        def __repr__(self) -> str:
            return f"Raised({self.args[0]!r}, headers={self.headers!r})"

    error = Raised("bad head", {"Authorization": "Bearer tok-24680"})
    redact_exception(error, tidy(["tok-24680"]))
    assert isinstance(error, Raised) and type(error).__name__ == "Raised"
    assert "tok-24680" not in repr(error) and "***" in repr(error)
    assert str(error) == "bad head"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("user[pw]", True),
        ("pass[]", True),
        ("user+pw", True),
        ("userPass", True),
        ("adminPw", True),
        ("passcode", True),
        ("X-Sig", True),
        ("passenger", False),
        ("compass", False),
        ("bypass", False),
        ("sigma", False),
        ("userSignal", False),
        ("pathway", False),
        ("otp", True),
        ("loginOtp", True),
        ("user[pin]", True),
        ("userPin", True),
        ("sid", True),
        ("X-Shopify-Hmac-Sha256", True),
        ("client_assertion", True),
        ("spinner", False),
        ("pinned", False),
        ("considered", False),
        ("outSide", False),
        ("code", False),
        ("ticket", False),
        ("nonce", False),
    ],
)
def test_short_secret_words_count_as_words_of_a_name(name: str, secret: bool):
    from httsleep_airflow._secrets import is_secret_name

    assert is_secret_name(name) is secret and is_secret_parameter(name) is secret


@pytest.mark.parametrize("runner", ["sync", "async"])
@pytest.mark.parametrize(
    "body",
    [
        {"json_body": {"grant_type": "client", "client_secret": "cs-ECHO-2468"}},
        {"data": {"grant_type": "client", "password": "cs-ECHO-2468"}},
    ],
)
def test_a_bodys_secret_echoed_back_is_redacted_in_both_runners(server, runner, body):
    """A server that quotes the body it was sent (an error page: "bad client_secret ...")
    showed a form's or a JSON body's secret field in the alarm's message."""
    from httsleep_airflow.hooks.httsleep import make_request
    from tests.helpers import run_in
    from tests.scripted_server import Reply

    server.script(Reply(400, {"status": "ERROR", "got": "client_secret=cs-ECHO-2468"}))
    request = make_request(server.url("/token"), method="POST", **body)
    alarms = {"jsonpath": [{"expression": "status", "value": "ERROR"}]}
    with pytest.raises(Alarm) as alarm:
        run_in(runner, request, {"status_code": 200}, alarms=alarms, max_retries=1)
    assert b"cs-ECHO-2468" in server.received[0].body  # it was sent
    assert "cs-ECHO-2468" not in str(alarm.value) and "***" in str(alarm.value)


@pytest.mark.parametrize("runner", ["sync", "async"])
@pytest.mark.parametrize("wide", ["utf-16-le", "utf-16", "utf-32-be"])
def test_a_secret_echoed_in_utf16_or_utf32_is_redacted_in_both_runners(server, runner, wide):
    """A body in UTF-16 (with or without its byte order mark) or UTF-32 under a JSON type
    without a charset: the alarm's message shows no run of the token, NULs taken out."""
    from tests.helpers import run_in
    from tests.scripted_server import Reply

    token = "tok-hunter2-verysecret"
    body = f'{{"status": "failed", "you_sent": "Bearer {token}"}}'.encode(wide)
    server.script(Reply(500, body, {"Content-Type": "application/json"}))
    request = requests.Request("GET", server.url("/job"), headers={"X-Api-Key": token})
    with pytest.raises(Alarm) as alarm:
        run_in(runner, request, {"status_code": 200}, alarms={"status_code": 500}, max_retries=1)
    shown = str(alarm.value).replace("\0", "")
    assert survivors(token, shown) == [] and "***" in shown, shown


def _base64_readings(text: str) -> list[bytes]:
    """Every run of base64 characters in ``text`` decoded from each of its first four."""
    found = []
    for run in _re.findall(r"[A-Za-z0-9+/_-]{2,}", text):
        run = run.replace("-", "+").replace("_", "/")
        for skip in range(4):
            chunk = run[skip:]
            chunk = chunk[: len(chunk) // 4 * 4]
            found.append(base64.b64decode(chunk))
    return found


@GENERATED
@given(
    secret=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=5),
    before=st.binary(max_size=20),
    after=st.binary(max_size=20),
    urlsafe=st.booleans(),
    padded=st.booleans(),
    cut=st.integers(0, 3),
)
def test_a_secret_of_any_length_in_base64_at_any_place_cannot_be_decoded_back(
    secret, before, after, urlsafe, padded, cut
):
    """A server echoes a value holding the secret (a JWT's payload, a session blob) in base64,
    either alphabet, padded or not, quoted from any of its first characters: no reading of
    what shows holds the secret, whatever its length (its base64 forms cover the secrets of
    eight bytes or more; a shorter one leaves too few characters of its own, and is looked for
    by decoding)."""
    data = before + secret.encode() + after
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    blob = encode(data).decode()[cut:]
    blob = blob if padded else blob.rstrip("=")
    secrets = tidy([secret])
    for shown in (redact(f"session={blob}; next", secrets), scrub(f"got {blob}", secrets, 60)):
        readings = _base64_readings(shown)
        if len(secret.encode()) < 8:  # whole runs are masked: not a byte of it is left
            assert not any(secret.encode() in reading for reading in readings), shown
        else:  # its middle is masked: at most two bytes at each end are left, as a run
            assert not any(secret.encode()[2:-2] in reading for reading in readings), shown


#: Writers of bytes one by one: hex between separators (``bytes.hex(sep)``, Go's ``% x``, a MAC
#: address's), with a prefix (C's ``0x74, 0x6f``, quoted-printable, ``\\x74 \\x6f``), octal
#: escapes, decimal lists (a Node Buffer's JSON, Java's ``Arrays.toString``).
BYTE_WRITERS = {
    **{f"hex, {sep!r}": functools.partial(bytes.hex, sep=sep) for sep in " :-."},
    "hex, ', '": lambda b: ", ".join(f"{c:02x}" for c in b),
    "0x list": lambda b: ", ".join(f"0x{c:02X}" for c in b),
    "0x, no space": lambda b: ",".join(f"0x{c:02x}" for c in b),
    "quoted-printable, every byte": lambda b: "".join(f"={c:02X}" for c in b),
    "\\x, spaced": lambda b: " ".join(f"\\x{c:02x}" for c in b),
    "octal escapes": lambda b: "".join(f"\\{c:03o}" for c in b),
    "decimal, ', '": lambda b: ", ".join(map(str, b)),
    "decimal, ','": lambda b: ",".join(map(str, b)),
    "decimal, ' '": lambda b: " ".join(map(str, b)),
    "decimal, ':'": lambda b: ":".join(map(str, b)),
    "decimal, tab": lambda b: "\t".join(map(str, b)),
    "Java's signed bytes": lambda b: str([c - 256 if c > 127 else c for c in b]),
    "decimal beside a number past a byte": lambda b: ", ".join(map(str, [300, *b, 256])),
    "Python's [hex(c)]": lambda b: str([hex(c) for c in b]),
    "JSON array of hex": lambda b: _json.dumps([f"{c:02x}" for c in b]),
    "xxd groups": lambda b: " ".join(b[i : i + 2].hex() for i in range(0, len(b), 2)),
    "hex, double space": lambda b: "  ".join(f"{c:02x}" for c in b),
}


@GENERATED
@given(
    secret=tricky_text,
    writer=st.sampled_from(sorted(BYTE_WRITERS)),
    charset=st.sampled_from(["utf-8", "latin-1"]),
    upper=st.booleans(),
)
def test_a_secrets_bytes_written_one_by_one_lose_every_run(secret, writer, charset, upper):
    """A server writes the bytes of what it was sent one by one, in hex, octal or decimal,
    with or without separators and prefixes: nothing of it shows, cut or not."""
    if not fits(secret, charset):
        charset = "utf-8"
    echoed = BYTE_WRITERS[writer](secret.encode(charset))
    echoed = echoed.upper().replace("\\X", "\\x") if upper else echoed
    assert_hidden(tidy([secret]), echoed, echoed, secret)


def test_bytes_written_one_by_one_are_read_only_where_they_are():
    """A text without such a run is not read a second time; numbers and dates that are no
    secret's bytes stay as they are."""
    secrets = tidy(["tok-9f86d0818"])
    text = "job 12, 13, 14, 15, 16 of 2026-12-06 at 10:11:12:13:14 mac 00:1b:44:11:3a:b7"
    assert redact(text, secrets) == text
    assert redact(f"sent {b'tok-9f86d0818'.hex(':')}.", secrets) == "sent ***."


@GENERATED
@given(secret=tricky_text, escaped=st.sampled_from(["regex", "every", "shell"]))
def test_a_secret_escaped_with_backslashes_loses_every_run(secret, escaped):
    """A server that quotes the secret in a regular expression (``re.escape``), or escapes
    every punctuation character or space with a backslash (a shell, a query language)."""
    if escaped == "regex":
        echoed = _re.escape(secret)
    else:
        marked = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" if escaped == "every" else " '\"\\$`"
        echoed = "".join("\\" + char if char in marked else char for char in secret)
    assert_hidden(tidy([secret]), echoed, echoed, secret)


@pytest.mark.parametrize(
    "data",
    [
        '\ufeff{"client_secret": "bom-secret-7"}',
        ' \ufeff {"client_secret": "bom-secret-7"}',
        b'\xef\xbb\xbf{"client_secret": "bom-secret-7"}',  # the mark's UTF-8 bytes
    ],
)
def test_json_text_after_a_byte_order_mark_is_read_for_its_secrets(data):
    from httsleep_airflow._secrets import body_secrets, masked_data

    assert body_secrets(data) == ["bom-secret-7"]
    assert "bom-secret" not in str(masked_data(data))


def test_base64_is_decoded_only_where_a_short_secret_may_be(monkeypatch):
    """Decoding every run of base64 letters in a 64 KiB body cost 70-90 ms a message (on the
    triggerer's loop): only a run holding the base64 of three bytes of a short secret is
    decoded, and in a text holding none, nothing is."""
    import httsleep_airflow._secrets as module

    decoded: list[str] = []
    real = module.binascii.a2b_base64

    def counting(chunk: str) -> bytes:
        decoded.append(chunk)
        return real(chunk)

    monkeypatch.setattr(module.binascii, "a2b_base64", counting)
    secrets = tidy(["12345", "pw-7777"])
    for text in ("abcdefg " * 8192, "ab+/cd-_ " * 7000, "A" * 65536):
        assert redact(text, secrets) == text
    assert decoded == []
    blob = base64.b64encode(b'{"password": "12345"}').decode()
    assert redact("abcdefg " * 100 + blob, secrets) == "abcdefg " * 100 + "***"
    assert 1 <= len(decoded) <= 4  # that run only, from each of its first four characters


def test_an_xcom_value_loses_the_credentials_it_echoes_and_nothing_else():
    """What is a credential of the request (made of its whole forms) is ***, keys included;
    data that only begins like one, or holds one among other text, is the server's."""
    from httsleep_airflow._payload import masked_echoes

    secrets = tidy(["12345678", "tok-ECHO-4242", *basic_secrets("ann", "pw-ECHO-99")])
    basic = "Basic " + base64.b64encode(b"ann:pw-ECHO-99").decode()
    value = {
        "auth": "Bearer tok-ECHO-4242",
        "basic": basic,
        "pin": 12345678,
        "tok-ECHO-4242": ["TOK-ECHO-4242", "file MTIzNDU2eHh4eA=="],
        "file_b64": "MTIzNDU2eHh4eA==",
        "said": "you sent tok-ECHO-4242 twice",
        "url": "https://b.example/f?X-Amz-Signature=tok-ECHO-4242",
        "pair": "ann:pw-ECHO-99",  # the Basic value decoded
    }
    assert masked_echoes(value, secrets) == {
        "auth": "Bearer ***",
        "basic": "Basic ***",
        "pin": "***",
        "***": ["***", "file MTIzNDU2eHh4eA=="],
        "file_b64": "MTIzNDU2eHh4eA==",
        "said": "you sent tok-ECHO-4242 twice",
        "url": "https://b.example/f?X-Amz-Signature=tok-ECHO-4242",
        "pair": "***",
    }
    assert masked_echoes("tok-ECHO-4242", secrets) == "***"
    assert masked_echoes({"ok": 1}, secrets) == {"ok": 1}


def test_two_keys_an_xcom_value_would_mask_alike_are_refused():
    from httsleep_airflow._payload import PayloadError, masked_echoes

    with pytest.raises(PayloadError, match=r"two keys at \$\.a that are credentials"):
        masked_echoes({"a": {"x-tok-ECHO-4242": 1, "x-TOK-ECHO-4242": 2}}, tidy(["tok-ECHO-4242"]))


def test_an_exceptions_own_text_attributes_are_redacted_not_cut():
    """Every text an exception keeps is redacted (urllib3's ``LocationParseError.location``
    holds a proxy URL, its password with it), and none is cut: it may be a callback's whole
    report."""
    from httsleep_airflow._secrets import redact_exception, tidy

    class JobFailed(Exception):
        def __init__(self, report: str, location: str):
            super().__init__("the job failed")
            self.report, self.location = report, location

    report = "line of the report\n" * 600
    error = JobFailed(report, "http://ann:proxy-pw-31337@127.0.0.1:9")
    redact_exception(error, tidy(["proxy-pw-31337"]))
    assert error.report == report and "proxy-pw-31337" not in error.location


def test_one_string_given_as_secrets_is_one_secret():
    """``secrets="..."`` is one secret, as ``secret_headers="X-Tenant"`` is one name: read as
    its letters, each too short to redact, it was none."""
    from httsleep_airflow import HttSleeper

    assert (
        "own-secret-777"
        in HttSleeper("http://h/x", {"status_code": 200}, secrets="own-secret-777").secrets
    )


@given(
    digest=st.text("0123456789abcdefABCDEF", min_size=32, max_size=128),
    quote=st.sampled_from(['"', "'", '\\"', '\\\\\\"', ""]),
    word=st.sampled_from(["response", "RESPONSE", "Response"]),
)
@settings(max_examples=200, deadline=None)
def test_a_digest_answers_hash_is_masked_wherever_it_shows(digest: str, quote: str, word: str):
    """A Digest answer's ``response`` hash (MD5 to SHA-512 hex, either case), quoted, escaped
    (an answer echoed in JSON) or bare, is masked in every message; the answer's other fields
    and a ``response=`` that holds no hash are shown."""
    text = (
        f"seen: Digest username={quote}ann{quote}, uri={quote}/job?response=ready{quote}, "
        f"{word}={quote}{digest}{quote}, nc=00000001"
    )
    shown = redact(text, ())
    assert digest not in shown and digest[:8] not in shown
    assert f"{word}={quote}***{quote}" in shown
    assert "username=" in shown and "/job?response=ready" in shown and "nc=00000001" in shown


def test_digest_answers_are_not_learned_as_secrets(server: Any) -> None:
    """Neither runner adds a Digest answer to its secrets (its hash is masked by its shape):
    a new answer every poll would make redaction's patterns again on every poll (on the
    triggerer's loop, the whole request's secrets with them)."""
    import asyncio

    from httsleep_airflow._async import AsyncHttSleeper
    from tests.scripted_server import Reply

    challenge = {"WWW-Authenticate": 'Digest realm="api", nonce="n-1", qop="auth"'}
    request = requests.Request("GET", server.url("/job"), auth=HTTPDigestAuth("ann", "pw-1234567"))
    until = {"status_code": 299}
    server.script(Reply(401, "", challenge), Reply())
    sync = HttSleeper(request, until, max_retries=3, polling_interval=0)
    before = sync.secrets
    with pytest.raises(RetriesExhausted):
        sync.run()
    assert sync.secrets is before

    async def run() -> tuple[tuple[str, ...], tuple[str, ...]]:
        async with AsyncHttSleeper(request, until, max_retries=3, polling_interval=0) as sleeper:
            before = sleeper.secrets
            with pytest.raises(RetriesExhausted):
                await sleeper.run()
            return before, sleeper.secrets

    server.script(Reply(401, "", challenge), Reply())
    before, after = asyncio.run(run())
    assert after is before
    sent = [r.headers.get("Authorization", "")[:6] for r in server.received]
    assert sent == ["", "Digest", "Digest", "Digest"]


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_a_sleeper_works_out_each_secrets_forms_once(monkeypatch: pytest.MonkeyPatch, runner: str):
    """Each secret's forms, and theirs (``_deep_forms``), are worked out once and joined: the
    sleeper expanded the whole set again at each step (a session's, netrc's, a proxy's
    credentials), which took the loop seconds for a password of a few KiB and minutes of CPU
    for 100 KiB."""
    from httsleep_airflow._async import AsyncHttSleeper

    monkeypatch.setenv("NETRC", "/nonexistent")
    password = "pw-" + "k7" * 2000
    session = requests.Session()
    session.headers["X-Api-Key"] = "key-" + "q9" * 50
    request = requests.Request(
        "GET", f"http://user:{password}@127.0.0.1:9/x", params={"token": "t0k3n-123"}
    )
    sleeper = (HttSleeper if runner == "sync" else AsyncHttSleeper)(
        request, {"status_code": 200}, secrets=["extra-secret-1"]
    )
    if runner == "sync":  # a session set later adds its own
        sleeper.session = session
        carried = request_secrets(request, session)
    else:
        carried = request_secrets(request)
    assert set(sleeper.secrets) == {*carried, *tidy(["extra-secret-1"])}
    assert set(tidy(carried)) > set(carried)  # what it held before: expanded once more


@pytest.mark.parametrize("secret", ["tok/en+with=chars&more!", "S3cr3tT0k3n!", "p@ss:w/rd?&="])
def test_a_secret_a_server_echoes_encoded_twice_is_masked(secret: str):
    """A form body percent-encodes a secret and the server echoes the body in base64, or
    base64 of base64: the forms of its forms are redacted too (``_deep_forms``)."""
    from urllib.parse import quote

    sleeper = HttSleeper("http://127.0.0.1:9/j", {"status_code": 200}, secrets=[secret])

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    for echoed in (
        b64("k=" + quote(secret, safe="")),
        b64(b64(secret)),
        b64(quote(secret, safe="")),
    ):
        shown = scrub(f"the server said: {echoed} end", sleeper.secrets)
        assert "***" in shown and len(shown) <= len("the server said:  end") + 12, shown
