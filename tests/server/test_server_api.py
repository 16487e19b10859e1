"""The public surface of parley_server is small and pinned; its protocol core is pure."""

from __future__ import annotations

import ast
import pathlib

import parley_server
import parley_server.protocol

PURE_MODULES = [
    "protocol.py",
    "protocol_v2.py",
    "textbuffer.py",
    "output.py",
    "framing.py",
    "flow.py",
    "config.py",
    "openai_speech.py",
]
FORBIDDEN = {"asyncio", "socket", "threading", "websockets", "selectors", "concurrent", "ssl"}


def test_package_all_is_pinned() -> None:
    assert sorted(parley_server.__all__) == ["ParleyServer", "ServerConfig", "main", "serve"]
    for name in parley_server.__all__:
        assert getattr(parley_server, name) is not None


def test_protocol_all_is_pinned() -> None:
    assert set(parley_server.protocol.__all__) == {
        "BYTES_PER_SAMPLE", "DEFAULT_FORMAT", "FORMATS", "FRAME_MS_DEFAULT", "FRAME_MS_MAX",
        "FRAME_MS_MIN", "MAX_ID_CHARS", "PROTOCOL_VERSION", "SEED_MAX", "AudioReceived", "Cancelled",
        "ClientEvent", "ClientProtocol", "ClientState", "ConnectionState", "Done", "ErrorCode", "Event",
        "Hello", "InvalidStateError", "ProtocolErrorEvent", "ProtocolViolation", "RequestState",
        "ServerError", "ServerInfo", "ServerProtocol", "SpeakRequest", "Started", "StartSynthesis",
        "StopSynthesis", "UnknownMessage", "VoiceDescription", "VoicesListed",
    }  # fmt: skip


def test_pure_modules_import_no_io() -> None:
    root = pathlib.Path(parley_server.__file__).parent
    for name in PURE_MODULES:
        tree = ast.parse((root / name).read_text())
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
        assert not imported & FORBIDDEN, f"{name} imports {imported & FORBIDDEN}"


def test_error_codes_match_the_engine() -> None:
    """Engine error codes travel verbatim; the protocol's table must know every one of them."""
    from parley_engine import errors
    from parley_server.protocol import ErrorCode

    engine_codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ParleyError) and cls is not errors.ParleyError
    }
    assert engine_codes <= {c.value for c in ErrorCode}


def test_v2_setting_ranges_are_the_engines() -> None:
    """protocol_v2 repeats the engine's ranges (to stay light to import); they must agree."""
    from parley_engine import types
    from parley_server import protocol_v2 as v2

    assert (v2.SPEED_MIN, v2.SPEED_MAX) == (types.MIN_SPEED, types.MAX_SPEED)
    assert (v2.PITCH_MIN, v2.PITCH_MAX) == (types.MIN_PITCH_SEMITONES, types.MAX_PITCH_SEMITONES)
    assert (v2.VOLUME_MIN_DB, v2.VOLUME_MAX_DB) == (types.MIN_VOLUME_DB, types.MAX_VOLUME_DB)
    from parley_kernels.resample import RATES_HZ

    assert v2.SAMPLE_RATES_HZ == RATES_HZ


def test_protocol_v2_imports_stay_light() -> None:
    """The client library imports protocol_v2: it must not load the engine or Numba."""
    import subprocess
    import sys

    code = (
        "import sys, parley_server.protocol_v2; "
        "print([m for m in ('parley_engine', 'numba', 'onnxruntime') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
