"""Does a period end a sentence? One rule shared by the splitter (where to cut) and the normaliser
(whether an expanded abbreviation keeps its period), so both always agree."""

from __future__ import annotations

import re
from typing import Final

from ._tables import BEFORE_NUMBER, NON_TERMINAL, SENTENCE_STARTERS, TERMINAL, TITLES

__all__ = ["period_ends_sentence"]

_OPENERS: Final = "\"'“‘([{«"
_NEXT_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_DOTTED = re.compile(r"(?:[A-Za-z]{1,2}\.){2,}")  # U.S., a.m., Ph.D.
_INITIAL = re.compile(r"[A-Z]\.")
_TITLE_KEYS: Final[frozenset[str]] = frozenset(t + "." for t in TITLES if t not in ("St", "Dr"))
_AMBIGUOUS_TITLES: Final[frozenset[str]] = frozenset({"St.", "Dr."})


def period_ends_sentence(word: str, rest: str) -> bool:
    """word: the token that ends with the period ("Dr.", "etc.", "U.S.", "3.", "J."), possibly with
    opening quotes/brackets in front; rest: the text after the period, any closing quotes and the
    whitespace (it starts at the next visible character; "" at the end of the text).
    """
    if not rest:
        return True
    nxt = rest[0]
    if nxt.islower():
        return False
    word = word.lstrip(_OPENERS)
    if word in NON_TERMINAL or word in _TITLE_KEYS:
        return False
    if nxt.isdigit():
        # "Jan. 5", "Vol. 3": the number belongs to the abbreviation; "in 1990. 2000 was ..." does not.
        return not (word in TERMINAL or word in BEFORE_NUMBER or word in _AMBIGUOUS_TITLES)
    if not (
        word in TERMINAL or word in _AMBIGUOUS_TITLES or _DOTTED.fullmatch(word) or _INITIAL.fullmatch(word)
    ):
        return True
    # An abbreviation that may or may not end the sentence: look at the next word.
    if nxt in _OPENERS:
        return True
    m = _NEXT_WORD.match(rest)
    return m is not None and m.group() in SENTENCE_STARTERS
