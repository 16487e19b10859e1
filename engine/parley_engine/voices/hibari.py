"""Voice "heart": hibari-tts's ONNX model run by Parley's own runtime.

The shipped graph maps phoneme ids to five spectral parts per 12.5 ms frame. At load time Parley
splits it (cached on disk) at the frame-level tensor that feeds the spectral decoder:

* ``front`` — phoneme ids → latent frames [130, F] + f0 [F] + frames per token, and the duration
  predictor's units before the speed divides and rounds them (what speed 1.0 would give, so the
  model's real speed-up is known): the text encoder, duration predictor, length regulator and
  prosody net (whole chunk at once; a 15-word sentence takes ~11 ms on one thread);
* ``dec`` — latent frames → lh, theta, ln, lr, phi [601, F]: 1 + 8 convolution blocks of kernel 7,
  per-frame layer norms, so frame k depends only on frames k±27. Parley decodes it in chunks with
  ``context_frames`` of real context on each side and feeds the result to the incremental Numba
  vocoder (``parley_kernels.vocoder``).

The shipped matmuls are dynamically quantised (int8 with a per-call scale), so a chunk quantises
slightly differently from the whole utterance; ``exact=True`` dequantises the decoder to float32
(≈1.6× slower) and chunked decoding then equals the one-shot decode to float rounding.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from parley_kernels import vocoder

from ..assets import HIBARI_HEART, cache_dir
from ..errors import SynthesisError
from ..graphs import extract
from ..onnxrt import make_session
from ..text import normalize, shared_misaki
from ..types import VoiceInfo
from .base import AcousticFrames, DecoderState, Voice, alignment_from_durations

__all__ = ["HibariVoice"]

HOP = 300
SAMPLE_RATE_HZ = 24000
N_BINS = 601
LATENT = "/Concat_43_output_0"
TOKEN_FRAMES = "/Clip_output_0"
RAW_DURATIONS = "/Sub_output_0"  # duration units per token before the speed divides and rounds them
ENERGY_CHANNEL = 129  # the decoder's normalised energy input: > -0.6 ≈ above -70 dBFS
SPEECH_ENERGY = -0.6
RECEPTIVE_FIELD_FRAMES = 27  # 3 (dec_in, k=7) + 8 blocks × 3 (k=7)
# With the shipped int8 decoder, chunk-vs-one-shot SNR is capped at ~29 dB by the per-call
# activation scales; 8 frames of context reach that cap (measured: 4 → 24 dB, 8 → 29, 27 → 30).
INT8_CONTEXT_FRAMES = 8
MAX_TOKENS = 510
FRAMES_PER_DURATION_UNIT = 2


HIBARI_INFO = VoiceInfo(
    id="heart",
    language="en-US",
    gender="female",
    sample_rate_hz=SAMPLE_RATE_HZ,
    backend="hibari",
    description="hibari-tts 0.2.1 'heart' (distilled from Kokoro af_heart), American English",
)


@dataclass
class _Payload:
    latent: npt.NDArray[np.float32]  # [1, 130, F]
    f0: npt.NDArray[np.float32]  # [F]


class HibariDecoderState(DecoderState):
    def __init__(
        self, frames: AcousticFrames, start: int, end: int, seed: int | None, pitch_factor: float
    ) -> None:
        self.frames = frames
        self.position = start
        self.end = end
        self.vocoder = vocoder.init_state(seed)
        self.pitch_factor = pitch_factor


def _speedup(
    raw_units: npt.NDArray[np.float64], token_frames: npt.NDArray[np.float32], start: int, end: int
) -> float:
    """How much shorter the speech frames [start, end) are than the same stretch of tokens at speed
    1.0: the graph's units at 1.0 are ``max(1, round(raw))``, at speed s ``max(1, round(raw /
    s))``; a frame's position within its token carries over in proportion."""
    if end <= start or raw_units.size != token_frames.size:
        return 1.0
    edges = np.concatenate([[0.0], np.cumsum(token_frames, dtype=np.float64)])
    at_one = np.concatenate(
        [[0.0], np.cumsum(np.maximum(np.round(raw_units), 1.0) * FRAMES_PER_DURATION_UNIT)]
    )
    a, b = np.interp([start, end], edges, at_one)
    return float((b - a) / (end - start))


def _split_graphs(src: Path, sha256: str, exact: bool) -> tuple[Path, Path]:
    d = cache_dir() / f"hibari-{sha256[:16]}"
    front = d / "front-durations.onnx"
    dec = d / ("dec-float.onnx" if exact else "dec.onnx")
    if not front.exists():
        extract(src, front, ["ids", "speed"], [LATENT, "f0", TOKEN_FRAMES, RAW_DURATIONS])
    if not dec.exists():
        extract(src, dec, [LATENT], ["lh", "theta", "ln", "lr", "phi"], dequantize=exact)
    return front, dec


class HibariVoice(Voice):
    """hibari "heart": American English, female, 24 kHz.

    Pitch is native: the vocoder synthesises from an explicit f0 curve, so a shift scales f0 while
    the spectral envelope (lh) keeps the formants where they were.
    """

    native_pitch = True
    #: The model's own duration control up to 1.5 at 3x and beyond, none up to 2x, a ramp in
    #: between (``model_speed``); the rest by the engine's non-uniform time-scaling. Durations are
    #: whole units of 25 ms, so 1.5 makes the 2-unit tokens one unit and shortens the longer ones
    #: (~1.55x in all); ``AcousticFrames.speedup`` reports what the model delivered, so a
    #: requested speed is the speed delivered. Whisper tiny.en WER on 40 sentences
    #: (benchmarks/fastspeech.py, results/fastspeech-heart-*.json), at 3x: model 1.0 + uniform
    #: WSOLA 78.5%, model 1.5 + uniform 59.7%; model 1.0 / 1.25 / 1.5 / 2.0 + non-uniform 62.7 /
    #: 50.4 / 47.7 / 58.6% (small changes to the time map move these by up to ~9 points). At 2x any model
    #: speed-up costs words (without the ramp: model 1.0 1.9%, 1.25 3.8%, 1.5 12.7%; the
    #: *-noramp.json results): hence the ramp.
    max_model_speed = 1.5
    reports_speedup = True
    #: 32 frames (400 ms) first: one decoder call of 32 frames costs ~1 ms more than one of 16 but
    #: gives the listener twice the audio, so with many streams starting at once a playing stream's
    #: next chunk is not due while the others' first chunks are still being computed
    decode_schedule_frames = (32, 64, 320)
    #: requested speeds where the model's share starts, and where it reaches ``max_model_speed``
    MODEL_RAMP = (2.0, 3.0)

    def model_speed(self, speed: float) -> float:
        a, b = self.MODEL_RAMP
        ramp = min(1.0, max(0.0, (speed - a) / (b - a)))
        return min(speed, 1.0 + (self.max_model_speed - 1.0) * ramp)

    def __init__(
        self,
        *,
        threads: int = 1,
        shared: dict[str, object] | None = None,
        context_frames: int | None = None,
        exact: bool = False,
    ) -> None:
        if context_frames is None:
            context_frames = RECEPTIVE_FIELD_FRAMES if exact else INT8_CONTEXT_FRAMES
        if not 0 <= context_frames <= RECEPTIVE_FIELD_FRAMES:
            raise ValueError(f"context_frames must be in 0..{RECEPTIVE_FIELD_FRAMES}, got {context_frames}")
        src = HIBARI_HEART.verify()
        front, dec = _split_graphs(src, HIBARI_HEART.sha256, exact)
        self._front = make_session(front, threads=threads)
        self._dec = make_session(dec, threads=threads)
        with open(src.parent / "vocab.json", encoding="utf-8") as f:
            self._vocab: dict[str, int] = json.load(f)
        # one American-English G2P per Engine.load, shared with Kokoro's a* voices (~120 MB)
        self._g2p = shared_misaki(shared, british=False)
        self._load_lock = threading.Lock()
        self.context_frames = context_frames
        self.info = HIBARI_INFO

    # -- text ---------------------------------------------------------------------------------
    def phonemize(self, text: str) -> str:
        return self._g2p(normalize(text))

    def symbols(self, phonemes: str) -> list[str]:
        """The phoneme symbols the model reads (characters outside its vocab dropped)."""
        return [c for c in phonemes if c in self._vocab][: MAX_TOKENS - 2]

    def token_ids(self, phonemes: str) -> npt.NDArray[np.int64]:
        """Phonemes → ids [1, L] with the 0 pad at both ends (characters outside the vocab dropped)."""
        return np.asarray([[0, *(self._vocab[c] for c in self.symbols(phonemes)), 0]], dtype=np.int64)

    # -- acoustic stage -------------------------------------------------------------------------
    def acoustic(self, phonemes: str, speed: float) -> AcousticFrames:
        ids = self.token_ids(phonemes)
        if ids.shape[1] < 3:
            empty = _Payload(np.zeros((1, 130, 0), np.float32), np.zeros(0, np.float32))
            return AcousticFrames(0, HOP, 0, 0, None, empty)
        try:
            latent, f0, token_frames, raw = self._front.run(
                None, {"ids": ids, "speed": np.asarray([speed], dtype=np.float32)}
            )
        except ort.capi.onnxruntime_pybind11_state.Fail as e:  # pragma: no cover - model failure
            raise SynthesisError(f"the hibari acoustic model failed: {e}") from e
        n = int(latent.shape[2])
        loud = np.flatnonzero(latent[0, ENERGY_CHANNEL] > SPEECH_ENERGY)
        start, end = (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, 0)
        # the length regulator repeats each duration unit for 2 output frames (n == 2·Σdurations)
        durations = np.asarray(token_frames, np.float32).reshape(-1) * np.float32(FRAMES_PER_DURATION_UNIT)
        syms = self.symbols(phonemes)
        return AcousticFrames(
            n_frames=n,
            samples_per_frame=HOP,
            speech_start_frame=start,
            speech_end_frame=end,
            token_frames=durations,
            payload=_Payload(latent, np.ascontiguousarray(f0[0], dtype=np.float32)),
            alignment=alignment_from_durations(syms, durations, list(range(1, len(syms) + 1))),
            speedup=_speedup(np.asarray(raw, np.float64).reshape(-1), durations, start, end),
        )

    # -- decoder stage --------------------------------------------------------------------------
    def init_decoder(
        self, frames: AcousticFrames, start: int, end: int, seed: int | None, pitch_semitones: float = 0.0
    ) -> HibariDecoderState:
        if not 0 <= start <= end <= frames.n_frames:
            raise ValueError(f"frame range [{start}, {end}) outside 0..{frames.n_frames}")
        return HibariDecoderState(frames, start, end, seed, float(2.0 ** (pitch_semitones / 12.0)))

    def decode(self, state: DecoderState, n_frames: int) -> npt.NDArray[np.float32]:
        assert isinstance(state, HibariDecoderState)
        a = state.position
        b = min(state.end, a + max(1, n_frames))
        if b <= a:
            return np.zeros(0, np.float32)
        p: _Payload = state.frames.payload
        c = self.context_frames
        lo, hi = max(0, a - c), min(state.frames.n_frames, b + c)
        lh, th, ln, lr, phi = (
            o[0, :, a - lo : b - lo] for o in self._dec.run(None, {LATENT: p.latent[:, :, lo:hi]})
        )
        state.position = b
        f0 = p.f0[a:b] if state.pitch_factor == 1.0 else p.f0[a:b] * np.float32(state.pitch_factor)
        return vocoder.push(state.vocoder, lh, th, ln, lr, phi, f0)

    def finish(self, state: DecoderState) -> npt.NDArray[np.float32]:
        assert isinstance(state, HibariDecoderState)
        return vocoder.flush(state.vocoder)

    def warmup(self) -> None:
        self._g2p.load()
        vocoder.warmup()
        frames = self.acoustic(self.phonemize("Warm up, this voice."), 1.0)
        st = self.init_decoder(frames, 0, frames.n_frames, 0)
        while st.remaining_frames:
            self.decode(st, 24)
        self.finish(st)
