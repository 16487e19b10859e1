"""Kokoro-82M v1.0: 54 voices in 9 languages from one int8 ONNX model, streamed clause by clause.

One model, many voices: every :class:`KokoroVoice` of an ``Engine.load`` shares one
:class:`KokoroModel` (the ONNX session, the vocabulary and one phonemiser per language, kept in
the loader's ``shared`` dict); a voice adds only its style pack (float32 [510, 256], 522 KB).

Why clause level: Kokoro's decoder normalises each instance over the whole utterance and drives
a sine source whose phase spans the utterance, so decoding a prefix does not give the prefix of
the one-shot audio. The acoustic stage therefore runs the whole model on the chunk (a clause or
a sentence) and the decoder stage hands out slices of that audio. Latency comes from planning:
a short first clause (``first_chunk_max_words``) so the first audio is computed quickly, longer
chunks afterwards (more efficient, more natural prosody).

Model I/O: ``tokens`` int64 [1, L] (the ids, 0 padded at both ends, L <= 510), ``style`` float32
[1, 256] = the voice's row ``min(n_ids, 509)``, ``speed`` float32 [1] -> ``audio`` float32 [T] at
24 kHz, T a multiple of 600 samples. At first load a copy of the graph that also outputs the
duration predictor's frames per token is written to the cache (for word timings); its audio is
the original graph's. Some voices peak above full scale, so every chunk goes through
:func:`limit_peaks` (a look-ahead limiter, ceiling 0.98).

Phonemes: English with :class:`MisakiG2P` (British lexicon for ``b*`` voices) after
:func:`normalize`; es, fr, it, pt-BR, hi and (best-effort) zh with espeak-ng mapped to Kokoro's
alphabet the way misaki does it; ja with misaki's kana romaniser (kanji need pyopenjtalk). See
:mod:`.kokoro_phonemes`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from ..assets import KOKORO_MODEL, KOKORO_VOCAB, KOKORO_VOICES, cache_dir
from ..errors import AssetError, SynthesisError, UnknownVoiceError
from ..onnxrt import make_session
from ..text import MisakiG2P, normalize, shared_misaki
from ..timing import chunk_timing, unit_word_timings
from ..types import VoiceInfo, WordTiming
from .base import AcousticFrames, DecoderState, Voice, alignment_from_durations
from .kokoro_phonemes import KokoroEspeak, KokoroJapanese

__all__ = [
    "KOKORO_VOICE_IDS",
    "KokoroChunk",
    "KokoroModel",
    "KokoroVoice",
    "kokoro_voice_info",
    "limit_peaks",
    "shared_misaki",
]

log = logging.getLogger("parley.kokoro")

FloatArray = npt.NDArray[np.float32]

SAMPLE_RATE_HZ: Final = 24000
HOP: Final = 300  # samples per frame handed to the engine (12.5 ms)
#: The duration predictor's output (frames per token, after rounding and the minimum of 1), exposed
#: as a second graph output for word timings; one of its units is 600 samples = 2 frames.
DURATIONS: Final = "/encoder/Clip_output_0"
FRAMES_PER_DURATION: Final = 2
MAX_IDS: Final = 508  # phoneme ids per model call: L = ids + 2 pads <= 510
STYLE_ROWS: Final = 510
STYLE_DIM: Final = 256
SPEECH_DBFS: Final = -60.0  # a frame whose RMS reaches this carries speech (the model's silence is < -100)
LIMIT_CEILING: Final = 0.98
SHARED_KEY: Final = "kokoro"

#: The 54 voices of kokoro-js 1.2.1 (= Kokoro-82M v1.0's voices/), as named there.
KOKORO_VOICE_IDS: Final = (
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova",
    "af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam",
    "am_michael", "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily",
    "bm_daniel", "bm_fable", "bm_george", "bm_lewis", "ef_dora", "em_alex", "em_santa", "ff_siwis",
    "hf_alpha", "hf_beta", "hm_omega", "hm_psi", "if_sara", "im_nicola", "jf_alpha", "jf_gongitsune",
    "jf_nezumi", "jf_tebukuro", "jm_kumo", "pf_dora", "pm_alex", "pm_santa", "zf_xiaobei", "zf_xiaoni",
    "zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi", "zm_yunxia", "zm_yunyang",
)  # fmt: skip

#: First letter of a voice id -> (BCP 47 tag, language name, espeak-ng voice or None).
LANGUAGES: Final = {
    "a": ("en-US", "American English", None),
    "b": ("en-GB", "British English", None),
    "e": ("es", "Spanish", "es"),
    "f": ("fr-FR", "French", "fr-fr"),
    "h": ("hi", "Hindi", "hi"),
    "i": ("it", "Italian", "it"),
    "j": ("ja", "Japanese", None),
    "p": ("pt-BR", "Brazilian Portuguese", "pt-br"),
    "z": ("zh", "Mandarin Chinese", "cmn"),
}
_GENDERS: Final = {"f": "female", "m": "male"}
#: Every language's chunks carry word timings, found one of two ways. Latin-script languages: the
#: phoneme words are matched to the words of Parley's (English) text normaliser (``Voice.
#: word_timings``). Hindi, Japanese and Chinese, where that normaliser finds no words: the front cuts
#: the text into units (Hindi words; Chinese characters, joined into espeak-ng's words; Japanese
#: kana/kanji runs) read one by one, matched symbol by symbol (timing.unit_word_timings).
_LATIN_WORDS: Final = frozenset("abefip")
#: Languages whose units are single characters that the phonemiser groups into words (espeak-ng's
#: Mandarin dictionary reads "你好" as one word): units sharing a phoneme word are one word.
_JOINED_UNITS: Final = frozenset("z")


def kokoro_voice_info(voice_id: str) -> VoiceInfo:
    """The catalogue entry of a Kokoro voice id ("af_heart": American English, female)."""
    if voice_id not in KOKORO_VOICE_IDS:
        raise UnknownVoiceError(f"unknown Kokoro voice {voice_id!r}", field="voice")
    tag, name, _ = LANGUAGES[voice_id[0]]
    gender = _GENDERS.get(voice_id[1], "unknown")
    return VoiceInfo(
        id=voice_id,
        language=tag,
        gender=gender,
        sample_rate_hz=SAMPLE_RATE_HZ,
        backend="kokoro",
        description=f"Kokoro-82M v1.0 '{voice_id[3:]}', {name}, {gender}",
    )


# ------------------------------------------------------------------------------------------------
# Limiter


def _sliding_min(r: FloatArray, before: int, after: int) -> FloatArray:
    """out[i] = min(r[i - before : i + after + 1]) (the window clipped to the array); O(n)."""
    w = before + after + 1
    n = r.size
    total = -(-(n + w - 1) // w) * w
    p = np.ones(total, np.float32)
    p[before : before + n] = r
    blocks = p.reshape(-1, w)
    prefix = np.minimum.accumulate(blocks, axis=1).ravel()
    suffix = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    i = np.arange(n)
    return np.minimum(suffix[i], prefix[i + w - 1])


def limit_peaks(
    x: FloatArray,
    *,
    ceiling: float = LIMIT_CEILING,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    attack_ms: float = 2.0,
    release_ms: float = 50.0,
) -> FloatArray:
    """A look-ahead peak limiter for one whole chunk: ``|out| <= ceiling`` everywhere, and the
    gain moves smoothly, so limiting never clicks.

    x: float32 [n]. Returns ``x`` itself when no sample exceeds ``ceiling`` (the common case),
    else a new float32 array ``x * gain`` with 0 < gain <= 1.

    The gain each sample needs is ``min(1, ceiling / |x|)``. Its running minimum over
    ``[n - a, n + a]`` (a = attack), averaged over the same window, is at most what every sample
    needs (each value averaged at n already covers n): the gain ramps down linearly over 2a
    samples ending at the peak. It then rises back no faster than full scale per ``release_ms``
    (a slope limit, which only lowers it, so the bound still holds).
    """
    x = np.asarray(x, dtype=np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= ceiling:
        return x
    a = max(1, round(sample_rate_hz * attack_ms / 1000))
    release = max(1.0, sample_rate_hz * release_ms / 1000)
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(x), 1e-12)).astype(np.float32)
    held = _sliding_min(need, a, a).astype(np.float64)
    c = np.concatenate([[0.0], np.cumsum(np.concatenate([np.full(a, held[0]), held, np.full(a, held[-1])]))])
    gain = (c[2 * a + 1 :] - c[: -2 * a - 1]) / (2 * a + 1)
    ramp = np.arange(x.size) / release
    gain = np.minimum(gain, np.minimum.accumulate(gain - ramp) + ramp)  # slow release
    y: FloatArray = (x * gain).astype(np.float32)
    np.clip(y, -ceiling, ceiling, out=y)  # float rounding, and peaks within a of the very edges
    return y


# ------------------------------------------------------------------------------------------------
# The shared model


class _Front(Protocol):
    def load(self) -> None: ...

    def __call__(self, text: str) -> str: ...


class _English:
    """English text -> misaki phonemes: Parley's English normaliser, then hibari's misaki port."""

    def __init__(self, g2p: MisakiG2P) -> None:
        self._g2p = g2p

    def load(self) -> None:
        self._g2p.load()

    def __call__(self, text: str) -> str:
        return self._g2p(normalize(text))


def _with_durations(src: Path, sha256: str) -> Path:
    """The model with the duration tensor as a second output (written once, atomically, to the
    cache, keyed by the source's sha256)."""
    dst = cache_dir() / f"kokoro-{sha256[:16]}" / "kokoro-durations.onnx"
    if dst.is_file():
        return dst
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(src))
    if not any(DURATIONS in n.output for n in model.graph.node):
        raise AssetError(f"the Kokoro model {src} has no tensor {DURATIONS!r}")
    model.graph.output.append(helper.make_tensor_value_info(DURATIONS, TensorProto.FLOAT, None))
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dst


class KokoroModel:
    """What all Kokoro voices share: the ONNX session, the vocabulary and the phonemisers (one per
    language, created on first use). Immutable after construction except for those lazily built
    phonemisers (guarded by a lock); ``run`` is thread-safe (onnxruntime sessions are)."""

    def __init__(self, *, threads: int = 1, shared: dict[str, object] | None = None) -> None:
        self.session = make_session(
            _with_durations(KOKORO_MODEL.verify(), KOKORO_MODEL.sha256), threads=threads
        )
        # Activations grow with the chunk (~25 MB per second of audio at the peak). The arena
        # reuses them within a call (without it the same call peaks 4x higher); shrinking it
        # after every call hands them back, so the largest chunk ever spoken does not stay resident.
        self._run_options = ort.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        try:
            raw = json.loads(KOKORO_VOCAB.verify().read_text(encoding="utf-8"))
            self.vocab: dict[str, int] = {str(k): int(v) for k, v in raw["vocab"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise AssetError(f"Kokoro vocabulary {KOKORO_VOCAB.path()} is invalid: {e!r}") from e
        self.alphabet = frozenset(self.vocab)
        self.threads = threads
        self._fronts: dict[str, _Front] = {}
        self._shared = shared
        self._lock = threading.Lock()
        self._warm = False

    @classmethod
    def shared(cls, shared: dict[str, object] | None, threads: int) -> KokoroModel:
        """The model kept in a loader's ``shared`` dict (created on the first call)."""
        if shared is None:
            return cls(threads=threads)
        m = shared.get(SHARED_KEY)
        if not isinstance(m, KokoroModel):
            m = cls(threads=threads, shared=shared)
            shared[SHARED_KEY] = m
        return m

    def front(self, lang: str) -> _Front:
        """The phonemiser for a voice-id language letter ("a", "b", "e", ...), shared by its voices."""
        with self._lock:
            f = self._fronts.get(lang)
            if f is None:
                espeak = LANGUAGES[lang][2]
                if lang in ("a", "b"):
                    f = _English(shared_misaki(self._shared, british=lang == "b"))
                elif lang == "j":
                    f = KokoroJapanese(self.alphabet)
                else:
                    assert espeak is not None
                    f = KokoroEspeak(espeak, self.alphabet)
                self._fronts[lang] = f
            return f

    def symbols(self, phonemes: str) -> list[str]:
        """The phoneme symbols the model reads (characters outside the vocabulary dropped)."""
        return [c for c in phonemes if c in self.vocab]

    def run(self, symbols: list[str], style: FloatArray, speed: float) -> tuple[FloatArray, FloatArray]:
        """One model call on 1..MAX_IDS symbols with a voice's style pack [510, 256].

        Returns (audio float32 [T] at 24 kHz, frames per token float32 [n + 2], pads included,
        in HOP frames: T == HOP * sum).
        """
        if not 0 < len(symbols) <= MAX_IDS:
            raise ValueError(f"a Kokoro call takes 1..{MAX_IDS} symbols, got {len(symbols)}")
        feed = {
            "tokens": np.asarray([[0, *(self.vocab[c] for c in symbols), 0]], dtype=np.int64),
            "style": style[min(len(symbols), STYLE_ROWS - 1)].reshape(1, STYLE_DIM),
            "speed": np.asarray([speed], dtype=np.float32),
        }
        try:
            audio, durations = self.session.run(["audio", DURATIONS], feed, self._run_options)
        except ort.capi.onnxruntime_pybind11_state.Fail as e:  # pragma: no cover - model failure
            raise SynthesisError(f"the Kokoro model failed: {e}") from e
        frames = np.asarray(durations, dtype=np.float32).reshape(-1) * np.float32(FRAMES_PER_DURATION)
        return np.ascontiguousarray(np.asarray(audio, dtype=np.float32).reshape(-1)), frames

    def warmup(self, style: FloatArray) -> None:
        """Run the model once on a real shape (once per model, whichever voice asks first)."""
        with self._lock:
            if self._warm:
                return
            self._warm = True
        self.run(self.symbols("wˈɔɹm ˈʌp, ðɪs vˈYs."), style, 1.0)


# ------------------------------------------------------------------------------------------------
# The voice


class KokoroDecoderState(DecoderState):
    def __init__(self, frames: AcousticFrames, start: int, end: int) -> None:
        self.frames = frames
        self.position = start
        self.end = end


def _split(symbols: list[str]) -> list[list[str]]:
    """Cut a symbol sequence longer than MAX_IDS at spaces (the one nearest the middle; the space
    itself is dropped), recursively; a run without a space is cut in the middle. The planner's
    chunk size keeps this a rare path."""
    if len(symbols) <= MAX_IDS:
        return [symbols]
    mid = len(symbols) // 2
    spaces = [i for i, c in enumerate(symbols) if c == " " and 0 < i < len(symbols) - 1]
    if spaces:
        cut = min(spaces, key=lambda i: abs(i - mid))
        left, right = symbols[:cut], symbols[cut + 1 :]
    else:
        left, right = symbols[:mid], symbols[mid:]
    return [*_split(left), *_split(right)]


def _speech_frames(audio: FloatArray) -> tuple[int, int, int]:
    """(n_frames, first speech frame, one past the last) from per-frame RMS."""
    n = -(-audio.size // HOP)
    padded = np.zeros(n * HOP, np.float32)
    padded[: audio.size] = audio
    blocks = padded.reshape(n, HOP)
    energy = np.einsum("ij,ij->i", blocks, blocks) / HOP
    loud = np.flatnonzero(energy >= 10 ** (SPEECH_DBFS / 10))
    if not loud.size:
        return n, 0, 0
    return n, int(loud[0]), int(loud[-1]) + 1


@dataclass(frozen=True)
class _Payload:
    audio: FloatArray  # the chunk's whole audio, limited, float32 [T]


@dataclass(frozen=True)
class KokoroChunk:
    """The acoustic stage's result for one chunk: its whole audio (limited, float32 [T], 24 kHz,
    the model's leading and trailing silence included), frames per token (float32, pads included,
    HOP frames) and the (symbol, start_frame, end_frame) alignment of its phoneme symbols."""

    audio: FloatArray
    token_frames: FloatArray
    alignment: tuple[tuple[str, int, int], ...]


class KokoroVoice(Voice):
    """One Kokoro voice (``af_heart``, ``bm_george``, ``ff_siwis``, ...), 24 kHz.

    Loading many voices with one ``shared`` dict loads the model once; each voice keeps only its
    style pack. Thread-safe: the acoustic stage is one onnxruntime call; the decoder stage slices.
    """

    #: A short first chunk: its whole audio must be computed before any of it is heard.
    first_chunk_max_words = 5
    #: One chunk is one model call of up to several seconds of one core: a scheduler should not
    #: let such calls take every thread (parley_server's worker pool runs them as heavy jobs).
    whole_chunk = True
    #: Later chunks: whole sentences up to this length, longer ones cut at clauses (prosody spans
    #: the chunk, and each call also computes ~0.6 s of the model's own silence). 160 characters
    #: is ~10 s of speech: ~4-7 s of compute on one core, and ~250 MB of activations while it runs
    #: (they grow ~25 MB per second of audio), which bounds the peak memory per synthesis thread.
    max_chunk_chars = 160

    def __init__(self, voice_id: str, *, threads: int = 1, shared: dict[str, object] | None = None) -> None:
        self.info = kokoro_voice_info(voice_id)
        path = KOKORO_VOICES.file(f"{voice_id}.bin")
        style = np.fromfile(path, dtype="<f4")
        if style.size != STYLE_ROWS * STYLE_DIM:
            raise AssetError(
                f"Kokoro style pack {path} has {style.size} floats, expected {STYLE_ROWS * STYLE_DIM}"
            )
        self.style: FloatArray = style.astype(np.float32, copy=False).reshape(STYLE_ROWS, STYLE_DIM)
        self.style.flags.writeable = False
        self.model = KokoroModel.shared(shared, threads)
        self._front = self.model.front(voice_id[0])
        self._lang = voice_id[0]

    # -- text ---------------------------------------------------------------------------------
    def phonemize(self, text: str) -> str:
        return self._front(text)

    # -- acoustic stage: the whole model on the chunk -----------------------------------------
    def synthesize_phonemes(self, phonemes: str, speed: float = 1.0) -> KokoroChunk:
        """Phonemes -> the chunk's audio, durations and alignment (the whole model, once)."""
        symbols = self.model.symbols(phonemes)
        if not symbols:
            return KokoroChunk(np.zeros(0, np.float32), np.zeros(0, np.float32), ())
        audios: list[FloatArray] = []
        frames: list[FloatArray] = []
        alignment: list[tuple[str, int, int]] = []
        offset = 0
        for part in _split(symbols):
            if alignment:
                alignment.append((" ", offset, offset))  # the space _split dropped
            audio, token_frames = self.model.run(part, self.style, speed)
            aligned = alignment_from_durations(part, token_frames, list(range(1, len(part) + 1)))
            alignment.extend((sym, a + offset, b + offset) for sym, a, b in aligned)
            audios.append(audio)
            frames.append(token_frames)
            offset += audio.size // HOP
        audio = audios[0] if len(audios) == 1 else np.concatenate(audios)
        token_frames = frames[0] if len(frames) == 1 else np.concatenate(frames)
        return KokoroChunk(limit_peaks(audio), token_frames, tuple(alignment))

    def acoustic(self, phonemes: str, speed: float) -> AcousticFrames:
        chunk = self.synthesize_phonemes(phonemes, speed)
        n, start, end = _speech_frames(chunk.audio) if chunk.audio.size else (0, 0, 0)
        return AcousticFrames(
            n_frames=n,
            samples_per_frame=HOP,
            speech_start_frame=start,
            speech_end_frame=end,
            token_frames=chunk.token_frames if chunk.token_frames.size else None,
            payload=_Payload(chunk.audio),
            alignment=chunk.alignment,
        )

    def word_timings(
        self,
        text: str,
        alignment: Sequence[tuple[str, int, int]],
        frame_to_sample: Callable[[int], int],
        char_offset: int = 0,
    ) -> tuple[WordTiming, ...]:
        """Latin-script languages: the engine's normaliser-based matching. Hindi, Japanese and
        Chinese: the front's units of ``text`` matched to the alignment; if that fails, the whole
        chunk as one word (never raises)."""
        if self._lang in _LATIN_WORDS:
            return super().word_timings(text, alignment, frame_to_sample, char_offset)
        try:
            front = self._front
            assert isinstance(front, KokoroEspeak | KokoroJapanese)
            return unit_word_timings(
                text,
                alignment,
                frame_to_sample,
                front.units(text),
                char_offset,
                join_phoneme_words=self._lang in _JOINED_UNITS,
            )
        except Exception:  # noqa: BLE001 - timings must never end a stream
            log.warning("word timings failed for %r; timing the chunk as a whole", text[:80], exc_info=True)
            try:
                return chunk_timing(text, alignment, frame_to_sample, char_offset)
            except Exception:  # noqa: BLE001  # pragma: no cover
                return ()

    # -- decoder stage: slices of the computed audio -------------------------------------------
    def init_decoder(
        self, frames: AcousticFrames, start: int, end: int, seed: int | None, pitch_semitones: float = 0.0
    ) -> KokoroDecoderState:
        if not 0 <= start <= end <= frames.n_frames:
            raise ValueError(f"frame range [{start}, {end}) outside 0..{frames.n_frames}")
        return KokoroDecoderState(frames, start, end)

    def decode(self, state: DecoderState, n_frames: int) -> FloatArray:
        assert isinstance(state, KokoroDecoderState)
        a = state.position
        b = min(state.end, a + max(1, n_frames))
        state.position = max(a, b)
        audio: FloatArray = state.frames.payload.audio
        return audio[a * HOP : b * HOP].copy() if b > a else np.zeros(0, np.float32)

    def finish(self, state: DecoderState) -> FloatArray:
        assert isinstance(state, KokoroDecoderState)
        return np.zeros(0, np.float32)

    def warmup(self) -> None:
        self._front.load()
        self.model.warmup(self.style)
