"""Word timestamps agree with an independent aligner: Whisper tiny.en's word timestamps.

The scoring is benchmarks/timestamps.py's (loaded from its file), so this test and the benchmark
measure the same thing; the benchmark runs more sentences. The issue's bound is a median absolute
start-time error of 80 ms."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from parley_engine import Engine

pytestmark = pytest.mark.integration

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the quiet river bank.",
    "Please keep your seat belt fastened until the plane comes to a complete stop.",
    "After dinner we walked along the beach and watched the sun slowly disappear.",
    "My grandmother grows tomatoes, peppers, and beans in the garden behind her house.",
]


def _load(name: str) -> ModuleType:
    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    sys.path.insert(0, str(bench))
    spec = importlib.util.spec_from_file_location(f"parley_bench_{name}", bench / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ts() -> ModuleType:
    return _load("timestamps")


@pytest.fixture(scope="module")
def whisper(ts: ModuleType) -> object:
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(ts.whisper_model_dir()), device="cpu", compute_type="int8", cpu_threads=2, local_files_only=True
    )


@pytest.mark.parametrize("voice", ["heart", "joe"])
def test_word_starts_match_whisper(ts: ModuleType, whisper: object, voice: str) -> None:
    engine = Engine.load([voice])
    engine.warmup()
    errs: list[float] = []
    for s in SENTENCES:
        audio, sr, ours = ts.our_words(engine, voice, s)
        theirs = ts.whisper_words(whisper, audio, sr)
        errs += ts.errors_ms(ours, theirs)
    assert len(errs) >= 30, "too few words matched to judge"
    assert float(np.median(errs)) <= 80.0, f"median word-start error {np.median(errs):.0f} ms"
