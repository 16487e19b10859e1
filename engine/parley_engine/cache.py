"""A phrase cache: rendered audio of short phrases, served at once.

Screen readers speak the same short things all day (letters as they are typed, key names, "blank",
"link", "heading level two"). The cache keeps their rendered chunks, so a repeat costs a lookup and
a copy instead of a synthesis:

    cache = PhraseCache(max_bytes=64 << 20)
    cache.warm(engine, "phrases.txt", voice="heart", settings=SpeakSettings(speed=3.0))
    for chunk in engine.stream_cached("link", cache, voice="heart", settings=SpeakSettings(speed=3.0)):
        play(chunk.samples)        # the first chunk leaves within microseconds on a hit

Key: (voice id, the text normalised and its whitespace collapsed, speed, pitch, volume, seed); two
texts with the same normalised reading share an entry (on a hit for a different spelling the
word timings keep their times but lose their character offsets, which would be wrong).
Bounded by bytes of audio (least recently used entries leave first); a phrase larger than the
bound, or longer than ``max_phrase_chars``, is not stored. Thread-safe (one lock around the map;
synthesis happens outside it). Entries are immutable; a hit yields copies, so a caller that
modifies samples in place cannot change the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from .text import normalize
from .text.screenreader import key_text, spoken_char
from .types import AudioChunk, CancelToken, SpeakSettings, WordTiming

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["CacheStats", "CachedPhrase", "PhraseCache", "warm_texts"]

#: Per-entry bookkeeping counted on top of the audio bytes (key, chunk objects, word timings).
ENTRY_OVERHEAD_BYTES: Final = 512

#: Keys warmed besides the printable ASCII characters (SSIP KEY names a screen reader sends most).
WARM_KEYS: Final = (
    "space",
    "enter",
    "tab",
    "backspace",
    "escape",
    "delete",
    "insert",
    "home",
    "end",
    "prior",
    "next",
    "up",
    "down",
    "left",
    "right",
    "shift",
    "control",
    "alt",
    "super",
    "caps-lock",
    "num-lock",
    "menu",
    "double-quote",
    "underscore",
    *(f"f{i}" for i in range(1, 13)),
)

Key = tuple[str, str, float, float, float, int | None]


@dataclass(frozen=True)
class CachedPhrase:
    """One rendered phrase: its chunks as ``Engine.stream`` produced them (read-only samples),
    the text they were rendered from, and the bytes they hold."""

    text: str
    chunks: tuple[AudioChunk, ...]
    nbytes: int

    @property
    def samples(self) -> int:
        return sum(len(c.samples) for c in self.chunks)


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int


def _key_text(text: str) -> str:
    return " ".join(normalize(text).split())


def _without_chars(words: tuple[WordTiming, ...]) -> tuple[WordTiming, ...]:
    return tuple(replace(w, char_start=-1, char_end=-1) for w in words)


class PhraseCache:
    """A bounded, thread-safe LRU of rendered phrases (see the module docstring).

    max_bytes: bound on the audio bytes held (plus :data:`ENTRY_OVERHEAD_BYTES` per entry).
    max_phrase_chars: longer texts are streamed but never stored (a cache is for short phrases).
    """

    def __init__(self, max_bytes: int = 64 << 20, *, max_phrase_chars: int = 200) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.max_phrase_chars = int(max_phrase_chars)
        self._lock = threading.Lock()
        self._items: OrderedDict[Key, CachedPhrase] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    # -- keys and the map -------------------------------------------------------------------------
    @staticmethod
    def key(voice_id: str, text: str, settings: SpeakSettings | None = None) -> Key:
        s = settings or SpeakSettings()
        return (
            voice_id,
            _key_text(text),
            float(s.speed),
            float(s.pitch_semitones),
            float(s.volume_db),
            s.seed,
        )

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is short enough to be stored."""
        return 0 < len(text) <= self.max_phrase_chars

    def get(self, voice_id: str, text: str, settings: SpeakSettings | None = None) -> CachedPhrase | None:
        """The stored phrase (marked most recently used), or None. Counts a hit or a miss."""
        k = self.key(voice_id, text, settings)
        with self._lock:
            item = self._items.get(k)
            if item is None:
                self._misses += 1
                return None
            self._items.move_to_end(k)
            self._hits += 1
            return item

    def put(
        self, voice_id: str, text: str, settings: SpeakSettings | None, chunks: Iterable[AudioChunk]
    ) -> bool:
        """Store a phrase's chunks (copied, read-only); evicts least recently used entries to fit.
        False (nothing stored) when the phrase is too long or larger than the whole cache."""
        if not self.accepts(text):
            return False
        frozen = []
        nbytes = ENTRY_OVERHEAD_BYTES
        for c in chunks:
            x = np.array(c.samples, dtype=np.float32, copy=True)
            x.setflags(write=False)
            frozen.append(replace(c, samples=x))
            nbytes += x.nbytes
        if nbytes > self.max_bytes:
            return False
        item = CachedPhrase(text, tuple(frozen), nbytes)
        k = self.key(voice_id, text, settings)
        with self._lock:
            old = self._items.pop(k, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[k] = item
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                _, gone = self._items.popitem(last=False)
                self._bytes -= gone.nbytes
                self._evictions += 1
        return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                len(self._items), self._bytes, self.max_bytes, self._hits, self._misses, self._evictions
            )

    # -- serving ----------------------------------------------------------------------------------
    def stream(
        self,
        engine: Engine,
        text: str,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[AudioChunk]:
        """``engine.stream`` through the cache. A hit yields copies of the stored chunks (nothing is
        synthesised); a miss validates like ``engine.stream`` (raising now), streams, and stores
        the audio if the stream ran to its end uncancelled. ``cancel`` is honoured either way."""
        vid = engine.voice(voice).info.id
        settings = settings or SpeakSettings()
        cancel = cancel or CancelToken()
        item = self.get(vid, text, settings) if self.accepts(text) else None
        if item is not None:
            return self._replay(item, text, cancel)
        return self._record(engine.stream(text, vid, settings, cancel), vid, text, settings, cancel)

    def _replay(self, item: CachedPhrase, text: str, cancel: CancelToken) -> Iterator[AudioChunk]:
        same_text = item.text == text
        for c in item.chunks:
            if cancel.cancelled:
                return
            words = c.words if same_text or not c.words else _without_chars(c.words)
            yield replace(c, samples=c.samples.copy(), words=words)

    def _record(
        self,
        chunks: Iterator[AudioChunk],
        vid: str,
        text: str,
        settings: SpeakSettings,
        cancel: CancelToken,
    ) -> Iterator[AudioChunk]:
        kept: list[AudioChunk] = []
        for c in chunks:
            if self.accepts(text):
                kept.append(c)
            yield c
        if not cancel.cancelled and kept:
            self.put(vid, text, settings, kept)

    def render(
        self, engine: Engine, text: str, voice: str | None = None, settings: SpeakSettings | None = None
    ) -> CachedPhrase | None:
        """Synthesise ``text`` now (unless cached) and return its entry (None if not storable)."""
        vid = engine.voice(voice).info.id
        settings = settings or SpeakSettings()
        item = self.get(vid, text, settings)
        if item is None and self.accepts(text):
            self.put(vid, text, settings, list(engine.stream(text, vid, settings)))
            k = self.key(vid, text, settings)
            with self._lock:
                item = self._items.get(k)
        return item

    def warm(
        self,
        engine: Engine,
        phrases_file: str | Path | None = None,
        *,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        characters: bool = True,
        keys: bool = True,
        capitals: str = "none",
        cancel: CancelToken | None = None,
    ) -> int:
        """Pre-render the phrases of ``phrases_file`` (UTF-8, one per line; blank lines skipped),
        then, with ``characters``, every printable ASCII character as :func:`spoken_char` names it
        (capital letters per ``capitals``: "icon" renders them at the raised pitch), and, with
        ``keys``, the common key names (:data:`WARM_KEYS` through :func:`key_text`). Texts already
        cached are skipped. Returns how many entries were rendered. Synthesises on the calling
        thread (seconds for a few hundred phrases): call it from a worker at start-up.
        """
        settings = settings or SpeakSettings()
        cancel = cancel or CancelToken()
        todo = warm_texts(phrases_file, characters=characters, keys=keys, capitals=capitals)
        vid = engine.voice(voice).info.id
        done = 0
        for text, pitch in todo:
            if cancel.cancelled:
                break
            s = settings
            if pitch:
                raised = min(12.0, float(settings.pitch_semitones) + pitch)
                s = replace(settings, pitch_semitones=raised)
            if self.key(vid, text, s) in self:
                continue
            if self.render(engine, text, vid, s) is not None:
                done += 1
        return done


def warm_texts(
    phrases_file: str | Path | None = None,
    *,
    characters: bool = True,
    keys: bool = True,
    capitals: str = "none",
) -> list[tuple[str, float]]:
    """(text, extra pitch in semitones) for everything :meth:`PhraseCache.warm` renders, in order,
    without duplicates."""
    out: dict[tuple[str, float], None] = {}
    if phrases_file is not None:
        for line in Path(phrases_file).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out[(line.strip(), 0.0)] = None
    if characters:
        for code in range(0x20, 0x7F):
            sc = spoken_char(chr(code), capitals)
            out[(sc.text, sc.pitch_semitones)] = None
    if keys:
        for k in WARM_KEYS:
            out[(key_text(k), 0.0)] = None
    return list(out)
