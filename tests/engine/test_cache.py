"""The phrase cache: eviction by size, hits return identical audio, concurrent access, warm-up
(fake voice: no model), and one check with the real "heart" voice."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from parley_engine import CancelToken, Engine, SpeakSettings
from parley_engine.cache import ENTRY_OVERHEAD_BYTES, WARM_KEYS, PhraseCache, warm_texts
from parley_engine.text.screenreader import CAPITAL_PITCH_SEMITONES, key_text
from test_ssml_fake_voice import FakeVoice, audio, fake_engine


def test_hit_returns_identical_audio_and_synthesises_nothing() -> None:
    v = FakeVoice()
    e = fake_engine(fake=v)
    cache = PhraseCache()
    first = list(e.stream_cached("Open the menu", cache, "fake"))
    calls = v.calls
    again = list(e.stream_cached("Open the menu", cache, "fake"))
    assert v.calls == calls  # nothing synthesised
    assert len(again) == len(first)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)
        assert (a.start_sample, a.utterance_index, a.words) == (b.start_sample, b.utterance_index, b.words)
    assert cache.stats.hits == 1 and cache.stats.misses == 1 and len(cache) == 1


def test_hit_chunks_are_copies() -> None:
    e = fake_engine()
    cache = PhraseCache()
    list(e.stream_cached("hello", cache, "fake"))
    hit = list(e.stream_cached("hello", cache, "fake"))
    hit[0].samples[:] = 0.0  # a caller scribbling on its chunk...
    again = list(e.stream_cached("hello", cache, "fake"))
    assert np.any(again[0].samples)  # ...does not change the cache


def test_key_uses_the_normalised_text_and_the_settings() -> None:
    e = fake_engine()
    cache = PhraseCache()
    list(e.stream_cached("Dr. Smith", cache, "fake"))
    assert cache.get("fake", "Doctor   Smith") is not None  # same reading, same entry
    hit = list(e.stream_cached("Doctor Smith", cache, "fake"))
    assert all(w.char_start == -1 for c in hit for w in c.words)  # offsets of another spelling dropped
    assert cache.get("fake", "Dr. Smith", SpeakSettings(speed=2.0)) is None
    assert cache.get("fake", "Dr. Smith", SpeakSettings(pitch_semitones=1.0)) is None
    assert cache.get("other", "Dr. Smith") is None


def test_eviction_by_size_least_recently_used_first() -> None:
    e = fake_engine()
    one = sum(c.samples.nbytes for c in e.stream("abc", "fake")) + ENTRY_OVERHEAD_BYTES
    cache = PhraseCache(max_bytes=3 * one)
    for t in ("abc", "bcd", "cde"):
        list(e.stream_cached(t, cache, "fake"))
    assert len(cache) == 3 and cache.stats.bytes == 3 * one
    assert cache.get("fake", "abc") is not None  # "abc" is now the most recently used
    list(e.stream_cached("def", cache, "fake"))
    assert len(cache) == 3 and cache.stats.evictions == 1 and cache.stats.bytes <= cache.max_bytes
    assert cache.get("fake", "bcd") is None  # the least recently used left
    assert cache.get("fake", "abc") is not None and cache.get("fake", "def") is not None


def test_too_large_or_too_long_is_streamed_but_not_stored() -> None:
    e = fake_engine()
    cache = PhraseCache(max_bytes=1000)
    y = audio(e.stream_cached("a rather long phrase", cache, "fake"))
    assert y.size and len(cache) == 0
    small = PhraseCache(max_phrase_chars=5)
    assert audio(e.stream_cached("longer than five", small, "fake")).size and len(small) == 0
    with pytest.raises(ValueError):
        PhraseCache(max_bytes=0)


def test_cancelled_or_abandoned_streams_are_not_stored() -> None:
    e = fake_engine()
    cache = PhraseCache()
    cancel = CancelToken()
    it = e.stream_cached("one two three. four five six.", cache, "fake", cancel=cancel)
    next(it)
    cancel.cancel()
    list(it)
    assert len(cache) == 0
    it = e.stream_cached("one two three. four five six.", cache, "fake")
    next(it)
    del it  # the consumer went away mid-stream
    assert len(cache) == 0


def test_concurrent_access_is_consistent() -> None:
    e = fake_engine()
    names = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
    phrases = [f"phrase {w}" for w in names]
    ref = {p: audio(e.stream(p, "fake", SpeakSettings(seed=1))) for p in phrases}
    one = max(y.nbytes for y in ref.values()) + ENTRY_OVERHEAD_BYTES
    cache = PhraseCache(max_bytes=4 * one)  # forces evictions while threads read and write
    errors: list[str] = []

    def worker(k: int) -> None:
        rng = np.random.default_rng(k)
        for _ in range(60):
            p = phrases[int(rng.integers(len(phrases)))]
            y = audio(e.stream_cached(p, cache, "fake", SpeakSettings(seed=1)))
            if not np.array_equal(y, ref[p]):
                errors.append(p)
            s = cache.stats
            if s.bytes > s.max_bytes:
                errors.append(f"over budget: {s.bytes}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    s = cache.stats
    assert s.hits + s.misses == 6 * 60 and s.hits > 0 and s.evictions > 0
    assert s.bytes == sum(item.nbytes for item in cache._items.values())


def test_warm_renders_phrases_characters_and_keys(tmp_path: Path) -> None:
    f = tmp_path / "phrases.txt"
    f.write_text("Open the file menu\n\n  link  \nheading level two\nlink\n", encoding="utf-8")
    texts = warm_texts(f, capitals="icon")
    assert texts[:3] == [("Open the file menu", 0.0), ("link", 0.0), ("heading level two", 0.0)]
    assert ("eh", CAPITAL_PITCH_SEMITONES) in texts and ("eh", 0.0) in texts and ("comma", 0.0) in texts
    assert (key_text("backspace"), 0.0) in texts and len(WARM_KEYS) > 20
    assert len(texts) == len(set(texts))

    v = FakeVoice()
    e = fake_engine(fake=v)
    cache = PhraseCache()
    n = cache.warm(e, f, voice="fake", settings=SpeakSettings(speed=3.0), capitals="icon")
    assert n == len(cache) and n >= len(texts) - 5  # a few names share a reading
    assert cache.warm(e, f, voice="fake", settings=SpeakSettings(speed=3.0), capitals="icon") == 0
    calls = v.calls
    hit = cache.get("fake", "eh", SpeakSettings(speed=3.0, pitch_semitones=CAPITAL_PITCH_SEMITONES))
    assert hit is not None
    list(e.stream_cached("heading level two", cache, "fake", SpeakSettings(speed=3.0)))
    assert v.calls == calls


def test_hit_first_chunk_is_immediate() -> None:
    e = fake_engine()
    cache = PhraseCache()
    list(e.stream_cached("space", cache, "fake"))
    t = time.perf_counter()
    first = next(iter(e.stream_cached("space", cache, "fake")))
    assert time.perf_counter() - t < 0.005 and first.samples.size


@pytest.mark.integration
def test_heart_hit_is_identical_and_fast() -> None:
    e = Engine.load(["heart"])
    e.warmup()
    cache = PhraseCache()
    s = SpeakSettings(seed=5)
    y = audio(e.stream_cached("Heading level two", cache, "heart", s))
    t = time.perf_counter()
    it = e.stream_cached("Heading level two", cache, "heart", s)
    first = next(it)
    dt = time.perf_counter() - t
    np.testing.assert_array_equal(np.concatenate([first.samples, *(c.samples for c in it)]), y)
    assert dt < 0.005, dt
