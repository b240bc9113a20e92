"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import requests

from httsleep_airflow import HttSleeper
from httsleep_airflow._async import AsyncHttSleeper
from httsleep_airflow._conditions import Rules
from httsleep_airflow._core import Policy, Poller, PollLog


def make_response(
    status: int = 200, body: Any = b"", headers: dict[str, str] | None = None
) -> requests.Response:
    """A ``requests.Response`` built in memory, for judging without I/O."""
    response = requests.Response()
    response.status_code = status
    if isinstance(body, bytes):
        response._content = body
    elif isinstance(body, str):
        response._content = body.encode()
    else:
        response._content = json.dumps(body).encode()
    response.headers.update(headers or {})
    response.encoding = "utf-8"
    response.url = "http://127.0.0.1/test"
    return response


def poke_fingerprint(rules: Rules, response: requests.Response) -> str | None:
    """What a sensor's poke that got ``response`` hands its trigger (``follows``): the
    fingerprint of its line, made by the engine as the poke makes it (its task log at INFO)."""
    log = logging.getLogger("tests.helpers.poke")  # as the task's log: INFO, here unseen
    log.setLevel(logging.INFO)
    log.propagate = False
    shown = PollLog()
    poller = Poller(rules, Policy.build(), poll_log=shown, log=log)
    poller.next_action(0.0)
    poller.receive(response, 0.0)
    return shown.fingerprint()


class Recorder:
    """A fake clock and sleep: sleeping advances the clock, and every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def run_in(runner: str, url_or_request: Any, until: Any, **options: Any) -> Any:
    """One wait in the ``"sync"`` runner (``HttSleeper``) or the ``"async"`` one
    (``AsyncHttSleeper``, on its own event loop): its result, or what it raised."""
    if runner == "sync":
        return HttSleeper(url_or_request, until, **options).run()

    async def main() -> Any:
        async with AsyncHttSleeper(url_or_request, until, **options) as sleeper:
            return await sleeper.run()

    return asyncio.run(main())


def threads_storing_cookies(monkeypatch: Any) -> list[str]:
    """The names of the threads the aiohttp runner keeps cookies in, from now on (its
    ``store_cookies`` recorded, then called)."""
    import threading

    from httsleep_airflow import _async, _http

    threads: list[str] = []
    real = _http.store_cookies

    def recorded(*args: Any, **kwargs: Any) -> None:
        threads.append(threading.current_thread().name)
        real(*args, **kwargs)

    monkeypatch.setattr(_async, "store_cookies", recorded)
    return threads


def serving_each(
    handle: Callable[[socket.socket], None], *, threads: bool = False
) -> socket.socket:
    """A listening socket on 127.0.0.1 that gives each connection it takes to ``handle`` (one
    after another, or each in a thread of its own); close it to stop it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            if threads:
                threading.Thread(target=handle, args=(connection,), daemon=True).start()
            else:
                handle(connection)

    threading.Thread(target=accept, daemon=True).start()
    return listener


def read_head(connection: Any) -> bytes:
    """What a server reads of a request until its head has ended (the end of the stream too)."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = connection.recv(65536)
        if not data:
            break
        head += data
    return head
