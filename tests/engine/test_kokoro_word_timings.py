"""Word timings of the Kokoro voices whose text Parley's (English) normaliser cannot read: Hindi,
Japanese, Chinese (integration: the real model, style packs and espeak-ng; three short chunks)."""

from __future__ import annotations

import numpy as np
import pytest
from parley_engine import Engine
from parley_engine.errors import AssetError
from parley_engine.types import WordTiming
from parley_engine.voices.kokoro import KokoroVoice
from parley_engine.voices.kokoro_phonemes import KokoroEspeak, KokoroJapanese

pytestmark = pytest.mark.integration

VOICES = ("hf_alpha", "jf_alpha", "zf_xiaobei")


@pytest.fixture(scope="module")
def engine() -> Engine:
    try:
        e = Engine.load(list(VOICES))
    except AssetError as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"Kokoro assets not installed ({err.message}); run `parley assets install`")
    return e


def _check(text: str, engine: Engine, voice: str) -> list[WordTiming]:
    chunks = list(engine.stream(text, voice=voice))
    total = sum(len(c.samples) for c in chunks)
    words = [w for c in chunks for w in c.words]
    assert words, voice
    for w in words:
        assert text[w.char_start : w.char_end] == w.word and w.word.strip() == w.word
        assert 0 <= w.start_sample < w.end_sample <= total
        assert w.phonemes and all(
            w.start_sample <= p.start_sample <= p.end_sample <= w.end_sample for p in w.phonemes
        )
    for a, b in zip(words, words[1:], strict=False):
        assert a.end_sample <= b.start_sample and a.char_end <= b.char_start
    # a word's timing lies on its own utterance's chunks, and the last one ends with the speech
    for c in chunks:
        assert all(w.start_sample >= c.start_sample for w in c.words)
    y = np.concatenate([c.samples for c in chunks])
    loud = np.flatnonzero(np.abs(y) > 0.05)
    assert words[-1].end_sample >= loud[-1] - 0.3 * 24000
    return words


def test_hindi_words_are_timed(engine: Engine) -> None:
    text = "नमस्ते, आप कैसे हैं? मैं ठीक हूँ।"
    words = _check(text, engine, "hf_alpha")
    assert [w.word for w in words] == ["नमस्ते", "आप", "कैसे", "हैं", "मैं", "ठीक", "हूँ"]


def test_japanese_words_are_timed(engine: Engine) -> None:
    text = "こんにちは、げんきですか。わたしはコーヒーをのみます。"
    words = _check(text, engine, "jf_alpha")
    assert [w.word for w in words] == ["こんにちは", "げんきですか", "わたしは", "コーヒー", "をのみます"]


def test_chinese_words_are_timed(engine: Engine) -> None:
    text = "你好，今天天气很好。我有3本书。"
    words = _check(text, engine, "zf_xiaobei")
    # espeak-ng's Mandarin words: every character heard once, in order
    assert "".join(w.word for w in words) == "你好今天天气很好我有3本书"
    assert words[0].word == "你好"


def test_units_keep_the_phonemes_fed_to_the_model(engine: Engine) -> None:
    """The timing units are read on the side: the phonemes of a chunk are the front's as before."""
    hi, zh = (engine.voice(v) for v in ("hf_alpha", "zf_xiaobei"))
    assert isinstance(hi, KokoroVoice) and isinstance(zh, KokoroVoice)
    assert hi.phonemize("नमस्ते, आप कैसे हैं।") == "nəmˈʌsteː, ˌaːp kˈɛːseː hɛ̃."
    assert zh.phonemize("你好，今天天气很好。") == "ni↓xau↓, ʨi↘n tʰjɛ↘n tʰjɛ↘n ʨʰi↘ xə↓nxau↓."
    front = KokoroEspeak("cmn", hi.model.alphabet)
    assert [(u.start, u.end, u.phonemes) for u in front.units("我用Python写了3.5个。")] == [
        (0, 1, "wo↓"),
        (1, 2, "jʊ↘ŋ"),
        (2, 8, "pIθən"),
        (8, 9, "ɕjɛ↓"),
        (9, 10, "lə"),
        (10, 13, front("3.5")),
        (13, 14, "kɤ"),
    ]
    ja = KokoroJapanese(hi.model.alphabet)
    text = "今日はコーヒー、２つ。"
    units = ja.units(text)
    assert [text[u.start : u.end] for u in units] == ["今日", "は", "コーヒー", "２", "つ"]
    assert all(u.phonemes for u in units[1:])  # the kanji are read only with pyopenjtalk
