"""Fast speech: the model's real speed-up, the per-sample speeds, the time-scaled stream and its
word timings (unit parts pure; integration parts with real voices)."""

from __future__ import annotations

import numpy as np
import pytest
from parley_engine import Engine, SpeakSettings
from parley_engine.engine import PAUSE_WEIGHT, _fast_speeds, _SpeedQueue, _uniform_pieces
from parley_engine.voices.base import AcousticFrames, alignment_from_durations
from parley_engine.voices.hibari import _speedup
from parley_kernels import rateplan

TEXT = "Every winter the lake freezes over and families come to skate on the ice."


def _frames(symbols: str, durations: list[int], speedup: float | None = None) -> AcousticFrames:
    d = np.asarray(durations, np.float32)
    n = int(d.sum())
    return AcousticFrames(
        n, 100, 0, n, d, None, alignment_from_durations(list(symbols), d, list(range(len(symbols)))), speedup
    )


def test_fast_speeds_meet_the_rest_of_the_speed_and_favour_short_symbols() -> None:
    # symbols: a (2 frames), b (8), "," (6), c (2); the model already gave 1.5x of the 3x asked
    fr = _frames("ab,c", [2, 8, 6, 2], speedup=1.5)
    speeds, mean = _fast_speeds(fr, 0, fr.n_frames, 0, 3.0, 1.25)
    assert mean == pytest.approx(2.0)  # 3 / 1.5: the model's real speed-up, not the 1.25 asked
    assert speeds.size == 18 * 100
    assert float(np.sum(1.0 / speeds)) == pytest.approx(1800 / 2.0)
    a, b, comma = speeds[0], speeds[200], speeds[1000]
    assert b / a == pytest.approx(2.0)  # sqrt(8 / 2): the long symbol is compressed harder
    assert comma / a == pytest.approx((1 / np.sqrt(2)) / PAUSE_WEIGHT)  # pauses nearly vanish


def test_fast_speeds_follow_the_decoded_range_and_the_cut() -> None:
    fr = _frames("abc", [4, 4, 4], speedup=None)  # no report: the model speed asked is assumed
    speeds, mean = _fast_speeds(fr, 2, 10, 50, 4.0, 2.0)
    assert mean == pytest.approx(2.0)
    assert speeds.size == 8 * 100 - 50  # frames [2, 10), the first 50 samples cut
    assert float(np.sum(1.0 / speeds)) == pytest.approx(speeds.size / 2.0)  # what is kept: exact
    even, _ = _fast_speeds(fr, 0, 12, 0, 4.0, 2.0, by_symbols=False)
    np.testing.assert_allclose(even, 2.0)
    assert _fast_speeds(fr, 5, 5, 0, 3.0, 1.0)[0].size == 0


def test_fast_speeds_stay_within_the_planner_and_exact() -> None:
    # a long pause beside one short symbol at 4x: the pause would go faster than the planner's
    # bound; it stays at the bound and the symbol gives up the difference
    fr = _frames("a.", [2, 60])
    speeds, _ = _fast_speeds(fr, 0, 62, 0, 4.0, 1.0)
    assert float(speeds.max()) <= rateplan.MAX_SPEED * (1 + 1e-12)
    assert float(np.sum(1.0 / speeds)) == pytest.approx(6200 / 4.0)


def test_uniform_pieces_cover_the_samples() -> None:
    sp = np.concatenate([np.full(450, 2.0), np.full(200, 4.0)])
    ins, outs = _uniform_pieces(sp, 300)
    assert ins.tolist() == [300.0, 300.0, 50.0]
    assert outs.tolist() == pytest.approx([150.0, 150 / 2 + 150 / 4, 50 / 4])
    assert _uniform_pieces(np.zeros(0), 300)[0].size == 0


def test_speed_queue_hands_out_speeds_in_order() -> None:
    q = _SpeedQueue()
    q.put(2.0, 3)
    q.put(np.asarray([5.0, 6.0]), 2)
    q.put(1.0, 0)
    assert q.take(2).tolist() == [2.0, 2.0]
    assert q.take(2).tolist() == [2.0, 5.0]
    assert q.take(5).tolist() == [6.0, 6.0, 6.0, 6.0, 6.0]  # (past the end: the last speed)
    assert q.take(0).size == 0


def test_hibari_speedup_compares_with_the_durations_at_speed_one() -> None:
    raw = np.asarray([12.7, 1.0, 2.1, 3.2, 5.0, 13.0])  # pad, 4 tokens, pad (duration units)
    at_125 = np.maximum(np.round(raw / 1.25), 1.0) * 2  # frames at speed 1.25: 20 2 4 6 8 20
    assert _speedup(raw, at_125.astype(np.float32), 0, int(at_125.sum())) == pytest.approx(
        np.maximum(np.round(raw), 1).sum() * 2 / at_125.sum()
    )
    # the speech frames only: tokens 1..4 (frames 20..40 at 1.25, 26..48 at 1.0)
    assert _speedup(raw, at_125.astype(np.float32), 20, 40) == pytest.approx(22 / 20)
    same = np.maximum(np.round(raw), 1.0).astype(np.float32) * 2
    assert _speedup(raw, same, 3, 50) == 1.0
    assert _speedup(raw, same, 5, 5) == 1.0


def test_heart_brings_the_model_in_between_2x_and_3x() -> None:
    from types import SimpleNamespace

    from parley_engine.voices.hibari import HibariVoice

    v = SimpleNamespace(MODEL_RAMP=HibariVoice.MODEL_RAMP, max_model_speed=HibariVoice.max_model_speed)
    got = [HibariVoice.model_speed(v, s) for s in (0.5, 1.0, 2.0, 2.5, 3.0, 4.0)]  # type: ignore[arg-type]
    assert got == pytest.approx([0.5, 1.0, 1.0, 1.25, 1.5, 1.5])
    v.max_model_speed = 1.0  # benchmarks/fastspeech.py --model-speeds 1: never the model
    assert HibariVoice.model_speed(v, 3.0) == 1.0  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def engine(heart_and_joe: Engine) -> Engine:
    return heart_and_joe


@pytest.mark.integration
def test_heart_reports_what_its_model_delivered(engine: Engine) -> None:
    v = engine.voice("heart")
    ph = v.phonemize(TEXT)
    one, fast = v.acoustic(ph, 1.0), v.acoustic(ph, 1.25)
    assert one.speedup == 1.0
    assert fast.speedup is not None and 1.03 < fast.speedup < 1.25
    ratio = (one.speech_end_frame - one.speech_start_frame) / (
        fast.speech_end_frame - fast.speech_start_frame
    )
    assert ratio == pytest.approx(fast.speedup, rel=0.05)


@pytest.mark.integration
@pytest.mark.parametrize("speed", [1.25, 2.0, 3.0, 4.0])
def test_heart_delivers_the_speed_asked(engine: Engine, speed: float) -> None:
    base = engine.synthesize(TEXT, voice="heart", settings=SpeakSettings(seed=3))
    fast = engine.synthesize(TEXT, voice="heart", settings=SpeakSettings(seed=3, speed=speed))
    assert len(base) / len(fast) == pytest.approx(speed, rel=0.02)


def test_piper_speedup_is_whole_frames_at_speed_one_over_whole_frames_now() -> None:
    from parley_engine.voices.piper import _speedup as piper_speedup

    raw = np.array([0.0, 0.4, 1.2, 2.6, 0.5])  # frames per id at speed 2 (ids 0 masked)
    # now: ceil -> 0+1+2+3+1 = 7; at 1.0: ceil(raw x 2) -> 0+1+3+6+1 = 11
    assert piper_speedup(raw, 2.0) == pytest.approx(11 / 7)
    assert piper_speedup(raw, 1.0) == 1.0
    assert piper_speedup(np.zeros(3), 2.0) == 1.0


@pytest.mark.integration
@pytest.mark.parametrize("speed", [2.0, 3.0, 4.0])
def test_joe_delivers_the_speed_asked(engine: Engine, speed: float) -> None:
    """joe's model at length_scale / 2 is only ~1.55x faster (whole frames); it reports that, and
    time-scaling makes up the rest. Its durations are drawn at random in the graph, so several
    renderings are pooled."""
    base = sum(len(engine.synthesize(TEXT, voice="joe", settings=SpeakSettings(seed=s))) for s in range(4))
    fast = sum(
        len(engine.synthesize(TEXT, voice="joe", settings=SpeakSettings(seed=s, speed=speed)))
        for s in range(4)
    )
    assert base / fast == pytest.approx(speed, rel=0.06)


@pytest.mark.integration
def test_word_timings_are_carried_through_the_time_map(engine: Engine) -> None:
    text = "The first sentence is short. The second one, with a comma, is a little longer."

    def words(speed: float) -> tuple[list[tuple[str, int, int]], int]:
        chunks = list(engine.stream(text, voice="heart", settings=SpeakSettings(seed=5, speed=speed)))
        total = sum(c.samples.size for c in chunks)
        return [(w.word, w.start_sample, w.end_sample) for c in chunks for w in c.words], total

    slow, n_slow = words(1.0)
    fast, n_fast = words(3.0)
    assert [w for w, _, _ in fast] == [w for w, _, _ in slow]
    assert all(a <= b <= n_fast + 1 for _, a, b in fast)
    assert all(p[1] <= q[1] for p, q in zip(fast, fast[1:], strict=False))
    # the same place in the sentence: within 6 % of the clip (the map is not uniform)
    for (_, a1, b1), (_, a3, b3) in zip(slow, fast, strict=True):
        assert abs(a3 / n_fast - a1 / n_slow) < 0.06 and abs(b3 / n_fast - b1 / n_slow) < 0.06


@pytest.mark.integration
def test_streamed_equals_one_shot_and_repeats(engine: Engine) -> None:
    s = SpeakSettings(seed=2, speed=3.0)
    chunks = list(engine.stream(TEXT, voice="heart", settings=s))
    assert all(c.start_sample == sum(x.samples.size for x in chunks[:i]) for i, c in enumerate(chunks))
    streamed = np.concatenate([c.samples for c in chunks])
    np.testing.assert_array_equal(streamed, engine.synthesize(TEXT, voice="heart", settings=s))
    np.testing.assert_array_equal(streamed, engine.synthesize(TEXT, voice="heart", settings=s))


@pytest.mark.integration
def test_fast_speech_through_the_pitch_shifter(engine: Engine) -> None:
    # joe has no native pitch: the speeds queue must follow the shifter's output
    plain = engine.synthesize(TEXT, voice="joe", settings=SpeakSettings(seed=1, speed=3.0))
    up = SpeakSettings(seed=1, speed=3.0, pitch_semitones=3)
    shifted = list(engine.stream(TEXT, voice="joe", settings=up))
    n = sum(c.samples.size for c in shifted)
    # Piper's durations are not seeded: the two renderings differ by a few percent
    assert abs(n - len(plain)) <= 0.12 * len(plain)
    words = [w for c in shifted for w in c.words]
    assert len(words) == 14 and words[-1].end_sample <= n + 1
