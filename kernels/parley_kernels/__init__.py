"""Parley's compute kernels: the streaming vocoder for hibari's model outputs, PCM and G.711
encoding, and output-side audio transforms (resampling, time-scale modification - uniform, or
non-uniform on a time map from the rate planner - and pitch shift).

Every kernel has a Numba implementation (default) and a NumPy reference with the same results.
Nothing compiles at import time: call :func:`warmup` once at start-up (it compiles every Numba
kernel for the real shapes; the machine code is cached on disk for later processes).

    from parley_kernels import init_state, push, flush, float_to_pcm16      # the vocoder
    from parley_kernels import resample, tsm, pitch, rateplan               # streaming transforms
    state = resample.init_state(24000, 8000); resample.push(state, x); resample.flush(state)
"""

from __future__ import annotations

from . import g711, pcm, pitch, rateplan, resample, tsm, vocoder
from .g711 import float_to_alaw, float_to_ulaw
from .pcm import float_to_pcm16
from .vocoder import VocoderState, flush, init_state, push, synthesize

__all__ = [
    "VocoderState",
    "float_to_alaw",
    "float_to_pcm16",
    "float_to_ulaw",
    "flush",
    "g711",
    "init_state",
    "pitch",
    "push",
    "rateplan",
    "resample",
    "synthesize",
    "tsm",
    "warmup",
]


def warmup() -> None:
    """Compile all Numba kernels (vocoder, PCM, G.711, resampler, WSOLA, rate planner) on real
    shapes; idempotent, ~seconds cold. (The pitch shifter runs on the resampler's and WSOLA's
    kernels.)"""
    vocoder.warmup()
    pcm.warmup()
    g711.warmup()
    resample.warmup()
    tsm.warmup()
    rateplan.warmup()
