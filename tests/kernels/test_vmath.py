"""Accuracy of the vectorisable float32 elementary functions against float64 NumPy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from numba import njit
from parley_kernels._vmath import exp_f32, log_f32, sincos_f32, tanh_f32

F32 = npt.NDArray[np.float32]


@njit(error_model="numpy")
def _apply(x, which, o1, o2):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        if which == 0:
            o1[i] = exp_f32(x[i])
        elif which == 1:
            o1[i] = log_f32(x[i])
        elif which == 2:
            o1[i], o2[i] = sincos_f32(x[i])
        else:
            o1[i] = tanh_f32(x[i])


def apply(x: F32, which: int) -> tuple[F32, F32]:
    o1, o2 = np.empty_like(x), np.empty_like(x)
    _apply(x, which, o1, o2)
    return o1, o2


def ulps(got: F32, want: npt.NDArray[np.float64]) -> float:
    return float(np.max(np.abs(got - want) / np.spacing(np.abs(want).astype(np.float32))))


RNG = np.random.default_rng(0)


def test_exp_within_2_ulp() -> None:
    x = np.concatenate([np.linspace(-87.0, 88.0, 200_001), RNG.uniform(-30, 7, 100_000)]).astype(np.float32)
    got, _ = apply(x, 0)
    assert ulps(got, np.exp(x.astype(np.float64))) <= 2.0


def test_exp_saturates_instead_of_overflowing() -> None:
    got, _ = apply(np.array([-1000.0, -90.0, 100.0], np.float32), 0)
    assert got[0] == got[1] and 0.0 < got[0] < 1.3e-38
    assert np.isfinite(got[2])


def test_log_within_2_ulp() -> None:
    x = np.concatenate([np.geomspace(1.2e-38, 3e38, 100_001), RNG.uniform(2.0**-24, 1.0, 100_000)])
    x = x.astype(np.float32)
    got, _ = apply(x, 1)
    want = np.log(x.astype(np.float64))
    assert float(np.max(np.abs(got - want))) <= 2 * float(np.spacing(np.float32(88.0)))
    far = np.abs(want) > 0.5
    assert ulps(got[far], want[far]) <= 2.0


@pytest.mark.parametrize(("bound", "tol"), [(np.pi, 1.5e-7), (20.0, 1.5e-7), (8000.0, 1.5e-7), (1e5, 2e-6)])
def test_sincos_absolute_error(bound: float, tol: float) -> None:
    x = RNG.uniform(-bound, bound, 200_000).astype(np.float32)
    x[:4] = np.array([0.0, -0.0, np.pi / 2, -np.pi], np.float32)
    s, c = apply(x, 2)
    xd = x.astype(np.float64)
    assert float(np.max(np.abs(s - np.sin(xd)))) <= tol
    assert float(np.max(np.abs(c - np.cos(xd)))) <= tol


def test_tanh_absolute_error_and_symmetry() -> None:
    special = [0.0, 1e-30, -1e-30, 9.0, -9.0, 50.0]
    x = np.concatenate([np.linspace(-12, 12, 200_001), special]).astype(np.float32)
    got, _ = apply(x, 3)
    assert float(np.max(np.abs(got - np.tanh(x.astype(np.float64))))) <= 2e-7
    np.testing.assert_array_equal(apply(-x, 3)[0], -got)
    assert np.all(np.abs(got) <= 1.0)
