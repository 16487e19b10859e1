"""WSOLA time-scale modification: one test class, run against every implementation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from kernel_inputs import IMPLS, speech_like
from parley_kernels import tsm
from parley_kernels.tsm import Impl

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

SPEEDS = [0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 4.0]
RATES = [16000, 22050, 24000, 48000]


def tone(freq_hz: float, rate_hz: int, seconds: float, amplitude: float = 0.5) -> F32:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    out: F32 = (amplitude * np.sin(2 * np.pi * freq_hz * t + 0.4)).astype(np.float32)
    return out


def peak_hz(y: F32, rate_hz: int) -> float:
    """Frequency of the spectral peak (Hann window, zero-padded FFT, parabolic interpolation)."""
    n_fft = 1 << 21
    mag = np.abs(np.fft.rfft(y * np.hanning(y.size), n_fft))
    i = int(np.argmax(mag))
    a, b, c = np.log(mag[i - 1 : i + 2] + 1e-30)
    return float((i + 0.5 * (a - c) / (a - 2 * b + c)) * rate_hz / n_fft)


def max_jump(x: F32) -> float:
    """Largest sample-to-sample step, counting the steps from and to silence at the ends."""
    return float(np.max(np.abs(np.diff(np.concatenate(([0.0], x, [0.0]))))))


def hann_burst(freq_hz: float, rate_hz: int, start_s: float, end_s: float, seconds: float = 1.0) -> F32:
    """A tone whose amplitude follows a Hann window from start_s to end_s, silence around it."""
    x = tone(freq_hz, rate_hz, seconds)
    a, b = int(start_s * rate_hz), int(end_s * rate_hz)
    env = np.zeros(x.size)
    env[a:b] = np.hanning(b - a)
    out: F32 = (x * env).astype(np.float32)
    return out


def centroid_ms(y: F32, rate_hz: int) -> float:
    """Energy centroid (ms from the start)."""
    e = y.astype(np.float64) ** 2
    return float(np.sum(e * np.arange(y.size)) / np.sum(e) * 1000 / rate_hz)


def run_chunked(x: F32, rate_hz: int, speed: float, chunk: int, impl: Impl) -> tuple[F32, list[int]]:
    state = tsm.init_state(rate_hz, speed, impl=impl)
    parts = [tsm.push(state, x[i : i + chunk]) for i in range(0, x.size, chunk)] if chunk else []
    if not chunk:
        parts.append(tsm.push(state, x))
    sizes = [p.size for p in parts]
    parts.append(tsm.flush(state))
    return np.concatenate(parts), sizes


@pytest.mark.parametrize("impl", IMPLS)
class TestTsm:
    @pytest.mark.parametrize("rate", RATES)
    @pytest.mark.parametrize("speed", SPEEDS)
    def test_output_length(self, impl: Impl, rate: int, speed: float) -> None:
        x = speech_like(rate, 0.9, seed=rate)
        y = tsm.time_stretch(x, rate, speed, impl=impl)
        state = tsm.init_state(rate, speed)
        assert y.dtype == np.float32 and np.all(np.isfinite(y))
        assert y.size == tsm.output_length(x.size, speed) == int(np.floor(x.size / speed + 0.5))
        assert abs(y.size - x.size / speed) <= state.frame  # the brief's bound, met with room

    @pytest.mark.parametrize("freq", [110.0, 237.3, 1000.0, 3100.0])
    @pytest.mark.parametrize("speed", [0.5, 1.5, 2.0, 3.0, 4.0])
    def test_a_tone_keeps_its_frequency_and_level(self, impl: Impl, freq: float, speed: float) -> None:
        rate = 24000
        y = tsm.time_stretch(tone(freq, rate, 2.0), rate, speed, impl=impl)
        assert abs(peak_hz(y, rate) / freq - 1) <= 0.01
        # and stays one continuous sine: the amplitude dips by no more than 3 % where frames join
        frame = tsm.init_state(rate, speed).frame
        mid = y[frame : y.size - 2 * frame].astype(np.float64)
        rms = float(np.sqrt(np.mean(mid**2)))
        assert abs(rms / (0.5 / np.sqrt(2)) - 1) <= 0.01
        hop = frame // 2
        local = [np.sqrt(np.mean(mid[i : i + hop] ** 2)) for i in range(0, mid.size - hop, hop // 3)]
        if freq >= 200:  # a hop holds several periods: its RMS is the amplitude's
            assert min(local) >= 0.97 * rms and max(local) <= 1.03 * rms

    @pytest.mark.parametrize("freq", [137.0, 440.0])
    @pytest.mark.parametrize("speed", SPEEDS)
    def test_output_stays_time_aligned(self, impl: Impl, freq: float, speed: float) -> None:
        # Input time t comes out at t / speed: the energy centroid of a Hann-shaped tone burst
        # (voiced-like: many near-equal shifts, which the pull towards d = 0 decides) is kept.
        x = hann_burst(freq, 24000, 0.6, 1.2, seconds=2.0)
        y = tsm.time_stretch(x, 24000, speed, impl=impl)
        assert abs(centroid_ms(y, 24000) - centroid_ms(x, 24000) / speed) <= 1.0

    @pytest.mark.parametrize("rate", [16000, 24000, 48000])
    @pytest.mark.parametrize("speed", SPEEDS)
    def test_no_clicks_on_speech_like_input(self, impl: Impl, rate: int, speed: float) -> None:
        x = speech_like(rate, 2.0)
        y = tsm.time_stretch(x, rate, speed, impl=impl)
        assert max_jump(y) <= 1.1 * max_jump(x)
        # energy kept within 0.5 dB: misaligned cross-fades would cancel partly
        ratio_db = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean(x.astype(np.float64) ** 2))
        assert abs(ratio_db) <= 0.5

    @pytest.mark.parametrize("speed", [0.5, 2.0, 3.0])
    def test_real_speech(self, impl: Impl, model_speech: F32, speed: float) -> None:
        y = tsm.time_stretch(model_speech, 24000, speed, impl=impl)
        assert y.size == tsm.output_length(model_speech.size, speed)
        assert max_jump(y) <= 1.1 * max_jump(model_speech)
        ratio_db = 10 * np.log10(
            np.mean(y.astype(np.float64) ** 2) / np.mean(model_speech.astype(np.float64) ** 2)
        )
        assert abs(ratio_db) <= 1.0

    def test_speed_one_returns_the_input(self, impl: Impl) -> None:
        x = speech_like(24000, 1.0)
        y = tsm.time_stretch(x, 24000, 1.0, impl=impl)
        assert float(np.max(np.abs(y - x))) <= 1e-6  # the windows sum to 1 up to float32 rounding

    def test_silence_stays_silent(self, impl: Impl) -> None:
        y = tsm.time_stretch(np.zeros(10000, np.float32), 16000, 2.5, impl=impl)
        assert y.size == 4000 and not y.any()

    @pytest.mark.parametrize("chunk", [1, 7, 160, 4097, 0])
    @pytest.mark.parametrize("speed", [0.5, 1.3, 2.0, 3.0, 4.0])
    def test_chunked_equals_one_shot(self, impl: Impl, speed: float, chunk: int) -> None:
        # chunk 0: everything in one push. No chunk size divides the input or the hop (300).
        rate = 24000
        x = speech_like(rate, 0.3 if chunk == 1 else 1.5, seed=chunk)
        one_shot = tsm.time_stretch(x, rate, speed, impl=impl)
        got, sizes = run_chunked(x, rate, speed, chunk, impl)
        assert got.shape == one_shot.shape
        assert float(np.max(np.abs(got - one_shot))) <= 1e-6
        np.testing.assert_array_equal(got, one_shot)  # stronger, and documented
        assert all(s % 300 == 0 for s in sizes)  # push returns whole hops

    def test_irregular_chunks_including_empty_ones(self, impl: Impl) -> None:
        rng = np.random.default_rng(2)
        x = speech_like(22050, 2.0, seed=3)
        for speed in (0.7, 2.0, 3.5):
            state = tsm.init_state(22050, speed, impl=impl)
            parts, pos = [], 0
            while pos < x.size:
                size = int(rng.choice([0, 1, 2, 100, 551, 552, 3000]))
                parts.append(tsm.push(state, x[pos : pos + size]))
                pos += size
            parts.append(tsm.flush(state))
            np.testing.assert_array_equal(np.concatenate(parts), tsm.time_stretch(x, 22050, speed, impl=impl))

    @pytest.mark.parametrize("speed", [0.5, 2.0, 4.0])
    def test_push_holds_back_at_most_the_latency(self, impl: Impl, speed: float) -> None:
        state = tsm.init_state(24000, speed, impl=impl)
        x = speech_like(24000, 1.0)
        total = 0
        for i in range(0, x.size, 50):
            total += tsm.push(state, x[i : i + 50]).size
            held_back = state.samples_in - total * speed  # input time not yet out
            assert held_back <= state.latency_in_samples
        assert state.samples_out == total

    @pytest.mark.parametrize("n", [0, 1, 2, 299, 300, 301, 1000])
    def test_short_streams(self, impl: Impl, n: int) -> None:
        x = np.random.default_rng(n).uniform(-1, 1, n).astype(np.float32)
        for speed in (0.5, 1.0, 4.0):
            y = tsm.time_stretch(x, 24000, speed, impl=impl)
            assert y.shape == (tsm.output_length(n, speed),) and np.all(np.isfinite(y))

    def test_state_refuses_use_after_flush(self, impl: Impl) -> None:
        state = tsm.init_state(16000, 2.0, impl=impl)
        tsm.push(state, np.ones(1000, np.float32))
        tsm.flush(state)
        assert state.samples_out == 500 and state.flushed
        with pytest.raises(RuntimeError, match="flushed"):
            tsm.push(state, np.ones(1, np.float32))
        with pytest.raises(RuntimeError, match="flushed"):
            tsm.flush(state)


@pytest.mark.parametrize("rate", RATES)
def test_numba_matches_numpy(rate: int) -> None:
    signals = [
        speech_like(rate, 1.5, seed=4),
        tone(200.0, rate, 1.0) + tone(313.0, rate, 1.0, 0.2),  # periodic: near-tied shifts
        np.random.default_rng(rate).uniform(-1, 1, rate).astype(np.float32),
    ]
    for x in signals:
        for speed in SPEEDS:
            a = tsm.time_stretch(x, rate, speed)
            b = tsm.time_stretch(x, rate, speed, impl="numpy")
            assert float(np.max(np.abs(a - b))) <= 1e-4


def test_configuration_follows_the_sample_rate() -> None:
    for rate, frame, tol in [(16000, 400, 128), (22050, 552, 176), (24000, 600, 192), (48000, 1200, 384)]:
        state = tsm.init_state(rate, 2.0)
        assert (state.frame, state.hop, state.tolerance) == (frame, frame // 2, tol)
        assert state.window.shape == (frame,) and not state.window.flags.writeable
        ola = state.window[: frame // 2] + state.window[frame // 2 :]
        assert float(np.max(np.abs(ola - 1))) <= 1e-7  # Hann at 50 % overlap sums to one
    assert tsm.init_state(24000, 2.0).latency_in_samples == 192 + 900


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((24000, 0.49), r"speed must be in \[0.5, 4.0\], got 0.49"),
        ((24000, 4.01), r"speed must be in \[0.5, 4.0\]"),
        ((24000, float("nan")), r"speed must be in \[0.5, 4.0\], got nan"),
        ((24000, "2"), "speed must be a number"),
        ((24000, True), "speed must be a number"),
        ((7999, 2.0), r"sample_rate_hz must be in 8000..48000, got 7999"),
        ((96000, 2.0), "sample_rate_hz must be in 8000..48000"),
        ((24000.0, 2.0), "sample_rate_hz must be an integer"),
    ],
)
def test_bad_arguments_raise_value_error(args: tuple[object, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tsm.init_state(*args)  # type: ignore[arg-type]


def test_bad_impl_and_samples_raise_value_error() -> None:
    with pytest.raises(ValueError, match="impl must be one of"):
        tsm.init_state(24000, 2.0, impl="c")  # type: ignore[arg-type]
    state = tsm.init_state(24000, 2.0)
    with pytest.raises(ValueError, match="x must be a float numpy array .* got int16"):
        tsm.push(state, np.zeros(4, np.int16))
    with pytest.raises(ValueError, match=r"x must be 1-D \(samples\), got shape \(1, 4\)"):
        tsm.push(state, np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="state must be a TsmState"):
        tsm.flush(object())  # type: ignore[arg-type]


# -- mapped (non-uniform) time-scaling --------------------------------------------------------------
def stepped_map(n: int, speeds: list[float], piece: int) -> tuple[F64, F64]:
    """Pieces of ``piece`` input samples covering n, cycling through ``speeds``."""
    ins = np.full(-(-n // piece), float(piece))
    ins[-1] = n - piece * (ins.size - 1)
    outs = ins / np.resize(np.asarray(speeds, np.float64), ins.size)
    return ins, outs


def run_mapped(
    x: F32, rate: int, ins: F64, outs: F64, chunk: int, map_chunk: int, impl: Impl, nominal: float = 2.0
) -> F32:
    """Map pieces given ``map_chunk`` at a time, always ahead of the input they cover; input pushed
    ``chunk`` samples at a time (0: all at once)."""
    state = tsm.init_state(rate, nominal, impl=impl, mapped=True)
    given, parts, pos = 0, [], 0
    covered = np.concatenate(([0.0], np.cumsum(ins)))
    step = chunk or x.size
    while pos < x.size:
        while given < ins.size and covered[given] < pos + step:
            tsm.extend_map(state, ins[given : given + map_chunk], outs[given : given + map_chunk])
            given = min(ins.size, given + map_chunk)
        parts.append(tsm.push(state, x[pos : pos + step]))
        pos += step
    tsm.extend_map(state, ins[given:], outs[given:])
    parts.append(tsm.flush(state))
    return np.concatenate(parts)


@pytest.mark.parametrize("impl", IMPLS)
class TestMappedTsm:
    @pytest.mark.parametrize("speed", [0.5, 2.0, 4.0])
    def test_one_piece_map_equals_the_constant_speed(self, impl: Impl, speed: float) -> None:
        x = speech_like(24000, 1.2, seed=5)
        ins = np.asarray([float(x.size)])
        got = run_mapped(x, 24000, ins, ins / speed, 0, 1, impl)
        np.testing.assert_array_equal(got, tsm.time_stretch(x, 24000, speed, impl=impl))

    @pytest.mark.parametrize("chunk", [1, 7, 300, 4097, 0])
    @pytest.mark.parametrize("map_chunk", [1, 5, 1000])
    def test_chunked_equals_one_shot(self, impl: Impl, chunk: int, map_chunk: int) -> None:
        x = speech_like(24000, 0.3 if chunk == 1 else 1.5, seed=chunk)
        ins, outs = stepped_map(x.size, [1.3, 6.0, 2.0, 0.8, 3.1], 290)
        one_shot = run_mapped(x, 24000, ins, outs, 0, ins.size, impl)
        np.testing.assert_array_equal(run_mapped(x, 24000, ins, outs, chunk, map_chunk, impl), one_shot)

    def test_length_and_positions_follow_the_map(self, impl: Impl) -> None:
        rate = 24000
        x = hann_burst(440.0, rate, 1.3, 1.5, seconds=2.0)  # a burst in the second half
        ins = np.asarray([rate * 1.0, rate * 1.0])  # first second at 4x, second at 1.25x
        outs = np.asarray([rate / 4.0, rate / 1.25])
        y = run_mapped(x, rate, ins, outs, 1000, 1, impl)
        assert y.size == int(np.floor(outs.sum() + 0.5))
        state = tsm.init_state(rate, 2.0, mapped=True)
        tsm.extend_map(state, ins, outs)
        expect_ms = tsm.output_position(state, centroid_ms(x, rate) * rate / 1000) * 1000 / rate
        assert abs(centroid_ms(y, rate) - expect_ms) <= 1.0
        assert tsm.output_position(state, rate * 0.5) == pytest.approx(rate * 0.5 / 4)
        assert tsm.output_position(state, rate * 3.0) == pytest.approx(outs.sum() + rate / 2.0)  # beyond: 2x

    def test_frames_wait_for_the_map(self, impl: Impl) -> None:
        x = speech_like(16000, 1.0)
        state = tsm.init_state(16000, 3.0, impl=impl, mapped=True)
        assert tsm.push(state, x).size == 0  # no map yet: nothing can be placed
        tsm.extend_map(state, [float(x.size)], [x.size / 3.0])
        out = tsm.push(state, np.zeros(0, np.float32))
        assert out.size > 0 and out.size % state.hop == 0

    def test_no_clicks_and_level_kept_on_a_jumpy_map(self, impl: Impl) -> None:
        x = speech_like(24000, 2.0, seed=7)
        ins, outs = stepped_map(x.size, [1.0, 12.0, 1.5, 0.7, 4.0], 300)
        y = run_mapped(x, 24000, ins, outs, 512, 3, impl)
        assert max_jump(y) <= 1.1 * max_jump(x)
        assert y.size == int(np.floor(outs.sum() + 0.5)) and np.all(np.isfinite(y))


def test_mapped_numba_matches_numpy() -> None:
    x = speech_like(22050, 1.5, seed=9)
    ins, outs = stepped_map(x.size, [1.1, 5.0, 2.5, 0.9], 276)
    a = run_mapped(x, 22050, ins, outs, 1000, 7, "numba")
    b = run_mapped(x, 22050, ins, outs, 1000, 7, "numpy")
    assert float(np.max(np.abs(a - b))) <= 1e-4


def test_extend_map_refuses_bad_pieces() -> None:
    with pytest.raises(ValueError, match="mapped=True"):
        tsm.extend_map(tsm.init_state(24000, 2.0), [100.0], [50.0])
    state = tsm.init_state(24000, 2.0, mapped=True)
    with pytest.raises(ValueError, match="differ in length"):
        tsm.extend_map(state, [100.0, 1.0], [50.0])
    with pytest.raises(ValueError, match="> 0"):
        tsm.extend_map(state, [100.0], [0.0])
    with pytest.raises(ValueError, match="> 0"):
        tsm.extend_map(state, [float("nan")], [1.0])
    tsm.extend_map(state, [], [])  # nothing to add
    assert state.map_in.tolist() == [0.0] and tsm.output_position(state, 10.0) == 5.0
