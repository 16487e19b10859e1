"""The two-stage voice interface the engine drives.

A voice turns one text chunk (a sentence or a clause) into audio in two stages:

1. acoustic stage — ``acoustic(phonemes, speed) -> AcousticFrames``: runs once per chunk and
   returns the whole chunk's frames (codec tokens, latent frames, spectra: whatever the
   architecture uses) plus where speech starts and ends within them;
2. decoder stage — ``init_decoder(frames, start, end, seed) -> state`` then
   ``decode(state, n_frames)`` repeatedly and ``finish(state)``: turns frames into PCM
   incrementally, so the first audio leaves after the first few frames are decoded.

Weights live on the voice and are shared and immutable; everything a stream mutates lives in the
state object the caller owns, so any number of streams can run concurrently.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..timing import word_timings
from ..types import VoiceInfo, WordTiming

__all__ = ["AcousticFrames", "DecoderState", "Voice", "alignment_from_durations"]


def alignment_from_durations(
    symbols: list[str], token_frames: npt.NDArray[np.float32], token_of_symbol: list[int]
) -> tuple[tuple[str, int, int], ...]:
    """(symbol, start_frame, end_frame) per symbol, where symbol i spans the tokens from
    ``token_of_symbol[i]`` up to the next symbol's first token (pads fall to the symbol before)."""
    edges = np.concatenate([[0.0], np.cumsum(token_frames, dtype=np.float64)])
    out = []
    for i, sym in enumerate(symbols):
        a = token_of_symbol[i]
        b = token_of_symbol[i + 1] if i + 1 < len(symbols) else len(token_frames) - 1
        out.append((sym, int(round(edges[a])), int(round(edges[b]))))
    return tuple(out)


@dataclass(frozen=True)
class AcousticFrames:
    """Output of the acoustic stage for one text chunk.

    n_frames: number of frames F.
    samples_per_frame: output samples each frame decodes to (hop), at the voice's sample rate.
    speech_start_frame / speech_end_frame: [start, end) of the frames that carry audible speech;
        the frames outside are the model's own leading/trailing silence.
    token_frames: frames per input token (duration predictor output), float32 [n_tokens], or None.
    payload: backend-specific arrays (e.g. latent frames [C, F] and f0 [F]).
    alignment: (symbol, start_frame, end_frame) for each phoneme symbol of the chunk, in order
        (spaces between words included), from the duration predictor; empty when unknown.
    speedup: how much shorter these frames are than the same chunk at speed 1.0 (what the model's
        duration control actually delivered), when the voice knows; None: the speed asked for.
        The engine's time-scaling supplies the rest of a requested speed, so the audio really is
        that much shorter.
    """

    n_frames: int
    samples_per_frame: int
    speech_start_frame: int
    speech_end_frame: int
    token_frames: npt.NDArray[np.float32] | None
    payload: Any
    alignment: tuple[tuple[str, int, int], ...] = ()
    speedup: float | None = None


class DecoderState:
    """Base class of per-stream decoder states (each voice subclasses it)."""

    frames: AcousticFrames
    position: int  # next frame to decode
    end: int  # one past the last frame to decode

    @property
    def remaining_frames(self) -> int:
        return self.end - self.position


class Voice(ABC):
    """A loaded voice: immutable weights + the two stages. Thread-safe.

    Planning knobs (class attributes a voice may override): ``first_chunk_max_words`` — a first
    sentence longer than this is cut at its first clause so audio starts early (0: never cut);
    ``max_chunk_chars`` — longer sentences are split at clauses; ``decode_schedule_frames``.
    """

    info: VoiceInfo
    first_chunk_max_words: int = 12
    max_chunk_chars: int = 300
    #: frames per decode() call: a small first chunk so audio leaves early, then larger ones (fewer
    #: calls, less context overhead) that finish long before the audio already sent plays out.
    decode_schedule_frames: tuple[int, ...] = (16, 64, 320)
    #: the fastest rate the model's own duration control is trusted with; faster speeds are
    #: reached by time-scale modification of its output (non-uniform: see ``Engine._generate``)
    max_model_speed: float = 2.0
    #: whether ``acoustic`` reports ``AcousticFrames.speedup`` (then time-scaling makes up what the
    #: model falls short of at any speed above 1.0, not only beyond ``max_model_speed``)
    reports_speedup: bool = False
    #: whether ``init_decoder`` honours ``pitch_semitones`` itself (e.g. by scaling f0)
    native_pitch: bool = False

    @property
    def sample_rate_hz(self) -> int:
        return self.info.sample_rate_hz

    def model_speed(self, speed: float) -> float:
        """The speed the model's own duration control is asked for when ``speed`` is requested;
        time-scaling supplies the rest. Default: as much as ``max_model_speed`` allows."""
        return min(speed, self.max_model_speed)

    @abstractmethod
    def phonemize(self, text: str) -> str:
        """One planned text chunk, as written -> the phoneme string the acoustic stage reads ('' if
        nothing speakable). The voice applies its language's normalisation."""

    def word_timings(
        self,
        text: str,
        alignment: Sequence[tuple[str, int, int]],
        frame_to_sample: Callable[[int], int],
        char_offset: int = 0,
    ) -> tuple[WordTiming, ...]:
        """The words of one chunk (``text`` as written, its ``alignment`` from ``acoustic``) with
        their characters and samples; see :mod:`parley_engine.timing`. The default matches the
        phoneme words to Parley's (English) normaliser's words, which suits Latin-script text; a
        voice for other scripts overrides it. Must not raise."""
        return word_timings(text, alignment, frame_to_sample, char_offset)

    @abstractmethod
    def acoustic(self, phonemes: str, speed: float) -> AcousticFrames:
        """Phonemes of one chunk -> all of its frames."""

    @abstractmethod
    def init_decoder(
        self, frames: AcousticFrames, start: int, end: int, seed: int | None, pitch_semitones: float = 0.0
    ) -> DecoderState:
        """A fresh decoder state that will decode frames [start, end) (pitch-shifted by
        ``pitch_semitones`` if the voice has ``native_pitch``)."""

    @abstractmethod
    def decode(self, state: DecoderState, n_frames: int) -> npt.NDArray[np.float32]:
        """Decode the next ``n_frames`` frames (fewer at the end); returns the samples now final
        (may lag the frames by the decoder's lookahead)."""

    @abstractmethod
    def finish(self, state: DecoderState) -> npt.NDArray[np.float32]:
        """The samples still held back after the last frame."""

    @abstractmethod
    def warmup(self) -> None:
        """Prime sessions and compile kernels on real shapes."""
