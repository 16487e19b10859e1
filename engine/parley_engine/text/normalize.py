"""Written English -> speakable words, for every G2P Parley uses (hibari/misaki and espeak-ng).

    normalize("Dr. Smith paid $9.99 on 3/15/2024 at 7:30 pm.")
    -> 'Doctor Smith paid nine dollars and ninety-nine cents on March fifteenth, twenty twenty-four
        at seven thirty PM.'

Guarantees (each pinned by tests):

* No digit survives: every digit group becomes words (cardinals, decimals, ordinals, years, dates,
  times, money, percentages, units, ranges, fractions, phone-like strings read digit by digit).
* No word is dropped. Abbreviations and symbols are replaced by words; letters of scripts no English
  G2P can read (CJK, Cyrillic, Arabic, Greek words, ...), emoji, control, format and zero-width
  characters are removed. A lone Greek letter is read by name ("2π" -> "two pi").
* Sentence punctuation (. , ; : ! ? — … quotes, parentheses) is kept; brackets become parentheses.
* Idempotent: normalize(normalize(x)) == normalize(x).
* Never raises on any ``str``. Fast: ~0.06 ms for a plain 15-word sentence, ~0.2-0.3 ms for a
  number-heavy one (2-core machine); every regex is compiled at import, passes whose trigger
  characters are absent are skipped, no I/O.

Readings are American English: no "and" inside numbers ("one hundred twenty"), "twenty-four" with
a hyphen, "$9.99" as "nine dollars and ninety-nine cents", 4-digit numbers as years only in a year
context ("in 1999", "1999-2005", "March 2024", "1200 BC") and as cardinals otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Final

from . import _numbers as N
from ._boundary import period_ends_sentence
from ._tables import (
    BEFORE_NUMBER,
    CURRENCY,
    GREEK_NAMES,
    IRREGULAR_PLURALS,
    MAGNITUDES,
    MONTH_FORMS,
    MONTHS,
    NO_PERIOD,
    NON_TERMINAL,
    NOT_PLURALS,
    QUANTITY_CUES,
    ROMAN_CARDINAL_CUES,
    ROMAN_ORDINAL_CUES,
    SYMBOL_WORDS,
    TERMINAL,
    TITLES,
    TITLES_NEED_PERIOD,
    UNITS,
    UNITS_SPACED,
    VULGAR_FRACTIONS,
    WEEKDAYS,
    YEAR_CUES,
    YEAR_SUFFIXES,
)

__all__ = ["normalize"]

Match = re.Match[str]


def _alt(words: Iterable[str]) -> str:
    """Regex alternation of literal words, longest first."""
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


# ------------------------------------------------------------------------------------------------
# 1. Unicode cleaning: one pass over the characters (cached per character).
# ------------------------------------------------------------------------------------------------

_CHAR_MAP: Final[dict[str, str]] = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u02bc": "'",
    "\u2033": '"',
    "\u201c": "“",
    "\u201d": "”",
    "\u201e": "“",
    "\u201f": "“",
    "«": "“",
    "»": "”",
    "‹": "'",
    "›": "'",
    "「": "“",
    "」": "”",
    "『": "“",
    "』": "”",
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "–",
    "\u2013": "–",
    "\u2014": "—",
    "\u2015": "—",
    "\u2212": "-",
    "\u2043": "-",
    "\ufe58": "—",
    "\ufe63": "-",
    "\uff0d": "-",
    "‥": "…",
    "、": ",",
    "。": ".",
    "·": " ",
    "•": " ",
    "‧": " ",
    "◦": " ",
    "‣": " ",
    "∙": " ",
    "º": "°",
    "˚": "°",
    "¡": " ",
    "¿": " ",
    "\u2126": "Ω",
    "\u00a0": " ",
}
_KEEP: Final[frozenset[str]] = frozenset(
    "$£€¥₹₩₽₿₪₺₴₦₱¢°%‰§№±×÷≈≠≤≥∞√µΩ²³¹⁰⁴⁵⁶⁷⁸⁹…“”—–" + "".join(VULGAR_FRACTIONS)
)
_WS_CC: Final = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85")


@lru_cache(maxsize=16384)
def _map_char(c: str) -> str:
    """Replacement for one character of a non-ASCII text (after NFC)."""
    if c.isascii():
        return " " if c in _WS_CC else ("" if c < " " or c == "\x7f" else c)
    if c in _CHAR_MAP:
        return _CHAR_MAP[c]
    if c in _KEEP:
        return c
    cat = unicodedata.category(c)
    major = cat[0]
    if major == "Z":
        return " "
    if major == "C":  # control, format (zero-width, bidi, soft hyphen), private use, unassigned
        return " " if c in _WS_CC else ""
    if major == "M":  # combining marks left over after NFC, variation selectors
        return ""
    if cat == "Nd":
        d = unicodedata.decimal(c, -1)
        return str(d) if d >= 0 else " "
    if major in "LNP" or cat in ("Sc", "Sm"):
        # Compatibility forms with a plain ASCII reading: fullwidth forms, ligatures, mathematical
        # alphanumerics ("𝐁𝐨𝐥𝐝"), circled digits, subscripts, letterlike symbols.
        k = unicodedata.normalize("NFKC", c)
        if k != c and k.isascii() and k.isprintable() and not any(ch.isspace() for ch in k):
            return k
    if major == "L":
        name = unicodedata.name(c, "")
        if name.startswith("LATIN"):
            return c
        if name.startswith("GREEK"):
            return c  # lone Greek letters are read by name later; Greek words are dropped below
        return " "
    return " "  # emoji, other symbols, other scripts' punctuation and numbers


_ASCII_CTRL: Final = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
_WS: Final = re.compile(r"\s+")
_GREEK_WORD: Final = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]{2,}")
_LEADING_PUNCT: Final = re.compile(r"^(?:(?:[,;:!?—–…)]|[.\-](?=[\s,;:.!?—–…)\-]))+\s*)+(?=\S)")
_ELLIPSIS: Final = re.compile(r"\.\s?\.(?:\s?\.)+")
_MARKUP: Final = str.maketrans({**{c: " " for c in "_*\\|^`"}, "[": "(", "]": ")", "{": "(", "}": ")"})
_MD_LINK: Final = re.compile(r"\[([^\[\]]*)\]\([^()\s]*\)")  # [text](url) -> text
_ARROW: Final = re.compile(r"\s*(?:-+>|=+>|→|⇒)\s*")
#: "~" and "#" are read only before a number ("~5", "#5"); "<" and ">" before a number or between
#: spaces ("x < y"); elsewhere (markup, hashtags) they are dropped.
_STRAY_SIGNS: Final = re.compile(r"[~#](?!\s?-?\.?\d)|(?<!\s)[<>](?!=?\s?-?\.?\d)|[<>](?![\s=]|-?\.?\d)")


def _clean(text: str) -> str:
    if text.isascii():
        text = _ASCII_CTRL.sub("", text)
    else:
        text = "".join(map(_map_char, unicodedata.normalize("NFC", text)))
        if max(text, default=" ") >= "\u0370":
            text = _GREEK_WORD.sub(" ", text)
    if "](" in text:
        text = _MD_LINK.sub(r"\1", text)
    text = text.translate(_MARKUP)
    if "~" in text or "#" in text or "<" in text or ">" in text or "→" in text or "⇒" in text:
        text = _ARROW.sub(" to ", text)
        text = _STRAY_SIGNS.sub(" ", text)
    text = _WS.sub(" ", text).strip()
    if ".." in text or ". ." in text:
        text = _ELLIPSIS.sub("…", text)
    return _tidy(text, dashes=False)


# ------------------------------------------------------------------------------------------------
# 2. URLs, e-mail addresses, file names (before numbers: "site2.com", "192.168.0.1").
# ------------------------------------------------------------------------------------------------

_TLD: Final = (
    "com|org|net|edu|gov|mil|int|io|ai|dev|app|co|uk|us|de|fr|es|it|nl|eu|ca|au|jp|cn|ru|in|br|info|biz"
    "|tv|me|ly|xyz|tech|online|site"
)
_EMAIL: Final = re.compile(
    r"(?<![\w.+-])(?P<u>[A-Za-z0-9](?:[\w.+-]*[A-Za-z0-9])?)@(?P<d>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,})(?![\w@-])"
)
_URL: Final = re.compile(
    rf"(?<![\w@/.-])(?P<scheme>(?:https?|ftp)://)?(?P<www>www\.)?(?P<host>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    rf"\.(?:{_TLD}))(?P<port>:\d+)?(?P<path>/[^\s\"<>“”]*)?(?![\w-])"
)
_URL_OTHER: Final = re.compile(r"(?<![\w])(?P<scheme>(?:https?|ftp)://)(?P<rest>[^\s\"<>“”]+)")
_FILE: Final = re.compile(
    r"(?<![\w.])(?P<n>[A-Za-z][\w-]*)\.(?P<e>txt|pdf|docx?|xlsx?|pptx?|csv|tsv|json|xml|html?|js|ts|tsx|jsx"
    r"|py|md|yaml|yml|toml|ini|cfg|png|jpe?g|gif|svg|webp|mp3|mp4|wav|ogg|flac|zip|tar|gz|exe|sh|cpp|rs"
    r"|go|java|rb|php|css|onnx|wasm|log)\b(?!\.\w)"
)
_TRAILING_PUNCT: Final = re.compile(r"[.,;:!?)\]'\"”’]+$")


def _say_dots(s: str) -> str:
    s = s.replace(".", " dot ").replace("_", " underscore ").replace("-", " dash ").replace("+", " plus ")
    return s


def _email(m: Match) -> str:
    return f"{_say_dots(m.group('u'))} at {_say_dots(m.group('d'))}"


def _read_path(path: str) -> str:
    path = re.split(r"[?#]", path, maxsplit=1)[0]  # query strings and fragments are not read
    parts = [p for p in path.split("/") if p]
    words = []
    for p in parts:
        words.append(p.replace(".", " dot ").replace("-", " ").replace("_", " ").replace("~", " "))
    return "".join(" slash " + w for w in words)


def _url(m: Match) -> str:
    path = m.group("path") or ""
    tail = ""
    t = _TRAILING_PUNCT.search(path)
    if t:
        tail, path = path[t.start() :], path[: t.start()]
    host = m.group("host").replace(".", " dot ").replace("-", " dash ")
    out = ("w w w dot " if m.group("www") else "") + host
    if m.group("port"):
        out += " colon " + m.group("port")[1:]
    return out + _read_path(path) + tail


def _url_other(m: Match) -> str:
    rest = m.group("rest")
    tail = ""
    t = _TRAILING_PUNCT.search(rest)
    if t:
        tail, rest = rest[t.start() :], rest[: t.start()]
    host, _, path = rest.partition("/")
    host = host.replace(".", " dot ").replace(":", " colon ")
    return host + _read_path("/" + path) + tail


def _urls(text: str) -> str:
    if "@" in text:
        text = _EMAIL.sub(_email, text)
    if "://" in text:
        text = _URL.sub(_url, text)
        text = _URL_OTHER.sub(_url_other, text)
    if "." in text:
        text = _URL.sub(_url, text)
        text = _FILE.sub(lambda m: f"{m.group('n')} dot {m.group('e')}", text)
    return text


# ------------------------------------------------------------------------------------------------
# 3. Numbers.
# ------------------------------------------------------------------------------------------------

NUM: Final = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_REST_SKIP: Final = "\"'”’)]} \t"


def _rest(m: Match) -> str:
    return m.string[m.end() :].lstrip(_REST_SKIP)


def _keep_period(word: str, m: Match) -> str:
    """'.' when the period consumed at the end of match ``m`` (after ``word``) ends the sentence."""
    return "." if period_ends_sentence(word, _rest(m)) else ""


def _read(s: str) -> str:
    """A number string as written ('1,250', '3.14', '007') -> words."""
    ip, _, fp = s.partition(".")
    if fp:
        return N.decimal(ip, fp)
    if "," not in ip and len(ip) > 1 and ip[0] == "0":
        return N.digits(ip)
    return N.cardinal(int(ip.replace(",", "")))


def _is_one(s: str) -> bool:
    return s in ("1", "01")


def _signed(neg: str | None, s: str) -> str:
    return ("minus " if neg else "") + _read(s)


def _group_digits(groups: list[str]) -> str:
    return ", ".join(N.digits(g) for g in groups if g)


# -- phone numbers and digit codes --------------------------------------------------------------
_PHONE_INTL: Final = re.compile(r"(?<![\w+])\+(?P<p>\d[\d().\- ]{5,}\d)(?![\w])")
_PHONE: Final = re.compile(
    r"(?<![\w+.\-])(?:(?P<cc>\+?\d{1,3})[ .\-]?)?(?P<a>\(\d{3}\) ?|\d{3}[ .\-])(?P<b>\d{3})[ .\-](?P<c>\d{4})"
    r"(?![\w\-]|\.\d)"
)
_PHONE7: Final = re.compile(r"(?<![\w.\-])(\d{3})-(\d{4})(?![\w\-]|\.\d)")
_DIGIT_CODE: Final = re.compile(r"(?<![\w.\-])\d+(?:-\d+){2,}(?![\w\-]|\.\d)")
_SPLIT_SEP: Final = re.compile(r"[\s().\-]+")


def _phone_intl(m: Match) -> str:
    groups = _SPLIT_SEP.split(m.group("p"))
    if sum(len(g) for g in groups) < 7:
        return m.group(0)
    return "plus " + _group_digits(groups)


def _phone(m: Match) -> str:
    cc = m.group("cc") or ""
    head = ("plus " if cc.startswith("+") else "") + (N.digits(cc) + ", " if cc else "")
    return head + _group_digits([m.group("a").strip("() .-"), m.group("b"), m.group("c")])


# -- dates --------------------------------------------------------------------------------------
_MONTH_ALT: Final = _alt(MONTH_FORMS)
_MW: Final = r"[A-Z][a-z]{2,8}"  # month-shaped word; the callback checks MONTH_FORMS
_DATE_ISO: Final = re.compile(r"(?<![\w.\-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\w\-]|\.\d)")
_DATE_SLASH: Final = re.compile(r"(?<![\w./])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\w/]|\.\d)")
_DATE_DOT: Final = re.compile(r"(?<![\w.])(\d{1,2})\.(\d{1,2})\.(\d{4})(?![\w]|\.\d)")
_DATE_MDY: Final = re.compile(
    rf"\b(?P<m>{_MW})(?P<mdot>\.)?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?![:.]\d|,\d{{3}}|\s?[%°])"
    rf"(?:(?P<c>,)?\s+(?P<y>\d{{4}})\b(?![:.,]\d))?"
)
_DATE_DMY: Final = re.compile(
    rf"(?<![\w.,])(?P<the>[Tt]he\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m>{_MW})\b"
    rf"(?P<mdot>\.)?(?:(?P<c>,)?\s+(?P<y>\d{{4}})\b(?![:.,]\d))?"
)
_DATE_MY: Final = re.compile(rf"\b(?P<m>{_MW})(?P<mdot>\.)?,?\s+(?P<y>\d{{4}})\b(?![:.,]\d)")


def _month_name(n: int) -> str:
    return MONTHS[n - 1]


def _year_words(y: str) -> str:
    return N.year_2digit(y) if len(y) == 2 else N.year(int(y))


def _date_mdy_words(mo: int, d: int, y: str | None) -> str:
    return f"{_month_name(mo)} {N.ordinal(d)}" + (f", {_year_words(y)}" if y else "")


def _date_dmy_words(d: int, mo: int, y: str | None) -> str:
    return f"the {N.ordinal(d)} of {_month_name(mo)}" + (f" {_year_words(y)}" if y else "")


def _date_iso(m: Match) -> str:
    y, mo, d = m.group(1), int(m.group(2)), int(m.group(3))
    if 1 <= mo <= 12 and 1 <= d <= 31:
        return _date_mdy_words(mo, d, y)
    return m.group(0)


def _date_slash(m: Match) -> str:
    a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
    if 1 <= a <= 12 and 1 <= b <= 31:
        return _date_mdy_words(a, b, y)  # US order
    if 1 <= b <= 12 and 13 <= a <= 31:
        return _date_dmy_words(a, b, y)
    return m.group(0)


def _date_dot(m: Match) -> str:
    a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
    if 1 <= b <= 12 and 1 <= a <= 31:
        return _date_dmy_words(a, b, y)  # European order
    if 1 <= a <= 12 and 13 <= b <= 31:
        return _date_mdy_words(a, b, y)
    return m.group(0)


def _date_mdy(m: Match) -> str:
    d = int(m.group("d"))
    if not 1 <= d <= 31 or m.group("m") not in MONTH_FORMS:
        return m.group(0)
    mo = MONTH_FORMS[m.group("m")]
    y = m.group("y")
    words = f"{_month_name(mo)} {N.ordinal(d)}"
    if y:
        words += ("," if m.group("c") else "") + " " + N.year(int(y))
    return words


def _date_dmy(m: Match) -> str:
    d = int(m.group("d"))
    if not 1 <= d <= 31 or m.group("m") not in MONTH_FORMS:
        return m.group(0)
    mo = MONTH_FORMS[m.group("m")]
    the = m.group("the") or ""
    words = f"{the or 'the '}{N.ordinal(d)} of {_month_name(mo)}"
    y = m.group("y")
    if y:
        words += ("," if m.group("c") else "") + " " + N.year(int(y))
    elif m.group("mdot"):
        words += _keep_period(m.group("m") + ".", m)
    return words


def _date_my(m: Match) -> str:
    if m.group("m") not in MONTH_FORMS:
        return m.group(0)
    return f"{_month_name(MONTH_FORMS[m.group('m')])} {N.year(int(m.group('y')))}"


# -- times and ratios ---------------------------------------------------------------------------
_AMPM: Final = r"(?:\s?(?P<ap>[AaPp])\.?[Mm](?P<apdot>\.)?(?![A-Za-z]))"
_TIME: Final = re.compile(
    rf"(?<![\w:.,])(?P<h>\d{{1,2}}):(?P<mi>\d{{2}})(?::(?P<s>\d{{2}}))?(?!\d){_AMPM}?(?![\w:]|\.\d)"
)
_TIME_DOT: Final = re.compile(rf"(?<![\w:.,])(?P<h>\d{{1,2}})\.(?P<mi>\d{{2}}){_AMPM}")
_HOUR_AMPM: Final = re.compile(rf"(?<![\w:.,])(?P<h>\d{{1,2}}){_AMPM}")
_RATIO: Final = re.compile(r"(?<![\w:.,])(\d+):(\d+)(?![\w:]|\.\d)")


def _time(m: Match) -> str:
    h = int(m.group("h"))
    mi = int(m.groupdict().get("mi") or 0)
    sec_s = m.groupdict().get("s")
    sec = int(sec_s) if sec_s else 0
    ap = m.group("ap")
    if mi > 59 or sec > 59 or h > 24 or (ap and not 1 <= h <= 12):
        return m.group(0)
    if not ap and h in (0, 24) and mi == 0 and sec == 0:
        return "midnight"
    if not ap and h == 0:
        h, ap = 12, "a"
    words = N.cardinal(h)
    if mi == 0:
        if not ap and not sec:
            words += " o'clock" if h <= 12 else " hundred"
    elif mi < 10:
        words += " oh " + N.cardinal(mi)
    else:
        words += " " + N.cardinal(mi)
    if sec:
        words += " and " + N.cardinal(sec) + (" second" if sec == 1 else " seconds")
    if ap:
        words += " AM" if ap in "Aa" else " PM"
        if m.group("apdot"):
            words += _keep_period("p.m.", m)
    return words


# -- money --------------------------------------------------------------------------------------
_SYM_CUR: Final = [c for c in CURRENCY if not c.isalpha() and c not in ("Rs.",)]
_CODE_CUR: Final = [c for c in CURRENCY if c.isalpha() or c == "Rs."]
_MAG_ALT: Final = "k|K|mn|MM|bn|m|M|b|B|tn|T"
_CUR_PRE: Final = re.compile(
    rf"(?<![\w$£€¥₹₩₽₿₪₺₴₦₱.,])(?P<neg>-)?(?P<cur>{_alt(_SYM_CUR)}|(?:{_alt(_CODE_CUR)})(?= ?\d))"
    rf"\s?(?P<neg2>-)?"
    rf"(?P<a>{NUM})(?:\s?[-–]\s?(?:{_alt(_SYM_CUR)})?(?P<b>{NUM}))?"
    rf"(?:(?P<mag>{_MAG_ALT})(?![\w])|\s(?P<magw>hundred|thousand|million|billion|trillion)\b)?"
)
_CUR_SUF: Final = re.compile(
    rf"(?<![\w.,])(?P<neg>-)?(?P<a>{NUM})(?:\s?[-–]\s?(?P<b>{NUM}))?"
    rf"(?:\s?(?P<magw>hundred|thousand|million|billion|trillion))?"
    rf"\s?(?P<cur>[$£€¥₹₩₽₿₪₺₴₦₱](?![\w$])|(?:USD|EUR|GBP|JPY|CAD|AUD|CHF|CNY|INR)\b)"
)
_CENTS: Final = re.compile(rf"(?<![\w.,])(?P<a>{NUM})\s?¢")


def _amount(a: str, names: tuple[str, str, str, str]) -> str:
    sg, pl, msg, mpl = names
    ip, _, fp = a.partition(".")
    if fp and (len(fp) > 2 or not msg):
        return f"{N.decimal(ip, fp)} {pl}"
    n = int(ip.replace(",", "") or "0")
    cents = int(fp.ljust(2, "0")) if fp else 0
    if n == 0 and cents:
        return f"{N.cardinal(cents)} {msg if cents == 1 else mpl}"
    words = f"{N.cardinal(n)} {sg if n == 1 else pl}"
    if cents:
        words += f" and {N.cardinal(cents)} {msg if cents == 1 else mpl}"
    return words


def _money(m: Match) -> str:
    names = CURRENCY[m.group("cur").strip()]
    neg = "minus " if (m.group("neg") or m.groupdict().get("neg2")) else ""
    a, b = m.group("a"), m.group("b")
    mag = m.groupdict().get("mag") or m.group("magw")
    if mag:
        nums = _read(a) + (" to " + _read(b) if b else "")
        return f"{neg}{nums} {MAGNITUDES[mag]} {names[1]}"
    if b:
        if "." not in a and "." not in b:
            return f"{neg}{_read(a)} to {_read(b)} {names[1]}"
        return f"{neg}{_amount(a, names)} to {_amount(b, names)}"
    return neg + _amount(a, names)


def _cents(m: Match) -> str:
    a = m.group("a")
    return f"{_read(a)} {'cent' if _is_one(a) else 'cents'}"


# -- percent, degrees, units --------------------------------------------------------------------
_PERCENT: Final = re.compile(
    rf"(?<![\w.,])(?P<neg>-)?(?P<a>{NUM})(?:\s?[%‰]?\s?[-–]\s?(?P<neg2>-)?(?P<b>{NUM}))?\s?(?P<p>[%‰])"
)
_DEGREES: Final = re.compile(
    rf"(?<![\w.,])(?P<neg>-)?(?P<a>{NUM})(?:\s?°?\s?[-–]\s?(?P<neg2>-)?(?P<b>{NUM}))?\s?°\s?(?P<s>[CFK](?![\w]))?"
)
_FEET_INCHES: Final = re.compile(
    r"(?<![\w.,])(?P<f>\d{1,2})(?:'|\s?ft\.?)\s?(?P<i>\d{1,2}(?:\.\d+)?)(?:\"|''|\s?in\b\.?)"
)
_PER: Final[dict[str, str]] = {
    "h": "hour",
    "hr": "hour",
    "hour": "hour",
    "s": "second",
    "sec": "second",
    "min": "minute",
    "d": "day",
    "day": "day",
    "wk": "week",
    "week": "week",
    "mo": "month",
    "month": "month",
    "yr": "year",
    "year": "year",
    "kg": "kilogram",
    "g": "gram",
    "km": "kilometer",
    "m": "meter",
    "L": "liter",
    "l": "liter",
    "gal": "gallon",
    "ft": "foot",
    "lb": "pound",
}
_UNIT: Final = re.compile(
    rf"(?<![\w.,])(?P<neg>-)?(?P<a>{NUM})(?:\s?[-–]\s?(?P<b>{NUM}))?"
    rf"(?:\s?(?P<u>{_alt(UNITS)})|\s(?P<us>{_alt(UNITS_SPACED)}))(?:/(?P<per>[A-Za-z]+))?"
    rf"(?![\w²³/]|\.\d)(?P<udot>\.(?=\s+[a-z]))?"
)
_DECIMAL_SECONDS: Final = re.compile(r"(?<![\w.,])(?P<a>\d+\.\d+)s\b")
_MAGNITUDE: Final = re.compile(rf"(?<![\w.,])(?P<neg>-)?(?P<a>{NUM})(?P<mag>k|M|MM|mn|bn|tn)(?![\w])")


def _nums(m: Match) -> str:
    neg = m.group("neg")
    b = m.group("b")
    words = _signed(neg, m.group("a"))
    if b:
        words += " to " + _signed(m.groupdict().get("neg2"), b)
    return words


def _plural_unit(m: Match, forms: tuple[str, str]) -> str:
    return forms[0] if _is_one(m.group("a")) and not m.group("b") else forms[1]


def _percent(m: Match) -> str:
    return _nums(m) + (" percent" if m.group("p") == "%" else " per mille")


def _degrees(m: Match) -> str:
    words = _nums(m) + " " + _plural_unit(m, ("degree", "degrees"))
    scale = m.group("s")
    if scale:
        words += {"C": " Celsius", "F": " Fahrenheit", "K": " Kelvin"}[scale]
    return words


def _feet_inches(m: Match) -> str:
    f, i = m.group("f"), m.group("i")
    return f"{_read(f)} {'foot' if _is_one(f) else 'feet'} {_read(i)} {'inch' if _is_one(i) else 'inches'}"


def _unit(m: Match) -> str:
    u = m.group("u")
    forms = UNITS[u] if u else UNITS_SPACED[m.group("us")]
    words = _nums(m) + " " + _plural_unit(m, forms)
    per = m.group("per")
    if per:
        words += " per " + _PER.get(per, per)
    return words


def _magnitude(m: Match) -> str:
    return f"{_signed(m.group('neg'), m.group('a'))} {MAGNITUDES[m.group('mag')]}"


# -- "No. 5", "#5", "~5", "<5" ------------------------------------------------------------------
_BEFORE_NUM: Final = re.compile(rf"(?<![\w.])(?P<w>{_alt(BEFORE_NUMBER)})\s?(?=-?\d)")
_HASH_NUM: Final = re.compile(r"(?<![\w&#])#\s?(?=\d)")
_TILDE_NUM: Final = re.compile(r"(?<![\w~])~\s?(?=-?\.?\d)")
_CMP_NUM: Final = re.compile(r"(?<![<>=])(?P<op>[<>≤≥])(?P<eq>=)?\s?(?=-?\.?\d)")
_CMP_WORDS: Final[dict[str, str]] = {
    "<": "less than",
    ">": "greater than",
    "≤": "less than or equal to",
    "≥": "greater than or equal to",
}


def _cmp(m: Match) -> str:
    words = _CMP_WORDS[m.group("op")]
    if m.group("eq"):
        words += " or equal to"
    return f" {words} "


# -- ordinals, plurals, multiplication, fractions, versions -------------------------------------
_ORDINAL: Final = re.compile(r"(?<![\w.,])(?P<n>\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th|ST|ND|RD|TH)\b")
_PLURAL: Final = re.compile(r"(?<![\w.,])(?P<ap>')?(?P<n>\d+)(?P<q>')?s\b")
_APOSTROPHE_YEAR: Final = re.compile(r"(?<![\w'])'(?P<y>\d{2})(?![\w'])")
_TIMES: Final = re.compile(rf"(?<![\w.,])(?P<a>{NUM})\s?(?P<x>[x×])\s?(?P<b>{NUM})(?![\w])")
_TIMES_SUFFIX: Final = re.compile(rf"(?<![\w.,])(?P<a>{NUM})x\b")
_MIXED_FRACTION: Final = re.compile(r"(?<![\w.,/])(?P<w>\d+)\s(?P<a>\d{1,2})/(?P<b>\d{1,2})(?![\w/]|\.\d)")
_FRACTION: Final = re.compile(r"(?<![\w.,/])(?P<a>\d+)/(?P<b>\d+)(?![\w/]|\.\d)")
_VULGAR: Final = re.compile(rf"(?:(?P<w>\d+)\s?)?(?P<f>[{''.join(VULGAR_FRACTIONS)}])")
_VERSION: Final = re.compile(r"(?<![\w.,])(\d+(?:\.\d+){2,})(?![\w]|\.\d)")
_SUPERSCRIPT_DIGITS: Final = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_POWER: Final = re.compile(rf"(?<=\d)(?P<s>[{_SUPERSCRIPT_DIGITS}]+)")


def _ordinal(m: Match) -> str:
    return N.ordinal(int(m.group("n").replace(",", "")))


def _plural(m: Match) -> str:
    s = m.group("n")
    n = int(s)
    if m.group("q") and not m.group("ap") and not (len(s) in (2, 4) and n % 10 == 0):
        # possessive: "2024's budget", "the 1990's best"
        return (N.year(n) if _yearish(s) and n <= 2099 else _read(s)) + "'s"
    if len(s) == 4 and not m.group("ap"):
        return N.number_plural(N.year(n))
    return N.number_plural(_read(s))


def _times(m: Match) -> str:
    return f"{_read(m.group('a'))} {'by' if m.group('x') == 'x' else 'times'} {_read(m.group('b'))}"


_FRACTION_DENOMINATORS: Final = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 32, 64})


def _fraction_words(a: int, b: int, *, mixed: bool = False) -> str:
    if b == 2:
        den = ("half", "halves")
    elif b == 4:
        den = ("quarter", "quarters")
    else:
        o = N.ordinal(b)
        den = (o, o + "s")
    if a == 1:
        return ("a " if mixed else "one ") + den[0]
    return f"{N.cardinal(a)} {den[1]}"


def _mixed_fraction(m: Match) -> str:
    a, b = int(m.group("a")), int(m.group("b"))
    if not (0 < a < b and b in _FRACTION_DENOMINATORS):
        return m.group(0)
    return f"{_read(m.group('w'))} and {_fraction_words(a, b, mixed=True)}"


def _fraction(m: Match) -> str:
    sa, sb = m.group("a"), m.group("b")
    a, b = int(sa), int(sb)
    if (a, b) == (24, 7):
        return "twenty-four seven"
    if (a, b) == (50, 50):
        return "fifty-fifty"
    if b in (5, 10, 100) and 0 <= a <= b:
        return f"{_read(sa)} out of {_read(sb)}"
    if 0 < a < b and b in _FRACTION_DENOMINATORS:
        return _fraction_words(a, b)
    if 1 <= a <= 12 and 13 <= b <= 31:
        return f"{_month_name(a)} {N.ordinal(b)}"
    return f"{_read(sa)} slash {_read(sb)}"


def _vulgar(m: Match) -> str:
    a, b = VULGAR_FRACTIONS[m.group("f")]
    w = m.group("w")
    if w:
        return f"{_read(w)} and {_fraction_words(a, b, mixed=True)} "
    return f" {_fraction_words(a, b)} "


def _version(m: Match) -> str:
    parts = m.group(1).split(".")
    return (" point " if len(parts) == 3 else " dot ").join(_read(p) for p in parts)


def _power(m: Match) -> str:
    s = m.group("s")
    if s == "²":
        return " squared"
    if s == "³":
        return " cubed"
    return " to the power of " + _read(s.translate(str.maketrans(_SUPERSCRIPT_DIGITS, "0123456789")))


# -- ranges and plain numbers (with year context) -----------------------------------------------
_RANGE: Final = re.compile(
    rf"(?<![\w.,/:\-])(?P<a>{NUM})(?P<sp1>\s?)(?P<sep>[-–])(?P<sp2>\s?)(?P<b>{NUM})(?![\w/:]|[.,]\d|[-–]\d)"
    r"(?P<eq>\s*=)?"
)
_LETTER_DIGIT: Final = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_NUMBER: Final = re.compile(
    r"(?<![\w.])(?P<neg>-(?=\.?\d))?(?P<n>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
)
_ANY_DIGITS: Final = re.compile(r"\d+")
_PREV_WORD: Final = re.compile(r"([^\s(\"“]+)[\s(\"“]*$")
_NEXT_WORD: Final = re.compile(r"[\s)]*([A-Za-z][A-Za-z.']*)")
_YEAR_JOIN: Final = re.compile(r"\s*(?:and|or|to|through|until|till|-|–)\s*")
_MONTH_WORDS: Final = frozenset(MONTHS)


def _yearish(s: str) -> bool:
    return len(s) == 4 and s.isdigit() and s[0] != "0"


def _year_reading(text: str, start: int, end: int) -> bool:
    """Is the bare four-digit number text[start:end] a year?

    Yes after a year cue ("in", "since", a month, ...), before "BC"/"AD", alone in parentheses;
    no after a quantity cue ("over", "about", ...) or before a plural noun ("2024 apples");
    otherwise yes for 1100..2099 (in running text such numbers are mostly years) and no outside.
    """
    prev = ""
    pm = _PREV_WORD.search(text, max(0, start - 24), start)
    if pm is not None:
        prev = pm.group(1)
        if prev.lower() in YEAR_CUES or prev in YEAR_CUES or prev.rstrip(",") in _MONTH_WORDS:
            return True
    nxt = ""
    nm = _NEXT_WORD.match(text, end)
    if nm is not None:
        nxt = nm.group(1)
        if nxt in YEAR_SUFFIXES or nxt.rstrip(".") in YEAR_SUFFIXES:
            return True
        nxt = nxt.rstrip(".")
    if start > 0 and text[start - 1] == "(" and text.startswith(")", end):
        return True
    if prev.lower() in QUANTITY_CUES:
        return False
    if nxt.islower() and (
        nxt in IRREGULAR_PLURALS
        or (nxt.endswith("s") and not nxt.endswith(("ss", "us", "'s")) and nxt not in NOT_PLURALS)
    ):
        return False
    return 1100 <= int(text[start:end]) <= 2099


def _range(m: Match) -> str:
    a, b = m.group("a"), m.group("b")
    spaced = bool(m.group("sp1")) and bool(m.group("sp2"))
    if m.group("eq") is not None and m.group("sep") == "-":
        return f"{_read(a)} minus {_read(b)}{m.group('eq')}"
    if _yearish(a) and int(a) <= 2099:
        if _yearish(b) and int(a) < int(b) <= 2099:
            return f"{N.year(int(a))} to {N.year(int(b))}"
        if len(b) == 2 and b.isdigit() and not spaced:
            return f"{N.year(int(a))} to {N.year_2digit(b)}"
    return f"{_read(a)} to {_read(b)}"


def _plain_numbers(text: str) -> str:
    out: list[str] = []
    pos = 0
    last_year_end = -1
    for m in _NUMBER.finditer(text):
        s, neg = m.group("n"), m.group("neg")
        start, end = m.start(), m.end()
        words: str | None = None
        if (
            not neg
            and _yearish(s)
            and (
                (last_year_end >= 0 and _YEAR_JOIN.fullmatch(text, last_year_end, start) is not None)
                or _year_reading(text, start, end)
            )
        ):
            words = N.year(int(s))
            last_year_end = end
        elif "," not in s and "." not in s and len(s) >= 10:
            words = N.digits(s)  # account numbers, IDs: nobody says "five billion ..."
        else:
            words = _signed(neg, s)
        out.append(text[pos:start])
        out.append(words)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _any_digits(m: Match) -> str:
    s = m.group()
    return N.digits(s) if len(s) > 1 and s[0] == "0" or len(s) >= 10 else N.cardinal(int(s))


Gate = Callable[[str], bool]


def _chars(chars: str) -> Gate:
    return re.compile(f"[{re.escape(chars)}]").search  # type: ignore[return-value]


def _search(pattern: str) -> Gate:
    return re.compile(pattern).search  # type: ignore[return-value]


def _always(t: str) -> bool:
    return True


_CURRENCY_GATE: Final = _search(r"[$£€¥₹₩₽₿₪₺₴₦₱]|USD|EUR|GBP|JPY|CAD|AUD|CHF|CNY|INR|Rs")
_UNIT_GATE: Final = _search(r"\d ?[A-Za-zµμΩ]")
#: (pattern, replacement, gate): a pass runs only if its gate says the text may contain a match
#: (a substring test is much cheaper than a regex scan). Order matters: the most specific first.
_NUMBER_PASSES: Final[tuple[tuple[re.Pattern[str], Callable[[Match], str], Gate], ...]] = (
    (_BEFORE_NUM, lambda m: BEFORE_NUMBER[m.group("w")] + " ", _chars(".")),
    (_HASH_NUM, lambda m: "number ", _chars("#")),
    (_TILDE_NUM, lambda m: "about ", _chars("~")),
    (_CMP_NUM, _cmp, _chars("<>≤≥")),
    (_PHONE_INTL, _phone_intl, _chars("+")),
    (_PHONE, _phone, _search(r"\d{3}\)? ?[ .\-]?\d{3}[ .\-]\d{4}")),
    (_DATE_ISO, _date_iso, _chars("-")),
    (_DIGIT_CODE, lambda m: _group_digits(m.group().split("-")), _chars("-")),
    (_PHONE7, lambda m: _group_digits([m.group(1), m.group(2)]), _chars("-")),
    (_DATE_SLASH, _date_slash, _chars("/")),
    (_DATE_DOT, _date_dot, _chars(".")),
    (_TIME, _time, _chars(":")),
    (_TIME_DOT, _time, _chars(".")),
    (_HOUR_AMPM, _time, _search(r"\d ?[AaPp]\.?[Mm]")),
    (_RATIO, lambda m: f"{_read(m.group(1))} to {_read(m.group(2))}", _chars(":")),
    (_DATE_MDY, _date_mdy, _search(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)")),
    (_DATE_DMY, _date_dmy, _search(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)")),
    (_DATE_MY, _date_my, _search(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)")),
    (_CUR_PRE, _money, _CURRENCY_GATE),
    (_CUR_SUF, _money, _CURRENCY_GATE),
    (_CENTS, _cents, _chars("¢")),
    (_PERCENT, _percent, _chars("%‰")),
    (_DEGREES, _degrees, _chars("°")),
    (_FEET_INCHES, _feet_inches, _search(r"\d(?:'|\s?ft)")),
    (_UNIT, _unit, _UNIT_GATE),
    (_MAGNITUDE, _magnitude, _UNIT_GATE),
    (_DECIMAL_SECONDS, lambda m: _read(m.group("a")) + " seconds", _search(r"\.\d+s")),
    (_ORDINAL, _ordinal, _search(r"\d(?:st|nd|rd|th|ST|ND|RD|TH)")),
    (_PLURAL, _plural, _search(r"\d'?s")),
    (_APOSTROPHE_YEAR, lambda m: N.year_2digit(m.group("y")), _chars("'")),
    (_TIMES, _times, _chars("x×")),
    (_TIMES_SUFFIX, lambda m: _read(m.group("a")) + " times", _chars("x")),
    (_MIXED_FRACTION, _mixed_fraction, _chars("/")),
    (_FRACTION, _fraction, _chars("/")),
    (_VULGAR, _vulgar, _chars("".join(VULGAR_FRACTIONS))),
    (_VERSION, _version, _chars(".")),
    (_POWER, _power, _chars(_SUPERSCRIPT_DIGITS)),
    (_RANGE, _range, _chars("-–")),
)


def _numbers(text: str) -> str:
    for pattern, fn, gate in _NUMBER_PASSES:
        if gate(text):
            text = pattern.sub(fn, text)
    text = _LETTER_DIGIT.sub(" ", text)
    text = _plain_numbers(text)
    return _ANY_DIGITS.sub(_any_digits, text)


# ------------------------------------------------------------------------------------------------
# 4. Words: Roman numerals, titles, abbreviations, initials.
# ------------------------------------------------------------------------------------------------

_ROMAN_RE: Final = r"(?=[MDCLXVI])M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_ROMAN: Final = re.compile(r"\b(?P<cue>[A-Za-z][a-z]+\.?)\s+(?P<r>[MDCLXVI]+)\b(?![.'’]?\w)")
_ROMAN_VALID: Final = re.compile(_ROMAN_RE)
_ROMAN_GATE: Final = re.compile(r"\s[MDCLXVI]+\b")
_ROMAN_CUES: Final = ROMAN_CARDINAL_CUES | ROMAN_ORDINAL_CUES
_ROMAN_VALUES: Final[dict[str, int]] = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def _roman_value(s: str) -> int:
    total = 0
    for i, c in enumerate(s):
        v = _ROMAN_VALUES[c]
        total += -v if i + 1 < len(s) and _ROMAN_VALUES[s[i + 1]] > v else v
    return total


def _roman(m: Match) -> str:
    cue, r = m.group("cue"), m.group("r")
    cardinal = cue in ROMAN_CARDINAL_CUES or (cue.islower() and cue.capitalize() in ROMAN_CARDINAL_CUES)
    if not (cardinal or cue in ROMAN_ORDINAL_CUES) or not _ROMAN_VALID.fullmatch(r):
        return m.group(0)
    if r == "I":  # "Henry I." and "Part I:" but not "Then John I think", "in part I agree"
        rest = m.string[m.end() :]
        if rest and rest[0] not in ",.;:!?)" and not rest.startswith((" and ", " of ")):
            return m.group(0)
    n = _roman_value(r)
    if cardinal:
        return f"{cue} {N.cardinal(n)}"
    return f"{cue} the {N.ordinal(n)}"


_TITLE: Final = re.compile(r"\b(?P<t>[A-Z][a-z]{1,3})(?:(?P<dot>\.)|\b)(?=\s+[A-Z])")
_ORDINAL_WORD: Final = re.compile(
    r"(?:first|second|third|th|[0-9]|hundred|thousand|one|two|three|four|five|six|seven|eight|nine|ten)$"
)
_STREET: Final = re.compile(r"\bSt\b(?P<dot>\.)?")
_DRIVE: Final = re.compile(r"\bDr\b(?P<dot>\.)?")
_CAP_WORD_BEFORE: Final = re.compile(r"\b[A-Z][a-z]+\s+$")


def _prev_word(s: str, start: int) -> str:
    m = _PREV_WORD.search(s, max(0, start - 32), start)
    return m.group(1) if m else ""


def _title(m: Match) -> str:
    t, dot = m.group("t"), m.group("dot")
    if t not in TITLES or (not dot and t in TITLES_NEED_PERIOD):
        return m.group(0)
    if t in ("St", "Dr"):
        if dot and period_ends_sentence(t + ".", _rest(m)):
            return m.group(0)  # "Main St. The ..." -> handled as Street below
        if t == "St" and _ORDINAL_WORD.search(_prev_word(m.string, m.start())):
            return "Street"
    return TITLES[t]


def _street(m: Match) -> str:
    return "Street" + (_keep_period("St.", m) if m.group("dot") else "")


def _drive(m: Match) -> str:
    drive = _CAP_WORD_BEFORE.search(m.string, max(0, m.start() - 32), m.start()) is not None
    word = "Drive" if drive else "Doctor"
    return word + (_keep_period("Dr.", m) if m.group("dot") else "")


_ABBREV_TABLE: Final[dict[str, str]] = {
    **{k: v for k, v in NON_TERMINAL.items()},
    **{k: v for k, v in TERMINAL.items() if k not in ("Jan.", "Mar.", "Sat.", "Sun.")},
    **{t + ".": w for t, w in TITLES.items() if t not in ("St", "Dr")},
    "Ph.D.": "PhD",
    "a.k.a.": "AKA",
}
_ABBREV: Final = re.compile(r"(?<![\w.])(?P<a>(?:[A-Za-z]+\.)+)(?=[\s,;:!?)\]\"”']|$)")
_AMBIGUOUS_ABBREV: Final = re.compile(
    rf"\b(?:(?P<wd>Sat|Sun)\.(?=,|\s+(?:{_MONTH_ALT})\b)|(?P<mo>Jan|Mar)\.(?=\s+[a-z]|,))"
)
_WEEKDAY_RANGE: Final = re.compile(
    rf"\b(?P<a>{_alt(WEEKDAYS)})\.?\s?[-–]\s?(?P<b>{_alt(WEEKDAYS)})\b(?P<dot>\.)?"
)
_NO_PERIOD: Final = re.compile(
    r"(?<![\w/])(?:(?P<w>etc|vs|approx)\b(?!\.)|(?P<wo>w/o)(?![\w/])|(?P<wi>w/)(?=\s))"
)
_DOTTED: Final = re.compile(r"(?<![\w.])(?P<d>(?:[A-Za-z]\.){2,})(?![\w])")
_INITIAL: Final = re.compile(r"\b(?P<l>[B-HJ-Z])\.(?=\s+[A-Z])")
_DOTTED_GATE: Final = re.compile(r"[A-Za-z]\.[A-Za-z]\.")
_INITIAL_GATE: Final = re.compile(r"[B-HJ-Z]\.\s")


def _abbrev(m: Match) -> str:
    a = m.group("a")
    if a not in _ABBREV_TABLE:
        return a
    return _ABBREV_TABLE[a] + ("." if period_ends_sentence(a, _rest(m)) else "")


def _ambiguous_abbrev(m: Match) -> str:
    if m.group("wd"):
        return WEEKDAYS[m.group("wd")]
    return MONTHS[MONTH_FORMS[m.group("mo")] - 1]


def _weekday_range(m: Match) -> str:
    words = f"{WEEKDAYS[m.group('a')]} to {WEEKDAYS[m.group('b')]}"
    if m.group("dot"):
        words += _keep_period(m.group("b") + ".", m)
    return words


def _no_period(m: Match) -> str:
    if m.group("w"):
        return NO_PERIOD[m.group("w")]
    return "without" if m.group("wo") else "with"


def _dotted(m: Match) -> str:
    d = m.group("d")
    return d.replace(".", "").upper() + ("." if period_ends_sentence(d, _rest(m)) else "")


def _initial(m: Match) -> str:
    l_ = m.group("l")
    return l_ + "." if period_ends_sentence(l_ + ".", _rest(m)) else l_


def _words(text: str) -> str:
    if _ROMAN_GATE.search(text):
        text = _ROMAN.sub(_roman, text)
    text = _TITLE.sub(_title, text)
    if "St" in text:
        text = _STREET.sub(_street, text)
    if "Dr" in text:
        text = _DRIVE.sub(_drive, text)
    if "-" in text or "–" in text:
        text = _WEEKDAY_RANGE.sub(_weekday_range, text)
    if "." in text:
        if "Sat." in text or "Sun." in text or "Jan." in text or "Mar." in text:
            text = _AMBIGUOUS_ABBREV.sub(_ambiguous_abbrev, text)
        text = _ABBREV.sub(_abbrev, text)
        if _DOTTED_GATE.search(text):
            text = _DOTTED.sub(_dotted, text)
        if _INITIAL_GATE.search(text):
            text = _INITIAL.sub(_initial, text)
    if "etc" in text or "vs" in text or "approx" in text:
        text = _NO_PERIOD.sub(_no_period, text)
    return text


# ------------------------------------------------------------------------------------------------
# 5. Symbols and punctuation.
# ------------------------------------------------------------------------------------------------

_CMP_SPACED: Final = re.compile(r"(?<=\s)(?P<op><|>)(?P<eq>=)?(?=\s)")
_SYMBOLS: Final = re.compile(f"[{re.escape(''.join(SYMBOL_WORDS))}]")
_GREEK_LETTER: Final = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")
_SUPERSCRIPT: Final = re.compile(f"[{_SUPERSCRIPT_DIGITS}]+")
_CURRENCY_LEFT: Final = re.compile(f"[{re.escape(''.join(c for c in _SYM_CUR if len(c) == 1))}¢]")
_SLASH: Final = re.compile(r"\s*/\s*")
_DASH_SPACED: Final = re.compile(r"(?:(?<=\s)|^)-+(?=\s|$)|\s*-{2,}\s*|\s*[–—]+\s*")
_BULLET: Final = re.compile(r"^[-*+]\s+")
_DROP: Final = re.compile(r"[\\|^`*_~#<>{}\[\]]")


def _greek(m: Match) -> str:
    name = unicodedata.name(m.group(), "")
    for key in ("FINAL SIGMA",) + tuple(GREEK_NAMES):
        if name.endswith(" " + key):
            return f" {GREEK_NAMES[key]} "
    return " "


def _letters_and_signs(text: str) -> str:
    """Lone Greek letters, µ, superscripts and currency signs left over by the number pass (these
    are word characters or touch words, so they go before the abbreviation pass)."""
    if not text.isascii():
        text = _GREEK_LETTER.sub(_greek, text)
        text = _SUPERSCRIPT.sub(lambda m: {"²": " squared", "³": " cubed"}.get(m.group(), " "), text)
        text = text.replace("µ", " mu ")
    return _CURRENCY_LEFT.sub(" ", text)


def _symbols(text: str) -> str:
    text = _BULLET.sub("", text)
    if "<" in text or ">" in text:
        text = _CMP_SPACED.sub(lambda m: " " + _cmp(m) + " ", text)
    text = _SYMBOLS.sub(lambda m: f" {SYMBOL_WORDS[m.group()]} ", text)
    if "/" in text:
        text = _NO_PERIOD.sub(_no_period, text)
        text = _SLASH.sub(" ", text)
    return _DROP.sub(" ", text)


_SPACE_BEFORE: Final = re.compile(r"\s+(?=[,.;:!?)…”])")
_SPACE_AFTER: Final = re.compile(r"([(“])\s+")
_SPACE_NEEDED: Final = re.compile(r"([,;!?:])(?=[^\W\d_])")
_REPEATED: Final = re.compile(r"([!?,;:.])\1+")
_EMPTY_PARENS: Final = re.compile(r"\(\s*[,;:]?\s*\)|“\s*”|\"\s*\"")
_CLAUSE_BEFORE_END: Final = re.compile(r"[,;:—]+\s*(?=[.!?])")
_STACKED_ENDS: Final = re.compile(r"([.!?…])\s+[.!?]+(?=\s|$)")


def _space_needed(m: Match) -> str:
    """A space after , ; ! ? before a letter; after ':' only between letters ("re:x", not "7:30")."""
    p = m.group(1)
    if p == ":" and not (m.start() > 0 and m.string[m.start() - 1].isalpha()):
        return p
    return p + " "


def _tidy_once(text: str, dashes: bool) -> str:
    text = _WS.sub(" ", text).strip()
    text = _EMPTY_PARENS.sub("", text)
    text = _SPACE_BEFORE.sub("", text)
    text = _SPACE_AFTER.sub(r"\1", text)
    text = _REPEATED.sub(r"\1", text)
    text = _CLAUSE_BEFORE_END.sub("", text)
    text = _STACKED_ENDS.sub(r"\1", text)
    text = _SPACE_NEEDED.sub(_space_needed, text)
    text = _LEADING_PUNCT.sub("", text)
    if dashes and ("-" in text or "–" in text or "—" in text):
        text = _DASH_SPACED.sub(" — ", text).strip()
    return text


def _tidy(text: str, *, dashes: bool = True) -> str:
    """Spacing and punctuation clean-up, repeated until stable (so normalize is idempotent).
    dashes: also turn spaced hyphens and en dashes into em dashes (not before the number pass,
    which reads "10 - 20" and "5 - 3 = 2")."""
    for _ in range(4):
        new = _tidy_once(text, dashes)
        if new == text:
            break
        text = new
    return text


# ------------------------------------------------------------------------------------------------

_DIGIT: Final = re.compile(rf"[\d{''.join(VULGAR_FRACTIONS)}]")


def normalize(text: str) -> str:
    """Written English -> words a phonemizer can read (see the module docstring for the rules).

    text: any string (one sentence or many; newlines are treated as spaces).
    Returns a single line: words separated by single spaces, sentence punctuation kept; "" when
    nothing speakable is left (e.g. only emoji).
    """
    out = _normalize_once(text)
    # A pass can leave text that a rule reads differently the second time ("B$.ΪB" -> "B. B",
    # whose initial "B." the word pass then reads as "B"): repeat until stable, so that
    # normalize(normalize(x)) == normalize(x) (tests/engine/text/test_text_fuzz.py).
    for _ in range(3):
        again = _normalize_once(out)
        if again == out:
            break
        out = again
    return out


def _normalize_once(text: str) -> str:
    text = _clean(text)
    if not text:
        return ""
    text = _urls(text)
    if _DIGIT.search(text):
        text = _numbers(text)
    text = _letters_and_signs(text)
    text = _symbols(text)
    text = _words(text)
    return _tidy(text)
