"""Parley's WebSocket server: a thin asyncio adapter over :mod:`parley_server.protocol`.

What lives here is plumbing only — every protocol decision is made by
:class:`~parley_server.protocol.ServerProtocol`:

* the event loop moves messages between the socket and the protocol and schedules work;
* synthesis (``engine.stream()`` and each ``next()`` of its iterator, plus framing/encoding) runs on
  a fixed :class:`~parley_server.workers.WorkerPool`, one job per engine chunk, earliest deadline
  first, so many streams interleave fairly on few cores and nothing CPU-bound runs on the loop;
* between a request's producer (synthesis jobs) and its sender (the socket) sits a buffer with
  high/low water marks measured in audio milliseconds: the producer stops submitting jobs while
  the client reads slowly;
* a :class:`~parley_engine.CancelToken` per request is set on ``cancel`` and on disconnect; the
  in-flight job (at most one engine chunk) is awaited and the iterator closed before the
  request's task ends, so no work outlives its client;
* exceptions from the workers are re-raised on the loop: a ``ParleyError`` becomes an ``error``
  message with its code; anything else is logged with its traceback and reported as
  ``internal_error`` without internals.

Plain HTTP requests with a body (OpenAI's ``POST /v1/audio/speech``) arrive on the same port:
:mod:`parley_server.http_api` takes them from websockets after their request line.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import logging
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from http import HTTPStatus
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, TypeVar

from parley_engine.errors import ParleyError
from parley_engine.types import MAX_SPEED, MIN_SPEED, AudioChunk, CancelToken, SpeakSettings, VoiceInfo
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .config import ServerConfig, add_serve_arguments, config_from_args
from .contexts import ContextConnection
from .flow import FlowControl, WaterMarks
from .framing import Framer, FramerState
from .framing import warmup as framing_warmup
from .http_api import HttpApi, connection_class
from .output import warmup as output_warmup
from .protocol import (
    BYTES_PER_SAMPLE,
    ErrorCode,
    Event,
    ProtocolErrorEvent,
    ServerInfo,
    ServerProtocol,
    SpeakRequest,
    StartSynthesis,
    StopSynthesis,
    VoiceDescription,
)
from .protocol_v2 import SUBPROTOCOL_V1, SUBPROTOCOL_V2, ServerInfoV2
from .workers import WorkerPool, release_free_memory
from .workers import await_job as _await_job
from .workers import wait_uncancellable as _wait_uncancellable

__all__ = [
    "ParleyServer",
    "ServerConfig",
    "SynthesisEngine",
    "add_serve_arguments",
    "config_from_args",
    "load_engine",
    "main",
    "run",
    "serve",
    "server_version",
]

log = logging.getLogger("parley.server")
T = TypeVar("T")

# A peer that floods us with messages while not reading our replies stops being read once this many
# replies are waiting: TCP backpressure instead of an unbounded outbox.
_MAX_OUTBOX_MESSAGES = 64

#: Static files served to plain HTTP GETs (no WebSocket upgrade): ``/`` is ``index.html``; see
#: :func:`static_response`. WebSocket handshakes on any path are never served from here.
STATIC_DIR = Path(__file__).resolve().parent / "static"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
}


def server_version() -> str:
    try:
        return metadata.version("parley-voice")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class SynthesisEngine(Protocol):
    """What the server needs from ``parley_engine.Engine`` (thread-safe; see its docs)."""

    @property
    def MAX_TEXT_CHARS(self) -> int: ...  # noqa: N802 - mirrors the engine's class constant

    @property
    def default_voice(self) -> str: ...

    def voices(self) -> list[VoiceInfo]: ...

    def sample_rate_hz(self, voice_id: str) -> int: ...

    def stream(
        self, text: str, voice: str, settings: SpeakSettings, cancel: CancelToken
    ) -> Iterator[AudioChunk]: ...


# --------------------------------------------------------------------------------------------------
# Worker jobs (run on the pool's threads, never on the loop)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    frames: list[bytes]
    audio_ms: float
    chunks: int
    finished: bool
    busy_s: float


@dataclass(frozen=True)
class _Opened:
    it: Iterator[AudioChunk]
    framer: Framer
    state: FramerState
    first: _Step


def _open_job(engine: SynthesisEngine, req: SpeakRequest, cancel: CancelToken) -> _Opened:
    """Validate and open the engine stream, then compute its first chunk (one job, one hop)."""
    t0 = time.perf_counter()
    settings = SpeakSettings(speed=req.speed, seed=req.seed)
    it = engine.stream(req.text, voice=req.voice, settings=settings, cancel=cancel)
    try:
        framer = Framer(engine.sample_rate_hz(req.voice), req.frame_ms, req.format)
        state = framer.init_state()
        step = _step_job(it, framer, state, cancel)
    except BaseException:
        _close_job(it)
        raise
    return _Opened(it, framer, state, replace(step, busy_s=time.perf_counter() - t0))


def _step_job(it: Iterator[AudioChunk], framer: Framer, state: FramerState, cancel: CancelToken) -> _Step:
    t0 = time.perf_counter()
    frames: list[bytes] = []
    chunks = 0
    finished = False
    if not cancel.cancelled:
        chunk = next(it, None)
        if chunk is None:
            finished = True
        else:
            chunks = 1
            if chunk.sample_rate_hz != framer.sample_rate_hz:
                raise RuntimeError(
                    f"engine chunk at {chunk.sample_rate_hz} Hz in a stream "
                    f"announced at {framer.sample_rate_hz} Hz"
                )
            frames = framer.push(chunk.samples, state)
        if finished:
            tail = framer.flush(state)
            if tail is not None:
                frames.append(tail)
    width = BYTES_PER_SAMPLE[framer.format]
    audio_ms = 1000.0 * sum(len(f) for f in frames) / width / framer.sample_rate_hz
    return _Step(frames, audio_ms, chunks, finished, time.perf_counter() - t0)


def _close_job(it: Iterator[AudioChunk]) -> None:
    close = getattr(it, "close", None)
    if callable(close):
        close()


# --------------------------------------------------------------------------------------------------
# Per-request buffer with water marks
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StartItem:
    sample_rate_hz: int


@dataclass(frozen=True)
class _FrameItem:
    pcm: bytes
    audio_ms: float


@dataclass(frozen=True)
class _EndItem:
    pass


@dataclass(frozen=True)
class _ErrorItem:
    code: str
    message: str
    field: str | None


_Item = _StartItem | _FrameItem | _EndItem | _ErrorItem


class _FrameBuffer:
    """Single-producer single-consumer buffer of a request's outgoing items (event-loop side)."""

    def __init__(self, marks: WaterMarks) -> None:
        self.flow = FlowControl(marks)
        self._items: deque[_Item] = deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: _Item) -> None:
        if self._closed:
            return
        self._items.append(item)
        if isinstance(item, _FrameItem):
            self.flow.add(item.audio_ms)
            if self.flow.paused:
                self._writable.clear()
        self._readable.set()

    async def wait_writable(self) -> bool:
        """Wait while the producer is paused. False once the buffer is closed."""
        await self._writable.wait()
        return not self._closed

    async def get(self) -> _Item | None:
        """Next item, or None once closed (what is left in a closed buffer is dropped)."""
        while not self._items:
            if self._closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        if self._closed:
            return None
        item = self._items.popleft()
        if isinstance(item, _FrameItem) and self.flow.remove(item.audio_ms):
            self._writable.set()
        return item

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._readable.set()
        self._writable.set()


# --------------------------------------------------------------------------------------------------
# One request: producer (synthesis jobs) -> buffer -> sender (socket)
# --------------------------------------------------------------------------------------------------


class _RequestRun:
    def __init__(self, conn: _Connection, request: SpeakRequest) -> None:
        self.conn = conn
        self.request = request
        self.token = CancelToken()
        self.buffer = _FrameBuffer(conn.server.config.water_marks)
        self.chunks = 0
        self.synthesis_s = 0.0
        self.paused_s = 0.0
        self.task = asyncio.create_task(self._run(), name=f"parley-request-{request.id}")

    def stop(self) -> None:
        """Cancel token + wake everyone; the task then winds down within one engine chunk."""
        self.token.cancel()
        self.buffer.close()

    async def _job(self, deadline_s: float, fn: Any) -> Any:
        return await _await_job(self.conn.server.submit(deadline_s, fn, self.request.voice))

    async def _run(self) -> None:
        producer = asyncio.create_task(self._produce(), name=f"parley-synth-{self.request.id}")
        try:
            await self._send()
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("sender of request %r failed", self.request.id)
        finally:
            if not producer.done():
                self.stop()
            else:
                self.buffer.close()
            await _wait_uncancellable({producer})
            self.conn.forget(self)

    async def _produce(self) -> None:
        req = self.request
        engine = self.conn.server.engine
        it: Iterator[AudioChunk] | None = None
        try:
            opened: _Opened = await self._job(req.received_at_s, partial(_open_job, engine, req, self.token))
            it, framer, state, step = opened.it, opened.framer, opened.state, opened.first
            sample_rate_hz = framer.sample_rate_hz
            width = BYTES_PER_SAMPLE[req.format]
            self.buffer.put(_StartItem(sample_rate_hz))
            t0 = time.monotonic()
            produced_ms = 0.0
            while True:
                self.synthesis_s += step.busy_s
                self.chunks += step.chunks
                produced_ms += step.audio_ms
                for pcm in step.frames:
                    self.buffer.put(_FrameItem(pcm, 1000.0 * len(pcm) / width / sample_rate_hz))
                if step.finished:
                    self.buffer.put(_EndItem())
                    return
                if self.buffer.flow.paused:
                    t_pause = time.monotonic()
                    ok = await self.buffer.wait_writable()
                    self.paused_s += time.monotonic() - t_pause
                    if not ok:
                        return
                if self.token.cancelled:
                    return
                # Earliest deadline first: when would a real-time listener run out of audio?
                deadline_s = t0 + produced_ms / 1000.0
                step = await self._job(deadline_s, partial(_step_job, it, framer, state, self.token))
        except ParleyError as exc:
            self.buffer.put(_ErrorItem(exc.code, exc.message, exc.field))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "request %r (voice %r, %d chars) failed unexpectedly",
                req.id,
                req.voice,
                len(req.text),
                exc_info=exc,
            )
            self.buffer.put(
                _ErrorItem(
                    ErrorCode.INTERNAL_ERROR.value,
                    "the server failed while synthesising this request; the server log has the details",
                    None,
                )
            )
        finally:
            if it is not None:
                try:
                    await self._job(0.0, partial(_close_job, it))
                except Exception:
                    log.exception("closing the engine stream of request %r failed", req.id)

    async def _send(self) -> None:
        conn = self.conn
        proto = conn.proto
        rid = self.request.id
        while True:
            item = await self.buffer.get()
            if item is None:
                return
            if isinstance(item, _StartItem):
                if not proto.start(rid, sample_rate_hz=item.sample_rate_hz):
                    return
            elif isinstance(item, _FrameItem):
                if not proto.audio(rid, item.pcm):
                    return
            elif isinstance(item, _EndItem):
                conn.handle(
                    proto.done(
                        rid,
                        chunks=self.chunks,
                        synthesis_ms=1000.0 * self.synthesis_s,
                        paused_ms=1000.0 * self.paused_s,
                    )
                )
                await conn.flush()
                return
            else:
                conn.handle(proto.fail(rid, item.code, item.message, item.field))
                await conn.flush()
                return
            await conn.flush()


# --------------------------------------------------------------------------------------------------
# One connection
# --------------------------------------------------------------------------------------------------


class _Connection:
    def __init__(self, server: ParleyServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.proto = ServerProtocol(server.info)
        self._send_lock = asyncio.Lock()
        self._runs: set[_RequestRun] = set()  # streaming or winding down
        self._active: dict[str, _RequestRun] = {}  # the protocol's active request (at most one)

    @property
    def runs(self) -> frozenset[_RequestRun]:
        return frozenset(self._runs)

    async def run(self) -> None:
        self.proto.connection_made()
        try:
            await self.flush()
            async for message in self.ws:
                if isinstance(message, str):
                    events = self.proto.receive_text(message)
                else:
                    events = self.proto.receive_bytes(message)
                self.handle(events)
                # A sender holding the lock sends our replies too; wait ourselves only when replies
                # pile up (the peer is not reading) so that a flood cannot grow the outbox.
                if not self._send_lock.locked() or self.proto.outbox_size >= _MAX_OUTBOX_MESSAGES:
                    await self.flush()
        except ConnectionClosed:
            pass
        finally:
            self.handle(self.proto.connection_lost())
            for r in list(self._runs):
                r.stop()
            await _wait_uncancellable({r.task for r in self._runs})

    def handle(self, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, StartSynthesis):
                run = _RequestRun(self, ev.request)
                self._runs.add(run)
                self._active[ev.request.id] = run
            elif isinstance(ev, StopSynthesis):
                stopped = self._active.pop(ev.request_id, None)
                if stopped is not None:
                    stopped.stop()
            elif isinstance(ev, ProtocolErrorEvent):
                log.debug("%s: rejected a message: %s (%s)", self.ws.remote_address, ev.code, ev.message)

    def forget(self, run: _RequestRun) -> None:
        self._runs.discard(run)
        if self._active.get(run.request.id) is run:
            del self._active[run.request.id]

    async def flush(self) -> None:
        """Send everything the protocol queued, in order. One sender at a time."""
        async with self._send_lock:
            while True:
                messages = self.proto.data_to_send()
                if not messages:
                    return
                for m in messages:
                    await self.ws.send(m)


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


def _describe(v: VoiceInfo) -> VoiceDescription:
    return VoiceDescription(
        id=v.id,
        language=v.language,
        gender=v.gender,
        sample_rate_hz=v.sample_rate_hz,
        backend=v.backend,
        cloneable=v.cloneable,
        description=v.description,
    )


def _heavy_voices(engine: SynthesisEngine, voice_ids: Iterable[str]) -> frozenset[str]:
    """Voices whose chunks are single long model calls (``Voice.whole_chunk``: Kokoro)."""
    get = getattr(engine, "voice", None)
    if get is None:
        return frozenset()
    return frozenset(v for v in voice_ids if getattr(get(v), "whole_chunk", False))


class ParleyServer:
    """A running Parley WebSocket server around an already loaded (and warmed up) engine.

    async with ParleyServer(engine, ServerConfig(port=0)) as server:
        print(server.port)
        await asyncio.Event().wait()
    """

    def __init__(self, engine: SynthesisEngine, config: ServerConfig) -> None:
        self.engine = engine
        self.config = config
        available = {v.id: v for v in engine.voices()}
        self.heavy_voices = _heavy_voices(engine, available)
        if config.voices is None:
            offered = list(available.values())
        else:
            missing = [v for v in config.voices if v not in available]
            if missing:
                raise ValueError(f"voices {missing} are not loaded; the engine has {sorted(available)}")
            offered = [available[v] for v in config.voices]
        default = engine.default_voice if engine.default_voice in {v.id for v in offered} else offered[0].id
        self.info = ServerInfo(
            server=f"parley/{server_version()}",
            voices=tuple(_describe(v) for v in offered),
            default_voice=default,
            max_text_chars=engine.MAX_TEXT_CHARS,
            speed_min=MIN_SPEED,
            speed_max=MAX_SPEED,
            max_queued_requests=config.max_queued_requests,
        )
        self.info_v2 = ServerInfoV2(
            self.info, max_contexts=config.max_contexts, max_pending_chars=engine.MAX_TEXT_CHARS
        )
        self._pool: WorkerPool | None = None
        self._server: Server | None = None
        self._http: HttpApi | None = None
        self._connections: set[_Connection | ContextConnection] = set()

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            raise RuntimeError("the server is not started")
        return self._pool

    def submit(self, deadline_s: float, fn: Callable[[], T], voice: str) -> concurrent.futures.Future[T]:
        """A synthesis job for ``voice`` on the pool (heavy if the voice's chunks are long calls)."""
        return self.pool.submit(deadline_s, fn, heavy=voice in self.heavy_voices)

    @property
    def port(self) -> int:
        """The port actually bound (useful with ServerConfig(port=0))."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        for sock in self._server.sockets:
            return int(sock.getsockname()[1])
        raise RuntimeError("the server has no socket")

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def active_requests(self) -> int:
        """v1 requests streaming or winding down, over all connections."""
        return sum(len(c.runs) for c in self._connections if isinstance(c, _Connection))

    @property
    def open_contexts(self) -> int:
        """v2 contexts open, over all connections."""
        return sum(len(c.contexts) for c in self._connections if isinstance(c, ContextConnection))

    @property
    def context_tasks(self) -> int:
        """v2 contexts synthesising or winding down right now (idle contexts have no task)."""
        return sum(len(c.tasks) for c in self._connections if isinstance(c, ContextConnection))

    def stats(self) -> dict[str, object]:
        pool = self._pool
        return {
            "status": "ok",
            "server": self.info.server,
            "protocol": 1,
            "protocols": [1, 2],
            "voices": [v.id for v in self.info.voices],
            "default_voice": self.info.default_voice,
            "connections": self.connections,
            "max_connections": self.config.max_connections,
            "active_requests": self.active_requests,
            "open_contexts": self.open_contexts,
            "context_tasks": self.context_tasks,
            "http_requests": self._http.active if self._http else 0,
            "worker_threads": self.config.worker_threads,
            "workers_busy": pool.busy if pool else 0,
            "workers_pending": pool.pending if pool else 0,
            "jobs_completed": pool.completed if pool else 0,
        }

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the server is already started")
        cfg = self.config
        await asyncio.to_thread(framing_warmup)  # compiles the PCM kernel unless cached/warm
        await asyncio.to_thread(output_warmup)  # G.711 and resampling kernels (protocol v2)
        self._pool = WorkerPool(cfg.worker_threads, on_idle=release_free_memory)
        self._http = HttpApi(self)
        try:
            self._server = await ws_serve(
                self._handler,
                cfg.host,
                cfg.port,
                process_request=self._process_request,
                subprotocols=[Subprotocol(SUBPROTOCOL_V2), Subprotocol(SUBPROTOCOL_V1)],
                select_subprotocol=_select_subprotocol,
                compression=None,  # PCM does not deflate well; compressing would cost loop time
                max_size=cfg.max_message_bytes,
                write_limit=cfg.write_limit_bytes,
                ping_interval=cfg.ping_interval_s,
                ping_timeout=cfg.ping_timeout_s,
                logger=logging.getLogger("parley.server.websockets"),
                # plain HTTP requests that websockets cannot read (POST /v1/audio/speech) are
                # taken from it after their request line: see http_api
                create_connection=connection_class(self._http),
            )
        except BaseException:
            self._pool.shutdown()
            self._pool = None
            self._http = None
            raise
        log.info(
            "listening on ws://%s:%d (and POST http://%s:%d/v1/audio/speech; %d worker threads, voices: %s)",
            cfg.host,
            self.port,
            cfg.host,
            self.port,
            cfg.worker_threads,
            ", ".join(v.id for v in self.info.voices),
        )

    async def close(self) -> None:
        """Close every connection (code 1001; HTTP responses are cut), wait for their requests to
        wind down, stop workers."""
        if self._server is not None:
            self._server.close()
            if self._http is not None:
                await self._http.close()
            await self._server.wait_closed()
            self._server = None
            self._http = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown)

    async def __aenter__(self) -> ParleyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/health":
            response = connection.respond(HTTPStatus.OK, json.dumps(self.stats()) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            response.headers["Cache-Control"] = "no-store"
            return response
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            static = static_response(path, STATIC_DIR)
            if static is not None:
                return static
            # a plain GET of anything else: 404 (websockets would answer 426 Upgrade Required)
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        if len(self._connections) >= self.config.max_connections:
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"this server accepts at most {self.config.max_connections} connections; try again later\n",
            )
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        if len(self._connections) >= self.config.max_connections:
            await ws.close(1013, "too many connections; try again later")
            return
        sndbuf = self.config.socket_send_buffer_bytes
        sock = ws.transport.get_extra_info("socket")
        if sndbuf is not None and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        v2 = ws.subprotocol == SUBPROTOCOL_V2 or (
            ws.subprotocol is None and ws.request is not None and ws.request.path.split("?", 1)[0] == "/v2"
        )
        conn: _Connection | ContextConnection = ContextConnection(self, ws) if v2 else _Connection(self, ws)
        self._connections.add(conn)
        log.debug("connection from %s", ws.remote_address)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            log.debug("connection from %s closed", ws.remote_address)


def _select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """parley.v2 if offered, else parley.v1; no subprotocol (plain v1, or v2 on path /v2) if the
    client offers none; a 400 naming ours if it offers only others."""
    for ours in (SUBPROTOCOL_V2, SUBPROTOCOL_V1):
        if ours in offered:
            return Subprotocol(ours)
    if offered:
        raise NegotiationError(
            f"unsupported subprotocol {', '.join(offered)}; this server speaks {SUBPROTOCOL_V2} and "
            f"{SUBPROTOCOL_V1} (or v1 with no subprotocol)"
        )
    return None


def static_response(path: str, root: Path = STATIC_DIR) -> Response | None:
    """The hook for a browser client: a plain ``GET path`` (no WebSocket upgrade) answered from
    ``server/parley_server/static/`` (``/`` is ``index.html``). None when no such file exists
    (the server then answers 404). Only regular files inside
    ``root`` are served; the whole file is read per request (small static assets)."""
    name = "index.html" if path in ("", "/") else path.lstrip("/")
    try:
        target = (root / name).resolve()
        if not target.is_relative_to(root.resolve()) or not target.is_file():
            return None
        body = target.read_bytes()
    except (OSError, ValueError):
        return None
    headers = Headers()
    headers["Content-Type"] = _CONTENT_TYPES.get(target.suffix.lower(), "application/octet-stream")
    headers["Content-Length"] = str(len(body))
    headers["Cache-Control"] = "no-cache"
    return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)


# --------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------


def load_engine(config: ServerConfig) -> SynthesisEngine:
    """Load the voices named in ``config`` (all when None) and warm the engine up. Blocking."""
    from parley_engine import Engine

    t0 = time.perf_counter()
    engine = Engine.load(voices=list(config.voices) if config.voices is not None else None)
    t1 = time.perf_counter()
    missing: dict[str, list[str]] = {}
    for vid, reason in engine.missing.items():
        missing.setdefault(reason, []).append(vid)
    for reason, vids in missing.items():
        shown = ", ".join(vids[:8]) + ("…" if len(vids) > 8 else "")
        log.warning("%d voice(s) not available (%s): %s", len(vids), shown, reason)
    engine.warmup()
    from parley_engine.runtime import freeze_heap

    frozen = freeze_heap()  # a full GC pass would otherwise stop the loop and workers ~60 ms
    t2 = time.perf_counter()
    log.debug("%d objects exempted from garbage collection (parley_engine.runtime)", frozen)
    log.info(
        "loaded voices %s in %.2f s; warm-up took %.2f s",
        ", ".join(f"{v.id} ({v.sample_rate_hz} Hz, {v.backend})" for v in engine.voices()),
        t1 - t0,
        t2 - t1,
    )
    return engine  # type: ignore[no-any-return,unused-ignore]


async def serve(
    config: ServerConfig,
    *,
    engine: SynthesisEngine | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Load and warm up the engine (unless one is given), then serve until ``stop`` is set or the
    task is cancelled. Connections are accepted only once the engine is warm."""
    if engine is None:
        engine = await asyncio.to_thread(load_engine, config)
    async with ParleyServer(engine, config):
        if stop is None:
            await asyncio.Future()
        else:
            await stop.wait()


def run(config: ServerConfig, *, log_level: str = "INFO") -> int:
    """Blocking: serve until SIGINT/SIGTERM. Returns a process exit status."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_level != "DEBUG":  # websockets logs every connection at INFO
        logging.getLogger("parley.server.websockets").setLevel(logging.WARNING)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await serve(config, stop=stop)
        log.info("stopped")

    try:
        asyncio.run(_main())
    except ParleyError as exc:
        log.error("cannot start: %s (%s)", exc.message, exc.code)
        return 1
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m parley_server``: same options as ``parley serve``."""
    parser = argparse.ArgumentParser(prog="python -m parley_server", description="Run the Parley TTS server.")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    return run(config, log_level=args.log_level)
