"""Async client for Parley's protocol v2: many contexts on one WebSocket (a thin asyncio adapter over
:class:`parley_server.protocol_v2.ClientProtocolV2`).

    async with ParleyContexts("ws://127.0.0.1:8765") as conn:
        npc = conn.create(voice="heart", timestamps="word")       # a context: its own voice/settings
        for token in llm_tokens:
            npc.send(token)                                       # spoken as clauses complete
        npc.end()
        async for frame in npc:                                   # ContextAudio: samples + offsets
            play(frame.sample_offset, frame.samples)
        print(npc.done.first_audio_ms, [w.word for w in npc.timestamps])

Frames are demultiplexed by their binary header (stream index, sequence number, sample offset);
the protocol object checks that each context's frames arrive in order and without gaps. Sending
(``send``, ``flush``, ``end``, ``update``, ``cancel``) queues the message and returns at once.
Errors that close a context are raised from its iterator as
:class:`~parley_clients.client.ParleyServerError`; other errors about it are kept in
``context.errors``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType

import numpy as np
import numpy.typing as npt
from parley_server.protocol import ProtocolViolation, UnknownMessage, VoiceDescription, VoicesListed
from parley_server.protocol_v2 import (
    SUBPROTOCOL_V2,
    ClientEventV2,
    ClientProtocolV2,
    ContextAudio,
    ContextCancelled,
    ContextCreated,
    ContextDone,
    ContextError,
    HelloV2,
    Timestamps,
    WordStamp,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from .client import DEFAULT_URL, ParleyClientError, ParleyConnectionError, ParleyServerError

__all__ = ["Context", "ParleyContexts", "decode"]

log = logging.getLogger("parley.client.v2")


def decode(frame: ContextAudio, format: str) -> npt.NDArray[np.float32]:
    """A frame's samples as float32 in [-1, 1] (int16 / 32768; G.711 through its decoder)."""
    s = frame.samples
    if format == "pcm_s16le":
        return (s.astype(np.float32) / np.float32(32768.0)).astype(np.float32)
    if format == "pcm_f32le":
        return s.astype(np.float32, copy=False)
    from parley_kernels import g711  # only clients that ask for G.711 load the kernels

    codes = s.astype(np.uint8, copy=False)
    return g711.ulaw_to_float(codes) if format == "mulaw" else g711.alaw_to_float(codes)


_END = object()


class Context:
    """One context: send it text, iterate over its audio frames.

    created: the ``created`` message (stream index, sample rate, format) once it has arrived.
    timestamps: every word timing received so far (context text offsets, output samples).
    done / cancelled: the terminal message, once it has arrived.
    errors: errors about this context that did not close it (e.g. text refused).
    """

    def __init__(self, conn: ParleyContexts, context_id: str) -> None:
        self._conn = conn
        self.id = context_id
        self.created: ContextCreated | None = None
        self.timestamps: list[WordStamp] = []
        self.done: ContextDone | None = None
        self.cancelled: ContextCancelled | None = None
        self.errors: list[ContextError] = []
        self._items: deque[object] = deque()
        self._wakeup = asyncio.Event()
        self._created = asyncio.Event()
        self._error: BaseException | None = None
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    # -- sending (queued, never blocks) ------------------------------------------------------------

    def send(self, text: str, *, flush: bool = False, end: bool = False) -> None:
        """Append text (any piece: a token, a word, a paragraph)."""
        self._conn._send(ClientProtocolV2.text(self.id, text, flush=flush, end=end))

    def flush(self) -> None:
        """Speak what is buffered now, without waiting for a clause to complete."""
        self._conn._send(ClientProtocolV2.flush(self.id))

    def end(self) -> None:
        """No more text: the context speaks what it has, then ends with ``done``."""
        self._conn._send(ClientProtocolV2.end(self.id))

    def update(
        self,
        *,
        speed: float | None = None,
        pitch_semitones: float | None = None,
        volume_db: float | None = None,
    ) -> None:
        """New settings for the pieces that have not started yet."""
        self._conn._send(
            ClientProtocolV2.update(
                self.id, speed=speed, pitch_semitones=pitch_semitones, volume_db=volume_db
            )
        )

    def cancel(self) -> None:
        """Stop now (barge-in); iteration ends when ``cancelled`` arrives."""
        self._conn._send(ClientProtocolV2.cancel(self.id))

    # -- receiving ---------------------------------------------------------------------------------

    async def wait_created(self) -> ContextCreated:
        while self.created is None:
            if self._ended:
                raise self._error or ParleyClientError(f"context {self.id!r} ended before it was created")
            self._created.clear()
            await self._created.wait()
        return self.created

    def __aiter__(self) -> AsyncIterator[ContextAudio]:
        return self

    async def __anext__(self) -> ContextAudio:
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items[0]
        if item is _END:
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        self._items.popleft()
        assert isinstance(item, ContextAudio)
        return item

    async def read_all(self) -> npt.NDArray[np.float32]:
        """Every remaining frame, concatenated, as float32 in [-1, 1]."""
        created = await self.wait_created()
        parts = [decode(f, created.format) async for f in self]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    # -- fed by the connection's reader ------------------------------------------------------------

    def _on_created(self, ev: ContextCreated) -> None:
        self.created = ev
        self._created.set()

    def _push(self, item: object) -> None:
        self._items.append(item)
        self._wakeup.set()

    def _finish(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        self._error = error
        self._push(_END)
        self._created.set()


class ParleyContexts:
    """A protocol v2 connection (subprotocol ``parley.v2``). ``async with ParleyContexts(url):``."""

    def __init__(self, url: str = DEFAULT_URL, *, open_timeout_s: float = 10.0) -> None:
        self.url = url
        self.open_timeout_s = open_timeout_s
        self._proto = ClientProtocolV2()
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._contexts: dict[str, Context] = {}
        self._voice_waiters: deque[asyncio.Future[list[VoiceDescription]]] = deque()
        self._hello: asyncio.Future[HelloV2] | None = None
        self._closed_error: ParleyClientError | None = None

    @property
    def hello(self) -> HelloV2:
        if self._proto.hello is None:
            raise ParleyClientError("not connected")
        return self._proto.hello

    async def __aenter__(self) -> ParleyContexts:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        self._hello = asyncio.get_running_loop().create_future()
        try:
            self._ws = await connect(
                self.url,
                subprotocols=[Subprotocol(SUBPROTOCOL_V2)],
                compression=None,
                open_timeout=self.open_timeout_s,
                max_size=4 << 20,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise ParleyConnectionError(f"cannot connect to {self.url}: {exc}") from exc
        if self._ws.subprotocol != SUBPROTOCOL_V2:
            await self._ws.close()
            raise ParleyConnectionError(f"{self.url} does not speak {SUBPROTOCOL_V2}")
        self._tasks = [
            asyncio.create_task(self._read(self._ws), name="parley-v2-reader"),
            asyncio.create_task(self._write(self._ws), name="parley-v2-writer"),
        ]
        try:
            async with asyncio.timeout(self.open_timeout_s):
                await asyncio.shield(self._hello)
        except TimeoutError:
            await self.close()
            raise ParleyConnectionError(f"{self.url} sent no hello within {self.open_timeout_s} s") from None
        except ParleyClientError:
            await self.close()
            raise

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        for task in self._tasks:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._fail_all(ParleyConnectionError("the client closed the connection"))

    # -- requests ----------------------------------------------------------------------------------

    def create(
        self,
        context: str | None = None,
        *,
        text: str | None = None,
        end: bool | None = None,
        voice: str | None = None,
        language: str | None = None,
        format: str | None = None,
        sample_rate_hz: int | None = None,
        frame_ms: int | None = None,
        speed: float | None = None,
        pitch_semitones: float | None = None,
        volume_db: float | None = None,
        seed: int | None = None,
        latency_budget_ms: float | bool | None = None,
        timestamps: str | None = None,
    ) -> Context:
        """Open a context now (``None`` options take the server's defaults). Validation errors
        are raised from the context's iterator."""
        if self._closed_error is not None:
            raise self._closed_error
        if self._ws is None:
            raise ParleyClientError("not connected: use `async with ParleyContexts(url)`")
        cid, message = self._proto.create(
            context,
            text=text,
            end=end,
            voice=voice,
            language=language,
            format=format,
            sample_rate_hz=sample_rate_hz,
            frame_ms=frame_ms,
            speed=speed,
            pitch_semitones=pitch_semitones,
            volume_db=volume_db,
            seed=seed,
            latency_budget_ms=latency_budget_ms,
            timestamps=timestamps,
        )
        ctx = Context(self, cid)
        self._contexts[cid] = ctx
        self._send(message)
        return ctx

    async def voices(self) -> list[VoiceDescription]:
        fut: asyncio.Future[list[VoiceDescription]] = asyncio.get_running_loop().create_future()
        self._voice_waiters.append(fut)
        self._send(ClientProtocolV2.voices())
        return await fut

    # -- plumbing ----------------------------------------------------------------------------------

    def _send(self, message: str) -> None:
        if self._closed_error is not None:
            raise self._closed_error
        self._outgoing.put_nowait(message)

    async def _write(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(await self._outgoing.get())

    async def _read(self, ws: ClientConnection) -> None:
        error: ParleyClientError | None = None
        try:
            async for message in ws:
                events = (
                    self._proto.receive_text(message)
                    if isinstance(message, str)
                    else self._proto.receive_bytes(message)
                )
                for ev in events:
                    error = self._dispatch(ev)
                    if error is not None:
                        break
                if error is not None:
                    await ws.close(1002, "protocol violation")
                    break
        except ConnectionClosed as exc:
            error = ParleyConnectionError(f"connection to {self.url} lost: {exc}")
        finally:
            self._fail_all(
                error or ParleyConnectionError(f"the server closed the connection ({ws.close_code})")
            )

    def _dispatch(self, ev: ClientEventV2) -> ParleyClientError | None:
        if isinstance(ev, ContextAudio):
            ctx = self._contexts.get(ev.context)
            if ctx is not None:
                ctx._push(ev)
        elif isinstance(ev, Timestamps):
            ctx = self._contexts.get(ev.context)
            if ctx is not None:
                ctx.timestamps.extend(ev.words)
        elif isinstance(ev, ContextCreated):
            ctx = self._contexts.get(ev.context)
            if ctx is not None:
                ctx._on_created(ev)
        elif isinstance(ev, ContextDone):
            ctx = self._contexts.pop(ev.context, None)
            if ctx is not None:
                ctx.done = ev
                ctx._finish()
        elif isinstance(ev, ContextCancelled):
            ctx = self._contexts.pop(ev.context, None)
            if ctx is not None:
                ctx.cancelled = ev
                ctx._finish()
        elif isinstance(ev, ContextError):
            err = ParleyServerError(ev.code, ev.message, ev.field, ev.context)
            ctx = self._contexts.get(ev.context) if ev.context is not None else None
            refused = ctx is not None and ctx.created is None and ev.context not in self._proto.open_contexts
            if ctx is not None and (ev.closed or refused):
                del self._contexts[ctx.id]
                ctx._finish(err)
            elif ctx is not None:
                ctx.errors.append(ev)
            else:
                log.warning("server error not tied to an open context: %s", err)
        elif isinstance(ev, VoicesListed):
            if self._voice_waiters:
                fut = self._voice_waiters.popleft()
                if not fut.done():
                    fut.set_result(list(ev.voices))
        elif isinstance(ev, HelloV2):
            if self._hello is not None and not self._hello.done():
                self._hello.set_result(ev)
        elif isinstance(ev, ProtocolViolation):
            return ParleyConnectionError(f"the server broke the protocol: {ev.message}")
        elif isinstance(ev, UnknownMessage):
            log.debug("ignoring unknown server message type %r", ev.type)
        return None

    def _fail_all(self, error: ParleyClientError) -> None:
        if self._closed_error is None:
            self._closed_error = error
        for ctx in self._contexts.values():
            ctx._finish(error)
        self._contexts.clear()
        while self._voice_waiters:
            fut = self._voice_waiters.popleft()
            if not fut.done():
                fut.set_exception(error)
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(error)
            self._hello.exception()
