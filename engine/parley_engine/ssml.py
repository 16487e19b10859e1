"""SSML in, a flat list of speakable segments out; and the engine's ``stream_ssml`` over them.

The parser (:func:`parse_ssml`, :func:`plan_runs`, the IPA mappings) is pure: no I/O, no model.
:func:`speak_ssml` drives an :class:`Engine` through the runs.

    doc = parse_ssml('<speak>Hello <mark name="m1"/><prosody rate="fast">world</prosody>'
                     '<break time="300ms"/><say-as interpret-as="characters">ok</say-as></speak>')
    doc.segments   # [SsmlSegment('Hello '), SsmlSegment('world', rate=1.5, marks=('m1',)), ...]
    doc.fallback   # False: the markup was understood
    runs = plan_runs(doc.segments)     # what the engine synthesises: one call per run

:func:`parse_ssml` understands SSML 1.1's speaking subset:

* ``speak``, ``p``, ``s`` — structure: a sentence that ends without punctuation gets a full stop
  (its falling prosody), paragraphs are separated by a blank line (the planner's paragraph pause);
* ``break`` — ``time`` ("250ms", "1.5s"; at most :data:`MAX_BREAK_MS`) or ``strength`` (none 0,
  x-weak 75, weak 150, medium 300, strong 600, x-strong 1000 ms; no attribute: medium);
* ``prosody`` — ``rate`` (x-slow 0.5, slow 0.75, medium 1, fast 1.5, x-fast 2; "150%"; "+20%";
  a bare multiplier "1.5"), ``pitch`` ("+2st", "-10%", "+20Hz" against a nominal 200 Hz voice,
  x-low -6, low -3, medium 0, high +3, x-high +6 semitones), ``volume`` ("+6dB", "50" on SSML
  1.0's 0-100 scale, "+50%", silent, x-soft -12, soft -6, medium 0, loud +6, x-loud +12 dB).
  Nested prosody multiplies rates and adds semitones and decibels; the engine clamps the result
  to :class:`SpeakSettings`' ranges. ``duration`` is ignored;
* ``say-as`` — ``interpret-as`` characters / spell-out / letters / verbatim (every character by
  name, capitals per the ``capitals`` mode), digits, cardinal / number, ordinal, telephone, date
  (``format`` mdy dmy ymd md dm ym my d m y, default mdy), time; other values: the normaliser's
  reading;
* ``sub alias`` — the alias is spoken; ``phoneme ph`` (alphabet "ipa") — the IPA is kept on the
  segment (``phonemes``) and the engine feeds it to the voice where it can map IPA to the voice's
  own symbols (:func:`phonemes_for_voice`), else it speaks the element's text and logs so;
* ``mark name`` — a position between segments (the next segment's ``marks``);
* ``emphasis`` (a little slower and louder), ``voice``, ``lang``, ``w``, ``token``, ``audio``
  (its fallback content), ``desc``/``meta``/``metadata``/``lexicon`` (skipped) — accepted.

Robustness: anything else — text that is not XML, an unknown element, a DOCTYPE or entity
declaration, nesting deeper than :data:`MAX_DEPTH` — makes the whole document fall back to its
text content (tags stripped, the five XML entities and character references decoded) with a
logged warning: never silence, never an exception. A bad attribute value is ignored with a
warning. Safety: no DTD is read and no entity is ever expanded (the document is refused before
expat sees a DOCTYPE, and expat's entity handlers refuse too); documents over
:data:`MAX_SSML_CHARS` raise :class:`TextTooLongError` before any parsing.
"""

from __future__ import annotations

import html
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final
from xml.parsers import expat

import numpy as np

from .errors import EmptyTextError, InputError, TextTooLongError
from .text import TextChunk
from .text import _numbers as N
from .text._tables import MONTHS
from .text.screenreader import CapitalMode, PunctuationMode, char_name, punctuate, spell
from .types import (
    MAX_PITCH_SEMITONES as MAX_PITCH,
)
from .types import (
    MAX_SPEED,
    MAX_VOLUME_DB,
    MIN_SPEED,
    MIN_VOLUME_DB,
    AudioChunk,
    CancelToken,
    PhonemeTiming,
    SpeakSettings,
    VoiceInfo,
    WordTiming,
)
from .types import (
    MIN_PITCH_SEMITONES as MIN_PITCH,
)

if TYPE_CHECKING:
    from .cache import PhraseCache
    from .engine import Engine
    from .voices.base import Voice

__all__ = [
    "MAX_BREAK_MS",
    "MAX_DEPTH",
    "MAX_SSML_CHARS",
    "MarkEvent",
    "SsmlDocument",
    "SsmlRun",
    "SsmlSegment",
    "ipa_to_espeak",
    "ipa_to_misaki",
    "parse_ssml",
    "phonemes_for_voice",
    "plan_runs",
    "speak_ssml",
    "strip_tags",
]

log = logging.getLogger("parley.ssml")

#: Documents longer than this (characters of markup and text) are refused before parsing.
MAX_SSML_CHARS: Final = 100_000
#: Element nesting deeper than this is treated as invalid (fallback to text).
MAX_DEPTH: Final = 64
#: A single break is at most this long.
MAX_BREAK_MS: Final = 10_000

BREAK_STRENGTH_MS: Final[dict[str, int]] = {
    "none": 0,
    "x-weak": 75,
    "weak": 150,
    "medium": 300,
    "strong": 600,
    "x-strong": 1000,
}
RATE_LABELS: Final[dict[str, float]] = {
    "x-slow": 0.5,
    "slow": 0.75,
    "medium": 1.0,
    "default": 1.0,
    "fast": 1.5,
    "x-fast": 2.0,
}
PITCH_LABELS: Final[dict[str, float]] = {
    "x-low": -6.0,
    "low": -3.0,
    "medium": 0.0,
    "default": 0.0,
    "high": 3.0,
    "x-high": 6.0,
}
VOLUME_LABELS: Final[dict[str, float]] = {
    "silent": -math.inf,
    "x-soft": -12.0,
    "soft": -6.0,
    "medium": 0.0,
    "default": 0.0,
    "loud": 6.0,
    "x-loud": 12.0,
}
#: Pitch given in Hz is converted to semitones against this nominal voice pitch.
NOMINAL_PITCH_HZ: Final = 200.0
#: ``emphasis`` levels: (rate multiplier, volume dB).
EMPHASIS: Final[dict[str, tuple[float, float]]] = {
    "strong": (0.85, 4.0),
    "moderate": (0.92, 2.0),
    "none": (1.0, 0.0),
    "reduced": (1.1, -3.0),
}

_TRANSPARENT: Final = frozenset({"speak", "voice", "lang", "w", "token", "audio"})
_SKIPPED: Final = frozenset({"desc", "meta", "metadata", "lexicon"})
_KNOWN: Final = (
    _TRANSPARENT
    | _SKIPPED
    | {
        "p",
        "paragraph",
        "s",
        "sentence",
        "break",
        "prosody",
        "say-as",
        "sub",
        "phoneme",
        "mark",
        "emphasis",
    }
)
_WS: Final = re.compile(r"\s+")
_SENTENCE_PUNCT: Final = frozenset(".!?…;:")


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SsmlSegment:
    """A piece of the document spoken with one set of overrides.

    text: speakable text (say-as expanded, sub alias applied, punctuation mode applied); may be
        "" for a segment that only carries a pause or marks. Segment texts concatenated are the
        document's speakable text (``SsmlDocument.text``).
    rate: speaking-rate multiplier on the request's speed (1.0 = unchanged).
    pitch_semitones: added to the request's pitch.
    volume_db: added to the request's volume; ``-inf`` = silent (the time passes, nothing heard).
    pause_ms: silence after this segment's text.
    marks: names of the ``<mark>``s reached just before this segment's text, in order.
    phonemes: IPA for the whole of ``text`` (a ``<phoneme>`` element), else None.
    """

    text: str = ""
    rate: float = 1.0
    pitch_semitones: float = 0.0
    volume_db: float = 0.0
    pause_ms: int = 0
    marks: tuple[str, ...] = ()
    phonemes: str | None = None

    @property
    def prosody(self) -> tuple[float, float, float]:
        return (self.rate, self.pitch_semitones, self.volume_db)


@dataclass(frozen=True)
class SsmlDocument:
    """Result of :func:`parse_ssml`.

    segments: in document order.
    fallback: True if the markup could not be used and ``segments`` hold its bare text.
    warnings: what was ignored or why the document fell back (also logged).
    """

    segments: tuple[SsmlSegment, ...]
    fallback: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    @property
    def marks(self) -> tuple[str, ...]:
        return tuple(m for s in self.segments for m in s.marks)


@dataclass(frozen=True)
class SsmlRun:
    """Consecutive segments with the same prosody and no pause between them: one engine call.

    text: the segments' texts joined; start_char: where ``text`` starts in the document text.
    marks: (offset in ``text``, name) — a mark is reached where the first word at or after its
        offset starts; a mark at ``len(text)`` is reached when the run's audio ends.
    phonemes: (start, end, IPA) spans of ``text`` to be spoken from the IPA.
    pause_after_ms: silence after the run's audio.
    """

    text: str
    start_char: int = 0
    rate: float = 1.0
    pitch_semitones: float = 0.0
    volume_db: float = 0.0
    marks: tuple[tuple[int, str], ...] = ()
    phonemes: tuple[tuple[int, int, str], ...] = ()
    pause_after_ms: int = 0

    @property
    def silent(self) -> bool:
        return self.volume_db == -math.inf


@dataclass(frozen=True)
class MarkEvent:
    """A ``<mark>`` reached: ``sample_offset`` is the index in the request's stream (the same
    coordinates as ``AudioChunk.start_sample``) of the first sample spoken after the mark."""

    name: str
    sample_offset: int


# ------------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """The document cannot be used as SSML (caught inside this module: it never escapes)."""


@dataclass
class _Style:
    rate: float = 1.0
    pitch: float = 0.0
    volume: float = 0.0


@dataclass
class _Builder:
    capitals: str
    punctuation: str
    segments: list[SsmlSegment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pending_marks: list[str] = field(default_factory=list)

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)

    def add_text(self, text: str, style: _Style, phonemes: str | None = None) -> None:
        if not text:
            return
        seg = SsmlSegment(
            text,
            style.rate,
            style.pitch,
            style.volume,
            0,
            tuple(self.pending_marks),
            phonemes,
        )
        self.pending_marks.clear()
        last = self.segments[-1] if self.segments else None
        # merge into the previous segment when nothing separates them
        if (
            last is not None
            and not seg.marks
            and last.pause_ms == 0
            and last.phonemes is None
            and phonemes is None
            and (last.prosody == seg.prosody or not text.strip())  # spaces take any prosody
        ):
            self.segments[-1] = replace(last, text=last.text + text)
        else:
            self.segments.append(seg)

    def add_words(self, text: str, style: _Style) -> None:
        """Text generated from an element (say-as, spelling): kept apart from the text before it."""
        last = self.segments[-1].text if self.segments else ""
        if last and not last[-1].isspace() and text[:1].isalnum():
            text = " " + text
        self.add_text(text, style)

    def add_break(self, ms: int) -> None:
        if ms <= 0:
            return
        if self.pending_marks or not self.segments:
            self.segments.append(SsmlSegment("", pause_ms=ms, marks=tuple(self.pending_marks)))
            self.pending_marks.clear()
        else:
            last = self.segments[-1]
            self.segments[-1] = replace(last, pause_ms=min(MAX_BREAK_MS, last.pause_ms + ms))

    def end_sentence(self) -> None:
        """Close a sentence: a full stop if the text does not already end with punctuation."""
        if not self.segments:
            return
        last = self.segments[-1]
        stripped = last.text.rstrip()
        if stripped and stripped[-1] not in _SENTENCE_PUNCT and not stripped.endswith("\n"):
            # a phoneme segment keeps its text (it is the IPA's label): the stop goes after it
            if last.phonemes is None:
                self.segments[-1] = replace(last, text=stripped + ". ")
            else:
                self.segments.append(replace(last, text=". ", phonemes=None, marks=(), pause_ms=0))
                self.segments[-2] = replace(last, pause_ms=0)
                self.segments[-1] = replace(self.segments[-1], pause_ms=last.pause_ms)
        elif stripped and not last.text.endswith(" "):
            self.segments[-1] = replace(last, text=last.text + " ")

    def end_paragraph(self) -> None:
        self.end_sentence()
        if self.segments and self.segments[-1].text.strip():
            last = self.segments[-1]
            if last.phonemes is None:
                self.segments[-1] = replace(last, text=last.text.rstrip() + "\n\n")

    def finish(self) -> list[SsmlSegment]:
        if self.pending_marks:
            self.segments.append(SsmlSegment("", marks=tuple(self.pending_marks)))
            self.pending_marks.clear()
        return self.segments


def _local(tag: object) -> str:
    """Element name without its namespace ('{http://www.w3.org/2001/10/synthesis}speak' -> 'speak')."""
    if not isinstance(tag, str):
        return ""  # comments and processing instructions
    return tag.rsplit("}", 1)[-1].lower()


def _attr(el: ET.Element, name: str) -> str | None:
    for k, v in el.attrib.items():
        if k.rsplit("}", 1)[-1].lower() == name:
            return v.strip()
    return None


def _collapse(text: str | None) -> str:
    return _WS.sub(" ", text) if text else ""


_NUMBER: Final = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)$")


def _parse_number(s: str) -> tuple[str, float] | None:
    m = _NUMBER.match(s)
    if not m:
        return None
    return m.group(1), float(m.group(2))


def parse_rate(value: str) -> float | None:
    """SSML rate -> multiplier (None if not understood)."""
    v = value.strip().lower()
    if v in RATE_LABELS:
        return RATE_LABELS[v]
    if v.endswith("%"):
        p = _parse_number(v[:-1])
        if p is None:
            return None
        sign, x = p
        r = 1.0 + x / 100 if sign == "+" else 1.0 - x / 100 if sign == "-" else x / 100
    else:
        p = _parse_number(v.removesuffix("x"))
        if p is None:
            return None
        sign, x = p
        r = x if not sign else 1.0 + (x if sign == "+" else -x)
    return r if r > 0 else None


def parse_pitch(value: str) -> float | None:
    """SSML pitch -> semitones (None if not understood)."""
    v = value.strip().lower()
    if v in PITCH_LABELS:
        return PITCH_LABELS[v]
    if v.endswith("st"):
        p = _parse_number(v[:-2])
        return None if p is None else (-p[1] if p[0] == "-" else p[1])
    if v.endswith("%"):
        p = _parse_number(v[:-1])
        if p is None:
            return None
        ratio = 1.0 + (p[1] if p[0] != "-" else -p[1]) / 100
        return 12 * math.log2(ratio) if ratio > 0 else None
    if v.endswith("hz"):
        p = _parse_number(v[:-2])
        if p is None:
            return None
        sign, x = p
        hz = NOMINAL_PITCH_HZ + (x if sign == "+" else -x) if sign else x
        return 12 * math.log2(hz / NOMINAL_PITCH_HZ) if hz > 0 else None
    return None


def parse_volume(value: str) -> float | None:
    """SSML volume -> dB (``-inf`` for silent; None if not understood)."""
    v = value.strip().lower()
    if v in VOLUME_LABELS:
        return VOLUME_LABELS[v]
    if v.endswith("db"):
        p = _parse_number(v[:-2])
        return None if p is None else (-p[1] if p[0] == "-" else p[1])
    if v.endswith("%"):
        p = _parse_number(v[:-1])
        if p is None:
            return None
        ratio = 1.0 + (p[1] if p[0] != "-" else -p[1]) / 100 if p[0] else p[1] / 100
        return 20 * math.log10(ratio) if ratio > 0 else -math.inf
    p = _parse_number(v)
    if p is None:
        return None
    # "+10" / "-10": a relative change on the 0-100 scale; "50": a level on it
    level = 100 + (p[1] if p[0] == "+" else -p[1]) if p[0] else p[1]
    return 20 * math.log10(level / 100) if level > 0 else -math.inf


def parse_time_ms(value: str) -> int | None:
    """SSML time ("250ms", "1.5s", "2") -> milliseconds, clamped to MAX_BREAK_MS."""
    v = value.strip().lower()
    scale = 1.0
    if v.endswith("ms"):
        v = v[:-2]
    elif v.endswith("s"):
        v, scale = v[:-1], 1000.0
    p = _parse_number(v.strip())
    if p is None or p[0] == "-":
        return None
    return int(min(MAX_BREAK_MS, round(p[1] * scale)))


# -- say-as ---------------------------------------------------------------------------------------


def _spelled(text: str, capitals: str, style: _Style, b: _Builder) -> None:
    """Every character by name, separated by commas; icon-mode capitals as their own segments."""
    chars = [c for c in spell(text.strip(), capitals) if c.char.strip() or c.char in "\t\n"]
    buf: list[str] = []
    for i, c in enumerate(chars):
        sep = ", " if i < len(chars) - 1 else " "
        if c.pitch_semitones:
            if buf:
                b.add_words("".join(buf), style)
                buf = []
            raised = _Style(style.rate, style.pitch + c.pitch_semitones, style.volume)
            b.add_words(c.text + sep, raised)
        else:
            buf.append(c.text + sep)
    if buf:
        b.add_words("".join(buf), style)


def say_digits(text: str) -> str:
    """'123' -> 'one two three'; other characters by name, spaces kept as pauses."""
    out = []
    for c in text.strip():
        if c.isspace():
            continue
        out.append(N.digits(c) if c.isdigit() and c.isascii() else _char(c))
    return " ".join(out)


def _char(c: str) -> str:
    return char_name(c)


_INT: Final = re.compile(r"^[+-]?\d[\d,  ]*$")


def say_cardinal(text: str) -> str:
    t = text.strip()
    if _INT.match(t):
        n = int(re.sub(r"[,  +]", "", t))
        return N.cardinal(n)
    m = re.match(r"^([+-]?)([\d,]*)\.(\d+)$", t)
    if m:
        words = N.decimal(m.group(2), m.group(3))
        return ("minus " if m.group(1) == "-" else "") + words
    return t


def say_ordinal(text: str) -> str:
    t = re.sub(r"(?i)(st|nd|rd|th|\.)$", "", text.strip())
    if _INT.match(t) and not t.startswith("-"):
        return N.ordinal(int(re.sub(r"[,  +]", "", t)))
    return text.strip()


def say_telephone(text: str) -> str:
    """Digits one by one, groups (split at spaces, dashes, dots, brackets) separated by commas."""
    t = text.strip()
    groups = [g for g in re.split(r"[\s\-.()/]+", t) if g]
    out = []
    for g in groups:
        words = []
        for c in g:
            if c.isdigit():
                words.append(N.digits(c))
            elif c == "+":
                words.append("plus")
            elif c.isalpha():
                words.append(_char(c))
            elif c in "#*":
                words.append("pound" if c == "#" else "star")
        if words:
            out.append(" ".join(words))
    return ", ".join(out) if out else t


def say_date(text: str, fmt: str | None) -> str:
    """A numeric date in ``fmt`` (mdy, dmy, ymd, md, dm, ym, my, d, m, y) -> words."""
    fmt = (fmt or "mdy").lower()
    parts = [p for p in re.split(r"[\s/\-.]+", text.strip()) if p]
    if len(parts) != len(fmt) or not all(p.isdigit() for p in parts) or set(fmt) - set("dmy"):
        return text.strip()
    vals = dict(zip(fmt, parts, strict=True))
    month = day = None
    if "m" in vals:
        m = int(vals["m"])
        if not 1 <= m <= 12:
            return text.strip()
        month = MONTHS[m - 1]
    if "d" in vals:
        d = int(vals["d"])
        if not 1 <= d <= 31:
            return text.strip()
        day = N.ordinal(d)
    year = None
    if "y" in vals:
        y = vals["y"]
        year = N.year_2digit(y) if len(y) == 2 else N.year(int(y))
    if month and day:
        head = f"{month} {day}"
        return f"{head}, {year}" if year else head
    if month:
        return f"{month} {year}" if year else month
    if day:
        return f"the {day}"
    return year or text.strip()


_TIME: Final = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap]\.?m\.?)?$", re.I)


def say_time(text: str) -> str:
    """'10:30' -> 'ten thirty', '14:05' -> 'fourteen oh five', '9pm' -> 'nine PM'."""
    t = text.strip()
    m = _TIME.match(t)
    if not m:
        return t
    h, mi, s, ap = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    words = [N.cardinal(h)]
    if mi is not None and int(mi) != 0:
        words.append(("oh " + N.cardinal(int(mi))) if int(mi) < 10 else N.cardinal(int(mi)))
    elif mi is not None and not ap and s is None:
        words.append("hundred" if h > 12 else "o'clock")
    if s is not None and int(s):
        words.append(f"and {N.cardinal(int(s))} second" + ("s" if int(s) != 1 else ""))
    if ap:
        words.append("AM" if ap.lower().startswith("a") else "PM")
    return " ".join(words)


# -- walking the tree -----------------------------------------------------------------------------


def _walk(el: ET.Element, style: _Style, b: _Builder, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Invalid(f"elements nested deeper than {MAX_DEPTH}")
    tag = _local(el.tag)
    if not tag:  # comment or processing instruction: only its tail counts
        return
    if tag not in _KNOWN:
        raise _Invalid(f"unknown element <{tag}>")
    if tag in _SKIPPED:
        return
    if tag == "mark":
        name = _attr(el, "name")
        if name is None:
            b.warn("<mark> without a name ignored")
        else:
            b.pending_marks.append(name)
        return
    if tag == "break":
        ms: int | None = None
        t, strength = _attr(el, "time"), _attr(el, "strength")
        if t is not None:
            ms = parse_time_ms(t)
            if ms is None:
                b.warn(f"<break time={t!r}> not understood; medium break used")
        if ms is None and strength is not None:
            ms = BREAK_STRENGTH_MS.get(strength.lower())
            if ms is None:
                b.warn(f"<break strength={strength!r}> not understood; medium break used")
        b.add_break(BREAK_STRENGTH_MS["medium"] if ms is None else ms)
        return
    if tag in ("sub", "say-as", "phoneme"):
        content = _collapse("".join(el.itertext()))
        if tag == "sub":
            alias = _attr(el, "alias")
            b.add_text(_collapse(alias) if alias is not None else content, style)
        elif tag == "phoneme":
            ph = _attr(el, "ph")
            alphabet = (_attr(el, "alphabet") or "ipa").lower()
            if ph and alphabet in ("ipa", "x-ipa") and content.strip():
                b.add_text(content, style, phonemes=ph)
            else:
                if ph:
                    b.warn(f"<phoneme alphabet={alphabet!r}> is not IPA; its text is spoken")
                b.add_text(content, style)
        else:
            _say_as(el, content, style, b)
        return

    inner = style
    if tag == "prosody":
        inner = _Style(style.rate, style.pitch, style.volume)
        for name, parse in (("rate", parse_rate), ("pitch", parse_pitch), ("volume", parse_volume)):
            raw = _attr(el, name)
            if raw is None:
                continue
            val = parse(raw)
            if val is None:
                b.warn(f"<prosody {name}={raw!r}> not understood; ignored")
            elif name == "rate":
                inner.rate *= val
            elif name == "pitch":
                inner.pitch += val
            else:
                inner.volume += val
    elif tag == "emphasis":
        rate, vol = EMPHASIS.get((_attr(el, "level") or "moderate").lower(), EMPHASIS["moderate"])
        inner = _Style(style.rate * rate, style.pitch, style.volume + vol)

    b.add_text(_punct(_collapse(el.text), b), inner)
    for child in el:
        _walk(child, inner, b, depth + 1)
        b.add_text(_punct(_collapse(child.tail), b), inner)
    if tag in ("s", "sentence"):
        b.end_sentence()
    elif tag in ("p", "paragraph"):
        b.end_paragraph()


def _punct(text: str, b: _Builder) -> str:
    if b.punctuation == "none" or not text.strip():
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return lead + punctuate(text.strip(), b.punctuation) + trail


def _say_as(el: ET.Element, content: str, style: _Style, b: _Builder) -> None:
    kind = (_attr(el, "interpret-as") or "").lower()
    fmt = _attr(el, "format")
    if kind in ("characters", "spell-out", "letters", "verbatim", "spell"):
        _spelled(content, b.capitals, style, b)
        return
    reader = {
        "digits": say_digits,
        "cardinal": say_cardinal,
        "number": say_cardinal,
        "ordinal": say_ordinal,
        "telephone": say_telephone,
        "time": say_time,
    }.get(kind)
    if kind == "date":
        out = say_date(content, fmt)
    elif reader is not None:
        out = reader(content)
    else:
        if kind:
            b.warn(f"<say-as interpret-as={kind!r}> not supported; read as plain text")
        out = content
    # keep the surrounding spacing of the content so words do not run together
    lead = " " if content[:1] == " " else ""
    trail = " " if content[-1:] == " " else ""
    b.add_words(lead + out.strip() + trail, style)


_TAG: Final = re.compile(
    r"<!--.*?-->|<!\[CDATA\[(.*?)\]\]>|<!DOCTYPE(?:[^>\[]|\[[^\]]*\])*>|<[^>]*>", re.S | re.I
)


def strip_tags(ssml: str) -> str:
    """The text content of (possibly broken) markup: tags, comments and DOCTYPEs removed, CDATA
    kept, the XML entities and character references decoded (no other entity is expanded)."""

    def repl(m: re.Match[str]) -> str:
        return m.group(1) if m.group(1) is not None else " "

    text = _TAG.sub(repl, ssml)
    text = re.sub(r"&(#\d+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);", lambda m: html.unescape(m.group(0)), text)
    return _WS.sub(" ", text).strip()


def _refuse(*_: object) -> int:
    raise _Invalid("entity or DTD declarations are not accepted")


def _parse_xml(ssml: str) -> ET.Element:
    """expat straight into a TreeBuilder, with every DTD and entity hook refusing."""
    if re.search(r"<!DOCTYPE|<!ENTITY", ssml, re.I):
        raise _Invalid("a DOCTYPE or entity declaration (refused: no DTD is read, no entity expanded)")
    tb = ET.TreeBuilder()
    p = expat.ParserCreate(namespace_separator="}")
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    p.StartDoctypeDeclHandler = _refuse
    p.EntityDeclHandler = _refuse
    p.UnparsedEntityDeclHandler = _refuse
    p.ExternalEntityRefHandler = _refuse
    p.StartElementHandler = tb.start
    p.EndElementHandler = tb.end
    p.CharacterDataHandler = tb.data
    try:
        p.Parse(ssml, True)
    except expat.ExpatError as e:
        raise _Invalid(f"not well-formed XML: {e}") from None
    return tb.close()


def parse_ssml(
    ssml: str,
    *,
    capitals: CapitalMode | str = "none",
    punctuation: PunctuationMode | str = "none",
    max_chars: int = MAX_SSML_CHARS,
) -> SsmlDocument:
    """Parse an SSML document into segments (see the module docstring). Never raises for any
    content; raises :class:`TextTooLongError` (before parsing) when ``len(ssml) > max_chars``.

    capitals: how ``say-as`` spelling conveys capital letters ("none", "spell", "icon").
    punctuation: punctuation level applied to the document's plain text ("none", "some", "most",
        "all"; say-as, sub and phoneme content is not touched).

    Text without any markup (no "<") is read as plain text, not as a fallback.
    """
    if len(ssml) > max_chars:
        raise TextTooLongError(f"SSML has {len(ssml)} characters; the limit is {max_chars}", field="ssml")
    b = _Builder(capitals=str(capitals), punctuation=str(punctuation))
    if "<" not in ssml:
        text = html.unescape(ssml) if "&" in ssml else ssml
        b.add_text(_punct(text.strip(), b), _Style())
        return SsmlDocument(tuple(b.finish()))
    try:
        root = _parse_xml(ssml.strip())
        _walk(root, _Style(), b, 0)
        segments = _tidy(b.finish())
        if b.warnings:
            for w in b.warnings:
                log.warning("SSML: %s", w)
        return SsmlDocument(tuple(segments), False, tuple(b.warnings))
    except (_Invalid, RecursionError, ValueError) as e:
        reason = str(e) if not isinstance(e, RecursionError) else "nesting too deep"
        log.warning("SSML not usable (%s); speaking its text content instead", reason)
        fb = _Builder(capitals=str(capitals), punctuation=str(punctuation))
        fb.add_text(_punct(strip_tags(ssml), fb), _Style())
        return SsmlDocument(tuple(fb.finish()), True, (reason,))


def _tidy(segments: list[SsmlSegment]) -> list[SsmlSegment]:
    """Leading whitespace of the document dropped, trailing whitespace of the last text dropped."""
    out = list(segments)
    for i, s in enumerate(out):
        if s.text.strip():
            out[i] = replace(s, text=s.text.lstrip())
            break
        if s.text:
            out[i] = replace(s, text="")
    for i in range(len(out) - 1, -1, -1):
        if out[i].text.strip():
            out[i] = replace(out[i], text=out[i].text.rstrip())
            break
    return out


# ------------------------------------------------------------------------------------------------
# Runs: what the engine synthesises
# ------------------------------------------------------------------------------------------------


def plan_runs(segments: Iterable[SsmlSegment]) -> list[SsmlRun]:
    """Group consecutive segments with equal prosody and no pause between them into runs.

    A run is spoken by one engine call, so its sentences keep their natural prosody across marks
    and phoneme overrides; marks become offsets into the run's text. A run ends after a segment
    with a pause (the pause follows it) and where the prosody changes. Runs' texts concatenated
    are the document's text (``start_char`` says where each begins).
    """
    runs: list[SsmlRun] = []
    cur: SsmlRun | None = None
    doc_pos = 0
    for seg in segments:
        if cur is not None and (seg.prosody != (cur.rate, cur.pitch_semitones, cur.volume_db)) and seg.text:
            if cur.text or cur.pause_after_ms or cur.marks:
                runs.append(cur)
            cur = None
        if cur is None:
            cur = SsmlRun("", doc_pos, seg.rate, seg.pitch_semitones, seg.volume_db)
        at = len(cur.text)
        marks = cur.marks + tuple((at, m) for m in seg.marks)
        phonemes = cur.phonemes
        if seg.phonemes is not None and seg.text:
            phonemes += ((at, at + len(seg.text), seg.phonemes),)
        cur = replace(cur, text=cur.text + seg.text, marks=marks, phonemes=phonemes)
        doc_pos += len(seg.text)
        if seg.pause_ms:
            runs.append(replace(cur, pause_after_ms=min(MAX_BREAK_MS, seg.pause_ms)))
            cur = None
    if cur is not None and (cur.text or cur.marks or cur.pause_after_ms):
        runs.append(cur)
    return runs


# ------------------------------------------------------------------------------------------------
# IPA -> a voice's phoneme symbols
# ------------------------------------------------------------------------------------------------

_TIES: Final = ("\u0361", "\u035c", "‿", ".", "-")
#: IPA as commonly written for American English -> misaki's symbols (Kokoro/hibari), longest first.
_IPA_MISAKI: Final[dict[str, str]] = {
    "t͡ʃ": "ʧ",
    "d͡ʒ": "ʤ",
    "tʃ": "ʧ",
    "dʒ": "ʤ",
    "eɪ": "A",
    "ei": "A",
    "aɪ": "I",
    "ai": "I",
    "ɑɪ": "I",
    "aʊ": "W",
    "au": "W",
    "oʊ": "O",
    "ou": "O",
    "əʊ": "O",
    "ɔɪ": "Y",
    "oi": "Y",
    "ɝː": "ɜɹ",
    "ɝ": "ɜɹ",
    "ɜːɹ": "ɜɹ",
    "ɜː": "ɜɹ",
    "ɚ": "əɹ",
    "ɪə": "ɪɹ",
    "eə": "ɛɹ",
    "ʊə": "ʊɹ",
    "n̩": "ᵊn",
    "l̩": "ᵊl",
    "m̩": "ᵊm",
    "ɫ": "l",
    "ʍ": "w",
    "ɒ": "ɑ",
    "r": "ɹ",
    "ɾ": "T",
    "g": "ɡ",
    "e": "ɛ",
    "o": "O",
    "a": "ɑ",
    "ɐ": "ə",
    "ː": "",
    "ˑ": "",
    "ʲ": "",
    "'": "ˈ",
    ",": "ˌ",
}
#: misaki's American English symbols (what Kokoro's and hibari's English voices were trained on).
MISAKI_US: Final = frozenset("AIOWYTbdfhijklmnprstuvwzæðŋɑɔəɛɜɡɪɹʃʊʌʒʤʧˈˌθᵊʔɾ ")
_IPA_ESPEAK: Final[dict[str, str]] = {
    "t͡ʃ": "tʃ",
    "d͡ʒ": "dʒ",
    "ɝ": "ɜː",
    "r": "ɹ",
    "g": "ɡ",
    "ɫ": "l",
    "'": "ˈ",
}


def _rewrite(ipa: str, table: dict[str, str]) -> str:
    keys = sorted(table, key=len, reverse=True)
    out = []
    i = 0
    s = ipa
    while i < len(s):
        for k in keys:
            if s.startswith(k, i):
                out.append(table[k])
                i += len(k)
                break
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def ipa_to_misaki(ipa: str) -> str:
    """IPA (as dictionaries write American English: /təˈmeɪtoʊ/, ties optional) -> misaki's
    symbols ('təmˈAtO'): diphthongs and affricates become single symbols, r-coloured vowels ɝ ɚ
    become ɜɹ əɹ, the flap ɾ becomes T, length marks go; stress marks move to the vowel as
    misaki writes them. Symbols with no misaki counterpart are dropped. Pure."""
    s = _WS.sub(" ", ipa.strip().strip("/[]")).strip()
    s = _rewrite(s, _IPA_MISAKI)  # tied affricates first ("t͡ʃ"), then untied digraphs
    s = s.replace(".", "").replace("-", "")
    s = "".join(c for c in s if c in MISAKI_US)
    return _stress_to_vowel(s)


_MISAKI_VOWELS: Final = frozenset("AIOWYæɑɔəɛɜɪʊʌiuᵊ")


def _stress_to_vowel(s: str) -> str:
    """IPA puts a stress mark before the syllable ('təˈmAtO'); misaki puts it before the
    syllable's vowel ('təmˈAtO')."""
    out: list[str] = []
    pending = ""
    for c in s:
        if c in "ˈˌ":
            pending = c
            continue
        if pending and (c in _MISAKI_VOWELS or c == " "):
            if c != " ":
                out.append(pending)
            pending = ""
        out.append(c)
    return "".join(out)


def ipa_to_espeak(ipa: str) -> str:
    """IPA -> espeak-ng's IPA conventions (what Piper voices read): ties and syllable dots
    removed, ɝ -> ɜː, r -> ɹ, g -> ɡ. Pure."""
    s = _WS.sub(" ", ipa.strip().strip("/[]")).strip()
    s = _rewrite(s, _IPA_ESPEAK)
    for t in _TIES:
        s = s.replace(t, "")
    return s


def phonemes_for_voice(info: VoiceInfo, ipa: str) -> str | None:
    """``ipa`` in the phoneme alphabet of the voice described by ``info``, or None when Parley
    cannot map IPA to that voice (its text is then spoken instead).

    hibari and Kokoro's English voices read misaki's symbols (:func:`ipa_to_misaki`); Piper
    voices read espeak-ng's IPA (:func:`ipa_to_espeak`). Kokoro's other languages: None.
    """
    if info.backend == "hibari" or (info.backend == "kokoro" and info.language.startswith("en")):
        out = ipa_to_misaki(ipa)
    elif info.backend == "piper":
        out = ipa_to_espeak(ipa)
    else:
        return None
    return out if any(c.isalpha() for c in out) else None


# ------------------------------------------------------------------------------------------------
# Speaking a document (the engine's ``stream_ssml``)
# ------------------------------------------------------------------------------------------------

#: Silence of a break is yielded in pieces of at most this many milliseconds.
SILENCE_CHUNK_MS: Final = 500


def chunk_phonemes(voice: Voice, chunk: TextChunk, spans: tuple[tuple[int, int, str], ...]) -> str:
    """The phonemes of one planned chunk where some character spans come with their own phonemes
    (in the voice's alphabet): the text between the spans goes through the voice's G2P, the spans
    are spliced in as given. A span not wholly inside the chunk is ignored (its text is read)."""
    inside = sorted(
        (a, b, ph) for a, b, ph in spans if chunk.start_char <= a < b <= chunk.end_char and ph.strip()
    )
    if not inside:
        return voice.phonemize(chunk.text)
    parts: list[str] = []
    cur = chunk.start_char
    for a, b, ph in inside:
        if a < cur:
            continue  # overlapping spans: the first one wins
        before = chunk.text[cur - chunk.start_char : a - chunk.start_char]
        if before.strip():
            parts.append(voice.phonemize(before))
        parts.append(ph.strip())
        cur = b
    after = chunk.text[cur - chunk.start_char :]
    if after.strip():
        parts.append(voice.phonemize(after))
    return " ".join(p for p in parts if p)


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def run_settings(base: SpeakSettings, run: SsmlRun) -> SpeakSettings:
    """The request's settings with a run's prosody applied, clamped to the settings' ranges (a
    silent run keeps the request's volume: its samples are zeroed instead)."""
    vol = base.volume_db if run.silent else base.volume_db + run.volume_db
    return SpeakSettings(
        speed=_clamp(float(base.speed) * run.rate, MIN_SPEED, MAX_SPEED),
        seed=base.seed,
        pitch_semitones=_clamp(float(base.pitch_semitones) + run.pitch_semitones, MIN_PITCH, MAX_PITCH),
        volume_db=_clamp(float(vol), MIN_VOLUME_DB, MAX_VOLUME_DB),
    )


def _shift_words(words: tuple[WordTiming, ...], samples: int, chars: int) -> tuple[WordTiming, ...]:
    return tuple(
        WordTiming(
            w.word,
            w.char_start + chars if w.char_start >= 0 else -1,
            w.char_end + chars if w.char_end >= 0 else -1,
            w.start_sample + samples,
            w.end_sample + samples,
            tuple(
                PhonemeTiming(p.phoneme, p.start_sample + samples, p.end_sample + samples) for p in w.phonemes
            ),
        )
        for w in words
    )


def speak_ssml(
    engine: Engine,
    ssml: str,
    voice: str | None = None,
    settings: SpeakSettings | None = None,
    cancel: CancelToken | None = None,
    *,
    punctuation: str = "none",
    capitals: str = "none",
    cache: PhraseCache | None = None,
) -> Iterator[AudioChunk | MarkEvent]:
    """``Engine.stream_ssml``: validate now, then return the stream.

    Raises now: UnknownVoiceError, InputError (not a string), EmptyTextError (blank input),
    TextTooLongError (over :data:`MAX_SSML_CHARS`, or speakable text over the engine's limit).
    Unusable markup is spoken as its text (see :func:`parse_ssml`).

    The stream: each run (see :func:`plan_runs`) through the engine with its prosody, then its
    break as silence (absolute: break times are not scaled by the speed). Chunks are contiguous
    (``start_sample`` counts the whole document), ``utterance_index`` counts on across runs, word
    timings' characters index ``parse_ssml(ssml).text``. A mark is yielded just before the chunk
    holding its sample: the start of the first word at or after the mark, or the end of the run's
    audio when no word follows within the run (voices without word timings: the start of the next
    utterance). Offsets never decrease. ``cancel`` ends the stream between chunks.
    """
    v = engine.voice(voice)
    if not isinstance(ssml, str):
        raise InputError("ssml must be a string", field="ssml")
    if not ssml.strip():
        raise EmptyTextError("ssml is empty: nothing to speak", field="ssml")
    doc = parse_ssml(ssml, capitals=capitals, punctuation=punctuation)
    if len(doc.text) > engine.MAX_TEXT_CHARS:
        raise TextTooLongError(
            f"the SSML's text has {len(doc.text)} characters; the limit is {engine.MAX_TEXT_CHARS}",
            field="ssml",
        )
    return _speak_runs(
        engine, v, plan_runs(doc.segments), settings or SpeakSettings(), cancel or CancelToken(), cache
    )


def _speak_runs(
    engine: Engine,
    v: Voice,
    runs: list[SsmlRun],
    base: SpeakSettings,
    cancel: CancelToken,
    cache: PhraseCache | None,
) -> Iterator[AudioChunk | MarkEvent]:
    sr = v.sample_rate_hz
    pos = 0  # samples of the document yielded so far
    idx_base = 0
    last_mark = 0
    warned_phonemes = False
    due: list[MarkEvent] = []  # marks placed, not yet yielded

    def resolve(name: str, at: int) -> None:
        nonlocal last_mark
        last_mark = max(last_mark, at)
        due.append(MarkEvent(name, last_mark))

    for run in runs:
        if cancel.cancelled:
            return
        pending = list(run.marks)  # (char offset in run.text, name), in document order
        run_len = 0
        plan = None
        if run.text.strip():
            try:
                plan = engine.plan(run.text, v.info.id, run_settings(base, run))
            except EmptyTextError:
                plan = None  # only punctuation: nothing to say
        if plan is not None:
            spans = []
            for a, b, ipa in run.phonemes:
                ph = phonemes_for_voice(v.info, ipa)
                if ph is None:
                    if not warned_phonemes:
                        log.warning("SSML <phoneme>: voice %s cannot read IPA; its text is spoken", v.info.id)
                        warned_phonemes = True
                else:
                    spans.append((a, b, ph))
            if spans:
                plan = replace(plan, phonemes=tuple(spans))
            use_cache = cache is not None and not spans and cache.accepts(run.text)
            source = (
                cache.stream(engine, run.text, v.info.id, plan.settings, cancel)
                if cache is not None and use_cache
                else engine._generate(plan, cancel)
            )
            started = -1  # last utterance seen with audio
            for c in source:
                audible = bool(np.any(c.samples))
                located = [w for w in c.words if w.char_start >= 0]
                if located:
                    for w in located:
                        while pending and pending[0][0] <= w.char_start:
                            resolve(pending.pop(0)[1], pos + w.start_sample)
                elif audible and c.utterance_index > started and c.utterance_index < len(plan.chunks):
                    first_char = plan.chunks[c.utterance_index].start_char
                    while pending and pending[0][0] <= first_char:
                        resolve(pending.pop(0)[1], pos + c.start_sample)
                if audible:
                    started = max(started, c.utterance_index)
                end = pos + c.start_sample + len(c.samples)
                while due and due[0].sample_offset < end:
                    yield due.pop(0)
                samples = np.zeros_like(c.samples) if run.silent else c.samples
                yield AudioChunk(
                    samples,
                    sr,
                    pos + c.start_sample,
                    idx_base + c.utterance_index,
                    _shift_words(c.words, pos, run.start_char) if c.words else (),
                )
                run_len = max(run_len, c.start_sample + len(c.samples))
            idx_base += len(plan.chunks)
        if cancel.cancelled:
            return
        pos += run_len
        for _, name in pending:  # no word after the mark within the run: the end of its audio
            resolve(name, pos)
        yield from due
        due.clear()
        silence = int(sr * run.pause_after_ms / 1000)
        piece = max(1, int(sr * SILENCE_CHUNK_MS / 1000))
        while silence > 0:
            if cancel.cancelled:
                return
            n = min(piece, silence)
            yield AudioChunk(np.zeros(n, np.float32), sr, pos, max(0, idx_base - 1))
            pos += n
            silence -= n
