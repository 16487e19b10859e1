"""Fixtures for the kernel tests: synthetic model outputs and real ones from hibari's model."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from kernel_inputs import Frames, synthetic_frames


@pytest.fixture(scope="session")
def frames() -> Frames:
    return synthetic_frames(157)


@pytest.fixture(scope="session")
def model_frames() -> Frames:
    """hibari's ONNX model (voice "heart") run on one sentence: real outputs, F ~ 200."""
    hibari = pytest.importorskip("hibari")
    tts = hibari.Hibari()
    ids = tts.ids(tts.phonemize("She sells sea shells by the sea shore, and then she goes home.")[0])
    out = tts.sess.run(None, {"ids": np.asarray([ids], np.int64), "speed": np.asarray([1.0], np.float32)})
    lh, theta, ln, lr, phi, f0 = (o[0] for o in out)
    return Frames(lh, theta, ln, lr, phi, f0)


@pytest.fixture(scope="session")
def model_speech(model_frames: Frames) -> npt.NDArray[np.float32]:
    """Real speech at 24 kHz: hibari's model outputs (model_frames) through the vocoder, ~2.5 s."""
    from parley_kernels import vocoder

    return vocoder.synthesize(*model_frames.args(), seed=0)
