"""Plain HTTP on the WebSocket port: OpenAI's ``POST /v1/audio/speech``, streamed.

websockets' HTTP layer reads GET requests without a body only, so requests that need one are
taken away from it before it sees them, on the same listening socket:

* :func:`connection_class` makes the ``create_connection`` class that :func:`websockets serve
  <websockets.asyncio.server.serve>` builds for every accepted TCP connection (its documented
  hook for customising connections). That class holds the connection back from websockets until
  the request line has arrived (at most 8 KiB, within 10 s).
* A request line for websockets (``GET`` on any path but ``/v1/...``: the WebSocket handshakes,
  ``/health``, the browser client's files) is then replayed into the websockets connection,
  which goes on exactly as if it had read it itself.
* Any other request (another method, or a path under ``/v1/``) goes to :class:`HttpApi`: the
  transport is switched to an asyncio stream, and an HTTP/1.1 handler (``h11``) reads the request
  and answers it, then closes the connection (``Connection: close``; no keep-alive).

``POST /v1/audio/speech`` (:mod:`parley_server.openai_speech` validates the body) is synthesised
like a protocol v1 request: the engine stream is opened and each of its chunks computed as one job
on the server's :class:`~parley_server.workers.WorkerPool` (earliest deadline first, never on the
event loop), resampled to 24 kHz and encoded as s16le on the worker. The response head is sent
with the first chunk (so that a request the engine refuses still gets a JSON error and a 4xx), and
the body is sent chunked as the audio is made; the next chunk is computed while the previous one
is sent, and computing stops when the socket's buffers are full (the client reads slowly).

A client that closes the connection (or its sending half) while the audio streams, or stops
reading for :data:`SEND_TIMEOUT_S`, stops the synthesis: the cancel token is set, the job in
flight (one engine chunk) is awaited and the engine iterator closed, as for a WebSocket request.
An engine failure after the head was sent cannot change the status any more: it is logged and
the connection aborted, so that the client sees an incomplete body rather than a short one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

import h11
import numpy as np
from parley_engine.errors import ParleyError
from parley_engine.types import AudioChunk, CancelToken, SpeakSettings
from parley_kernels import resample
from websockets.asyncio.server import ServerConnection

from .openai_speech import (
    MAX_BODY_BYTES,
    OUTPUT_RATE_HZ,
    SPEECH_PATH,
    ApiError,
    SpeechRequest,
    api_error_for,
    content_type,
    parse_speech_request,
    wav_header,
)
from .output import encode
from .workers import await_job, wait_uncancellable
from .wsbatch import BatchingConnection

if TYPE_CHECKING:
    from .app import ParleyServer, SynthesisEngine

__all__ = ["HttpApi", "connection_class", "routed_to_http"]

log = logging.getLogger("parley.server.http")

#: Longest request line we wait for before handing the bytes to websockets (which refuses them).
REQUEST_LINE_MAX_BYTES = 8192
#: A connection that has not sent its request line by then is closed (websockets' open_timeout).
REQUEST_LINE_TIMEOUT_S = 10.0
#: The whole request (head and body) must arrive within this (408 otherwise).
REQUEST_TIMEOUT_S = 30.0
#: Largest request head (431 beyond).
MAX_HEAD_BYTES = 16 * 1024
#: A client that reads nothing of the audio for this long is dropped.
SEND_TIMEOUT_S = 60.0
#: After an error sent before the request body was read: how long unread input is drained before
#: closing (closing with unread input makes the kernel reset the connection, and the client could
#: lose the response).
LINGER_S = 2.0
_WRITE_HIGH_WATER_BYTES = 64 * 1024


def routed_to_http(method: bytes, target: bytes) -> bool:
    """Whether a request line goes to :class:`HttpApi` (True) or to websockets (False)."""
    path = target.split(b"?", 1)[0]
    return method != b"GET" or path == b"/v1" or path.startswith(b"/v1/")


def _request_line(head: bytes) -> tuple[bytes, bytes] | None:
    end = head.find(b"\n")
    if end < 0:
        return None
    parts = head[:end].rstrip(b"\r").split(b" ")
    if len(parts) != 3:
        return None
    return parts[0], parts[1]


# --------------------------------------------------------------------------------------------------
# The websockets connection that waits for the request line
# --------------------------------------------------------------------------------------------------


class _RoutingConnection(BatchingConnection):
    """A websockets connection that first reads the request line, then either goes on as
    websockets' own connection or hands the transport to :attr:`api`."""

    api: HttpApi  # set by connection_class()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # websockets' connection_made() (which starts its handshake task) waits for the decision.
        self._routing: bool = True
        self._routing_head = bytearray()
        self._routing_transport = cast(asyncio.Transport, transport)
        self._routing_timer: asyncio.TimerHandle | None = self.loop.call_later(
            REQUEST_LINE_TIMEOUT_S, self._routing_transport.abort
        )
        self.api._routing.add(self)

    def data_received(self, data: bytes) -> None:
        if not self._routing:
            super().data_received(data)
            return
        self._routing_head += data
        if b"\n" not in self._routing_head and len(self._routing_head) < REQUEST_LINE_MAX_BYTES:
            return
        head = bytes(self._routing_head)
        transport = self._routing_transport
        self._end_routing()
        line = _request_line(head)
        if line is not None and routed_to_http(*line):
            self.api.take_over(transport, head)
            return
        super().connection_made(transport)
        super().data_received(head)

    def eof_received(self) -> None:
        if not self._routing:
            super().eof_received()
        # Before the request line: nothing to answer; returning None closes the transport.

    def connection_lost(self, exc: Exception | None) -> None:
        if self._routing:
            self._end_routing()
            return
        super().connection_lost(exc)

    def _end_routing(self) -> None:
        self._routing = False
        self._routing_head = bytearray()
        if self._routing_timer is not None:
            self._routing_timer.cancel()
            self._routing_timer = None
        self.api._routing.discard(self)

    def abort_routing(self) -> None:
        """Server shutdown: drop a connection whose request line has not arrived."""
        if self._routing:
            self._routing_transport.abort()


def connection_class(api: HttpApi) -> type[ServerConnection]:
    """The ``create_connection`` class for websockets' serve(): routes plain HTTP to ``api``."""
    return cast(type[ServerConnection], type("ParleyConnection", (_RoutingConnection,), {"api": api}))


# --------------------------------------------------------------------------------------------------
# Synthesis jobs (run on the worker pool, never on the loop)
# --------------------------------------------------------------------------------------------------


@dataclass
class _Stream:
    it: Iterator[AudioChunk]
    voice_rate_hz: int
    resampler: resample.ResamplerState | None


def _convert(stream: _Stream, samples: Any) -> bytes:
    x = np.asarray(samples, dtype=np.float32)
    if stream.resampler is not None:
        x = resample.push(stream.resampler, x)
    return encode(x, "pcm_s16le") if x.size else b""


def _step_job(stream: _Stream, cancel: CancelToken) -> tuple[bytes, bool]:
    """The next engine chunk as s16le at 24 kHz, and whether the stream has ended."""
    if cancel.cancelled:
        return b"", True
    chunk = next(stream.it, None)
    if chunk is None:
        tail = resample.flush(stream.resampler) if stream.resampler is not None else None
        return (encode(tail, "pcm_s16le") if tail is not None and tail.size else b""), True
    if chunk.sample_rate_hz != stream.voice_rate_hz:
        raise RuntimeError(
            f"engine chunk at {chunk.sample_rate_hz} Hz in a stream announced at {stream.voice_rate_hz} Hz"
        )
    return _convert(stream, chunk.samples), False


def _open_job(
    engine: SynthesisEngine, req: SpeechRequest, cancel: CancelToken
) -> tuple[_Stream, bytes, bool]:
    """Validate and open the engine stream, then compute its first chunk (one job)."""
    it = engine.stream(req.text, voice=req.voice, settings=SpeakSettings(speed=req.speed), cancel=cancel)
    try:
        rate = engine.sample_rate_hz(req.voice)
        resampler = resample.init_state(rate, OUTPUT_RATE_HZ) if rate != OUTPUT_RATE_HZ else None
        stream = _Stream(it, rate, resampler)
        data, finished = _step_job(stream, cancel)
    except BaseException:
        _close_job(it)
        raise
    return stream, data, finished


def _close_job(it: Iterator[AudioChunk]) -> None:
    close = getattr(it, "close", None)
    if callable(close):
        close()


def _audio_ms(data: bytes) -> float:
    return 1000.0 * len(data) / 2 / OUTPUT_RATE_HZ


# --------------------------------------------------------------------------------------------------
# The HTTP side
# --------------------------------------------------------------------------------------------------


class _ClientGone(Exception):
    """The client closed the connection (or stopped reading) while we answered."""


class HttpApi:
    """Serves the plain-HTTP requests taken from websockets by :func:`connection_class`."""

    def __init__(self, server: ParleyServer) -> None:
        self.server = server
        self._routing: set[_RoutingConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._speaking = 0
        self._closing = False

    @property
    def active(self) -> int:
        """Speech requests being synthesised or streamed right now."""
        return self._speaking

    def take_over(self, transport: asyncio.Transport, head: bytes) -> None:
        """Serve ``transport`` (whose first bytes, already read, are ``head``) as plain HTTP."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER_BYTES)
        sndbuf = self.server.config.socket_send_buffer_bytes
        sock = transport.get_extra_info("socket")
        if sndbuf is not None and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        reader.feed_data(head)
        task = loop.create_task(self._serve(reader, writer), name="parley-http")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Server shutdown: drop connections still sending their request line, stop every HTTP
        request (their synthesis winds down within one chunk) and wait for them."""
        self._closing = True
        for conn in list(self._routing):
            conn.abort_routing()
        tasks = set(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- one connection ---------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        method = [b""]  # the request's, once read
        try:
            try:
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        req = await self._read_request(conn, reader, writer, method)
                except TimeoutError:
                    raise ApiError(
                        HTTPStatus.REQUEST_TIMEOUT,
                        f"the request did not arrive within {REQUEST_TIMEOUT_S:g} s",
                        code="request_timeout",
                    ) from None
                await self._speak(conn, reader, writer, req)
            except ApiError as err:
                log.debug("%s: %d %s", peer, err.status, err.message)
                await self._send_error(conn, writer, err, head_only=method[0] == b"HEAD")
        except (_ClientGone, ConnectionError):
            log.debug("%s: the client left", peer)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("HTTP request from %s failed", peer)
            with contextlib.suppress(Exception):
                await self._send_error(
                    conn,
                    writer,
                    ApiError(
                        HTTPStatus.INTERNAL_SERVER_ERROR,
                        "the server failed while answering this request; the server log has the details",
                        code="internal_error",
                        type="server_error",
                    ),
                )
        finally:
            await self._close(conn, reader, writer)

    async def _next_event(
        self, conn: h11.Connection, reader: asyncio.StreamReader, read_size: int = 65536
    ) -> Any:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise ApiError(
                    exc.error_status_hint, f"malformed HTTP request: {exc}", code="bad_http_request"
                ) from None
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(await reader.read(read_size))

    async def _read_request(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method_out: list[bytes],
    ) -> SpeechRequest:
        # the head in small reads, so that h11 sees a head over MAX_HEAD_BYTES while incomplete
        event = await self._next_event(conn, reader, 4096)
        if not isinstance(event, h11.Request):
            raise _ClientGone()
        method_out[0] = event.method
        target = event.target.decode("latin-1")
        path = target.split("?", 1)[0]
        method = event.method.decode("latin-1")
        if path != SPEECH_PATH:
            if not path.startswith("/v1"):
                raise ApiError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"{method} is not allowed on {path}; this server answers GET there, "
                    f"and POST on {SPEECH_PATH}",
                    code="method_not_allowed",
                    headers=[("Allow", "GET")],
                )
            raise ApiError(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}", code="not_found")
        if method != "POST":
            raise ApiError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{SPEECH_PATH} takes POST, not {method}",
                code="method_not_allowed",
                headers=[("Allow", "POST")],
            )
        headers = {k.lower(): v for k, v in event.headers}
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        length = headers.get(b"content-length")
        if length is None and not chunked:
            raise ApiError(
                HTTPStatus.LENGTH_REQUIRED,
                "the request needs a Content-Length header (a JSON body)",
                code="length_required",
            )
        if length is not None and int(length) > MAX_BODY_BYTES:  # h11 has checked it is a number
            raise ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the request body has {int(length)} bytes; the limit is {MAX_BODY_BYTES}",
                code="request_too_large",
            )
        if self._closing:
            raise ApiError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "the server is shutting down",
                code="unavailable",
                type="server_error",
            )
        if conn.they_are_waiting_for_100_continue:
            go_on = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
            writer.write(conn.send(go_on) or b"")
        body = bytearray()
        while True:
            event = await self._next_event(conn, reader)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    raise ApiError(
                        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"the request body is larger than the limit of {MAX_BODY_BYTES} bytes",
                        code="request_too_large",
                    )
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise _ClientGone()
        info = self.server.info
        return parse_speech_request(
            bytes(body),
            voices=[v.id for v in info.voices],
            default_voice=info.default_voice,
            max_text_chars=info.max_text_chars,
        )

    def _headers(self, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [("Server", self.server.info.server), ("Connection", "close"), *extra]

    async def _send_error(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, err: ApiError, *, head_only: bool = False
    ) -> None:
        """Send ``err`` as the response, if no response has been started (``head_only``: the
        request was HEAD, whose response has no body)."""
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE) or writer.is_closing():
            return
        body = err.body()
        headers = self._headers(
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                *err.headers,
            ]
        )
        if err.status == HTTPStatus.SERVICE_UNAVAILABLE:
            headers.append(("Retry-After", "1"))
        reason = HTTPStatus(err.status).phrase.encode()
        writer.write(conn.send(h11.Response(status_code=err.status, headers=headers, reason=reason)) or b"")
        if not head_only:
            writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(LINGER_S):
                await writer.drain()

    async def _close(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            if conn.their_state is not h11.DONE and not writer.is_closing() and not self._closing:
                # Unread input (a body we refused, say): send our FIN, drain theirs for a moment.
                with contextlib.suppress(OSError, RuntimeError, TimeoutError):
                    if writer.can_write_eof():
                        writer.write_eof()
                    async with asyncio.timeout(LINGER_S):
                        while await reader.read(65536):
                            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # -- synthesis --------------------------------------------------------------------------------

    async def _speak(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        req: SpeechRequest,
    ) -> None:
        server = self.server
        if self._speaking >= server.config.max_connections:
            raise ApiError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"this server streams at most {server.config.max_connections} HTTP requests at once; "
                "try again later",
                code="server_busy",
                type="server_error",
            )
        self._speaking += 1
        pool = server.pool
        token = CancelToken()
        received_s = time.monotonic()
        stream: _Stream | None = None
        job: concurrent.futures.Future[tuple[bytes, bool]] | None = None
        watcher = asyncio.create_task(self._watch(reader, token), name="parley-http-watch")
        try:
            try:
                opened, data, finished = await await_job(
                    server.submit(received_s, partial(_open_job, server.engine, req, token), req.voice)
                )
                stream = opened
            except ParleyError as exc:
                raise api_error_for(exc) from None
            if token.cancelled:
                raise _ClientGone()
            headers = self._headers(
                [
                    ("Content-Type", content_type(req.response_format)),
                    ("Cache-Control", "no-store"),
                    ("X-Parley-Voice", req.voice),
                    ("X-Parley-Sample-Rate", str(OUTPUT_RATE_HZ)),
                ]
            )
            writer.write(conn.send(h11.Response(status_code=200, headers=headers, reason=b"OK")) or b"")
            if req.response_format == "wav":
                data = wav_header(OUTPUT_RATE_HZ) + data
            produced_ms = 0.0
            t0 = time.monotonic()
            while True:
                produced_ms += _audio_ms(data)
                if not finished:
                    # Earliest deadline first: when would a real-time listener run out of audio?
                    step = partial(_step_job, opened, token)
                    job = server.submit(t0 + produced_ms / 1000.0, step, req.voice)
                if data:
                    writer.write(conn.send(h11.Data(data=data)) or b"")
                await self._drain(writer, token)
                if finished:
                    break
                assert job is not None
                try:
                    data, finished = await await_job(job)
                except Exception as exc:
                    job = None
                    self._fail_mid_stream(writer, req, exc)
                    return
                job = None
                if token.cancelled:
                    raise _ClientGone()
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await self._drain(writer, token)
            log.debug(
                "spoke %d chars (voice %s) over HTTP: %.0f ms of audio", len(req.text), req.voice, produced_ms
            )
        finally:
            self._speaking -= 1
            token.cancel()
            watcher.cancel()
            waits: set[asyncio.Future[Any]] = {watcher}
            if job is not None and not job.cancel():
                waits.add(asyncio.wrap_future(job))
            await wait_uncancellable(waits)
            if stream is not None:
                try:
                    await await_job(pool.submit(0.0, partial(_close_job, stream.it)))
                except Exception:
                    log.exception("closing the engine stream of an HTTP request failed")

    def _fail_mid_stream(self, writer: asyncio.StreamWriter, req: SpeechRequest, exc: Exception) -> None:
        if isinstance(exc, ParleyError):
            log.warning(
                "HTTP speech (voice %r, %d chars) failed mid-stream: %s (%s)",
                req.voice,
                len(req.text),
                exc.message,
                exc.code,
            )
        else:
            log.error(
                "HTTP speech (voice %r, %d chars) failed unexpectedly", req.voice, len(req.text), exc_info=exc
            )
        writer.transport.abort()  # an incomplete chunked body: the client sees the failure

    async def _drain(self, writer: asyncio.StreamWriter, token: CancelToken) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await writer.drain()
        except TimeoutError:
            token.cancel()
            writer.transport.abort()
            raise _ClientGone() from None
        except ConnectionError:
            token.cancel()
            raise _ClientGone() from None

    @staticmethod
    async def _watch(reader: asyncio.StreamReader, token: CancelToken) -> None:
        """The request is read: anything more is ignored; its end (the client closed the
        connection, or its sending half) stops the synthesis."""
        with contextlib.suppress(ConnectionError, OSError):
            while await reader.read(65536):
                pass
        token.cancel()
