"""A real HTTP/1.1 server on 127.0.0.1 that answers from a script and records what it received."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from requests.structures import CaseInsensitiveDict


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = b""  # bytes, str, or anything JSON-able (sent as application/json)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection without answering

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        return data, headers


@dataclass
class Received:
    method: str
    path: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    client_port: int
    head: bytes = b""  #: the request line and header lines as received (RawServer only)
    at: float = field(default_factory=time.monotonic)  #: when it was received


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (a timeout test) is expected here


class ScriptedServer:
    """Serve ``script``'s replies in order; the last one repeats."""

    def __init__(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.received: list[Received] = []
        self._script: list[Reply] = [Reply()]
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = server._record(
                    Received(
                        self.command,
                        self.path,
                        CaseInsensitiveDict(self.headers.items()),
                        body,
                        self.client_address[1],
                    )
                )
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data, headers = reply.encoded()
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_CONNECT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", port), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _record(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            if len(self._script) > 1:
                return self._script.pop(0)
            return self._script[0]

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script = list(replies) or [Reply()]
            self.received.clear()

    def url(self, path: str = "/") -> str:
        host = "localhost" if self.scheme == "https" else "127.0.0.1"  # the certificate's name
        return f"{self.scheme}://{host}:{self.port}{path}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A port nothing listens on (until someone binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
