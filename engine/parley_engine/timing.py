"""Word and phoneme timings from a voice's duration alignment.

A voice reports, for one text chunk, which frames each phoneme symbol occupies
(``AcousticFrames.alignment``). Symbols between spaces form a word; words are matched to the
chunk's normalised words and, through per-token normalisation, to character spans of the text as
written, so a client can highlight or lip-sync the original text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from .text import normalize
from .types import PhonemeTiming, WordTiming

__all__ = ["word_timings"]

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
