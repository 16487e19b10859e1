"""Inputs for the kernel tests: synthetic model outputs (real ones: the model_frames fixture)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from parley_kernels.vocoder import N_BINS

F32 = npt.NDArray[np.float32]
IMPLS = ["numba", "numpy"]


@dataclass(frozen=True)
class Frames:
    """Model outputs for F frames: five [601, F] float32 spectra and f0 [F] in Hz."""

    lh: F32
    theta: F32
    ln: F32
    lr: F32
    phi: F32
    f0: F32

    @property
    def n(self) -> int:
        return int(self.f0.shape[0])

    def spectra(self) -> tuple[F32, F32, F32, F32, F32]:
        return self.lh, self.theta, self.ln, self.lr, self.phi

    def args(self) -> tuple[F32, F32, F32, F32, F32, F32]:
        return (*self.spectra(), self.f0)

    def cols(self, lo: int, hi: int) -> tuple[F32, F32, F32, F32, F32, F32]:
        """Frames lo..hi-1 as views (strided, like slices of the ONNX outputs)."""
        return (
            self.lh[:, lo:hi],
            self.theta[:, lo:hi],
            self.ln[:, lo:hi],
            self.lr[:, lo:hi],
            self.phi[:, lo:hi],
            self.f0[lo:hi],
        )

    def replace(self, **kw: F32) -> Frames:
        fields = dict(zip(("lh", "theta", "ln", "lr", "phi", "f0"), self.args(), strict=True))
        fields.update(kw)
        return Frames(**fields)


def synthetic_frames(n: int, seed: int = 0) -> Frames:
    """Plausible model outputs: smooth log-spectra in the model's ranges, f0 with voiced stretches
    (80-300 Hz glides), unvoiced stretches (0 Hz and slightly negative, as the model emits) and
    abrupt voicing changes, some a single frame long."""
    rng = np.random.default_rng(seed)

    def smooth(lo: float, hi: float) -> F32:
        base = rng.standard_normal((N_BINS // 20 + 2, n + 2))
        x = np.repeat(base, 20, axis=0)[:N_BINS, :n] + 0.3 * rng.standard_normal((N_BINS, n))
        x = (x - x.min()) / (x.max() - x.min())
        out: F32 = (lo + (hi - lo) * x).astype(np.float32)
        return out

    t = np.arange(n)
    f0 = 80.0 + 220.0 * (0.5 + 0.5 * np.sin(t / 9.0))
    unvoiced = ((t // 11) % 3 == 1) | (t % 17 == 5)
    f0[unvoiced] = np.where(t[unvoiced] % 2 == 0, 0.0, -1.5)
    return Frames(
        lh=smooth(-12.0, 6.5),
        theta=smooth(-6.0, 8.0),
        ln=smooth(-20.0, 0.0),
        lr=smooth(-13.0, 3.5),
        phi=smooth(-9.0, 9.0),
        f0=f0.astype(np.float32),
    )


def speech_like(sample_rate_hz: int, seconds: float, seed: int = 0) -> F32:
    """A speech-like test signal, peak 0.7: a harmonic voice whose f0 glides over 90..230 Hz with
    two formant-ish bumps (700 and 1800 Hz), in 3 syllables a second, and differentiated-noise
    "fricatives" between them; silence-like gaps where both envelopes are zero."""
    rng = np.random.default_rng(seed)
    n = int(sample_rate_hz * seconds)
    t = np.arange(n) / sample_rate_hz
    f0 = 150 + 60 * np.sin(2 * np.pi * 0.7 * t) + 20 * np.sin(2 * np.pi * 2.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate_hz
    voice = np.zeros(n)
    for k in range(1, 40):
        fk = k * f0
        amp = (1 + 2 * np.exp(-(((fk - 700) / 200) ** 2)) + np.exp(-(((fk - 1800) / 300) ** 2))) / k
        voice += np.where(fk < 0.45 * sample_rate_hz, amp * np.sin(k * phase), 0.0)
    syllables = np.clip(1.5 * np.sin(2 * np.pi * 3 * t), 0, 1)
    fricatives = np.clip(-1.5 * np.sin(2 * np.pi * 3 * t) - 0.5, 0, 1)
    noise = np.diff(rng.standard_normal(n + 1))
    x = voice * syllables + 0.5 * noise * fricatives
    out: F32 = (0.7 * x / np.abs(x).max()).astype(np.float32)
    return out
