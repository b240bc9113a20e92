from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.raw_server import RawServer
from tests.scripted_server import ScriptedServer


@pytest.fixture(scope="session")
def _raw_server() -> Iterator[RawServer]:
    server = RawServer().start()
    yield server
    server.stop()


@pytest.fixture
def raw_server(_raw_server: RawServer) -> RawServer:
    """A raw-socket HTTP server on 127.0.0.1, reset for each test."""
    _raw_server.script()
    return _raw_server


@pytest.fixture(scope="session")
def _other_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture
def other_server(_other_server: ScriptedServer) -> ScriptedServer:
    """A second server, on another port: another origin, for redirects."""
    _other_server.script()
    return _other_server
