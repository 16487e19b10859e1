"""Word/phoneme timings, pitch and volume (unit parts pure; integration parts with real voices)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley_engine import Engine, SpeakSettings
from parley_engine.engine import soft_limit
from parley_engine.errors import InvalidSettingError
from parley_engine.timing import TextUnit, unit_word_timings, word_timings
from parley_engine.voices.base import alignment_from_durations


def test_alignment_from_durations_gives_pads_to_the_symbol_before() -> None:
    # tokens: pad, a, b, pad  with durations 3, 2, 4, 5
    al = alignment_from_durations(["a", "b"], np.asarray([3, 2, 4, 5], np.float32), [1, 2])
    assert al == (("a", 3, 5), ("b", 5, 9))


def test_word_timings_map_words_to_written_text() -> None:
    text = "Call me at 7:30, Bob."
    # phoneme symbols of "call me at seven thirty, bob." with 2 frames each, spaces 1 frame
    words = ["kɔl", "mi", "æt", "sɛvən", "θɜɹti,", "bɑb."]
    al, f = [], 0
    for i, w in enumerate(words):
        if i:
            al.append((" ", f, f + 1))
            f += 1
        for ch in w:
            al.append((ch, f, f + 2))
            f += 2
    out = word_timings(text, al, lambda fr: 100 * fr, char_offset=1000)
    assert [w.word for w in out] == ["Call", "me", "at", "seven", "thirty", "Bob"]
    assert [text[w.char_start - 1000 : w.char_end - 1000] for w in out] == [
        "Call",
        "me",
        "at",
        "7:30,",
        "7:30,",
        "Bob.",
    ]
    assert all(a.end_sample <= b.start_sample for a, b in zip(out, out[1:], strict=False))
    assert [p.phoneme for p in out[-1].phonemes] == ["b", "ɑ", "b"]  # punctuation is not a phoneme


def _alignment(phoneme_words: list[str]) -> list[tuple[str, int, int]]:
    """2 frames per symbol, 1 per space between words."""
    al, f = [], 0
    for i, w in enumerate(phoneme_words):
        if i:
            al.append((" ", f, f + 1))
            f += 1
        for ch in w:
            al.append((ch, f, f + 2))
            f += 2
    return al


def _units(text: str, readings: dict[str, str]) -> list[TextUnit]:
    out, at = [], 0
    for piece, ph in readings.items():
        a = text.index(piece, at)
        out.append(TextUnit(a, a + len(piece), ph))
        at = a + len(piece)
    return out


def test_unit_word_timings_place_units_of_any_script() -> None:
    text = "मेरा नाम राम है।"
    units = _units(text, {"मेरा": "mˌeːɾaː", "नाम": "nˈaːm", "राम": "ɾˈaːm", "है": "hɛː"})
    # read as a whole: one stress mark differs, "राम है" came out as one phoneme word
    al = _alignment(["mˌeːɾaː", "naːm", "ɾˈaːmhɛː."])
    out = unit_word_timings(text, al, lambda fr: 100 * fr, units, char_offset=10)
    assert [w.word for w in out] == ["मेरा", "नाम", "राम", "है"]
    assert [text[w.char_start - 10 : w.char_end - 10] for w in out] == ["मेरा", "नाम", "राम", "है"]
    # a stress mark belongs to its word, the final "." to none
    spans = [(w.start_sample, w.end_sample) for w in out]
    assert spans == [(0, 1400), (1500, 2300), (2400, 3400), (3400, 4000)]
    assert [p.phoneme for p in out[0].phonemes] == list("meːɾaː")


def test_unit_word_timings_join_characters_of_one_phoneme_word() -> None:
    text = "你好，今天。"
    units = _units(text, {"你": "ni↓", "好": "xau↓", "今": "ʨi↘n", "天": "tʰjɛ↘n"})
    al = _alignment(["ni↓xau↓,", "ʨi↘n", "tʰjɛ↘n."])
    joined = unit_word_timings(text, al, lambda fr: fr, units, join_phoneme_words=True)
    assert [w.word for w in joined] == ["你好", "今", "天"]
    assert [(w.char_start, w.char_end) for w in joined] == [(0, 2), (3, 4), (4, 5)]
    apart = unit_word_timings(text, al, lambda fr: fr, units)
    assert [w.word for w in apart] == ["你", "好", "今", "天"]


def test_unit_word_timings_skip_silent_units_and_share_out_differences() -> None:
    text = "今日はいい天気ですね"
    units = _units(text, {"今日": "", "はいい": "haii", "天気": "", "ですね": "desɨne"})
    al = _alignment(["haii", "dezɯne"])  # read differently in context: shared out, never lost
    out = unit_word_timings(text, al, lambda fr: fr, units)
    assert [w.word for w in out] == ["はいい", "ですね"]
    assert out[1].start_sample == 9 and out[1].end_sample == 21


def test_unit_word_timings_fall_back_to_the_whole_chunk() -> None:
    text = " «你好»。"
    al = _alignment(["ni↓xau↓."])
    for units in ([], [TextUnit(2, 4, "")], [TextUnit(2, 4, "qqq")]):
        out = unit_word_timings(text, al, lambda fr: fr, units)
        assert len(out) == 1 and out[0].word == "你好" and (out[0].start_sample, out[0].end_sample) == (0, 14)
    assert unit_word_timings(text, _alignment(["."]), lambda fr: fr, []) == ()


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.text("日本語かな", min_size=1, max_size=3), st.text("aiuk", max_size=4)), max_size=8
    ),
    spoken=st.lists(st.text("aiuk.,", min_size=1, max_size=5), max_size=8),
    join=st.booleans(),
)
def test_unit_word_timings_are_ordered_and_slice_the_text(
    pieces: list[tuple[str, str]], spoken: list[str], join: bool
) -> None:
    text = "、".join(p for p, _ in pieces)
    units, at = [], 0
    for p, ph in pieces:
        units.append(TextUnit(at, at + len(p), ph))
        at += len(p) + 1
    out = unit_word_timings(text, _alignment(spoken), lambda fr: 10 * fr, units, 5, join_phoneme_words=join)
    for w in out:
        assert text[w.char_start - 5 : w.char_end - 5] == w.word and w.word
        assert 0 <= w.start_sample <= w.end_sample
    for a, b in zip(out, out[1:], strict=False):
        assert a.end_sample <= b.start_sample and a.char_end <= b.char_start


def test_soft_limit_is_identity_below_the_knee_and_never_reaches_one() -> None:
    x = np.linspace(-3, 3, 10001, dtype=np.float32)
    y = soft_limit(x)
    assert np.all(np.abs(y) < 1.0)
    small = np.abs(x) <= 0.9
    np.testing.assert_array_equal(y[small], x[small])
    assert np.all(np.diff(y) >= 0)  # monotonic: no folding, no clicks


@pytest.mark.parametrize(
    ("field", "value"),
    [("speed", 4.5), ("speed", 0.4), ("pitch_semitones", 13), ("volume_db", 20), ("volume_db", "loud")],
)
def test_settings_out_of_range_name_their_field(field: str, value: object) -> None:
    with pytest.raises(InvalidSettingError) as e:
        SpeakSettings(**{field: value})  # type: ignore[arg-type]
    assert e.value.field == field


@pytest.fixture(scope="module")
def engine(heart_and_joe: Engine) -> Engine:
    return heart_and_joe


@pytest.mark.integration
@pytest.mark.parametrize("voice", ["heart", "joe"])
def test_every_word_has_a_timing_inside_the_audio(engine: Engine, voice: str) -> None:
    text = "Dr. Smith arrives at 7:30 pm, with $5 in cash. Then he leaves."
    chunks = list(engine.stream(text, voice=voice, settings=SpeakSettings(seed=1)))
    total = sum(len(c.samples) for c in chunks)
    words = [w for c in chunks for w in c.words]
    assert [w.word.lower() for w in words] == [
        "doctor",
        "smith",
        "arrives",
        "at",
        "seven",
        "thirty",
        "pm",
        "with",
        "five",
        "dollars",
        "in",
        "cash",
        "then",
        "he",
        "leaves",
    ]
    starts = [w.start_sample for w in words]
    assert starts == sorted(starts) and 0 <= starts[0] and words[-1].end_sample <= total
    assert text[words[0].char_start : words[0].char_end] == "Dr."
    assert text[words[-1].char_start : words[-1].char_end] == "leaves."
    # a word's timing lies on its own utterance's chunks
    for c in chunks:
        for w in c.words:
            assert w.start_sample >= c.start_sample


def _f0(y: np.ndarray, sr: int) -> float:
    """Median autocorrelation pitch over voiced 40 ms frames (a rough estimator, enough for ratios)."""
    n = int(0.04 * sr)
    est = []
    for i in range(0, len(y) - n, n):
        f = y[i : i + n] - y[i : i + n].mean()
        if np.sqrt(np.mean(f**2)) < 0.02:
            continue
        ac = np.correlate(f, f, "full")[n - 1 :]
        lo, hi = int(sr / 400), int(sr / 70)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            est.append(sr / lag)
    return float(np.median(est))


@pytest.mark.integration
def test_pitch_shift_moves_f0_and_keeps_duration(engine: Engine) -> None:
    text = "We were away a year ago, all alone."
    base = engine.synthesize(text, settings=SpeakSettings(seed=2))
    up = engine.synthesize(text, settings=SpeakSettings(seed=2, pitch_semitones=4))
    ratio = _f0(up, 24000) / _f0(base, 24000)
    assert 2 ** (3 / 12) < ratio < 2 ** (5 / 12), ratio
    assert abs(len(up) - len(base)) <= 0.02 * len(base)


@pytest.mark.integration
def test_volume_changes_level_without_clipping(engine: Engine) -> None:
    text = "The volume of this sentence changes."
    base = engine.synthesize(text, settings=SpeakSettings(seed=3))
    quiet = engine.synthesize(text, settings=SpeakSettings(seed=3, volume_db=-12))
    loud = engine.synthesize(text, settings=SpeakSettings(seed=3, volume_db=12))
    rms = lambda y: float(np.sqrt(np.mean(y**2)))  # noqa: E731
    assert abs(20 * np.log10(rms(quiet) / rms(base)) + 12) < 0.5
    assert rms(loud) > 2.5 * rms(base) and np.abs(loud).max() < 1.0


@pytest.mark.integration
@pytest.mark.parametrize("voice", ["heart", "joe"])
def test_durations_cover_the_frames(engine: Engine, voice: str) -> None:
    v = engine.voice(voice)
    fr = v.acoustic(v.phonemize("Hello there, my friend."), 1.0)
    assert fr.token_frames is not None and int(round(float(fr.token_frames.sum()))) == fr.n_frames
    assert fr.alignment[-1][2] <= fr.n_frames


@pytest.mark.integration
@pytest.mark.parametrize(("voice", "speed"), [("heart", 3.0), ("heart", 4.0), ("joe", 3.0)])
def test_speeds_beyond_the_model_use_time_scaling(engine: Engine, voice: str, speed: float) -> None:
    text = "Every winter the lake freezes over and families come to skate on the ice."
    base = engine.synthesize(text, voice=voice, settings=SpeakSettings(seed=4, speed=2.0))
    fast = engine.synthesize(text, voice=voice, settings=SpeakSettings(seed=4, speed=speed))
    ratio = len(base) / len(fast)
    assert abs(ratio - speed / 2.0) < 0.15 * speed / 2.0, ratio
    # words and length from one rendering: Piper's durations are not seeded (joe's renderings
    # differ by a few percent), and the last word ends close to the end of fast speech
    chunks = list(engine.stream(text, voice=voice, settings=SpeakSettings(seed=4, speed=speed)))
    words = [w for c in chunks for w in c.words]
    assert len(words) == 14 and words[-1].end_sample <= sum(c.samples.size for c in chunks) + 1


@pytest.mark.integration
def test_pitch_shift_for_a_voice_without_native_pitch(engine: Engine) -> None:
    text = "We were away a year ago, all alone."
    # Piper's noise is drawn inside the ONNX graph (not seedable), so every rendering has its own
    # durations and intonation: one pair's f0 ratio strayed 2 semitones from the shift (a flaky
    # test, seen in CI). Pool five renderings on each side so the ratio measures the shift.
    base = [engine.synthesize(text, voice="joe", settings=SpeakSettings(seed=2)) for _ in range(5)]
    up = [
        engine.synthesize(text, voice="joe", settings=SpeakSettings(seed=2, pitch_semitones=4))
        for _ in range(5)
    ]
    ratio = _f0(np.concatenate(up), 22050) / _f0(np.concatenate(base), 22050)
    # pooled ratios measured 3.1-4.4 semitones for the 4 asked (8 trials) and 2.98 once in CI (a
    # rough estimator on joe's random intonation): 2.5-5.5 still tells a 4-semitone shift from 0 or 8
    assert 2 ** (2.5 / 12) < ratio < 2 ** (5.5 / 12), ratio
    # two renderings differ in length by a few percent; the shift itself keeps length
    n_base, n_up = sum(map(len, base)), sum(map(len, up))
    assert abs(n_up - n_base) <= 0.12 * n_base
