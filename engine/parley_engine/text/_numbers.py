"""English number words (American style: no "and" inside numbers, hyphens in 21..99).

Pure functions on ints and digit strings; the normaliser decides which reading a number gets.
"""

from __future__ import annotations

__all__ = [
    "cardinal",
    "decimal",
    "digits",
    "number_plural",
    "ordinal",
    "year",
    "year_2digit",
]

_ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = (
    "",
    "thousand",
    "million",
    "billion",
    "trillion",
    "quadrillion",
    "quintillion",
    "sextillion",
    "septillion",
    "octillion",
    "nonillion",
    "decillion",
)
_ORD_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
#: Largest integer read with scale words; anything larger is read digit by digit.
MAX_CARDINAL = 10 ** (3 * len(_SCALES)) - 1


def _below_1000(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return words
    if n >= 20:
        words.append(_TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else ""))
    else:
        words.append(_ONES[n])
    return words


def cardinal(n: int) -> str:
    """1234 -> 'one thousand two hundred thirty-four'; -5 -> 'minus five'.

    Numbers beyond the decillions are read digit by digit.
    """
    if n < 0:
        return "minus " + cardinal(-n)
    if n < 1000:
        return " ".join(_below_1000(n))
    if n > MAX_CARDINAL:
        return digits(str(n))
    groups: list[str] = []
    scale = 0
    while n:
        n, g = divmod(n, 1000)
        if g:
            groups.append(" ".join(_below_1000(g)) + (" " + _SCALES[scale] if scale else ""))
        scale += 1
    return " ".join(reversed(groups))


def _ord_word(w: str) -> str:
    if w in _ORD_IRREGULAR:
        return _ORD_IRREGULAR[w]
    if w.endswith("y"):
        return w[:-1] + "ieth"
    return w + "th"


def ordinal(n: int) -> str:
    """103 -> 'one hundred third'; 22 -> 'twenty-second'."""
    c = cardinal(n)
    head, sep, last = c.rpartition(" ")
    if "-" in last:
        a, _, b = last.rpartition("-")
        last = a + "-" + _ord_word(b)
    else:
        last = _ord_word(last)
    return head + sep + last


def year(n: int) -> str:
    """Year reading: 1999 -> 'nineteen ninety-nine', 2005 -> 'two thousand five',
    2024 -> 'twenty twenty-four', 1900 -> 'nineteen hundred', 1905 -> 'nineteen oh five'.

    Values below 1000 or above 9999 are read as cardinals.
    """
    if n < 1000 or n > 9999:
        return cardinal(n)
    high, low = divmod(n, 100)
    if high % 10 == 0 and low < 10:  # 1000, 2000, 2005, 1009
        return cardinal(n)
    if low == 0:
        return cardinal(high) + " hundred"
    if low < 10:
        return cardinal(high) + " oh " + cardinal(low)
    return cardinal(high) + " " + cardinal(low)


def year_2digit(s: str) -> str:
    """A two-digit year as written in '3/15/24' or "'05": '24' -> 'twenty-four', '05' -> 'oh five'."""
    n = int(s)
    if n == 0:
        return "oh oh"
    if n < 10:
        return "oh " + cardinal(n)
    return cardinal(n)


def digits(s: str) -> str:
    """'0123' -> 'zero one two three' (non-digits are ignored)."""
    return " ".join(_ONES[int(c)] for c in s if "0" <= c <= "9")


def decimal(int_part: str, frac_part: str) -> str:
    """('3', '14') -> 'three point one four'; ('', '5') -> 'zero point five'.

    int_part may contain thousands separators; frac_part is read digit by digit.
    """
    ip = int_part.replace(",", "") or "0"
    words = cardinal(int(ip))
    if frac_part:
        words += " point " + digits(frac_part)
    return words


def number_plural(words: str) -> str:
    """Plural of a number reading: 'nineteen ninety' -> 'nineteen nineties', 'six' -> 'sixes'."""
    head, sep, last = words.rpartition(" ")
    pre, hy, tail = last.rpartition("-")
    if tail.endswith("y"):
        tail = tail[:-1] + "ies"
    elif tail.endswith(("x", "s")):
        tail += "es"
    else:
        tail += "s"
    return head + sep + pre + hy + tail
