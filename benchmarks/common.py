"""Shared measuring helpers for Parley's benchmarks (not part of the package)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SENTENCES = Path(__file__).resolve().parent / "sentences.txt"

AUDIBLE_DBFS = -40.0
WINDOW_MS = 10.0


def load_sentences(path: Path = SENTENCES) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]


def first_audible_sample(
    samples: np.ndarray, sample_rate_hz: int, threshold_dbfs: float = AUDIBLE_DBFS
) -> int | None:
    """Index of the start of the first 10 ms window whose RMS is above ``threshold_dbfs``."""
    w = int(sample_rate_hz * WINDOW_MS / 1000)
    n = len(samples) // w
    if n == 0:
        return None
    x = np.asarray(samples[: n * w], dtype=np.float64).reshape(n, w)
    rms = np.sqrt(np.mean(x * x, axis=1))
    loud = np.flatnonzero(rms >= 10 ** (threshold_dbfs / 20))
    return int(loud[0]) * w if loud.size else None


class ArrivalLog:
    """Arrival times of a stream's audio, and when a listener hears what.

    A player starts at the first arrival and plays sample n at t_first + n/sr, or when sample n
    arrives if that is later (an underrun). ``first_audible_s`` is when the first audible sample
    is heard, measured from ``t0`` (the request)."""

    def __init__(self, t0: float, sample_rate_hz: int) -> None:
        self.t0 = t0
        self.sr = sample_rate_hz
        self.times: list[float] = []
        self.ends: list[int] = []  # cumulative sample count after each arrival
        self.parts: list[np.ndarray] = []

    def add(self, samples: np.ndarray, t: float | None = None) -> None:
        self.times.append(time.perf_counter() if t is None else t)
        self.parts.append(np.asarray(samples, dtype=np.float32))
        self.ends.append((self.ends[-1] if self.ends else 0) + len(samples))

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)

    @property
    def first_chunk_s(self) -> float:
        return self.times[0] - self.t0

    def heard_at(self, n: int) -> float:
        """Seconds after t0 at which sample n plays (no jitter buffer)."""
        i = int(np.searchsorted(np.asarray(self.ends), n, side="right"))
        i = min(i, len(self.times) - 1)
        return max(self.times[i] - self.t0, self.first_chunk_s + n / self.sr)

    def first_audible_s(self) -> float | None:
        n = first_audible_sample(self.audio, self.sr)
        return None if n is None else self.heard_at(n)

    def leading_silence_s(self) -> float | None:
        n = first_audible_sample(self.audio, self.sr)
        return None if n is None else n / self.sr

    def underruns(self, jitter_buffer_s: float = 0.0) -> tuple[int, float]:
        """(number of arrivals later than their playback deadline, worst lateness in s)."""
        start = self.times[0] + jitter_buffer_s
        late, worst = 0, 0.0
        prev_end = 0
        for t, end in zip(self.times, self.ends):
            deadline = start + prev_end / self.sr
            if t > deadline + 1e-4:
                late += 1
                worst = max(worst, t - deadline)
            prev_end = end
        return late, worst


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    v = [x * 1e3 for x in values]
    return {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95), "min_ms": min(v), "max_ms": max(v), "n": len(v)}


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": _cpus()},
        "unix_time": time.time(),
        **payload,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
