"""NVDA speech sequences as Parley requests — pure, standard library only, no NVDA import.

NVDA hands a synth driver a list of strings and commands. The driver turns the commands it knows
into these neutral items (see ``synthDrivers/parley.py``), and :func:`plan` cuts the sequence into
*utterances*: the text between two index commands, with the prosody in force, and the indexes to
report once that utterance's last sample has played. An index that follows no text is reported
when everything before it has played.

Settings: NVDA's rate, pitch and volume are 0–100 (50 is the voice's own); the rate boost doubles
the speed (screen-reader users listen at up to 4x):

* speed = 2 ** ((rate − 50) / 50), ×2 with rate boost → 0.5x … 2x, 4x boosted
* pitch_semitones = (pitch − 50) × 12 / 50 → −12 … +12
* volume_db = 20·log10(volume / 100), at least −40 dB → 100 is the voice's level, 50 is −6 dB
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TypeAlias

__all__ = [
    "Break",
    "CharMode",
    "Index",
    "Item",
    "Prosody",
    "Text",
    "Utterance",
    "VoiceParams",
    "pitch_to_semitones",
    "plan",
    "rate_to_speed",
    "volume_to_db",
]

SPEED_MIN, SPEED_MAX = 0.5, 4.0
MAX_UTTERANCE_CHARS = 10_000


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Index:
    index: int


@dataclass(frozen=True)
class CharMode:
    on: bool


@dataclass(frozen=True)
class Break:
    ms: float


@dataclass(frozen=True)
class Prosody:
    """A change relative to the base settings (NVDA's PitchCommand/RateCommand/VolumeCommand):
    ``None`` leaves that setting as it is; a multiplier of 1.0 returns to the base."""

    rate: float | None = None
    pitch: float | None = None
    volume: float | None = None


Item: TypeAlias = Text | Index | CharMode | Break | Prosody


def rate_to_speed(rate: float, boost: bool = False) -> float:
    r = max(0.0, min(100.0, float(rate)))
    speed = float(2.0 ** ((r - 50.0) / 50.0)) * (2.0 if boost else 1.0)
    return max(SPEED_MIN, min(SPEED_MAX, speed))


def pitch_to_semitones(pitch: float) -> float:
    return (max(0.0, min(100.0, float(pitch))) - 50.0) * 12.0 / 50.0


def volume_to_db(volume: float) -> float:
    v = max(0.0, min(100.0, float(volume)))
    return -40.0 if v <= 1.0 else max(-40.0, 20.0 * math.log10(v / 100.0))


@dataclass(frozen=True)
class VoiceParams:
    """The driver's settings: NVDA's 0–100 scales, the rate boost, the voice id (None: default)."""

    voice: str | None = None
    rate: float = 50.0
    pitch: float = 50.0
    volume: float = 100.0
    rate_boost: bool = False

    @property
    def speed(self) -> float:
        return rate_to_speed(self.rate, self.rate_boost)

    @property
    def pitch_semitones(self) -> float:
        return pitch_to_semitones(self.pitch)

    @property
    def volume_db(self) -> float:
        return volume_to_db(self.volume)


@dataclass(frozen=True)
class Utterance:
    """One request. ``text`` may be empty (then nothing is requested: only its indexes and pause
    are played). ``indexes`` are reported after its last sample, ``pause_ms`` of silence first."""

    text: str
    voice: str | None
    speed: float
    pitch_semitones: float
    volume_db: float
    indexes: tuple[int, ...] = ()
    pause_ms: float = 0.0
    char_mode: bool = False


@dataclass
class _Builder:
    base: VoiceParams
    out: list[Utterance] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    rate_mul: float = 1.0
    pitch_mul: float = 1.0
    volume_mul: float = 1.0
    char_mode: bool = False

    def settings(self) -> tuple[float, float, float]:
        b = self.base
        speed = max(SPEED_MIN, min(SPEED_MAX, b.speed * self.rate_mul))
        pitch = pitch_to_semitones(b.pitch * self.pitch_mul)
        volume = volume_to_db(b.volume * self.volume_mul)
        return speed, pitch, volume

    def close(self, indexes: tuple[int, ...] = (), pause_ms: float = 0.0) -> None:
        text = " ".join(" ".join(self.parts).split())
        self.parts = []
        speed, pitch, volume = self.settings()
        pieces = _split(text) if text else [""]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            self.out.append(
                Utterance(
                    piece,
                    self.base.voice,
                    speed,
                    pitch,
                    volume,
                    indexes if last else (),
                    pause_ms if last else 0.0,
                    self.char_mode,
                )
            )


def spell(text: str) -> str:
    """Character mode: each character on its own (a lone letter in capitals, so it is read as the
    letter's name, not as a word: "a" → "A")."""
    chars = [c for c in text if not c.isspace()]
    return " ".join(c.upper() if c.isalpha() else c for c in chars)


def plan(items: list[Item], base: VoiceParams) -> list[Utterance]:
    """Cut a speech sequence into utterances (see the module docstring)."""
    b = _Builder(base)
    for it in items:
        if isinstance(it, Text):
            if it.text.strip():
                b.parts.append(spell(it.text) if b.char_mode else it.text)
        elif isinstance(it, Index):
            b.close((it.index,))
        elif isinstance(it, Break):
            b.close((), max(0.0, min(10_000.0, it.ms)))
        elif isinstance(it, CharMode):
            if it.on != b.char_mode:
                if b.parts:
                    b.close()
                b.char_mode = it.on
        elif isinstance(it, Prosody):
            if b.parts:
                b.close()
            if it.rate is not None:
                b.rate_mul = it.rate
            if it.pitch is not None:
                b.pitch_mul = it.pitch
            if it.volume is not None:
                b.volume_mul = it.volume
    if b.parts:
        b.close()
    merged: list[Utterance] = []
    for u in b.out:  # an empty utterance with nothing to report is dropped; empty ones merge
        if not u.text and merged and not merged[-1].text and not merged[-1].pause_ms:
            prev = merged[-1]
            merged[-1] = replace(prev, indexes=prev.indexes + u.indexes, pause_ms=u.pause_ms)
        elif u.text or u.indexes or u.pause_ms:
            merged.append(u)
    return merged


def _split(text: str, limit: int = MAX_UTTERANCE_CHARS) -> list[str]:
    out = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        out.append(text[:cut].strip())
        text = text[cut:].strip()
    out.append(text)
    return [t for t in out if t] or [""]
