"""Streaming WSOLA time-scale modification: speech faster or slower, pitch unchanged.

``speed`` in [0.5, 4.0]: n input samples become ``output_length(n) = floor(n / speed + 1/2)``
output samples at the same sample rate (8 to 48 kHz; tuned for speech at 16 to 48 kHz).

Algorithm (waveform-similarity overlap-add, Verhelst & Roelands 1993). Frames of
``N = 2 * round(FRAME_MS / 2 * sr / 1000)`` samples (25 ms) with a periodic Hann window are
overlap-added at a synthesis hop of ``H = N / 2`` (the windows sum to 1). Output frame k is centred
at output sample ``k H`` and taken from the input centred at ``c_k = a_k + d_k``, where
``a_k = floor(k H speed + 1/2)`` is its ideal position and the shift ``d_k`` in
``[-T, T]`` (``T = round(TOLERANCE_MS * sr / 1000)``, 8 ms: more than half the period of an 80 Hz
voice) makes the first half of the frame most similar to the natural continuation of frame k - 1,
``ref = x[c_{k-1} : c_{k-1} + H]``: it maximises the normalised cross-correlation
``<ref, seg_d> / sqrt(|seg_d|^2 + eps) - 0.02 |ref| (d / T)^2`` (``eps``: -100 dBFS over H
samples; the score is at most ``|ref|``). The small pull towards d = 0 breaks the near-ties of
voiced (quasi-periodic) input in favour of the ideal position: without it, the search drifts
towards the natural continuation, which lies ahead (slowing down) or behind (speeding up), and a
Hann-shaped tone burst came out up to 8 ms early at speed 0.5-0.75; with it, within 0.5 ms.
Unvoiced input is not affected (the natural continuation wins by far more). Scores within 1e-9
(relative) of the best count as ties, which go to the smallest |d| (so both implementations pick the
same shift on periodic input). A reference below ``eps`` (silence) keeps ``d_k = 0``: the onset
after a pause is not moved by what the search would find in rounding noise.
Frame 0 is centred at input 0; the input is zero before its start and after its end.

Streaming: frame k is computed once the input reaches ``a_k + T + H`` samples, and then output block
k - 1 (samples ``(k-1) H .. k H - 1``) is final: the look-ahead is ``T + H (1 + speed)`` input
samples, at most (``latency_in_samples``; 24 kHz at 2x: 1092 samples, 45.5 ms). Every frame is a
function of the input alone, so pushing in chunks of any size gives the one-shot output bit for bit.

Non-uniform speed (``init_state(..., mapped=True)``): the caller gives a piecewise-linear time map
ahead of the input with :func:`extend_map` (pieces of ``in`` input samples that become ``out``
output samples), and ``a_k`` is the map's input position for output ``k H`` (rounded) instead of
``k H speed``; everything else is the same algorithm. A frame waits until the map reaches its
output centre, so the output is a function of the input and the map alone (chunked = one shot
for any split of either). Used for fast speech: :mod:`.rateplan` decides how long each 12.5 ms of
speech lasts. :func:`output_position` maps an input position to the output (word timings).

Two implementations with one contract, chosen per stream: ``impl="numba"`` (default; a compiled loop
that releases the GIL) and ``impl="numpy"`` (the reference, one vectorised step per frame). They
agree to ~1e-7 (same float32 overlap-add; the correlations run in float64).

    state = init_state(24000, speed=2.0)
    for chunk in chunks:                 # float32 [n]
        play(push(state, chunk))
    play(flush(state))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = [
    "FRAME_MS",
    "MAX_SPEED",
    "MIN_SPEED",
    "TOLERANCE_MS",
    "Impl",
    "TsmState",
    "extend_map",
    "flush",
    "init_state",
    "output_length",
    "output_position",
    "push",
    "time_stretch",
    "warmup",
]

Impl = Literal["numba", "numpy"]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

FRAME_MS: Final = 25.0
TOLERANCE_MS: Final = 8.0
MIN_SPEED: Final = 0.5
MAX_SPEED: Final = 4.0
MIN_RATE_HZ: Final = 8000
MAX_RATE_HZ: Final = 48000
_TIE: Final = 1e-9  # relative score margin within which shifts count as equally good
_EPS_PER_SAMPLE: Final = 1e-10  # energy floor (-100 dB) of the normalised correlation
_PULL: Final = 0.02  # score penalty at |d| = T, relative to the best possible score |ref|


@functools.lru_cache(maxsize=16)
def _window(n: int) -> F32:
    """Periodic Hann window of n samples (float32, read-only, shared)."""
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)
    w.flags.writeable = False
    return w


def output_length(n_in: int, speed: float) -> int:
    """Output samples for ``n_in`` input samples: ``floor(n_in / speed + 1/2)``."""
    return math.floor(n_in / speed + 0.5)


def _ideal(k: int, hop: int, speed: float) -> int:
    return math.floor(k * hop * speed + 0.5)  # _ideals computes this the same way, in float64


# Kernels: frames k0 .. k0 + len(pos) - 1, ideally centred at input ``ideal[i]`` (int64). ``x``
# holds input samples from index ``x0`` on (zeros where the stream has none) and reaches every
# sample they read; ``c_prev`` is the centre of frame k0 - 1 (unused for k0 = 0). For each frame:
# its centre into ``pos``, output block k - 1 (``tail`` plus the frame's first half) into
# ``out[i * hop : (i + 1) * hop]``, its second half into ``tail``.
@njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _dots(region, ref, dots):  # type: ignore[no-untyped-def]
    hop = ref.shape[0]
    for d in range(dots.shape[0]):
        seg = region[d : d + hop]
        acc = 0.0
        for n in range(hop):
            acc += np.float64(ref[n]) * np.float64(seg[n])
        dots[d] = acc


@njit(inline="always")
def _pick(dots, cs, hop, tol, eps, pull):  # type: ignore[no-untyped-def]
    """The shift d in [-tol, tol] with the best score; near-ties go to the smallest |d|."""
    best = -np.inf
    for d in range(2 * tol + 1):
        r = (d - tol) / tol
        s = dots[d] / np.sqrt(max(cs[d + hop] - cs[d], 0.0) + eps) - pull * (r * r)
        dots[d] = s
        best = max(best, s)
    floor = best - _TIE * abs(best) - 1e-300
    for r in range(tol + 1):
        if dots[tol - r] >= floor:
            return -r
        if dots[tol + r] >= floor:
            return r
    return 0


@njit(nogil=True, cache=True, error_model="numpy")
def _wsola_numba(x, x0, k0, ideal, hop, tol, c_prev, win, tail, pos, out):  # type: ignore[no-untyped-def]
    span = 2 * tol + hop
    dots = np.empty(2 * tol + 1, np.float64)
    cs = np.empty(span + 1, np.float64)
    eps = _EPS_PER_SAMPLE * hop
    for i in range(pos.shape[0]):
        k = k0 + i
        a = ideal[i]
        c = a
        ref = x[c_prev - x0 : c_prev - x0 + hop]
        e_ref = 0.0
        for n in range(hop):
            e_ref += np.float64(ref[n]) * np.float64(ref[n])
        if k > 0 and e_ref > eps:  # a silent reference says nothing: keep the ideal position
            region = x[a - tol - hop - x0 : a - tol - hop - x0 + span]
            _dots(region, ref, dots)
            cs[0] = 0.0
            for n in range(span):
                v = np.float64(region[n])
                cs[n + 1] = cs[n] + v * v
            c = a + _pick(dots, cs, hop, tol, eps, _PULL * np.sqrt(e_ref))
        pos[i] = c
        first = x[c - hop - x0 : c - x0]
        second = x[c - x0 : c + hop - x0]
        blk = out[i * hop : (i + 1) * hop]
        for n in range(hop):
            blk[n] = tail[n] + win[n] * first[n]
            tail[n] = win[hop + n] * second[n]
        c_prev = c


def _wsola_numpy(
    x: F32,
    x0: int,
    k0: int,
    ideal: I64,
    hop: int,
    tol: int,
    c_prev: int,
    win: F32,
    tail: F32,
    pos: I64,
    out: F32,
) -> None:
    eps = _EPS_PER_SAMPLE * hop
    shifts = np.arange(-tol, tol + 1)
    ties = np.abs(shifts) * 2 + (shifts > 0)  # rank: 0, -1, 1, -2, 2, ..
    shift2 = (shifts / tol) ** 2
    for i in range(pos.shape[0]):
        k = k0 + i
        c = int(ideal[i])
        ref = x[c_prev - x0 : c_prev - x0 + hop].astype(np.float64)
        e_ref = float(np.dot(ref, ref))
        if k > 0 and e_ref > eps:
            lo = c - tol - hop - x0
            region = x[lo : lo + 2 * tol + hop].astype(np.float64)
            cs = np.concatenate(([0.0], np.cumsum(region * region)))
            energy = np.maximum(cs[hop:] - cs[:-hop], 0.0)
            pull = _PULL * np.sqrt(e_ref)
            score = np.correlate(region, ref, "valid") / np.sqrt(energy + eps) - pull * shift2
            best = score.max()
            good = score >= best - _TIE * abs(best) - 1e-300
            c += int(np.argmin(np.where(good, ties, ties.size * 2))) - tol
        pos[i] = c
        start = c - hop - x0
        out[i * hop : (i + 1) * hop] = tail + win[:hop] * x[start : start + hop]
        tail[:] = win[hop:] * x[start + hop : start + 2 * hop]
        c_prev = c


_KERNELS: Final[dict[str, Callable[..., None]]] = {"numba": _wsola_numba, "numpy": _wsola_numpy}


@dataclass(eq=False)
class TsmState:
    """One stream's WSOLA state; create with :func:`init_state`, one per stream.

    Configuration: ``sample_rate_hz``, ``speed``, ``frame`` (N samples), ``hop`` (H = N / 2),
    ``tolerance`` (T samples), ``window`` (periodic Hann [N], float32, shared read-only).
    Progress: ``samples_in``; ``frames`` computed (the next is frame ``frames``); ``samples_out``;
    ``c_prev``: input centre of the last frame; ``tail``: float32 [H], its windowed second half
    (output block ``frames - 1``, still missing the next frame's first half); ``hist``: float32
    input from index ``hist_start`` (negative at first: the zeros before the stream) to
    ``samples_in - 1``, only what later frames still read.
    Time map (``mapped`` states only): knots ``map_in`` / ``map_out`` (float64, cumulative input
    and output samples, from (0, 0)), extended by :func:`extend_map`.
    """

    sample_rate_hz: int
    speed: float
    frame: int
    hop: int
    tolerance: int
    window: F32
    impl: Impl = "numba"
    samples_in: int = 0
    samples_out: int = 0
    frames: int = 0
    c_prev: int = 0
    hist_start: int = 0
    hist: F32 = field(default_factory=lambda: np.zeros(0, np.float32))
    tail: F32 = field(default_factory=lambda: np.zeros(0, np.float32))
    flushed: bool = False
    mapped: bool = False
    map_in: F64 = field(default_factory=lambda: np.zeros(1, np.float64))
    map_out: F64 = field(default_factory=lambda: np.zeros(1, np.float64))
    max_local_speed: float = 0.0

    @property
    def latency_in_samples(self) -> int:
        """Input samples that push() holds back at most: ``T + H (1 + speed)``, rounded up
        (``speed``: the nominal speed, or for a mapped state the fastest local speed of its map so
        far; a mapped state also waits for its map)."""
        speed = max(self.speed, self.max_local_speed) if self.mapped else self.speed
        return self.tolerance + math.ceil(self.hop * (1.0 + speed))


def init_state(sample_rate_hz: int, speed: float, *, impl: Impl = "numba", mapped: bool = False) -> TsmState:
    """A fresh stream at ``sample_rate_hz`` (integer, 8000..48000) played ``speed`` times as fast
    (0.5..4.0; 2.0 halves the duration). Raises ValueError for a value out of range or an unknown
    ``impl``.

    ``mapped=True``: a non-uniform stream whose time map the caller gives piece by piece with
    :func:`extend_map` ahead of the input (frames wait for it); ``speed`` is then only the rate
    for input beyond the map at :func:`flush`.
    """
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, int | np.integer):
        raise ValueError(f"sample_rate_hz must be an integer (Hz), got {sample_rate_hz!r}")
    if not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
        raise ValueError(f"sample_rate_hz must be in {MIN_RATE_HZ}..{MAX_RATE_HZ}, got {sample_rate_hz}")
    if isinstance(speed, bool) or not isinstance(speed, int | float | np.integer | np.floating):
        raise ValueError(f"speed must be a number, got {speed!r}")
    if not MIN_SPEED <= float(speed) <= MAX_SPEED:  # also refuses NaN
        raise ValueError(f"speed must be in [{MIN_SPEED}, {MAX_SPEED}], got {speed}")
    if impl not in _KERNELS:
        raise ValueError(f"impl must be one of {sorted(_KERNELS)}, got {impl!r}")
    sr = int(sample_rate_hz)
    hop = round(FRAME_MS / 2 * sr / 1000)
    tol = round(TOLERANCE_MS * sr / 1000)
    pre = tol + hop  # frame 1 may read from -(T + H)
    return TsmState(
        sample_rate_hz=sr,
        speed=float(speed),
        frame=2 * hop,
        hop=hop,
        tolerance=tol,
        window=_window(2 * hop),
        impl=impl,
        hist_start=-pre,
        hist=np.zeros(pre, np.float32),
        tail=np.zeros(hop, np.float32),
        mapped=bool(mapped),
    )


def _check_open(state: TsmState) -> None:
    if not isinstance(state, TsmState):
        raise ValueError(f"state must be a TsmState, got {type(state).__name__}")
    if state.flushed:
        raise RuntimeError("this TsmState was flushed; start a new stream with init_state()")


def _check_samples(x: object) -> F32:
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"x must be a float numpy array (float32 preferred), got {got}")
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (samples), got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def extend_map(state: TsmState, in_samples: npt.ArrayLike, out_samples: npt.ArrayLike) -> None:
    """Append pieces to a mapped state's time map: the next ``in_samples[i]`` input samples become
    ``out_samples[i]`` output samples (1-D, equal lengths, each > 0; floats allowed), stretched
    linearly within a piece. Frame k (output centre ``k H``) is placed at the input position the
    map gives for ``k H`` (rounded), so a piece's speed is ``in / out`` up to the WSOLA shift. The
    map must run ahead of the input it covers: frames wait for it. Raises ValueError for a state
    that is not mapped or for bad pieces."""
    _check_open(state)
    if not state.mapped:
        raise ValueError("extend_map needs a state made with init_state(..., mapped=True)")
    a = np.asarray(in_samples, dtype=np.float64).reshape(-1)
    b = np.asarray(out_samples, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"in_samples and out_samples differ in length: {a.size} vs {b.size}")
    if a.size == 0:
        return
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.all(a > 0) and np.all(b > 0)):
        raise ValueError("map pieces must be finite and > 0")
    # cumulative sums continued from the last knot (one running float64 sum: the knots do not
    # depend on how the pieces were split between calls)
    ins = np.cumsum(np.concatenate(([state.map_in[-1]], a)))[1:]
    outs = np.cumsum(np.concatenate(([state.map_out[-1]], b)))[1:]
    state.map_in = np.concatenate((state.map_in, ins))
    state.map_out = np.concatenate((state.map_out, outs))
    state.max_local_speed = max(state.max_local_speed, float(np.max(a / b)))


def _ideals(state: TsmState, k0: int, k1: int) -> I64:
    """Ideal input centres ``a_k`` of frames k0 .. k1 - 1."""
    k = np.arange(k0, k1, dtype=np.int64)
    if not state.mapped:
        out: I64 = np.floor(k * state.hop * state.speed + 0.5).astype(np.int64)
        return out
    u = (k * state.hop).astype(np.float64)
    last_in, last_out = float(state.map_in[-1]), float(state.map_out[-1])
    pos = np.where(
        u <= last_out,
        np.interp(u, state.map_out, state.map_in),
        last_in + (u - last_out) * state.speed,  # beyond the map: only at flush
    )
    return np.floor(pos + 0.5).astype(np.int64)


def output_position(state: TsmState, input_sample: float) -> float:
    """Where input sample position ``input_sample`` lands in the output (fractional samples):
    ``input_sample / speed``, or through a mapped state's time map (at ``speed`` beyond it)."""
    if not state.mapped:
        return float(input_sample) / state.speed
    last_in = float(state.map_in[-1])
    if input_sample <= last_in:
        return float(np.interp(float(input_sample), state.map_in, state.map_out))
    return float(state.map_out[-1]) + (float(input_sample) - last_in) / state.speed


def _run(state: TsmState, k_end: int) -> F32:
    """Compute frames ``state.frames .. k_end - 1``; return the output blocks they finish."""
    k0 = state.frames
    nk = k_end - k0
    if nk <= 0:
        return np.zeros(0, np.float32)
    hop = state.hop
    ideal = _ideals(state, k0, k_end + 1)
    pos = np.empty(nk, np.int64)
    out = np.empty(nk * hop, np.float32)
    _KERNELS[state.impl](
        state.hist,
        state.hist_start,
        k0,
        ideal[:nk],
        hop,
        state.tolerance,
        state.c_prev,
        state.window,
        state.tail,
        pos,
        out,
    )
    state.frames = k_end
    state.c_prev = int(pos[-1])
    # Frame k reads from min(c_{k-1}, a_k - T - H) on; a mapped state's next a_k may still move
    # (its map can grow), but never below a_{k-1} (the map is monotone).
    nxt = int(ideal[nk - 1] if state.mapped else ideal[nk])
    keep_from = min(state.c_prev, nxt - state.tolerance - hop)
    if keep_from > state.hist_start:
        state.hist = state.hist[keep_from - state.hist_start :].copy()
        state.hist_start = keep_from
    return out[hop:] if k0 == 0 else out  # frame 0 finishes the block before the stream


def _ready_frames(state: TsmState, limit: int) -> int:
    """One past the last frame that can be computed now: its ideal position is at most ``limit``
    (its input is in) and, for a mapped state, the map reaches its output centre."""
    if not state.mapped:
        k_end = max(state.frames, math.floor((limit + 0.5) / (state.hop * state.speed)) + 2)
        while k_end > state.frames and _ideal(k_end - 1, state.hop, state.speed) > limit:
            k_end -= 1
        return k_end
    k_map = math.floor(float(state.map_out[-1]) / state.hop)  # frames 0..k_map are on the map
    if k_map < state.frames:
        return state.frames
    ideal = _ideals(state, state.frames, k_map + 1)  # non-decreasing
    return state.frames + int(np.searchsorted(ideal, limit, side="right"))


def push(state: TsmState, x: npt.ArrayLike) -> F32:
    """Feed input samples (1-D float array, float32 preferred; other float dtypes are converted).

    Returns a new float32 array of the output samples that are now final: a multiple of the hop
    ``H`` (possibly 0). Mutates ``state``. Raises ValueError for a non-float or non-1-D ``x``,
    RuntimeError after :func:`flush`.
    """
    _check_open(state)
    x_ = _check_samples(x)
    state.hist = np.concatenate((state.hist, x_))
    state.samples_in += x_.shape[0]
    # Frame k reads up to a_k + T + H - 1: ready while a_k <= samples_in - T - H.
    limit = state.samples_in - state.tolerance - state.hop
    k_end = _ready_frames(state, limit) if limit >= 0 else state.frames
    out = _run(state, k_end)
    state.samples_out += out.shape[0]
    return out


def flush(state: TsmState) -> F32:
    """End the stream: return the rest, so that ``output_length(samples_in)`` samples came out in
    all (input zero-padded past its end; a mapped state: ``floor(output_position(samples_in) +
    1/2)``). The state refuses further use afterwards."""
    _check_open(state)
    state.flushed = True
    if state.mapped:
        total = math.floor(output_position(state, state.samples_in) + 0.5)
    else:
        total = output_length(state.samples_in, state.speed)
    if total <= state.samples_out:
        return np.zeros(0, np.float32)
    k_end = -(-total // state.hop) + 1  # block b needs frame b + 1
    need = int(_ideals(state, k_end - 1, k_end)[0]) + state.tolerance + state.hop
    pad = need - (state.hist_start + state.hist.shape[0])
    if pad > 0:
        state.hist = np.concatenate((state.hist, np.zeros(pad, np.float32)))
    out = _run(state, k_end)[: total - state.samples_out]
    state.samples_out = total
    return out


def time_stretch(x: npt.ArrayLike, sample_rate_hz: int, speed: float, *, impl: Impl = "numba") -> F32:
    """One shot (push all + flush): ``output_length(len(x), speed)`` float32 samples."""
    state = init_state(sample_rate_hz, speed, impl=impl)
    head = push(state, x)
    tail = flush(state)
    return np.concatenate((head, tail)) if head.size else tail


def warmup() -> None:
    """Compile the Numba kernels (one signature: contiguous float32 arrays, int64)."""
    state = init_state(16000, 2.0)
    push(state, np.zeros(4000, np.float32))
    flush(state)
