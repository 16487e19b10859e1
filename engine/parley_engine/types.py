"""Plain result and settings types. Field names carry their units."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .errors import InvalidSettingError

__all__ = ["AudioChunk", "CancelToken", "SpeakSettings", "VoiceInfo"]

FloatArray = npt.NDArray[np.float32]

MIN_SPEED = 0.5
MAX_SPEED = 2.0


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

    speed: speaking rate multiplier, MIN_SPEED..MAX_SPEED (1.0 = the voice's natural pace).
    seed: fixes the vocoder's noise so repeated requests are sample-identical (None = random).
    """

    speed: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.speed, (int, float)) or isinstance(self.speed, bool):
            raise InvalidSettingError("speed must be a number", field="speed")
        if not (MIN_SPEED <= float(self.speed) <= MAX_SPEED):
            raise InvalidSettingError(
                f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {self.speed}", field="speed"
            )
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise InvalidSettingError("seed must be an integer or null", field="seed")


@dataclass(frozen=True)
class AudioChunk:
    """A piece of a request's audio stream.

    samples: float32 mono PCM in [-1, 1], shape [n].
    sample_rate_hz: sampling rate of ``samples``.
    start_sample: index of samples[0] within the request's whole stream.
    utterance_index: which text chunk (sentence or clause) this audio belongs to.

    The stream's end is the iterator's end (no chunk is held back to mark the last one).
    """

    samples: FloatArray
    sample_rate_hz: int
    start_sample: int
    utterance_index: int

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
