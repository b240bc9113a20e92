"""A local job API that behaves like the remote services DAGs wait on, for demos and tests.

    python -m httsleep_airflow.testing.jobapi --port 8088

Endpoints (JSON in, JSON out):

``POST /jobs``
    Create a job; answers ``201`` with ``{"id": "1", "status": "PENDING"}`` and a ``Location``
    header. The optional body sets how the job behaves::

        {"polls": 3,              # GETs before it finishes (default: --polls, 3)
         "outcome": "OK",         # or "ERROR" / "CANCELLED"
         "result": {...},         # what an OK job reports (default: {"url": "s3://results/<id>"})
         "echo_headers": ["X-Api-Key"],  # report these request headers back, under "headers"
         "faults": {              # misbehaviour on this job's first GETs:
             "unavailable": 2,    #   that many 503s with Retry-After (see "retry_after")
             "retry_after": 1,    #   seconds, for those 503s
             "slow": 1.5,         #   seconds to wait before every answer
             "drop": 1,           #   that many dropped connections (no answer at all)
             "garbage": 1}}       #   that many non-JSON (HTML) bodies

``GET /jobs/<id>``
    The job's state; each GET moves it on: ``PENDING``, then ``RUNNING``, then, after ``polls``
    GETs, ``OK`` (with ``result``), ``ERROR`` (with ``error``) or ``CANCELLED``. An unknown id
    answers ``404``. ``DELETE /jobs/<id>`` makes the job disappear (a 404 from then on).

``POST /search``
    ``{"job": "<id>"}``: the same state as ``GET /jobs/<id>`` (and it moves the job on too), for
    APIs that are polled with POST.

``GET /stats``
    ``{"<id>": <requests about that job>, ...}``: what the server saw, for tests.

With ``--token T`` (``JobAPI(token=...)``) every request must carry ``Authorization: Bearer T``;
any other answers ``401``.

Everything is in memory and thread-safe; the server binds to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["JobAPI", "running_job_api"]

OUTCOMES = ("OK", "ERROR", "CANCELLED")


@dataclass
class Job:
    id: str
    polls: int
    outcome: str
    result: Any
    faults: dict[str, float] = field(default_factory=dict)
    echo_headers: list[str] = field(default_factory=list)
    seen: int = 0  # GETs (and searches) answered with a state
    requests: int = 0  # every request about this job, faults included
    polled_at: list[float] = field(default_factory=list)  # time.monotonic() of each state asked

    def advance(self) -> dict[str, Any]:
        """The state to report now; each call moves the job one step on."""
        self.seen += 1
        if self.seen == 1:
            state: dict[str, Any] = {"id": self.id, "status": "PENDING"}
        elif self.seen <= self.polls:
            state = {"id": self.id, "status": "RUNNING", "progress": self.seen / (self.polls + 1)}
        else:
            state = {"id": self.id, "status": self.outcome}
            if self.outcome == "OK":
                state["result"] = self.result
            elif self.outcome == "ERROR":
                state["error"] = "the job failed: executor lost"
        return state

    def take_fault(self, name: str) -> bool:
        """Whether this request gets fault ``name`` (each counts down)."""
        left = self.faults.get(name, 0)
        if left >= 1:
            self.faults[name] = left - 1
            return True
        return False


#: What ``GET /`` answers: the API is up, and what it offers.
ROOT_DESCRIPTION = {
    "service": "httsleep-airflow local job API",
    "routes": [
        "POST /jobs",
        "GET /jobs/<id>",
        "DELETE /jobs/<id>",
        "POST /search",
        "GET /stats",
    ],
}


class JobAPI:
    """The job API server. ``start()`` serves in a thread; ``url`` is its base URL."""

    def __init__(self, port: int = 0, *, default_polls: int = 3, token: str | None = None) -> None:
        self.default_polls = default_polls
        self.token = token
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._next_id = 1
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "httsleep-jobapi"

            def do_GET(self) -> None:
                api._handle(self, "GET")

            def do_POST(self) -> None:
                api._handle(self, "POST")

            def do_DELETE(self) -> None:
                api._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    # -- serving ----------------------------------------------------------------------------

    def start(self) -> JobAPI:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_per_job(self) -> dict[str, int]:
        with self._lock:
            return {job.id: job.requests for job in self.jobs.values()}

    def finish_after(self, job_id: str, requests: int) -> int:
        """Let a job end (with its outcome) on the ``requests``-th state asked from now on;
        the requests it has had until now."""
        with self._lock:
            job = self.jobs[job_id]
            job.polls = max(job.seen, 1) + requests - 1
            return job.requests

    def poll_times(self) -> dict[str, list[float]]:
        """Job id -> when each request for its state came (``time.monotonic()``)."""
        with self._lock:
            return {job.id: list(job.polled_at) for job in self.jobs.values()}

    def create(self, **spec: Any) -> Job:
        """Create a job directly (what ``POST /jobs`` does)."""
        outcome = str(spec.get("outcome", "OK")).upper()
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        polls = spec.get("polls", self.default_polls)
        if not isinstance(polls, int) or isinstance(polls, bool) or polls < 1:
            raise ValueError(f"polls must be a whole number of at least 1, not {polls!r}")
        with self._lock:
            job_id = str(self._next_id)
            self._next_id += 1
            job = Job(
                id=job_id,
                polls=polls,
                outcome=outcome,
                result=spec.get("result", {"url": f"s3://results/{job_id}"}),
                faults={k: float(v) for k, v in dict(spec.get("faults") or {}).items()},
                echo_headers=[str(name) for name in spec.get("echo_headers") or []],
            )
            self.jobs[job_id] = job
        return job

    # -- one request ------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if (
            self.token is not None
            and handler.headers.get("Authorization") != f"Bearer {self.token}"
        ):
            return _send(handler, 401, {"error": "missing or wrong bearer token"})
        path = handler.path.split("?", 1)[0].rstrip("/")
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _send(handler, 400, {"error": "the body is not JSON"})
        if method == "POST" and path == "/jobs":
            try:
                job = self.create(**(body if isinstance(body, dict) else {}))
            except (TypeError, ValueError) as exc:
                return _send(handler, 400, {"error": str(exc)})
            job.requests += 1
            headers = {"Location": f"/jobs/{job.id}"}
            return _send(handler, 201, {"id": job.id, "status": "PENDING"}, headers)
        if method == "GET" and path == "":  # what a connection test reaches first
            return _send(handler, 200, ROOT_DESCRIPTION)
        if method == "GET" and path == "/stats":
            return _send(handler, 200, self.requests_per_job())
        if method == "POST" and path == "/search":
            job_id = str(body.get("job", "")) if isinstance(body, dict) else ""
            return self._report(handler, job_id)
        if path.startswith("/jobs/") and path.count("/") == 2:
            job_id = path.rsplit("/", 1)[1]
            if method == "GET":
                return self._report(handler, job_id)
            if method == "DELETE":
                with self._lock:
                    gone = self.jobs.pop(job_id, None)
                return _send(handler, 204 if gone else 404, None)
        return _send(handler, 404, {"error": f"no route for {method} {path}"})

    def _report(self, handler: BaseHTTPRequestHandler, job_id: str) -> None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _send(handler, 404, {"error": f"no such job: {job_id!r}"})
            job.requests += 1
            job.polled_at.append(time.monotonic())
            slow = job.faults.get("slow", 0)
            state: dict[str, Any] = {}
            if job.take_fault("drop"):
                fault = "drop"
            elif job.take_fault("unavailable"):
                fault = "unavailable"
            elif job.take_fault("garbage"):
                fault = "garbage"
            else:
                fault, state = "", job.advance()
                if job.echo_headers:
                    state["headers"] = {n: handler.headers.get(n) for n in job.echo_headers}
            retry_after = job.faults.get("retry_after", 1)
        if slow:  # outside the lock: a slow job must not slow the others
            time.sleep(slow)
        if fault == "drop":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault == "unavailable":
            headers = {"Retry-After": str(int(retry_after))}
            return _send(handler, 503, {"error": "busy, come back later"}, headers)
        if fault == "garbage":
            return _send(handler, 200, b"<html><body>Gateway hiccup</body></html>")
        return _send(handler, 200, state)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (timeouts, dropped connections) are part of the game


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: Any,
    headers: dict[str, str] | None = None,
) -> None:
    if isinstance(payload, bytes):
        data, content_type = payload, "text/html"
    elif payload is None:
        data, content_type = b"", "application/json"
    else:
        data, content_type = json.dumps(payload).encode(), "application/json"
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def running_job_api(
    port: int = 0, *, default_polls: int = 3, token: str | None = None
) -> Iterator[JobAPI]:
    """A started ``JobAPI`` for the length of a ``with`` block."""
    api = JobAPI(port, default_polls=default_polls, token=token).start()
    try:
        yield api
    finally:
        api.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local job API for httsleep-airflow demos.")
    parser.add_argument("--port", type=int, default=8088, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--polls", type=int, default=3, help="GETs before a job finishes")
    parser.add_argument("--token", help="require this bearer token on every request")
    args = parser.parse_args(argv)
    api = JobAPI(args.port, default_polls=args.polls, token=args.token)
    print(f"job API listening on {api.url}", flush=True)
    try:
        api.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api.httpd.server_close()


if __name__ == "__main__":
    main()
