"""Rate planner for non-uniform time-scaling: one test class, run against every implementation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from kernel_inputs import IMPLS, speech_like
from parley_kernels import rateplan, tsm
from parley_kernels.rateplan import Impl

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
RATES = [8000, 16000, 22050, 24000, 48000]


def run_chunked(
    x: F32, rate: int, speed: float | F64, sizes: list[int], impl: Impl
) -> tuple[F64, F64, list[int]]:
    """Push in chunks cycling through ``sizes`` (0 = an empty push), then flush; also returns how
    many pieces each push gave."""
    state = rateplan.init_state(rate, impl=impl)
    ins: list[F64] = []
    outs: list[F64] = []
    counts: list[int] = []
    pos, i = 0, 0
    while pos < x.size:
        n = sizes[i % len(sizes)]
        i += 1
        sp = speed if np.ndim(speed) == 0 else np.asarray(speed)[pos : pos + n]
        a, b = rateplan.push(state, x[pos : pos + n], sp)
        ins.append(a)
        outs.append(b)
        counts.append(a.size)
        pos += n
    a, b = rateplan.flush(state)
    return np.concatenate([*ins, a]), np.concatenate([*outs, b]), counts


def steady_and_gliding(rate: int) -> tuple[F32, npt.NDArray[np.bool_]]:
    """Alternating 100 ms stretches: a steady vowel-like tone, then a tone gliding from 300 Hz to
    3 kHz (a spectrum that keeps changing), so every 200 ms block holds one of each; a planner
    should compress the steady ones harder. Also returns which samples are steady."""
    n = int(0.1 * rate)
    t = np.arange(n) / rate
    steady = 0.3 * (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 660 * t))
    f = 300.0 * 10.0 ** (t / t[-1])  # 300 Hz -> 3 kHz
    glide = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / rate)
    x = np.tile(np.concatenate([steady, glide]), 8).astype(np.float32)
    flags = np.tile(np.concatenate([np.ones(n, bool), np.zeros(n, bool)]), 8)
    return x, flags


@pytest.mark.parametrize("impl", IMPLS)
class TestRatePlan:
    @pytest.mark.parametrize("rate", RATES)
    @pytest.mark.parametrize("speed", [1.1, 2.0, 3.0, 4.0, 9.0])
    def test_pieces_cover_the_input_and_meet_the_speed(self, impl: Impl, rate: int, speed: float) -> None:
        x = speech_like(rate, 1.3, seed=rate)
        ins, outs = rateplan.plan(x, rate, speed, impl=impl)
        hop = round(rateplan.FRAME_MS * rate / 1000)
        assert ins.sum() == x.size and np.all(ins[:-1] == hop) and 0 < ins[-1] <= hop
        assert outs.sum() == pytest.approx(x.size / speed, rel=1e-9)
        assert np.all(outs > 0)

    def test_per_sample_speeds(self, impl: Impl) -> None:
        x = speech_like(24000, 1.0, seed=3)
        speed = np.where(np.arange(x.size) < 9000, 4.0, 1.5)
        ins, outs = rateplan.plan(x, 24000, speed, impl=impl)
        assert outs.sum() == pytest.approx(float(np.sum(1.0 / speed)), rel=1e-9)

    @pytest.mark.parametrize("sizes", [[1], [7, 0, 300], [299, 301], [4097], [100_000]])
    def test_chunked_equals_one_shot(self, impl: Impl, sizes: list[int]) -> None:
        x = speech_like(24000, 0.4 if sizes == [1] else 1.7, seed=len(sizes))
        speed = 1.0 + 3.0 * (np.arange(x.size) / x.size)  # per-sample, gliding 1x -> 4x
        one_ins, one_outs = rateplan.plan(x, 24000, speed, impl=impl)
        ins, outs, _ = run_chunked(x, 24000, speed, sizes, impl)
        np.testing.assert_array_equal(ins, one_ins)
        np.testing.assert_array_equal(outs, one_outs)

    def test_steady_parts_go_faster_than_changing_ones(self, impl: Impl) -> None:
        rate = 24000
        x, steady_samples = steady_and_gliding(rate)
        ins, outs = rateplan.plan(x, rate, 3.0, impl=impl)
        hop = round(0.0125 * rate)
        local = ins / outs
        # frames whose window (and neighbours) stay inside one kind of stretch
        span = [steady_samples[max(0, k * hop - 2 * hop) : (k + 3) * hop] for k in range(ins.size)]
        steady = np.median(local[[s.all() for s in span]])
        gliding = np.median(local[[not s.any() for s in span]])
        assert steady > 1.5 * gliding and gliding < 3.2, (steady, gliding)
        assert float(np.max(local)) <= rateplan.MAX_LOCAL_SPEED * (1 + 1e-9)

    @pytest.mark.parametrize("speed", [1.2, 3.0])
    def test_bounds_hold_within_blocks(self, impl: Impl, speed: float) -> None:
        x = speech_like(24000, 2.0, seed=11)
        ins, outs = rateplan.plan(x, 24000, speed, impl=impl)
        keep = outs[:-20] / ins[:-20]  # the last block may be scaled to meet the total
        r = 1.0 / speed
        assert np.all(keep <= max(r, min(1.0, rateplan.MAX_SHARE * r)) * (1 + 1e-9))
        assert np.all(keep >= min(r, 1.0 / rateplan.MAX_LOCAL_SPEED) * (1 - 1e-9))

    def test_silence_is_planned_evenly(self, impl: Impl) -> None:
        ins, outs = rateplan.plan(np.zeros(24000, np.float32), 24000, 2.5, impl=impl)
        np.testing.assert_allclose(outs / ins, 1 / 2.5, rtol=1e-9)

    def test_latency(self, impl: Impl) -> None:
        rate, hop = 24000, 300
        state = rateplan.init_state(rate, impl=impl)
        first = rateplan.FIRST_BLOCKS[0]
        need = first * hop + hop // 2 + 2 * hop  # the first block's end + the next window's half
        x = speech_like(rate, 1.0)
        a, _ = rateplan.push(state, x[: need - 1], 3.0)
        assert a.size == 0
        a, _ = rateplan.push(state, x[need - 1 : need], 3.0)
        assert a.size == first
        planned = first
        for i in range(need, x.size, 100):
            a, _ = rateplan.push(state, x[i : i + 100], 3.0)
            planned += a.size
            held = min(i + 100, x.size) - planned * hop
            assert held <= (rateplan.BLOCK_FRAMES + 3) * hop

    @pytest.mark.parametrize("n", [0, 1, 299, 300, 301, 2401, 2700])
    def test_short_streams(self, impl: Impl, n: int) -> None:
        x = np.random.default_rng(n).uniform(-0.5, 0.5, n).astype(np.float32)
        ins, outs = rateplan.plan(x, 24000, 3.0, impl=impl)
        assert ins.sum() == n and outs.sum() == pytest.approx(n / 3.0, rel=1e-9, abs=1e-9)

    def test_state_refuses_use_after_flush(self, impl: Impl) -> None:
        state = rateplan.init_state(16000, impl=impl)
        rateplan.flush(state)
        with pytest.raises(RuntimeError, match="flushed"):
            rateplan.push(state, np.zeros(1, np.float32), 2.0)
        with pytest.raises(RuntimeError, match="flushed"):
            rateplan.flush(state)


def test_numba_matches_numpy() -> None:
    for rate in (16000, 22050, 24000):
        x = speech_like(rate, 2.0, seed=rate)
        for speed in (1.3, 3.0, 6.0):
            a_in, a_out = rateplan.plan(x, rate, speed)
            b_in, b_out = rateplan.plan(x, rate, speed, impl="numpy")
            np.testing.assert_array_equal(a_in, b_in)
            np.testing.assert_allclose(a_out, b_out, rtol=1e-9)


@pytest.mark.parametrize("impl", IMPLS)
def test_share_solves_the_clipped_sum_exactly(impl: Impl) -> None:
    rng = np.random.default_rng(1)
    share = rateplan._KERNELS[impl].share
    for _ in range(200):
        n = int(rng.integers(1, 20))
        v = rng.uniform(0.05, 5.0, n)
        lo = rng.uniform(0.0, 0.3, n)
        hi = lo + rng.uniform(0.01, 1.0, n)
        target = float(rng.uniform(lo.sum(), hi.sum()))
        out = np.empty(n)
        share(v, lo, hi, target, out)
        assert out.sum() == pytest.approx(target, rel=1e-12, abs=1e-12)
        assert np.all(out >= lo - 1e-12) and np.all(out <= hi + 1e-12)
        s = out / v  # frames strictly inside their bounds share one scale
        inside = (out > lo + 1e-9) & (out < hi - 1e-9)
        if inside.sum() > 1:
            assert np.ptp(s[inside]) <= 1e-9 * s[inside].max()


def test_plan_drives_a_mapped_wsola_stream_to_the_planned_length() -> None:
    x = speech_like(24000, 1.5, seed=4)
    ins, outs = rateplan.plan(x, 24000, 3.0)
    state = tsm.init_state(24000, 3.0, mapped=True)
    tsm.extend_map(state, ins, outs)
    y = np.concatenate([tsm.push(state, x), tsm.flush(state)])
    assert y.size == int(np.floor(x.size / 3.0 + 0.5))


@pytest.mark.parametrize(
    ("speed", "match"),
    [
        (0.0, r"speed must be in \(0, 64"),
        (-1.0, r"speed must be in \(0, 64"),
        (float("nan"), r"speed must be in \(0, 64"),
        (65.0, r"speed must be in \(0, 64"),
        (np.ones(3), "one value per sample"),
        (True, "speed must be a number"),
    ],
)
def test_bad_speeds_raise_value_error(speed: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rateplan.push(rateplan.init_state(24000), np.zeros(10, np.float32), speed)  # type: ignore[arg-type]


def test_bad_arguments_raise_value_error() -> None:
    with pytest.raises(ValueError, match="sample_rate_hz must be in 8000..48000"):
        rateplan.init_state(96000)
    with pytest.raises(ValueError, match="sample_rate_hz must be an integer"):
        rateplan.init_state(24000.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="impl must be one of"):
        rateplan.init_state(24000, impl="c")  # type: ignore[arg-type]
    state = rateplan.init_state(24000)
    with pytest.raises(ValueError, match="x must be a float numpy array"):
        rateplan.push(state, np.zeros(4, np.int16), 2.0)
    with pytest.raises(ValueError, match="x must be 1-D"):
        rateplan.push(state, np.zeros((1, 4), np.float32), 2.0)
    with pytest.raises(ValueError, match="state must be a PlanState"):
        rateplan.flush(object())  # type: ignore[arg-type]
