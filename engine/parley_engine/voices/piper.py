"""Voice "joe": a Piper VITS model whose flow and HiFi-GAN decoder Parley runs in chunks.

At load time the graph is split (cached on disk) into three parts at the frame-level tensors:

* ``encoder`` — phoneme ids → prior frames z_p [192, T] (``/Add_output_0``: text encoder, stochastic
  duration predictor, length regulator, the noise draw) + frames per phoneme id (``/Ceil``);
* ``flow`` — z_p → latent frames z [192, T] (``/Mul_7_output_0``): four residual coupling layers
  whose WaveNet stacks are convolutions of kernel 5 over time, so latent frame k depends only on
  prior frames k±32 (``FLOW_CONTEXT_FRAMES``);
* ``decoder`` — z → 256 samples per frame (upsampling 8·8·4 at 22.05 kHz = 11.6 ms per frame).

The encoder's cost grows with the phonemes, the flow's and decoder's with the frames. The flow is
~half of what used to be the one encoder call (a 7-word first chunk: ~35 of ~70 ms), so it runs in
the decoder stage on just the frames about to be decoded, plus their context: the first audio no
longer waits for the flow over the whole chunk. Each stage keeps enough real context on both sides
that chunked output matches the one-shot decode (16 decoder frames: bit-exact on this model; 12:
~125 dB SNR; 8: ~66 dB; the flow's 32: its full receptive field). The randomness (noise scales)
lives in the encoder, so chunking never changes which frames are decoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..assets import PIPER_JOE, PIPER_JOE_CONFIG, cache_dir
from ..errors import AssetError, SynthesisError
from ..graphs import extract
from ..onnxrt import make_session
from ..text import EspeakPhonemizer, normalize
from ..types import VoiceInfo
from .base import AcousticFrames, DecoderState, Voice, alignment_from_durations

__all__ = ["PIPER_JOE_INFO", "PiperVoice"]

PRIOR = "/Add_output_0"  # z_p: the flow's input
MASK = "/Cast_2_output_0"  # the flow's frame mask [1, 1, T] (all ones for one utterance)
LATENT = "/Mul_7_output_0"  # z: the decoder's input
TOKEN_FRAMES = "/Ceil_output_0"
#: frames per id before the Ceil: exp(logw) x mask x length_scale (the duration predictor's noise
#: drawn once per run, so this run's durations at speed 1.0 are ceil(this x speed))
RAW_FRAMES = "/Mul_1_output_0"
EXACT_CONTEXT_FRAMES = 16
#: 4 coupling layers x a WaveNet of 4 convolutions of kernel 5 (dilation 1): 4 x 4 x 2 frames.
FLOW_CONTEXT_FRAMES = 32
MAX_IDS = 2000  # the text encoder is attention-based; the planner keeps chunks far below this

PIPER_JOE_INFO = VoiceInfo(
    id="joe",
    language="en-US",
    gender="male",
    sample_rate_hz=22050,
    backend="piper",
    description="Piper VITS 'joe' (medium), American English; dataset CC0",
)


@dataclass(frozen=True)
class PiperConfig:
    """The parts of a Piper voice's .onnx.json that inference needs (validated)."""

    sample_rate_hz: int
    espeak_voice: str
    phoneme_id_map: dict[str, int]
    noise_scale: float
    length_scale: float
    noise_w: float
    hop_samples: int = 256

    @classmethod
    def load(cls, path: Path) -> PiperConfig:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            ids = {k: int(v[0]) for k, v in raw["phoneme_id_map"].items()}
            inf = raw["inference"]
            cfg = cls(
                sample_rate_hz=int(raw["audio"]["sample_rate"]),
                espeak_voice=str(raw["espeak"]["voice"]),
                phoneme_id_map=ids,
                noise_scale=float(inf["noise_scale"]),
                length_scale=float(inf["length_scale"]),
                noise_w=float(inf["noise_w"]),
            )
        except (KeyError, TypeError, ValueError, IndexError, json.JSONDecodeError) as e:
            raise AssetError(f"Piper config {path} is invalid: {e!r}") from e
        for sym in ("^", "$", "_"):
            if sym not in cfg.phoneme_id_map:
                raise AssetError(f"Piper config {path} has no id for {sym!r}")
        return cfg


@dataclass
class _Payload:
    prior: npt.NDArray[np.float32]  # z_p [1, 192, T]


class PiperDecoderState(DecoderState):
    """One stream's place in a chunk: the decoder position, and the latent frames the flow has
    computed so far (``latent[:, :, :latent_done]`` are final: computed with full context)."""

    def __init__(self, frames: AcousticFrames, start: int, end: int) -> None:
        self.frames = frames
        self.position = start
        self.end = end
        self.latent = np.zeros_like(frames.payload.prior) if frames.n_frames else frames.payload.prior
        self.latent_done = 0


def _speedup(raw_frames: npt.NDArray[np.float64], speed: float) -> float:
    """Frames at speed 1.0 over frames at ``speed`` for this run's durations (``RAW_FRAMES`` at
    ``speed``, so ``raw_frames x speed`` at 1.0; both whole frames through the graph's Ceil)."""
    now = float(np.ceil(raw_frames).sum())
    return float(np.ceil(raw_frames * speed).sum()) / now if now > 0 else 1.0


def _split_graphs(src: Path, sha256: str) -> tuple[Path, Path, Path]:
    d = cache_dir() / f"piper-{sha256[:16]}"
    enc, flow, dec = d / "encoder-prior-raw.onnx", d / "flow.onnx", d / "decoder.onnx"
    if not enc.exists():
        extract(src, enc, ["input", "input_lengths", "scales"], [PRIOR, TOKEN_FRAMES, RAW_FRAMES])
    if not flow.exists():
        extract(src, flow, [PRIOR, MASK], [LATENT])
    if not dec.exists():
        extract(src, dec, [LATENT], ["output"])
    return enc, flow, dec


class PiperVoice(Voice):
    """Piper "joe": American English, male, 22.05 kHz."""

    #: The encoder runs over the whole first chunk before any audio: 6 words keep it near 30 ms.
    first_chunk_max_words = 6
    #: The model's own speed (length_scale / speed) falls short of the speed asked: durations are
    #: whole frames (Ceil), so at 2.0 one-frame ids stay one frame (~1.6x in all). ``acoustic``
    #: reports what it delivered (``AcousticFrames.speedup``) and time-scaling makes up the rest.
    reports_speedup = True
    #: joe's own speed squeezes phonemes to single frames: with the speed delivered exactly,
    #: Whisper tiny.en WER on 40 sentences (benchmarks/fastspeech.py, results/fastspeech-joe-s3*.json)
    #: at 2x / 3x: model up to 1.0 3.6 / 35.9%, 1.25 2.5 / 35.6%, 1.5 5.7 / 36.9%, 2.0 7.4 / 92.0%
    max_model_speed = 1.25
    decode_schedule_frames = (8, 32, 128, 256)

    def __init__(
        self,
        *,
        threads: int = 1,
        shared: dict[str, object] | None = None,
        context_frames: int = EXACT_CONTEXT_FRAMES,
    ) -> None:
        if context_frames < 0:
            raise ValueError(f"context_frames must be >= 0, got {context_frames}")
        src = PIPER_JOE.verify()
        self.config = PiperConfig.load(PIPER_JOE_CONFIG.verify())
        enc, flow, dec = _split_graphs(src, PIPER_JOE.sha256)
        self._enc = make_session(enc, threads=threads)
        self._flow = make_session(flow, threads=threads)
        self._dec = make_session(dec, threads=threads)
        self._g2p = EspeakPhonemizer(self.config.espeak_voice)
        self.context_frames = context_frames
        self.info = PIPER_JOE_INFO

    def phonemize(self, text: str) -> str:
        return self._g2p(normalize(text))

    def symbols(self, phonemes: str) -> list[str]:
        """The phoneme symbols the model reads (symbols missing from its id map dropped)."""
        m = self.config.phoneme_id_map
        return [ch for ch in phonemes if ch in m][: (MAX_IDS - 3) // 2]

    def token_ids(self, phonemes: str) -> npt.NDArray[np.int64]:
        """Piper's id layout: ^ _ (phoneme _)* $."""
        m = self.config.phoneme_id_map
        pad = m["_"]
        ids = [m["^"], pad]
        for ch in self.symbols(phonemes):
            ids += [m[ch], pad]
        ids.append(m["$"])
        return np.asarray([ids], dtype=np.int64)

    def acoustic(self, phonemes: str, speed: float) -> AcousticFrames:
        ids = self.token_ids(phonemes)
        hop = self.config.hop_samples
        if ids.shape[1] <= 3:
            return AcousticFrames(0, hop, 0, 0, None, _Payload(np.zeros((1, 192, 0), np.float32)))
        c = self.config
        scales = np.asarray([c.noise_scale, c.length_scale / speed, c.noise_w], dtype=np.float32)
        try:
            prior, token_frames, raw = self._enc.run(
                None,
                {"input": ids, "input_lengths": np.asarray([ids.shape[1]], np.int64), "scales": scales},
            )
        except Exception as e:  # onnxruntime raises its own exception types
            raise SynthesisError(f"the Piper encoder failed: {e}") from e
        n = int(prior.shape[2])
        durations = np.asarray(token_frames, np.float32).reshape(-1)
        syms = self.symbols(phonemes)
        # Piper's frames carry speech from the first to the last; the engine trims the quiet edges
        # of the decoded audio at the onset level.
        return AcousticFrames(
            n,
            hop,
            0,
            n,
            durations,
            _Payload(np.ascontiguousarray(prior, dtype=np.float32)),
            alignment=alignment_from_durations(syms, durations, [2 + 2 * k for k in range(len(syms))]),
            speedup=_speedup(np.asarray(raw, np.float64).reshape(-1), speed),
        )

    def init_decoder(
        self, frames: AcousticFrames, start: int, end: int, seed: int | None, pitch_semitones: float = 0.0
    ) -> PiperDecoderState:
        if not 0 <= start <= end <= frames.n_frames:
            raise ValueError(f"frame range [{start}, {end}) outside 0..{frames.n_frames}")
        st = PiperDecoderState(frames, start, end)
        st.latent_done = max(0, start - self.context_frames)  # the decoder never reads below
        return st

    def decode(self, state: DecoderState, n_frames: int) -> npt.NDArray[np.float32]:
        assert isinstance(state, PiperDecoderState)
        a = state.position
        b = min(state.end, a + max(1, n_frames))
        if b <= a:
            return np.zeros(0, np.float32)
        c, hop = self.context_frames, self.config.hop_samples
        lo, hi = max(0, a - c), min(state.frames.n_frames, b + c)
        self._run_flow(state, hi)
        (y,) = self._dec.run(None, {LATENT: state.latent[:, :, lo:hi]})
        state.position = b
        return np.ascontiguousarray(y.reshape(-1)[(a - lo) * hop : (b - lo) * hop], dtype=np.float32)

    def _run_flow(self, state: PiperDecoderState, upto: int) -> None:
        """Make latent frames [latent_done, upto) final: the flow on them plus FLOW_CONTEXT_FRAMES
        of prior frames on each side (fewer at the chunk's edges, as in the one-shot run)."""
        done, n = state.latent_done, state.frames.n_frames
        if upto <= done:
            return
        c = FLOW_CONTEXT_FRAMES
        lo, hi = max(0, done - c), min(n, upto + c)
        prior = state.frames.payload.prior[:, :, lo:hi]
        try:
            (z,) = self._flow.run(None, {PRIOR: prior, MASK: np.ones((1, 1, hi - lo), np.float32)})
        except Exception as e:  # onnxruntime raises its own exception types
            raise SynthesisError(f"the Piper flow failed: {e}") from e
        state.latent[:, :, done:upto] = z[:, :, done - lo : upto - lo]
        state.latent_done = upto

    def finish(self, state: DecoderState) -> npt.NDArray[np.float32]:
        return np.zeros(0, np.float32)

    def warmup(self) -> None:
        frames = self.acoustic(self.phonemize("Warm up, this voice."), 1.0)
        st = self.init_decoder(frames, 0, frames.n_frames, None)
        for n in self.decode_schedule_frames:
            if st.remaining_frames:
                self.decode(st, n)
