"""Engine.stream_ssml on the deterministic fake voice: marks, breaks, prosody, phonemes, fallback,
cancellation (no model: see test_ssml_heart.py for the real voice)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from parley_engine import AudioChunk, CancelToken, SpeakSettings
from parley_engine.errors import EmptyTextError, TextTooLongError, UnknownVoiceError
from parley_engine.ssml import MAX_SSML_CHARS, MarkEvent, parse_ssml
from test_ssml_fake_voice import HOP, SR, FakeVoice, audio, fake_engine


def split(items: list[AudioChunk | MarkEvent]) -> tuple[list[AudioChunk], list[MarkEvent]]:
    return [x for x in items if isinstance(x, AudioChunk)], [x for x in items if isinstance(x, MarkEvent)]


def run(ssml: str, **kw: object) -> list[AudioChunk | MarkEvent]:
    e = fake_engine()
    return list(e.stream_ssml(ssml, "fake", **kw))  # type: ignore[arg-type]


def test_chunks_are_contiguous_and_words_index_the_document_text() -> None:
    ssml = '<speak>One two <prosody rate="2">three four</prosody><break time="100ms"/> five six.</speak>'
    chunks, _ = split(run(ssml))
    starts = [c.start_sample for c in chunks]
    assert starts == list(np.cumsum([0] + [len(c.samples) for c in chunks[:-1]]))
    text = parse_ssml(ssml).text
    words = [w for c in chunks for w in c.words]
    assert [w.word for w in words] == ["One", "two", "three", "four", "five", "six"]
    assert [text[w.char_start : w.char_end] for w in words] == ["One", "two", "three", "four", "five", "six."]
    idx = [c.utterance_index for c in chunks]
    assert idx == sorted(idx)


def test_marks_in_order_at_word_starts_and_before_their_chunk() -> None:
    ssml = (
        '<speak><mark name="a"/>Alpha beta <mark name="b"/>gamma delta.<mark name="c"/>'
        '<break time="200ms"/><mark name="d"/>Epsilon<mark name="e"/></speak>'
    )
    items = run(ssml)
    chunks, marks = split(items)
    assert [m.name for m in marks] == ["a", "b", "c", "d", "e"]
    offsets = [m.sample_offset for m in marks]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    words = {w.word: w for c in chunks for w in c.words}
    assert marks[0].sample_offset == words["Alpha"].start_sample
    assert marks[1].sample_offset == words["gamma"].start_sample
    assert marks[3].sample_offset == words["Epsilon"].start_sample
    y = audio(chunks)
    # "c": where the first run's audio ends, then the break's 200 ms of silence
    assert np.all(y[marks[2].sample_offset : marks[2].sample_offset + int(0.2 * SR)] == 0)
    assert marks[4].sample_offset == len(y)  # the end of the document
    # each mark comes just before the chunk that holds its sample
    pos = 0
    for x in items:
        if isinstance(x, MarkEvent):
            assert x.sample_offset >= pos or x.sample_offset == len(y)
        else:
            pos = x.start_sample + len(x.samples)


def test_break_inserts_exact_silence() -> None:
    chunks, _ = split(run('<speak>Hello<break time="750ms"/>world</speak>'))
    silent = [c for c in chunks if not np.any(c.samples)]
    assert sum(len(c.samples) for c in silent) == int(0.75 * SR)
    assert max(len(c.samples) for c in silent) <= SR // 2  # long breaks come in pieces


def test_prosody_rate_changes_duration() -> None:
    normal = audio(split(run("<speak>Hello there world</speak>"))[0])
    fast = audio(split(run('<speak><prosody rate="200%">Hello there world</prosody></speak>'))[0])
    slow = audio(split(run('<speak><prosody rate="x-slow">Hello there world</prosody></speak>'))[0])
    assert len(normal) / len(fast) == pytest.approx(2.0, rel=0.1)
    assert len(slow) / len(normal) == pytest.approx(2.0, rel=0.1)


def test_rate_multiplies_the_request_speed_and_is_clamped() -> None:
    base = audio(split(run("<speak>Hello there world</speak>", settings=SpeakSettings(speed=2.0)))[0])
    fastest = '<speak><prosody rate="4">Hello there world</prosody></speak>'
    clamp = audio(split(run(fastest, settings=SpeakSettings(speed=2.0)))[0])
    assert len(base) / len(clamp) == pytest.approx(2.0, rel=0.15)  # 2 x 4 = 8, clamped to 4


def test_pitch_and_volume_and_silence() -> None:
    def peak_hz(y: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
        return float(np.argmax(spec) * SR / len(y))

    plain = audio(split(run("<speak>aaaa</speak>"))[0])
    high = audio(split(run('<speak><prosody pitch="+12st" volume="-6dB">aaaa</prosody></speak>'))[0])
    silent = audio(split(run('<speak><prosody volume="silent">aaaa</prosody></speak>'))[0])
    assert peak_hz(high) == pytest.approx(2 * peak_hz(plain), rel=0.05)
    assert np.abs(high).max() == pytest.approx(np.abs(plain).max() / 2, rel=0.05)
    assert len(silent) == len(plain) and not np.any(silent)


def test_phoneme_ipa_reaches_the_voice_in_its_alphabet() -> None:
    v = FakeVoice()
    e = fake_engine(fake=v)
    items = list(e.stream_ssml('<speak>I say <phoneme ph="təˈmeɪtoʊ">tomato</phoneme> now.</speak>', "fake"))
    assert any("təmˈAtO" in p for p in v.seen_phonemes), v.seen_phonemes
    words = [w.word for c in split(items)[0] for w in c.words]
    assert words == ["I", "say", "tomato", "now"]


def test_phoneme_for_a_voice_without_ipa_speaks_the_text(caplog: pytest.LogCaptureFixture) -> None:
    v = FakeVoice(backend="kokoro-ja")
    e = fake_engine(fake=v)
    with caplog.at_level(logging.WARNING, logger="parley.ssml"):
        y = audio(e.stream_ssml('<speak><phoneme ph="təˈmeɪtoʊ">tomato</phoneme></speak>', "fake"))
    assert y.size and v.seen_phonemes == ["tomato"] and "cannot read IPA" in caplog.text


def test_invalid_ssml_is_spoken_as_text(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="parley.ssml"):
        chunks, marks = split(run("<speak>Hello <unknown>there</unknown> <mark name='x'/></speak>"))
    assert [w.word for c in chunks for w in c.words] == ["Hello", "there"]
    assert not marks and "speaking its text" in caplog.text
    chunks, _ = split(run("not <xml at all & stuff"))
    assert audio(chunks).size > 0


def test_marks_only_and_punctuation_only_documents() -> None:
    chunks, marks = split(run('<speak><mark name="only"/></speak>'))
    assert not chunks and marks == [MarkEvent("only", 0)]
    chunks, marks = split(run('<speak>...<mark name="m"/>!</speak>'))
    assert marks == [MarkEvent("m", 0)] and audio(chunks).size == 0


def test_validation_happens_before_the_stream() -> None:
    e = fake_engine()
    with pytest.raises(UnknownVoiceError):
        e.stream_ssml("<speak>x</speak>", "nope")
    with pytest.raises(EmptyTextError):
        e.stream_ssml("   ", "fake")
    with pytest.raises(TextTooLongError):
        e.stream_ssml("<speak>" + "a " * MAX_SSML_CHARS + "</speak>", "fake")
    with pytest.raises(TextTooLongError):
        e.stream_ssml("<speak>" + "ab " * 7000 + "</speak>", "fake")  # text over the engine's limit


def test_cancel_stops_between_chunks() -> None:
    e = fake_engine()
    cancel = CancelToken()
    it = e.stream_ssml('<speak>One two three.<break time="2s"/>Four five six.</speak>', "fake", cancel=cancel)
    first = next(it)
    assert isinstance(first, AudioChunk)
    cancel.cancel()
    assert list(it) == []


def test_spelled_capitals_icon_are_raised() -> None:
    chunks, _ = split(run('<speak><say-as interpret-as="characters">aB</say-as></speak>', capitals="icon"))
    assert [w.word for c in chunks for w in c.words] == ["eh", "b"]


def test_hop_sized_fake() -> None:
    assert SR % HOP == 0


def test_runs_through_the_phrase_cache_keep_their_marks() -> None:
    from parley_engine.cache import PhraseCache

    v = FakeVoice()
    e = fake_engine(fake=v)
    cache = PhraseCache()
    ssml = '<speak>Open <mark name="m"/>the menu<break time="100ms"/>now</speak>'
    first = list(e.stream_ssml(ssml, "fake", cache=cache))
    calls = v.calls
    again = list(e.stream_ssml(ssml, "fake", cache=cache))
    assert v.calls == calls and len(cache) == 2  # both runs served from the cache
    assert [m for m in first if isinstance(m, MarkEvent)] == [m for m in again if isinstance(m, MarkEvent)]
    np.testing.assert_array_equal(audio(first), audio(again))
    # an entry rendered from another spelling of the same reading: marks fall back to run edges
    cache.clear()
    list(e.stream_cached("Doctor Smith said hi", cache, "fake"))
    _, marks = split(
        list(e.stream_ssml('<speak>Dr. Smith <mark name="x"/>said hi</speak>', "fake", cache=cache))
    )
    assert [m.name for m in marks] == ["x"]
