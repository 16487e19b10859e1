"""MisakiG2P (hibari's G2P) and EspeakPhonemizer (phonemizer + the pinned espeak-ng build), real
assets: both load in about a second and phonemise a sentence in well under a millisecond."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from parley_engine.errors import InvalidSettingError
from parley_engine.text import EspeakPhonemizer, MisakiG2P, normalize, plan_chunks

pytestmark = pytest.mark.integration

ODD_INPUTS = [
    "",
    "   ",
    ".",
    "...",
    "!?",
    "—",
    "😀",
    "😀🎉 👍🏽",
    "\x00\x07\x1b",
    "\u200b\u200d\ufeff",
    "日本語",
    "Ελληνικά",
    "<²",
    "٣٤",
    "a" * 500,
    "Zyxqwv blorft.",
    '" " ( ) “ ”',
    "ﬁ ℌ 𝐁𝐨𝐥𝐝",
]

SENTENCES = [
    "Hello there.",
    "Dr. Smith paid $9.99 on 3/15/2024 at 7:30 pm.",
    "The U.S. Army, e.g. this one, is big!",
    "Is it 12.5% or 100 %?",
    "J. K. Rowling wrote it in 1997; it sold well.",
    "Call 555-123-4567 — now… or never.",
    "Café naïve résumé, 20°C and 5 km.",
    "Plan A.",
]


@pytest.fixture(scope="module")
def misaki() -> MisakiG2P:
    g = MisakiG2P()
    g.load()
    return g


@pytest.fixture(scope="module")
def espeak() -> EspeakPhonemizer:
    e = EspeakPhonemizer("en-us")
    e.load()
    return e


# -- MisakiG2P -----------------------------------------------------------------------------------


def test_misaki_reference_output(misaki: MisakiG2P) -> None:
    assert misaki("Hello there.") == "həlˈO ðˈɛɹ."


def test_misaki_is_lazy_and_load_is_idempotent() -> None:
    g = MisakiG2P()
    assert not g.loaded and g.vocab == frozenset()
    assert g("Hi.")  # loads on first use
    assert g.loaded
    vocab = g.vocab
    g.load()
    assert g.vocab is vocab


def test_misaki_vocab_is_hibaris(misaki: MisakiG2P) -> None:
    assert {" ", "ˈ", "ˌ", ".", ",", "?", "!", "—", "…"} <= misaki.vocab
    assert "😀" not in misaki.vocab


@pytest.mark.parametrize("text", ODD_INPUTS, ids=repr)
def test_misaki_never_crashes_and_stays_in_vocab(misaki: MisakiG2P, text: str) -> None:
    for t in (text, normalize(text)):
        ps = misaki(t)
        assert isinstance(ps, str)
        assert set(ps) <= misaki.vocab
        assert ps == ps.strip() and "  " not in ps


@pytest.mark.parametrize("text", ["", "   ", "...", "!?", "😀", "日本語", '" "'])
def test_misaki_nothing_speakable_gives_empty_string(misaki: MisakiG2P, text: str) -> None:
    assert misaki(normalize(text)) == ""


@pytest.mark.parametrize("text", SENTENCES)
def test_misaki_normalised_sentences(misaki: MisakiG2P, text: str) -> None:
    ps = misaki(normalize(text))
    assert ps and set(ps) <= misaki.vocab
    assert ps[-1] == normalize(text)[-1]  # the final punctuation mark survives


def test_misaki_keeps_final_punctuation_hibari_drops(misaki: MisakiG2P) -> None:
    # hibari's own G2P drops the period after a single letter ("plan A." -> 'plˈæn ˈA').
    assert misaki("plan A.") == "plˈæn ˈA."
    assert misaki("I live in the US.").endswith(".")


def test_misaki_threads_match_serial(misaki: MisakiG2P) -> None:
    texts = [normalize(c.text) for s in SENTENCES for c in plan_chunks(s)] * 8
    serial = [misaki(t) for t in texts]
    fresh = MisakiG2P()  # also exercises concurrent first-use loading
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(fresh, texts))
    assert threaded == serial


# -- EspeakPhonemizer ----------------------------------------------------------------------------


def test_espeak_uses_the_pinned_build(espeak: EspeakPhonemizer) -> None:
    import espeakng_loader

    assert espeak.espeak_version == (1, 52, 0)
    assert os.path.realpath(espeak.library_path) == os.path.realpath(espeakng_loader.get_library_path())


def test_espeak_reference_output(espeak: EspeakPhonemizer) -> None:
    assert espeak("Hello there, world!") == "həlˈoʊ ðˈɛɹ, wˈɜːld!"


def test_espeak_other_language() -> None:
    gb = EspeakPhonemizer("en-gb")
    assert gb("Hello there, tomato.") == "həlˈəʊ ðˈeə, təmˈɑːtəʊ."


def test_espeak_unknown_language_is_an_input_error() -> None:
    with pytest.raises(InvalidSettingError) as err:
        EspeakPhonemizer("xx-nope").load()
    assert err.value.field == "language"


@pytest.mark.parametrize("text", ODD_INPUTS, ids=repr)
def test_espeak_never_crashes(espeak: EspeakPhonemizer, text: str) -> None:
    for t in (text, normalize(text)):
        ps = espeak(t)
        assert isinstance(ps, str)
        assert ps == ps.strip()


@pytest.mark.parametrize("text", ["", "   ", "...", "!?"])
def test_espeak_nothing_speakable_gives_empty_string(espeak: EspeakPhonemizer, text: str) -> None:
    assert espeak(text) == ""


@pytest.mark.parametrize("text", SENTENCES)
def test_espeak_normalised_sentences_keep_stress_and_punctuation(espeak: EspeakPhonemizer, text: str) -> None:
    n = normalize(text)
    ps = espeak(n)
    assert "ˈ" in ps
    assert ps[-1] == n[-1]


def test_espeak_threads_match_serial(espeak: EspeakPhonemizer) -> None:
    texts = [normalize(s) for s in SENTENCES] * 8
    serial = [espeak(t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(espeak, texts))
    assert threaded == serial
