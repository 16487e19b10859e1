"""Fixtures shared by the engine tests."""

from __future__ import annotations

import pytest
from parley_engine import Engine


@pytest.fixture(scope="module")
def heart_and_joe() -> Engine:
    """The real heart and joe voices, loaded and warm (one engine per test module)."""
    e = Engine.load(["heart", "joe"])
    e.warmup()
    return e
