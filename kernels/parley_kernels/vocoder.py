"""Incremental host-side vocoder for hibari's model outputs (same algorithm as ``hibari.dsp.synth``).

The model predicts, per 12.5 ms frame k (300 samples at 24 kHz), five spectra of 601 bins -- ``lh``,
``theta``, ``ln``, ``lr``, ``phi`` -- and ``f0`` in Hz (< 40 Hz: unvoiced). This module turns them
into a waveform::

    S = STFT(pulses(f0)) exp(min(lh,7)) e^{i pi tanh(theta)} + Z exp(min(ln,7)) + exp(min(lr,7)) e^{i phi}
    y = iSTFT(S)     (n_fft 1200, hop 300, periodic Hann, centred, length F * 300)

``pulses`` is a band-limited pulse train (every harmonic below 11 kHz) whose per-sample f0 is
interpolated linearly between frames; ``Z`` is standard complex Gaussian noise (real and imaginary
parts independent N(0, 1), as in hibari), made by Box-Muller from 64 bits per bin that the stream's
``numpy.random.Generator`` draws frame by frame (4x cheaper than ``standard_normal``; hibari draws
its noise bin-major over a whole sentence, so the noise samples differ from hibari's, not their
statistics). With the noise branch silenced the output matches ``hibari.dsp.synth`` to ~1e-7.

Streaming: ``push`` frames as the model produces them and get back the samples that are final;
``flush`` at the end returns the rest. Output lags input by 4 frames (50 ms): sample block k needs
the STFT of frame k, whose 1200-sample window reaches pulse samples of frame k + 1, whose second
half interpolates toward f0 of frame k + 2; the first 600 samples of the centred iSTFT are dropped.
Chunked output equals one-shot output for any chunking, bit for bit (every operation is per
sample or per frame and runs in the same order; the phase is one running float64 sum, exactly
like hibari's ``cumsum``).

Two implementations with one contract, chosen per stream: ``impl="numba"`` (default; compiled
kernels that release the GIL) and ``impl="numpy"`` (the reference, which follows hibari's code).
Given the same seed they agree to ~1e-7 (float32 rounding of different elementary functions).
States are independent (no module-level mutable state): one per stream, any number of streams on
any threads, but one state must not be used from two threads at once.

    state = init_state(seed=1)
    for lh, theta, ln, lr, phi, f0 in model_chunks:   # [601, n] float32 each, f0 [n]
        play(push(state, lh, theta, ln, lr, phi, f0))
    play(flush(state))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from . import _vocoder_numba, _vocoder_numpy
from ._consts import HALF, HOP, N_BINS, N_FFT, SR

__all__ = [
    "HOP",
    "LATENCY_FRAMES",
    "N_BINS",
    "N_FFT",
    "SR",
    "Impl",
    "VocoderState",
    "flush",
    "init_state",
    "push",
    "synthesize",
    "warmup",
]

Impl = Literal["numba", "numpy"]

F32 = npt.NDArray[np.float32]
C64 = npt.NDArray[np.complex64]
U64 = npt.NDArray[np.uint64]

LATENCY_FRAMES: Final = 4  # frames pushed before their samples come out (see module docstring)
_BLOCK_FRAMES: Final = 32  # push() works through long inputs in blocks of this many frames


@dataclass(frozen=True)
class _Kernels:
    spectral_factors: Callable[[F32, F32, F32, F32, F32, int, U64, C64, C64], None]
    pulse_train: Callable[[F32, float, F32], float]
    synth_frames: Callable[[F32, int, int, int, C64, C64, F32, F32], None]


_IMPLS: Final[dict[str, _Kernels]] = {
    "numba": _Kernels(
        _vocoder_numba.spectral_factors, _vocoder_numba.pulse_train, _vocoder_numba.synth_frames
    ),
    "numpy": _Kernels(
        _vocoder_numpy.spectral_factors, _vocoder_numpy.pulse_train, _vocoder_numpy.synth_frames
    ),
}

_EMPTY_F32: Final = np.zeros(0, np.float32)
_EMPTY_F32.flags.writeable = False


def _empty_c64() -> C64:
    return np.zeros((0, N_BINS), np.complex64)


@dataclass(eq=False)
class VocoderState:
    """Everything one stream needs between calls; create with :func:`init_state`, one per stream.

    Frame counters (k counts frames of 300 samples from the start of the stream):

    - ``frames_in``: frames pushed so far (M).
    - ``pulse_frames``: frames whose pulse samples exist (M - 1 while streaming: the second half of a
      frame interpolates toward the next frame's f0).
    - ``stft_frames``: frames already synthesised and overlap-added (M - 2 once M >= 4).
    - ``samples_out``: samples returned so far.

    Buffers (all owned by the state, replaced rather than resized):

    - ``phase_acc``: running float64 sum of the per-sample f0 (Hz * samples) up to ``pulse_frames``.
    - ``f0_hist``: float32 f0 of frames ``max(0, pulse_frames - 1) .. frames_in - 1``.
    - ``pulses``: float32 pulse samples from signal index ``pulses_start`` to ``pulse_frames * 300``.
    - ``pending_a``, ``pending_b``: complex64 [frames_in - stft_frames, 601] spectral factors of
      frames pushed but not yet synthesised.
    - ``ola``: float32 [900], the three output blocks still receiving overlap-add contributions.
    - ``rng``: noise source, one draw of 601 x 64 bits per frame, in frame order.
    """

    rng: np.random.Generator
    impl: Impl = "numba"
    frames_in: int = 0
    pulse_frames: int = 0
    stft_frames: int = 0
    samples_out: int = 0
    flushed: bool = False
    phase_acc: float = 0.0
    f0_hist: F32 = field(default_factory=lambda: np.zeros(0, np.float32))
    pulses: F32 = field(default_factory=lambda: np.zeros(0, np.float32))
    pulses_start: int = 0
    pending_a: C64 = field(default_factory=_empty_c64)
    pending_b: C64 = field(default_factory=_empty_c64)
    ola: F32 = field(default_factory=lambda: np.zeros(N_FFT - HOP, np.float32))


def init_state(seed: int | None = None, *, impl: Impl = "numba") -> VocoderState:
    """A fresh stream. ``seed`` fixes the noise (None: fresh OS entropy); ``impl`` picks the kernels.

    Raises ValueError for an unknown ``impl``.
    """
    if impl not in _IMPLS:
        raise ValueError(f"impl must be one of {sorted(_IMPLS)}, got {impl!r}")
    return VocoderState(rng=np.random.default_rng(seed), impl=impl)


def _check_frames(name: str, x: object, n: int) -> F32:
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of shape [{N_BINS}, n], got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise ValueError(f"{name} must be a float array (float32 preferred), got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[0] != N_BINS:
        raise ValueError(f"{name} must have shape [{N_BINS}, n] (bins x frames), got {list(x.shape)}")
    if x.shape[1] != n:
        raise ValueError(f"{name} has {x.shape[1]} frames but f0 has {n}")
    return x if x.dtype == np.float32 else x.astype(np.float32)


Spectra = tuple[F32, F32, F32, F32, F32]


def _validate(
    lh: object, theta: object, ln: object, lr: object, phi: object, f0: object
) -> tuple[Spectra, F32]:
    """Checked float32 inputs. Layouts are normalised so that the Numba kernel sees either five
    C-contiguous arrays or five strided ones (slices of the model output): two compiled variants,
    both made by warmup(). Copying a [601, 8] slice costs more than the kernel reading it in place."""
    if not isinstance(f0, np.ndarray) or f0.dtype.kind != "f" or f0.ndim != 1:
        shape = list(f0.shape) if isinstance(f0, np.ndarray) else type(f0).__name__
        raise ValueError(f"f0 must be a 1-D float array [n] in Hz, got {shape}")
    n = f0.shape[0]
    arrays: Spectra = (
        _check_frames("lh", lh, n),
        _check_frames("theta", theta, n),
        _check_frames("ln", ln, n),
        _check_frames("lr", lr, n),
        _check_frames("phi", phi, n),
    )
    contiguous = [x.flags.c_contiguous for x in arrays]
    if not all(contiguous):
        strided = [not c and not x.flags.f_contiguous for x, c in zip(arrays, contiguous, strict=True)]
        if not all(strided):
            a, b, c, d, e = (np.ascontiguousarray(x) for x in arrays)
            arrays = (a, b, c, d, e)
    f0_ = np.ascontiguousarray(f0, dtype=np.float32)
    if not np.isfinite(f0_).all():
        bad = int(np.flatnonzero(~np.isfinite(f0_))[0])
        raise ValueError(f"f0 must be finite (Hz), got {f0_[bad]} at frame {bad} of this push")
    return arrays, f0_


def _check_open(state: VocoderState) -> _Kernels:
    if state.flushed:
        raise RuntimeError("this VocoderState was flushed; start a new stream with init_state()")
    return _IMPLS[state.impl]


def _samples_ready(frames_in: int, final: bool) -> int:
    """Samples that are final once ``frames_in`` frames were pushed (and, if ``final``, flushed)."""
    return frames_in * HOP if final else max(0, frames_in - LATENCY_FRAMES) * HOP


def _advance(state: VocoderState, kern: _Kernels, new_f0: F32, final: bool, out: F32) -> int:
    """Make pulses and synthesise every frame that the frames pushed so far (or the end) allow;
    write the finished samples to ``out`` and return how many."""
    m = state.frames_in
    p0, k0 = state.pulse_frames, state.stft_frames
    hist0 = max(0, p0 - 1)  # f0_hist starts at this frame
    hist = np.concatenate((state.f0_hist, new_f0)) if new_f0.size else state.f0_hist

    # Pulse frames p0 .. p1-1; each needs the f0 of its neighbours (edge-padded at both ends).
    p1 = m if final else m - 1
    if p1 > p0:
        prev = hist[p0 - 1 - hist0] if p0 > 0 else hist[0]
        nxt = hist[p1 - hist0] if p1 < m else hist[m - 1 - hist0]
        f0x = np.concatenate(([prev], hist[p0 - hist0 : p1 - hist0], [nxt])).astype(np.float32)
        new_pulses = np.empty((p1 - p0) * HOP, np.float32)
        state.phase_acc = float(kern.pulse_train(f0x, state.phase_acc, new_pulses))
        state.pulses = np.concatenate((state.pulses, new_pulses))
        state.pulse_frames = p1
    state.f0_hist = hist[max(0, p1 - 1) - hist0 :].copy()

    # STFT frame k reads pulse samples k*300 - 600 .. k*300 + 599 and, reflected at the start,
    # sample 600: so it needs p1 >= k + 2 and p1 >= 3 (at the end, reflection covers the rest).
    k1 = m if final else (p1 - 1 if p1 >= 3 else 0)
    nk = k1 - k0
    if nk <= 0:
        return 0
    n_out = _samples_ready(m, final) - state.samples_out
    total_len = m * HOP if final else -1
    kern.synth_frames(
        state.pulses,
        state.pulses_start,
        total_len,
        k0,
        state.pending_a[:nk],
        state.pending_b[:nk],
        state.ola,
        out[:n_out],
    )
    state.stft_frames = k1
    state.pending_a = state.pending_a[nk:].copy()
    state.pending_b = state.pending_b[nk:].copy()
    keep_from = max(0, k1 * HOP - HALF)
    if keep_from > state.pulses_start:
        state.pulses = state.pulses[keep_from - state.pulses_start :].copy()
        state.pulses_start = keep_from
    state.samples_out += n_out
    return n_out


def push(
    state: VocoderState,
    lh: npt.ArrayLike,
    theta: npt.ArrayLike,
    ln: npt.ArrayLike,
    lr: npt.ArrayLike,
    phi: npt.ArrayLike,
    f0: npt.ArrayLike,
) -> F32:
    """Feed n frames; return the float32 samples (24 kHz, nominally in [-1, 1]) that are now final.

    ``lh``, ``theta``, ``ln``, ``lr``, ``phi``: float arrays [601, n] (bins x frames; any strides,
    e.g. ``outputs[i][0][:, a:b]`` of the ONNX model; other float dtypes are converted). ``lh``,
    ``ln``, ``lr`` are natural-log magnitudes, ``theta`` and ``phi`` phases (rad; ``theta`` goes
    through pi * tanh). ``f0``: float [n], Hz; < 40 is unvoiced; must be finite (checked: a NaN
    would poison the phase accumulator for the rest of the stream). The spectra are not checked (a
    non-finite value spoils only the output samples within 50 ms of its frame).

    Returns a new float32 array whose length is a multiple of 300, possibly 0: after M frames in
    total, ``max(0, M - 4) * 300`` samples have come out. Mutates ``state``. Raises ValueError for
    wrong shapes or dtypes, RuntimeError after :func:`flush`.
    """
    kern = _check_open(state)
    inputs, f0_ = _validate(lh, theta, ln, lr, phi, f0)
    n = f0_.shape[0]
    out = np.empty(_samples_ready(state.frames_in + n, False) - state.samples_out, np.float32)
    pos = 0
    # Long pushes go through in blocks: the intermediates (spectra, frames) stay small and reused,
    # which measured faster than whole-sentence arrays (first-touch page faults, cache misses).
    for lo in range(0, n, _BLOCK_FRAMES):
        hi = min(n, lo + _BLOCK_FRAMES)
        # The Generator's raw 64-bit words: the same values as integers(0, 2**64 - 1, endpoint=True)
        # (pinned by a test) without its ~17 us of per-call argument checks.
        noise = state.rng.bit_generator.random_raw((hi - lo, N_BINS))
        n_pend = state.pending_a.shape[0]
        a = np.empty((n_pend + hi - lo, N_BINS), np.complex64)
        b = np.empty((n_pend + hi - lo, N_BINS), np.complex64)
        a[:n_pend] = state.pending_a
        b[:n_pend] = state.pending_b
        kern.spectral_factors(*inputs, lo, noise, a[n_pend:], b[n_pend:])
        state.pending_a, state.pending_b = a, b
        state.frames_in += hi - lo
        pos += _advance(state, kern, f0_[lo:hi], False, out[pos:])
    return out


def flush(state: VocoderState) -> F32:
    """End the stream: return the remaining samples (reflect padding at the end, as one shot does).

    Afterwards ``state.samples_out == 300 * state.frames_in`` and the state refuses further use
    (RuntimeError). Returns float32, possibly empty (no frames pushed).
    """
    kern = _check_open(state)
    state.flushed = True
    out = np.empty(_samples_ready(state.frames_in, True) - state.samples_out, np.float32)
    if state.frames_in:
        _advance(state, kern, np.zeros(0, np.float32), True, out)
    return out


def synthesize(
    lh: npt.ArrayLike,
    theta: npt.ArrayLike,
    ln: npt.ArrayLike,
    lr: npt.ArrayLike,
    phi: npt.ArrayLike,
    f0: npt.ArrayLike,
    seed: int | None = None,
    *,
    impl: Impl = "numba",
) -> F32:
    """One shot: all F frames in, ``F * 300`` float32 samples out (same as push-all + flush)."""
    state = init_state(seed, impl=impl)
    head = push(state, lh, theta, ln, lr, phi, f0)
    tail = flush(state)
    return np.concatenate((head, tail)) if head.size else tail


def warmup() -> None:
    """Compile the Numba vocoder kernels for the real shapes (cached on disk for later processes).

    Runs two short streams, one on contiguous arrays and one on strided slices (the two layouts
    push() passes on), in chunks that reach every code path: the first frames, the left reflection,
    steady state, and the end with its reflection and tapered normalisation.
    """
    rng = np.random.default_rng(0)
    n = 12
    lh, theta, ln, lr, phi = (rng.standard_normal((N_BINS, n)).astype(np.float32) for _ in range(5))
    f0 = np.linspace(0.0, 200.0, n, dtype=np.float32)
    state = init_state(0, impl="numba")
    for lo, hi in ((0, 1), (1, 5), (5, n)):
        a, b, c, d, e = (np.ascontiguousarray(x[:, lo:hi]) for x in (lh, theta, ln, lr, phi))
        push(state, a, b, c, d, e, f0[lo:hi])
    flush(state)
    state = init_state(0, impl="numba")  # strided slices: the other compiled layout
    push(state, lh[:, 2:7], theta[:, 2:7], ln[:, 2:7], lr[:, 2:7], phi[:, 2:7], f0[2:7])
    flush(state)
