"""split_sentences() and plan_chunks(): boundaries, exact offsets, the first-chunk policy, pauses."""

from __future__ import annotations

import pytest
from parley_engine.errors import InvalidSettingError
from parley_engine.text import TextChunk, plan_chunks, split_sentences
from parley_engine.text.split import (
    FIRST_MIN_WORDS,
    PAUSE_CLAUSE_MS,
    PAUSE_COMMA_MS,
    PAUSE_ELLIPSIS_MS,
    PAUSE_LINE_MS,
    PAUSE_NONE_MS,
    PAUSE_PARAGRAPH_MS,
    PAUSE_SENTENCE_MS,
)


def texts(chunks: list[TextChunk]) -> list[str]:
    return [c.text for c in chunks]


def assert_exact_cover(text: str, chunks: list[TextChunk]) -> None:
    """Chunks are exact, ordered, non-overlapping slices that cover every visible character."""
    pos = 0
    for c in chunks:
        assert c.text == text[c.start_char : c.end_char]
        assert c.text and c.text == c.text.strip()
        assert c.start_char >= pos
        assert not text[pos : c.start_char].strip(), f"lost {text[pos : c.start_char]!r}"
        pos = c.end_char
    assert not text[pos:].strip(), f"lost {text[pos:]!r}"


# -- sentences -----------------------------------------------------------------------------------

SENTENCE_CASES = [
    ("Dr. Smith met Mr. Jones. They talked.", ["Dr. Smith met Mr. Jones.", "They talked."]),
    ("Use e.g. this one. Or i.e. that one.", ["Use e.g. this one.", "Or i.e. that one."]),
    ("The U.S. Army is big. It is.", ["The U.S. Army is big.", "It is."]),
    ("I live in the U.S. The weather is nice.", ["I live in the U.S.", "The weather is nice."]),
    ("Pi is 3.14 roughly. Yes.", ["Pi is 3.14 roughly.", "Yes."]),
    ("J. K. Rowling wrote it. John F. Kennedy too.", ["J. K. Rowling wrote it.", "John F. Kennedy too."]),
    ("Plan B. Then go.", ["Plan B.", "Then go."]),
    ("Wait... what? Wait... then we go.", ["Wait... what?", "Wait... then we go."]),
    ("Hmm… Okay.", ["Hmm…", "Okay."]),
    ('He said "Stop!" Then he left.', ['He said "Stop!"', "Then he left."]),
    ('"Why?" she asked. Fine.', ['"Why?" she asked.', "Fine."]),
    ("(It was late.) Fine.", ["(It was late.)", "Fine."]),
    ("It costs $5. Cheap! Really?! Yes.", ["It costs $5.", "Cheap!", "Really?!", "Yes."]),
    ("Meet at 9 a.m. Tomorrow works.", ["Meet at 9 a.m.", "Tomorrow works."]),
    ("Meet at 9 a.m. sharp. Fine.", ["Meet at 9 a.m. sharp.", "Fine."]),
    (
        "We bought apples, pears, etc. The store closed.",
        ["We bought apples, pears, etc.", "The store closed."],
    ),
    ("See No. 5 instead. No. I refuse.", ["See No. 5 instead.", "No.", "I refuse."]),
    ("Visit St. Louis on Jan. 5 with Prof. Lee.", ["Visit St. Louis on Jan. 5 with Prof. Lee."]),
    ("Ends without punctuation", ["Ends without punctuation"]),
    ("Ends with a closing quote.” Next.", ["Ends with a closing quote.”", "Next."]),
    ("Hello 😀. 😀 Bye.", ["Hello 😀.", "😀 Bye."]),
    ("Done. ...", ["Done. ..."]),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCE_CASES, ids=[c[0][:40] for c in SENTENCE_CASES])
def test_sentence_boundaries(text: str, expected: list[str]) -> None:
    chunks = split_sentences(text)
    assert texts(chunks) == expected
    assert all(c.is_sentence_end for c in chunks)
    assert_exact_cover(text, chunks)


def test_lines_and_paragraphs() -> None:
    text = "Title\n\nFirst line.\nSecond line here\n- item\n- item two\nwrapped line\ncontinues here."
    chunks = split_sentences(text)
    assert texts(chunks) == [
        "Title",
        "First line.",
        "Second line here",
        "- item",
        "- item two\nwrapped line\ncontinues here.",  # a lowercase next line continues the sentence
    ]
    assert [c.pause_after_ms for c in chunks] == [
        PAUSE_PARAGRAPH_MS,
        PAUSE_LINE_MS,
        PAUSE_LINE_MS,
        PAUSE_LINE_MS,
        PAUSE_SENTENCE_MS,
    ]
    assert_exact_cover(text, chunks)


def test_pauses_follow_the_punctuation() -> None:
    chunks = split_sentences("One. Two? Three… Four!\n\nFive.")
    assert [(c.text, c.pause_after_ms) for c in chunks] == [
        ("One.", PAUSE_SENTENCE_MS),
        ("Two?", PAUSE_SENTENCE_MS),
        ("Three…", PAUSE_ELLIPSIS_MS),
        ("Four!", PAUSE_PARAGRAPH_MS),
        ("Five.", PAUSE_SENTENCE_MS),
    ]


def test_pause_values_are_ordered_like_speech() -> None:
    assert PAUSE_NONE_MS == 0
    assert PAUSE_NONE_MS < PAUSE_COMMA_MS < PAUSE_CLAUSE_MS < PAUSE_SENTENCE_MS
    assert PAUSE_SENTENCE_MS < PAUSE_LINE_MS < PAUSE_PARAGRAPH_MS
    assert PAUSE_SENTENCE_MS < PAUSE_ELLIPSIS_MS < PAUSE_PARAGRAPH_MS


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t "])
def test_empty_text_gives_no_chunks(text: str) -> None:
    assert split_sentences(text) == []
    assert plan_chunks(text) == []


def test_offsets_are_exact_with_leading_whitespace_and_unicode() -> None:
    text = "  \u00a0Héllo wörld 😀!  Ünïcode “quotes.”\n\n  Last one  "
    chunks = split_sentences(text)
    assert texts(chunks) == ["Héllo wörld 😀!", "Ünïcode “quotes.”", "Last one"]
    assert_exact_cover(text, chunks)


def test_punctuation_only_pieces_join_a_neighbour() -> None:
    chunks = split_sentences("... Hello there. !!! Bye.")
    assert texts(chunks) == ["... Hello there. !!!", "Bye."] or texts(chunks) == [
        "... Hello there.",
        "!!! Bye.",
    ]
    assert all(any(ch.isalnum() for ch in c.text) for c in chunks)


# -- plan: first chunk ---------------------------------------------------------------------------


def test_short_first_sentence_is_not_cut() -> None:
    chunks = plan_chunks("Hello there. How are you today?")
    assert texts(chunks) == ["Hello there.", "How are you today?"]


def test_first_chunk_cut_at_first_clause_boundary_after_three_words() -> None:
    text = "When the storm came, everyone ran inside the old stone house by the river and waited there."
    chunks = plan_chunks(text)
    assert texts(chunks) == [
        "When the storm came,",
        "everyone ran inside the old stone house by the river and waited there.",
    ]
    assert chunks[0].pause_after_ms == PAUSE_COMMA_MS
    assert not chunks[0].is_sentence_end and chunks[1].is_sentence_end


def test_first_chunk_clause_boundary_needs_three_words() -> None:
    text = "Well, I think that we should go to the market before it closes tonight, okay?"
    chunks = plan_chunks(text)
    # "Well," has one word: too short; no later comma within 12 words; cut before "before".
    assert texts(chunks) == [
        "Well, I think that we should go to the market",
        "before it closes tonight, okay?",
    ]
    assert chunks[0].pause_after_ms == PAUSE_NONE_MS


def test_first_chunk_cut_before_preposition_when_no_conjunction() -> None:
    chunks = plan_chunks("The quick brown fox jumps over the lazy dog near the river bank today.")
    assert texts(chunks) == ["The quick brown fox jumps", "over the lazy dog near the river bank today."]


def test_first_chunk_forced_cut_after_first_max_words() -> None:
    text = " ".join(f"word{i}" for i in range(20)) + "."
    chunks = plan_chunks(text, first_max_words=12)
    assert chunks[0].word_count == 12
    assert chunks[0].pause_after_ms == PAUSE_NONE_MS
    assert_exact_cover(text, chunks)


def test_first_chunk_policy_only_applies_to_the_first_chunk() -> None:
    long = "and the next sentence is much longer than twelve words, so it could be cut, but it is not."
    chunks = plan_chunks("Hi. " + long[0].upper() + long[1:])
    assert len(chunks) == 2


def test_first_chunk_policy_can_be_disabled() -> None:
    text = "The quick brown fox jumps over the lazy dog near the river bank today."
    assert texts(plan_chunks(text, first_max_words=0)) == [text]


@pytest.mark.parametrize("n", range(FIRST_MIN_WORDS, 13))
def test_first_chunk_has_between_three_and_first_max_words(n: int) -> None:
    text = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen."
    chunks = plan_chunks(text, first_max_words=n)
    assert FIRST_MIN_WORDS <= chunks[0].word_count <= n
    assert_exact_cover(text, chunks)


def test_date_comma_is_not_a_clause_boundary() -> None:
    chunks = plan_chunks("On March 3rd, 2024, we all met at the old house by the sea and talked for hours.")
    assert chunks[0].text == "On March 3rd, 2024,"


# -- plan: long sentences ------------------------------------------------------------------------

LONG = (
    "This is a very long sentence that goes on and on, with many clauses; it has semicolons: colons "
    "— dashes, and commas, and it keeps going without stopping because the writer never learned to use "
    "a full stop and so the splitter has to cut it somewhere sensible so that no chunk is longer than the "
    "limit, which is three hundred characters by default, but here we use a smaller one for the test."
)


@pytest.mark.parametrize("max_chars", [16, 40, 80, 120, 300])
def test_long_sentences_respect_max_chars(max_chars: int) -> None:
    chunks = plan_chunks(LONG, max_chars=max_chars)
    assert all(len(c.text) <= max_chars for c in chunks)
    assert_exact_cover(LONG, chunks)
    assert chunks[-1].is_sentence_end and not any(c.is_sentence_end for c in chunks[:-1])


def test_long_sentence_prefers_clause_punctuation() -> None:
    chunks = plan_chunks(LONG, max_chars=80, first_max_words=0)
    # clauses are packed while they fit
    assert chunks[0].text == "This is a very long sentence that goes on and on, with many clauses;"
    assert chunks[0].pause_after_ms == PAUSE_CLAUSE_MS
    assert chunks[1].text == "it has semicolons: colons — dashes, and commas,"
    assert chunks[1].pause_after_ms == PAUSE_COMMA_MS
    # A clause longer than the limit is cut at a word boundary, preferably before a conjunction
    # or preposition, with no pause.
    forced = [c for c in chunks if c.pause_after_ms == PAUSE_NONE_MS]
    assert forced
    for c in forced:
        nxt = chunks[chunks.index(c) + 1]
        assert LONG[c.end_char : nxt.start_char].isspace()


def test_unbroken_token_is_hard_cut_without_losing_characters() -> None:
    text = "x" * 130 + " end."
    chunks = plan_chunks(text, max_chars=50)
    assert [len(c.text) for c in chunks] == [50, 50, 35]
    assert "".join(c.text for c in chunks[:2]) + chunks[2].text == text.replace(" end.", "") + " end."
    assert_exact_cover(text, chunks)


def test_default_plan_keeps_sentences_whole_up_to_300_chars() -> None:
    sentence = ("A sentence with several words in it, " * 7).strip() + " and an end."
    assert len(sentence) <= 300
    chunks = plan_chunks("Hi. " + sentence)
    assert texts(chunks) == ["Hi.", sentence]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_chars": 0}, "max_chars"),
        ({"max_chars": 15}, "max_chars"),
        ({"max_chars": 2.5}, "max_chars"),
        ({"max_chars": True}, "max_chars"),
        ({"first_max_words": -1}, "first_max_words"),
        ({"first_max_words": "12"}, "first_max_words"),
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSettingError) as err:
        plan_chunks("Hello.", **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_textchunk_is_frozen() -> None:
    c = plan_chunks("Hello.")[0]
    assert c == TextChunk("Hello.", 0, 6, PAUSE_SENTENCE_MS, True)
    with pytest.raises(AttributeError):
        c.text = "x"  # type: ignore[misc]
