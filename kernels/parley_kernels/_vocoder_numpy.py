"""NumPy reference implementation of the vocoder kernels.

Each function has the same signature and contract as its twin in ``_vocoder_numba`` (see there) and
fills caller-provided outputs. This version is written for clarity and follows hibari's
``dsp.py`` operation by operation (float32 throughout, float64 only for the phase sum), so it is
also what the Numba kernels are tested against.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._consts import (
    FMAX_HZ,
    HALF,
    HALF_HOP,
    HOP,
    INTERP_U,
    INTERP_V,
    LOG_GAIN_CAP,
    N_FFT,
    SINGULAR,
    SR,
    VOICED_HZ,
    WIN,
    WIN2,
    WIN_SRC,
)

F32 = npt.NDArray[np.float32]
C64 = npt.NDArray[np.complex64]
U64 = npt.NDArray[np.uint64]

_f32 = np.float32
_PI = _f32(np.pi)
_TWO_PI = _f32(2 * np.pi)


def _gain(x: F32) -> F32:
    return np.exp(np.minimum(x, _f32(LOG_GAIN_CAP)), dtype=np.float32)


def noise_polar(noise: U64) -> tuple[F32, F32]:
    """64 random bits per bin -> (radius, angle) of a standard complex Gaussian (Box-Muller).

    The top 23 bits give u1 = (m + 1/2) 2^-23 in (0, 1), exact in float32, radius sqrt(-2 ln u1); the
    low 32 bits give the angle 2 pi u2 with u2 = (bits >> 8) 2^-24. Real and imaginary parts are
    then independent N(0, 1), as with ``standard_normal`` (radius capped at 5.77: a tail of 6e-8).
    """
    u1 = ((noise >> np.uint64(41)).astype(np.float32) + _f32(0.5)) * _f32(2.0**-23)
    u2 = ((noise & np.uint64(0xFFFFFFFF)) >> np.uint64(8)).astype(np.float32) * _f32(2.0**-24)
    radius = np.sqrt(_f32(-2.0) * np.log(u1))
    return radius, u2 * _TWO_PI


def spectral_factors(
    lh: F32, theta: F32, ln: F32, lr: F32, phi: F32, col0: int, noise: U64, a_out: C64, b_out: C64
) -> None:
    cols = slice(col0, col0 + noise.shape[0])
    lh_t, th_t, ln_t, lr_t, phi_t = (x[:, cols].T for x in (lh, theta, ln, lr, phi))
    gh = _gain(lh_t)
    ang = np.tanh(th_t)
    ang *= _PI
    a_out.real = gh * np.cos(ang)
    a_out.imag = gh * np.sin(ang)
    radius, zang = noise_polar(noise)
    gn = _gain(ln_t) * radius
    gr = _gain(lr_t)
    b_out.real = gn * np.cos(zang) + gr * np.cos(phi_t)
    b_out.imag = gn * np.sin(zang) + gr * np.sin(phi_t)


def pulse_train(f0x: F32, acc: float, out: F32) -> float:
    n = f0x.shape[0] - 2
    f = np.empty((n, HOP), np.float32)
    np.multiply(f0x[:-2, None], INTERP_V[:HALF_HOP], out=f[:, :HALF_HOP])
    f[:, :HALF_HOP] += f0x[1:-1, None] * INTERP_U[:HALF_HOP]
    np.multiply(f0x[1:-1, None], INTERP_V[HALF_HOP:], out=f[:, HALF_HOP:])
    f[:, HALF_HOP:] += f0x[2:, None] * INTERP_U[HALF_HOP:]
    f = f.reshape(-1)
    voiced = f > _f32(VOICED_HZ)
    np.maximum(f, _f32(VOICED_HZ), out=f)
    run = np.cumsum(np.concatenate(([acc], f.astype(np.float64))))  # sequential, as in one shot
    ph = run[1:] * (1.0 / SR)
    ph -= np.floor(ph)
    t = (ph * (2 * np.pi)).astype(np.float32)
    h = np.floor(_f32(FMAX_HZ) / f) + _f32(0.5)
    s = _f32(2.0) * np.sin(t * _f32(0.5))
    singular = np.abs(s) <= _f32(SINGULAR)
    e = np.sin(h * t)
    s[singular] = 1.0
    e /= s
    e[singular] = h[singular]
    e -= _f32(0.5)
    e[~voiced] = 0.0
    out[:] = e
    return float(run[-1])


def _reflect(i: npt.NDArray[np.int64], total_len: int) -> npt.NDArray[np.int64]:
    if total_len < 0:
        return np.abs(i)
    period = 2 * (total_len - 1)
    i = i % period
    return np.where(i >= total_len, period - i, i)


def block_norm(b: int, n_frames: int) -> F32:
    """1 / summed squared window over output block ``b`` (hop-sized); ``n_frames`` < 0: not known yet."""
    ws = np.zeros(HOP, np.float32)
    for r in range(4):
        if r <= b and (n_frames < 0 or r > b - n_frames):
            ws += WIN2[r * HOP : (r + 1) * HOP]
    return (_f32(1.0) / np.maximum(ws, _f32(1e-11))).astype(np.float32)


def synth_frames(x: F32, x0: int, total_len: int, k0: int, a: C64, b: C64, ola: F32, out: F32) -> None:
    nk = a.shape[0]
    starts = (k0 + np.arange(nk)) * HOP - HALF
    idx = _reflect(starts[:, None] + np.arange(N_FFT), total_len) - x0
    frames = x[idx] * WIN_SRC
    spec = np.fft.rfft(frames, axis=1)
    spec *= a
    spec += b
    y = np.fft.irfft(spec, N_FFT, axis=1)
    y *= WIN
    blocks = y.reshape(nk, 4, HOP)
    buf = np.zeros((nk + 3, HOP), np.float32)
    buf[:3] = ola.reshape(3, HOP)
    for r in (3, 2, 1, 0):  # oldest contribution first, the order the Numba kernel adds in
        buf[r : r + nk] += blocks[:, r]
    pos = 0
    for i in range(nk):
        if k0 + i >= 2:
            out[pos : pos + HOP] = buf[i] * block_norm(k0 + i, -1)
            pos += HOP
    ola[:] = buf[nk:].reshape(-1)
    if total_len >= 0:
        n_frames = total_len // HOP
        for blk in range(max(2, n_frames), n_frames + 2):
            src = (blk - n_frames) * HOP
            out[pos : pos + HOP] = ola[src : src + HOP] * block_norm(blk, n_frames)
            pos += HOP
