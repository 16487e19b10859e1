"""The client package's public surface is pinned, and importing it does not load the engine."""

from __future__ import annotations

import subprocess
import sys

import parley_clients


def test_all_is_pinned() -> None:
    assert sorted(parley_clients.__all__) == [
        "Context",
        "DEFAULT_URL",
        "ParleyClient",
        "ParleyClientError",
        "ParleyConnectionError",
        "ParleyContexts",
        "ParleyServerError",
        "SpeakStream",
        "Synthesis",
        "synthesize",
        "to_float32",
    ]


def test_client_import_is_light() -> None:
    code = (
        "import sys, parley_clients, parley_clients.cli; "
        "heavy = ('parley_engine', 'onnxruntime', 'numba', 'parley_server.app'); "
        "heavy = [m for m in heavy if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
