"""Word and phoneme timings from a voice's duration alignment.

A voice reports, for one text chunk, which frames each phoneme symbol occupies
(``AcousticFrames.alignment``). Two ways back to the text as written, so a client can highlight or
lip-sync the original text:

* :func:`word_timings` (Latin-script languages): symbols between spaces form a word; words are
  matched to the chunk's words after Parley's (English) normaliser and, through per-token
  normalisation, to character spans of the text.
* :func:`unit_word_timings` (any script): the voice cuts the text into units it can read one by
  one (Hindi words, Chinese characters, Japanese kana or kanji runs) and says how each reads on its
  own; the units' phonemes, end to end, are matched symbol by symbol against the chunk's (read as
  a whole, so they may differ a little), which hands every symbol of the alignment to a unit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher
from typing import NamedTuple

import numpy as np

from .text import normalize
from .types import PhonemeTiming, WordTiming

__all__ = ["TextUnit", "unit_word_timings", "word_timings"]

_TOKEN = re.compile(r"\S+")
_WORD = re.compile(r"[\w'’]+")
_PUNCT_SYMBOLS = frozenset(".,!?;:—…\"“”()-'")
_STRESS = frozenset("ˈˌ")


def _phoneme_words(alignment: Sequence[tuple[str, int, int]]) -> list[list[tuple[str, int, int]]]:
    words: list[list[tuple[str, int, int]]] = []
    cur: list[tuple[str, int, int]] = []
    for sym, a, b in alignment:
        if sym == " ":
            if cur:
                words.append(cur)
            cur = []
        elif sym not in _PUNCT_SYMBOLS:
            cur.append((sym, a, b))
    if cur:
        words.append(cur)
    return words


def _recut(pwords: list[list[tuple[str, int, int]]], spoken: list[str]) -> list[list[tuple[str, int, int]]]:
    syms = [x for w in pwords for x in w]
    letters = np.cumsum([0] + [len(w) for w in spoken], dtype=np.float64)
    cuts = np.round(letters / letters[-1] * len(syms)).astype(int)
    out = []
    for i in range(len(spoken)):
        a, b = int(cuts[i]), max(int(cuts[i + 1]), int(cuts[i]) + 1)
        part = syms[min(a, len(syms) - 1) : min(b, len(syms))] or [syms[-1]]
        out.append(part)
    return out


def _source_spans(text: str, n_words: int) -> list[tuple[int, int]]:
    """Character span in ``text`` of each of the ``n_words`` normalised words."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    if not tokens or n_words == 0:
        return [(-1, -1)] * n_words
    spans: list[tuple[int, int]] = []
    for a, b in tokens:
        k = len(_WORD.findall(normalize(text[a:b])))
        spans.extend([(a, b)] * k)
    if len(spans) == n_words:
        return spans
    # the chunk's normalisation read some tokens differently in context: spread proportionally
    return [tokens[min(len(tokens) - 1, i * len(tokens) // n_words)] for i in range(n_words)]


def word_timings(
    text: str,
    alignment: Sequence[tuple[str, int, int]],
    frame_to_sample: Callable[[int], int],
    char_offset: int = 0,
) -> tuple[WordTiming, ...]:
    """Words of one chunk with sample times.

    text: the chunk as written; alignment: (symbol, start_frame, end_frame) per phoneme symbol;
    frame_to_sample: maps a frame index to the request stream's sample index; char_offset: where
    ``text`` starts in the request's text.
    """
    pwords = _phoneme_words(alignment)
    if not pwords:
        return ()
    spoken = _WORD.findall(normalize(text))
    if spoken and len(spoken) != len(pwords):
        # the phonemiser merged or split words (espeak joins "on the" into one): re-cut the
        # symbols among the spoken words in proportion to their letters
        pwords = _recut(pwords, spoken)
    spans = _source_spans(text, len(pwords))
    out = []
    for word, syms, (a, b) in zip(spoken, pwords, spans, strict=True):
        phones = tuple(
            PhonemeTiming(s, frame_to_sample(fa), frame_to_sample(fb))
            for s, fa, fb in syms
            if s not in _STRESS
        )
        start, end = frame_to_sample(syms[0][1]), frame_to_sample(syms[-1][2])
        cs, ce = (a + char_offset, b + char_offset) if a >= 0 else (-1, -1)
        out.append(WordTiming(word, cs, ce, start, end, phones))
    return tuple(out)


# ------------------------------------------------------------------------------------------------
# Any script: units of the text, read one by one and matched symbol by symbol


class TextUnit(NamedTuple):
    """A piece of a chunk's text that a voice's phonemiser reads as a whole: its characters
    ``text[start:end]`` and its phonemes when read on its own ('' when it is not spoken)."""

    start: int
    end: int
    phonemes: str


def _spoken(sym: str) -> bool:
    """Whether an alignment symbol is part of a word (not a space, not punctuation)."""
    return bool(sym) and unicodedata.category(sym[0])[0] not in "PZ" and sym not in _PUNCT_SYMBOLS


def _fill(label: list[int], group: list[int]) -> None:
    """Give every unlabelled symbol (-1) the label of its nearest labelled neighbour in its own
    phoneme word (the one before first), else the one before, else the one after. Labels that
    never decrease stay so."""
    n = len(label)
    prev, nxt = [-1] * n, [-1] * n
    last = -1
    for i in range(n):
        if label[i] >= 0:
            last = i
        prev[i] = last
    last = -1
    for i in range(n - 1, -1, -1):
        if label[i] >= 0:
            last = i
        nxt[i] = last
    out = label[:]
    for i in range(n):
        if label[i] >= 0:
            continue
        p, q = prev[i], nxt[i]
        if p >= 0 and group[p] == group[i]:
            out[i] = label[p]
        elif q >= 0 and group[q] == group[i]:
            out[i] = label[q]
        elif p >= 0:
            out[i] = label[p]
        elif q >= 0:
            out[i] = label[q]
    label[:] = out


def _timing(
    word: str,
    cs: int,
    ce: int,
    syms: Sequence[tuple[str, int, int]],
    frame_to_sample: Callable[[int], int],
) -> WordTiming:
    phones = tuple(
        PhonemeTiming(s, frame_to_sample(fa), frame_to_sample(fb)) for s, fa, fb in syms if s not in _STRESS
    )
    return WordTiming(word, cs, ce, frame_to_sample(syms[0][1]), frame_to_sample(syms[-1][2]), phones)


def chunk_timing(
    text: str,
    alignment: Sequence[tuple[str, int, int]],
    frame_to_sample: Callable[[int], int],
    char_offset: int = 0,
) -> tuple[WordTiming, ...]:
    """The coarsest timing: the whole chunk (its text without the surrounding blanks and
    punctuation) as one word, from its first spoken symbol to its last; () if none is spoken."""
    syms = [(s, a, b) for s, a, b in alignment if _spoken(s)]
    cs, ce = 0, len(text)
    while cs < ce and unicodedata.category(text[cs])[0] in "PZC":
        cs += 1
    while ce > cs and unicodedata.category(text[ce - 1])[0] in "PZC":
        ce -= 1
    if not syms or cs >= ce:
        return ()
    return (_timing(text[cs:ce], cs + char_offset, ce + char_offset, syms, frame_to_sample),)


def unit_word_timings(
    text: str,
    alignment: Sequence[tuple[str, int, int]],
    frame_to_sample: Callable[[int], int],
    units: Sequence[TextUnit],
    char_offset: int = 0,
    *,
    join_phoneme_words: bool = False,
) -> tuple[WordTiming, ...]:
    """Words of one chunk from units of its text (any script).

    text, alignment, frame_to_sample, char_offset: as for :func:`word_timings`. units: the pieces
    of ``text`` the voice reads as a whole, in order, not overlapping, each with its phonemes when
    read alone (see :class:`TextUnit`). join_phoneme_words: units that share a phoneme word of the
    alignment become one word (for units of single characters that the phonemiser groups into
    words, e.g. Chinese); otherwise every unit that was heard is a word of its own.

    The units' spoken symbols, end to end, are matched against the alignment's (stress marks
    aside) with difflib; a stretch that differs is shared out in proportion, and a symbol left
    over goes to its neighbour in the same phoneme word. A word's characters are its units'
    (``text[char_start - char_offset : char_end - char_offset]`` is the word as written), its
    samples run from its first symbol's start to its last's end, so words are in order and never
    overlap. Units that got no symbol (not spoken) have no timing. When no symbol could be placed
    the whole chunk is one word (:func:`chunk_timing`).
    """
    syms: list[tuple[str, int, int]] = []
    group: list[int] = []
    g = 0
    for sym, a, b in alignment:
        if sym == " ":
            g += 1
        elif _spoken(sym):
            syms.append((sym, a, b))
            group.append(g)
    if not syms:
        return ()
    ref = [(c, k) for k, u in enumerate(units) for c in u.phonemes if c not in _STRESS and _spoken(c)]
    idx = [i for i, (s, _, _) in enumerate(syms) if s not in _STRESS]
    label = [-1] * len(syms)
    if ref and idx:
        matcher = SequenceMatcher(None, [syms[i][0] for i in idx], [c for c, _ in ref], autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                for d in range(i2 - i1):
                    label[idx[i1 + d]] = ref[j1 + d][1]
            elif tag == "replace":
                n, m = i2 - i1, j2 - j1
                for d in range(n):
                    label[idx[i1 + d]] = ref[j1 + d * m // n][1]
    if all(x < 0 for x in label):
        return chunk_timing(text, alignment, frame_to_sample, char_offset)
    _fill(label, group)

    out: list[WordTiming] = []
    first = 0
    for i in range(1, len(syms) + 1):
        if i < len(syms) and (label[i] == label[i - 1] or (join_phoneme_words and group[i] == group[i - 1])):
            continue
        lo, hi = units[label[first]], units[label[i - 1]]
        cs, ce = lo.start, hi.end
        out.append(_timing(text[cs:ce], cs + char_offset, ce + char_offset, syms[first:i], frame_to_sample))
        first = i
    return tuple(out)
