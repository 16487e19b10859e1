"""Piper "joe" with the real model: split graph, chunked latent decoding, plausible audio."""

from __future__ import annotations

import numpy as np
import pytest

from parley_engine import Engine, SpeakSettings
from parley_engine.voices.piper import PiperVoice

pytestmark = pytest.mark.integration

SENTENCE = "She said the meeting would start at seven, but nobody arrived until half past eight."


@pytest.fixture(scope="module")
def voice() -> PiperVoice:
    v = PiperVoice()
    v.warmup()
    return v


def _decode(v: PiperVoice, frames: object, sizes: list[int]) -> np.ndarray:
    st = v.init_decoder(frames, 0, frames.n_frames, None)  # type: ignore[attr-defined]
    parts, i = [], 0
    while st.remaining_frames:
        parts.append(v.decode(st, sizes[min(i, len(sizes) - 1)]))
        i += 1
    parts.append(v.finish(st))
    return np.concatenate(parts)


@pytest.mark.parametrize("sizes", [[1], [3], [7], [8, 32, 128, 256], [50]])
def test_chunked_latent_decoding_matches_one_shot(voice: PiperVoice, sizes: list[int]) -> None:
    frames = voice.acoustic(voice.phonemize(SENTENCE), 1.0)
    ref = _decode(voice, frames, [frames.n_frames])
    y = _decode(voice, frames, sizes)
    assert y.shape == ref.shape == (frames.n_frames * 256,)
    err = np.sum((y - ref) ** 2)
    snr = np.inf if err == 0 else 10 * np.log10(np.sum(ref**2) / err)
    assert snr >= 60.0, f"chunked vs one-shot SNR {snr:.1f} dB for chunk sizes {sizes}"


def test_token_ids_follow_pipers_layout(voice: PiperVoice) -> None:
    m = voice.config.phoneme_id_map
    ids = voice.token_ids("hə")[0].tolist()
    assert ids == [m["^"], m["_"], m["h"], m["_"], m["ə"], m["_"], m["$"]]
    assert voice.token_ids("h😀ə")[0].tolist() == ids  # unknown symbols skipped, never a crash


def test_engine_streams_joe_at_its_own_rate() -> None:
    e = Engine.load(["joe"])
    e.warmup()
    chunks = list(e.stream(SENTENCE, voice="joe", settings=SpeakSettings(seed=1)))
    assert {c.sample_rate_hz for c in chunks} == {22050}
    y = np.concatenate([c.samples for c in chunks])
    assert np.isfinite(y).all() and np.abs(y).max() < 1.0
    assert 3.0 < len(y) / 22050 < 8.0
    assert np.sqrt(np.mean(y**2)) > 0.01
    assert len(chunks[0].samples) < 22050 * 0.2  # the first chunk is small
    # durations exposed for timestamps: one entry per id, and they add up to the frames
    v = e.voice("joe")
    fr = v.acoustic(v.phonemize(SENTENCE), 1.0)
    assert fr.token_frames is not None
    assert int(fr.token_frames.sum()) == fr.n_frames
