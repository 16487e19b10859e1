"""Protocol v2 on one connection: a thin asyncio adapter over :mod:`parley_server.protocol_v2`.

Every protocol decision (validation, text buffering, the frame header, terminal messages) is made
by :class:`~parley_server.protocol_v2.ServerProtocolV2`. What lives here:

* **One writer per connection.** Each context queues its outgoing items (timestamps, frames, its
  end) in its own FIFO; the writer sends the protocol's control messages first, then one item of
  each context with something to send, round-robin, so all contexts interleave fairly. An item is
  handed to the protocol only when the writer is about to send it, so a ``cancel`` takes effect at
  once: no frame of the context is sent after ``cancelled``. Frames leave at most
  ``send_ahead_ms`` ahead of a real-time listener (in slices of ~100 ms), so the socket never
  holds a burst of seconds of audio that a ``cancelled`` (or another context's frame) would
  queue behind. The writer hands the protocol up to 16 items at a time and sends their messages
  with one write to the socket (:mod:`parley_server.wsbatch`): a send per 20 ms frame was 46% of
  the event loop's samples with 64 contexts (py-spy).
* **One producer task per context, only while it has text to speak.** It speaks the context's
  pieces in order, each with ``engine.stream`` on the shared :class:`~parley_server.workers.WorkerPool`
  (one job per engine chunk, earliest deadline first: the deadline is when a real-time listener
  of this context would run out of audio), through the context's :class:`~parley_server.output.Output`.
  An idle context has no task: it costs only its state.
* **Backpressure.** Each context's queued audio has water marks (``high_water_ms`` /
  ``low_water_ms``); so has the connection's total (``connection_high_water_ms`` / ``..._low_...``).
  A context pauses at its own high mark, or when the connection is over its high mark and the
  context already holds ``low_water_ms`` (so that no context starves while another hogs the
  budget); it resumes when the writer drains it.
* **Cancel and disconnect.** The context's cancel token is set, its queue dropped; the chunk being
  computed is the only waste. On disconnect every context stops and the connection's handler
  waits for their tasks (and for any running job) before it returns.
* **Latency budgets.** A timer calls :meth:`ServerProtocolV2.poll` at ``next_due_s()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from parley_engine.errors import EmptyTextError, ParleyError
from parley_engine.types import AudioChunk, CancelToken, SpeakSettings
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .flow import FlowControl, WaterMarks
from .output import Output, OutputFormat, OutputState, map_words
from .protocol import SEED_MAX, ErrorCode, ProtocolErrorEvent, _short
from .protocol_v2 import (
    ContextConfig,
    EndContext,
    EventV2,
    OpenContext,
    ServerProtocolV2,
    SpeakPieces,
    StopContext,
    UpdateContext,
    WordStamp,
)
from .textbuffer import Piece
from .workers import await_job, wait_uncancellable
from .wsbatch import send_many

if TYPE_CHECKING:
    from .app import ParleyServer, SynthesisEngine

__all__ = ["ContextConnection"]

log = logging.getLogger("parley.server.v2")

# A peer that floods us with messages while not reading our replies stops being read once this many
# replies are waiting (TCP backpressure instead of an unbounded outbox).
_MAX_OUTBOX_MESSAGES = 64
# A context held back by send_ahead_ms is sent again in slices of about this much audio.
_SEND_GRANULE_S = 0.1
# Items handed to the protocol before its messages go out in one write (~20 KB of 20 ms frames).
_MAX_BATCH = 16
# Real-time pacing resumes once a context is this much below high_water_ms ahead of its listener.
_PACE_HYSTERESIS_MS = 250.0


# --------------------------------------------------------------------------------------------------
# Worker jobs (run on the pool's threads)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    frames: list[bytes]
    words: list[WordStamp]
    chunks: int
    finished: bool
    busy_s: float


@dataclass
class _PieceRun:
    """One piece being spoken: its engine iterator and where it sits in the context's output."""

    piece: Piece
    it: Iterator[AudioChunk] | None = None
    lead_in: int = 0  # pause samples (voice rate) pushed before the engine's audio


def _open_piece(
    engine: SynthesisEngine,
    cfg: ContextConfig,
    settings: SpeakSettings,
    run: _PieceRun,
    out: Output,
    state: OutputState,
    token: CancelToken,
) -> _Step:
    """Open the engine stream of a piece and compute its first chunk (one job, one hop)."""
    t0 = time.perf_counter()
    try:
        run.it = engine.stream(run.piece.text, voice=cfg.voice, settings=settings, cancel=token)
    except EmptyTextError:  # nothing speakable in the piece after all: it just has no audio
        run.it = iter(())
    out.begin_piece(state)
    frames = out.push(state, np.zeros(run.lead_in, np.float32)) if run.lead_in else []
    step = _step_piece(cfg, run, out, state, token, t0)
    return _Step(frames + step.frames, step.words, step.chunks, step.finished, time.perf_counter() - t0)


def _step_piece(
    cfg: ContextConfig,
    run: _PieceRun,
    out: Output,
    state: OutputState,
    token: CancelToken,
    t0: float | None = None,
) -> _Step:
    t0 = time.perf_counter() if t0 is None else t0
    assert run.it is not None
    frames: list[bytes] = []
    words: list[WordStamp] = []
    chunk = None if token.cancelled else next(run.it, None)
    if chunk is not None:
        if chunk.sample_rate_hz != cfg.voice_rate_hz:
            raise RuntimeError(
                f"engine chunk at {chunk.sample_rate_hz} Hz from a {cfg.voice_rate_hz} Hz voice"
            )
        if cfg.timestamps != "none" and chunk.words:
            words = map_words(
                chunk.words, out, state, char_offset=run.piece.start_char, lead_in_samples=run.lead_in
            )
        frames = out.push(state, chunk.samples)
    elif not token.cancelled:
        frames = out.end_piece(state)
    return _Step(frames, words, int(chunk is not None), chunk is None, time.perf_counter() - t0)


def _close_piece(run: _PieceRun) -> None:
    close = getattr(run.it, "close", None)
    if callable(close):
        close()


# --------------------------------------------------------------------------------------------------
# One context
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    pcm: bytes
    audio_ms: float
    piece_end: bool


@dataclass(frozen=True)
class _Stamps:
    words: list[WordStamp]


@dataclass(frozen=True)
class _Spoken:
    end_char: int


@dataclass(frozen=True)
class _End:
    pass


@dataclass(frozen=True)
class _Fail:
    code: str
    message: str
    field: str | None


_Item = _Frame | _Stamps | _Spoken | _End | _Fail


class _Context:
    def __init__(self, conn: ContextConnection, cfg: ContextConfig) -> None:
        self.conn = conn
        self.cfg = cfg
        self.settings = cfg.settings
        self.token = CancelToken()
        self.items: deque[_Item] = deque()
        self.flow = FlowControl(conn.server.config.water_marks)
        self.pieces: deque[Piece] = deque()
        self.ended = False
        self.stopped = False  # cancelled, disconnected, or its terminal item delivered
        self.failed = False  # a terminal error is queued: speak nothing more
        self.task: asyncio.Task[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self.output = Output(OutputFormat(cfg.voice_rate_hz, cfg.sample_rate_hz, cfg.format, cfg.frame_ms))
        self.out_state = self.output.init_state()
        self.run_out_s: float | None = None  # when a real-time listener runs out of our audio
        self.sent_until = 0.0  # ... of the audio sent so far (time.monotonic)
        self.send_at = 0.0  # when held frames may go (see ContextConnection._write)
        self._pacing = False  # paused for being high_water_ms ahead of real time
        self.pause_ms = 0.0  # pause owed after the last piece spoken
        self.spoken = 0
        self.chunks = 0
        self.synthesis_s = 0.0
        self.paused_s = 0.0

    # -- driven by the connection (event loop) -----------------------------------------------------

    def speak(self, pieces: tuple[Piece, ...]) -> None:
        self.pieces.extend(pieces)
        self._ensure_task()

    def end(self) -> None:
        self.ended = True
        self._ensure_task()

    def stop(self) -> None:
        """Cancel token, drop what is queued, wake the producer: it ends within one chunk."""
        self.stopped = True
        self.token.cancel()
        self.pieces.clear()
        dropped = sum(i.audio_ms for i in self.items if isinstance(i, _Frame))
        self.items.clear()
        self.flow.remove(dropped)
        self.conn.audio_removed(dropped)
        self._writable.set()

    def pop(self) -> _Item:
        item = self.items.popleft()
        if isinstance(item, _Frame):
            if self.flow.remove(item.audio_ms):
                self._writable.set()
            self.conn.audio_removed(item.audio_ms)
        return item

    def wake(self) -> None:
        self._writable.set()

    # -- producer ----------------------------------------------------------------------------------

    def _ensure_task(self) -> None:
        if self.task is None and not self.stopped and not self.failed:
            self.task = asyncio.create_task(self._produce(), name=f"parley-context-{self.cfg.id}")
            self.conn.tasks.add(self.task)
            self.task.add_done_callback(self.conn.tasks.discard)

    def _put(self, item: _Item) -> None:
        if self.stopped:
            return
        self.items.append(item)
        if isinstance(item, _Frame):
            self.flow.add(item.audio_ms)
            self.conn.audio_added(item.audio_ms)
        self.conn.ready(self)

    def _blocked(self) -> bool:
        """Paused by the water marks of unsent audio (a slow reader)."""
        if self.stopped:
            return False
        if self.flow.paused:
            return True
        return self.conn.flow.paused and self.flow.buffered_ms >= self.flow.marks.low_ms

    def _ahead_ms(self) -> float:
        """Audio produced that a real-time listener has not heard yet."""
        return 0.0 if self.run_out_s is None else max(0.0, 1000.0 * (self.run_out_s - time.monotonic()))

    async def _wait_for_room(self) -> None:
        """Wait while the reader is slow (water marks on unsent audio: until low_water_ms is left)
        or while we are more than high_water_ms ahead of a real-time listener (until 250 ms of that
        has played): so cancel wastes little, and one context cannot run away with the CPU. The
        real-time pace resumes just below the high mark, not at the low one: contexts started
        together would otherwise all stop at 2 s ahead and all resume at 0.5 s, and their next
        chunks, due together, overran two cores (64 contexts: every worker idle for ~0.5 s, then
        ~0.3 s underruns)."""
        marks = self.flow.marks
        t_pause: float | None = None
        while not self.stopped:
            if self._blocked():
                t_pause = t_pause or time.monotonic()
                self._writable.clear()
                await self._writable.wait()
                continue
            ahead = self._ahead_ms()
            resume_ms = marks.high_ms - min(_PACE_HYSTERESIS_MS, marks.high_ms - marks.low_ms)
            if ahead < marks.high_ms and not (self._pacing and ahead > resume_ms):
                self._pacing = False
                break
            self._pacing = True
            t_pause = t_pause or time.monotonic()
            self._writable.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._writable.wait(), (ahead - resume_ms) / 1000.0)
        if t_pause is not None:
            self.paused_s += time.monotonic() - t_pause

    async def _produce(self) -> None:
        try:
            while self.pieces and not self.stopped:
                await self._speak(self.pieces.popleft())
            if self.ended and not self.stopped and not self.pieces:
                self._put(_End())
        except asyncio.CancelledError:
            raise
        except ParleyError as exc:
            self._put(_Fail(exc.code, f"context {_short(self.cfg.id)}: {exc.message}", exc.field))
            self.failed = True
            self.pieces.clear()
        except Exception as exc:
            log.error("context %r (voice %r) failed unexpectedly", self.cfg.id, self.cfg.voice, exc_info=exc)
            self._put(
                _Fail(
                    ErrorCode.INTERNAL_ERROR.value,
                    f"context {_short(self.cfg.id)}: the server failed while synthesising; "
                    "its log has the details",
                    None,
                )
            )
            self.failed = True
            self.pieces.clear()
        finally:
            self.task = None

    async def _job(self, deadline_s: float, fn: Any) -> Any:
        return await await_job(self.conn.server.submit(deadline_s, fn, self.cfg.voice))

    async def _speak(self, piece: Piece) -> None:
        cfg = self.cfg
        s = self.settings
        seed = None if cfg.seed is None else (cfg.seed + self.spoken) % (SEED_MAX + 1)
        settings = SpeakSettings(
            speed=s.speed, seed=seed, pitch_semitones=s.pitch_semitones, volume_db=s.volume_db
        )
        now = time.monotonic()
        run = _PieceRun(piece)
        if self.run_out_s is not None:
            # The pause owed after the last piece, less the silence the listener already had.
            starved_ms = max(0.0, 1000.0 * (now - self.run_out_s))
            run.lead_in = int(cfg.voice_rate_hz * max(0.0, self.pause_ms - starved_ms) / 1000.0)
        deadline = now if self.run_out_s is None else self.run_out_s
        engine = self.conn.server.engine
        token, out, state = self.token, self.output, self.out_state
        try:
            step: _Step = await self._job(
                deadline, partial(_open_piece, engine, cfg, settings, run, out, state, token)
            )
            while True:
                self.synthesis_s += step.busy_s
                self.chunks += step.chunks
                if step.words:
                    self._put(_Stamps(step.words))
                for i, pcm in enumerate(step.frames):
                    last = step.finished and i == len(step.frames) - 1
                    self._put(_Frame(pcm, out.format.ms(len(pcm)), last))
                step_ms = sum(out.format.ms(len(f)) for f in step.frames)
                if step_ms:
                    t = time.monotonic()
                    base = t if self.run_out_s is None else max(self.run_out_s, t)
                    self.run_out_s = base + step_ms / 1000.0
                if step.finished:
                    self._put(_Spoken(piece.end_char))
                    self.spoken += 1
                    self.pause_ms = piece.pause_after_ms / s.speed
                    return
                await self._wait_for_room()
                if self.stopped:
                    return
                deadline = self.run_out_s if self.run_out_s is not None else time.monotonic()
                step = await self._job(deadline, partial(_step_piece, cfg, run, out, state, token))
        finally:
            if run.it is not None:
                try:
                    await self._job(0.0, partial(_close_piece, run))
                except Exception:
                    log.exception("closing the engine stream of context %r failed", cfg.id)


# --------------------------------------------------------------------------------------------------
# One connection
# --------------------------------------------------------------------------------------------------


class ContextConnection:
    """A protocol v2 connection: reader (this task), one writer task, producers per context."""

    def __init__(self, server: ParleyServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.proto = ServerProtocolV2(server.info_v2)
        cfg = server.config
        self.flow = FlowControl(WaterMarks(cfg.connection_high_water_ms, cfg.connection_low_water_ms))
        self.contexts: dict[str, _Context] = {}
        self.tasks: set[asyncio.Task[None]] = set()  # producers still running (also stopped ones)
        self._ready: deque[_Context] = deque()  # contexts with items to send, round-robin
        self._queued: set[_Context] = set()  # (those in _ready)
        self._held: set[_Context] = set()  # frames waiting for their send time (send_ahead_ms)
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._timer: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        self.proto.connection_made()
        writer = asyncio.create_task(self._write(), name="parley-v2-writer")
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    events = self.proto.receive_text(message)
                else:
                    events = self.proto.receive_bytes(message)
                self.handle(events)
                if self.proto.outbox_size >= _MAX_OUTBOX_MESSAGES:
                    self._drained.clear()
                    await self._drained.wait()
        except ConnectionClosed:
            pass
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self.handle(self.proto.connection_lost())
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer
            await wait_uncancellable(set(self.tasks))

    def handle(self, events: list[EventV2]) -> None:
        for ev in events:
            if isinstance(ev, OpenContext):
                self.contexts[ev.config.id] = _Context(self, ev.config)
            elif isinstance(ev, SpeakPieces):
                self.contexts[ev.context].speak(ev.pieces)
            elif isinstance(ev, EndContext):
                self.contexts[ev.context].end()
            elif isinstance(ev, UpdateContext):
                self.contexts[ev.context].settings = ev.settings
            elif isinstance(ev, StopContext):
                ctx = self.contexts.pop(ev.context, None)
                if ctx is not None:
                    ctx.stop()
            elif isinstance(ev, ProtocolErrorEvent):
                log.debug("%s: rejected a message: %s (%s)", self.ws.remote_address, ev.code, ev.message)
        self._wake.set()
        self._schedule_poll()

    # -- accounting used by the contexts ------------------------------------------------------------

    def ready(self, ctx: _Context) -> None:
        if ctx not in self._queued and ctx not in self._held:
            self._queued.add(ctx)
            self._ready.append(ctx)
        self._wake.set()

    def audio_added(self, ms: float) -> None:
        self.flow.add(ms)

    def audio_removed(self, ms: float) -> None:
        if self.flow.remove(ms):
            for ctx in self.contexts.values():
                ctx.wake()

    # -- latency budgets ---------------------------------------------------------------------------

    def _schedule_poll(self) -> None:
        due = self.proto.next_due_s()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if due is not None:
            delay = max(0.0, due - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._poll)

    def _poll(self) -> None:
        self._timer = None
        self.handle(self.proto.poll())

    # -- the writer --------------------------------------------------------------------------------

    async def _write(self) -> None:
        proto = self.proto
        lead = self.server.config.send_ahead_ms
        lead_s = None if lead is None else lead / 1000.0
        while True:
            messages = proto.data_to_send()
            if messages:
                await send_many(self.ws, messages)
                continue
            self._drained.set()
            now = time.monotonic()
            for held in [c for c in self._held if c.send_at <= now]:
                self._held.discard(held)
                self.ready(held)
            if not self._ready:
                timeout = min(c.send_at for c in self._held) - now if self._held else None
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            # Hand the protocol up to _MAX_BATCH items (round-robin over the contexts), then send
            # their messages with one write (wsbatch). Nothing awaits in between, so a cancel read
            # meanwhile still takes effect before any more of that context's frames go out.
            for _ in range(_MAX_BATCH):
                if not self._ready:
                    break
                ctx = self._ready.popleft()
                self._queued.discard(ctx)
                if ctx.stopped or not ctx.items:
                    continue
                head = ctx.items[0]
                if lead_s is not None and isinstance(head, _Frame) and ctx.sent_until - now > lead_s:
                    # Far enough ahead of a real-time listener: send the next ~100 ms a little later.
                    ctx.send_at = ctx.sent_until - lead_s + _SEND_GRANULE_S
                    self._held.add(ctx)
                    continue
                item = ctx.pop()
                self._deliver(ctx, item)
                if isinstance(item, _Frame):
                    ctx.sent_until = max(ctx.sent_until, now) + item.audio_ms / 1000.0
                if ctx.items:
                    self.ready(ctx)

    def _deliver(self, ctx: _Context, item: _Item) -> None:
        proto, cid = self.proto, ctx.cfg.id
        if isinstance(item, _Frame):
            proto.audio(cid, item.pcm, piece_end=item.piece_end)
        elif isinstance(item, _Stamps):
            proto.timestamps(cid, item.words)
        elif isinstance(item, _Spoken):
            proto.piece_spoken(cid, item.end_char)
        elif isinstance(item, _End):
            proto.done(
                cid,
                chunks=ctx.chunks,
                synthesis_ms=1000.0 * ctx.synthesis_s,
                paused_ms=1000.0 * ctx.paused_s,
            )
            self._forget(ctx)
        else:
            proto.fail(cid, item.code, item.message, item.field)
            self._forget(ctx)

    def _forget(self, ctx: _Context) -> None:
        if self.contexts.get(ctx.cfg.id) is ctx:
            del self.contexts[ctx.cfg.id]
        ctx.stopped = True
