"""The streaming polyphase resampler: one test class, run against every implementation, plus the
filter design checked against scipy (firwin for the taps, resample_poly for the arithmetic)."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from kernel_inputs import IMPLS
from parley_kernels import resample
from parley_kernels.resample import RATES_HZ, Impl

signal = pytest.importorskip("scipy.signal")

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Pair = tuple[int, int]

ALL_PAIRS = list(itertools.product(RATES_HZ, RATES_HZ))
VOICE_PAIRS = [(fin, fout) for fin in (22050, 24000) for fout in RATES_HZ]
DOWN_PAIRS = [(fin, fout) for fin, fout in ALL_PAIRS if fout < fin]
UP_PAIRS = [(fin, fout) for fin, fout in ALL_PAIRS if fout > fin]


def pair_id(pair: tuple[int, int]) -> str:
    return f"{pair[0]}-{pair[1]}"


def prototype(filt: resample.PolyphaseFilter) -> F64:
    """The prototype low-pass (unit DC gain) reassembled from the reversed polyphase bank."""
    h: F64 = filt.bank[:, ::-1].T.reshape(-1)[: 2 * filt.delay + 1] / filt.up
    return h


def tones(freqs_hz: list[float], rate_hz: int, n: int, start: int = 0) -> F64:
    t = (start + np.arange(n)) / rate_hz
    return sum((np.sin(2 * np.pi * f * t + i) for i, f in enumerate(freqs_hz)), np.zeros(n))


def chunked(state: resample.ResamplerState, x: F32, sizes: list[int]) -> F32:
    parts, pos = [], 0
    for size in sizes:
        parts.append(resample.push(state, x[pos : pos + size]))
        pos += size
    parts.append(resample.push(state, x[pos:]))
    parts.append(resample.flush(state))
    return np.concatenate(parts)


def steady(n_out: int, fin: int, fout: int) -> slice:
    """Output samples clear of the ramps at both ends (the filter's length in output samples)."""
    edge = 2 * resample.design_filter(fin, fout).latency_in_samples * fout // fin + 2
    return slice(edge, n_out - edge)


@pytest.mark.parametrize("impl", IMPLS)
class TestResample:
    @pytest.mark.parametrize("pair", ALL_PAIRS, ids=pair_id)
    def test_matches_scipy_resample_poly_with_the_same_filter(
        self, impl: Impl, pair: tuple[int, int]
    ) -> None:
        # Same taps, independent arithmetic: checks phases, alignment, zero padding and length.
        fin, fout = pair
        x = np.random.default_rng(fin + fout).uniform(-1, 1, fin // 5).astype(np.float32)
        y = resample.resample(x, fin, fout, impl=impl)
        filt = resample.design_filter(fin, fout)
        n_out = resample.output_length(x.size, fin, fout)
        if fin == fout:
            np.testing.assert_array_equal(y, x)
            return
        ref = signal.resample_poly(x.astype(np.float64), filt.up, filt.down, window=prototype(filt))
        assert y.dtype == np.float32 and y.shape == (n_out,)
        assert abs(ref.size - n_out) <= 1  # scipy rounds the length up, we round to nearest
        assert np.max(np.abs(y - ref[:n_out])) <= 1e-6

    @pytest.mark.parametrize("pair", ALL_PAIRS, ids=pair_id)
    def test_passband_tones_are_kept_in_amplitude_and_time(self, impl: Impl, pair: tuple[int, int]) -> None:
        # Output sample j is the input at time j * in / out: compare with the ideal tones there.
        fin, fout = pair
        nyq = min(fin, fout) / 2
        freqs = [0.01 * nyq, 0.2 * nyq, 0.55 * nyq, 0.9 * nyq]
        n = fin // 2
        x = tones(freqs, fin, n) / len(freqs)
        y = resample.resample(x.astype(np.float32), fin, fout, impl=impl)
        ideal = tones(freqs, fout, y.size) / len(freqs)
        mid = steady(y.size, fin, fout)
        err = float(np.max(np.abs(y[mid] - ideal[mid])))
        assert err <= 2e-4, f"passband error {20 * np.log10(err + 1e-30):.1f} dB"

    @pytest.mark.parametrize("pair", VOICE_PAIRS, ids=pair_id)
    def test_sine_sweep_through_the_passband(self, impl: Impl, pair: tuple[int, int]) -> None:
        # Linear chirp 20 Hz -> 0.9 x the lower Nyquist frequency over 1 s.
        fin, fout = pair
        f1 = 0.9 * min(fin, fout) / 2

        def chirp(rate: int, n: int) -> F64:
            t = np.arange(n) / rate
            out: F64 = 0.8 * signal.chirp(t, 20.0, 1.0, f1)
            return out

        y = resample.resample(chirp(fin, fin).astype(np.float32), fin, fout, impl=impl)
        mid = steady(y.size, fin, fout)
        err = np.abs(y - chirp(fout, y.size))[mid]
        assert float(np.max(err)) <= 5e-4  # -64 dB under full scale, at the top of the sweep

    @pytest.mark.parametrize("pair", DOWN_PAIRS, ids=pair_id)
    def test_tones_above_the_new_nyquist_are_rejected(self, impl: Impl, pair: tuple[int, int]) -> None:
        fin, fout = pair
        for f in np.linspace(0.5 * fout, 0.49 * fin, 6):
            x = tones([float(f)], fin, fin // 4)
            y = resample.resample(x.astype(np.float32), fin, fout, impl=impl)
            rms = float(np.sqrt(np.mean(y[steady(y.size, fin, fout)] ** 2)))
            attenuation = -20 * np.log10(rms / np.sqrt(0.5))
            assert attenuation >= 78.0, f"{f:.0f} Hz: only {attenuation:.1f} dB down"

    @pytest.mark.parametrize("pair", UP_PAIRS, ids=pair_id)
    def test_images_above_the_old_nyquist_are_rejected(self, impl: Impl, pair: tuple[int, int]) -> None:
        # A tone near the top of the input band: everything the output holds besides the ideal
        # tone (images at k fin +- f, passband error) must be 75 dB down.
        fin, fout = pair
        x = tones([0.45 * fin], fin, fin // 4)
        y = resample.resample(x.astype(np.float32), fin, fout, impl=impl)
        mid = steady(y.size, fin, fout)
        residual = (y - tones([0.45 * fin], fout, y.size))[mid]
        spectrum = np.abs(np.fft.rfft(residual * np.kaiser(residual.size, 14.0)))
        freqs = np.fft.rfftfreq(residual.size, 1 / fout)
        tone = np.abs(np.fft.rfft(tones([0.45 * fin], fout, residual.size) * np.kaiser(residual.size, 14.0)))
        images_db = 20 * np.log10(spectrum[freqs > fin / 2].max() / tone.max())
        assert images_db <= -78.0
        assert float(np.sqrt(np.mean(residual**2))) <= 10 ** (-75 / 20)

    @pytest.mark.parametrize("chunk", [1, 7, 160, 4097, 0])
    @pytest.mark.parametrize("pair", VOICE_PAIRS, ids=pair_id)
    def test_chunked_equals_one_shot(self, impl: Impl, pair: tuple[int, int], chunk: int) -> None:
        # chunk 0: everything in one push. 10007 samples: no chunk size divides it.
        fin, fout = pair
        n = 1501 if chunk == 1 else 10007
        x = np.random.default_rng(chunk).uniform(-1, 1, n).astype(np.float32)
        one_shot = resample.resample(x, fin, fout, impl=impl)
        sizes = [chunk] * (n // chunk) if chunk else []
        got = chunked(resample.init_state(fin, fout, impl=impl), x, sizes)
        assert got.shape == one_shot.shape == (resample.output_length(n, fin, fout),)
        assert float(np.max(np.abs(got - one_shot))) <= 1e-6
        np.testing.assert_array_equal(got, one_shot)  # stronger, and documented

    def test_irregular_chunks_including_empty_ones(self, impl: Impl) -> None:
        rng = np.random.default_rng(5)
        x = rng.uniform(-1, 1, 20000).astype(np.float32)
        sizes = [int(s) for s in rng.choice([0, 1, 2, 3, 64, 441, 1000, 2999], 40)]
        for fin, fout in [(22050, 16000), (24000, 44100), (24000, 8000)]:
            one_shot = resample.resample(x, fin, fout, impl=impl)
            np.testing.assert_array_equal(
                chunked(resample.init_state(fin, fout, impl=impl), x, sizes), one_shot
            )

    @pytest.mark.parametrize(
        "pair", [(24000, 48000), (24000, 8000), (22050, 16000), (24000, 22050)], ids=pair_id
    )
    def test_push_returns_what_the_look_ahead_allows(self, impl: Impl, pair: tuple[int, int]) -> None:
        fin, fout = pair
        filt = resample.design_filter(fin, fout)
        state = resample.init_state(fin, fout, impl=impl)
        total = 0
        for n in range(1, 2000):
            total += resample.push(state, np.zeros(1, np.float32)).size
            assert total == state.samples_out
            # output j (at input time j * in / out) is out once input reaches j's look-ahead
            lag = n - total * fin / fout
            assert total == 0 or abs(lag - filt.latency_in_samples) <= fin / fout + 1
        tail = resample.flush(state)
        assert total + tail.size == resample.output_length(1999, fin, fout)

    @pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 100, 1001])
    def test_short_streams(self, impl: Impl, n: int) -> None:
        x = np.random.default_rng(n).uniform(-1, 1, n).astype(np.float32)
        for fin, fout in VOICE_PAIRS:
            y = resample.resample(x, fin, fout, impl=impl)
            assert y.shape == (resample.output_length(n, fin, fout),) and y.dtype == np.float32
            assert np.all(np.isfinite(y))

    def test_state_refuses_use_after_flush(self, impl: Impl) -> None:
        state = resample.init_state(24000, 16000, impl=impl)
        resample.push(state, np.ones(100, np.float32))
        resample.flush(state)
        assert state.samples_out == 67 and state.flushed
        with pytest.raises(RuntimeError, match="flushed"):
            resample.push(state, np.ones(1, np.float32))
        with pytest.raises(RuntimeError, match="flushed"):
            resample.flush(state)

    def test_float64_and_strided_input_is_converted(self, impl: Impl) -> None:
        x = np.random.default_rng(3).uniform(-1, 1, 2000)
        want = resample.resample(np.ascontiguousarray(x[::2], np.float32), 24000, 16000, impl=impl)
        np.testing.assert_array_equal(resample.resample(x[::2], 24000, 16000, impl=impl), want)


def test_numba_matches_numpy() -> None:
    x = np.random.default_rng(9).uniform(-1, 1, 30000).astype(np.float32)
    for fin, fout in ALL_PAIRS:
        a = resample.resample(x, fin, fout)
        b = resample.resample(x, fin, fout, impl="numpy")
        assert float(np.max(np.abs(a - b))) <= 1e-6


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=pair_id)
def test_filter_response(pair: tuple[int, int]) -> None:
    # Passband ripple < 0.002 dB up to 0.9 x the lower Nyquist frequency, >= 80 dB from 1.0 x on.
    fin, fout = pair
    filt = resample.design_filter(fin, fout)
    if fin == fout:
        assert filt.up == filt.down == filt.taps == 1 and filt.delay == 0
        return
    h = prototype(filt)
    n_fft = 1 << int(np.ceil(np.log2(h.size * 32)))
    gain = np.abs(np.fft.rfft(h, n_fft))
    freqs = np.fft.rfftfreq(n_fft, 1 / (filt.up * fin))
    nyq = min(fin, fout) / 2
    passband = 20 * np.log10(gain[freqs <= 0.9 * nyq])
    assert float(np.max(np.abs(passband))) <= 0.002
    assert 20 * np.log10(float(gain[freqs >= nyq].max())) <= -80.0
    # every phase sums to ~1 (no DC ripple at the output rate)
    assert float(np.max(np.abs(filt.bank.sum(axis=1) - 1.0))) <= 2e-4


@pytest.mark.parametrize("pair", [(24000, 8000), (22050, 16000), (24000, 48000), (44100, 8000)], ids=pair_id)
def test_filter_equals_scipy_firwin_kaiser(pair: tuple[int, int]) -> None:
    fin, fout = pair
    filt = resample.design_filter(fin, fout)
    nyq_rel = min(fin, fout) / (filt.up * fin)  # lower Nyquist relative to the upsampled Nyquist
    ref = signal.firwin(
        2 * filt.delay + 1, 0.95 * nyq_rel, window=("kaiser", 0.1102 * (resample.STOPBAND_DB - 8.7))
    )
    np.testing.assert_allclose(prototype(filt), ref, rtol=0, atol=1e-15)


def test_filters_are_cached_shared_and_read_only() -> None:
    a = resample.design_filter(24000, 8000)
    assert resample.design_filter(24000, 8000) is a
    assert resample.init_state(24000, 8000).filt is a
    assert resample.design_filter(48000, 16000) is a  # same reduced factor 1/3
    with pytest.raises(ValueError, match="read-only"):
        a.bank[0, 0] = 1.0


def test_documented_latencies() -> None:
    got = {
        pair: resample.design_filter(*pair).latency_in_samples
        for pair in [(24000, 48000), (24000, 8000), (22050, 16000)]
    }
    assert got == {(24000, 48000): 52, (24000, 8000): 155, (22050, 16000): 72}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((24000, 11025), r"out_rate_hz must be one of \[8000, 16000, 22050, 24000, 44100, 48000\]"),
        ((96000, 8000), "in_rate_hz must be one of"),
        ((24000.0, 8000), "in_rate_hz must be one of .* got 24000.0"),
        ((True, 8000), "in_rate_hz must be one of"),
    ],
)
def test_bad_rates_raise_value_error(args: tuple[object, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resample.init_state(*args)  # type: ignore[arg-type]


def test_bad_impl_and_samples_raise_value_error() -> None:
    with pytest.raises(ValueError, match="impl must be one of"):
        resample.init_state(24000, 8000, impl="c")  # type: ignore[arg-type]
    state = resample.init_state(24000, 8000)
    with pytest.raises(ValueError, match="x must be a float numpy array .* got int16"):
        resample.push(state, np.zeros(4, np.int16))
    with pytest.raises(ValueError, match="x must be a float numpy array .* got list"):
        resample.push(state, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"x must be 1-D \(samples\), got shape \(2, 3\)"):
        resample.push(state, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="state must be a ResamplerState"):
        resample.push(object(), np.zeros(4, np.float32))  # type: ignore[arg-type]
