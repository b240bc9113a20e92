"""A fast keep-alive HTTP/1.1 server for benchmarks, run in its own process.

Every request answers 200 with the same JSON body (a job still running), so what is measured is
the client; a path under ``/missing`` answers 404 with that body (what HttpSensorTrigger waits
through).
``python -m benchmarks._server`` prints the port it listens on, then serves until killed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

BODY = json.dumps({"id": 7, "status": "RUNNING", "result": None}).encode()
_HEAD = b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(BODY)).encode()
RESPONSE = b"HTTP/1.1 200 OK" + _HEAD + b"\r\n\r\n" + BODY
MISSING = b"HTTP/1.1 404 Not Found" + _HEAD + b"\r\n\r\n" + BODY


class _Protocol(asyncio.Protocol):
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
            missing = head.split(b" ", 2)[1].startswith(b"/missing")
            self.transport.write(MISSING if missing else RESPONSE)  # type: ignore[attr-defined]


async def _main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


@contextmanager
def serving() -> Iterator[str]:
    """Start the server in another process; yield its base URL; stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._server"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(_main())
