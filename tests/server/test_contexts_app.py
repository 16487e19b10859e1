"""Protocol v2 through the asyncio adapter, over real sockets, with a scripted engine: negotiation,
many contexts, interleaving, cancel, disconnect, backpressure, streamed text, update, formats,
errors, static files. tests/integration/test_contexts_e2e.py repeats the essentials with the real
engine and voice."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http.client
import json
import socket
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from parley_clients import ParleyContexts, ParleyServerError
from parley_engine.errors import InvalidSettingError
from parley_engine.types import AudioChunk, CancelToken, PhonemeTiming, SpeakSettings, VoiceInfo, WordTiming
from parley_kernels import resample
from parley_server import app as app_module
from parley_server.app import ParleyServer, static_response
from parley_server.config import ServerConfig
from parley_server.contexts import ContextConnection
from parley_server.protocol import ProtocolViolation
from parley_server.protocol_v2 import (
    ClientProtocolV2,
    ContextAudio,
    ContextCancelled,
    ContextDone,
    parse_header,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

V2 = [Subprotocol("parley.v2")]
WORD_SAMPLES = 1200  # each word of a piece takes 50 ms at 24 kHz in the scripted engine


class WordEngine:
    """Test double of the engine. Each ``stream(text)`` yields "chunks:N" chunks (default 2): the
    first 50 ms, then 200 ms each, of a tone; the first chunk carries a timing per word of the text
    (word i at samples [i, i + 1) * 1200, one phoneme per word). "refuse" refuses the speed."""

    MAX_TEXT_CHARS = 20_000
    default_voice = "heart"

    def __init__(self, chunk_delay_s: float = 0.0) -> None:
        self.chunk_delay_s = chunk_delay_s
        self.lock = threading.Lock()
        self.live_streams = 0
        self.chunks_made = 0
        self.calls: list[tuple[str, SpeakSettings]] = []

    def voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo("heart", "en-US", "female", 24000, "test"),
            VoiceInfo("low", "en-US", "male", 16000, "test"),
        ]

    def sample_rate_hz(self, voice_id: str) -> int:
        return 24000 if voice_id == "heart" else 16000

    def stream(
        self, text: str, voice: str, settings: SpeakSettings, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        if "refuse" in text:
            raise InvalidSettingError("this engine refuses the speed", field="speed")
        with self.lock:
            self.calls.append((text, settings))
        n = next((int(w[7:]) for w in text.split() if w.startswith("chunks:")), 2)
        return self._generate(text, n, self.sample_rate_hz(voice), cancel)

    def _generate(self, text: str, n: int, sr: int, cancel: CancelToken) -> Iterator[AudioChunk]:
        words = []
        pos = 0
        for i, tok in enumerate(text.split()):
            at = text.index(tok, pos)
            pos = at + len(tok)
            a, b = i * WORD_SAMPLES, (i + 1) * WORD_SAMPLES
            words.append(WordTiming(tok, at, pos, a, b, (PhonemeTiming(tok[:1], a, b),)))
        with self.lock:
            self.live_streams += 1
        start = 0
        try:
            for i in range(n):
                if cancel.cancelled:
                    return
                if self.chunk_delay_s:
                    time.sleep(self.chunk_delay_s)
                size = sr // 20 if i == 0 else sr // 5
                t = np.arange(start, start + size) / sr
                with self.lock:
                    self.chunks_made += 1
                yield AudioChunk(
                    (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
                    sr,
                    start,
                    0,
                    tuple(words) if i == 0 else (),
                )
                start += size
        finally:
            with self.lock:
                self.live_streams -= 1


def samples_of(n_chunks: int, sr: int = 24000) -> int:
    return sr // 20 + (n_chunks - 1) * (sr // 5)


@contextlib.asynccontextmanager
async def running(engine: WordEngine, **overrides: object) -> AsyncIterator[tuple[ParleyServer, str]]:
    config = ServerConfig(port=0, worker_threads=2, **overrides)  # type: ignore[arg-type]
    async with ParleyServer(engine, config) as server:
        yield server, f"ws://127.0.0.1:{server.port}"


def run(coro: object, timeout_s: float = 60) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout_s))  # type: ignore[arg-type]


def v2(server: ParleyServer) -> ContextConnection:
    [conn] = [c for c in server._connections if isinstance(c, ContextConnection)]
    return conn


async def idle(server: ParleyServer, engine: WordEngine, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        pool = server.pool
        if server.context_tasks == 0 and pool.busy == 0 and pool.pending == 0 and engine.live_streams == 0:
            return
        assert time.monotonic() < deadline, server.stats()
        await asyncio.sleep(0.01)


# -- negotiation -----------------------------------------------------------------------------------


def test_version_negotiation() -> None:
    async def hello_of(url: str, **kw: object) -> tuple[int, str | None]:
        async with connect(url, **kw) as ws:  # type: ignore[arg-type]
            return json.loads(await ws.recv())["protocol"], ws.subprotocol

    async def main() -> None:
        async with running(WordEngine()) as (_, url):
            assert await hello_of(url) == (1, None)  # a client that asks for nothing gets v1
            assert await hello_of(url, subprotocols=V2) == (2, "parley.v2")
            assert await hello_of(url, subprotocols=[Subprotocol("parley.v1")]) == (1, "parley.v1")
            assert await hello_of(url, subprotocols=[Subprotocol("parley.v1"), Subprotocol("parley.v2")]) == (
                2,
                "parley.v2",
            )
            assert await hello_of(url + "/v2") == (2, None)
            with pytest.raises(InvalidStatus) as exc:
                await hello_of(url, subprotocols=[Subprotocol("parley.v9")])
            assert exc.value.response.status_code == 400
            assert b"parley.v2" in exc.value.response.body

    run(main())


# -- many contexts ---------------------------------------------------------------------------------


def test_64_contexts_on_one_connection_interleave_and_all_finish() -> None:
    engine = WordEngine(chunk_delay_s=0.002)

    async def main() -> None:
        async with running(engine) as (server, url), ParleyContexts(url) as conn:
            ctxs = [
                conn.create(f"npc{i}", text=f"Line {i} of the play. chunks:4", end=True) for i in range(64)
            ]
            order: list[str] = []

            async def drain(ctx: object) -> int:
                n = 0
                async for frame in ctx:  # type: ignore[attr-defined]
                    order.append(frame.context)
                    n += frame.samples.size
                return n

            totals = await asyncio.gather(*(drain(c) for c in ctxs))
            assert totals == [samples_of(4)] * 64
            assert all(c.done is not None and c.done.samples == samples_of(4) for c in ctxs)
            assert len({c.created.stream for c in ctxs if c.created}) == 64
            # Fair interleaving: every context's first frame comes before the first context's last.
            first_seen = {cid: order.index(cid) for cid in set(order)}
            last_of_first_done = max(i for i, cid in enumerate(order) if cid == order[0])
            assert max(first_seen.values()) < last_of_first_done
            await idle(server, engine)

    run(main())


# -- cancel and disconnect -------------------------------------------------------------------------


def test_cancel_stops_at_once_and_other_contexts_carry_on() -> None:
    engine = WordEngine(chunk_delay_s=0.01)

    async def main() -> None:
        async with running(engine) as (server, url), connect(url, subprotocols=V2) as ws:
            cp = ClientProtocolV2()
            cp.receive_text(str(await ws.recv()))
            for cid in ("long", "other"):
                _, msg = cp.create(cid)
                await ws.send(msg)
                await ws.send(
                    cp.text(cid, "A long one chunks:60" if cid == "long" else "chunks:12", end=True)
                )
            got = {"long": 0, "other": 0}
            cancel_sent = False
            cancelled: ContextCancelled | None = None
            after_cancel: list[str] = []
            done_other: ContextDone | None = None
            while done_other is None:
                m = await ws.recv()
                for ev in cp.receive_bytes(m) if isinstance(m, bytes) else cp.receive_text(m):
                    assert not isinstance(ev, ProtocolViolation), ev
                    if isinstance(ev, ContextAudio):
                        got[ev.context] += ev.samples.size
                        if cancelled is not None:
                            after_cancel.append(ev.context)
                        if ev.context == "long" and got["long"] >= 24000 and not cancel_sent:
                            await ws.send(cp.cancel("long"))
                            cancel_sent = True
                    elif isinstance(ev, ContextCancelled):
                        cancelled = ev
                    elif isinstance(ev, ContextDone):
                        done_other = ev
            assert cancelled is not None and cancelled.samples_sent == got["long"]
            assert "long" not in after_cancel  # no frame of it after `cancelled`
            assert done_other.context == "other" and got["other"] == samples_of(12)
            await idle(server, engine)

    run(main())


def test_disconnect_mid_stream_stops_all_generation() -> None:
    engine = WordEngine(chunk_delay_s=0.005)
    threads_before = {t.ident for t in threading.enumerate()}

    async def main() -> None:
        async with running(engine) as (server, url):
            async with connect(url, subprotocols=V2) as ws:
                await ws.recv()
                for i in range(8):
                    await ws.send(
                        json.dumps(
                            {"type": "create", "context": f"c{i}", "text": "x chunks:200", "end": True}
                        )
                    )
                for _ in range(40):
                    await ws.recv()
                ws.transport.abort()
            deadline = time.monotonic() + 5
            while server.connections or server.context_tasks:
                assert time.monotonic() < deadline, server.stats()
                await asyncio.sleep(0.01)
            await idle(server, engine)
            made = engine.chunks_made
            await asyncio.sleep(0.3)
            assert engine.chunks_made == made  # nothing ran on after the client left

    run(main())
    assert {t.ident for t in threading.enumerate()} <= threads_before | {threading.get_ident()}


# -- backpressure ----------------------------------------------------------------------------------


def test_slow_reader_pauses_generation_per_context_and_per_connection() -> None:
    engine = WordEngine()

    async def main() -> None:
        overrides = {
            "high_water_ms": 600.0,
            "low_water_ms": 200.0,
            "connection_high_water_ms": 1500.0,
            "connection_low_water_ms": 800.0,
            "socket_send_buffer_bytes": 4096,
            "write_limit_bytes": 1024,
        }
        async with running(engine, **overrides) as (server, url):
            # A client that reads nothing, with a small receive buffer: the server's buffers fill soon.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
            ws = await connect(url, sock=sock, subprotocols=V2, max_queue=1)
            await ws.recv()
            for i in range(6):
                await ws.send(
                    json.dumps({"type": "create", "context": f"c{i}", "text": "y chunks:500", "end": True})
                )
            # Wait until generation has stalled (all buffers full), then check the bounds.
            made = -1
            while engine.chunks_made != made:
                made = engine.chunks_made
                await asyncio.sleep(0.3)
            conn = v2(server)
            per_ctx = [c.flow.buffered_ms for c in conn.contexts.values()]
            assert max(per_ctx) <= 600.0 + 200.0  # high mark + one chunk
            assert conn.flow.buffered_ms <= 1500.0 + 6 * (200.0 + 200.0)
            assert engine.chunks_made < 6 * 100  # far from the 3000 chunks asked for
            assert all(c.task is not None for c in conn.contexts.values())  # paused, not done
            # Reading resumes generation.
            for _ in range(300):
                await ws.recv()
            await asyncio.sleep(0.2)
            assert engine.chunks_made > made
            ws.transport.abort()  # (a closing handshake would wait behind the unread audio)

    run(main(), timeout_s=60)


def test_frames_leave_at_most_send_ahead_ms_ahead_of_real_time() -> None:
    engine = WordEngine()

    async def main() -> None:
        async with running(engine, send_ahead_ms=300.0) as (_, url), ParleyContexts(url) as conn:
            ctx = conn.create("npc", text="Long enough. chunks:10", end=True)
            arrivals: list[tuple[float, int]] = []
            async for frame in ctx:
                arrivals.append((time.monotonic(), frame.sample_offset))
            t_first = arrivals[0][0]
            total_s = samples_of(10) / 24000
            for t, offset in arrivals:
                # Never more than the lead (+ one 100 ms slice, + scheduling slack) ahead of real time.
                assert t >= t_first + offset / 24000 - 0.3 - 0.1 - 0.05, (t - t_first, offset)
            assert arrivals[-1][0] - t_first >= total_s - 0.45  # paced: not all at once
            assert ctx.done is not None and ctx.done.samples == samples_of(10)

    run(main())


# -- streamed text, budget, update, timestamps -----------------------------------------------------


def test_streamed_tokens_are_spoken_clause_by_clause_with_context_offsets() -> None:
    engine = WordEngine()
    text = "Well, I think that we should go, right now. Then we rest"
    tokens = [" " + w if i else w for i, w in enumerate(text.split(" "))]

    async def main() -> None:
        async with running(engine) as (_, url), ParleyContexts(url) as conn:
            ctx = conn.create("npc", timestamps="phoneme", latency_budget_ms=False)
            await ctx.wait_created()
            for tok in tokens:
                ctx.send(tok)
                await asyncio.sleep(0.01)
            ctx.end()
            frames = [f async for f in ctx]
            assert [t for t, _ in engine.calls] == [
                "Well, I think that we should go,",
                "right now.",
                "Then we rest",
            ]
            assert ctx.done is not None and ctx.done.stats["pieces"] == 3
            # Word timestamps point into the context's whole text and its output samples.
            assert [w.word for w in ctx.timestamps] == text.split()
            for w in ctx.timestamps:
                assert text[w.char_start : w.char_end] == w.word
                assert w.phonemes and w.phonemes[0].start_sample == w.start_sample
            starts = [w.start_sample for w in ctx.timestamps]
            assert starts == sorted(starts) and starts[-1] < sum(f.samples.size for f in frames)
            # The second piece's words start after the first piece's audio (2 chunks of it) and its pause.
            second = next(w for w in ctx.timestamps if w.word == "right")
            assert second.start_sample >= samples_of(2)

    run(main())


def test_latency_budget_speaks_without_a_boundary() -> None:
    engine = WordEngine()

    async def main() -> None:
        async with running(engine) as (_, url), ParleyContexts(url) as conn:
            ctx = conn.create("npc", latency_budget_ms=150)
            ctx.send("so we went on and")
            t0 = time.monotonic()
            first = await ctx.__anext__()
            waited = time.monotonic() - t0
            assert first.sample_offset == 0 and 0.1 <= waited < 1.0
            assert engine.calls[0][0] == "so we went on"  # up to the last complete word
            ctx.cancel()
            async for _ in ctx:
                pass

    run(main())


def test_update_applies_to_later_pieces() -> None:
    engine = WordEngine()

    async def main() -> None:
        async with running(engine) as (_, url), ParleyContexts(url) as conn:
            ctx = conn.create("npc", speed=1.5, pitch_semitones=2, volume_db=-3, seed=7)
            ctx.send("One two three four!")
            first = await ctx.__anext__()
            assert first.seq == 0
            ctx.update(speed=3.0, volume_db=6)
            ctx.send(" Five six seven eight.", end=True)
            async for _ in ctx:
                pass
            (t1, s1), (t2, s2) = engine.calls
            assert (t1, s1.speed, s1.pitch_semitones, s1.volume_db, s1.seed) == (
                "One two three four!",
                1.5,
                2,
                -3,
                7,
            )
            assert (t2, s2.speed, s2.pitch_semitones, s2.volume_db, s2.seed) == (
                "Five six seven eight.",
                3.0,
                2,
                6,
                8,
            )

    run(main())


# -- formats and rates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "rate", "voice", "width"),
    [
        ("pcm_s16le", None, "heart", 2),
        ("pcm_f32le", 48000, "heart", 4),
        ("pcm_s16le", 16000, "heart", 2),
        ("mulaw", None, "heart", 1),
        ("alaw", 8000, "low", 1),
        ("pcm_s16le", 44100, "low", 2),
    ],
)
def test_formats_and_rates_give_the_right_byte_counts(
    fmt: str, rate: int | None, voice: str, width: int
) -> None:
    engine = WordEngine()

    async def main() -> None:
        async with running(engine) as (_, url), connect(url, subprotocols=V2) as ws:
            await ws.recv()
            msg = {
                "type": "create",
                "context": "a",
                "voice": voice,
                "format": fmt,
                "text": "Hi there. chunks:3",
                "end": True,
            }
            if rate is not None:
                msg["sample_rate_hz"] = rate
            await ws.send(json.dumps(msg))
            created = json.loads(await ws.recv())
            out_rate = created["sample_rate_hz"]
            voice_rate = 24000 if voice == "heart" else 16000
            assert out_rate == (rate or (8000 if fmt in ("mulaw", "alaw") else voice_rate))
            payload = 0
            while True:
                m = await ws.recv()
                if isinstance(m, bytes):
                    h = parse_header(m)
                    assert h.format == fmt and h.sample_offset * width == payload
                    payload += len(m) - 20
                    continue
                done = json.loads(m)
                assert done["type"] == "done", done
                break
            expected = resample.output_length(samples_of(3, voice_rate), voice_rate, out_rate)
            assert payload == expected * width and done["samples"] == expected

    run(main())


# -- errors ----------------------------------------------------------------------------------------


def test_bad_input_gets_errors_naming_context_and_field_and_the_connection_carries_on() -> None:
    engine = WordEngine(chunk_delay_s=0.01)

    async def main() -> None:
        async with (
            running(engine, max_contexts=3) as (_, url),
            connect(url, subprotocols=V2) as ws,
        ):
            await ws.recv()
            await ws.send(
                json.dumps({"type": "create", "context": "busy", "text": "z chunks:15", "end": True})
            )
            cases: list[tuple[object, str, str | None, str | None]] = [
                ({"type": "text", "context": "ghost", "text": "hi"}, "unknown_context", "ghost", "context"),
                ({"type": "create", "context": "busy"}, "duplicate_context", "busy", "context"),
                ({"type": "text", "context": "busy", "text": "more"}, "context_ended", "busy", "context"),
                ({"type": "create", "context": "f", "speed": 5}, "invalid_setting", "f", "speed"),
                (
                    {"type": "create", "context": "f", "pitch_semitones": -13},
                    "invalid_setting",
                    "f",
                    "pitch_semitones",
                ),
                (
                    {"type": "create", "context": "f", "sample_rate_hz": 11025},
                    "unsupported_sample_rate",
                    "f",
                    "sample_rate_hz",
                ),
                ("{not json", "invalid_json", None, None),
                (b"\x50\x02\x00\x01", "binary_not_allowed", None, None),
            ]
            for message, code, cid, field in cases:
                await ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))
                while True:
                    m = await ws.recv()
                    if isinstance(m, str) and json.loads(m)["type"] == "error":
                        err = json.loads(m)
                        break
                assert (err["code"], err["context"], err["field"], err["closed"]) == (
                    code,
                    cid,
                    field,
                    False,
                ), err
                if field is not None:
                    assert field in err["message"]
            await ws.send(json.dumps({"type": "create", "context": "f2"}))
            await ws.send(json.dumps({"type": "create", "context": "f3"}))
            await ws.send(json.dumps({"type": "create", "context": "f4"}))
            while True:
                m = await ws.recv()
                if isinstance(m, str) and json.loads(m)["type"] == "error":
                    err = json.loads(m)
                    break
            assert err["code"] == "too_many_contexts" and err["context"] == "f4"
            # The engine refusing a piece closes that context only.
            await ws.send(json.dumps({"type": "text", "context": "f2", "text": "refuse this", "end": True}))
            while True:
                m = await ws.recv()
                if isinstance(m, str) and json.loads(m)["type"] == "error":
                    err = json.loads(m)
                    break
            assert (err["code"], err["context"], err["field"], err["closed"]) == (
                "invalid_setting",
                "f2",
                "speed",
                True,
            )
            while True:  # "busy" still finishes
                m = await ws.recv()
                if isinstance(m, str) and json.loads(m)["type"] == "done":
                    assert json.loads(m)["context"] == "busy"
                    break

    run(main())


def test_client_library_raises_errors_that_close_a_context() -> None:
    async def main() -> None:
        async with running(WordEngine()) as (_, url), ParleyContexts(url) as conn:
            bad = conn.create("x", speed=9)
            with pytest.raises(ParleyServerError) as exc:
                await bad.read_all()
            assert exc.value.field == "speed" and exc.value.request_id == "x"
            good = conn.create("x", text="Fine. chunks:1", end=True, format="mulaw")
            audio = await good.read_all()
            assert audio.dtype == np.float32 and audio.size == resample.output_length(
                samples_of(1), 24000, 8000
            )
            assert np.max(np.abs(audio)) > 0.3

    run(main())


# -- HTTP: static files, health, the OpenAI route --------------------------------------------------


def test_static_response(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    (tmp_path / "app.js").write_text("x")
    index = static_response("/", tmp_path)
    assert (
        index is not None
        and index.body == b"<h1>hi</h1>"
        and index.headers["Content-Type"].startswith("text/html")
    )
    js = static_response("/app.js", tmp_path)
    assert js is not None and js.headers["Content-Type"].startswith("text/javascript")
    assert static_response("/../secret", tmp_path) is None and static_response("/nope.css", tmp_path) is None


def test_http_routes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "index.html").write_text("<p>client</p>")
    monkeypatch.setattr(app_module, "STATIC_DIR", tmp_path)

    async def main() -> None:
        async with running(WordEngine()) as (server, url):
            base = f"http://127.0.0.1:{server.port}"

            def get(path: str, data: bytes | None = None) -> tuple[int, bytes]:
                try:
                    with urllib.request.urlopen(
                        urllib.request.Request(base + path, data=data), timeout=5
                    ) as r:
                        return r.status, r.read()
                except urllib.error.HTTPError as e:
                    return e.code, e.read()
                except (http.client.RemoteDisconnected, ConnectionResetError):
                    return 0, b""  # closed without any response

            assert await asyncio.to_thread(get, "/") == (200, b"<p>client</p>")
            status, body = await asyncio.to_thread(get, "/health")
            assert status == 200 and json.loads(body)["protocols"] == [1, 2]
            # requests with a body go to Parley's own HTTP handler (OpenAI's speech endpoint; see
            # test_openai_http.py), on the same port
            status, body = await asyncio.to_thread(get, "/v1/audio/speech", b'{"input": "hi"}')
            assert status == 200 and body[:4] == b"RIFF" and len(body) > 44
            status, body = await asyncio.to_thread(get, "/health", b"{}")
            assert status == 405 and json.loads(body)["error"]["code"] == "method_not_allowed"
            async with connect(url, subprotocols=V2) as ws:  # WebSockets on / still work
                assert json.loads(await ws.recv())["protocol"] == 2

    run(main())


# -- memory per idle context -----------------------------------------------------------------------


def test_memory_per_idle_context_is_small() -> None:
    n = 200

    async def main() -> None:
        async with (
            running(WordEngine(), max_contexts=n) as (server, url),
            connect(url, subprotocols=V2) as ws,
        ):
            await ws.recv()
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            for i in range(n):
                await ws.send(json.dumps({"type": "create", "context": f"idle{i}"}))
            for _ in range(n):
                await ws.recv()
            gc.collect()
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            assert server.open_contexts == n and server.context_tasks == 0
            per_ctx = sum(s.size_diff for s in after.compare_to(before, "filename")) / n
            print(f"\nmemory per idle context: {per_ctx / 1024:.1f} KiB")
            assert per_ctx < 16 * 1024

    run(main())
