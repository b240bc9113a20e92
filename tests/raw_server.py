"""A raw-socket HTTP/1.1 server on 127.0.0.1 for the replies a well-behaved server never sends:
odd header bytes, content codings, chunking, trickled or cut bodies, closes without a word.

It has the ``ScriptedServer`` interface (``script``, ``received``, ``url``), so one scenario
table can use either.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from requests.structures import CaseInsensitiveDict

from tests.scripted_server import Received


@dataclass
class RawReply:
    """One scripted answer, byte for byte.

    :ivar headers: ``(name, value)`` lines in order; ``str`` parts are sent as UTF-8.
    :ivar content_length: send ``Content-Length`` (of the whole body) unless chunked.
    :ivar chunks: send the body chunked, in pieces of this many bytes (0: not chunked).
    :ivar cut: send only this many body bytes, then close.
    :ivar trickle: seconds between body bytes (each byte its own send).
    :ivar stall: seconds to wait after the first body byte (a read timeout mid-body).
    :ivar trickle_head: seconds between the bytes of the status line and headers (of ``raw``,
        between all its bytes).
    :ivar close: close the connection after the reply (without saying ``Connection: close``).
    :ivar drop: close at once, without answering.
    :ivar interim: bytes sent before the status line (interim ``1xx`` responses, whole).
    :ivar interim_stall: seconds to wait after ``interim``, before the status line.
    :ivar raw: the whole reply, byte for byte, sent in one piece instead; then close.
    :ivar pieces: the whole reply in these pieces instead, each a read of its own (a moment
        apart); then close.
    :ivar reset: end with a reset (RST) where it would close, a moment after the last byte (at
        once with ``drop``).
    :ivar unasked: bytes sent a moment after the reply, on the same connection, which stays
        open (an answer nobody asked for); ``RawServer.unasked_sent`` is set once they are.
    :ivar past: bytes past the reply's end, sent in one piece with its head and body (one
        read for the client); the connection stays open.
    """

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str | bytes, str | bytes]] = field(default_factory=list)
    reason: bytes = b"OK"
    content_length: bool = True
    chunks: int = 0
    cut: int | None = None
    trickle: float = 0.0
    stall: float = 0.0
    trickle_head: float = 0.0
    delay: float = 0.0
    close: bool = False
    drop: bool = False
    interim: bytes = b""
    interim_stall: float = 0.0
    raw: bytes | None = None
    pieces: tuple[bytes, ...] = ()
    reset: bool = False
    unasked: bytes = b""
    past: bytes = b""


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class RawServer:
    """Serve ``script``'s raw replies in order; the last one repeats."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: list[RawReply] = [RawReply()]
        self._lock = threading.Lock()
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(256)
        self.port = self._socket.getsockname()[1]
        self.scheme = "http"
        self._stopped = False
        self.unasked_sent = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> RawServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self._socket.close()

    def script(self, *replies: RawReply) -> None:
        with self._lock:
            self._script = list(replies) or [RawReply()]
            self.received.clear()
            self.unasked_sent.clear()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _next(self, received: Received) -> RawReply:
        with self._lock:
            self.received.append(received)
            if len(self._script) > 1:
                return self._script.pop(0)
            return self._script[0]

    def _accept(self) -> None:
        while not self._stopped:
            try:
                connection, address = self._socket.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(connection, address), daemon=True).start()

    def _serve(self, connection: socket.socket, address: tuple[str, int]) -> None:
        buffer = b""
        try:
            with connection:
                while True:
                    while b"\r\n\r\n" not in buffer:
                        data = connection.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    lines = head.decode("latin-1").split("\r\n")
                    method, path = lines[0].split(" ")[:2]
                    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
                    for line in lines[1:]:
                        name, _, value = line.partition(":")
                        headers[name.strip()] = value.strip()
                    length = int(headers.get("Content-Length") or 0)
                    while len(buffer) < length:
                        data = connection.recv(65536)
                        if not data:
                            return
                        buffer += data
                    body, buffer = buffer[:length], buffer[length:]
                    reply = self._next(Received(method, path, headers, body, address[1], head))
                    if not self._answer(connection, reply):
                        return
        except OSError:
            return

    def _answer(self, connection: socket.socket, reply: RawReply) -> bool:
        """Send ``reply``; whether the connection stays open."""
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            if reply.reset:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                connection.shutdown(socket.SHUT_RDWR)
            return False
        if reply.pieces:
            for piece in reply.pieces:
                connection.sendall(piece)
                time.sleep(0.005)
            connection.shutdown(socket.SHUT_RDWR)
            return False
        if reply.raw is not None:
            if reply.trickle_head:  # each byte a read of its own
                for index in range(len(reply.raw)):
                    connection.sendall(reply.raw[index : index + 1])
                    time.sleep(reply.trickle_head)
            else:
                connection.sendall(reply.raw)
            connection.shutdown(socket.SHUT_RDWR)
            return False
        lines = [b"HTTP/1.1 %d %s" % (reply.status, reply.reason)]
        lines += [_bytes(name) + b": " + _bytes(value) for name, value in reply.headers]
        body = reply.body
        if reply.chunks:
            lines.append(b"Transfer-Encoding: chunked")
            size = reply.chunks
            pieces = [body[i : i + size] for i in range(0, len(body), size)]
            body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        elif reply.content_length:
            lines.append(b"Content-Length: %d" % len(reply.body))
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        if reply.interim_stall:
            connection.sendall(reply.interim)
            time.sleep(reply.interim_stall)
        else:
            head = reply.interim + head
        if reply.past:
            connection.sendall(head + body + reply.past)
            return True
        if reply.trickle_head:
            for index in range(len(head)):
                connection.sendall(head[index : index + 1])
                time.sleep(reply.trickle_head)
        else:
            connection.sendall(head)
        if reply.cut is not None:
            body = body[: reply.cut]
        if reply.trickle or reply.stall:
            for index in range(len(body)):
                connection.sendall(body[index : index + 1])
                if index < len(body) - 1:  # a whole body is answered in full, never late
                    time.sleep(reply.stall if index == 0 and reply.stall else reply.trickle)
        else:
            connection.sendall(body)
        if reply.cut is not None or reply.close or not (reply.content_length or reply.chunks):
            if reply.reset:  # after the client has read what came: a reset drops unread bytes
                time.sleep(0.05)
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                connection.shutdown(socket.SHUT_RDWR)
            return False
        if reply.unasked:
            time.sleep(0.05)  # after the client has read the reply: bytes of their own
            connection.sendall(reply.unasked)
            self.unasked_sent.set()
        return True
