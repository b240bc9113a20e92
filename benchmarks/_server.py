"""A fast keep-alive HTTP/1.1 server for benchmarks, run in its own process.

Every request answers 200 with the same JSON body (a job still running), so what is measured is
the client; a path under ``/missing`` answers 404 with that body (what HttpSensorTrigger waits
through).
``python -m benchmarks._server`` prints the port it listens on, then serves until killed. With
``--log FILE`` it appends a line per request to FILE, ``<Unix time> <path>``, flushed every tenth
of a second: the clock of ``bench_triggerer``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

BODY = json.dumps({"id": 7, "status": "RUNNING", "result": None}).encode()
_HEAD = b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(BODY)).encode()
RESPONSE = b"HTTP/1.1 200 OK" + _HEAD + b"\r\n\r\n" + BODY
MISSING = b"HTTP/1.1 404 Not Found" + _HEAD + b"\r\n\r\n" + BODY


class _Protocol(asyncio.Protocol):
    log: list[str] | None = None  # the request log's lines not yet written

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            path = head.split(b" ", 2)[1]
            if self.log is not None:
                self.log.append(f"{time.time():.6f} {path.decode()}\n")
            missing = path.startswith(b"/missing")
            self.transport.write(MISSING if missing else RESPONSE)  # type: ignore[attr-defined]


async def _main(log: str | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await loop.create_server(_Protocol, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    if log is None:
        await stop.wait()
        return
    _Protocol.log = lines = []
    with open(log, "a") as out:
        while not stop.is_set():
            await asyncio.sleep(0.1)
            out.writelines(lines)
            out.flush()
            lines.clear()


@contextmanager
def serving(log: str | None = None) -> Iterator[str]:
    """Start the server in another process (logging requests to ``log``, if given); yield its
    base URL; stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._server", *(["--log", log] if log else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A fast keep-alive HTTP/1.1 server.")
    parser.add_argument("--log", help="append '<Unix time> <path>' per request to this file")
    asyncio.run(_main(parser.parse_args().log))
