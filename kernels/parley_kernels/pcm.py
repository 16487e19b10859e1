"""float32 samples -> 16-bit PCM.

``y = rint(clip(x, -1, 1) * 32767)`` in float32 (round half to even), NaN -> 0, +-inf -> +-32767.
Two implementations with the same results: ``impl="numba"`` (default, a compiled loop that releases
the GIL) and ``impl="numpy"`` (the reference).
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["float_to_pcm16", "warmup"]

PcmImpl = Literal["numba", "numpy"]

_SCALE: Final = np.float32(32767.0)
_ONE: Final = np.float32(1.0)


@njit(nogil=True, cache=True, error_model="numpy")
def _pcm16_numba(x, out):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        v = x[i]
        v = v if v == v else np.float32(0.0)  # NaN -> 0
        v = min(max(v, -_ONE), _ONE)
        out[i] = np.int16(np.rint(v * _SCALE))


def _pcm16_numpy(x: npt.NDArray[np.float32], out: npt.NDArray[np.int16]) -> None:
    y = np.where(np.isnan(x), np.float32(0.0), x)
    np.clip(y, -_ONE, _ONE, out=y)
    y *= _SCALE
    np.rint(y, out=y)
    out[...] = y.astype(np.int16)


def float_to_pcm16(
    x: npt.NDArray[np.float32],
    out: npt.NDArray[np.int16] | None = None,
    *,
    impl: PcmImpl = "numba",
) -> npt.NDArray[np.int16]:
    """Convert float32 samples (nominal range [-1, 1]) to int16 PCM.

    ``x``: 1-D float32 array, any stride. ``out``: optional 1-D int16 array of the same length to fill
    (any stride); allocated when None. Returns ``out``. Values are clipped to [-1, 1], scaled by
    32767 and rounded to nearest (ties to even); NaN becomes 0. Raises ValueError for a wrong dtype,
    dimensionality or length (no silent conversions), or an unknown ``impl``.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"x must be a float32 numpy array, got {got}")
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (samples), got shape {x.shape}")
    if out is None:
        out = np.empty(x.shape[0], np.int16)
    elif not isinstance(out, np.ndarray) or out.dtype != np.int16:
        got_out = out.dtype if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"out must be an int16 numpy array, got {got_out}")
    elif out.shape != x.shape:
        raise ValueError(f"out has shape {out.shape} but x has shape {x.shape}")
    elif not out.flags.writeable:
        raise ValueError("out is read-only")
    if impl == "numba":
        _pcm16_numba(x, out)
    elif impl == "numpy":
        _pcm16_numpy(x, out)
    else:
        raise ValueError(f"impl must be 'numba' or 'numpy', got {impl!r}")
    return out


def warmup() -> None:
    """Compile the Numba kernel for contiguous and strided arrays (cached on disk afterwards)."""
    x = np.zeros(8, np.float32)
    float_to_pcm16(x)
    float_to_pcm16(x[::2], np.empty(8, np.int16)[::2])
