"""Non-uniform time-scale plan for fast speech: how long each 12.5 ms of input lasts in the output.

Uniform time compression (WSOLA at one speed) shortens a steady vowel and a consonant's burst and
formant transitions alike; beyond ~2.5x the transitions, which carry most of what tells words
apart, get too short to follow. This planner gives the output time of a stretch of speech to its
frames in proportion to how fast its spectrum changes, so steady parts (held vowels, silences)
are compressed hardest and transitions least, and the stretch still comes out exactly as long as
asked. The plan is a time map for :mod:`.tsm` (``init_state(..., mapped=True)`` and
``extend_map``), which renders it.

Per stream, on a grid of frames of ``H = round(FRAME_MS * sr / 1000)`` samples (frame k covers
input ``[k H, (k + 1) H)``):

* the caller says, with the audio, how fast each input sample should go on average (``speed``,
  per sample or per push): frame k's target output length is ``T_k = sum over its samples of
  1 / speed``;
* spectrum: a periodic Hann window of ``4 H`` samples centred on the frame (zeros before the
  stream and after its end), power in 40 log-spaced bands from 80 Hz to 8 kHz relative to the
  window's full-scale sine level, in dB, floored at ``FLOOR_DB``;
* flux ``f_k``: the mean absolute change of those band levels from frame k - 1 (frame -1: the
  floor), and the frame's weight ``w_k = (f_{k-1} + f_k + f_{k+1}) / 3 + FLUX_OFFSET_DB`` (``f``
  is 0 outside the stream), times ``n_k / H`` for a short last frame;
* blocks of ``FIRST_BLOCKS`` (4, 4, 8) then ``BLOCK_FRAMES`` (16) frames (200 ms at the same
  speed; the first ones shorter so the first audio is not held back): each block's output time ``T``
  (the sum of its frames' targets, plus what the blocks before could not place: ``carry``) is
  shared out as ``o_k = clip(s w_k, lo_k, hi_k)`` with the scale s solved exactly so that the
  ``o_k`` sum to ``T``. ``hi_k = n_k * max(r, min(1, MAX_SHARE r))`` and ``lo_k = n_k *
  min(r, 1 / MAX_LOCAL_SPEED)``, where ``r`` is the block's average output/input ratio: a frame
  never goes slower than the input unless the block as a whole must, and never more than
  ``MAX_LOCAL_SPEED`` times faster. When even the bounds cannot meet ``T``, the remainder carries
  to the next block; the last block (at :func:`flush`) is scaled to meet it exactly, so the whole
  stream lasts ``sum of 1 / speed`` (up to float rounding).

Output: pieces ``(n_k, o_k)`` in frame order, each final when returned. A block is planned once
the input reaches 2.5 frames past its end (the window half and the next frame's flux): push
returns nothing until the first 4 frames (+2.5) are in, ~80 ms of input at 24 kHz. Every
decision depends on the samples and speeds alone, so pushing in chunks of any size gives the
one-shot plan exactly.

Two implementations with one contract: ``impl="numba"`` (default; band levels, flux and the
block allocation compiled) and ``impl="numpy"`` (the reference). The spectra are numpy FFTs in
both. They agree to ~1e-9 relative.

    plan = init_state(24000)
    for chunk, speed in pieces:
        ins, outs = push(plan, chunk, speed)
        tsm.extend_map(stretch, ins, outs)     # stretch = tsm.init_state(24000, 3.0, mapped=True)
        play(tsm.push(stretch, chunk))
    ins, outs = flush(plan); tsm.extend_map(stretch, ins, outs); play(tsm.flush(stretch))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = [
    "BLOCK_FRAMES",
    "FIRST_BLOCKS",
    "FLOOR_DB",
    "FLUX_OFFSET_DB",
    "FRAME_MS",
    "MAX_LOCAL_SPEED",
    "MAX_SHARE",
    "MAX_SPEED",
    "Impl",
    "PlanState",
    "flush",
    "init_state",
    "plan",
    "push",
    "warmup",
]

Impl = Literal["numba", "numpy"]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

FRAME_MS: Final = 12.5
WINDOW_FRAMES: Final = 4
N_BANDS: Final = 40
BAND_LO_HZ: Final = 80.0
BAND_HI_HZ: Final = 8000.0
FLOOR_DB: Final = -75.0
FLUX_OFFSET_DB: Final = 0.1
BLOCK_FRAMES: Final = 16
FIRST_BLOCKS: Final = (4, 4, 8)  # frames of the stream's first blocks (first audio sooner)
MAX_SHARE: Final = 1.6
MAX_LOCAL_SPEED: Final = 16.0
MAX_SPEED: Final = 64.0  # the largest per-sample speed a caller may ask for
MIN_RATE_HZ: Final = 8000
MAX_RATE_HZ: Final = 48000


# -- kernels --------------------------------------------------------------------------------------
# Band levels and flux: ``power`` [n, n_bins] (float64) of n consecutive frames, ``prev`` [N_BANDS]
# the levels of the frame before them (updated in place); ``flux`` [n] out.
@njit(nogil=True, cache=True, error_model="numpy")
def _flux_numba(power, edges, floor_db, prev, flux):  # type: ignore[no-untyped-def]
    nb = edges.shape[0] - 1
    floor_p = 10.0 ** (floor_db / 10.0)
    for i in range(power.shape[0]):
        acc = 0.0
        for b in range(nb):
            e = 0.0
            for j in range(edges[b], edges[b + 1]):
                e += power[i, j]
            level = 10.0 * np.log10(max(e, floor_p))
            acc += abs(level - prev[b])
            prev[b] = level
        flux[i] = acc / nb


def _flux_numpy(power: F64, edges: I64, floor_db: float, prev: F64, flux: F64) -> None:
    # frame by frame: numpy's SIMD loops may round the last elements of an array differently, so
    # a batch of frames would depend on how the input was chunked
    floor_p = 10.0 ** (floor_db / 10.0)
    for i in range(power.shape[0]):
        cs = np.concatenate(([0.0], np.cumsum(power[i])))
        levels = 10.0 * np.log10(np.maximum(cs[edges[1:]] - cs[edges[:-1]], floor_p))
        flux[i] = np.mean(np.abs(levels - prev))
        prev[:] = levels


# Block allocation: o = clip(s v, lo, hi) with sum(o) = target (lo <= hi, v > 0, and
# sum(lo) < target < sum(hi)). g(s) = sum(clip(s v, lo, hi)) is piecewise linear and
# non-decreasing with breakpoints lo/v and hi/v: find the piece where it crosses target and solve.
@njit(nogil=True, cache=True, error_model="numpy")
def _share_numba(v, lo, hi, target, out):  # type: ignore[no-untyped-def]
    n = v.shape[0]
    bps = np.empty(2 * n, np.float64)
    for k in range(n):
        bps[k] = lo[k] / v[k]
        bps[n + k] = hi[k] / v[k]
    bps.sort()
    s = bps[-1]
    for i in range(2 * n):
        t = bps[i]
        g = 0.0
        for k in range(n):
            g += min(max(t * v[k], lo[k]), hi[k])
        if g >= target:
            # on [bps[i-1], t] the frames strictly inside their bounds are linear in s
            fixed = 0.0
            slope = 0.0
            t0 = bps[i - 1] if i > 0 else 0.0
            mid = 0.5 * (t0 + t)
            for k in range(n):
                x = mid * v[k]
                if x <= lo[k]:
                    fixed += lo[k]
                elif x >= hi[k]:
                    fixed += hi[k]
                else:
                    slope += v[k]
            s = (target - fixed) / slope if slope > 0.0 else t
            break
    for k in range(n):
        out[k] = min(max(s * v[k], lo[k]), hi[k])


def _share_numpy(v: F64, lo: F64, hi: F64, target: float, out: F64) -> None:
    bps = np.sort(np.concatenate((lo / v, hi / v)))
    g = np.sum(np.clip(bps[:, None] * v[None, :], lo[None, :], hi[None, :]), axis=1)
    i = int(np.argmax(g >= target)) if bool(np.any(g >= target)) else bps.size - 1
    t0 = float(bps[i - 1]) if i > 0 else 0.0
    x = 0.5 * (t0 + float(bps[i])) * v
    free = (x > lo) & (x < hi)
    fixed = float(np.sum(np.where(x <= lo, lo, 0.0)) + np.sum(np.where(x >= hi, hi, 0.0)))
    slope = float(np.sum(v[free]))
    s = (target - fixed) / slope if slope > 0.0 else float(bps[i])
    out[:] = np.clip(s * v, lo, hi)


@dataclass(frozen=True)
class _Kernels:
    flux: Callable[..., None]
    share: Callable[..., None]


_KERNELS: Final[dict[str, _Kernels]] = {
    "numba": _Kernels(_flux_numba, _share_numba),
    "numpy": _Kernels(_flux_numpy, _share_numpy),
}


# -- state ----------------------------------------------------------------------------------------
@dataclass(eq=False)
class PlanState:
    """One stream's planner; create with :func:`init_state`, one per stream.

    Configuration: ``sample_rate_hz``, ``hop`` (H), ``window`` (periodic Hann [4 H], float64,
    normalised to a full-scale sine), ``edges`` (band edges in FFT bins).
    Progress: ``samples_in``; ``analysed`` frames with a flux; ``planned`` frames returned;
    ``carry``: output time the planned blocks still owe. Buffers: ``hist`` (input from
    ``hist_start``, negative at first: the zeros before the stream), ``inv_speed`` (1 / speed per
    input sample from frame ``planned`` on), ``flux`` (of frames ``planned - 1 .. analysed - 1``),
    ``prev_levels`` (band levels of frame ``analysed - 1``).
    """

    sample_rate_hz: int
    hop: int
    window: F64
    edges: I64
    impl: Impl = "numba"
    samples_in: int = 0
    analysed: int = 0
    planned: int = 0
    carry: float = 0.0
    flushed: bool = False
    hist_start: int = 0
    hist: F32 = field(default_factory=lambda: np.zeros(0, np.float32))
    inv_speed: F64 = field(default_factory=lambda: np.zeros(0, np.float64))
    flux: F64 = field(default_factory=lambda: np.zeros(1, np.float64))
    prev_levels: F64 = field(default_factory=lambda: np.zeros(0, np.float64))

    @property
    def n_fft(self) -> int:
        return int(self.window.shape[0])

    def window_end(self, k: int) -> int:
        """One past the last input sample frame k's spectrum reads."""
        return k * self.hop + self.hop // 2 + self.n_fft // 2


def init_state(sample_rate_hz: int, *, impl: Impl = "numba") -> PlanState:
    """A fresh stream at ``sample_rate_hz`` (integer, 8000..48000). Raises ValueError for a rate
    out of range or an unknown ``impl``."""
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, int | np.integer):
        raise ValueError(f"sample_rate_hz must be an integer (Hz), got {sample_rate_hz!r}")
    if not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
        raise ValueError(f"sample_rate_hz must be in {MIN_RATE_HZ}..{MAX_RATE_HZ}, got {sample_rate_hz}")
    if impl not in _KERNELS:
        raise ValueError(f"impl must be one of {sorted(_KERNELS)}, got {impl!r}")
    sr = int(sample_rate_hz)
    hop = round(FRAME_MS * sr / 1000)
    n_fft = WINDOW_FRAMES * hop
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    window = w * (2.0 / w.sum())  # a full-scale sine peaks at |X| = 1 (0 dB)
    window.flags.writeable = False
    hz = np.geomspace(BAND_LO_HZ, min(BAND_HI_HZ, 0.5 * sr), N_BANDS + 1)
    edges = np.unique(np.clip(np.round(hz * n_fft / sr), 1, n_fft // 2).astype(np.int64))
    pre = n_fft  # frame 0 reads from -(n_fft / 2 - H / 2)
    return PlanState(
        sample_rate_hz=sr,
        hop=hop,
        window=window,
        edges=edges,
        impl=impl,
        hist_start=-pre,
        hist=np.zeros(pre, np.float32),
        prev_levels=np.full(edges.shape[0] - 1, FLOOR_DB, np.float64),
    )


def _check_open(state: PlanState) -> None:
    if not isinstance(state, PlanState):
        raise ValueError(f"state must be a PlanState, got {type(state).__name__}")
    if state.flushed:
        raise RuntimeError("this PlanState was flushed; start a new stream with init_state()")


def _inv_speeds(speed: object, n: int) -> F64:
    if isinstance(speed, bool):
        raise ValueError(f"speed must be a number or an array, got {speed!r}")
    s = np.asarray(speed, dtype=np.float64)
    if s.ndim == 0:
        s = np.full(n, float(s))
    elif s.shape != (n,):
        raise ValueError(f"speed must be a number or have one value per sample ({n}), got shape {s.shape}")
    if not np.all((s > 0) & (s <= MAX_SPEED)):  # also refuses NaN
        raise ValueError(f"speed must be in (0, {MAX_SPEED}]")
    out: F64 = 1.0 / s
    return out


# -- planning -------------------------------------------------------------------------------------
def _analyse(state: PlanState, k_end: int) -> None:
    """Flux of frames ``analysed .. k_end - 1`` (their windows are in ``hist``, zero-padded)."""
    k0 = state.analysed
    if k_end <= k0:
        return
    hop, n_fft = state.hop, state.n_fft
    starts = np.arange(k0, k_end) * hop + hop // 2 - n_fft // 2 - state.hist_start
    need = int(starts[-1]) + n_fft
    x = state.hist
    if need > x.shape[0]:
        x = np.concatenate((x, np.zeros(need - x.shape[0], np.float32)))
    power = np.empty((k_end - k0, n_fft // 2 + 1), np.float64)
    for i, a in enumerate(starts):  # one FFT per frame: batched FFTs may round by batch position
        spec = np.fft.rfft(x[a : a + n_fft].astype(np.float64) * state.window)
        power[i] = spec.real**2 + spec.imag**2
    flux = np.empty(k_end - k0, np.float64)
    _KERNELS[state.impl].flux(power, state.edges, FLOOR_DB, state.prev_levels, flux)
    state.flux = np.concatenate((state.flux, flux))
    state.analysed = k_end


_FIRST_EDGES: Final = tuple(int(e) for e in np.cumsum(FIRST_BLOCKS))


def _block_end(k: int) -> int:
    """One past the last frame of the block that frame k is in."""
    for e in _FIRST_EDGES:
        if k < e:
            return e
    return k + BLOCK_FRAMES - (k - _FIRST_EDGES[-1]) % BLOCK_FRAMES


def _plan_block(state: PlanState, k1: int, n_frames_total: int, last: bool) -> tuple[F64, F64]:
    """Share out frames ``planned .. k1 - 1`` (``n_frames_total``: frames in the stream, known at
    flush; ``last``: the stream's last block)."""
    k0, hop = state.planned, state.hop
    n = np.full(k1 - k0, float(hop))
    if last:
        n[-1] = state.samples_in - (k1 - 1) * hop
    # flux index i holds frame planned - 1 + i; frames past the stream have none (0)
    f = state.flux
    j = np.arange(k1 - k0)
    f_prev, f_here = f[j], f[j + 1]
    f_next = np.where(k0 + j + 1 < n_frames_total, f[np.minimum(j + 2, f.shape[0] - 1)], 0.0)
    w = (f_prev + f_here + f_next) / 3.0 + FLUX_OFFSET_DB
    inv = state.inv_speed
    bounds = np.concatenate(([0], np.cumsum(n).astype(np.int64)))
    tk = np.array([float(np.sum(inv[bounds[i] : bounds[i + 1]])) for i in range(k1 - k0)])
    total_in = float(bounds[-1])
    base = float(np.sum(tk))
    target = base + state.carry
    r = base / total_in
    hi = n * max(r, min(1.0, MAX_SHARE * r))
    lo = n * min(r, 1.0 / MAX_LOCAL_SPEED)
    v = w * (n / hop)
    out = np.empty_like(n)
    s_lo, s_hi = float(np.sum(lo)), float(np.sum(hi))
    if target >= s_hi:
        out[:] = hi * (target / s_hi) if last else hi
    elif target <= s_lo:
        out[:] = lo * (max(target, 1e-9 * s_lo) / s_lo) if last else lo
    else:
        _KERNELS[state.impl].share(v, lo, hi, target, out)
    state.carry = 0.0 if last else target - float(np.sum(out))
    state.planned = k1
    state.inv_speed = inv[bounds[-1] :]
    state.flux = f[k1 - k0 :]
    return n, out


def _plan_ready(state: PlanState, final: bool) -> tuple[F64, F64]:
    ins: list[F64] = []
    outs: list[F64] = []
    if final:
        n_frames = -(-state.samples_in // state.hop)
        _analyse(state, n_frames)
        while state.planned < n_frames:
            k1 = min(_block_end(state.planned), n_frames)
            a, b = _plan_block(state, k1, n_frames, last=k1 == n_frames)
            ins.append(a)
            outs.append(b)
    else:
        # frame k's weight needs frame k + 1's flux; its target needs all its samples
        while True:
            k1 = _block_end(state.planned)
            if state.window_end(k1) > state.samples_in:
                break
            _analyse(state, k1 + 1)
            a, b = _plan_block(state, k1, k1 + 1, last=False)
            ins.append(a)
            outs.append(b)
        # analyse what is in already (bounded work per push)
        k_now = 0
        while state.window_end(k_now + state.analysed) <= state.samples_in:
            k_now += 1
        _analyse(state, state.analysed + k_now)
    # trim the input the next windows no longer read
    keep_from = state.analysed * state.hop + state.hop // 2 - state.n_fft // 2 - state.hop
    if keep_from > state.hist_start:
        state.hist = state.hist[keep_from - state.hist_start :]
        state.hist_start = keep_from
    if not ins:
        return np.zeros(0, np.float64), np.zeros(0, np.float64)
    return np.concatenate(ins), np.concatenate(outs)


def push(state: PlanState, x: npt.ArrayLike, speed: float | npt.ArrayLike) -> tuple[F64, F64]:
    """Feed input samples (1-D float array) with the speed each should average (a number, or one
    value per sample; each in (0, 64]). Returns the pieces now final: input lengths (whole
    samples, as float64) and their output lengths. Raises ValueError for bad input, RuntimeError
    after :func:`flush`."""
    _check_open(state)
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"x must be a float numpy array (float32 preferred), got {got}")
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (samples), got shape {x.shape}")
    inv = _inv_speeds(speed, x.shape[0])
    state.hist = np.concatenate((state.hist, x.astype(np.float32, copy=False)))
    state.inv_speed = np.concatenate((state.inv_speed, inv))
    state.samples_in += x.shape[0]
    return _plan_ready(state, final=False)


def flush(state: PlanState) -> tuple[F64, F64]:
    """End the stream: the remaining pieces (the input is zero past its end). Afterwards the
    pieces returned cover every input sample and their outputs sum to the sum of 1 / speed. The
    state refuses further use."""
    _check_open(state)
    state.flushed = True
    return _plan_ready(state, final=True)


def plan(
    x: npt.ArrayLike, sample_rate_hz: int, speed: float | npt.ArrayLike, *, impl: Impl = "numba"
) -> tuple[F64, F64]:
    """One shot (push all + flush): the pieces for the whole of ``x``."""
    state = init_state(sample_rate_hz, impl=impl)
    a, b = push(state, np.asarray(x), speed)
    c, d = flush(state)
    return np.concatenate((a, c)), np.concatenate((b, d))


def warmup() -> None:
    """Compile the Numba kernels."""
    rng = np.random.default_rng(0)
    plan(rng.standard_normal(8000).astype(np.float32), 16000, 3.0)
