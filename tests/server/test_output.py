"""A context's output pipeline: resample, encode, frame (chunked == one-shot), timestamp mapping."""

from __future__ import annotations

import numpy as np
import pytest
from parley_engine.types import PhonemeTiming, WordTiming
from parley_kernels import g711, resample
from parley_kernels.pcm import float_to_pcm16
from parley_server.output import Output, OutputFormat, map_words
from parley_server.protocol_v2 import FORMATS_V2, WIDTH

RNG = np.random.default_rng(7)
SIGNAL = (0.6 * RNG.standard_normal(5000)).astype(np.float32)


def run(out: Output, pieces: list[list[np.ndarray]]) -> list[list[bytes]]:
    """Frames of each piece, pushing each piece's audio in the given chunks."""
    state = out.init_state()
    result = []
    for chunks in pieces:
        out.begin_piece(state)
        frames: list[bytes] = []
        for c in chunks:
            frames += out.push(state, c)
        frames += out.end_piece(state)
        result.append(frames)
    return result


def chunked(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, x.size, size)]


COMBOS = [
    (fmt, rates)
    for fmt in FORMATS_V2
    for rates in [(24000, 24000), (24000, 8000), (22050, 48000), (24000, 44100)]
    if fmt.startswith("pcm") or rates[1] == 8000  # G.711 is 8 kHz only
]


@pytest.mark.parametrize(("fmt", "rates"), COMBOS)
@pytest.mark.parametrize("size", [1, 7, 480, 1000, 5000])
def test_chunked_equals_one_shot(fmt: str, rates: tuple[int, int], size: int) -> None:
    out = Output(OutputFormat(rates[0], rates[1], fmt, 20))
    [one] = run(out, [[SIGNAL]])
    [many] = run(out, [chunked(SIGNAL, size)])
    assert b"".join(many) == b"".join(one)
    assert many == one  # same frame boundaries too


@pytest.mark.parametrize(
    ("fmt", "rate"), [("pcm_s16le", 16000), ("pcm_f32le", 48000), ("mulaw", 8000), ("alaw", 8000)]
)
def test_byte_counts_and_frame_sizes(fmt: str, rate: int) -> None:
    out = Output(OutputFormat(24000, rate, fmt, 20))
    pieces = run(out, [[SIGNAL[:3000]], [SIGNAL[:1234], SIGNAL[1234:4000]]])
    frame_bytes = out.format.frame_samples * WIDTH[fmt]
    for frames, n_in in zip(pieces, (3000, 4000), strict=True):
        assert sum(len(f) for f in frames) == resample.output_length(n_in, 24000, rate) * WIDTH[fmt]
        assert all(len(f) == frame_bytes for f in frames[:-1])
        assert 0 < len(frames[-1]) <= frame_bytes  # each piece ends with a (possibly short) frame


def test_encodings_match_the_kernels() -> None:
    x = np.linspace(-1.5, 1.5, 480, dtype=np.float32)
    for fmt, rate, expect in (
        ("pcm_s16le", 24000, float_to_pcm16(x).astype("<i2").tobytes()),
        ("pcm_f32le", 24000, np.clip(x, -1, 1).astype("<f4").tobytes()),
        ("mulaw", 8000, g711.float_to_ulaw(x).tobytes()),
        ("alaw", 8000, g711.float_to_alaw(x).tobytes()),
    ):
        [frames] = run(Output(OutputFormat(rate, rate, fmt, 20)), [[x]])
        assert b"".join(frames) == expect, fmt


def test_resampled_audio_is_the_kernels_one_shot_resampling() -> None:
    out = Output(OutputFormat(24000, 16000, "pcm_f32le", 20))
    [frames] = run(out, [chunked(SIGNAL * 0.5, 333)])
    got = np.frombuffer(b"".join(frames), "<f4")
    np.testing.assert_array_equal(got, resample.resample(SIGNAL * 0.5, 24000, 16000))


def test_pieces_are_contiguous_and_map_words_onto_context_samples() -> None:
    out = Output(OutputFormat(24000, 8000, "pcm_s16le", 20))
    state = out.init_state()
    out.begin_piece(state)
    out.push(state, SIGNAL[:2400])
    out.end_piece(state)
    assert state.samples_out == 800
    out.begin_piece(state)
    assert state.piece_start == 800
    words = [
        WordTiming("hi", 0, 2, 300, 1200, (PhonemeTiming("h", 300, 600),)),
        WordTiming("?", -1, -1, 0, 3),
    ]
    [w, unknown] = map_words(words, out, state, char_offset=40, lead_in_samples=2400)
    # lead-in 2400 + 300 input samples at 24 kHz = 900 at 8 kHz, after the first piece's 800.
    assert (w.char_start, w.char_end, w.start_sample, w.end_sample) == (40, 42, 800 + 900, 800 + 1200)
    assert w.phonemes[0].start_sample == 1700 and w.phonemes[0].end_sample == 1800
    assert (unknown.char_start, unknown.char_end) == (-1, -1)


def test_misuse_is_refused() -> None:
    out = Output(OutputFormat(24000, 24000, "pcm_s16le", 20))
    state = out.init_state()
    with pytest.raises(ValueError):
        out.push(state, SIGNAL)
    with pytest.raises(ValueError):
        out.end_piece(state)
    out.begin_piece(state)
    with pytest.raises(ValueError):
        out.begin_piece(state)
    with pytest.raises(ValueError):
        OutputFormat(24000, 11025, "pcm_s16le", 20)
    with pytest.raises(ValueError):
        OutputFormat(24000, 24000, "mp3", 20)
