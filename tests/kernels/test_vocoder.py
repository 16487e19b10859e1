"""The streaming vocoder: one test class, run against every implementation (Numba and NumPy)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from kernel_inputs import IMPLS, Frames, synthetic_frames
from parley_kernels import vocoder
from parley_kernels.vocoder import HOP, N_BINS, Impl

F32 = npt.NDArray[np.float32]


def run_chunked(fr: Frames, chunk: int, impl: Impl, seed: int = 7) -> tuple[F32, list[int]]:
    """Push ``fr`` in chunks of ``chunk`` frames (strided slices), flush; output and push sizes."""
    state = vocoder.init_state(seed, impl=impl)
    parts, sizes = [], []
    for lo in range(0, fr.n, chunk):
        y = vocoder.push(state, *fr.cols(lo, lo + chunk))
        parts.append(y)
        sizes.append(y.size)
    parts.append(vocoder.flush(state))
    return np.concatenate(parts), sizes


def quiet_noise(fr: Frames) -> Frames:
    """The noise branch silenced (exp(-30) ~ 1e-13): output no longer depends on the noise draw."""
    return fr.replace(ln=np.full_like(fr.ln, -30.0))


@pytest.mark.parametrize("impl", IMPLS)
class TestVocoder:
    @pytest.mark.parametrize("n_frames", [1, 2, 3, 4, 5, 6, 9, 33])
    def test_output_length_is_frames_times_hop(self, impl: Impl, n_frames: int) -> None:
        fr = synthetic_frames(n_frames, seed=n_frames)
        y = vocoder.synthesize(*fr.args(), seed=0, impl=impl)
        assert y.dtype == np.float32
        assert y.shape == (n_frames * HOP,)
        assert np.all(np.isfinite(y))

    @pytest.mark.parametrize("chunk", [1, 3, 7, 50, 157])
    def test_chunked_equals_one_shot(self, impl: Impl, frames: Frames, chunk: int) -> None:
        # 157 frames: no chunk size here divides it; voicing flips inside and across chunks.
        one_shot = vocoder.synthesize(*frames.args(), seed=7, impl=impl)
        chunked, _ = run_chunked(frames, chunk, impl)
        assert chunked.shape == one_shot.shape == (frames.n * HOP,)
        assert np.max(np.abs(chunked - one_shot)) <= 1e-4
        # Stronger, and documented: every operation is per sample and in the same order.
        np.testing.assert_array_equal(chunked, one_shot)

    def test_chunked_equals_one_shot_at_stream_edges(self, impl: Impl) -> None:
        # Short streams: the start and end reflections overlap, and tiny first/last pushes.
        for n in (2, 3, 4, 5, 8):
            fr = synthetic_frames(n, seed=n)
            one_shot = vocoder.synthesize(*fr.args(), seed=1, impl=impl)
            for chunk in (1, 2, 3):
                np.testing.assert_array_equal(run_chunked(fr, chunk, impl, seed=1)[0], one_shot)

    def test_chunked_across_voicing_changes(self, impl: Impl) -> None:
        # Voiced/unvoiced boundaries placed exactly on, before and after chunk boundaries.
        fr = synthetic_frames(60, seed=3)
        f0 = np.full(60, 150.0, np.float32)
        f0[[6, 7, 13, 20, 21, 22, 27, 28]] = 0.0
        f0[35:49] = -1.0
        fr = fr.replace(f0=f0)
        one_shot = vocoder.synthesize(*fr.args(), seed=2, impl=impl)
        for chunk in (1, 3, 7, 50):
            chunked, _ = run_chunked(fr, chunk, impl, seed=2)
            assert np.max(np.abs(chunked - one_shot)) <= 1e-4

    def test_push_returns_samples_with_four_frames_latency(self, impl: Impl, frames: Frames) -> None:
        _, sizes = run_chunked(frames, 1, impl)
        total = np.cumsum(sizes)
        expected = [max(0, m - vocoder.LATENCY_FRAMES) * HOP for m in range(1, frames.n + 1)]
        assert total.tolist() == expected

    def test_state_counters_after_flush(self, impl: Impl, frames: Frames) -> None:
        state = vocoder.init_state(0, impl=impl)
        vocoder.push(state, *frames.cols(0, 40))
        assert (state.frames_in, state.pulse_frames, state.stft_frames) == (40, 39, 38)
        assert state.samples_out == 36 * HOP
        vocoder.flush(state)
        assert state.samples_out == 40 * HOP
        assert state.stft_frames == state.pulse_frames == 40

    def test_same_seed_same_output_other_seed_differs(self, impl: Impl, frames: Frames) -> None:
        a = vocoder.synthesize(*frames.args(), seed=11, impl=impl)
        b = vocoder.synthesize(*frames.args(), seed=11, impl=impl)
        c = vocoder.synthesize(*frames.args(), seed=12, impl=impl)
        np.testing.assert_array_equal(a, b)
        assert np.max(np.abs(a - c)) > 1e-3

    def test_streams_are_independent(self, impl: Impl, frames: Frames) -> None:
        # Two interleaved streams share nothing: each equals its own one-shot output.
        other = synthetic_frames(90, seed=5)
        s1, s2 = vocoder.init_state(1, impl=impl), vocoder.init_state(2, impl=impl)
        out1, out2 = [], []
        for lo in range(0, 157, 10):
            out1.append(vocoder.push(s1, *frames.cols(lo, lo + 10)))
            if lo < other.n:
                out2.append(vocoder.push(s2, *other.cols(lo, lo + 10)))
        out1.append(vocoder.flush(s1))
        out2.append(vocoder.flush(s2))
        np.testing.assert_array_equal(np.concatenate(out1), vocoder.synthesize(*frames.args(), 1, impl=impl))
        np.testing.assert_array_equal(np.concatenate(out2), vocoder.synthesize(*other.args(), 2, impl=impl))

    def test_strided_and_float64_inputs(self, impl: Impl, frames: Frames) -> None:
        ref = vocoder.synthesize(*frames.args(), seed=3, impl=impl)
        padded = [np.zeros((N_BINS, 2 * frames.n), np.float32) for _ in range(5)]
        for p, x in zip(padded, frames.spectra(), strict=True):
            p[:, ::2] = x
        a, b, c, d, e = (p[:, ::2] for p in padded)
        strided = vocoder.synthesize(a, b, c, d, e, frames.f0, seed=3, impl=impl)
        np.testing.assert_array_equal(strided, ref)
        g = [x.astype(np.float64) for x in frames.args()]
        f64 = vocoder.synthesize(g[0], g[1], g[2], g[3], g[4], g[5], seed=3, impl=impl)
        np.testing.assert_array_equal(f64, ref)
        mixed = (np.ascontiguousarray(frames.lh), frames.theta[:, :], *frames.cols(0, frames.n)[2:])
        np.testing.assert_array_equal(vocoder.synthesize(*mixed, seed=3, impl=impl), ref)

    def test_matches_hibari_dsp_with_noise_silenced(self, impl: Impl, frames: Frames) -> None:
        dsp = pytest.importorskip("hibari.dsp")
        fr = quiet_noise(frames)
        ours = vocoder.synthesize(*fr.args(), seed=0, impl=impl)
        theirs = dsp.synth(*fr.args(), np.random.default_rng(0))
        assert theirs.shape == ours.shape
        assert np.max(np.abs(theirs)) > 0.05  # not trivially silent
        assert np.max(np.abs(ours - theirs)) <= 2e-6

    def test_pulse_train_matches_hibari(self, impl: Impl, frames: Frames) -> None:
        dsp = pytest.importorskip("hibari.dsp")
        kern = vocoder._IMPLS[impl]
        f0 = frames.f0
        f0x = np.concatenate(([f0[0]], f0, [f0[-1]])).astype(np.float32)
        out = np.empty(frames.n * HOP, np.float32)
        acc = kern.pulse_train(f0x, 0.0, out)
        theirs = dsp.pulses(f0)
        assert acc >= 40.0 * out.size  # the running sum of max(f0, 40) over the samples
        assert np.max(np.abs(out - theirs)) <= 1e-3 * np.max(np.abs(theirs))

    def test_noise_is_standard_complex_gaussian(self, impl: Impl) -> None:
        n = 200
        silent = np.full((N_BINS, n), -30.0, np.float32)
        zero = np.zeros((N_BINS, n), np.float32)
        noise = np.random.default_rng(0).integers(0, 2**64 - 1, (n, N_BINS), np.uint64, endpoint=True)
        a = np.empty((n, N_BINS), np.complex64)
        b = np.empty((n, N_BINS), np.complex64)
        vocoder._IMPLS[impl].spectral_factors(silent, zero, zero, silent, zero, 0, noise, a, b)
        z = b.reshape(-1)  # = Z * exp(0) + exp(-30) e^{i 0}
        assert abs(z.real.mean()) < 0.01 and abs(z.imag.mean()) < 0.01
        assert z.real.var() == pytest.approx(1.0, abs=0.01)
        assert z.imag.var() == pytest.approx(1.0, abs=0.01)
        assert abs(np.corrcoef(z.real, z.imag)[0, 1]) < 0.01
        # Gaussian tails: P(|x| > 3) = 0.27 %, kurtosis 3
        assert np.mean(np.abs(z.real) > 3) == pytest.approx(0.0027, abs=0.0004)
        assert np.mean(z.real**4) / np.mean(z.real**2) ** 2 == pytest.approx(3.0, abs=0.05)

    def test_empty_push_and_empty_flush(self, impl: Impl) -> None:
        state = vocoder.init_state(0, impl=impl)
        empty = np.zeros((N_BINS, 0), np.float32)
        y = vocoder.push(state, empty, empty, empty, empty, empty, np.zeros(0, np.float32))
        assert y.shape == (0,) and y.dtype == np.float32
        assert vocoder.flush(state).shape == (0,)

    def test_push_after_flush_raises(self, impl: Impl, frames: Frames) -> None:
        state = vocoder.init_state(0, impl=impl)
        vocoder.push(state, *frames.cols(0, 5))
        vocoder.flush(state)
        with pytest.raises(RuntimeError, match="flushed"):
            vocoder.push(state, *frames.cols(5, 6))
        with pytest.raises(RuntimeError, match="flushed"):
            vocoder.flush(state)

    @pytest.mark.parametrize(
        ("which", "bad", "match"),
        [
            ("lh", np.zeros((600, 4), np.float32), r"lh must have shape \[601, n\]"),
            ("phi", np.zeros((N_BINS, 5), np.float32), "phi has 5 frames but f0 has 4"),
            ("theta", np.zeros((N_BINS, 4), np.int32), "theta must be a float array"),
            ("ln", np.zeros(N_BINS * 4, np.float32), r"ln must have shape \[601, n\]"),
            ("lr", [[0.0] * 4] * N_BINS, "lr must be a numpy array"),
            ("f0", np.zeros((1, 4), np.float32), "f0 must be a 1-D float array"),
            ("f0", np.zeros(4, np.int64), "f0 must be a 1-D float array"),
            ("f0", np.array([100.0, np.nan, 0.0, 0.0], np.float32), "f0 must be finite .* at frame 1"),
            ("f0", np.array([0.0, 0.0, 0.0, np.inf], np.float32), "f0 must be finite .* at frame 3"),
        ],
    )
    def test_bad_inputs_raise_value_error(self, impl: Impl, which: str, bad: object, match: str) -> None:
        fr = synthetic_frames(4)
        args: dict[str, object] = dict(zip(("lh", "theta", "ln", "lr", "phi", "f0"), fr.args(), strict=True))
        args[which] = bad
        state = vocoder.init_state(0, impl=impl)
        with pytest.raises(ValueError, match=match):
            vocoder.push(state, **args)  # type: ignore[arg-type]
        assert state.frames_in == 0


def test_noise_words_are_the_generators_uniform_uint64() -> None:
    # push() draws noise with bit_generator.random_raw: pinned to equal Generator.integers over
    # the full uint64 range, so the noise is an ordinary, documented Generator stream.
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    raw = a.bit_generator.random_raw((4, N_BINS))
    full = b.integers(0, 2**64 - 1, (4, N_BINS), np.uint64, endpoint=True)
    assert raw.dtype == np.uint64
    np.testing.assert_array_equal(raw, full)


def test_unknown_impl_raises() -> None:
    with pytest.raises(ValueError, match="impl must be one of"):
        vocoder.init_state(0, impl="cuda")  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk", [1, 7, 157])
def test_numba_matches_numpy_reference(frames: Frames, chunk: int) -> None:
    ref, _ = run_chunked(frames, chunk, "numpy")
    fast, _ = run_chunked(frames, chunk, "numba")
    assert np.max(np.abs(fast - ref)) <= 1e-4


def test_kernels_match_reference_one_by_one(frames: Frames) -> None:
    fast, ref = vocoder._IMPLS["numba"], vocoder._IMPLS["numpy"]
    n = frames.n
    noise = np.random.default_rng(1).integers(0, 2**64 - 1, (n, N_BINS), np.uint64, endpoint=True)
    ab = [np.empty((n, N_BINS), np.complex64) for _ in range(4)]
    fast.spectral_factors(*frames.spectra(), 0, noise, ab[0], ab[1])
    ref.spectral_factors(*frames.spectra(), 0, noise, ab[2], ab[3])
    scale = np.exp(np.minimum(frames.lh, 7)).T
    assert np.max(np.abs(ab[0] - ab[2]) / np.maximum(scale, 1e-6)) <= 1e-6  # relative to |a|
    assert np.max(np.abs(ab[1] - ab[3])) <= 1e-5
    # pulses: same samples up to float32 sin rounding (amplified ~H near each pulse peak)
    f0x = np.concatenate(([frames.f0[0]], frames.f0, [frames.f0[-1]]))
    p = [np.empty(n * HOP, np.float32) for _ in range(2)]
    assert fast.pulse_train(f0x, 0.0, p[0]) == ref.pulse_train(f0x, 0.0, p[1])
    assert np.max(np.abs(p[0] - p[1])) <= 1e-3
    # synthesis of frames 0..n-1 with the end known
    outs = [np.empty(n * HOP, np.float32) for _ in range(2)]
    olas = [np.zeros(900, np.float32) for _ in range(2)]
    fast.synth_frames(p[1], 0, n * HOP, 0, ab[2], ab[3], olas[0], outs[0])
    ref.synth_frames(p[1], 0, n * HOP, 0, ab[2], ab[3], olas[1], outs[1])
    assert np.max(np.abs(outs[0] - outs[1])) <= 1e-5


@pytest.mark.integration
class TestOnModelOutput:
    """hibari's ONNX model run on a real sentence."""

    @pytest.mark.parametrize("impl", IMPLS)
    def test_matches_hibari_dsp_with_noise_silenced(self, model_frames: Frames, impl: Impl) -> None:
        dsp = pytest.importorskip("hibari.dsp")
        fr = quiet_noise(model_frames)
        ours = vocoder.synthesize(*fr.args(), seed=0, impl=impl)
        theirs = dsp.synth(*fr.args(), np.random.default_rng(0))
        assert np.max(np.abs(theirs)) > 0.1
        assert np.max(np.abs(ours - theirs)) <= 2e-6

    @pytest.mark.parametrize("chunk", [1, 3, 7, 50])
    def test_numba_matches_numpy_and_chunking(self, model_frames: Frames, chunk: int) -> None:
        ref = vocoder.synthesize(*model_frames.args(), seed=5, impl="numpy")
        fast, _ = run_chunked(model_frames, chunk, "numba", seed=5)
        assert fast.shape == (model_frames.n * HOP,)
        assert np.max(np.abs(fast - ref)) <= 1e-4

    def test_noise_level_matches_hibari(self, model_frames: Frames) -> None:
        # Different noise draws, same distribution: noise-only signals of equal energy. A flat noise
        # spectrum averages over all bins and frames (the model's own ln concentrates the energy in a
        # few frames, and one draw's RMS then varies by ~12 %).
        dsp = pytest.importorskip("hibari.dsp")
        quiet = np.full_like(model_frames.lh, -30.0)
        fr = model_frames.replace(lh=quiet, lr=quiet, ln=np.full_like(quiet, -4.0))
        ours = vocoder.synthesize(*fr.args(), seed=0)
        theirs = dsp.synth(*fr.args(), np.random.default_rng(0))
        assert np.sqrt(np.mean(ours**2)) == pytest.approx(np.sqrt(np.mean(theirs**2)), rel=0.02)
