"""Engine.stream_ssml with the real "heart" voice (integration: real model, real kernels)."""

from __future__ import annotations

import numpy as np
import pytest
from parley_engine import AudioChunk, Engine, SpeakSettings
from parley_engine.ssml import MarkEvent, parse_ssml

pytestmark = pytest.mark.integration

SR = 24_000


@pytest.fixture(scope="module")
def engine() -> Engine:
    e = Engine.load(["heart"])
    e.warmup()
    return e


def speak(engine: Engine, ssml: str, **kw: object) -> tuple[np.ndarray, list[AudioChunk], list[MarkEvent]]:
    items = list(engine.stream_ssml(ssml, "heart", SpeakSettings(seed=3), **kw))  # type: ignore[arg-type]
    chunks = [x for x in items if isinstance(x, AudioChunk)]
    marks = [x for x in items if isinstance(x, MarkEvent)]
    return np.concatenate([c.samples for c in chunks]), chunks, marks


def test_marks_arrive_in_order_with_increasing_offsets(engine: Engine) -> None:
    ssml = (
        '<speak><mark name="m0"/>The quick <mark name="m1"/>brown fox <mark name="m2"/>jumps over the lazy '
        'dog.<mark name="m3"/> It was <mark name="m4"/>not amused.<mark name="m5"/></speak>'
    )
    y, chunks, marks = speak(engine, ssml)
    assert [m.name for m in marks] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    offsets = [m.sample_offset for m in marks]
    assert all(a < b for a, b in zip(offsets, offsets[1:], strict=False)), offsets
    words = {w.word: w for c in chunks for w in c.words}
    assert offsets[1] == words["brown"].start_sample and offsets[2] == words["jumps"].start_sample
    assert offsets[4] == words["not"].start_sample
    assert offsets[5] == len(y)
    # between two marks there is speech: the words' audio lies between their offsets
    for a, b in zip(offsets, offsets[1:], strict=False):
        seg = y[a:b]
        assert np.sqrt(np.mean(seg**2)) > 0.01


def test_prosody_rate_changes_duration(engine: Engine) -> None:
    text = "Every winter the lake freezes over and the children skate on it."
    normal, _, _ = speak(engine, f"<speak>{text}</speak>")
    fast, _, _ = speak(engine, f'<speak><prosody rate="2.0">{text}</prosody></speak>')
    slow, _, _ = speak(engine, f'<speak><prosody rate="x-slow">{text}</prosody></speak>')
    assert 1.5 < len(normal) / len(fast) < 2.3, len(normal) / len(fast)
    assert 1.6 < len(slow) / len(normal) < 2.4, len(slow) / len(normal)


def test_break_inserts_silence_of_the_right_length(engine: Engine) -> None:
    y, chunks, marks = speak(engine, '<speak>Left side.<mark name="gap"/><break time="700ms"/>Right side.</speak>')
    gap = marks[0].sample_offset
    n = int(0.7 * SR)
    assert not np.any(y[gap : gap + n])  # exactly silent for 700 ms
    assert np.sqrt(np.mean(y[:gap] ** 2)) > 0.01
    # the next speech starts right after: within the voice's own 40 ms onset
    after = y[gap + n :]
    loud = np.flatnonzero(np.abs(after) > 0.01)
    assert loud.size and loud[0] < 0.04 * SR


def test_phoneme_say_as_and_fallback_speak(engine: Engine) -> None:
    y, chunks, _ = speak(
        engine,
        '<speak>I say <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme>, '
        '<say-as interpret-as="characters">ABC</say-as>.</speak>',
        capitals="icon",
    )
    assert y.size > 0.8 * SR and np.abs(y).max() < 1.0
    words = [w.word for c in chunks for w in c.words]
    assert words[:3] == ["I", "say", "tomato"] and "eh" in words
    broken, _, _ = speak(engine, "<speak>Hello <oops>world</speak>")
    assert broken.size > 0.3 * SR  # not silence


def test_words_index_the_document_text(engine: Engine) -> None:
    ssml = '<speak>Call <say-as interpret-as="telephone">555-0123</say-as> now.</speak>'
    _, chunks, _ = speak(engine, ssml)
    text = parse_ssml(ssml).text
    for w in (w for c in chunks for w in c.words):
        assert w.word.lower() in text[w.char_start : w.char_end].lower()
