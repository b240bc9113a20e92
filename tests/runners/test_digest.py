"""Digest auth: both runners answer a challenge with the same header, by the same rules
(``_sync.DigestAuth``), whatever the server's challenge, in every environment."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.auth import HTTPDigestAuth

from httsleep_airflow.exceptions import RetriesExhausted
from tests.helpers import run_in
from tests.scripted_server import Reply, ScriptedServer

PASSWORD = "digest-PW-2468"
UNTIL = {"jsonpath": [{"expression": "status", "value": "OK"}]}
#: A field whose value is random per answer (the client's nonce) or follows from it.
_RANDOM = re.compile(r'(cnonce|response)="[^"]*"')


def _said(received: list[Any]) -> list[str]:
    """The Authorization each request carried, its random fields blanked."""
    return [_RANDOM.sub(r'\1="…"', r.headers.get("Authorization", "-")) for r in received]


def _outcome(runner: str, url: str, **options: Any) -> tuple[str, str]:
    try:
        result = run_in(
            runner,
            requests.Request("GET", url, auth=HTTPDigestAuth("ann", PASSWORD)),
            UNTIL,
            max_retries=4,
            polling_interval=0,
            **options,
        )
    except RetriesExhausted as exc:  # the blocking runner's is also a StopIteration
        return "RetriesExhausted", str(exc)
    except Exception as exc:  # the same class and words from both, or a difference
        return type(exc).__name__, str(exc)
    return "returned", str(result.status_code)


parameter = st.sampled_from(
    [
        'realm="api"',
        'nonce="n-123"',
        'qop="auth"',
        'qop="auth-int"',
        'qop="auth-int,auth"',
        'qop="auth,auth-int"',
        "algorithm=MD5",
        "algorithm=MD5-sess",
        "algorithm=SHA-256",
        "algorithm=SHA-256-sess",
        "algorithm=SHA-512",
        "algorithm=FOO",
        "stale=true",
        'opaque="o-9"',
        'domain="/other"',
        "realm=bare",
        'nonce=""',
    ]
)
challenge = st.tuples(
    st.sampled_from(["Digest", "digest", "DIGEST"]),
    st.lists(parameter, max_size=6),
    st.sampled_from(["", 'Basic realm="b"']),  # another scheme beside it
    st.booleans(),  # on its own line (two WWW-Authenticate headers) or the same
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(challenge=challenge)
def test_both_runners_answer_any_digest_challenge_alike(server: ScriptedServer, challenge):
    """The same outcome, the same requests and the same Authorization fields (but the client's
    nonce and what follows from it) from both runners: an answerable challenge is answered
    once, and the next poll answers it again unasked; one that is not (no realm or nonce, an
    unknown qop or algorithm) leaves the 401 as the poll's response."""
    scheme, parameters, other, own_line = challenge
    digest = f"{scheme} {', '.join(parameters)}".strip()
    headers: dict[str, str] = {"WWW-Authenticate": digest}
    if other and own_line:
        headers = {"WWW-Authenticate": other, "Www-Authenticate": digest}
    elif other:
        headers = {"WWW-Authenticate": f"{other}, {digest}"}
    script = [
        Reply(401, {"status": "UNAUTHORIZED"}, headers),
        Reply(body={"status": "RUNNING"}),
        Reply(body={"status": "OK"}),
    ]
    seen = {}
    for runner in ("sync", "async"):
        server.script(*script)
        seen[runner] = (_outcome(runner, server.url("/job?x=1")), _said(server.received))
    assert seen["sync"] == seen["async"], seen
    outcome = seen["sync"][0]
    assert outcome[0] == "returned"


def test_a_digest_answer_goes_on_on_the_next_poll_with_its_count(server: ScriptedServer):
    """After one answer, each poll answers the same challenge unasked, its count going up
    (requests' nc), in both runners."""
    digest = 'Digest realm="api", nonce="n-1", qop="auth"'
    for runner in ("sync", "async"):
        server.script(
            Reply(401, "", {"WWW-Authenticate": digest}),
            Reply(body={"status": "RUNNING"}),
            Reply(body={"status": "RUNNING"}),
            Reply(body={"status": "OK"}),
        )
        assert _outcome(runner, server.url("/job")) == ("returned", "200")
        said = _said(server.received)
        assert said[0] == "-"
        assert [re.search(r"nc=(\d+)", line).group(1) for line in said[1:]] == [  # type: ignore[union-attr]
            "00000001",
            "00000002",
            "00000003",
        ], (runner, said)


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_a_challenges_body_is_not_read_however_long(server: ScriptedServer, runner: str):
    """The 401 that carries a challenge is answered without reading its body (the requests
    runner read it whole, past ``max_body_bytes``)."""
    server.script(
        Reply(401, b"x" * 3_000_000, {"WWW-Authenticate": 'Digest realm="a", nonce="n"'}),
        Reply(body={"status": "OK"}),
    )
    assert _outcome(runner, server.url("/job"), max_body_bytes=10_000) == ("returned", "200")
    assert server.received[1].headers["Authorization"].startswith('Digest username="ann"')


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_a_digest_challenge_from_another_origin_is_not_answered(
    server: ScriptedServer, other_server: ScriptedServer, runner: str
):
    server.script(Reply(302, "", {"Location": other_server.url("/job")}))
    other_server.script(
        Reply(401, {"status": "NO"}, {"WWW-Authenticate": 'Digest realm="a", nonce="n"'})
    )
    outcome = _outcome(runner, server.url("/job"))
    assert outcome[0] == "RetriesExhausted" and "401" in outcome[1]
    assert all("Authorization" not in r.headers for r in other_server.received)


def _paths_and_answers(received: list[Any]) -> list[tuple[str, str, str]]:
    return [
        (r.path, r.headers.get("Cookie", "-"), _said([r])[0].split(", response")[0])
        for r in received
    ]


def test_a_redirect_after_an_answer_lets_the_next_hop_answer_its_own_challenge(
    server: ScriptedServer,
):
    """An answered challenge redirected within the origin to a path that challenges again is
    answered there too (requests' redirect hook sets the count back; the aiohttp runner gave
    up and kept the 401)."""
    digest = {"WWW-Authenticate": 'Digest realm="api", nonce="n-1", qop="auth"'}
    seen = {}
    for runner in ("sync", "async"):
        server.script(
            Reply(401, {"status": "NO"}, digest),
            Reply(302, "", {"Location": "/job2"}),
            Reply(401, {"status": "NO"}, digest),
            Reply(body={"status": "OK"}),
        )
        assert _outcome(runner, server.url("/job")) == ("returned", "200"), runner
        seen[runner] = _paths_and_answers(server.received)
    assert seen["sync"] == seen["async"]
    assert [(path, answer[:6]) for path, _, answer in seen["sync"]] == [
        ("/job", "-"),
        ("/job", "Digest"),
        ("/job2", "-"),
        ("/job2", "Digest"),
    ]


def test_the_cookies_a_challenge_sets_go_with_its_answer(server: ScriptedServer):
    """As requests answers: the challenge's cookies with the answer, and on later polls."""
    challenge = {
        "WWW-Authenticate": 'Digest realm="api", nonce="n-1", qop="auth"',
        "Set-Cookie": "sess=abc; Path=/",
    }
    seen = {}
    for runner in ("sync", "async"):
        server.script(
            Reply(401, {"status": "NO"}, challenge),
            Reply(body={"status": "RUNNING"}),
            Reply(body={"status": "OK"}),
        )
        assert _outcome(runner, server.url("/job")) == ("returned", "200"), runner
        seen[runner] = _paths_and_answers(server.received)
    assert seen["sync"] == seen["async"]
    assert [cookie for _, cookie, _ in seen["sync"]] == ["-", "sess=abc", "sess=abc"]


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_the_answers_response_is_read_by_the_same_header_rules(raw_server: Any, runner: str):
    """The response to an answer goes through the header checks a poll's response does (the
    requests runner's hook ran on the challenge only: a malformed head waited for the read
    timeout)."""
    from tests.raw_server import RawReply

    raw_server.script(
        RawReply(
            status=401,
            body=b"{}",
            headers=[("WWW-Authenticate", 'Digest realm="a", nonce="n"')],
        ),
        RawReply(body=b'{"status": "OK"}', headers=[("Bad Name", "x")]),
    )
    outcome = _outcome(runner, raw_server.url("/job"), timeout=5)
    assert outcome[0] == "MalformedHeaders", outcome


def test_a_challenges_long_set_cookie_lines_are_read_off_the_loop(
    raw_server: Any, monkeypatch: pytest.MonkeyPatch
):
    """A challenge whose ``Set-Cookie`` lines hold thousands of attributes: its cookies are
    kept in a worker thread, as a response's are (``http.cookiejar`` held the loop 650 ms)."""
    import threading

    from tests.helpers import threads_storing_cookies
    from tests.raw_server import RawReply

    threads = threads_storing_cookies(monkeypatch)
    cookie = "c=v" + ";a=b" * 4000 + "; Path=/"
    raw_server.script(
        RawReply(
            status=401,
            body=b'{"status": "NO"}',
            headers=[("WWW-Authenticate", 'Digest realm="a", nonce="n"'), ("Set-Cookie", cookie)],
        ),
        RawReply(body=b'{"status": "OK"}', headers=[("Content-Type", "application/json")]),
    )
    assert _outcome("async", raw_server.url("/job")) == ("returned", "200")
    assert raw_server.received[1].headers["Cookie"] == "c=v"
    assert threads and threading.main_thread().name not in threads, threads


@pytest.mark.parametrize(
    ("path", "realm"),
    [("/job", "api"), ("/job?response=ready", "api"), ("/job", "x response=running")],
)
def test_a_digest_answer_echoed_back_shows_all_but_its_hash_alike(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, path: str, realm: str
):
    """A server that echoes the ``Authorization`` it got: the answer's hash (made from the
    password) is masked, the rest of it shown, the same in both runners, whatever else says
    ``response=`` (a query, a realm the server chose). The requests runner learned the whole
    header as a secret, and its runs hid ordinary words elsewhere in the message
    (``last***``); the aiohttp runner showed the hash."""
    record = server._record

    def echo(received: Any) -> Reply:
        reply = record(received)
        if reply.status != 200:
            return reply
        seen = received.headers.get("Authorization", "")
        return Reply(body={"status": "RUNNING", "seen": seen})

    monkeypatch.setattr(server, "_record", echo)
    challenge = f'Digest realm="{realm}", nonce="nonce-abcdef-123456", qop="auth", opaque="o-98"'
    said, hashes = [], []
    for runner in ("sync", "async"):
        server.script(Reply(401, "", {"WWW-Authenticate": challenge}), Reply())
        kind, message = _outcome(runner, server.url(path))
        assert kind == "RetriesExhausted", (runner, message)
        hashes += [
            re.search(r', response="(\w+)"', r.headers["Authorization"]).group(1)  # type: ignore[union-attr]
            for r in server.received[1:]
        ]
        said.append(re.sub(r'cnonce=\\"\w+', "cnonce=…", message))  # random, cut short
    assert len(hashes) == 8
    assert not any(value in text for value in hashes for text in said), said
    assert said[0] == said[1], said
    assert 'response=\\"***\\"' in said[0] and "last response: 200" in said[0], said
    assert f'username=\\"ann\\", realm=\\"{realm}\\"' in said[0], said
