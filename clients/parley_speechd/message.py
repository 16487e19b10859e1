"""What a speech-dispatcher message means for Parley — pure functions, no I/O.

* :class:`Settings`: the module's SET state (rate, pitch, volume −100..100, punctuation_mode,
  spelling_mode, cap_let_recogn, voice, language, synthesis_voice), validated like
  speech-dispatcher's ``module_set``.
* :func:`speak_settings`: those settings as a Parley voice id and speed / pitch / volume.
* :func:`parse_message`: a message body (SSML for SPEAK; a character, a key name or a sound-icon
  name for CHAR / KEY / SOUND_ICON) as a sequence of :data:`Segment` in playing order: an
  :class:`Ssml` document for the engine's ``stream_ssml`` (which applies the punctuation and
  capital-letter modes and reports ``<mark/>``s), or plain texts, marks, pauses and tones.

speech-dispatcher always sends SSML for SPEAK (plain text is escaped and wrapped in ``<speak>``),
with ``<mark name="__spd_N"/>`` between sentences so that PAUSE can stop at one. The engine speaks
a body that is not well-formed XML as its text. In spelling mode the module spells the text itself
(every character by name, capitals per cap_let_recogn), keeping the marks; there a body that is
not XML is read leniently too (tags removed, ``<mark/>`` kept, no DOCTYPE ever parsed).
Character, key and capital names come from ``parley_engine.text.screenreader``.
"""

from __future__ import annotations

import html
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal, TypeAlias

from parley_engine.text.screenreader import char_name, key_text, punctuate, spell, spoken_char

__all__ = [
    "CAP_LET_RECOGN",
    "PUNCTUATION_MODES",
    "VOICE_TYPES",
    "Mark",
    "MessageKind",
    "Pause",
    "Segment",
    "Settings",
    "Ssml",
    "SpeakParams",
    "Text",
    "Tone",
    "VoiceEntry",
    "parse_message",
    "rate_to_speed",
    "speak_settings",
]

MessageKind: TypeAlias = Literal["text", "char", "key", "sound_icon"]

PUNCTUATION_MODES: Final = ("none", "some", "most", "all")
CAP_LET_RECOGN: Final = ("none", "spell", "icon")
VOICE_TYPES: Final = (
    "male1",
    "male2",
    "male3",
    "female1",
    "female2",
    "female3",
    "child_male",
    "child_female",
)
#: Longest text handed to the engine in one call (the engine refuses more than 20,000 characters).
MAX_SEGMENT_CHARS: Final = 10_000
#: Longer SPEAK bodies are not given to the engine's SSML reader (it takes a document's text up to
#: the engine's 20,000 characters): the module reads them itself — text, marks, breaks — and
#: speaks the text in pieces, so a long document is read to its end.
MAX_SSML_BODY_CHARS: Final = 15_000
#: Sound icons: a short tone (Hz, ms).
SOUND_ICON_TONE: Final = (880.0, 60.0)


@dataclass(frozen=True)
class Text:
    """Plain text (no markup), spoken ``pitch_semitones`` above the message's pitch."""

    text: str
    pitch_semitones: float = 0.0


@dataclass(frozen=True)
class Ssml:
    """An SSML document for the engine (marks, prosody, breaks, say-as...)."""

    body: str


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Pause:
    ms: float


@dataclass(frozen=True)
class Tone:
    freq_hz: float
    ms: float


Segment: TypeAlias = Text | Ssml | Mark | Pause | Tone


@dataclass(frozen=True)
class VoiceEntry:
    """A voice as LIST VOICES shows it. ``gender`` picks a voice for SET voice=male1 etc."""

    name: str
    language: str
    variant: str = "none"
    gender: str = "unknown"


@dataclass(frozen=True)
class SpeakParams:
    speed: float
    pitch_semitones: float
    volume_db: float


@dataclass(frozen=True)
class Settings:
    """speech-dispatcher's per-message settings, as last SET."""

    rate: int = 0
    pitch: int = 0
    pitch_range: int = 0
    volume: int = 0
    punctuation_mode: str = "none"
    spelling_mode: bool = False
    cap_let_recogn: str = "none"
    voice_type: str | None = None
    language: str | None = None
    synthesis_voice: str | None = None

    def updated(self, key: str, value: str) -> tuple[Settings, bool]:
        """(new settings, True) for a valid ``key=value``; (self, False) for a bad value.

        Keys this module does not know are accepted and ignored, so that a newer speech-dispatcher
        sending a new setting does not make every message fail (the server drops a message whose
        SET is refused); known keys with bad values are refused (303), as module_set does.
        """
        if key in ("rate", "pitch", "pitch_range", "volume"):
            n = _int_in(value, -100, 100)
            if n is None:
                return self, False
            if key == "rate":
                return replace(self, rate=n), True
            if key == "pitch":
                return replace(self, pitch=n), True
            if key == "pitch_range":
                return replace(self, pitch_range=n), True
            return replace(self, volume=n), True
        if key == "punctuation_mode":
            return (
                (replace(self, punctuation_mode=value), True) if value in PUNCTUATION_MODES else (self, False)
            )
        if key == "spelling_mode":
            if value not in ("on", "off"):
                return self, False
            return replace(self, spelling_mode=value == "on"), True
        if key == "cap_let_recogn":
            return (replace(self, cap_let_recogn=value), True) if value in CAP_LET_RECOGN else (self, False)
        if key == "voice":
            return (replace(self, voice_type=value), True) if value in VOICE_TYPES else (self, False)
        if key == "language":
            return replace(self, language=None if value == "NULL" else value), True
        if key == "synthesis_voice":
            return replace(self, synthesis_voice=None if value == "NULL" else value), True
        return self, True


def _int_in(value: str, lo: int, hi: int) -> int | None:
    t = value.strip()
    body = t[1:] if t[:1] in "+-" else t
    if not body or not body.isascii() or not body.isdigit() or len(body) > 6:
        return None
    n = int(t)
    return n if lo <= n <= hi else None


# -- settings -> Parley --------------------------------------------------------------------------------


def rate_to_speed(rate: int) -> float:
    """speech-dispatcher rate −100..100 → Parley speed: 0 is 1x, +100 is 4x (screen-reader users
    listen at 3–4x), −100 is 0.5x; exponential, so equal steps sound like equal changes."""
    r = max(-100, min(100, rate))
    return float(4.0 ** (r / 100)) if r >= 0 else float(2.0 ** (r / 100))


def pitch_to_semitones(pitch: int) -> float:
    """−100..100 → −12..+12 semitones."""
    return 0.12 * max(-100, min(100, pitch))


def volume_to_db(volume: int) -> float:
    """−100..100 → −40..+6 dB (0 is the voice's own level; +6 dB is kept clean by the limiter)."""
    v = max(-100, min(100, volume))
    return 0.06 * v if v >= 0 else 0.4 * v


def speak_settings(settings: Settings, voices: Sequence[VoiceEntry]) -> tuple[str | None, SpeakParams]:
    """The voice (an entry's name, or None for the engine's default) and Parley's settings."""
    return choose_voice(settings, voices), SpeakParams(
        rate_to_speed(settings.rate), pitch_to_semitones(settings.pitch), volume_to_db(settings.volume)
    )


def choose_voice(settings: Settings, voices: Sequence[VoiceEntry]) -> str | None:
    """synthesis_voice if it names a voice; else the first voice of the language asked for (a
    ``language`` of "c", "C" or "NULL" means none) preferring the gender of ``voice`` (male1...);
    else the first voice of that gender; else the first voice."""
    if not voices:
        return None
    names = {v.name: v for v in voices}
    if settings.synthesis_voice is not None and settings.synthesis_voice in names:
        return settings.synthesis_voice
    lang = (settings.language or "").lower().replace("_", "-")
    pool = list(voices)
    if lang and lang not in ("c", "posix"):
        same = [v for v in voices if _lang_match(v.language, lang)]
        if same:
            pool = same
    gender = _gender(settings.voice_type)
    if gender is not None:
        for v in pool:
            if v.gender == gender:
                return v.name
    return pool[0].name


def _lang_match(voice_lang: str, want: str) -> bool:
    have = voice_lang.lower().replace("_", "-")
    return have == want or have.startswith(want + "-") or want.startswith(have + "-")


def _gender(voice_type: str | None) -> str | None:
    if voice_type is None:
        return None
    if voice_type.startswith("male") or voice_type == "child_male":
        return "male"
    if voice_type.startswith("female") or voice_type == "child_female":
        return "female"
    return None


# -- message -> segments ------------------------------------------------------------------------------


def parse_message(kind: MessageKind, body: str, settings: Settings) -> tuple[Segment, ...]:
    """The segments to play for a message (see the module docstring). Never raises."""
    if kind == "char":
        sc = spoken_char(" " if body == "space" else body, settings.cap_let_recogn)
        return _merge([Text(sc.text, sc.pitch_semitones)])
    if kind == "key":
        return _merge([Text(key_text(body))])
    if kind == "sound_icon":
        return (Tone(*SOUND_ICON_TONE),)
    if not settings.spelling_mode:
        if len(body) <= MAX_SSML_BODY_CHARS:
            return (Ssml(body),) if body.strip() else ()
        long: list[Segment] = []
        for seg in _ssml_segments(body):
            long.append(
                Text(punctuate(seg.text, settings.punctuation_mode)) if isinstance(seg, Text) else seg
            )
        return _merge(long)
    out: list[Segment] = []
    for seg in _ssml_segments(body):
        if isinstance(seg, Text):
            out.extend(
                Text(sc.text, sc.pitch_semitones)
                for sc in spell(seg.text, settings.cap_let_recogn)
                if sc.char.strip()
            )
        else:
            out.append(seg)
    return _merge(out)


def _merge(segs: Sequence[Segment]) -> tuple[Segment, ...]:
    """Join neighbouring texts of the same pitch, drop empty ones and zero pauses, split long texts."""
    out: list[Segment] = []
    for s in segs:
        if isinstance(s, Text):
            prev = out[-1] if out else None
            if isinstance(prev, Text) and prev.pitch_semitones == s.pitch_semitones:
                out[-1] = Text(prev.text + " " + s.text, s.pitch_semitones)
            else:
                out.append(s)
        elif isinstance(s, Pause) and s.ms <= 0.0:
            continue
        else:
            out.append(s)
    final: list[Segment] = []
    for s in out:
        if isinstance(s, Text):
            t = " ".join(s.text.split())
            final.extend(Text(p, s.pitch_semitones) for p in _split_long(t) if p)
        else:
            final.append(s)
    return tuple(final)


def _split_long(text: str, limit: int = MAX_SEGMENT_CHARS) -> Iterator[str]:
    """Pieces of at most ``limit`` characters, cut after a sentence end or else at a space."""
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit - 1
        yield text[: cut + 1].strip()
        text = text[cut + 1 :]
    yield text.strip()


# -- SSML ---------------------------------------------------------------------------------------------

_SSML_NS = re.compile(r"^\{[^}]*\}")
_MARK_TAG = re.compile(r"""<mark\s+name\s*=\s*(?:"([^"]*)"|'([^']*)')\s*/?>""", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[A-Za-z!?][^<>]*>?")
_BREAK_STRENGTH_MS: Final = {
    "none": 0.0,
    "x-weak": 50.0,
    "weak": 100.0,
    "medium": 250.0,
    "strong": 500.0,
    "x-strong": 1000.0,
}
MAX_BREAK_MS: Final = 10_000.0


def _ssml_segments(body: str) -> list[Segment]:
    if "<" not in body:
        return [Text(html.unescape(body))]
    if "<!" in body:  # DOCTYPE / ENTITY / CDATA: never expand entities from the peer
        return _lenient(body)
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return _lenient(body)
    out: list[Segment] = []
    _walk(root, out)
    return out


def _lenient(body: str) -> list[Segment]:
    """Not XML: keep the text and the marks, drop every other tag."""
    out: list[Segment] = []
    pos = 0
    for m in _MARK_TAG.finditer(body):
        out.append(Text(html.unescape(_ANY_TAG.sub(" ", body[pos : m.start()]))))
        out.append(Mark(m.group(1) if m.group(1) is not None else m.group(2)))
        pos = m.end()
    out.append(Text(html.unescape(_ANY_TAG.sub(" ", body[pos:]))))
    return out


def _walk(el: ET.Element, out: list[Segment]) -> None:
    tag = _SSML_NS.sub("", el.tag) if isinstance(el.tag, str) else ""
    if tag == "mark":
        out.append(Mark(el.get("name", "")))
    elif tag == "break":
        out.append(Pause(_break_ms(el)))
    elif tag == "sub" and el.get("alias") is not None:
        out.append(Text(el.get("alias", "")))
    elif tag == "say-as" and el.get("interpret-as", "") in ("characters", "spell-out", "letters"):
        word = "".join(el.itertext())
        out.append(Text(" ".join(char_name(c) for c in word if not c.isspace())))
    elif tag == "desc":
        pass
    else:
        if el.text:
            out.append(Text(el.text))
        for child in el:
            _walk(child, out)
            if tag in ("p", "s") or _SSML_NS.sub("", str(child.tag)) in ("p", "s"):
                out.append(Text(" "))
    if el.tail:
        out.append(Text(el.tail))


def _break_ms(el: ET.Element) -> float:
    t = (el.get("time") or "").strip().lower()
    try:
        if t.endswith("ms"):
            ms = float(t[:-2])
        elif t.endswith("s"):
            ms = 1000.0 * float(t[:-1])
        else:
            ms = _BREAK_STRENGTH_MS.get(el.get("strength", "medium"), 250.0)
    except ValueError:
        ms = 250.0
    if not math.isfinite(ms):
        ms = 250.0
    return max(0.0, min(MAX_BREAK_MS, ms))
