"""Sentence and clause splitting with character offsets into the original text.

Two entry points:

* :func:`split_sentences` — sentences (and lines/paragraphs), respecting abbreviations ("Dr. Smith",
  "e.g. this", "U.S. Army"), decimals (3.14), initials ("J. K. Rowling"), ellipses, quotes and
  brackets after the terminal mark, and line breaks.
* :func:`plan_chunks` — the synthesis plan: sentences; a sentence longer than ``max_chars`` cut at
  clause punctuation and, failing that, at a word boundary; and the first chunk of the request cut
  early (after at least 3 words) so the first audio starts sooner.

Every chunk is an exact slice of the input: ``chunk.text == text[chunk.start_char:chunk.end_char]``,
chunks are in order, do not overlap, and together cover every non-whitespace character of the input.
Splitting works on the original text (not the normalised one) so that offsets stay exact; the
engine normalises each chunk afterwards.

Pauses (``pause_after_ms``) are the silence to insert after the chunk's audio at speed 1.0, once
the model's own leading/trailing silence has been trimmed. Values follow what read-speech studies
report: silent pauses cluster into brief (under ~200 ms, within sentences, at commas or not at
all), medium (a few hundred ms, at sentence boundaries) and long (paragraph and topic boundaries)
classes (Goldman-Eisler 1968; Campione & Véronis 2002, "A large-scale multilingual study of silent
pause duration"; Zvonik & Cummins 2003). We sit at the short end of each class because synthetic
speech already carries phrase-final lengthening, and listeners of an interactive engine prefer it
brisk; a forced split (no punctuation) gets no pause at all so the join is seamless.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from ..errors import InvalidSettingError
from ._boundary import period_ends_sentence
from ._tables import CONJUNCTIONS, PREPOSITIONS

__all__ = [
    "PAUSE_CLAUSE_MS",
    "PAUSE_COMMA_MS",
    "PAUSE_DASH_MS",
    "PAUSE_ELLIPSIS_MS",
    "PAUSE_LINE_MS",
    "PAUSE_NONE_MS",
    "PAUSE_PARAGRAPH_MS",
    "PAUSE_SENTENCE_MS",
    "TextChunk",
    "plan_chunks",
    "split_sentences",
]

#: Forced split inside a clause (word boundary, before a conjunction): none, the join must be seamless.
PAUSE_NONE_MS: Final = 0
#: Comma (and a closing parenthesis): a brief boundary pause.
PAUSE_COMMA_MS: Final = 150
#: Dash (— – and a spaced hyphen): a little longer than a comma.
PAUSE_DASH_MS: Final = 200
#: Semicolon, colon: between a comma and a full stop.
PAUSE_CLAUSE_MS: Final = 250
#: Full stop, question mark, exclamation mark.
PAUSE_SENTENCE_MS: Final = 300
#: A line break that ends a line with no terminal punctuation (headings, list items).
PAUSE_LINE_MS: Final = 400
#: Ellipsis: trailing off, hesitation.
PAUSE_ELLIPSIS_MS: Final = 450
#: Blank line between paragraphs.
PAUSE_PARAGRAPH_MS: Final = 600

#: The first chunk is cut only after at least this many words.
FIRST_MIN_WORDS: Final = 3


@dataclass(frozen=True)
class TextChunk:
    """A piece of the request text that is synthesised as one utterance.

    text: exactly ``original[start_char:end_char]`` (not normalised; may contain newlines).
    start_char, end_char: offsets into the original text (Python ``str`` indices, code points).
    pause_after_ms: silence to insert after this chunk's audio at speed 1.0 (see module docs).
    is_sentence_end: True if the chunk ends a sentence, line or paragraph (it ends with falling
        sentence-final prosody); False for clause pieces of a longer sentence.
    """

    text: str
    start_char: int
    end_char: int
    pause_after_ms: int
    is_sentence_end: bool

    @property
    def word_count(self) -> int:
        return len(_words(self.text))


# ------------------------------------------------------------------------------------------------
# Sentences
# ------------------------------------------------------------------------------------------------

_BREAK: Final = re.compile(r"[^\S\n\u2028\u2029]*[\n\u2028\u2029]\s*")
_TERMINAL: Final = re.compile(r"(?P<mark>[.!?…]+)(?P<close>[\"'”’)\]»›]*)(?=\s|$)")
_ENDS_TERMINAL: Final = re.compile(r"([.!?…]+)[\"'”’)\]»›]*\s*$")
_LINE_END_PUNCT: Final = frozenset(".!?…:;,—")
_CLOSERS: Final = "\"'”’)]»›"
_ALNUM: Final = re.compile(r"[^\W_]")
_WORD: Final = re.compile(r"\S+")
_VISIBLE: Final = re.compile(r"\S")


def _words(s: str) -> list[str]:
    return [w for w in _WORD.findall(s) if _ALNUM.search(w)]


def _mark_pause(mark: str) -> int:
    if "…" in mark or ".." in mark:
        return PAUSE_ELLIPSIS_MS
    return PAUSE_SENTENCE_MS


def _segments(text: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, pause_ms_of_the_break_after) for each line or paragraph; soft-wrapped lines
    (no punctuation at the end, lowercase start on the next line) are joined."""
    start = 0
    for m in _BREAK.finditer(text):
        if m.start() == 0 or m.end() == len(text):
            continue
        brk = m.group()
        paragraph = brk.count("\n") + brk.count("\u2028") >= 2 or "\u2029" in brk
        if not paragraph:
            prev = text[m.start() - 1]
            nxt = text[m.end()]
            if prev not in _LINE_END_PUNCT and prev not in _CLOSERS and nxt.islower():
                continue  # a hard-wrapped sentence continues on the next line
        yield start, m.start(), PAUSE_PARAGRAPH_MS if paragraph else PAUSE_LINE_MS
        start = m.end()
    yield start, len(text), PAUSE_SENTENCE_MS


def _word_before(text: str, lo: int, end: int) -> str:
    """The whitespace-delimited token ending at ``end`` (exclusive), not reaching before ``lo``."""
    i = end
    while i > lo and not text[i - 1].isspace():
        i -= 1
    return text[i:end]


def _is_boundary(text: str, seg_start: int, seg_end: int, m: re.Match[str]) -> bool | None:
    """Does the terminal mark ``m`` end a sentence? None when nothing visible follows it in the
    segment (the segment's end decides)."""
    nxt = _VISIBLE.search(text, m.end(), seg_end)
    if nxt is None:
        return None
    rest = text[nxt.start() : min(seg_end, nxt.start() + 64)]  # the next word is all that matters
    if m.group("mark") != ".":
        return not rest[0].islower()
    return period_ends_sentence(_word_before(text, seg_start, m.start() + 1), rest)


def _trimmed(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _chunk(text: str, a: int, b: int, pause_ms: int, sentence_end: bool) -> TextChunk | None:
    a, b = _trimmed(text, a, b)
    if a >= b:
        return None
    return TextChunk(text[a:b], a, b, pause_ms, sentence_end)


def _merge(text: str, first: TextChunk, second: TextChunk) -> TextChunk:
    return TextChunk(
        text[first.start_char : second.end_char],
        first.start_char,
        second.end_char,
        second.pause_after_ms,
        second.is_sentence_end,
    )


def _merge_unspeakable(text: str, chunks: list[TextChunk]) -> list[TextChunk]:
    """A chunk with no letter or digit ("...", "—", an emoji) joins its neighbour, so no utterance is
    pure punctuation."""
    out: list[TextChunk] = []
    pending: TextChunk | None = None  # leading unspeakable chunks, waiting for a speakable one
    for c in chunks:
        if _ALNUM.search(c.text):
            if pending is not None:
                c = _merge(text, pending, c)
                pending = None
            out.append(c)
        elif out:
            out[-1] = _merge(text, out[-1], c)
        else:
            pending = c if pending is None else _merge(text, pending, c)
    if pending is not None:
        out.append(pending)
    return out


def split_sentences(text: str) -> list[TextChunk]:
    """Split ``text`` into sentences, lines and paragraphs.

    Returns chunks with ``is_sentence_end=True`` whose ``text`` is the exact slice
    ``text[start_char:end_char]`` (surrounding whitespace excluded). ``pause_after_ms`` is
    PAUSE_SENTENCE_MS after . ! ?, PAUSE_ELLIPSIS_MS after an ellipsis, PAUSE_LINE_MS after a line
    with no terminal punctuation, PAUSE_PARAGRAPH_MS at a blank line. Empty or whitespace-only text
    gives ``[]``. Never raises for any ``str``.
    """
    chunks: list[TextChunk] = []
    for seg_start, seg_end, break_pause in _segments(text):
        a = seg_start
        for m in _TERMINAL.finditer(text, seg_start, seg_end):
            if _is_boundary(text, seg_start, seg_end, m):
                c = _chunk(text, a, m.end(), _mark_pause(m.group("mark")), True)
                if c is not None:
                    chunks.append(c)
                a = m.end()
        e = _ENDS_TERMINAL.search(text, a, seg_end) if a < seg_end else None
        mark_pause = _mark_pause(e.group(1)) if e is not None else None
        if break_pause == PAUSE_SENTENCE_MS:  # end of the text
            pause = PAUSE_SENTENCE_MS if mark_pause is None else mark_pause
        else:
            pause = break_pause if mark_pause is None else max(break_pause, mark_pause)
        c = _chunk(text, a, seg_end, pause, True)
        if c is not None:
            chunks.append(c)
    return _merge_unspeakable(text, chunks)


# ------------------------------------------------------------------------------------------------
# Clauses and the synthesis plan
# ------------------------------------------------------------------------------------------------

_CLAUSE: Final = re.compile(r"(?P<p>[,;:)]|\s[-–]{1,2}|—|\s--)(?P<close>[\"'”’]*)(?=\s)|(?P<em>—)(?=\S)")
_HAS_DIGIT: Final = re.compile(r"\d")


def _clause_cuts(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """(cut offset, pause) for each clause boundary strictly inside text[a:b]."""
    cuts: list[tuple[int, int]] = []
    for m in _CLAUSE.finditer(text, a, b):
        cut = m.end()
        if cut >= b or not text[cut:b].strip():
            continue
        p = m.group("p") or m.group("em")
        if p == ",":
            # "March 3rd, 2024", "1, 2, 3": a comma between numbers is not a clause boundary.
            before = _word_before(text, a, m.start())
            after = text[cut:b].lstrip()[:1]
            if _HAS_DIGIT.search(before) and after.isdigit():
                continue
            pause = PAUSE_COMMA_MS
        elif p in (";", ":"):
            pause = PAUSE_CLAUSE_MS
        elif p == ")":
            pause = PAUSE_COMMA_MS
        else:
            pause = PAUSE_DASH_MS
        cuts.append((cut, pause))
    return cuts


def _stripped_len(text: str, a: int, b: int) -> int:
    a, b = _trimmed(text, a, b)
    return b - a


def _word_spans(text: str, a: int, b: int) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _WORD.finditer(text, a, b) if _ALNUM.search(m.group())]


def _bare(word: str) -> str:
    return word.strip("\"'“”‘’()[]{},;:.!?").lower()


_GAP: Final = re.compile(r"\s+")
_SPLIT_BEFORE: Final = CONJUNCTIONS | PREPOSITIONS


def _word_split(text: str, a: int, b: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut text[a:b] into pieces of at most max_chars (stripped) at word boundaries, preferring a
    cut before a conjunction or preposition in the last two thirds of the window."""
    pieces: list[tuple[int, int]] = []
    a, b = _trimmed(text, a, b)
    while b - a > max_chars:
        limit = a + max_chars
        gaps = [(m.start(), m.end()) for m in _GAP.finditer(text, a + 1, limit + 1)]
        cut = -1
        for gs, ge in reversed(gaps):
            if gs - a < max_chars // 3:
                break
            w = _WORD.match(text, ge)
            if w is not None and _bare(w.group()) in _SPLIT_BEFORE:
                cut = gs
                break
        if cut < 0:
            cut = gaps[-1][0] if gaps else limit  # no space at all: hard cut inside a giant token
        pieces.append((a, cut))
        a, _ = _trimmed(text, cut, b)
    pieces.append((a, b))
    return pieces


def _split_long(text: str, chunk: TextChunk, max_chars: int) -> list[TextChunk]:
    if len(chunk.text) <= max_chars:
        return [chunk]
    bounds = _clause_cuts(text, chunk.start_char, chunk.end_char)
    bounds.append((chunk.end_char, chunk.pause_after_ms))
    spans: list[tuple[int, int, int]] = []  # (start, end, pause)
    cur_a, cur_b, cur_p = chunk.start_char, -1, PAUSE_NONE_MS
    for cut, pause in bounds:
        if cur_b >= 0 and _stripped_len(text, cur_a, cut) > max_chars:
            spans.append((cur_a, cur_b, cur_p))
            cur_a, cur_b = cur_b, -1
        if _stripped_len(text, cur_a, cut) <= max_chars:
            cur_b, cur_p = cut, pause
        else:  # one clause alone is too long: cut it at word boundaries
            pieces = _word_split(text, cur_a, cut, max_chars)
            spans.extend((x, y, PAUSE_NONE_MS) for x, y in pieces[:-1])
            (cur_a, cur_b), cur_p = pieces[-1], pause
    spans.append((cur_a, cur_b, cur_p))
    out: list[TextChunk] = []
    for i, (x, y, p) in enumerate(spans):
        last = i == len(spans) - 1
        c = _chunk(text, x, y, p, chunk.is_sentence_end if last else False)
        if c is not None:
            out.append(c)
    return out


def _split_first(text: str, chunk: TextChunk, first_max_words: int) -> list[TextChunk]:
    words = _word_spans(text, chunk.start_char, chunk.end_char)
    if first_max_words <= 0 or len(words) <= first_max_words:
        return [chunk]
    lo, hi = FIRST_MIN_WORDS, first_max_words  # allowed number of words in the first piece

    def n_words_before(pos: int) -> int:
        return sum(1 for s, _ in words if s < pos)

    cut, pause = -1, PAUSE_NONE_MS
    for c, p in _clause_cuts(text, chunk.start_char, chunk.end_char):
        n = n_words_before(c)
        if n > hi:
            break
        if n >= lo:
            cut, pause = c, p
            break
    if cut < 0:
        for table in (CONJUNCTIONS, PREPOSITIONS):
            for i in range(lo, min(hi, len(words) - 1) + 1):
                if _bare(text[words[i][0] : words[i][1]]) in table:
                    cut = words[i][0]
                    break
            if cut >= 0:
                break
    if cut < 0:
        cut = words[hi][0]  # no clause boundary, no conjunction: cut after first_max_words words
    first = _chunk(text, chunk.start_char, cut, pause, False)
    rest = _chunk(text, cut, chunk.end_char, chunk.pause_after_ms, chunk.is_sentence_end)
    return [c for c in (first, rest) if c is not None]


def plan_chunks(text: str, *, max_chars: int = 300, first_max_words: int = 12) -> list[TextChunk]:
    """The synthesis plan for one request: the chunks to synthesise, in order.

    * Whole sentences (see :func:`split_sentences`).
    * A sentence longer than ``max_chars`` characters is cut at clause punctuation (, ; : — – and a
      spaced hyphen), packing as many clauses as fit into each chunk; a clause that alone is longer
      is cut at a word boundary (before a conjunction or preposition where one is near the limit).
    * The first chunk of the request, if longer than ``first_max_words`` words, is cut at its first
      clause boundary after at least FIRST_MIN_WORDS (3) words, or else before the first conjunction,
      or else the first preposition, in that window, or else after ``first_max_words`` words; so
      the first audio starts early. ``first_max_words=0`` disables this.

    Chunks are exact slices of ``text`` (see :class:`TextChunk`); every chunk is at most
    ``max_chars`` characters. Empty or whitespace-only text gives ``[]``.
    """
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 16:
        raise InvalidSettingError(f"max_chars must be an integer >= 16, got {max_chars!r}", field="max_chars")
    if isinstance(first_max_words, bool) or not isinstance(first_max_words, int) or first_max_words < 0:
        raise InvalidSettingError(
            f"first_max_words must be an integer >= 0, got {first_max_words!r}", field="first_max_words"
        )
    chunks: list[TextChunk] = []
    for sentence in split_sentences(text):
        chunks.extend(_split_long(text, sentence, max_chars))
    if chunks:
        chunks[0:1] = _split_first(text, chunks[0], first_max_words)
    return chunks
