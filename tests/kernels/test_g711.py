"""G.711 µ-law / A-law: one test class, run against both encoder implementations, checked against
two independent references: a line-by-line transcription of the ITU-T G.191 reference code
(``ulaw_compress``/``alaw_compress``), and the decision intervals of G.711's tables 1a/2a."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from kernel_inputs import IMPLS
from parley_kernels import g711
from parley_kernels.g711 import Impl

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64)
ALL_INT16_AS_FLOAT = (ALL_INT16 / 32768).astype(np.float32)  # exact: s * 2**-15


def g191_ulaw_compress(s: int) -> int:
    """G.191 STL g711.c, ulaw_compress, for one 16-bit sample."""
    absno = ((~s) >> 2) + 33 if s < 0 else (s >> 2) + 33
    if absno > 0x1FFF:
        absno = 0x1FFF
    i = absno >> 6
    segno = 1
    while i != 0:
        segno += 1
        i >>= 1
    high_nibble = 0x0008 - segno
    low_nibble = 0x000F - ((absno >> segno) & 0x000F)
    code = (high_nibble << 4) | low_nibble
    return code | 0x0080 if s >= 0 else code


def g191_alaw_compress(s: int) -> int:
    """G.191 STL g711.c, alaw_compress, for one 16-bit sample."""
    ix = (~s) >> 4 if s < 0 else s >> 4
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if s >= 0:
        ix |= 0x0080
    return ix ^ 0x0055


def g191_ulaw_expand(code: int) -> int:
    sign = -1 if code < 0x80 else 1
    mantissa = ~code
    exponent = (mantissa >> 4) & 0x0007
    step = 4 << (exponent + 1)
    mantissa &= 0x000F
    return sign * ((0x0080 << exponent) + step * mantissa + step // 2 - 4 * 33)


def g191_alaw_expand(code: int) -> int:
    ix = (code ^ 0x0055) & 0x007F
    iexp = ix >> 4
    mant = ix & 0x000F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 0x0008
    if iexp > 1:
        mant <<= iexp - 1
    return mant if code > 127 else -mant


def table_ulaw(s: I64) -> U8:
    """G.711 table 2a: the 128 magnitude intervals (14-bit units, input biased by 33) of segments
    e = 0..7, steps 2**(e + 1); interval (e, m) starts at (16 + m) 2**(e + 1) - 33. Code: the
    interval number inverted, sign bit set for s >= 0 (one's complement magnitude for s < 0)."""
    edges = np.array([((16 + m) << (e + 1)) - 33 for e in range(8) for m in range(16)])
    mag = np.where(s < 0, -s - 1, s) >> 2
    idx = np.clip(np.searchsorted(edges, mag, side="right") - 1, 0, 127)
    return ((0x7F - idx) | np.where(s >= 0, 0x80, 0)).astype(np.uint8)


def table_alaw(s: I64) -> U8:
    """G.711 table 1a: 12-bit magnitudes; segments 0 and 1 step 1 (0..31), segment e >= 2 covers
    2**(e + 3) .. 2**(e + 4) - 1 in steps of 2**(e - 1). Even bits inverted on the line."""
    edges = np.array([m if e == 0 else (16 + m) << (e - 1) for e in range(8) for m in range(16)])
    mag = np.where(s < 0, -s - 1, s) >> 4
    idx = np.searchsorted(edges, mag, side="right") - 1
    return ((idx | np.where(s >= 0, 0x80, 0)) ^ 0x55).astype(np.uint8)


Encoder = Callable[..., U8]
LAWS: dict[str, tuple[Encoder, Callable[[U8], F32], npt.NDArray[np.int16]]] = {
    "ulaw": (g711.float_to_ulaw, g711.ulaw_to_float, g711.ULAW_TO_PCM16),
    "alaw": (g711.float_to_alaw, g711.alaw_to_float, g711.ALAW_TO_PCM16),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("law", ["ulaw", "alaw"])
class TestG711:
    def test_every_16_bit_input_matches_the_g191_reference(self, impl: Impl, law: str) -> None:
        ref = g191_ulaw_compress if law == "ulaw" else g191_alaw_compress
        want = np.array([ref(int(s)) for s in ALL_INT16], np.uint8)
        got = LAWS[law][0](ALL_INT16_AS_FLOAT, impl=impl)
        np.testing.assert_array_equal(got, want)

    def test_every_16_bit_input_matches_the_decision_table(self, impl: Impl, law: str) -> None:
        table = table_ulaw if law == "ulaw" else table_alaw
        np.testing.assert_array_equal(LAWS[law][0](ALL_INT16_AS_FLOAT, impl=impl), table(ALL_INT16))

    def test_known_code_points(self, impl: Impl, law: str) -> None:
        x = np.array([0.0, -1 / 32768, 1000 / 32768, -1000 / 32768, 1.0, -1.0, 0.5], np.float32)
        want = {
            "ulaw": [0xFF, 0x7F, 0xCE, 0x4E, 0x80, 0x00, 0x8F],
            "alaw": [0xD5, 0x55, 0xFA, 0x7A, 0xAA, 0x2A, 0xA5],
        }[law]
        assert LAWS[law][0](x, impl=impl).tolist() == want

    def test_round_trip_within_half_a_step(self, impl: Impl, law: str) -> None:
        encode, decode, table = LAWS[law]
        codes = encode(ALL_INT16_AS_FLOAT, impl=impl)
        err = np.abs(table[codes].astype(np.int64) - ALL_INT16)
        if law == "ulaw":
            step = 8 << ((~codes.astype(np.int64) >> 4) & 7)  # 16-bit units
            inside = np.abs(ALL_INT16) <= 32124
            zero = (codes == 0xFF) | (codes == 0x7F)
            assert np.all(err[zero] <= 4)
        else:
            seg = ((codes.astype(np.int64) ^ 0x55) & 0x7F) >> 4
            step = np.where(seg <= 1, 16, 16 << np.maximum(seg - 1, 0))
            inside = np.abs(ALL_INT16) <= 32256
        assert np.all(2 * err[inside] <= step[inside])
        assert np.all(np.diff(table[codes]) >= 0)  # the quantiser is monotonic
        # relative error above 2**-7 of full scale: 4.2 % (µ-law), 3.1 % (A-law)
        big = inside & (np.abs(ALL_INT16) >= 256)
        assert np.max(err[big] / np.abs(ALL_INT16[big])) <= (0.043 if law == "ulaw" else 0.032)
        np.testing.assert_array_equal(decode(codes), table[codes] / np.float32(32768))

    @pytest.mark.parametrize("amplitude", [0.5, 0.1, 0.01])
    def test_snr_of_a_sine(self, impl: Impl, law: str, amplitude: float) -> None:
        encode, decode, _ = LAWS[law]
        t = np.arange(16000) / 8000
        x = (amplitude * np.sin(2 * np.pi * 437.0 * t + 0.3)).astype(np.float32)
        y = decode(encode(x, impl=impl)).astype(np.float64)
        snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((y - x) ** 2))
        assert snr >= 34.0  # G.711's ~38 dB over a wide range of levels

    def test_float_conversion_clips_rounds_and_zeroes_nan(self, impl: Impl, law: str) -> None:
        encode, _, _ = LAWS[law]
        x = np.array([np.nan, np.inf, -np.inf, 3.0, -3.0, 1.0, -1.0, 2.5 / 32768, 1.5 / 32768], np.float32)
        s = np.array([0, 32767, -32768, 32767, -32768, 32767, -32768, 2, 2])  # rint: ties to even
        ref = g191_ulaw_compress if law == "ulaw" else g191_alaw_compress
        assert encode(x, impl=impl).tolist() == [ref(int(v)) for v in s]

    def test_writes_into_strided_out(self, impl: Impl, law: str) -> None:
        encode, _, _ = LAWS[law]
        x = np.random.default_rng(0).uniform(-1.2, 1.2, 400).astype(np.float32)
        out = np.zeros(400, np.uint8)
        assert encode(x[::2], out[1::2], impl=impl) is not None
        np.testing.assert_array_equal(out[1::2], encode(np.ascontiguousarray(x[::2]), impl=impl))
        assert not out[::2].any()
        full = np.zeros(400, np.uint8)
        assert encode(x, full, impl=impl) is full

    def test_empty(self, impl: Impl, law: str) -> None:
        assert LAWS[law][0](np.zeros(0, np.float32), impl=impl).shape == (0,)

    @pytest.mark.parametrize(
        ("x", "out", "match"),
        [
            (np.zeros(4, np.float64), None, "x must be a float32 numpy array, got float64"),
            ([0.0], None, "x must be a float32 numpy array, got list"),
            (np.zeros((2, 2), np.float32), None, r"x must be 1-D \(samples\), got shape \(2, 2\)"),
            (np.zeros(4, np.float32), np.zeros(4, np.int8), "out must be a uint8 numpy array, got int8"),
            (np.zeros(4, np.float32), np.zeros(3, np.uint8), r"out has shape \(3,\) but x has shape \(4,\)"),
        ],
    )
    def test_bad_arguments_raise_value_error(
        self, impl: Impl, law: str, x: object, out: object, match: str
    ) -> None:
        with pytest.raises(ValueError, match=match):
            LAWS[law][0](x, out, impl=impl)

    def test_read_only_out_raises(self, impl: Impl, law: str) -> None:
        out = np.zeros(2, np.uint8)
        out.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            LAWS[law][0](np.zeros(2, np.float32), out, impl=impl)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_decode_tables_match_the_g191_reference(law: str) -> None:
    ref = g191_ulaw_expand if law == "ulaw" else g191_alaw_expand
    table = LAWS[law][2]
    assert table.tolist() == [ref(c) for c in range(256)]
    assert not table.flags.writeable
    top = 32124 if law == "ulaw" else 32256
    assert table.max() == top and table.min() == -top


def test_known_decoded_values() -> None:
    u, a = g711.ULAW_TO_PCM16, g711.ALAW_TO_PCM16
    assert [u[0xFF], u[0x7F], u[0xFE], u[0x80], u[0x00]] == [0, 0, 8, 32124, -32124]
    assert [a[0xD5], a[0x55], a[0xAA], a[0x2A]] == [8, -8, 32256, -32256]
    # decode(encode(level)) is the level itself (µ-law's two zeros both decode to 0)
    for law in ("ulaw", "alaw"):
        encode, decode, _ = LAWS[law]
        codes = np.arange(256, dtype=np.uint8)
        again = encode(decode(codes))
        same = again == codes
        assert same.all() if law == "alaw" else np.flatnonzero(~same).tolist() == [0x7F]


def test_decoders_accept_bytes_and_any_shape() -> None:
    codes = np.frombuffer(bytes([0xFF, 0x80, 0x00, 0xCE]), np.uint8)
    assert g711.ulaw_to_float(codes).tolist() == [
        0.0,
        32124 / 32768,
        -32124 / 32768,
        988 / 32768,
    ]  # 4 ((35 << 3) - 33)
    assert g711.alaw_to_float(codes.reshape(2, 2)).shape == (2, 2)
    with pytest.raises(ValueError, match="codes must be a uint8 numpy array, got int16"):
        g711.ulaw_to_float(np.zeros(2, np.int16))


def test_numba_matches_numpy_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [rng.uniform(-1.5, 1.5, 100_000), (np.arange(-80, 80) + 0.5) / 32768, [np.nan, np.inf, -np.inf, -0.0]]
    ).astype(np.float32)
    for law in ("ulaw", "alaw"):
        encode = LAWS[law][0]
        np.testing.assert_array_equal(encode(x), encode(x, impl="numpy"))
        np.testing.assert_array_equal(encode(x[::3]), encode(x[::3], impl="numpy"))


def test_unknown_impl_raises() -> None:
    with pytest.raises(ValueError, match="impl must be 'numba' or 'numpy'"):
        g711.float_to_ulaw(np.zeros(2, np.float32), impl="c")  # type: ignore[arg-type]
