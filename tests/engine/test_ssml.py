"""The SSML parser, run planning and IPA mappings (pure: no model)."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parley_engine.errors import TextTooLongError
from parley_engine.ssml import (
    MAX_BREAK_MS,
    MAX_DEPTH,
    MAX_SSML_CHARS,
    SsmlRun,
    SsmlSegment,
    ipa_to_espeak,
    ipa_to_misaki,
    parse_ssml,
    phonemes_for_voice,
    plan_runs,
    strip_tags,
)
from parley_engine.ssml import parse_pitch as pitch
from parley_engine.ssml import parse_rate as rate
from parley_engine.ssml import parse_volume as volume
from parley_engine.text.screenreader import CAPITAL_PITCH_SEMITONES
from parley_engine.types import VoiceInfo

FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def speak(body: str) -> str:
    return f"<speak>{body}</speak>"


def text_of(body: str, **kw: str) -> str:
    doc = parse_ssml(speak(body), **kw)
    assert not doc.fallback, doc.warnings
    return doc.text


# -- structure and text ---------------------------------------------------------------------------


def test_plain_text_and_whitespace() -> None:
    assert parse_ssml("Hello there.").text == "Hello there."
    assert not parse_ssml("Hello there.").fallback
    assert text_of("  Hello\n   there.  ") == "Hello there."
    ns = '<speak xmlns="http://www.w3.org/2001/10/synthesis" version="1.1" xml:lang="en-US">Hi</speak>'
    assert parse_ssml(ns).text == "Hi"


def test_sentences_and_paragraphs() -> None:
    assert text_of("<s>One</s><s>Two?</s>") == "One. Two?"
    assert text_of("<p><s>One</s><s>Two</s></p><p>Three</p>") == "One. Two.\n\nThree."
    assert text_of("<p>Ends well.</p><p>Next!</p>") == "Ends well.\n\nNext!"


def test_entities_and_cdata_are_text() -> None:
    assert text_of("Fish &amp; chips &lt;3 &#65;&#x42;") == "Fish & chips <3 AB"


def test_known_but_inert_elements() -> None:
    body = (
        '<voice name="x">A <lang xml:lang="fr">b</lang> <w>c</w><desc>no</desc> '
        '<audio src="x.wav">d</audio></voice>'
    )
    assert text_of(body) == "A b c d"
    assert text_of("<meta name='a' content='b'/>Hi") == "Hi"


# -- break ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "ms"),
    [
        ('time="250ms"', 250),
        ('time="1.5s"', 1500),
        ('time="2 s"', 2000),
        ('time="40"', 40),
        ('strength="none"', 0),
        ('strength="weak"', 150),
        ('strength="strong"', 600),
        ("", 300),
        ('time="99999s"', MAX_BREAK_MS),
        ('time="bogus"', 300),
        ('strength="huge"', 300),
        ('time="100ms" strength="x-strong"', 100),
    ],
)
def test_break(attrs: str, ms: int) -> None:
    doc = parse_ssml(speak(f"Before<break {attrs}/>after"))
    if ms == 0:
        assert [s.pause_ms for s in doc.segments] == [0]
    else:
        assert doc.segments[0] == SsmlSegment("Before", pause_ms=ms)
        assert doc.segments[1].text == "after"


def test_consecutive_breaks_add_up_and_leading_break_is_kept() -> None:
    doc = parse_ssml(speak('<break time="100ms"/>Hi<break time="200ms"/><break time="300ms"/>there'))
    assert [(s.text, s.pause_ms) for s in doc.segments] == [("", 100), ("Hi", 500), ("there", 0)]


# -- prosody --------------------------------------------------------------------------------------


def test_rate_values() -> None:
    assert rate("x-slow") == 0.5 and rate("medium") == 1.0 and rate("x-fast") == 2.0 and rate("fast") == 1.5
    assert rate("150%") == pytest.approx(1.5) and rate("+20%") == pytest.approx(1.2)
    assert rate("-25%") == pytest.approx(0.75) and rate("1.5") == 1.5 and rate("2x") == 2.0
    assert rate("-200%") is None and rate("fast-ish") is None and rate("0%") is None


def test_pitch_values() -> None:
    assert pitch("+2st") == 2.0 and pitch("-3st") == -3.0 and pitch("high") == 3.0 and pitch("x-low") == -6.0
    assert pitch("+100%") == pytest.approx(12.0) and pitch("-50%") == pytest.approx(-12.0)
    assert pitch("+200Hz") == pytest.approx(12.0) and pitch("100Hz") == pytest.approx(-12.0)
    assert pitch("loud") is None and pitch("-100%") is None


def test_volume_values() -> None:
    assert volume("+6dB") == 6.0 and volume("-3.5dB") == -3.5 and volume("loud") == 6.0
    assert volume("silent") == -math.inf and volume("0") == -math.inf
    assert volume("50") == pytest.approx(-6.02, abs=0.01) and volume("100") == pytest.approx(0.0)
    assert volume("+100%") == pytest.approx(6.02, abs=0.01) and volume("x-soft") == -12.0
    assert volume("blah") is None


def test_nested_prosody_composes() -> None:
    doc = parse_ssml(
        speak(
            'a<prosody rate="2" pitch="+2st" volume="-6dB">b<prosody rate="150%" pitch="+1st" '
            'volume="+3dB">c</prosody>d</prosody>e'
        )
    )
    got = [(s.text, s.rate, s.pitch_semitones, s.volume_db) for s in doc.segments]
    assert got == [
        ("a", 1.0, 0.0, 0.0),
        ("b", 2.0, 2.0, -6.0),
        ("c", 3.0, 3.0, -3.0),
        ("d", 2.0, 2.0, -6.0),
        ("e", 1.0, 0.0, 0.0),
    ]


def test_bad_prosody_attribute_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="parley.ssml"):
        doc = parse_ssml(speak('<prosody rate="zoom" pitch="+2st">x</prosody>'))
    assert not doc.fallback
    assert doc.segments == (SsmlSegment("x", pitch_semitones=2.0),)
    assert any("rate" in w for w in doc.warnings) and "rate" in caplog.text


def test_emphasis_is_slower_and_louder() -> None:
    (seg,) = parse_ssml(speak("<emphasis>now</emphasis>")).segments
    assert seg.rate < 1.0 and seg.volume_db > 0


# -- say-as, sub, phoneme -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "content", "expected"),
    [
        ('interpret-as="characters"', "abc", "eh, b, c"),
        ('interpret-as="spell-out"', "Hi!", "h, i, exclamation"),
        ('interpret-as="digits"', "2024", "two zero two four"),
        ('interpret-as="cardinal"', "12,345", "twelve thousand three hundred forty-five"),
        ('interpret-as="cardinal"', "-3.5", "minus three point five"),
        ('interpret-as="number"', "1234", "one thousand two hundred thirty-four"),
        ('interpret-as="ordinal"', "21", "twenty-first"),
        ('interpret-as="ordinal"', "3rd", "third"),
        ('interpret-as="telephone"', "555-0123", "five five five, zero one two three"),
        (
            'interpret-as="telephone"',
            "+1 (800) 555-1234",
            "plus one, eight zero zero, five five five, one two three four",
        ),
        ('interpret-as="date" format="mdy"', "3/4/2024", "March fourth, twenty twenty-four"),
        ('interpret-as="date" format="dmy"', "3/4/2024", "April third, twenty twenty-four"),
        ('interpret-as="date" format="ymd"', "2024-12-25", "December twenty-fifth, twenty twenty-four"),
        ('interpret-as="date" format="md"', "7/4", "July fourth"),
        ('interpret-as="date" format="my"', "7/99", "July ninety-nine"),
        ('interpret-as="date" format="y"', "1999", "nineteen ninety-nine"),
        ('interpret-as="date"', "13/45/2024", "13/45/2024"),
        ('interpret-as="time"', "10:30", "ten thirty"),
        ('interpret-as="time"', "14:05", "fourteen oh five"),
        ('interpret-as="time"', "9pm", "nine PM"),
        ('interpret-as="time"', "7:00", "seven o'clock"),
        ('interpret-as="unknown-kind"', "as is", "as is"),
    ],
)
def test_say_as(attrs: str, content: str, expected: str) -> None:
    assert text_of(f"<say-as {attrs}>{content}</say-as>") == expected


def test_say_as_characters_capitals() -> None:
    assert text_of('<say-as interpret-as="characters">Ab</say-as>', capitals="spell") == "capital eh, b"
    doc = parse_ssml(speak('x <say-as interpret-as="characters">aBc</say-as>'), capitals="icon")
    got = [(s.text, s.pitch_semitones) for s in doc.segments]
    assert got == [("x eh, ", 0.0), ("b, ", CAPITAL_PITCH_SEMITONES), ("c", 0.0)]


def test_sub_speaks_the_alias() -> None:
    assert text_of('The <sub alias="World Wide Web Consortium">W3C</sub> says') == (
        "The World Wide Web Consortium says"
    )


def test_phoneme_keeps_ipa_and_text() -> None:
    doc = parse_ssml(speak('I say <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme> today.'))
    assert doc.text == "I say tomato today."
    assert doc.segments[1] == SsmlSegment("tomato", phonemes="təˈmɑːtoʊ")
    (run,) = plan_runs(doc.segments)
    assert run.phonemes == ((6, 12, "təˈmɑːtoʊ"),)


def test_phoneme_in_another_alphabet_speaks_the_text() -> None:
    doc = parse_ssml(speak('<phoneme alphabet="x-sampa" ph="t@meItoU">tomato</phoneme>'))
    assert doc.segments == (SsmlSegment("tomato"),) and doc.warnings


# -- marks ----------------------------------------------------------------------------------------


def test_marks_attach_to_the_next_text() -> None:
    doc = parse_ssml(speak('<mark name="start"/>Hello <mark name="m1"/>world.<mark name="end"/>'))
    assert doc.marks == ("start", "m1", "end")
    assert [(s.text, s.marks) for s in doc.segments] == [
        ("Hello ", ("start",)),
        ("world.", ("m1",)),
        ("", ("end",)),
    ]
    (run,) = plan_runs(doc.segments)
    assert run.text == "Hello world."
    assert run.marks == ((0, "start"), (6, "m1"), (12, "end"))


def test_mark_without_name_is_ignored() -> None:
    doc = parse_ssml(speak("a<mark/>b"))
    assert doc.text == "ab" and not doc.marks and doc.warnings


# -- runs -----------------------------------------------------------------------------------------


def test_runs_split_at_prosody_and_breaks() -> None:
    doc = parse_ssml(
        speak(
            'One <mark name="a"/>two <prosody rate="fast">three</prosody> four<break time="200ms"/>'
            '<mark name="b"/>five<mark name="c"/>'
        )
    )
    runs = plan_runs(doc.segments)
    assert [(r.text, r.rate, r.pause_after_ms, r.marks) for r in runs] == [
        ("One two ", 1.0, 0, ((4, "a"),)),
        ("three", 1.5, 0, ()),
        (" four", 1.0, 200, ()),
        ("five", 1.0, 0, ((0, "b"), (4, "c"))),
    ]
    assert "".join(r.text for r in runs) == doc.text
    assert [r.start_char for r in runs] == [0, 8, 13, 18]


def test_whitespace_between_prosody_changes_does_not_split_runs() -> None:
    doc = parse_ssml(speak('<prosody rate="fast">a</prosody> <prosody rate="fast">b</prosody>'))
    runs = plan_runs(doc.segments)
    assert [r.text for r in runs] == ["a b"]


def test_silent_run() -> None:
    (run,) = plan_runs(parse_ssml(speak('<prosody volume="silent">hush</prosody>')).segments)
    assert run.silent and run.text == "hush"


def test_marks_only_document_makes_a_run() -> None:
    runs = plan_runs(parse_ssml(speak('<mark name="only"/>')).segments)
    assert runs == [SsmlRun("", marks=((0, "only"),))]


# -- invalid input, safety ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ssml", "spoken"),
    [
        ("<speak>Hello <b>bold</b> world</speak>", "Hello bold world"),
        ("<speak>Unclosed <prosody rate='fast'>text</speak>", "Unclosed text"),
        ("plain < text & more", "plain < text & more"),
        ("<speak>a &nbsp; b</speak>", "a &nbsp; b"),
        ("<speak><!-- note -->kept<![CDATA[ <raw> ]]></speak>", "kept <raw>"),
    ],
)
def test_invalid_markup_falls_back_to_its_text(
    ssml: str, spoken: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="parley.ssml"):
        doc = parse_ssml(ssml)
    if doc.fallback:
        assert "speaking its text" in caplog.text
    assert doc.text == spoken


def test_unknown_element_makes_the_whole_document_fall_back() -> None:
    doc = parse_ssml(speak('<prosody rate="fast">a</prosody><blink>b</blink>'))
    assert doc.fallback and doc.text == "a b" and doc.segments[0].rate == 1.0


def test_no_entity_is_ever_expanded() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
        "]><speak>&lol2;</speak>"
    )
    doc = parse_ssml(bomb)
    assert doc.fallback and "lol" not in doc.text.replace("&lol2;", "")
    external = '<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>'
    doc = parse_ssml(external)
    assert doc.fallback and "root" not in doc.text


def test_size_and_depth_limits() -> None:
    with pytest.raises(TextTooLongError):
        parse_ssml("a" * (MAX_SSML_CHARS + 1))
    deep = "<speak>" + "<prosody>" * (MAX_DEPTH + 5) + "deep" + "</prosody>" * (MAX_DEPTH + 5) + "</speak>"
    doc = parse_ssml(deep)
    assert doc.fallback and doc.text == "deep"
    ok = "<speak>" + "<prosody>" * 10 + "fine" + "</prosody>" * 10 + "</speak>"
    assert not parse_ssml(ok).fallback


def test_punctuation_mode_applies_to_plain_text_only() -> None:
    body = 'a+b <say-as interpret-as="characters">+</say-as>'
    assert text_of(body, punctuation="some") == "a plus b plus"
    assert text_of("Hi, you.", punctuation="all") == "Hi comma, you dot."


def test_strip_tags() -> None:
    assert strip_tags("<a>x</a><!--c--><b y='1'>z &amp; &#33;</b>") == "x z & !"


TAGS = ["speak", "p", "s", "break", "prosody", "say-as", "sub", "phoneme", "mark", "emphasis", "foo"]
ATTRS = ['rate="fast"', 'pitch="+2st"', 'volume="-90dB"', 'time="1s"', 'name="m"', 'alias="x"',
         'interpret-as="characters"', 'interpret-as="date"', 'ph="təˈmeɪtoʊ"', 'strength="weak"',
         'rate="-5"', ""]  # fmt: skip
PIECES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["&amp;", "&bogus;", "<!--x-->", "<![CDATA[y]]>", "<", ">", "&", "]]>", "<!DOCTYPE x>"]),
    st.builds(lambda t, a: f"<{t} {a}>", st.sampled_from(TAGS), st.sampled_from(ATTRS)),
    st.builds(lambda t: f"</{t}>", st.sampled_from(TAGS)),
    st.builds(lambda t, a: f"<{t} {a}/>", st.sampled_from(TAGS), st.sampled_from(ATTRS)),
)


@FUZZ
@given(st.lists(PIECES, max_size=25))
def test_fuzz_never_raises_and_never_goes_silent(pieces: list[str]) -> None:
    ssml = "<speak>" + "".join(pieces) + "</speak>"
    doc = parse_ssml(ssml, capitals="icon", punctuation="some")
    runs = plan_runs(doc.segments)
    assert "".join(r.text for r in runs) == doc.text
    for r in runs:
        assert all(0 <= off <= len(r.text) for off, _ in r.marks)
        assert all(0 <= a < b <= len(r.text) for a, b, _ in r.phonemes)
        assert 0 <= r.pause_after_ms <= MAX_BREAK_MS
    # whatever letters the input's text content had are still spoken somewhere (never silence)
    if any(c.isalpha() for c in strip_tags(ssml)) and doc.fallback:
        assert any(c.isalpha() for c in doc.text)


# -- IPA ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ipa", "misaki"),
    [
        ("təˈmeɪtoʊ", "təmˈAtO"),
        ("/təˈmɑːtoʊ/", "təmˈɑtO"),
        ("ˈpiːkɑːn", "pˈikɑn"),
        ("t͡ʃɝtʃ", "ʧɜɹʧ"),
        ("ˈdʒʌdʒ", "ʤˈʌʤ"),
        ("ˈbʌtɚ", "bˈʌtəɹ"),
        ("ˈwɔːtər", "wˈɔtəɹ"),
        ("ˈbɔɪ aʊt", "bˈY Wt"),
        ("ˈbʌɾɚ", "bˈʌTəɹ"),
    ],
)
def test_ipa_to_misaki(ipa: str, misaki: str) -> None:
    assert ipa_to_misaki(ipa) == misaki


def test_ipa_to_espeak() -> None:
    assert ipa_to_espeak("tə.ˈmeɪ.toʊ") == "təˈmeɪtoʊ"
    assert ipa_to_espeak("t͡ʃɝtʃ gʊd") == "tʃɜːtʃ ɡʊd"


def test_phonemes_for_voice_by_backend() -> None:
    def info(backend: str, language: str = "en-US") -> VoiceInfo:
        return VoiceInfo("v", language, "female", 24000, backend)

    assert phonemes_for_voice(info("hibari"), "təˈmeɪtoʊ") == "təmˈAtO"
    assert phonemes_for_voice(info("kokoro", "en-GB"), "təˈmeɪtoʊ") == "təmˈAtO"
    assert phonemes_for_voice(info("piper"), "təˈmeɪtoʊ") == "təˈmeɪtoʊ"
    assert phonemes_for_voice(info("kokoro", "ja"), "təˈmeɪtoʊ") is None
    assert phonemes_for_voice(info("hibari"), "ˈˌ") is None  # nothing speakable left
