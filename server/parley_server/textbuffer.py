"""Incremental text buffering for streamed input (LLM tokens) — pure, no I/O, no clock of its own.

A context of protocol v2 receives its text in pieces of any size. :class:`TextBuffer` decides
when a prefix of the unspoken text is ready to be spoken, as early as prosody allows:

    buf = TextBuffer(latency_budget_ms=500)
    buf.push("Well, I think", now_ms=0)       # -> []  ("Well," is 1 word: too short a clause)
    buf.push(" that we should", now_ms=40)    # -> []
    buf.push(" go. Then", now_ms=80)          # -> [Piece("Well, I think that we should go.", 0, 32, ...)]
    buf.push(" she", now_ms=100)              # -> []  ("Then" is complete, "she" may go on)
    buf.due_ms()                              # -> 580.0: "Then" arrived at 80, the budget is 500
    buf.poll(now_ms=580)                      # -> [Piece("Then", 33, 37, ...)]  (the budget ran out)
    buf.flush()                               # -> [Piece("she", ...)]: whatever is buffered, now
    buf.end()                                 # no more text: flush, and refuse further pushes

Rules, in order of preference (each ready piece is an exact slice of the whole text, trimmed):

1. **Sentence end.** Every sentence that :func:`parley_engine.text.split_sentences` closes is
   ready: a sentence followed by more visible text, or the last one when its end is certain: ``!``,
   ``?`` or ``…`` (with closing quotes) at the very end, or a terminal mark followed by whitespace
   that still ends the sentence before any capitalised word (the splitter decides abbreviations:
   "Dr. " waits for the next word, "there. " does not). A ``.`` with nothing after it waits for the
   next character ("3." may become "3.5", "example." may become "example.com").
2. **Clause end.** Otherwise, the unspoken text up to its *last* clause boundary (``, ;`` — as soon
   as they arrive after a word without digits; ``: )`` dashes and commas after numbers once the next
   character shows they are boundaries: "1, 2" is not one) is ready, if it holds at least
   ``min_clause_words`` words.
3. **Latency budget.** If ``latency_budget_ms`` is set and that long has passed since the first
   unspoken word arrived with neither boundary, the text up to the last *complete* word (one
   followed by whitespace) is ready. ``None`` waits for a boundary, ``flush`` or ``end``.
4. **Length.** Unspoken text longer than ``max_piece_chars`` with no boundary is cut at its last
   complete word before the limit.

Pieces hold at least one letter or digit; text with none (a lone "—", an emoji) waits for the
next piece, and is dropped at ``flush``/``end`` if nothing speakable follows it. Only the unspoken
text is kept, so memory does not grow with the length of the context's whole text.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from parley_engine.text import split_sentences
from parley_engine.text.split import (
    PAUSE_CLAUSE_MS,
    PAUSE_COMMA_MS,
    PAUSE_DASH_MS,
    PAUSE_ELLIPSIS_MS,
    PAUSE_NONE_MS,
    PAUSE_SENTENCE_MS,
)

__all__ = ["Piece", "PieceReason", "TextBuffer"]

PieceReason: TypeAlias = Literal["sentence", "clause", "budget", "length", "flush", "end"]

_ALNUM: Final = re.compile(r"[^\W_]")
_DIGIT: Final = re.compile(r"\d")
_VISIBLE: Final = re.compile(r"\S")
_WORD: Final = re.compile(r"\S+")
# A clause mark and the closing quotes after it; "p" names the mark.
_CLAUSE: Final = re.compile(r"(?P<p>[,;:)]|(?<=\s)[-–]{1,2}|—)(?P<close>[\"'”’]*)")
# Marks that end a sentence whatever comes next (with closing quotes/brackets), at the very end.
_SURE_END: Final = re.compile(r"(?P<mark>[!?…]+)[\"'”’)\]»›]*$")
_TERMINAL_END: Final = re.compile(r"[.!?…]+[\"'”’)\]»›]*$")
# A capitalised word that starts no sentence and is no abbreviation: if a mark ends the sentence
# before it, the mark ends it before any capitalised word.
_PROBE: Final = "Zyx"


@dataclass(frozen=True)
class Piece:
    """A prefix of a context's unspoken text that is ready to be spoken.

    text: exactly ``whole_text[start_char:end_char]``, where ``whole_text`` is everything pushed
        into the buffer so far; no leading/trailing whitespace; holds a letter or digit.
    start_char, end_char: offsets in the context's whole text (Python ``str`` indices).
    pause_after_ms: silence that belongs after this piece at speed 1.0 (the splitter's pause
        classes: sentence, clause, comma, dash, line, paragraph; 0 for a cut inside a clause).
    reason: which rule made it ready (see the module docs).
    """

    text: str
    start_char: int
    end_char: int
    pause_after_ms: int
    reason: PieceReason


def _mark_pause(mark: str) -> int:
    if mark in (",", ")"):
        return PAUSE_COMMA_MS
    if mark in (";", ":"):
        return PAUSE_CLAUSE_MS
    return PAUSE_DASH_MS


def _tail_pause(text: str) -> int:
    """Pause after text that was cut where it ends (flush, end): by its last punctuation."""
    stripped = text.rstrip()
    m = _TERMINAL_END.search(stripped)
    if m is not None:
        return PAUSE_ELLIPSIS_MS if ("…" in m.group() or ".." in m.group()) else PAUSE_SENTENCE_MS
    last = stripped.rstrip("\"'”’")[-1:]
    if last in (",", ")", ";", ":", "—", "–", "-"):
        return _mark_pause(last)
    return PAUSE_NONE_MS


class TextBuffer:
    """Buffers a context's streamed text and releases it in speakable pieces (see module docs).

    latency_budget_ms: how long the first unspoken word may wait for a clause or sentence boundary
        before the text up to the last complete word is spoken anyway; None = no budget.
    min_clause_words: fewest words a clause piece may hold ("Well," alone waits for more).
    max_piece_chars: longest unspoken text kept without a boundary before it is cut at a word.

    Times (``now_ms``) are on any monotonic scale the caller likes, in milliseconds. Not
    thread-safe: one buffer per context, used by one caller.
    """

    def __init__(
        self,
        *,
        latency_budget_ms: float | None = 500.0,
        min_clause_words: int = 3,
        max_piece_chars: int = 300,
    ) -> None:
        if latency_budget_ms is not None and not (
            math.isfinite(latency_budget_ms) and latency_budget_ms >= 0
        ):
            raise ValueError(f"latency_budget_ms must be >= 0 or None, got {latency_budget_ms}")
        if min_clause_words < 1:
            raise ValueError(f"min_clause_words must be >= 1, got {min_clause_words}")
        if max_piece_chars < 16:
            raise ValueError(f"max_piece_chars must be >= 16, got {max_piece_chars}")
        self.latency_budget_ms = latency_budget_ms
        self.min_clause_words = min_clause_words
        self.max_piece_chars = max_piece_chars
        self._buf = ""  # unspoken text; _buf[0] is character _base of the whole text
        self._base = 0
        self._arrivals: deque[tuple[int, float]] = deque()  # (whole-text offset, now_ms) per push
        self._ended = False

    # -- introspection -------------------------------------------------------------------------

    @property
    def unspoken(self) -> str:
        """Text received and not released in a piece yet."""
        return self._buf

    @property
    def chars_received(self) -> int:
        """Length of the whole text pushed so far."""
        return self._base + len(self._buf)

    @property
    def ended(self) -> bool:
        return self._ended

    def due_ms(self) -> float | None:
        """When :meth:`poll` will release text because the latency budget ran out, or None when no
        budget is set or nothing could be released by it (no complete unspoken word yet: the next
        :meth:`push` checks the budget itself)."""
        if self.latency_budget_ms is None or self._last_word_end() is None:
            return None
        first = self._first_word_arrival()
        return None if first is None else first + self.latency_budget_ms

    # -- input ---------------------------------------------------------------------------------

    def push(self, text: str, now_ms: float) -> list[Piece]:
        """Append ``text`` (received at ``now_ms``); return the pieces that are now ready."""
        if self._ended:
            raise ValueError("push() after end()")
        if text:
            self._arrivals.append((self.chars_received, now_ms))
            self._buf += text
        return self._scan(now_ms)

    def poll(self, now_ms: float) -> list[Piece]:
        """The pieces ready at ``now_ms`` (call it at :meth:`due_ms`)."""
        return [] if self._ended else self._scan(now_ms)

    def flush(self) -> list[Piece]:
        """Release everything buffered now, one piece per sentence."""
        return self._release_all("flush")

    def end(self) -> list[Piece]:
        """No more text will come: release everything; later pushes raise ValueError."""
        pieces = self._release_all("end")
        self._ended = True
        return pieces

    # -- internals -----------------------------------------------------------------------------

    def _scan(self, now_ms: float) -> list[Piece]:
        out: list[Piece] = []
        self._sentences(out)
        self._clause(out)
        self._length(out)
        due = self.due_ms()
        if due is not None and now_ms >= due:
            cut = self._last_word_end()
            if cut is not None:
                self._emit(out, cut, _tail_pause(self._buf[:cut]), "budget")
        return out

    def _sentences(self, out: list[Piece]) -> None:
        """Release every sentence whose end is certain."""
        buf = self._buf
        if not _ALNUM.search(buf):
            return
        chunks = split_sentences(buf)
        ends = [(c.end_char, c.pause_after_ms) for c in chunks[:-1]]
        if chunks:
            last = chunks[-1]
            tail = buf[last.end_char :]
            sure = _SURE_END.search(buf, 0, last.end_char)
            if not tail and sure is not None and sure.end() == last.end_char:
                mark = sure.group("mark")
                ends.append((last.end_char, PAUSE_ELLIPSIS_MS if "…" in mark else PAUSE_SENTENCE_MS))
            elif tail:  # whitespace follows: does a sentence end there before any capitalised word?
                probe = split_sentences(buf + _PROBE)
                for c in probe:
                    if c.end_char == last.end_char and c.end_char < len(buf):
                        ends.append((c.end_char, c.pause_after_ms))
                        break
        # Release up to the last certain end, sentence by sentence (pieces stay utterance-sized).
        consumed = 0
        for end, pause in ends:
            if self._emit(out, end - consumed, pause, "sentence"):
                consumed = end  # (otherwise the unspeakable text joins the next sentence)

    def _clause(self, out: list[Piece]) -> None:
        buf = self._buf
        best: tuple[int, int] | None = None
        for m in _CLAUSE.finditer(buf):
            cut = m.end()
            after = buf[cut : cut + 1]
            mark = m.group("p")
            before = buf[: m.start()].rsplit(None, 1)[-1] if buf[: m.start()].strip() else ""
            digits = _DIGIT.search(before) is not None
            if not after:  # the mark is the last thing received
                if mark in (",", ";", "—") and not digits:
                    best = self._better(best, cut, mark)
                break
            if not after.isspace():
                continue
            if mark in (",", ":") and digits:
                nxt = _VISIBLE.search(buf, cut)
                if nxt is None:
                    break  # "3, " then a digit would make it a list of numbers: wait
                if buf[nxt.start()].isdigit():
                    continue
            best = self._better(best, cut, mark)
        if best is not None:
            self._emit(out, best[0], best[1], "clause")

    def _better(self, best: tuple[int, int] | None, cut: int, mark: str) -> tuple[int, int] | None:
        words = sum(1 for w in _WORD.findall(self._buf, 0, cut) if _ALNUM.search(w))
        return (cut, _mark_pause(mark)) if words >= self.min_clause_words else best

    def _length(self, out: list[Piece]) -> None:
        while len(self._buf.strip()) > self.max_piece_chars:
            lead = len(self._buf) - len(self._buf.lstrip())
            window = self._buf[lead : lead + self.max_piece_chars + 1]
            spaces = [m.start() for m in re.finditer(r"\s", window)]
            cut = lead + (spaces[-1] if spaces else self.max_piece_chars)
            if not self._emit(out, cut, PAUSE_NONE_MS, "length"):
                self._drop(cut)  # that much text with nothing speakable in it: drop it

    def _release_all(self, reason: PieceReason) -> list[Piece]:
        out: list[Piece] = []
        if self._ended:
            return out
        buf = self._buf
        chunks = split_sentences(buf) if _ALNUM.search(buf) else []
        consumed = 0
        for i, c in enumerate(chunks):
            last = i == len(chunks) - 1
            pause = _tail_pause(c.text) if last else c.pause_after_ms
            if self._emit(out, c.end_char - consumed, pause, reason):
                consumed = c.end_char
        self._drop(len(self._buf))
        return out

    def _emit(self, out: list[Piece], cut: int, pause_ms: int, reason: PieceReason) -> bool:
        """Release ``_buf[:cut]`` as a piece if it holds something speakable; returns whether it
        did (otherwise the text stays, to be spoken with what follows)."""
        head = self._buf[:cut]
        if not _ALNUM.search(head):
            return False
        a = len(head) - len(head.lstrip())
        b = len(head.rstrip())
        out.append(Piece(head[a:b], self._base + a, self._base + b, pause_ms, reason))
        self._drop(cut)
        return True

    def _drop(self, cut: int) -> None:
        self._buf = self._buf[cut:]
        self._base += cut
        # Keep the arrival of the push that holds the new first character.
        while len(self._arrivals) > 1 and self._arrivals[1][0] <= self._base:
            self._arrivals.popleft()

    def _first_word_arrival(self) -> float | None:
        m = _VISIBLE.search(self._buf)
        if m is None:
            return None
        at = self._base + m.start()
        t: float | None = None
        for offset, now in self._arrivals:
            if offset > at:
                break
            t = now
        return t

    def _last_word_end(self) -> int | None:
        """Offset (in ``_buf``) just past the last complete word with a letter or digit."""
        buf = self._buf
        i = len(buf)
        while i > 0 and not buf[i - 1].isspace():
            i -= 1  # skip the word still arriving (not followed by whitespace)
        head = buf[:i].rstrip()
        return len(head) if _ALNUM.search(head) else None
