"""The Engine facade: load voices once, then stream any number of requests concurrently."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from parley_kernels import pitch, rateplan, tsm

from .cache import PhraseCache
from .errors import AssetError, EmptyTextError, InputError, TextTooLongError, UnknownVoiceError
from .ssml import MarkEvent, chunk_phonemes, speak_ssml
from .text import TextChunk, plan_chunks
from .types import AudioChunk, CancelToken, PhonemeTiming, SpeakSettings, VoiceInfo, WordTiming
from .voices.base import AcousticFrames, Voice
from .voices.registry import catalogue

__all__ = ["Engine", "StreamPlan"]

log = logging.getLogger("parley.engine")

FloatArray = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

LEAD_FRAMES = 0  # frames kept before the first frame with speech
TAIL_FRAMES = 2  # frames kept after the last frame with speech (release of the last phoneme)
FADE_MS = 2.5  # fade-in/out at the trimmed edges, so no cut ever clicks
#: An utterance's audio starts at the first 2.5 ms window above this level (the model's onset ramp
#: below it is inaudible and would only delay the first audible sample), minus the fade-in.
ONSET_DBFS = -50.0
#: Fast speech (speeds beyond the model's own): the output time of an utterance is first shared
#: out between its phoneme symbols in proportion to the square root of each one's duration (short
#: consonants keep more of their length than long vowels), punctuation pauses and the model's
#: silent edges at this weight per frame (relative to 1 / sqrt(frames) for a symbol) - nearly
#: nothing; then :mod:`parley_kernels.rateplan` shares each ~200 ms out by spectral change and
#: WSOLA renders the map. Measured with benchmarks/fastspeech.py (results/fastspeech-*.json).
PAUSE_WEIGHT = 0.02
PUNCTUATION = frozenset('.,!?;:—…"“”()')
#: Experiments (benchmarks/fastspeech.py sets them for a run; read when a stream starts): share an
#: utterance's output time between its symbols (else every sample at the utterance's mean speed),
#: and share each ~200 ms by spectral change (else uniformly within it).
FAST_BY_SYMBOLS = True
FAST_BY_FLUX = True


def soft_limit(x: FloatArray, knee: float = 0.9) -> FloatArray:
    """Stateless soft limiter: identity below ``knee``, above it a curve with a continuous slope
    that approaches 1.0 without reaching it (no clicks, no hard clipping)."""
    a = np.abs(x)
    over = a > knee
    if not over.any():
        return x
    y = x.copy()
    head = 1.0 - knee
    t = (a[over] - knee) / head
    y[over] = np.sign(x[over]) * np.minimum(knee + head * t / (1.0 + t), np.float32(0.9999))
    return y


def _onset(x: FloatArray, window: int, threshold: float) -> int | None:
    """Index of the first `window`-sample block whose RMS reaches `threshold` (None if none does)."""
    n = x.size // window
    if n == 0:
        return None
    blocks = x[: n * window].reshape(n, window)
    loud = np.flatnonzero(np.einsum("ij,ij->i", blocks, blocks) >= threshold * threshold * window)
    return int(loud[0]) * window if loud.size else None


@dataclass(frozen=True)
class StreamPlan:
    """What a request will speak: the voice and its text chunks (for inspection and tests).

    phonemes: (start_char, end_char, phonemes) spans of the text to speak from the given phonemes
        (already in the voice's alphabet) instead of its G2P — SSML ``<phoneme>``.
    """

    voice: Voice
    chunks: list[TextChunk]
    settings: SpeakSettings
    phonemes: tuple[tuple[int, int, str], ...] = ()


class Engine:
    """Loads voices once and streams audio for text.

        engine = Engine.load()                 # every voice whose assets are installed
        engine.warmup()                        # compile kernels, prime ONNX sessions
        for chunk in engine.stream("Hello there.", voice="heart"):
            play(chunk.samples)                # float32 mono, chunk.sample_rate_hz

    Thread-safe: the loaded weights are shared and immutable; each ``stream`` owns its state, so
    many streams can be iterated concurrently from different threads.
    """

    MAX_TEXT_CHARS = 20_000

    def __init__(self, voices: dict[str, Voice], *, default_voice: str | None = None) -> None:
        if not voices:
            raise AssetError("no voice could be loaded")
        self._voices = dict(voices)
        self.default_voice = default_voice or next(iter(self._voices))
        if self.default_voice not in self._voices:
            raise UnknownVoiceError(f"default voice {self.default_voice!r} is not loaded", field="voice")
        self.missing: dict[str, str] = {}
        self._warm = False
        self._warm_lock = threading.Lock()

    @classmethod
    def load(cls, voices: Sequence[str] | None = None, *, threads: int = 1) -> Engine:
        """Load the named voices (None: every known voice whose assets are installed).

        A named voice that cannot be loaded raises AssetError; with ``voices=None`` the voices that
        fail are skipped and listed in ``engine.missing`` (id → reason).
        """
        known = catalogue()
        wanted = list(known) if voices is None else list(voices)
        loaded: dict[str, Voice] = {}
        missing: dict[str, str] = {}
        shared: dict[str, object] = {}
        for vid in wanted:
            if vid not in known:
                raise UnknownVoiceError(
                    f"unknown voice {vid!r}; known voices: {', '.join(sorted(known))}", field="voice"
                )
            try:
                t0 = time.perf_counter()
                loaded[vid] = known[vid].load(threads, shared)
                log.info("loaded voice %s in %.0f ms", vid, 1e3 * (time.perf_counter() - t0))
            except AssetError as e:
                if voices is not None:
                    raise
                missing[vid] = e.message
                log.warning("voice %s not available: %s", vid, e.message)
        engine = cls(loaded)
        engine.missing = missing
        return engine

    # -- catalogue --------------------------------------------------------------------------------
    def voices(self) -> list[VoiceInfo]:
        return [v.info for v in self._voices.values()]

    def voice(self, voice_id: str | None = None) -> Voice:
        vid = self.default_voice if voice_id is None else voice_id
        try:
            return self._voices[vid]
        except (KeyError, TypeError):
            raise UnknownVoiceError(
                f"unknown voice {vid!r}; available: {', '.join(sorted(self._voices))}", field="voice"
            ) from None

    def sample_rate_hz(self, voice_id: str | None = None) -> int:
        return self.voice(voice_id).sample_rate_hz

    def warmup(self) -> None:
        """Compile kernels and prime every voice's sessions on real shapes (idempotent)."""
        with self._warm_lock:
            if self._warm:
                return
            for v in self._voices.values():
                v.warmup()
            tsm.warmup()  # time-scaling and its rate planner: speeds beyond the models'
            rateplan.warmup()
            self._warm = True

    # -- synthesis --------------------------------------------------------------------------------
    def plan(self, text: str, voice: str | None = None, settings: SpeakSettings | None = None) -> StreamPlan:
        """Validate a request and split its text into chunks; raises InputError subclasses."""
        v = self.voice(voice)
        if not isinstance(text, str):
            raise InputError("text must be a string", field="text")
        if len(text) > self.MAX_TEXT_CHARS:
            raise TextTooLongError(
                f"text has {len(text)} characters; the limit is {self.MAX_TEXT_CHARS}", field="text"
            )
        chunks = (
            plan_chunks(text, max_chars=v.max_chunk_chars, first_max_words=v.first_chunk_max_words)
            if text.strip()
            else []
        )
        if not chunks:
            raise EmptyTextError("text is empty: nothing to speak", field="text")
        return StreamPlan(v, chunks, settings or SpeakSettings())

    def stream(
        self,
        text: str,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[AudioChunk]:
        """Validate now (raising InputError subclasses), then return an iterator of audio chunks.

        Each ``next()`` does a few ms of CPU work (never call it on an event loop). ``cancel`` is
        checked before every chunk; once it is set the iterator ends without yielding more.
        """
        plan = self.plan(text, voice, settings)
        return self._generate(plan, cancel or CancelToken())

    def stream_ssml(
        self,
        ssml: str,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
        *,
        punctuation: str = "none",
        capitals: str = "none",
        cache: PhraseCache | None = None,
    ) -> Iterator[AudioChunk | MarkEvent]:
        """Speak an SSML document: audio chunks in order, with a :class:`MarkEvent` yielded just
        before the chunk holding the mark's sample (``sample_offset`` in the stream's samples).

        Validates now (unknown voice, blank or oversized input raise InputError subclasses);
        markup that cannot be used is spoken as its text with a logged warning, never refused.
        ``punctuation``/``capitals``: screen-reader modes (see ``text.screenreader``);
        ``cache``: short runs are served from, and stored in, this phrase cache.
        See :mod:`parley_engine.ssml` for the elements and :func:`speak_ssml` for the stream.
        """
        return speak_ssml(
            self, ssml, voice, settings, cancel, punctuation=punctuation, capitals=capitals, cache=cache
        )

    def stream_cached(
        self,
        text: str,
        cache: PhraseCache,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[AudioChunk]:
        """``stream`` through a phrase cache: a hit yields the stored chunks at once (the first
        in microseconds), a miss streams as usual and stores the audio once it is complete."""
        return cache.stream(self, text, voice, settings, cancel)

    def synthesize(
        self, text: str, voice: str | None = None, settings: SpeakSettings | None = None
    ) -> FloatArray:
        """The whole audio of ``text`` as one float32 array (convenience over ``stream``)."""
        parts = [c.samples for c in self.stream(text, voice, settings)]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    @staticmethod
    def _words(
        voice: Voice,
        chunk: TextChunk,
        frames: AcousticFrames,
        start: int,
        end: int,
        cut: int,
        at_sample: int,
    ) -> tuple[WordTiming, ...]:
        """Word timings of an utterance whose frame ``start`` was decoded, ``cut`` samples dropped
        before its onset, and whose first kept sample is the stream's sample ``at_sample``."""
        if not frames.alignment:
            return ()
        hop = frames.samples_per_frame

        last = at_sample + (end - start) * hop - cut

        def to_sample(f: int) -> int:
            return min(last, max(at_sample, at_sample + (f - start) * hop - cut))

        return voice.word_timings(chunk.text, frames.alignment, to_sample, chunk.start_char)

    def _generate(self, plan: StreamPlan, cancel: CancelToken) -> Iterator[AudioChunk]:
        """The voice's utterances, then the request's effects in order: pitch shift (for voices
        without native pitch), time-scale modification (speeds beyond the model's own range),
        gain with a soft limiter. Each effect is a streaming kernel with its state owned here.

        Time-scaling is non-uniform (fast speech stays intelligible longer that way): each
        utterance says how fast each of its samples should go on average (``_fast_speeds``: the
        rest of the requested speed after the model's own, shared out between its phonemes), the
        rate planner (:mod:`parley_kernels.rateplan`) turns that and the audio's spectral change
        into a time map, and WSOLA (:mod:`parley_kernels.tsm`, mapped) renders it. Word timings
        are mapped through the same map, so they are sent once the map covers them."""
        v, settings = plan.voice, plan.settings
        sr = v.sample_rate_hz
        speed = float(settings.speed)
        model_speed = v.model_speed(speed)
        fast = speed > model_speed * (1.0 + 1e-6) or (v.reports_speedup and speed > 1.0 + 1e-6)
        shifter = (
            pitch.init_state(sr, float(settings.pitch_semitones))
            if settings.pitch_semitones and not v.native_pitch
            else None
        )
        stretcher = tsm.init_state(sr, min(tsm.MAX_SPEED, speed / model_speed), mapped=True) if fast else None
        planner = rateplan.init_state(sr) if fast and FAST_BY_FLUX else None
        piece = round(rateplan.FRAME_MS * sr / 1000)  # time-map piece without the planner
        speeds = _SpeedQueue()  # per-sample speeds of the audio not yet through the shifter
        gain = float(10 ** (settings.volume_db / 20)) if settings.volume_db else 1.0
        pos = 0
        pending: tuple[WordTiming, ...] = ()
        unmapped: list[WordTiming] = []  # word timings (input positions) the map does not reach yet

        def post(x: FloatArray) -> FloatArray:
            if shifter is not None:
                x = pitch.push(shifter, x)
            if stretcher is not None:
                sp = speeds.take(x.size)
                if planner is not None:
                    ins, outs = rateplan.push(planner, x, sp)
                else:
                    ins, outs = _uniform_pieces(sp, piece)
                tsm.extend_map(stretcher, ins, outs)
                x = tsm.push(stretcher, x)
            return x

        def map_words(final: bool) -> None:
            nonlocal pending, unmapped
            if stretcher is None or not unmapped:
                return
            reach = float(stretcher.map_in[-1])
            ready = [w for w in unmapped if final or w.end_sample <= reach]
            if ready:
                unmapped = [w for w in unmapped if not (final or w.end_sample <= reach)]
                pending += tuple(_mapped(w, stretcher) for w in ready)

        def chunk_of(x: FloatArray, idx: int) -> AudioChunk | None:
            nonlocal pos, pending
            if x.size == 0:
                return None
            if gain != 1.0:
                x = soft_limit(x * np.float32(gain))
            c = AudioChunk(np.ascontiguousarray(x, dtype=np.float32), sr, pos, idx, pending)
            pending = ()
            pos += x.size
            return c

        last_idx = 0
        for raw, idx, words, piece_speeds in self._utterances(
            plan, cancel, model_speed, speed if fast else None
        ):
            last_idx = idx
            if words:
                if stretcher is None:
                    pending += words
                else:
                    unmapped.extend(words)
            if fast:
                speeds.put(piece_speeds, raw.size)
            out = post(raw)
            map_words(final=False)
            c = chunk_of(out, idx)
            if c is not None:
                yield c
        if cancel.cancelled or (shifter is None and stretcher is None):
            return
        tail = pitch.flush(shifter) if shifter is not None else np.zeros(0, np.float32)
        if stretcher is not None:
            sp = speeds.take(tail.size)
            if planner is not None:
                ins, outs = rateplan.push(planner, tail, sp)
                tsm.extend_map(stretcher, ins, outs)
                ins, outs = rateplan.flush(planner)
            else:
                ins, outs = _uniform_pieces(sp, piece)
            tsm.extend_map(stretcher, ins, outs)
            tail = np.concatenate([tsm.push(stretcher, tail), tsm.flush(stretcher)])
            map_words(final=True)
        c = chunk_of(tail, last_idx)
        if c is not None:
            yield c

    def _utterances(
        self, plan: StreamPlan, cancel: CancelToken, model_speed: float, fast_speed: float | None = None
    ) -> Iterator[tuple[FloatArray, int, tuple[WordTiming, ...], F64 | float]]:
        """(samples, utterance index, word timings, speeds) at the voice's rate and the model's
        speed: each utterance trimmed to its onset, faded at both edges, separated by punctuation
        pauses. ``fast_speed``: the request's speed when time-scaling must supply the rest of it;
        ``speeds`` then says how fast each sample should go on average (see ``_fast_speeds``;
        pauses: ``fast_speed / model_speed``, so they last ``pause_after_ms / fast_speed``), else
        it is 1.0."""
        v, settings = plan.voice, plan.settings
        sr = v.sample_rate_hz
        fade = max(1, int(sr * FADE_MS / 1000))
        ramp_in = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
        ramp_out = ramp_in[::-1].copy()
        onset_level = float(10 ** (ONSET_DBFS / 20))
        pos = 0  # samples yielded so far
        pause = 0  # samples of silence owed before the next utterance
        pause_speed = 1.0 if fast_speed is None else fast_speed / model_speed

        for idx, chunk in enumerate(plan.chunks):
            if cancel.cancelled:
                return
            phonemes = chunk_phonemes(v, chunk, plan.phonemes) if plan.phonemes else v.phonemize(chunk.text)
            if not phonemes.strip():
                continue
            frames = v.acoustic(phonemes, model_speed)
            if frames.speech_end_frame <= frames.speech_start_frame:
                continue
            start = max(0, frames.speech_start_frame - LEAD_FRAMES)
            end = min(frames.n_frames, frames.speech_end_frame + TAIL_FRAMES)
            seed = None if settings.seed is None else settings.seed + idx
            if settings.pitch_semitones and v.native_pitch:
                state = v.init_decoder(frames, start, end, seed, float(settings.pitch_semitones))
            else:
                state = v.init_decoder(frames, start, end, seed)
            schedule = v.decode_schedule_frames
            if pause and pos:
                yield np.zeros(pause, np.float32), idx, (), pause_speed
                pos += pause
            first = True
            speeds = _Speeds(None, 1.0)  # replaced once the onset (the cut) is known
            skipped = 0  # decoded samples dropped before the onset
            held = np.zeros(0, np.float32)  # last `fade` samples, kept back for the fade-out
            words: tuple[WordTiming, ...] = ()
            step = 0
            while state.remaining_frames > 0:
                if cancel.cancelled:
                    return
                n = schedule[min(step, len(schedule) - 1)]
                step += 1
                out = v.decode(state, n)
                if out.size == 0:
                    continue
                if first:
                    at = _onset(out, fade, onset_level)
                    if at is None:
                        skipped += out.size
                        continue  # still below the onset level: nothing audible to send yet
                    cut = skipped + max(0, at - fade)
                    out = out[max(0, at - fade) :].copy()
                    k = min(fade, out.size)
                    out[:k] *= ramp_in[:k]
                    first = False
                    words = self._words(v, chunk, frames, start, end, cut, pos)
                    speeds = _utterance_speeds(frames, start, end, cut, fast_speed, model_speed)
                buf = np.concatenate([held, out]) if held.size else out
                held = buf[-fade:]
                if buf.size > fade:
                    yield buf[:-fade], idx, words, speeds.take(buf.size - fade)
                    pos += buf.size - fade
                    words = ()
            if cancel.cancelled:
                return
            tail = v.finish(state)
            if first:  # nothing reached the onset level before the tail
                at = _onset(tail, fade, onset_level)
                if at is None:
                    continue
                cut = skipped + max(0, at - fade)
                words = self._words(v, chunk, frames, start, end, cut, pos)
                speeds = _utterance_speeds(frames, start, end, cut, fast_speed, model_speed)
                tail = tail[max(0, at - fade) :].copy()
                tail[: min(fade, tail.size)] *= ramp_in[: min(fade, tail.size)]
            buf = np.concatenate([held, tail]) if held.size else tail.copy()
            k = min(fade, buf.size)
            if k:
                buf[-k:] *= ramp_out[-k:]
            yield np.ascontiguousarray(buf, dtype=np.float32), idx, words, speeds.take(buf.size)
            pos += buf.size
            pause = int(sr * chunk.pause_after_ms / 1000 / model_speed)


def _mapped(w: WordTiming, stretcher: tsm.TsmState) -> WordTiming:
    """A word timing with its sample positions carried through a time-scale map."""

    def at(x: int) -> int:
        return int(tsm.output_position(stretcher, x))

    return WordTiming(
        w.word,
        w.char_start,
        w.char_end,
        at(w.start_sample),
        at(w.end_sample),
        tuple(PhonemeTiming(p.phoneme, at(p.start_sample), at(p.end_sample)) for p in w.phonemes),
    )


def _fast_speeds(
    frames: AcousticFrames,
    start: int,
    end: int,
    cut: int,
    speed: float,
    model_speed: float,
    *,
    by_symbols: bool = True,
) -> tuple[F64, float]:
    """Per-sample speeds for an utterance whose frames [start, end) were decoded and whose first
    ``cut`` samples were dropped, so that time-scaling brings it to ``speed`` in all: the rest
    after the model's own speed-up (``frames.speedup``, else ``model_speed``) shared out between
    its phoneme symbols in proportion to sqrt(frames) each; punctuation and frames outside every
    symbol get ``PAUSE_WEIGHT`` per frame. The kept samples' 1 / speed sum to their count /
    rest. Also returns the rest (the utterance's mean speed)."""
    hop = frames.samples_per_frame
    n = max(0, end - start)
    model = frames.speedup if frames.speedup and frames.speedup > 0 else model_speed
    rest = min(rateplan.MAX_SPEED, max(speed / model, 1.0))
    if n == 0:
        return np.zeros(0, np.float64), rest
    weight = np.full(n, PAUSE_WEIGHT if by_symbols and frames.alignment else 1.0)
    for sym, a, b in frames.alignment if by_symbols else ():
        if b <= a or sym in PUNCTUATION:
            continue
        lo, hi = max(a, start) - start, min(b, end) - start
        if hi > lo:
            weight[lo:hi] = 1.0 / np.sqrt(b - a)
    # the samples kept (after the cut) get output time in proportion to their frame's weight,
    # none faster than the planner accepts: those at that bound keep it and the others share
    # what is left (a few rounds settle it)
    w = np.repeat(weight, hop)[cut:]
    if w.size == 0:
        return np.zeros(0, np.float64), rest
    target = w.size / rest
    out = w * (target / float(np.sum(w)))
    floor = 1.0 / rateplan.MAX_SPEED
    for _ in range(8):
        if not np.any(out < floor):
            break
        free = out > floor
        left = target - floor * float(np.sum(~free))
        out = np.where(free, out * (left / float(np.sum(out[free]))), floor)
    return 1.0 / np.maximum(out, floor), rest


def _uniform_pieces(speeds: F64, hop: int) -> tuple[F64, F64]:
    """Time-map pieces of ``hop`` samples (the last shorter), each at its samples' mean speed."""
    n = speeds.size
    if n == 0:
        return np.zeros(0), np.zeros(0)
    edges = np.arange(0, n + hop, hop).clip(max=n)
    edges = edges[np.concatenate(([True], np.diff(edges) > 0))]
    inv = np.concatenate(([0.0], np.cumsum(1.0 / speeds)))
    return np.diff(edges).astype(np.float64), np.diff(inv[edges])


def _utterance_speeds(
    frames: AcousticFrames, start: int, end: int, cut: int, fast_speed: float | None, model_speed: float
) -> _Speeds:
    """An utterance's per-sample speeds once its first ``cut`` samples are dropped (``_fast_speeds``);
    every sample at 1.0 when time-scaling has nothing to add (``fast_speed`` None)."""
    if fast_speed is None:
        return _Speeds(None, 1.0)
    return _Speeds(
        *_fast_speeds(frames, start, end, cut, fast_speed, model_speed, by_symbols=FAST_BY_SYMBOLS)
    )


class _Speeds:
    """One utterance's per-sample speeds (None: every sample at ``mean``), handed out in order;
    past their end (more audio than the frames promised), the utterance's mean speed."""

    def __init__(self, speeds: F64 | None, mean: float) -> None:
        self._speeds = speeds
        self._mean = mean
        self._pos = 0

    def take(self, n: int) -> F64 | float:
        if self._speeds is None:
            return self._mean
        part = self._speeds[self._pos : self._pos + n]
        self._pos += n
        if part.size < n:
            part = np.concatenate([part, np.full(n - part.size, self._mean)])
        return part


class _SpeedQueue:
    """Per-sample speeds of audio on its way to the rate planner (the pitch shifter delays the
    audio, not its timing: its output sample i is input sample i)."""

    def __init__(self) -> None:
        self._parts: list[F64] = []
        self._head = 0  # samples of _parts[0] already taken

    def put(self, speeds: F64 | float, n: int) -> None:
        if n > 0:
            part = np.full(n, speeds) if isinstance(speeds, float) else np.asarray(speeds, np.float64)
            self._parts.append(part)

    def take(self, n: int) -> F64:
        out: list[F64] = []
        while n > 0 and self._parts:
            part = self._parts[0][self._head : self._head + n]
            out.append(part)
            n -= part.size
            self._head += part.size
            if self._head >= self._parts[0].size:
                self._parts.pop(0)
                self._head = 0
        if n > 0:  # (never: the shifter returns no more than it was given)
            out.append(np.full(n, out[-1][-1] if out and out[-1].size else 1.0))
        return np.concatenate(out) if out else np.zeros(0, np.float64)
