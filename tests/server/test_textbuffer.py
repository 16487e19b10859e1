"""TextBuffer: when streamed text is ready to be spoken (pure; driven with explicit times)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parley_engine.text.split import (
    PAUSE_CLAUSE_MS,
    PAUSE_COMMA_MS,
    PAUSE_NONE_MS,
    PAUSE_PARAGRAPH_MS,
    PAUSE_SENTENCE_MS,
)
from parley_server.textbuffer import Piece, TextBuffer

ALNUM = re.compile(r"[^\W_]")


def texts(pieces: list[Piece]) -> list[str]:
    return [p.text for p in pieces]


def feed(buf: TextBuffer, tokens: list[str], dt_ms: float = 50.0) -> list[tuple[int, Piece]]:
    """Push tokens at a steady rate; (index of the token that released it, piece) for each piece."""
    out: list[tuple[int, Piece]] = []
    for i, tok in enumerate(tokens):
        out.extend((i, p) for p in buf.push(tok, i * dt_ms))
    return out


# -- sentences -------------------------------------------------------------------------------------


def test_sentence_is_released_when_its_end_is_certain() -> None:
    b = TextBuffer(latency_budget_ms=None)
    assert b.push("Hello there.", 0) == []  # "." may still become "..." or "there.com"
    [p] = b.push(" How", 10)
    assert p == Piece("Hello there.", 0, 12, PAUSE_SENTENCE_MS, "sentence")
    assert b.unspoken == " How"


@pytest.mark.parametrize("mark", ["!", "?", "?!", "…", '!"'])
def test_exclamation_and_question_marks_end_a_sentence_at_once(mark: str) -> None:
    b = TextBuffer(latency_budget_ms=None)
    [p] = b.push(f"Are you coming{mark}", 0)
    assert p.text == f"Are you coming{mark}" and p.reason == "sentence"


def test_period_after_a_plain_word_ends_the_sentence_as_soon_as_whitespace_follows() -> None:
    b = TextBuffer(latency_budget_ms=None)
    assert texts(b.push("We left at noon. ", 0)) == ["We left at noon."]


@pytest.mark.parametrize("abbrev", ["Dr. ", "Mr. ", "e.g. ", "U.S. ", "J. "])
def test_abbreviations_wait_for_the_next_word(abbrev: str) -> None:
    b = TextBuffer(latency_budget_ms=None)
    assert b.push(f"I met {abbrev}", 0) == []
    assert b.push("Smith", 10) == []  # "Dr. Smith" goes on
    assert texts(b.push(" today. And", 20)) == [f"I met {abbrev}Smith today."]


def test_number_then_period_waits_for_the_next_character() -> None:
    b = TextBuffer(latency_budget_ms=None)
    assert b.push("It costs 3.", 0) == []
    assert b.push("5 euros", 10) == []
    assert texts(b.end()) == ["It costs 3.5 euros"]


def test_several_sentences_in_one_push_come_out_one_by_one() -> None:
    b = TextBuffer(latency_budget_ms=None)
    pieces = b.push("One. Two! Three? Four", 0)
    assert texts(pieces) == ["One.", "Two!", "Three?"]
    assert [p.reason for p in pieces] == ["sentence"] * 3
    assert texts(b.end()) == ["Four"]


def test_paragraph_break_is_a_boundary_with_its_pause() -> None:
    b = TextBuffer(latency_budget_ms=None)
    [p] = b.push("A heading\n\nThen", 0)
    assert p.text == "A heading" and p.pause_after_ms == PAUSE_PARAGRAPH_MS


# -- clauses ---------------------------------------------------------------------------------------


def test_clause_with_enough_words_is_released_when_its_comma_arrives() -> None:
    b = TextBuffer(latency_budget_ms=None)
    assert b.push("Well", 0) == []
    assert b.push(",", 10) == []  # "Well," is one word: too short a clause
    assert b.push(" I think that", 20) == []
    [p] = b.push(",", 30)  # the comma completes a clause of 4 words: speak now
    assert p == Piece("Well, I think that,", 0, 19, PAUSE_COMMA_MS, "clause")


def test_the_last_clause_boundary_is_used() -> None:
    b = TextBuffer(latency_budget_ms=None)
    [p] = b.push("Red, green, blue and yellow; then more", 0)
    assert p.text == "Red, green, blue and yellow;" and p.pause_after_ms == PAUSE_CLAUSE_MS


def test_comma_between_numbers_is_not_a_boundary() -> None:
    b = TextBuffer(latency_budget_ms=None)
    assert b.push("The winners are 1, ", 0) == []  # "1, 2" or "1, and"? the next character decides
    assert b.push("2, 3", 10) == []
    assert texts(b.push(" and 4, then", 20)) == ["The winners are 1, 2, 3 and 4,"]


@pytest.mark.parametrize("mark", [":", ")", " -"])
def test_colon_paren_and_dash_wait_for_whitespace(mark: str) -> None:
    b = TextBuffer(latency_budget_ms=None)
    assert b.push(f"Here is the list of things{mark}", 0) == []
    assert texts(b.push(" a", 10)) == [f"Here is the list of things{mark}"]


def test_thousands_separator_is_not_a_boundary() -> None:
    b = TextBuffer(latency_budget_ms=None)
    assert b.push("It weighs about 1,", 0) == []
    assert b.push("000 kilos and", 10) == []
    assert texts(b.end()) == ["It weighs about 1,000 kilos and"]


# -- latency budget --------------------------------------------------------------------------------


def test_budget_releases_up_to_the_last_complete_word() -> None:
    b = TextBuffer(latency_budget_ms=300)
    assert b.push("so what we", 100) == []
    assert b.due_ms() == 400  # the first unspoken word arrived at 100
    assert b.poll(399) == []
    assert b.push(" need", 350) == []  # "need" may still grow: it is not complete
    [p] = b.poll(400)
    assert p == Piece("so what we", 0, 10, PAUSE_NONE_MS, "budget")
    assert b.unspoken == " need"
    assert b.due_ms() is None  # nothing complete left to release
    assert b.push(" is", 420) == []
    assert b.due_ms() == 650  # "need" arrived at 350


def test_budget_counts_from_the_first_unspoken_word() -> None:
    b = TextBuffer(latency_budget_ms=300)
    b.push("alpha", 0)
    b.push(" beta", 100)
    assert texts(b.push(" gamma", 310)) == ["alpha beta"]  # at 310 the budget of "alpha" (0) ran out
    b.push(" delta", 320)
    assert b.due_ms() == 610  # "gamma" arrived at 310
    assert texts(b.poll(610)) == ["gamma"]


def test_no_budget_waits_for_a_boundary() -> None:
    b = TextBuffer(latency_budget_ms=None)
    b.push("an endless run of words without any punctuation at all ", 0)
    assert b.due_ms() is None and b.poll(10**9) == []
    assert texts(b.flush()) == ["an endless run of words without any punctuation at all"]


def test_zero_budget_speaks_every_complete_word() -> None:
    b = TextBuffer(latency_budget_ms=0)
    assert b.push("one", 0) == []
    assert texts(b.push(" two", 1)) == ["one"]


# -- length, flush, end ----------------------------------------------------------------------------


def test_long_text_without_boundary_is_cut_at_a_word() -> None:
    b = TextBuffer(latency_budget_ms=None, max_piece_chars=40)
    pieces = b.push("word " * 30, 0)
    assert pieces and all(len(p.text) <= 40 and p.reason == "length" for p in pieces)
    assert all(p.text.split()[-1] == "word" for p in pieces)


def test_flush_speaks_everything_even_a_partial_word() -> None:
    b = TextBuffer(latency_budget_ms=None)
    b.push("Half a thou", 0)
    assert b.flush() == [Piece("Half a thou", 0, 11, PAUSE_NONE_MS, "flush")]
    assert b.unspoken == "" and b.flush() == []
    assert texts(b.push("ght. Next", 20)) == ["ght."]  # offsets keep counting
    assert b.chars_received == 20


def test_end_releases_the_rest_and_refuses_more() -> None:
    b = TextBuffer()
    b.push("Last words", 0)
    [p] = b.end()
    assert p.reason == "end" and p.text == "Last words" and b.ended
    with pytest.raises(ValueError):
        b.push("more", 1)
    assert b.end() == [] and b.poll(10**9) == []


def test_unspeakable_text_waits_for_speakable_text_and_is_dropped_at_the_end() -> None:
    b = TextBuffer(latency_budget_ms=0)
    assert b.push("— ", 0) == [] and b.push("… ", 1) == []
    assert b.end() == []
    b2 = TextBuffer(latency_budget_ms=None)
    b2.push("— ", 0)
    assert texts(b2.push("Go now!", 1)) == ["— Go now!"]


def test_streamed_tokens_release_the_first_clause_with_the_token_that_completes_it() -> None:
    text = "Honestly, I did not expect you here, but come in. The tea is ready, and so am I."
    tokens = re.findall(r"\s*\S+", text)  # LLM style: each token carries its leading space
    b = TextBuffer(latency_budget_ms=None)
    released = feed(b, tokens)
    assert [(tokens[i], p.text) for i, p in released] == [
        (" here,", "Honestly, I did not expect you here,"),  # released by the comma's own token
        (" The", "but come in."),  # a period needs the next token to be sure
        (" ready,", "The tea is ready,"),
    ]
    assert texts(b.end()) == ["and so am I."]  # "I." could be an initial: only the end tells


def test_validation() -> None:
    with pytest.raises(ValueError):
        TextBuffer(latency_budget_ms=-1)
    with pytest.raises(ValueError):
        TextBuffer(latency_budget_ms=float("nan"))
    with pytest.raises(ValueError):
        TextBuffer(min_clause_words=0)
    with pytest.raises(ValueError):
        TextBuffer(max_piece_chars=8)


# -- fuzz ------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
atoms = st.sampled_from(
    list("abc XYZ 019.,;:!?…—-()\"'\né😀") + ["Dr.", "e.g.", "  ", "\n\n", " The", " and"]
)
token_lists = st.lists(st.lists(atoms, max_size=6).map("".join), max_size=40)
budgets = st.none() | st.floats(0, 500)
gaps = st.lists(st.floats(0, 200), max_size=40)


@FUZZ
@given(token_lists, budgets, gaps, st.data())
def test_pieces_are_exact_trimmed_ordered_slices_covering_every_word(
    tokens: list[str], budget: float | None, dts: list[float], data: st.DataObject
) -> None:
    b = TextBuffer(latency_budget_ms=budget, max_piece_chars=40)
    whole = ""
    pieces: list[Piece] = []
    now = 0.0
    for i, tok in enumerate(tokens):
        now += dts[i] if i < len(dts) else 10.0
        due = b.due_ms()
        if due is not None and due <= now:
            pieces += b.poll(now)
        if data.draw(st.booleans()) and data.draw(st.booleans()) and data.draw(st.booleans()):
            pieces += b.flush()
        whole += tok
        pieces += b.push(tok, now)
        assert b.chars_received == len(whole)
        due = b.due_ms()
        if due is not None:
            released = b.poll(due)
            assert released, "at its due time the budget must release something"
            pieces += released
            now = max(now, due)
    pieces += b.end()
    end = 0
    for p in pieces:
        assert whole[p.start_char : p.end_char] == p.text
        assert p.text == p.text.strip() and ALNUM.search(p.text)
        assert p.start_char >= end
        end = p.end_char
    # Every letter and digit was spoken, in order (only text without any is ever dropped).
    spoken = "".join(ALNUM.findall(" ".join(p.text for p in pieces)))
    assert spoken == "".join(ALNUM.findall(whole))
