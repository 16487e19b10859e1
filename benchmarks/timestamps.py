"""Word-timestamp accuracy: Parley's word start times against Whisper's word timestamps.

    python benchmarks/timestamps.py [--voices heart,joe] [--limit 30]

Each sentence of benchmarks/quality_sentences.txt is synthesised (streamed), transcribed by
Whisper tiny.en with ``word_timestamps=True``, and the words both sides agree on (matched in order
after the WER harness's normalisation) are compared by start time. Prints the median and p90
absolute error per voice; writes benchmarks/results/timestamps.json. Target: median ≤ 80 ms.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402
from quality import ASR_SAMPLE_RATE_HZ, QUALITY_SENTENCES, resample, score_words, whisper_model_dir  # noqa: E402
from common import load_sentences  # noqa: E402


def whisper_words(model: Any, samples: np.ndarray, sr: int) -> list[tuple[str, float]]:
    x = resample(samples, sr, ASR_SAMPLE_RATE_HZ)
    segments, _ = model.transcribe(
        x,
        language="en",
        beam_size=5,
        temperature=0.0,
        condition_on_previous_text=False,
        word_timestamps=True,
        vad_filter=False,
    )
    out: list[tuple[str, float]] = []
    for seg in segments:
        for w in seg.words or []:
            for piece in score_words(w.word):
                out.append((piece, float(w.start)))
    return out


def our_words(engine: Any, voice: str, text: str) -> tuple[np.ndarray, int, list[tuple[str, float]]]:
    from parley_engine import SpeakSettings

    parts, words, sr = [], [], 24000
    for c in engine.stream(text, voice=voice, settings=SpeakSettings(seed=1)):
        parts.append(c.samples)
        sr = c.sample_rate_hz
        for w in c.words:
            for piece in score_words(w.word):
                words.append((piece, w.start_sample / sr))
    return np.concatenate(parts), sr, words


def errors_ms(ours: list[tuple[str, float]], theirs: list[tuple[str, float]]) -> list[float]:
    sm = difflib.SequenceMatcher(a=[w for w, _ in ours], b=[w for w, _ in theirs], autojunk=False)
    out = []
    for a, b, n in sm.get_matching_blocks():
        for k in range(n):
            out.append(abs(ours[a + k][1] - theirs[b + k][1]) * 1e3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voices", default="heart,joe", help="comma-separated voice ids (default heart,joe)")
    ap.add_argument("--limit", type=int, default=30, help="sentences per voice (default 30)")
    args = ap.parse_args(argv)
    from faster_whisper import WhisperModel

    from parley_engine import Engine

    voices = [v for v in args.voices.split(",") if v]
    engine = Engine.load(voices)
    engine.warmup()
    model = WhisperModel(
        str(whisper_model_dir()), device="cpu", compute_type="int8", cpu_threads=2, local_files_only=True
    )
    sentences = load_sentences(QUALITY_SENTENCES)[: args.limit]
    result: dict[str, Any] = {"sentences": len(sentences), "voices": {}}
    for v in voices:
        errs: list[float] = []
        matched = total = 0
        for s in sentences:
            audio, sr, ours = our_words(engine, v, s)
            theirs = whisper_words(model, audio, sr)
            e = errors_ms(ours, theirs)
            errs += e
            matched += len(e)
            total += len(ours)
        result["voices"][v] = {
            "median_abs_error_ms": float(np.median(errs)),
            "p90_abs_error_ms": float(np.percentile(errs, 90)),
            "mean_abs_error_ms": float(np.mean(errs)),
            "words_matched": matched,
            "words_total": total,
        }
    path = write_results("timestamps", result)
    print(f"word start error vs Whisper tiny.en word timestamps, {len(sentences)} sentences per voice")
    print(f"{'voice':8}{'median ms':>11}{'p90 ms':>9}{'matched':>10}")
    for v, r in result["voices"].items():
        print(
            f"{v:8}{r['median_abs_error_ms']:11.1f}{r['p90_abs_error_ms']:9.1f}{r['words_matched']:>6}/{r['words_total']}"
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
