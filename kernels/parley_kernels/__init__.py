"""Parley's compute kernels: the streaming vocoder for hibari's model outputs, and PCM conversion.

Every kernel has a Numba implementation (default) and a NumPy reference with the same results.
Nothing compiles at import time: call :func:`warmup` once at start-up (it compiles every Numba
kernel for the real shapes; the machine code is cached on disk for later processes).

    from parley_kernels import init_state, push, flush, float_to_pcm16
"""

from __future__ import annotations

from . import pcm, vocoder
from .pcm import float_to_pcm16
from .vocoder import VocoderState, flush, init_state, push, synthesize

__all__ = [
    "VocoderState",
    "float_to_pcm16",
    "flush",
    "init_state",
    "push",
    "synthesize",
    "warmup",
]


def warmup() -> None:
    """Compile all Numba kernels (vocoder and PCM) on real shapes; idempotent, ~seconds cold."""
    vocoder.warmup()
    pcm.warmup()
