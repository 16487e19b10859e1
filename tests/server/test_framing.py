"""Framer: exact frames, chunked equals one-shot, both formats."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from parley_server.framing import Framer, encode_pcm
from parley_server.protocol import frame_samples


def audio(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, n).astype(np.float32)


def run(framer: Framer, x: npt.NDArray[np.float32], chunk: int) -> list[bytes]:
    state = framer.init_state()
    frames: list[bytes] = []
    for i in range(0, len(x), chunk):
        frames += framer.push(x[i : i + chunk], state)
    tail = framer.flush(state)
    if tail is not None:
        frames.append(tail)
    assert state.samples_in == state.samples_out == len(x)
    return frames


@pytest.mark.parametrize("fmt", ["pcm_s16le", "pcm_f32le"])
@pytest.mark.parametrize("chunk", [1, 7, 239, 480, 481, 1000, 4801, 10_000])
@pytest.mark.parametrize("n", [0, 1, 479, 480, 9_601])
def test_chunked_equals_one_shot(fmt: str, chunk: int, n: int) -> None:
    framer = Framer(24000, 20, fmt)
    x = audio(n)
    one_shot = run(framer, x, max(1, n))
    chunked = run(framer, x, chunk)
    assert chunked == one_shot
    assert b"".join(chunked) == encode_pcm(x, fmt)
    width = 2 if fmt == "pcm_s16le" else 4
    # Every frame is exactly frame_ms except the last, which may be shorter.
    sizes = [len(f) // width for f in chunked]
    assert all(s == 480 for s in sizes[:-1])
    if sizes:
        assert 0 < sizes[-1] <= 480


def test_frame_sizes() -> None:
    assert frame_samples(24000, 20) == 480
    assert frame_samples(24000, 10) == 240
    assert frame_samples(22050, 20) == 441
    assert frame_samples(22050, 10) == 220  # floor
    assert Framer(24000, 20, "pcm_f32le").frame_bytes == 1920
    with pytest.raises(ValueError):
        Framer(24000, 20, "mp3")
    with pytest.raises(ValueError):
        frame_samples(50, 10)


def test_pcm16_conversion() -> None:
    x = np.array([0.0, 1.0, -1.0, 0.5, 2.0, -3.0, 1e-6], dtype=np.float32)
    pcm = np.frombuffer(encode_pcm(x, "pcm_s16le"), "<i2")
    assert pcm[0] == 0
    assert pcm[1] == 32767 and pcm[4] == 32767  # clipped
    assert pcm[2] <= -32767 and pcm[5] <= -32767
    assert abs(int(pcm[3]) - 16384) <= 1
    assert pcm[6] == 0


def test_f32_is_exact() -> None:
    x = audio(100)
    np.testing.assert_array_equal(np.frombuffer(encode_pcm(x, "pcm_f32le"), "<f4"), x)


def test_push_after_flush_is_refused() -> None:
    framer = Framer(24000, 20, "pcm_s16le")
    state = framer.init_state()
    framer.flush(state)
    with pytest.raises(ValueError):
        framer.push(audio(10), state)


def test_states_are_independent() -> None:
    framer = Framer(24000, 20, "pcm_s16le")
    a, b = framer.init_state(), framer.init_state()
    assert framer.push(audio(300, 1), a) == []
    assert framer.push(audio(300, 2), b) == []
    fa = framer.push(audio(300, 3), a)
    assert len(fa) == 1
    assert fa[0] == encode_pcm(np.concatenate([audio(300, 1), audio(300, 3)])[:480], "pcm_s16le")
