"""Async client for Parley's WebSocket protocol v1 (a thin asyncio adapter over
:class:`parley_server.protocol.ClientProtocol`).

    async with ParleyClient("ws://127.0.0.1:8765") as client:
        print(await client.voices())
        stream = client.speak("Hello there.", voice="heart")
        async for samples in stream:          # numpy arrays, one per frame_ms frame:
            ...                               #   int16 for pcm_s16le, float32 for pcm_f32le
        print(stream.start.sample_rate_hz, stream.stats.first_audio_ms)

Several ``speak`` calls may be outstanding: the server streams them one after the other, in order.
Each stream buffers what arrives until it is read (client memory is the reader's to manage).
Errors the server reports for a request are raised from its iterator as
:class:`ParleyServerError`; a lost connection raises :class:`ParleyConnectionError`.

For scripts, :func:`synthesize` does the whole round trip and blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
from parley_server.protocol import (
    AudioReceived,
    Cancelled,
    ClientEvent,
    ClientProtocol,
    Done,
    Hello,
    ProtocolViolation,
    ServerError,
    Started,
    UnknownMessage,
    VoiceDescription,
    VoicesListed,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

__all__ = [
    "DEFAULT_URL",
    "ParleyClient",
    "ParleyClientError",
    "ParleyConnectionError",
    "ParleyServerError",
    "SpeakStream",
    "Synthesis",
    "synthesize",
    "to_float32",
]

DEFAULT_URL = "ws://127.0.0.1:8765"
log = logging.getLogger("parley.client")

Samples = npt.NDArray[np.int16] | npt.NDArray[np.float32]


class ParleyClientError(Exception):
    """Base of the client library's errors."""


class ParleyConnectionError(ParleyClientError):
    """Could not connect, or the connection broke (or the server broke the protocol)."""


class ParleyServerError(ParleyClientError):
    """The server refused or failed a request.

    code: stable error code (see docs/protocol.md), e.g. "unknown_voice".
    message: what was wrong, for a person.
    field: the request field at fault, if any.
    request_id: the request it concerns, if any.
    """

    def __init__(
        self, code: str, message: str, field: str | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(f"{code}: {message}" + (f" (field {field!r})" if field else ""))
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id


def to_float32(samples: Samples) -> npt.NDArray[np.float32]:
    """Frame samples as float32 in [-1, 1] (int16 is divided by 32768)."""
    if samples.dtype == np.int16:
        return (samples.astype(np.float32) / np.float32(32768.0)).astype(np.float32)
    return samples.astype(np.float32, copy=False)


_END = object()


class SpeakStream:
    """One ``speak`` request: an async iterator over its audio frames (numpy arrays).

    start: the ``start`` message (sample rate, format, frame length) once it has arrived.
    stats: the ``done`` message (audio_ms, first_audio_ms, chunks, ...) once the stream is complete.
    cancelled: the ``cancelled`` message if the request was cancelled (iteration then just ends).
    """

    def __init__(self, client: ParleyClient, request_id: str) -> None:
        self._client = client
        self.id = request_id
        self.start: Started | None = None
        self.stats: Done | None = None
        self.cancelled: Cancelled | None = None
        self._items: deque[object] = deque()
        self._wakeup = asyncio.Event()
        self._started = asyncio.Event()
        self._error: BaseException | None = None
        self._ended = False

    @property
    def ended(self) -> bool:
        """True once the server has ended the request (done, cancelled or error)."""
        return self._ended

    def __aiter__(self) -> AsyncIterator[Samples]:
        return self

    async def __anext__(self) -> Samples:
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items[0]
        if item is _END:
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        self._items.popleft()
        assert isinstance(item, np.ndarray)
        return item

    async def started(self) -> Started:
        """Wait for the ``start`` message (raises if the request fails before it)."""
        while self.start is None:
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise ParleyClientError(f"request {self.id!r} ended before it started")
            self._started.clear()
            await self._started.wait()
        return self.start

    async def cancel(self) -> None:
        """Ask the server to cancel this request; iteration ends when it confirms."""
        await self._client.cancel(self.id)

    async def read_all(self) -> npt.NDArray[np.float32]:
        """Every remaining frame, concatenated, as float32 in [-1, 1]."""
        parts = [to_float32(s) async for s in self]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    # -- fed by the client's reader ---------------------------------------------------------------

    def _on_start(self, started: Started) -> None:
        self.start = started
        self._started.set()

    def _on_audio(self, samples: Samples) -> None:
        self._items.append(samples)
        self._wakeup.set()

    def _finish(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        self._error = error
        self._items.append(_END)
        self._wakeup.set()
        self._started.set()


class ParleyClient:
    """A connection to a Parley server. Use as ``async with ParleyClient(url) as client:``."""

    def __init__(self, url: str = DEFAULT_URL, *, open_timeout_s: float = 10.0) -> None:
        self.url = url
        self.open_timeout_s = open_timeout_s
        self._proto = ClientProtocol()
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._streams: dict[str, SpeakStream] = {}
        self._voice_waiters: deque[asyncio.Future[list[VoiceDescription]]] = deque()
        self._hello: asyncio.Future[Hello] | None = None
        self._closed_error: ParleyClientError | None = None

    @property
    def hello(self) -> Hello:
        if self._proto.hello is None:
            raise ParleyClientError("not connected")
        return self._proto.hello

    async def __aenter__(self) -> ParleyClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._hello = loop.create_future()
        try:
            self._ws = await connect(
                self.url, compression=None, open_timeout=self.open_timeout_s, max_size=4 << 20
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise ParleyConnectionError(f"cannot connect to {self.url}: {exc}") from exc
        self._reader = asyncio.create_task(self._read(self._ws), name="parley-client-reader")
        self._writer = asyncio.create_task(self._write(self._ws), name="parley-client-writer")
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
        ws = self._ws
        if ws is not None:
            await ws.close()
        for task in (self._writer, self._reader):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._fail_all(ParleyConnectionError("the client closed the connection"))

    # -- requests ---------------------------------------------------------------------------------

    async def voices(self) -> list[VoiceDescription]:
        """The voices the server offers."""
        fut: asyncio.Future[list[VoiceDescription]] = asyncio.get_running_loop().create_future()
        self._voice_waiters.append(fut)
        self._send(self._proto.voices())
        return await fut

    def speak(
        self,
        text: str,
        *,
        voice: str | None = None,
        format: str | None = None,
        frame_ms: int | None = None,
        speed: float | None = None,
        seed: int | None = None,
        language: str | None = None,
        id: str | None = None,
    ) -> SpeakStream:
        """Send a ``speak`` request now; returns its stream. Server-side validation errors are
        raised when the stream is iterated."""
        self._check_open()
        rid, message = self._proto.speak(
            text,
            id=id,
            voice=voice,
            format=format,
            frame_ms=frame_ms,
            speed=speed,
            seed=seed,
            language=language,
        )
        stream = SpeakStream(self, rid)
        self._streams[rid] = stream
        self._send(message)
        return stream

    async def cancel(self, request_id: str) -> None:
        """Ask the server to cancel ``request_id`` (queued or streaming). The request's stream
        ends when the server's ``cancelled`` arrives; cancelling a finished request is a no-op."""
        self._check_open()
        self._send(self._proto.cancel(request_id))

    # -- plumbing ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed_error is not None:
            raise self._closed_error
        if self._ws is None:
            raise ParleyClientError("not connected: use `async with ParleyClient(url)`")

    def _send(self, message: str) -> None:
        self._outgoing.put_nowait(message)

    async def _write(self, ws: ClientConnection) -> None:
        try:
            while True:
                await ws.send(await self._outgoing.get())
        except ConnectionClosed:
            pass

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
            self._proto.connection_lost()
            closed = ParleyConnectionError(f"the server closed the connection (code {ws.close_code})")
            self._fail_all(error or closed)

    def _dispatch(self, ev: ClientEvent) -> ParleyClientError | None:
        if isinstance(ev, AudioReceived):
            stream = self._streams.get(ev.id)
            if stream is not None:
                stream._on_audio(ev.samples)
        elif isinstance(ev, Started):
            stream = self._streams.get(ev.id)
            if stream is not None:
                stream._on_start(ev)
        elif isinstance(ev, Done):
            stream = self._streams.pop(ev.id, None)
            if stream is not None:
                stream.stats = ev
                stream._finish()
        elif isinstance(ev, Cancelled):
            stream = self._streams.pop(ev.id, None)
            if stream is not None:
                stream.cancelled = ev
                stream._finish()
        elif isinstance(ev, ServerError):
            err = ParleyServerError(ev.code, ev.message, ev.field, ev.id)
            if ev.ends_request and ev.id is not None:
                stream = self._streams.pop(ev.id, None)
                if stream is not None:
                    stream._finish(err)
            else:
                log.warning("server error not tied to a request: %s", err)
        elif isinstance(ev, VoicesListed):
            if self._voice_waiters:
                fut = self._voice_waiters.popleft()
                if not fut.done():
                    fut.set_result(list(ev.voices))
        elif isinstance(ev, Hello):
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
        for stream in self._streams.values():
            stream._finish(error)
        self._streams.clear()
        while self._voice_waiters:
            fut = self._voice_waiters.popleft()
            if not fut.done():
                fut.set_exception(error)
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(error)
            self._hello.exception()  # retrieved: connect() reports it


@dataclass(frozen=True)
class Synthesis:
    """Result of :func:`synthesize`: float32 mono samples in [-1, 1] and the server's stats."""

    samples: npt.NDArray[np.float32]
    sample_rate_hz: int
    stats: Done

    def __iter__(self) -> Iterator[Any]:
        """Allows ``samples, sample_rate_hz, stats = synthesize(...)``."""
        return iter((self.samples, self.sample_rate_hz, self.stats))


def synthesize(
    url: str,
    text: str,
    *,
    voice: str | None = None,
    speed: float | None = None,
    seed: int | None = None,
    format: str = "pcm_f32le",
    frame_ms: int | None = None,
) -> Synthesis:
    """Blocking: speak ``text`` on the server at ``url`` and return the whole audio.

    Returns a :class:`Synthesis` that also unpacks as ``(samples, sample_rate_hz, stats)``.
    Must not be called from a running event loop (use :class:`ParleyClient` there).
    """

    async def run() -> Synthesis:
        async with ParleyClient(url) as client:
            stream = client.speak(text, voice=voice, format=format, speed=speed, seed=seed, frame_ms=frame_ms)
            samples = await stream.read_all()
            assert stream.start is not None and stream.stats is not None
            return Synthesis(samples, stream.start.sample_rate_hz, stream.stats)

    return asyncio.run(run())
