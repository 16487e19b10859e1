"""Vocoder constants shared by the Numba kernels, the NumPy reference and the wrapper.

All arrays are read-only module constants (Numba freezes them into the compiled code).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

SR: Final = 24000  # sample rate, Hz
N_FFT: Final = 1200  # STFT size, samples (50 ms)
HOP: Final = 300  # frame hop, samples (12.5 ms)
N_BINS: Final = N_FFT // 2 + 1  # 601 rfft bins
HALF: Final = N_FFT // 2  # centre padding, samples
HALF_HOP: Final = HOP // 2
BLOCKS: Final = N_FFT // HOP  # 4 hop-sized blocks per frame

VOICED_HZ: Final = 40.0  # f0 at or below this is unvoiced; also the floor of the phase increment
FMAX_HZ: Final = 11000.0  # the pulse train holds every harmonic below this
LOG_GAIN_CAP: Final = 7.0  # exp(min(x, 7)) for the three log-magnitudes
SINGULAR: Final = 2e-3  # |2 sin(t/2)| at or below this takes the limit value of the Dirichlet kernel


def _readonly(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    a.flags.writeable = False
    return a


# Periodic Hann window; the analysis window is scaled so that a unit cosine peaks at 1 in the STFT.
WIN: Final = _readonly((0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32))
WIN_SRC: Final = _readonly((WIN / np.float32(N_FFT / 4)).astype(np.float32))
# Squared window: the overlap-add normaliser sums its four hop-sized blocks.
WIN2: Final = _readonly((WIN * WIN).astype(np.float32))

# Linear interpolation of frame-rate f0 to samples (align_corners=False): sample j of frame k sits at
# k + (j + 0.5) / HOP - 0.5, between frames (k-1, k) for j < HOP/2 and (k, k+1) after; U weighs the
# later frame, V = 1 - U the earlier.
INTERP_U: Final = _readonly((((np.arange(HOP) + 0.5) / HOP - 0.5) % 1.0).astype(np.float32))
INTERP_V: Final = _readonly((1.0 - INTERP_U).astype(np.float32))


def _full_norm() -> npt.NDArray[np.float32]:
    ws = np.zeros(HOP, np.float32)
    for r in range(BLOCKS):  # ascending, like the tapered blocks and hibari's dsp._ola_norm
        ws += WIN2[r * HOP : (r + 1) * HOP]
    return (np.float32(1.0) / np.maximum(ws, np.float32(1e-11))).astype(np.float32)


# 1 / summed squared window of an output block that all four overlapping frames reach.
NORM_FULL: Final = _readonly(_full_norm())
