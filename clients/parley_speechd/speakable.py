"""Screen-reader text: character names, key names, punctuation levels — pure functions.

This is the module's own small table until ``parley_engine.text.screenreader`` lands (then these
three functions delegate to it). The punctuation levels follow speech-dispatcher's: ``none``
speaks no punctuation, ``some`` the symbols that carry meaning in prose, ``most`` also brackets,
quotes and the like, ``all`` every punctuation mark.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["char_name", "key_name", "punctuate"]

NAMES: Final[dict[str, str]] = {
    " ": "space",
    "\t": "tab",
    "\n": "newline",
    ".": "dot",
    ",": "comma",
    ";": "semicolon",
    ":": "colon",
    "!": "exclamation",
    "?": "question",
    "'": "apostrophe",
    '"': "quote",
    "`": "grave",
    "(": "left paren",
    ")": "right paren",
    "[": "left bracket",
    "]": "right bracket",
    "{": "left brace",
    "}": "right brace",
    "<": "less",
    ">": "greater",
    "/": "slash",
    "\\": "backslash",
    "|": "bar",
    "-": "dash",
    "_": "underline",
    "+": "plus",
    "=": "equals",
    "*": "star",
    "&": "and",
    "%": "percent",
    "$": "dollar",
    "#": "number",
    "@": "at",
    "^": "caret",
    "~": "tilde",
    "…": "ellipsis",
    "–": "en dash",
    "—": "em dash",
    "€": "euro",
    "£": "pound",
    "°": "degree",
    "•": "bullet",
}

SOME: Final = frozenset("#$%&*+/<=>@\\^_|~€£°•")
MOST: Final = SOME | frozenset("\"'()[]{}`-–—:;…")
ALL: Final = MOST | frozenset(".,!?")
_LEVELS: Final = {"none": frozenset[str](), "some": SOME, "most": MOST, "all": ALL}

KEYS: Final[dict[str, str]] = {
    "kp-enter": "keypad enter",
    "kp-*": "keypad star",
    "kp-+": "keypad plus",
    "kp--": "keypad minus",
    "kp-/": "keypad slash",
    "double-quote": "quote",
    "backspace": "backspace",
    "page-up": "page up",
    "page-down": "page down",
    "shift": "shift",
    "control": "control",
    "alt": "alt",
    "super": "super",
    "hyper": "hyper",
    "meta": "meta",
    "escape": "escape",
    "space": "space",
    "underscore": "underline",
}


def char_name(ch: str) -> str:
    """How a single character is spoken: letters and digits as themselves, symbols by name."""
    if not ch:
        return ""
    if len(ch) > 1:
        return ch
    if ch in NAMES:
        return NAMES[ch]
    if ch.isalnum():
        return ch.lower()
    name = unicodedata.name(ch, "")
    return name.lower() if name else "symbol"


def key_name(key: str) -> str:
    """A speech-dispatcher key name (``a``, ``shift_a``, ``control_alt_delete``, ``kp-enter``,
    ``double-quote``) as words."""
    key = key.strip()
    if not key:
        return ""
    if key in KEYS:
        return KEYS[key]
    if len(key) == 1:
        return char_name(key)
    parts = key.split("_") if "_" in key[1:] else [key]
    words = []
    for p in parts:
        if p in KEYS:
            words.append(KEYS[p])
        elif len(p) == 1:
            words.append(char_name(p))
        else:
            words.append(p.replace("-", " "))
    return " ".join(w for w in words if w)


def punctuate(text: str, mode: str) -> str:
    """``text`` with the punctuation of level ``mode`` spoken by name (others left as they are)."""
    level = _LEVELS.get(mode, frozenset[str]())
    if not level or not any(c in level for c in text):
        return text
    out = []
    for c in text:
        if c in level:
            out.append(f" {NAMES.get(c, c)} ")
            if c in ".!?":
                out.append(c)  # keep the sentence break after saying it
        else:
            out.append(c)
    return "".join(out)
