"""float32 -> int16 PCM: one test class, run against both implementations."""

from __future__ import annotations

import numpy as np
import pytest
from kernel_inputs import IMPLS
from parley_kernels.pcm import PcmImpl, float_to_pcm16

Q = 1.0 / 32767.0  # one PCM step


@pytest.mark.parametrize("impl", IMPLS)
class TestFloatToPcm16:
    def test_clips_to_full_scale(self, impl: PcmImpl) -> None:
        x = np.array([-np.inf, -7.0, -1.0000001, -1.0, 0.0, 1.0, 1.5, 1e30, np.inf], np.float32)
        y = float_to_pcm16(x, impl=impl)
        assert y.tolist() == [-32767, -32767, -32767, -32767, 0, 32767, 32767, 32767, 32767]
        assert y.dtype == np.int16

    def test_rounds_to_nearest_ties_to_even(self, impl: PcmImpl) -> None:
        x = np.array([0.4 * Q, 0.6 * Q, -0.6 * Q, 1000.3 * Q, -1000.7 * Q], np.float32)
        assert float_to_pcm16(x, impl=impl).tolist() == [0, 1, -1, 1000, -1001]
        ties = np.array([0.5, 1.5, 2.5, -0.5, -2.5], np.float32) / np.float32(32767)
        # x * 32767 lands within 1 ulp of the tie; whatever it lands on, |error| <= half a step
        y = float_to_pcm16(ties, impl=impl).astype(np.float64)
        assert np.all(np.abs(y - ties.astype(np.float64) * 32767) <= 0.5 + 1e-3)

    def test_nan_becomes_zero(self, impl: PcmImpl) -> None:
        x = np.array([np.nan, 0.5, -np.nan, np.float32("nan")], np.float32)
        assert float_to_pcm16(x, impl=impl).tolist() == [0, 16384, 0, 0]

    def test_writes_into_out_and_returns_it(self, impl: PcmImpl) -> None:
        x = np.linspace(-1, 1, 11, dtype=np.float32)
        out = np.full(11, 7, np.int16)
        assert float_to_pcm16(x, out, impl=impl) is out
        assert out[0] == -32767 and out[5] == 0 and out[-1] == 32767

    def test_strided_input_and_output(self, impl: PcmImpl) -> None:
        x = np.random.default_rng(0).uniform(-1.2, 1.2, 200).astype(np.float32)
        out = np.zeros(200, np.int16)
        float_to_pcm16(x[::2], out[1::2], impl=impl)
        np.testing.assert_array_equal(out[1::2], float_to_pcm16(np.ascontiguousarray(x[::2]), impl=impl))
        assert not out[::2].any()

    def test_empty(self, impl: PcmImpl) -> None:
        assert float_to_pcm16(np.zeros(0, np.float32), impl=impl).shape == (0,)

    @pytest.mark.parametrize(
        ("x", "out", "match"),
        [
            (np.zeros(4, np.float64), None, "x must be a float32 numpy array, got float64"),
            ([0.0, 1.0], None, "x must be a float32 numpy array, got list"),
            (np.zeros((2, 4), np.float32), None, r"x must be 1-D \(samples\), got shape \(2, 4\)"),
            (np.zeros(4, np.float32), np.zeros(4, np.int32), "out must be an int16 numpy array, got int32"),
            (np.zeros(4, np.float32), np.zeros(5, np.int16), r"out has shape \(5,\) but x has shape \(4,\)"),
        ],
    )
    def test_bad_arguments_raise_value_error(self, impl: PcmImpl, x: object, out: object, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            float_to_pcm16(x, out, impl=impl)  # type: ignore[arg-type]

    def test_read_only_out_raises(self, impl: PcmImpl) -> None:
        out = np.zeros(3, np.int16)
        out.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            float_to_pcm16(np.zeros(3, np.float32), out, impl=impl)


def test_numba_matches_numpy_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.uniform(-1.5, 1.5, 100_000),
            (np.arange(-40, 40) + 0.5) / 32767,  # near ties
            [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-45],
        ]
    ).astype(np.float32)
    np.testing.assert_array_equal(float_to_pcm16(x), float_to_pcm16(x, impl="numpy"))


def test_unknown_impl_raises() -> None:
    with pytest.raises(ValueError, match="impl must be 'numba' or 'numpy'"):
        float_to_pcm16(np.zeros(2, np.float32), impl="c")  # type: ignore[arg-type]
