"""Screen-reader text modes: punctuation levels, spelling, capital letters, characters and keys.

Pure functions from what a screen reader sends to the text Parley should speak (which then goes
through :func:`normalize` and the voice's G2P like any other text). Used by the SSML parser
(``say-as``) and by the speech-dispatcher output module (SET punctuation_mode, spelling_mode,
cap_let_recogn; CHAR and KEY).

    punctuate("Hi, see example.com!", "some")  # -> 'Hi, see example dot com!'
    punctuate("Hi, see example.com!", "all")   # -> 'Hi comma, see example dot com exclamation!'
    spell("Ab1", "spell")                      # -> [SpokenChar('A', 'capital eh', 0.0), ...]
    spell("Ab", "icon")                        # -> [SpokenChar('A', 'eh', 4.0), SpokenChar('b', 'b', 0.0)]
    key_text("shift_a")                        # -> 'shift eh'
    key_text("kp-enter")                       # -> 'keypad enter'

Punctuation levels are speech-dispatcher's (which took them, with their symbol table, from NVDA's
``symbols.dic``): every symbol has a level and is spoken by name when the requested level reaches
it. ``none`` speaks no symbol by name (the normaliser still reads what belongs to the words: "50%"
is "fifty percent", "$5" "five dollars"); ``some`` (speech-dispatcher's default set: # % & * + /
< = > @, a '.' that does not end a sentence, bullets, arrows, ©, °, ...); ``most`` adds brackets,
quotes, dashes, ; : \\ ^ _ ` | ~; ``all`` adds sentence punctuation . , ! ?, apostrophes, currency.
Whatever the level: a decimal point ("3.14"), an apostrophe inside a word ("don't"), the minus
of a negative number ("-5"), a clock time's colon ("10:30") and a thousands separator ("1,000")
are never spoken as symbols; the normaliser reads them. Marks that
shape prosody (. , ; : ! ? brackets, dashes, ellipsis) are kept after their name, so "all" still
pauses where the text does. A run of 4 or more identical symbols is counted ("12 equals") rather
than read out one by one.

Letters are written so that every G2P Parley uses reads them as letter names: only "a" needs help
(spelled "eh": alone, "a" is the article), and letters are lower-cased (the capital is conveyed by
the ``capitals`` mode instead). Capital modes: ``none``; ``spell`` says "capital" before it;
``icon`` raises the letter's pitch by :data:`CAPITAL_PITCH_SEMITONES` (a per-character pitch
override, ``SpokenChar.pitch_semitones``, that the SSML engine turns into its own segment).

Never raises on any ``str``; no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

from ._tables import GREEK_NAMES

__all__ = [
    "CAPITAL_PITCH_SEMITONES",
    "CapitalMode",
    "PunctuationMode",
    "SpokenChar",
    "char_name",
    "key_text",
    "punctuate",
    "spell",
    "spoken_char",
]

PunctuationMode = Literal["none", "some", "most", "all"]
CapitalMode = Literal["none", "spell", "icon"]

#: Pitch rise of a capital letter in ``icon`` mode (NVDA's default capital pitch change of 30% of
#: espeak's range is about 4-5 semitones; a rise that large is heard at 4x too).
CAPITAL_PITCH_SEMITONES: Final = 4.0
#: A run of this many identical symbols (or more) is counted instead of read one by one.
REPEAT_MIN: Final = 4

_LEVEL: Final[dict[str, int]] = {"none": 0, "some": 1, "most": 2, "all": 3}


@dataclass(frozen=True)
class SpokenChar:
    """One character as spoken.

    char: the character as written.
    text: what to speak for it (a name such as "capital eh", "comma", "space").
    pitch_semitones: pitch offset to apply to ``text`` (capital letters in ``icon`` mode), else 0.
    """

    char: str
    text: str
    pitch_semitones: float = 0.0


@dataclass(frozen=True)
class _Symbol:
    name: str
    level: int  # 1 some, 2 most, 3 all
    preserve: bool = False  # keep the mark after its name (it shapes prosody)


_SOME, _MOST, _ALL = 1, 2, 3

#: Symbol -> name, level (speech-dispatcher's levels), preserve. Names are short: they are heard
#: hundreds of times a day at 3-4x.
SYMBOLS: Final[dict[str, _Symbol]] = {
    "!": _Symbol("exclamation", _ALL, True),
    '"': _Symbol("quote", _MOST),
    "#": _Symbol("number", _SOME),
    "$": _Symbol("dollar", _ALL),
    "%": _Symbol("percent", _SOME),
    "&": _Symbol("and", _SOME),
    "'": _Symbol("apostrophe", _ALL),
    "(": _Symbol("left paren", _MOST, True),
    ")": _Symbol("right paren", _MOST, True),
    "*": _Symbol("star", _SOME),
    "+": _Symbol("plus", _SOME),
    ",": _Symbol("comma", _ALL, True),
    "-": _Symbol("dash", _MOST, True),
    ".": _Symbol("dot", _SOME),
    "/": _Symbol("slash", _SOME),
    ":": _Symbol("colon", _MOST, True),
    ";": _Symbol("semicolon", _MOST, True),
    "<": _Symbol("less", _SOME),
    "=": _Symbol("equals", _SOME),
    ">": _Symbol("greater", _SOME),
    "?": _Symbol("question", _ALL, True),
    "@": _Symbol("at", _SOME),
    "[": _Symbol("left bracket", _MOST),
    "\\": _Symbol("backslash", _MOST),
    "]": _Symbol("right bracket", _MOST),
    "^": _Symbol("caret", _MOST),
    "_": _Symbol("underscore", _MOST),
    "`": _Symbol("grave", _MOST),
    "{": _Symbol("left brace", _MOST),
    "|": _Symbol("bar", _MOST),
    "}": _Symbol("right brace", _MOST),
    "~": _Symbol("tilde", _MOST),
    "…": _Symbol("dot dot dot", _ALL, True),
    "–": _Symbol("en dash", _MOST, True),
    "—": _Symbol("em dash", _MOST, True),
    "“": _Symbol("left quote", _MOST),
    "”": _Symbol("right quote", _MOST),
    "‘": _Symbol("left single quote", _MOST),
    "’": _Symbol("right single quote", _MOST),
    "«": _Symbol("left angle quote", _MOST),
    "»": _Symbol("right angle quote", _MOST),
    "·": _Symbol("middle dot", _MOST),
    "¶": _Symbol("paragraph", _MOST),
    "§": _Symbol("section", _ALL),
    "•": _Symbol("bullet", _SOME),
    "◦": _Symbol("white bullet", _SOME),
    "°": _Symbol("degrees", _SOME),
    "©": _Symbol("copyright", _SOME),
    "®": _Symbol("registered", _SOME),
    "™": _Symbol("trademark", _SOME),
    "€": _Symbol("euro", _ALL),
    "£": _Symbol("pound", _ALL),
    "¥": _Symbol("yen", _ALL),
    "¢": _Symbol("cents", _ALL),
    "±": _Symbol("plus or minus", _SOME),
    "×": _Symbol("times", _SOME),
    "÷": _Symbol("divided by", _SOME),
    "−": _Symbol("minus", _SOME),
    "←": _Symbol("left arrow", _SOME),
    "→": _Symbol("right arrow", _SOME),
    "↑": _Symbol("up arrow", _SOME),
    "↓": _Symbol("down arrow", _SOME),
    "✓": _Symbol("check", _SOME),
    "✔": _Symbol("check", _SOME),
    "¡": _Symbol("inverted exclamation", _SOME),
    "¿": _Symbol("inverted question", _SOME),
}

#: Names of characters that are not symbols (used when spelling and for single characters).
_SPACES: Final[dict[str, str]] = {
    " ": "space",
    "\u00a0": "space",
    "\t": "tab",
    "\n": "new line",
    "\r": "carriage return",
    "\f": "page break",
}
_DIGITS: Final = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Letters whose bare spelling a G2P reads as a word, not as the letter's name.
_LETTER_SPELLING: Final[dict[str, str]] = {"a": "eh"}
_ACCENTS: Final[dict[str, str]] = {
    "ACUTE": "acute",
    "GRAVE": "grave",
    "CIRCUMFLEX": "circumflex",
    "TILDE": "tilde",
    "DIAERESIS": "umlaut",
    "RING ABOVE": "ring",
    "CEDILLA": "cedilla",
    "CARON": "caron",
    "STROKE": "stroke",
    "MACRON": "macron",
    "BREVE": "breve",
    "OGONEK": "ogonek",
    "DOT ABOVE": "dot",
    "DOUBLE ACUTE": "double acute",
}
_SPECIAL_LETTERS: Final[dict[str, str]] = {
    "ß": "sharp s",
    "æ": "ash",
    "Æ": "ash",
    "ø": "o slash",
    "Ø": "o slash",
    "œ": "o e",
    "Œ": "o e",
    "ð": "eth",
    "Ð": "eth",
    "þ": "thorn",
    "Þ": "thorn",
    "ı": "dotless i",
}

# Symbols in context (speech-dispatcher's "complex symbols").
_DECIMAL_POINT: Final = re.compile(r"(?<![^\d \-])\.(?=\d)")
_IN_WORD_APOSTROPHE: Final = re.compile(r"(?<=[^\W_])['’](?=[^\W_])")
_NEGATIVE_SIGN: Final = re.compile(r"(?<!\w)[-−](?=[$£€¥.]?\d)")
#: A clock time's colon ("10:30") and a thousands separator ("1,000"): number syntax.
_NUMBER_SYNTAX: Final = re.compile(r"(?<=\d):(?=\d\d)|(?<=\d),(?=\d{3}(?!\d))")
_SENTENCE_END: Final = re.compile(r"(?<=[^\s.!?;:])[.!?;:](?=[\"'”’)\]\s]|$)")
_WS: Final = re.compile(r"[ \t]+")
_SPACE_BEFORE_CLOSE: Final = re.compile(r"[ \t]+(?=[)\],.;:!?])")


def punctuate(text: str, mode: PunctuationMode | str = "none") -> str:
    """``text`` with the symbols of punctuation level ``mode`` replaced by their names.

    mode: "none" | "some" | "most" | "all" (speech-dispatcher's levels; an unknown value is read
    as "none"). "none" returns ``text`` unchanged. See the module docstring for the levels and
    the symbols that are never spoken (decimal points, in-word apostrophes, minus signs).
    """
    level = _LEVEL.get(str(mode).lower(), 0)
    if level == 0 or not text:
        return text
    keep: set[int] = set()  # positions read by the normaliser, never named
    for rx in (_DECIMAL_POINT, _IN_WORD_APOSTROPHE, _NEGATIVE_SIGN, _NUMBER_SYNTAX):
        keep.update(m.start() for m in rx.finditer(text))
    ends = {m.start() for m in _SENTENCE_END.finditer(text)}
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        sym = SYMBOLS.get(c)
        if sym is None or i in keep:
            out.append(c)
            i += 1
            continue
        j = i + 1
        while j < n and text[j] == c and j not in keep:
            j += 1
        run = j - i
        if c == "." and run >= 2:  # ".." and "...": an ellipsis, not dots
            ell = SYMBOLS["…"]
            out.append(f" {ell.name}{text[i:j]} " if ell.level <= level else text[i:j])
            i = j
            continue
        # '.', '!', '?', ';', ':' ending a sentence or phrase are sentence punctuation (level all,
        # kept for prosody); a '.' elsewhere ("example.com") is a symbol of level some
        at_end = c in ".!?;:" and (j - 1) in ends
        sym_level = _ALL if at_end and c == "." else sym.level
        preserve = sym.preserve or at_end
        if sym_level > level:
            out.append(text[i:j])
        elif run >= REPEAT_MIN:
            out.append(f" {run} {sym.name} ")
        else:
            names = " ".join([sym.name] * run)
            out.append(f" {names}{c if preserve else ''} ")
        i = j
    spoken = _SPACE_BEFORE_CLOSE.sub("", "".join(out))
    return "\n".join(_WS.sub(" ", line).strip() for line in spoken.split("\n"))


def _letter(base: str) -> str:
    low = base.lower()
    return _LETTER_SPELLING.get(low, low)


def char_name(ch: str) -> str:
    """The name of one character as Parley should speak it: a letter's name ("eh", "b"), a
    digit's ("seven"), a symbol's ("comma", "left paren"), whitespace ("space", "tab", "new
    line"), an accented letter's ("e acute"), a Greek letter's ("alpha"), else the Unicode name
    in lower case ("grinning face"). Case is not spoken (see :func:`spoken_char`). Only the first
    character of ``ch`` counts; "" for "".
    """
    if not ch:
        return ""
    c = ch[0]
    if "a" <= c.lower() <= "z" and c.isascii():
        return _letter(c)
    if c.isascii() and c.isdigit():
        return _DIGITS[ord(c) - 48]
    if c in _SPACES:
        return _SPACES[c]
    if c in SYMBOLS:
        return SYMBOLS[c].name
    if c in _SPECIAL_LETTERS:
        return _SPECIAL_LETTERS[c]
    name = unicodedata.name(c, "")
    if c.isalpha():
        decomposed = unicodedata.normalize("NFD", c)
        base = decomposed[0]
        if base.isascii() and base.isalpha() and len(decomposed) > 1:
            accents = []
            for mark in decomposed[1:]:
                mname = unicodedata.name(mark, "").replace("COMBINING ", "").removesuffix(" ACCENT")
                accents.append(_ACCENTS.get(mname, mname.lower()))
            return " ".join([_letter(base), *accents]).strip()
        if name.startswith("GREEK "):
            key = name.split(" LETTER ")[-1].split(" WITH ")[0]
            if key in GREEK_NAMES:
                return GREEK_NAMES[key]
    if c.isdigit():
        d = unicodedata.digit(c, -1)
        if d >= 0:
            return _DIGITS[d]
    if unicodedata.category(c)[0] == "C":
        return "control character" if unicodedata.category(c) == "Cc" else "format character"
    return name.lower() if name else "unknown character"


def _is_capital(c: str) -> bool:
    return c.isupper() and c.isalpha()


def spoken_char(ch: str, capitals: CapitalMode | str = "none") -> SpokenChar:
    """One character (a screen reader's CHAR command, a character of spelled text) as spoken.

    capitals: "none" (the letter's name), "spell" ("capital" before a capital letter's name) or
    "icon" (the name with ``pitch_semitones = CAPITAL_PITCH_SEMITONES``); unknown values are read
    as "none".
    """
    c = ch[:1]
    name = char_name(c)
    if c and _is_capital(c):
        if capitals == "spell":
            return SpokenChar(c, f"capital {name}")
        if capitals == "icon":
            return SpokenChar(c, name, CAPITAL_PITCH_SEMITONES)
    return SpokenChar(c, name)


def spell(text: str, capitals: CapitalMode | str = "none") -> list[SpokenChar]:
    """Spelling mode: every character of ``text`` (NFC-composed), each by name, in order."""
    return [spoken_char(c, capitals) for c in unicodedata.normalize("NFC", text)]


# ------------------------------------------------------------------------------------------------
# Keys (SSIP KEY names, X11 keysym names, a few common spellings)
# ------------------------------------------------------------------------------------------------

_KEYS: Final[dict[str, str]] = {
    "space": "space",
    "underscore": "underscore",
    "double-quote": "double quote",
    "alt": "alt",
    "alt_l": "alt",
    "alt_r": "alt",
    "altgr": "alt graph",
    "iso_level3_shift": "alt graph",
    "control": "control",
    "ctrl": "control",
    "control_l": "control",
    "control_r": "control",
    "hyper": "hyper",
    "meta": "meta",
    "shift": "shift",
    "shift_l": "shift",
    "shift_r": "shift",
    "super": "super",
    "super_l": "super",
    "super_r": "super",
    "window": "windows",
    "windows": "windows",
    "cmd": "command",
    "command": "command",
    "option": "option",
    "backspace": "backspace",
    "break": "break",
    "delete": "delete",
    "del": "delete",
    "down": "down",
    "end": "end",
    "enter": "enter",
    "return": "enter",
    "escape": "escape",
    "esc": "escape",
    "home": "home",
    "insert": "insert",
    "ins": "insert",
    "left": "left",
    "menu": "menu",
    "next": "page down",
    "page_down": "page down",
    "pagedown": "page down",
    "page-down": "page down",
    "pgdn": "page down",
    "prior": "page up",
    "page_up": "page up",
    "pageup": "page up",
    "page-up": "page up",
    "pgup": "page up",
    "num-lock": "num lock",
    "num_lock": "num lock",
    "numlock": "num lock",
    "caps-lock": "caps lock",
    "caps_lock": "caps lock",
    "capslock": "caps lock",
    "scroll-lock": "scroll lock",
    "scroll_lock": "scroll lock",
    "scrolllock": "scroll lock",
    "pause": "pause",
    "print": "print screen",
    "printscreen": "print screen",
    "sys_req": "sys rq",
    "right": "right",
    "tab": "tab",
    "iso_left_tab": "shift tab",
    "up": "up",
    "linefeed": "line feed",
}
_MODIFIERS: Final = frozenset(
    {"alt", "control", "ctrl", "hyper", "meta", "shift", "super", "cmd", "command", "option", "altgr"}
)
_FKEY: Final = re.compile(r"f(\d{1,2})")
_KEYPAD: Final = re.compile(r"kp[-_](.+)")
_KEYPAD_NAMES: Final[dict[str, str]] = {
    "enter": "enter",
    "*": "star",
    "multiply": "star",
    "+": "plus",
    "add": "plus",
    "-": "minus",
    "subtract": "minus",
    ".": "dot",
    "decimal": "dot",
    "delete": "delete",
    "/": "slash",
    "divide": "slash",
    "insert": "insert",
    "home": "home",
    "end": "end",
    "up": "up",
    "down": "down",
    "left": "left",
    "right": "right",
    "prior": "page up",
    "next": "page down",
    "page_up": "page up",
    "page_down": "page down",
    "begin": "begin",
}


def _single_key(name: str) -> str | None:
    if len(name) == 1:
        return char_name(name)
    low = name.lower()
    if low in _KEYS:
        return _KEYS[low]
    m = _FKEY.fullmatch(low)
    if m:
        return f"F {int(m.group(1))}"
    m = _KEYPAD.fullmatch(low)
    if m:
        k = m.group(1)
        if len(k) == 1 and k.isdigit():
            return f"keypad {_DIGITS[int(k)]}"
        return f"keypad {_KEYPAD_NAMES.get(k, k.replace('_', ' ').replace('-', ' '))}"
    composed = unicodedata.normalize("NFC", name)
    return char_name(composed) if len(composed) == 1 else None


def key_text(key: str) -> str:
    """A key name -> speakable text: SSIP KEY names ("space", "double-quote", "kp-enter", "f5",
    "shift_a", "control_alt_delete"), X11 keysym names ("BackSpace", "Page_Up", "KP_5"), single
    characters ("a" -> "eh", "A" -> "eh": keys are named without case), and "+"-joined
    combinations ("ctrl+shift+t"). An unknown name is spoken as written with separators as spaces.
    """
    key = key.strip()
    if not key:
        return ""
    whole = _single_key(key)
    if whole is not None:
        return whole
    for sep in ("+", "_"):
        parts = [p for p in key.split(sep) if p]
        if len(parts) < 2 or key.endswith(sep + sep):
            continue
        *mods, last = parts
        if all(m.lower() in _MODIFIERS for m in mods):
            tail = _single_key(last)
            if tail is not None:
                return " ".join([*(_KEYS.get(m.lower(), m.lower()) for m in mods), tail])
    if len(key) > 1 and key[-1] in "+_" and key[:-1].lower().rstrip("+_") in _MODIFIERS:
        mods = [m for m in re.split(r"[+_]", key[:-1]) if m]
        return " ".join([*(_KEYS.get(m.lower(), m.lower()) for m in mods), char_name(key[-1])])
    return re.sub(r"[-_+]+", " ", key).strip().lower()
