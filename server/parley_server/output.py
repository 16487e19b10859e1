"""A context's audio output: resample, encode and frame it — pure (NumPy and Parley's kernels).

Protocol v2 sends each context in the rate and format its client chose. The engine speaks each
text piece as its own stream at the voice's rate; :class:`Output` turns those pieces into the
context's one continuous stream of binary frames:

    out = Output(OutputFormat(in_rate_hz=24000, out_rate_hz=8000, format="mulaw", frame_ms=20))
    state = out.init_state()
    for piece in pieces:
        out.begin_piece(state)
        for chunk in engine.stream(piece.text, ...):
            send(out.push(state, chunk.samples))     # whole frames only
        send(out.end_piece(state))                   # the rest: a last, shorter frame

* Resampling: :mod:`parley_kernels.resample` (polyphase, delay-compensated), one stream per piece,
  flushed at the piece's end so that none of its audio waits for the next piece.
* Encoding: pcm_s16le (:func:`parley_kernels.pcm.float_to_pcm16`, clipped), pcm_f32le (clipped to
  [-1, 1]), mulaw / alaw (:mod:`parley_kernels.g711`).
* Framing: frames of exactly ``frame_samples``; a piece's last frame holds what is left (1 to
  ``frame_samples`` samples), so every piece that has audio ends with a frame the adapter can flag.

Samples are counted per context, so timestamps of a piece map onto the context's output samples
(:meth:`Output.output_sample`). One state per context; one :class:`Output` may serve many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from parley_engine.types import WordTiming
from parley_kernels import g711, resample
from parley_kernels.pcm import float_to_pcm16
from parley_kernels.pcm import warmup as pcm_warmup

from .protocol import frame_samples
from .protocol_v2 import FORMATS_V2, WIDTH, PhonemeStamp, WordStamp

__all__ = ["Output", "OutputFormat", "OutputState", "map_words", "warmup"]

F32 = npt.NDArray[np.float32]


def encode(samples: F32, format: str) -> bytes:
    """float32 mono samples -> the wire encoding of ``format`` (little-endian)."""
    x = np.ascontiguousarray(samples, dtype=np.float32)
    if format == "pcm_s16le":
        return float_to_pcm16(x).astype("<i2", copy=False).tobytes()
    if format == "pcm_f32le":
        return np.clip(x, -1.0, 1.0).astype("<f4", copy=False).tobytes()
    if format == "mulaw":
        return g711.float_to_ulaw(x).tobytes()
    if format == "alaw":
        return g711.float_to_alaw(x).tobytes()
    raise ValueError(f"unknown format {format!r}; expected one of {FORMATS_V2}")


@dataclass(frozen=True)
class OutputFormat:
    in_rate_hz: int  # the voice's rate
    out_rate_hz: int  # the context's rate
    format: str
    frame_ms: int

    def __post_init__(self) -> None:
        if self.format not in WIDTH:
            raise ValueError(f"unknown format {self.format!r}; expected one of {FORMATS_V2}")
        frame_samples(self.out_rate_hz, self.frame_ms)  # validates
        if self.in_rate_hz != self.out_rate_hz:
            resample.design_filter(self.in_rate_hz, self.out_rate_hz)  # validates both rates

    @property
    def frame_samples(self) -> int:
        return frame_samples(self.out_rate_hz, self.frame_ms)

    def ms(self, n_bytes: int) -> float:
        """Duration of ``n_bytes`` of encoded audio."""
        return 1000.0 * n_bytes / WIDTH[self.format] / self.out_rate_hz


@dataclass
class OutputState:
    """One context's carry: the piece's resampler, output samples not framed yet, counters."""

    resampler: resample.ResamplerState | None = None
    pending: F32 = field(default_factory=lambda: np.zeros(0, np.float32))
    samples_out: int = 0  # output samples framed so far in the context
    piece_start: int = 0  # output sample where the current piece's input sample 0 lands
    in_piece: bool = False


class Output:
    """Immutable output configuration; per-context state in :class:`OutputState`."""

    def __init__(self, fmt: OutputFormat) -> None:
        self.format = fmt

    def init_state(self) -> OutputState:
        return OutputState()

    def begin_piece(self, state: OutputState) -> None:
        if state.in_piece:
            raise ValueError("begin_piece() twice without end_piece()")
        f = self.format
        state.in_piece = True
        state.piece_start = state.samples_out + state.pending.size
        state.resampler = (
            resample.init_state(f.in_rate_hz, f.out_rate_hz) if f.in_rate_hz != f.out_rate_hz else None
        )

    def push(self, state: OutputState, samples: F32) -> list[bytes]:
        """Add float32 samples at the voice's rate; return the frames now complete (the newest
        samples are kept back until the next push or :meth:`end_piece`)."""
        if not state.in_piece:
            raise ValueError("push() outside a piece (call begin_piece())")
        x = np.asarray(samples, dtype=np.float32)
        y = resample.push(state.resampler, x) if state.resampler is not None else x
        return self._frames(state, y, final=False)

    def end_piece(self, state: OutputState) -> list[bytes]:
        """End the piece: every remaining sample, the last frame possibly shorter."""
        if not state.in_piece:
            raise ValueError("end_piece() outside a piece")
        tail = resample.flush(state.resampler) if state.resampler is not None else np.zeros(0, np.float32)
        state.resampler = None
        state.in_piece = False
        return self._frames(state, tail, final=True)

    def output_sample(self, state: OutputState, piece_sample: int) -> int:
        """The context output sample of the current piece's input sample ``piece_sample``."""
        f = self.format
        return state.piece_start + (piece_sample * f.out_rate_hz + f.in_rate_hz // 2) // f.in_rate_hz

    def _frames(self, state: OutputState, y: F32, *, final: bool) -> list[bytes]:
        x = np.concatenate((state.pending, y)) if state.pending.size else y
        n = self.format.frame_samples
        # Unless the piece ends, keep 1..n samples back, so that a piece always ends with a frame.
        whole = x.size if final or not x.size else ((x.size - 1) // n) * n
        state.pending = x[whole:].copy() if whole < x.size else np.zeros(0, np.float32)
        if whole == 0:
            return []
        state.samples_out += whole
        pcm = encode(x[:whole], self.format.format)
        fb = n * WIDTH[self.format.format]
        return [pcm[i : i + fb] for i in range(0, len(pcm), fb)]


def map_words(
    words: Sequence[WordTiming],
    output: Output,
    state: OutputState,
    *,
    char_offset: int,
    lead_in_samples: int,
) -> list[WordStamp]:
    """Engine word timings of a piece -> the context's text offsets and output samples.

    ``char_offset``: where the piece starts in the context's whole text; ``lead_in_samples``:
    samples (at the voice's rate) pushed in this piece before the engine's sample 0 (the pause).
    """

    def at(s: int) -> int:
        return output.output_sample(state, lead_in_samples + s)

    return [
        WordStamp(
            w.word,
            w.char_start + char_offset if w.char_start >= 0 else -1,
            w.char_end + char_offset if w.char_end >= 0 else -1,
            at(w.start_sample),
            at(w.end_sample),
            tuple(PhonemeStamp(p.phoneme, at(p.start_sample), at(p.end_sample)) for p in w.phonemes),
        )
        for w in words
    ]


def warmup() -> None:
    """Compile the PCM, G.711 and resampling kernels; run every format once."""
    pcm_warmup()
    g711.warmup()
    resample.warmup()
    for fmt in FORMATS_V2:
        out = Output(OutputFormat(24000, 8000, fmt, 20))
        state = out.init_state()
        out.begin_piece(state)
        out.push(state, np.zeros(1000, np.float32))
        out.end_piece(state)
