"""A tiny deterministic voice for engine-level unit tests without a model (SSML streaming, the
phrase cache), and checks that it behaves like a voice.

Each phoneme symbol (here: a letter of the normalised text) lasts ``round(FRAMES_PER_SYMBOL /
speed)`` frames of 10 ms; letters decode to a tone, spaces and punctuation to silence. Durations
are reported, so the engine computes word timings as it does for hibari and Piper.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from parley_engine import Engine
from parley_engine.text import normalize
from parley_engine.types import VoiceInfo
from parley_engine.voices.base import AcousticFrames, DecoderState, Voice, alignment_from_durations

SR = 24_000
HOP = 240  # 10 ms
FRAMES_PER_SYMBOL = 8
TONE_HZ = 220.0


@dataclass
class _Payload:
    kinds: npt.NDArray[np.int8]  # per frame: 1 letter, 0 silence


class FakeState(DecoderState):
    def __init__(self, frames: AcousticFrames, start: int, end: int, pitch: float) -> None:
        self.frames = frames
        self.position = start
        self.end = end
        self.phase = 0.0
        self.pitch = pitch


class FakeVoice(Voice):
    """Letters are phonemes; 'backend' is hibari's so IPA maps to misaki symbols."""

    native_pitch = True
    max_model_speed = 4.0
    first_chunk_max_words = 0

    def __init__(self, voice_id: str = "fake", backend: str = "hibari") -> None:
        self.info = VoiceInfo(voice_id, "en-US", "unknown", SR, backend)
        self.seen_phonemes: list[str] = []
        self.calls = 0
        self._lock = threading.Lock()

    def phonemize(self, text: str) -> str:
        s = re.sub(r"[^a-z .,?!]", "", normalize(text).lower())
        s = re.sub(r" +", " ", s).strip()
        return s if any(c.isalpha() for c in s) else ""

    def acoustic(self, phonemes: str, speed: float) -> AcousticFrames:
        with self._lock:
            self.seen_phonemes.append(phonemes)
            self.calls += 1
        syms = list(phonemes)
        per = max(1, round(FRAMES_PER_SYMBOL / speed))
        durations = np.asarray([per if c.strip() else max(1, per // 2) for c in syms], np.float32)
        kinds = np.concatenate(
            [
                np.full(int(d), 1 if c.isalpha() or c in "ˈˌ" else 0, np.int8)
                for c, d in zip(syms, durations, strict=True)
            ]
            or [np.zeros(0, np.int8)]
        )
        loud = np.flatnonzero(kinds)
        start, end = (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, 0)
        return AcousticFrames(
            int(kinds.size),
            HOP,
            start,
            end,
            durations,
            _Payload(kinds),
            alignment_from_durations(syms, durations, list(range(len(syms)))),
        )

    def init_decoder(
        self, frames: AcousticFrames, start: int, end: int, seed: int | None, pitch_semitones: float = 0.0
    ) -> FakeState:
        return FakeState(frames, start, end, pitch_semitones)

    def decode(self, state: DecoderState, n_frames: int) -> npt.NDArray[np.float32]:
        assert isinstance(state, FakeState)
        a, b = state.position, min(state.end, state.position + max(1, n_frames))
        state.position = b
        kinds = state.frames.payload.kinds[a:b]
        f = TONE_HZ * 2 ** (state.pitch / 12)
        t = state.phase + np.arange((b - a) * HOP) * (2 * np.pi * f / SR)
        state.phase = float(t[-1] + 2 * np.pi * f / SR) if t.size else state.phase
        return (0.3 * np.sin(t) * np.repeat(kinds, HOP)).astype(np.float32)

    def finish(self, state: DecoderState) -> npt.NDArray[np.float32]:
        return np.zeros(0, np.float32)

    def warmup(self) -> None:
        pass


def fake_engine(**voices: FakeVoice) -> Engine:
    return Engine(dict(voices) or {"fake": FakeVoice()})


def audio(chunks: object) -> npt.NDArray[np.float32]:
    parts = [c.samples for c in chunks if hasattr(c, "samples")]  # type: ignore[attr-defined]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


# -- the fake behaves like a voice -----------------------------------------------------------------


def test_fake_voice_streams_with_word_timings() -> None:
    e = fake_engine()
    chunks = list(e.stream("Hello big world.", voice="fake"))
    words = [w for c in chunks for w in c.words]
    assert [w.word for w in words] == ["Hello", "big", "world"]
    assert [w.char_start for w in words] == [0, 6, 10]
    assert all(a.end_sample <= b.start_sample for a, b in zip(words, words[1:], strict=False))
    starts = [c.start_sample for c in chunks]
    assert starts == list(np.cumsum([0] + [len(c.samples) for c in chunks[:-1]]))


def test_fake_voice_speed_is_its_duration() -> None:
    e = fake_engine()
    from parley_engine import SpeakSettings

    one = audio(e.stream("Hello world", voice="fake"))
    two = audio(e.stream("Hello world", voice="fake", settings=SpeakSettings(speed=2.0)))
    assert abs(len(one) / len(two) - 2.0) < 0.1
