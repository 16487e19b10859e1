"""Grapheme-to-phoneme fronts for the voices. Both take normalised text (see ``normalize``).

* :class:`MisakiG2P` — hibari's G2P (a port of misaki, Kokoro's G2P, without spaCy or espeak):
  phonemes in misaki's alphabet, e.g. 'həlˈO ðˈɛɹ.', for the hibari (and Kokoro-style) voices.
* :class:`EspeakPhonemizer` — phonemizer's espeak-ng backend on the pinned espeak-ng build from
  ``espeakng-loader`` (IPA with stress marks and punctuation), for Piper-style voices.

Both load lazily on the first call, or eagerly with ``load()`` (the engine's warm-up calls it);
both may be called from several threads at once. Neither raises on odd input (empty text, only
punctuation, emoji, other scripts): what cannot be read comes back as "".
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import Any, Final

from ..errors import AssetError, InvalidSettingError

__all__ = ["MISAKI_SHARED_KEY", "EspeakPhonemizer", "MisakiG2P", "shared_misaki"]

log = logging.getLogger("parley.text")

_WS: Final = re.compile(r"\s+")
_END_PUNCT: Final = re.compile(r"([.!?…;:,—]+)[\"'”’)\]]*$")


def _final_punct(text: str) -> str:
    m = _END_PUNCT.search(text)
    return m.group(1)[-1] if m else ""


class MisakiG2P:
    """Normalised English text -> misaki phonemes, via ``hibari.g2p.G2P``.

        g2p = MisakiG2P()
        g2p.load()                      # optional: ~1 s (lexicons, tagger, OOV net)
        g2p("Hello there.")             # -> 'həlˈO ðˈɛɹ.'

    british: misaki's British lexicon and rules (for British voices).

    Output: only characters of hibari's ``vocab.json`` (the voice's token set), words separated
    by single spaces; the text's final punctuation mark is kept even where hibari's G2P drops it
    (it does after a single letter: "plan A."). "" when nothing is speakable.

    Thread safety: ``load()`` is guarded by a lock. Calls are not serialised: after loading,
    hibari's G2P keeps no state between calls (tokens are per call, the lexicon, tagger and
    tokenizer are read-only dicts and compiled regexes, the OOV net is an onnxruntime session whose
    ``run`` is thread-safe), and ``load()`` creates the OOV session eagerly, which is the one lazy
    attribute hibari would otherwise race on. A test runs threads against the serial output.
    """

    def __init__(self, *, british: bool = False) -> None:
        self.british = british
        self._lock = threading.Lock()
        self._g2p: Any = None
        self._vocab: frozenset[str] = frozenset()
        self._strip: re.Pattern[str] | None = None

    @property
    def loaded(self) -> bool:
        return self._g2p is not None

    @property
    def vocab(self) -> frozenset[str]:
        """Characters the voice can read (hibari's vocab.json keys); empty before ``load()``."""
        return self._vocab

    def load(self) -> None:
        """Load the lexicons, tagger and OOV net (idempotent, thread-safe)."""
        if self._g2p is not None:
            return
        with self._lock:
            if self._g2p is not None:
                return
            try:
                import hibari
                from hibari.g2p import G2P
            except ImportError as e:  # pragma: no cover - hibari-tts is a hard dependency
                raise AssetError(f"hibari-tts is not installed: {e}") from e
            assets = os.path.join(os.path.dirname(os.path.abspath(hibari.__file__)), "assets")
            try:
                with open(os.path.join(assets, "vocab.json"), encoding="utf-8") as f:
                    vocab = frozenset(json.load(f))
                g2p = G2P(british=self.british)
                _ = g2p.oov  # create the OOV session now, not racily on first use
            except (OSError, ValueError) as e:
                raise AssetError(f"hibari G2P assets could not be loaded from {assets}: {e}") from e
            self._vocab = vocab
            self._strip = re.compile("[^" + re.escape("".join(sorted(vocab))) + "]")
            self._g2p = g2p

    def __call__(self, text: str) -> str:
        """Normalised text (one sentence or clause) -> phoneme string ('' if nothing speakable)."""
        text = _WS.sub(" ", text).strip()
        if not text:
            return ""
        self.load()
        assert self._strip is not None
        if not text.isascii():
            # digits other than 0-9 (superscripts, other scripts): hibari's number reader int()s them
            text = "".join(" " if c.isdigit() and not c.isascii() else c for c in text)
        try:
            ps: str = self._g2p(text, normalize_text=False)
        except Exception:  # noqa: BLE001 - a bug in hibari on one odd token must not end a stream
            log.warning("hibari G2P failed on %r; retrying word by word", text, exc_info=True)
            ps = " ".join(self._word_by_word(text))
        ps = _WS.sub(" ", self._strip.sub("", ps)).strip()
        if not any(c.isalpha() for c in ps):
            return ""
        want = _final_punct(text)
        if want and want in self._vocab and not ps.endswith(want):
            ps = ps.rstrip(",;:") + want
        return ps

    def _word_by_word(self, text: str) -> Iterator[str]:
        for word in text.split(" "):
            try:
                yield self._g2p(word, normalize_text=False)
            except Exception:  # noqa: BLE001
                log.warning("hibari G2P cannot read %r; skipped", word)


# ------------------------------------------------------------------------------------------------

_ESPEAK_SETUP_LOCK: Final = threading.Lock()  # EspeakWrapper's library/data paths are class attributes


class EspeakPhonemizer:
    """Normalised text -> IPA from espeak-ng (phonemizer's EspeakBackend) on the pinned build.

        espeak = EspeakPhonemizer("en-us")
        espeak("Hello there, world!")   # -> 'həlˈoʊ ðˈɛɹ, wˈɜːld!'

    language: an espeak-ng language code ("en-us", "en-gb", "de", ...); an unknown one raises
        InvalidSettingError at ``load()``.

    Uses ``preserve_punctuation=True, with_stress=True``, language-switch flags removed, one
    backend per instance. The library path AND the data path are set from ``espeakng_loader``
    before the backend is created (without the data path libespeak-ng calls exit(1)).
    Thread safety: espeak-ng keeps global state, so calls on one instance are serialised by a
    lock (a call takes well under a millisecond for a sentence); phonemizer gives every backend
    its own copy of the library, so separate instances run independently.
    """

    def __init__(self, language: str = "en-us") -> None:
        self.language = language
        self._lock = threading.Lock()
        self._backend: Any = None
        self._version: tuple[int, ...] = ()
        self._library_path = ""

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    @property
    def library_path(self) -> str:
        """Path of the libespeak-ng in use (the espeakng-loader build); "" before ``load()``."""
        return self._library_path

    @property
    def espeak_version(self) -> tuple[int, ...]:
        """The loaded libespeak-ng version, e.g. (1, 52, 0); () before ``load()``."""
        return self._version

    def load(self) -> None:
        """Create the backend (idempotent, thread-safe)."""
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
        """Normalised text (one sentence or clause) -> IPA with stress marks ('' if nothing)."""
        text = _WS.sub(" ", text).strip()
        if not text:
            return ""
        self.load()
        with self._lock:
            out: list[str] = self._backend.phonemize([text], strip=True, njobs=1)
        ps = _WS.sub(" ", " ".join(out)).strip()
        return ps if any(c.isalpha() for c in ps) else ""


def _quiet_logger() -> logging.Logger:
    """phonemizer's default logger rewires the global 'phonemizer' logger for every backend; ours
    leaves it alone. Its warnings ("words count mismatch", language switches) are noise for a
    one-line-per-call use like ours, so only errors get through."""
    logger = logging.getLogger("parley.text.espeak")
    logger.setLevel(logging.ERROR)
    return logger


#: Key under which a MisakiG2P is kept in a loader's ``shared`` dict, so every voice family of one
#: ``Engine.load`` can use the same instance (the American lexicons take ~120 MB, the British ~100).
MISAKI_SHARED_KEY: Final = "text:misaki-g2p:{variant}"


def shared_misaki(shared: dict[str, object] | None, *, british: bool) -> MisakiG2P:
    """The MisakiG2P kept in ``shared`` (created there on first use; loads lazily, thread-safe)."""
    if shared is None:
        return MisakiG2P(british=british)
    key = MISAKI_SHARED_KEY.format(variant="gb" if british else "us")
    g = shared.get(key)
    if not isinstance(g, MisakiG2P):
        g = MisakiG2P(british=british)
        shared[key] = g
    return g
