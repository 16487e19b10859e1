"""Screen-reader text modes: punctuation levels, spelling, capitals, characters and keys (pure)."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parley_engine.text import normalize
from parley_engine.text.screenreader import (
    CAPITAL_PITCH_SEMITONES,
    SYMBOLS,
    SpokenChar,
    char_name,
    key_text,
    punctuate,
    spell,
    spoken_char,
)

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def test_exported_from_text_package() -> None:
    import parley_engine.text as text

    for name in ("punctuate", "spell", "spoken_char", "char_name", "key_text", "SpokenChar"):
        assert hasattr(text, name), name


# -- punctuation levels ---------------------------------------------------------------------------


def test_none_leaves_text_alone() -> None:
    for t in ["Hi, there!", "a+b=c", "Wait... what?!", "$5 (50%)", ""]:
        assert punctuate(t, "none") == t


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("Hi, see example.com!", "some", "Hi, see example dot com!"),
        ("Hi, see example.com!", "all", "Hi comma, see example dot com exclamation!"),
        ("a+b=c", "some", "a plus b equals c"),
        ("mail me @ home #1", "some", "mail me at home number 1"),
        ("(x)", "some", "(x)"),
        ("(x)", "most", "left paren( x right paren)"),
        ("one; two", "some", "one; two"),
        ("one; two", "most", "one semicolon; two"),
        ('say "hi"', "most", "say quote hi quote"),
        ("Wait... what?", "some", "Wait... what?"),
        ("Wait... what?", "all", "Wait dot dot dot... what question?"),
        ("==========", "some", "10 equals"),
        ("Dr. Smith left.", "some", "Dr. Smith left."),
        ("Dr. Smith left.", "all", "Dr dot. Smith left dot."),
    ],
)
def test_levels(text: str, mode: str, expected: str) -> None:
    assert punctuate(text, mode) == expected


def test_levels_are_nested() -> None:
    """Whatever 'some' names, 'most' names too, and 'all' names everything 'most' does."""
    text = "a+b (c) d; e, f. g! h? @ # % & * / < = > [ ] { } | ~ ^ _ ` \\ $ ' \""
    named = {}
    for mode in ("some", "most", "all"):
        out = punctuate(text, mode)
        named[mode] = {s.name for c, s in SYMBOLS.items() if c in text and f"{s.name}" in out}
    assert named["some"] <= named["most"] <= named["all"]
    assert named["some"] < named["most"] < named["all"]


def test_number_syntax_is_never_named() -> None:
    for mode in ("some", "most", "all"):
        out = punctuate("Pi is 3.14, it's -5 at 10:30 for 1,000 people", mode)
        assert "3.14" in out and "it's" in out and "-5" in out and "10:30" in out and "1,000" in out, out


def test_all_keeps_prosody_marks_and_every_word() -> None:
    out = punctuate("Well, then: go (now)!", "all")
    assert out == "Well comma, then colon: go left paren( now right paren) exclamation!"
    # the normaliser reads the result without losing the names
    assert "comma" in normalize(out) and "exclamation" in normalize(out)


@pytest.mark.parametrize("mode", ["none", "some", "most", "all", "bogus"])
@FUZZ
@given(st.text(max_size=80))
def test_punctuate_never_raises_and_keeps_letters(mode: str, text: str) -> None:
    out = punctuate(text, mode)
    assert isinstance(out, str)
    letters = [c for c in text if c.isalnum()]
    # every letter and digit survives, in order
    it = iter(out)
    assert all(any(c == o for o in it) for c in letters)


# -- characters, spelling, capitals ---------------------------------------------------------------


def test_letters_digits_and_whitespace() -> None:
    assert char_name("a") == "eh" and char_name("A") == "eh"  # alone, "a" is the article
    assert [char_name(c) for c in "bxz"] == ["b", "x", "z"]
    assert [char_name(c) for c in "0179"] == ["zero", "one", "seven", "nine"]
    assert [char_name(c) for c in " \t\n"] == ["space", "tab", "new line"]


def test_symbols_and_unicode_names() -> None:
    assert char_name(",") == "comma" and char_name("(") == "left paren" and char_name("@") == "at"
    assert char_name("é") == "e acute" and char_name("ñ") == "n tilde" and char_name("ç") == "c cedilla"
    assert char_name("ß") == "sharp s" and char_name("Ω") == "omega" and char_name("π") == "pi"
    assert char_name("😀") == "grinning face"
    assert char_name("\x07") == "control character"
    assert char_name("") == ""


def test_every_printable_ascii_character_has_a_speakable_name() -> None:
    for c in string.printable:
        name = char_name(c)
        assert name and any(ch.isalpha() for ch in name), repr(c)
        if c.isalpha():
            # the name reads as the letter (the G2P says a letter name for one lowercase letter)
            assert normalize(name) == name


def test_capital_modes() -> None:
    assert spoken_char("B") == SpokenChar("B", "b")
    assert spoken_char("B", "spell") == SpokenChar("B", "capital b")
    assert spoken_char("A", "icon") == SpokenChar("A", "eh", CAPITAL_PITCH_SEMITONES)
    assert spoken_char("b", "icon") == SpokenChar("b", "b")
    assert spoken_char("É", "spell").text == "capital e acute"
    assert spoken_char("1", "spell").text == "one"  # digits have no case


def test_spell_names_every_character_in_order() -> None:
    out = spell("Hi 2!", "spell")
    assert [c.char for c in out] == ["H", "i", " ", "2", "!"]
    assert [c.text for c in out] == ["capital h", "i", "space", "two", "exclamation"]
    icon = spell("aB", "icon")
    assert [c.pitch_semitones for c in icon] == [0.0, CAPITAL_PITCH_SEMITONES]
    assert spell("e\u0301") == [SpokenChar("é", "e acute")]  # composed first


@FUZZ
@given(st.text(max_size=40))
def test_spell_never_raises_and_names_everything(text: str) -> None:
    out = spell(text, "icon")
    assert all(c.text for c in out)


# -- keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a", "eh"),
        ("A", "eh"),
        ("space", "space"),
        ("enter", "enter"),
        ("Return", "enter"),
        ("tab", "tab"),
        ("backspace", "backspace"),
        ("BackSpace", "backspace"),
        ("escape", "escape"),
        ("double-quote", "double quote"),
        ("underscore", "underscore"),
        ("kp-enter", "keypad enter"),
        ("kp-5", "keypad five"),
        ("KP_Add", "keypad plus"),
        ("f5", "F 5"),
        ("prior", "page up"),
        ("Page_Down", "page down"),
        ("shift_a", "shift eh"),
        ("control_alt_delete", "control alt delete"),
        ("ctrl+shift+t", "control shift t"),
        ("ctrl++", "control plus"),
        (",", "comma"),
        ("(", "left paren"),
        ("unknown-thing", "unknown thing"),
        ("", ""),
    ],
)
def test_key_text(key: str, expected: str) -> None:
    assert key_text(key) == expected


@FUZZ
@given(st.text(max_size=30))
def test_key_text_never_raises(key: str) -> None:
    assert isinstance(key_text(key), str)
