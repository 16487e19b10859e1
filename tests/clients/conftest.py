"""Fixtures for client and CLI tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parley_server.config import ServerConfig
from server_thread import ServerThread, ToneEngine


@pytest.fixture
def tone_server() -> Iterator[ServerThread]:
    with ServerThread(ToneEngine(), ServerConfig(port=0, worker_threads=2)) as st:
        yield st
