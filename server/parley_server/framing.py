"""Cut a request's float32 audio into exact ``frame_ms`` PCM frames — pure, no I/O.

The engine yields chunks of any length; the wire carries frames of exactly
``frame_samples(sample_rate_hz, frame_ms)`` samples (the last one of a request may be shorter).
A :class:`Framer` holds the immutable configuration; the per-request carry lives in a
:class:`FramerState` owned by the caller, so one framer may serve many streams:

    framer = Framer(sample_rate_hz=24000, frame_ms=20, format="pcm_s16le")
    state = framer.init_state()
    for chunk in chunks:
        frames += framer.push(chunk, state)
    tail = framer.flush(state)          # None when nothing is left

Pushing the audio in any chunking yields the same bytes as pushing it in one piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from parley_kernels.pcm import float_to_pcm16
from parley_kernels.pcm import warmup as pcm_warmup

from .protocol import BYTES_PER_SAMPLE, FORMATS, FRAME_MS_DEFAULT, frame_samples

__all__ = ["Framer", "FramerState", "encode_pcm", "warmup"]

FloatArray = npt.NDArray[np.float32]


def warmup() -> None:
    """Compile the PCM kernel and run both formats once (so no request pays for it)."""
    pcm_warmup()
    for fmt in FORMATS:
        framer = Framer(24000, FRAME_MS_DEFAULT, fmt)
        state = framer.init_state()
        framer.push(np.zeros(1000, np.float32), state)
        framer.flush(state)


def encode_pcm(samples: FloatArray, format: str) -> bytes:
    """float32 mono samples in [-1, 1], shape [n] -> little-endian PCM bytes in ``format``.

    pcm_s16le: ``parley_kernels.pcm.float_to_pcm16``: clipped to [-1, 1], times 32767, rounded
    half to even, NaN -> 0.
    pcm_f32le: the samples as they are.
    """
    if format == "pcm_s16le":
        return (
            float_to_pcm16(np.ascontiguousarray(samples, dtype=np.float32))
            .astype("<i2", copy=False)
            .tobytes()
        )
    if format == "pcm_f32le":
        return np.asarray(samples, dtype="<f4").tobytes()
    raise ValueError(f"unknown format {format!r}; expected one of {FORMATS}")


@dataclass
class FramerState:
    """Per-request carry: the samples that do not fill a frame yet, and counters."""

    pending: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    samples_in: int = 0
    samples_out: int = 0
    flushed: bool = False


@dataclass(frozen=True)
class Framer:
    """Frame configuration for one format and frame length."""

    sample_rate_hz: int
    frame_ms: int
    format: str

    def __post_init__(self) -> None:
        if self.format not in BYTES_PER_SAMPLE:
            raise ValueError(f"unknown format {self.format!r}; expected one of {FORMATS}")
        frame_samples(self.sample_rate_hz, self.frame_ms)  # validates

    @property
    def frame_samples(self) -> int:
        return frame_samples(self.sample_rate_hz, self.frame_ms)

    @property
    def frame_bytes(self) -> int:
        return self.frame_samples * BYTES_PER_SAMPLE[self.format]

    def init_state(self) -> FramerState:
        return FramerState()

    def push(self, samples: FloatArray, state: FramerState) -> list[bytes]:
        """Add float32 samples (shape [n]); return every frame that is now complete."""
        if state.flushed:
            raise ValueError("push() after flush()")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"samples must be one-dimensional, got shape {x.shape}")
        state.samples_in += x.size
        if state.pending.size:
            x = np.concatenate((state.pending, x))
        n = self.frame_samples
        whole = (x.size // n) * n
        state.pending = x[whole:].copy()
        if whole == 0:
            return []
        pcm = encode_pcm(x[:whole], self.format)
        fb = self.frame_bytes
        state.samples_out += whole
        return [pcm[i : i + fb] for i in range(0, len(pcm), fb)]

    def flush(self, state: FramerState) -> bytes | None:
        """End of the request: the remaining samples as one shorter frame, or None."""
        state.flushed = True
        if state.pending.size == 0:
            return None
        pcm = encode_pcm(state.pending, self.format)
        state.samples_out += state.pending.size
        state.pending = np.zeros(0, dtype=np.float32)
        return pcm
