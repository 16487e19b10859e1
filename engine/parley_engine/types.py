"""Plain result and settings types. Field names carry their units."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .errors import InvalidSettingError

__all__ = ["AudioChunk", "CancelToken", "PhonemeTiming", "SpeakSettings", "VoiceInfo", "WordTiming"]

FloatArray = npt.NDArray[np.float32]

MIN_SPEED = 0.5
MAX_SPEED = 4.0
MIN_PITCH_SEMITONES = -12.0
MAX_PITCH_SEMITONES = 12.0
MIN_VOLUME_DB = -40.0
MAX_VOLUME_DB = 12.0


@dataclass(frozen=True)
class VoiceInfo:
    """What a client needs to pick a voice."""

    id: str
    language: str  # BCP 47, e.g. "en-US"
    gender: str  # "female" | "male" | "unknown"
    sample_rate_hz: int
    backend: str  # "hibari", "piper", "kokoro"
    cloneable: bool = False
    description: str = ""


@dataclass(frozen=True)
class SpeakSettings:
    """Per-request settings.

    speed: speaking rate multiplier, MIN_SPEED..MAX_SPEED (1.0 = the voice's natural pace); the
        model's own duration control up to the voice's ``max_model_speed``, non-uniform
        time-scale modification for the rest (steady sounds and pauses compressed harder than
        transitions; a voice that reports its model's real speed-up gets exactly ``speed``).
    pitch_semitones: pitch shift, MIN_PITCH_SEMITONES..MAX_PITCH_SEMITONES (0 = natural).
    volume_db: gain in dB, MIN_VOLUME_DB..MAX_VOLUME_DB (a soft limiter keeps peaks below 1.0).
    seed: fixes the vocoder's noise so repeated requests are sample-identical (None = random);
        voices whose randomness is drawn inside the ONNX graph (Piper's) are not made repeatable.
    """

    speed: float = 1.0
    seed: int | None = None
    pitch_semitones: float = 0.0
    volume_db: float = 0.0

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("speed", MIN_SPEED, MAX_SPEED),
            ("pitch_semitones", MIN_PITCH_SEMITONES, MAX_PITCH_SEMITONES),
            ("volume_db", MIN_VOLUME_DB, MAX_VOLUME_DB),
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise InvalidSettingError(f"{name} must be a number, got {type(value).__name__}", field=name)
            if not (lo <= float(value) <= hi):
                raise InvalidSettingError(f"{name} must be between {lo} and {hi}, got {value}", field=name)
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise InvalidSettingError("seed must be an integer or null", field="seed")


@dataclass(frozen=True)
class PhonemeTiming:
    """One phoneme symbol's span, in samples of the request's stream."""

    phoneme: str
    start_sample: int
    end_sample: int


@dataclass(frozen=True)
class WordTiming:
    """One spoken word: its normalised spelling, its characters in the request text (``-1`` when
    unknown) and its span in samples of the request's stream."""

    word: str
    char_start: int
    char_end: int
    start_sample: int
    end_sample: int
    phonemes: tuple[PhonemeTiming, ...] = ()


@dataclass(frozen=True)
class AudioChunk:
    """A piece of a request's audio stream.

    samples: float32 mono PCM in [-1, 1], shape [n].
    sample_rate_hz: sampling rate of ``samples``.
    start_sample: index of samples[0] within the request's whole stream.
    utterance_index: which text chunk (sentence or clause) this audio belongs to.
    words: timings of the utterance's words, on the utterance's first chunk (empty otherwise or
        when the voice reports no durations).

    The stream's end is the iterator's end (no chunk is held back to mark the last one).
    """

    samples: FloatArray
    sample_rate_hz: int
    start_sample: int
    utterance_index: int
    words: tuple[WordTiming, ...] = ()

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate_hz


@dataclass
class CancelToken:
    """Set by whoever owns a stream (a client disconnect, a ``cancel`` message); checked by the
    engine between chunks. Thread-safe."""

    _event: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
