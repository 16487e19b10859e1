"""Property tests: normalize and plan_chunks never raise on arbitrary text, never lose a word or a
number, and the plan always covers the text exactly."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from parley_engine.text import normalize, plan_chunks, split_sentences

FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))

# Words no rule rewrites (not abbreviations, units, month names, Roman-numeral cues, ...).
PLAIN_WORDS = [
    "hello", "world", "apple", "river", "quick", "brown", "Zebra", "table", "green", "naïve",
    "café", "Orange", "music", "window", "garden", "Yesterday", "sunlight", "paper",
]  # fmt: skip
JUNK = [
    "😀", "🎉🎉", "👍🏽", "❤️", "\u200b", "\u200d", "\ufeff", "\x00", "\x07", "\x1b", "\u00ad", "你好",
    "Привет", "مرحبا", "ελληνικά", "™", "©", "\u202e", "\ue000",
]  # fmt: skip
PUNCT = [".", ",", ";", ":", "!", "?", "…", "...", "—", "-", "(", ")", '"', "“", "”", "'", "/", "&", "*", "#"]
NUMBERS = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.integers(0, 10**9).map(lambda n: f"{n:,}"),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.3f}"),
    st.sampled_from(["1st", "22nd", "103rd", "$9.99", "£5", "12.5%", "7:30 pm", "3/15/2024", "2024-03-15",
                     "10-20", "555-123-4567", "5 km", "20°C", "1990s", "½", "#5", "x86", "3.5M"]),
)  # fmt: skip

# Arbitrary unicode (every category but lone surrogates): controls, format, combining marks, emoji.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=120)
MIXED_TOKENS = st.lists(
    st.one_of(st.sampled_from(PLAIN_WORDS), st.sampled_from(JUNK), st.sampled_from(PUNCT), NUMBERS),
    max_size=40,
)
DIGIT = re.compile(r"[0-9]")
WORD = re.compile(r"[^\W\d_]+")


def _glue(tokens: list[str]) -> str:
    return " ".join(tokens)


def _is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


@FUZZ
@given(ANY_TEXT)
@example("B$.ΪB")  # once gave "B. B", which normalised again to "B B" (found in a CI run)
def test_normalize_never_raises_and_is_idempotent(text: str) -> None:
    out = normalize(text)
    assert not DIGIT.search(out)
    assert out == out.strip() and "  " not in out and "\n" not in out
    assert not any(ord(c) < 32 for c in out)
    assert normalize(out) == out


@FUZZ
@given(MIXED_TOKENS)
def test_normalize_keeps_every_word_and_number(tokens: list[str]) -> None:
    text = _glue(tokens)
    out = normalize(text)
    assert not DIGIT.search(out), (text, out)  # every digit group became words
    want = [t.lower() for t in tokens if t in PLAIN_WORDS]
    got = [w.lower() for w in WORD.findall(out)]
    assert _is_subsequence(want, got), (text, out)
    if any(DIGIT.search(t) for t in tokens):
        assert got, (text, out)
    assert normalize(out) == out


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PLAIN_WORDS), st.sampled_from(JUNK)), min_size=1, max_size=10))
def test_junk_glued_to_words_does_not_take_the_word_with_it(pairs: list[tuple[str, str]]) -> None:
    text = " ".join(w + j if i % 2 else j + w for i, (w, j) in enumerate(pairs))
    got = [w.lower() for w in WORD.findall(normalize(text))]
    assert _is_subsequence([w.lower() for w, _ in pairs], got)


@FUZZ
@given(
    st.one_of(ANY_TEXT, MIXED_TOKENS.map(_glue)),
    st.integers(16, 400),
    st.integers(0, 20),
)
def test_plan_covers_text_exactly(text: str, max_chars: int, first_max_words: int) -> None:
    chunks = plan_chunks(text, max_chars=max_chars, first_max_words=first_max_words)
    pos = 0
    for c in chunks:
        assert c.text == text[c.start_char : c.end_char]
        assert c.text and c.text == c.text.strip()
        assert len(c.text) <= max_chars
        assert c.pause_after_ms >= 0
        assert not text[pos : c.start_char].strip()
        pos = c.end_char
    assert not text[pos:].strip()
    assert bool(chunks) == bool(text.strip())
    if chunks:
        assert chunks[-1].is_sentence_end


@FUZZ
@given(MIXED_TOKENS.map(_glue))
def test_normalising_the_plan_keeps_every_word(text: str) -> None:
    chunks = plan_chunks(text, max_chars=40, first_max_words=5)
    spoken = " ".join(normalize(c.text) for c in chunks)
    want = [w.lower() for w in text.split(" ") if w in PLAIN_WORDS]
    assert _is_subsequence(want, [w.lower() for w in WORD.findall(spoken)]), (text, spoken)
    assert not DIGIT.search(spoken)


@FUZZ
@given(ANY_TEXT)
def test_sentences_are_a_coarsening_of_the_plan(text: str) -> None:
    sentence_ends = {c.end_char for c in split_sentences(text)}
    plan_ends = {c.end_char for c in plan_chunks(text)}
    assert sentence_ends <= plan_ends
