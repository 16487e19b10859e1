"""The asyncio adapter's plumbing: ordering, cancel, disconnect, backpressure, error mapping.

These tests drive the real server over real sockets, with a scripted stand-in for the engine
(defined here, test-only) so that failures, slowness and long streams can be staged on demand.
tests/integration/test_server_e2e.py repeats the essentials with the real engine and voice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
from parley_engine.errors import InvalidSettingError, SynthesisError
from parley_engine.types import AudioChunk, CancelToken, SpeakSettings, VoiceInfo
from parley_server.app import ParleyServer
from parley_server.config import ServerConfig
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus


class ScriptedEngine:
    """Test double of ``parley_engine.Engine``: speaks a tone; the text scripts its behaviour.

    "chunks:N"      N chunks (default 3): the first 50 ms, then 200 ms each
    "boom"          the second chunk raises RuntimeError (a bug)
    "synthfail"     the second chunk raises SynthesisError
    "refuse"        stream() refuses the input with InvalidSettingError
    """

    MAX_TEXT_CHARS = 20_000
    default_voice = "heart"

    def __init__(self, chunk_delay_s: float = 0.0) -> None:
        self.chunk_delay_s = chunk_delay_s
        self.lock = threading.Lock()
        self.live_streams = 0  # generators started and not finished/closed
        self.in_next = 0  # threads inside a chunk computation right now
        self.chunks_made = 0
        self.cancel_tokens: list[CancelToken] = []

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
        n = 3
        for word in text.split():
            if word.startswith("chunks:"):
                n = int(word.split(":")[1])
        self.cancel_tokens.append(cancel)
        return self._generate(text, n, self.sample_rate_hz(voice), cancel)

    def _generate(self, text: str, n: int, sr: int, cancel: CancelToken) -> Iterator[AudioChunk]:
        with self.lock:
            self.live_streams += 1
        pos = 0
        try:
            for i in range(n):
                if cancel.cancelled:
                    return
                with self.lock:
                    self.in_next += 1
                try:
                    if self.chunk_delay_s:
                        time.sleep(self.chunk_delay_s)
                    if i == 1 and "boom" in text:
                        raise RuntimeError("secret internal detail")
                    if i == 1 and "synthfail" in text:
                        raise SynthesisError("the vocoder diverged")
                    size = sr // 20 if i == 0 else sr // 5
                    t = np.arange(pos, pos + size) / sr
                    samples = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
                    with self.lock:
                        self.chunks_made += 1
                finally:
                    with self.lock:
                        self.in_next -= 1
                yield AudioChunk(samples, sr, pos, 0)
                pos += size
        finally:
            with self.lock:
                self.live_streams -= 1


@contextlib.asynccontextmanager
async def running(engine: ScriptedEngine, **overrides: object) -> AsyncIterator[tuple[ParleyServer, str]]:
    config = ServerConfig(port=0, worker_threads=2, **overrides)  # type: ignore[arg-type]
    async with ParleyServer(engine, config) as server:
        yield server, f"ws://127.0.0.1:{server.port}"


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


async def recv_json(ws: ClientConnection) -> dict[str, object]:
    m = await ws.recv()
    assert isinstance(m, str), f"expected a text message, got {len(m)} bytes"
    msg = json.loads(m)
    assert isinstance(msg, dict)
    return msg


async def open_client(url: str) -> ClientConnection:
    ws = await connect(url, compression=None)
    hello = await recv_json(ws)
    assert hello["type"] == "hello"
    return ws


async def speak_and_collect(
    ws: ClientConnection, rid: str, text: str, **fields: object
) -> tuple[dict[str, object], list[bytes], dict[str, object]]:
    await ws.send(json.dumps({"type": "speak", "id": rid, "text": text, **fields}))
    return await collect(ws, rid)


async def collect(ws: ClientConnection, rid: str) -> tuple[dict[str, object], list[bytes], dict[str, object]]:
    """Read until ``rid`` ends; returns (start or {}, frames, terminal message)."""
    start: dict[str, object] = {}
    frames: list[bytes] = []
    while True:
        m = await ws.recv()
        if isinstance(m, bytes):
            assert start.get("id") == rid, "binary frame outside the request"
            frames.append(m)
            continue
        msg = json.loads(m)
        if msg.get("id") != rid:
            continue
        if msg["type"] == "start":
            start = msg
        elif msg["type"] in ("done", "cancelled", "error"):
            return start, frames, msg


async def wait_for(predicate: object, timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# -----------------------------------------------------------------------------------------------


def test_speak_streams_exact_frames() -> None:
    async def main() -> None:
        async with running(ScriptedEngine()) as (_, url):
            ws = await open_client(url)
            start, frames, done = await speak_and_collect(ws, "a", "hello chunks:3")
            assert start["sample_rate_hz"] == 24000 and start["format"] == "pcm_s16le"
            assert start["frame_ms"] == 20 and start["frame_samples"] == 480
            total = 1200 + 4800 + 4800
            assert sum(len(f) for f in frames) == 2 * total
            assert all(len(f) == 960 for f in frames[:-1]) and 0 < len(frames[-1]) <= 960
            pcm = np.concatenate([np.frombuffer(f, "<i2") for f in frames])
            t = np.arange(total) / 24000
            expected = np.rint(0.5 * np.sin(2 * np.pi * 440 * t) * 32767)
            assert np.max(np.abs(pcm - expected)) <= 1
            assert done["type"] == "done" and done["chunks"] == 3
            assert done["audio_ms"] == pytest.approx(1000 * total / 24000)
            assert done["samples"] == total and done["frames"] == len(frames)
            assert isinstance(done["first_audio_ms"], float) and done["first_audio_ms"] < 1000
            await ws.close()

    run(main())


def test_f32_format_and_frame_ms_and_other_voice() -> None:
    async def main() -> None:
        async with running(ScriptedEngine()) as (_, url):
            ws = await open_client(url)
            start, frames, done = await speak_and_collect(
                ws, "a", "chunks:2", format="pcm_f32le", frame_ms=50, voice="low"
            )
            assert start["sample_rate_hz"] == 16000 and start["frame_samples"] == 800
            assert all(len(f) == 3200 for f in frames[:-1])
            x = np.concatenate([np.frombuffer(f, "<f4") for f in frames])
            assert x.size == 800 + 3200 and np.max(np.abs(x)) <= 0.5 + 1e-6
            await ws.close()

    run(main())


def test_requests_on_one_connection_are_streamed_in_order() -> None:
    async def main() -> None:
        async with running(ScriptedEngine()) as (_, url):
            ws = await open_client(url)
            for rid in ("one", "two", "three"):
                await ws.send(json.dumps({"type": "speak", "id": rid, "text": "chunks:2"}))
            order: list[str] = []
            current: str | None = None
            while len(order) < 6:
                m = await ws.recv()
                if isinstance(m, bytes):
                    assert current is not None
                    continue
                msg = json.loads(m)
                order.append(f"{msg['type']}:{msg['id']}")
                current = msg["id"] if msg["type"] == "start" else None
            assert order == ["start:one", "done:one", "start:two", "done:two", "start:three", "done:three"]
            await ws.close()

    run(main())


def test_bad_input_does_not_disturb_the_connection() -> None:
    async def main() -> None:
        async with running(ScriptedEngine()) as (_, url):
            ws = await open_client(url)
            cases = [
                ("{oops", "invalid_json"),
                (json.dumps({"type": "speak", "id": "x", "text": ""}), "empty_text"),
                (json.dumps({"type": "speak", "id": "x", "text": "hi", "voice": "zz"}), "unknown_voice"),
                (json.dumps({"type": "cancel", "id": "ghost"}), "unknown_id"),
            ]
            for message, code in cases:
                await ws.send(message)
                err = await recv_json(ws)
                assert err["type"] == "error" and err["code"] == code
            await ws.send(b"\x00\x01")
            err = await recv_json(ws)
            assert err["code"] == "binary_not_allowed"
            _, frames, done = await speak_and_collect(ws, "ok", "chunks:1")
            assert done["type"] == "done" and frames
            await ws.close()

    run(main())


def test_engine_input_error_maps_to_its_code() -> None:
    async def main() -> None:
        async with running(ScriptedEngine()) as (_, url):
            ws = await open_client(url)
            start, frames, err = await speak_and_collect(ws, "a", "refuse")
            assert err == {
                "type": "error",
                "id": "a",
                "code": "invalid_setting",
                "message": "this engine refuses the speed",
                "field": "speed",
            }
            assert start == {} and frames == []
            _, _, done = await speak_and_collect(ws, "b", "chunks:1")
            assert done["type"] == "done"
            await ws.close()

    run(main())


def test_synthesis_error_and_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as (_, url):
            ws = await open_client(url)
            _, _, err = await speak_and_collect(ws, "s", "synthfail chunks:3")
            assert err["code"] == "synthesis_failed" and err["message"] == "the vocoder diverged"
            with caplog.at_level(logging.ERROR, logger="parley.server"):
                start, frames, err = await speak_and_collect(ws, "b", "boom chunks:3")
            assert start["id"] == "b" and frames  # the first chunk went out before the failure
            assert err["type"] == "error" and err["id"] == "b" and err["code"] == "internal_error"
            assert "secret" not in str(err["message"]) and "RuntimeError" not in str(err["message"])
            # The connection carries on.
            _, _, done = await speak_and_collect(ws, "c", "chunks:1")
            assert done["type"] == "done"
            await ws.close()
            await wait_for(lambda: engine.live_streams == 0)

    run(main())
    logged = [r for r in caplog.records if r.name == "parley.server" and r.levelno == logging.ERROR]
    assert logged and logged[0].exc_info is not None
    assert "secret internal detail" in caplog.text


def test_cancel_mid_stream_stops_within_one_frame() -> None:
    engine = ScriptedEngine(chunk_delay_s=0.01)

    async def main() -> None:
        async with running(engine) as (server, url):
            ws = await open_client(url)
            await ws.send(json.dumps({"type": "speak", "id": "long", "text": "chunks:500"}))
            await ws.send(json.dumps({"type": "speak", "id": "queued", "text": "chunks:1"}))
            start = await recv_json(ws)
            assert start["type"] == "start"
            received = 0
            while received < 10:
                m = await ws.recv()
                assert isinstance(m, bytes)
                received += 1
            await ws.send(json.dumps({"type": "cancel", "id": "queued"}))
            await ws.send(json.dumps({"type": "cancel", "id": "long"}))
            # Frames already on the wire may still arrive; none after the cancelled message.
            cancelled: list[dict[str, object]] = []
            after = 0
            while len(cancelled) < 2:
                m = await ws.recv()
                if isinstance(m, bytes):
                    assert not any(c["id"] == "long" for c in cancelled), "frame after cancelled"
                    after += 1
                else:
                    msg = json.loads(m)
                    assert msg["type"] == "cancelled", msg
                    cancelled.append(msg)
            assert {c["id"] for c in cancelled} == {"long", "queued"}
            by_id = {c["id"]: c for c in cancelled}
            assert by_id["queued"]["audio_ms_sent"] == 0.0
            sent_ms = by_id["long"]["audio_ms_sent"]
            assert isinstance(sent_ms, float) and sent_ms >= 10 * 20
            assert sent_ms == pytest.approx((received + after) * 20)
            # Generation stopped: the token is set and the stream wound down.
            await wait_for(lambda: engine.live_streams == 0 and server.active_requests == 0)
            assert engine.cancel_tokens[0].cancelled
            assert engine.chunks_made < 500
            # The same connection works for the next request (the cancelled id may be reused).
            _, frames, done = await speak_and_collect(ws, "long", "chunks:2")
            assert done["type"] == "done" and frames
            await ws.close()

    run(main())


def test_disconnect_mid_stream_leaves_nothing_running() -> None:
    engine = ScriptedEngine(chunk_delay_s=0.02)

    async def main() -> None:
        async with running(engine) as (server, url):
            threads_before = {t.ident for t in threading.enumerate()}
            ws = await open_client(url)
            await ws.send(json.dumps({"type": "speak", "id": "a", "text": "chunks:1000"}))
            await ws.send(json.dumps({"type": "speak", "id": "b", "text": "chunks:1000"}))
            for _ in range(5):
                await ws.recv()
            assert engine.live_streams == 1
            await ws.close()
            await wait_for(
                lambda: (
                    engine.live_streams == 0
                    and engine.in_next == 0
                    and server.active_requests == 0
                    and server.connections == 0
                    and server.pool.busy == 0
                    and server.pool.pending == 0
                )
            )
            made = engine.chunks_made
            await asyncio.sleep(0.2)
            assert engine.chunks_made == made, "generation continued after the client left"
            assert engine.cancel_tokens[0].cancelled
            assert len(engine.cancel_tokens) == 1, "the queued request must never start"
            assert {t.ident for t in threading.enumerate()} <= threads_before

    run(main())


def test_abrupt_disconnect_mid_stream() -> None:
    """The client's TCP connection vanishes without a closing handshake."""
    engine = ScriptedEngine(chunk_delay_s=0.02)

    async def main() -> None:
        async with running(engine) as (server, url):
            ws = await open_client(url)
            await ws.send(json.dumps({"type": "speak", "id": "a", "text": "chunks:1000"}))
            for _ in range(3):
                await ws.recv()
            ws.transport.abort()
            await wait_for(lambda: engine.live_streams == 0 and server.active_requests == 0, 10)
            assert server.pool.busy == 0

    run(main())


def test_slow_reader_pauses_the_producer() -> None:
    """A client that stops reading: the server stops synthesising after high_water_ms (plus what
    the socket buffers hold), then resumes when the client reads again."""
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(
            engine,
            high_water_ms=400.0,
            low_water_ms=200.0,
            write_limit_bytes=4096,
            socket_send_buffer_bytes=8192,
        ) as (
            server,
            url,
        ):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            sock.setblocking(False)
            ws = await connect(url, sock=sock, compression=None, max_queue=4)
            await recv_json(ws)
            # 300 chunks = 59.8 s of audio; a non-reading client must not make us synthesise it all.
            await ws.send(json.dumps({"type": "speak", "id": "a", "text": "chunks:300"}))
            await wait_for(lambda: engine.chunks_made > 3)
            await asyncio.sleep(1.0)
            made = engine.chunks_made
            await asyncio.sleep(0.5)
            assert engine.chunks_made == made, "the producer kept going while the client did not read"
            produced_s = (made - 1) * 0.2
            # high_water_ms (0.4 s) + one chunk (0.2 s) + what the socket buffers hold (~0.4 s here)
            assert produced_s < 3.0, f"{produced_s:.1f} s of audio produced for a stalled client"
            assert server.pool.busy == 0
            start, frames, done = await collect(ws, "a")
            assert done["type"] == "done" and done["chunks"] == 300
            assert isinstance(done["paused_ms"], float) and done["paused_ms"] > 500
            assert sum(len(f) for f in frames) == 2 * (1200 + 299 * 4800)
            await ws.close()

    run(main())


def test_health_endpoint() -> None:
    async def main() -> None:
        async with running(ScriptedEngine()) as (server, url):

            def get() -> tuple[int, str, dict[str, object]]:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5) as r:
                    return r.status, r.headers["Content-Type"], json.loads(r.read())

            status, ctype, body = await asyncio.to_thread(get)
            assert status == 200 and ctype == "application/json"
            assert body["status"] == "ok" and body["protocol"] == 1
            assert body["voices"] == ["heart", "low"] and body["default_voice"] == "heart"
            assert body["workers_busy"] == 0

    run(main())


def test_max_connections() -> None:
    async def main() -> None:
        async with running(ScriptedEngine(), max_connections=1) as (server, url):
            ws = await open_client(url)
            with pytest.raises(InvalidStatus) as info:
                await connect(url)
            assert info.value.response.status_code == 503
            await ws.close()
            await wait_for(lambda: server.connections == 0)
            ws2 = await open_client(url)
            await ws2.close()

    run(main())


def test_voices_offered_can_be_restricted() -> None:
    async def main() -> None:
        async with running(ScriptedEngine(), voices=("low",)) as (_, url):
            ws = await open_client(url)
            await ws.send('{"type": "voices"}')
            msg = await recv_json(ws)
            assert [v["id"] for v in msg["voices"]] == ["low"]  # type: ignore[union-attr,index]
            _, _, err = await speak_and_collect(ws, "a", "hi", voice="heart")
            assert err["code"] == "unknown_voice"
            await ws.close()

    run(main())
    with pytest.raises(ValueError, match="not loaded"):
        ParleyServer(ScriptedEngine(), ServerConfig(voices=("nobody",)))


def test_server_close_with_active_streams() -> None:
    engine = ScriptedEngine(chunk_delay_s=0.02)

    async def main() -> None:
        server = ParleyServer(engine, ServerConfig(port=0, worker_threads=2))
        await server.start()
        url = f"ws://127.0.0.1:{server.port}"
        clients = [await open_client(url) for _ in range(3)]
        for i, ws in enumerate(clients):
            await ws.send(json.dumps({"type": "speak", "id": f"r{i}", "text": "chunks:1000"}))
        await wait_for(lambda: engine.live_streams == 3)
        pool = server.pool
        await server.close()
        assert engine.live_streams == 0
        assert not any(t.is_alive() for t in pool.threads)

    run(main())


def test_many_streams_interleave() -> None:
    """Twelve concurrent streams on two worker threads all progress, and a newcomer's first audio
    is not stuck behind their queued chunks: earliest deadline first puts it next in line (FIFO
    would make it wait for ~12 jobs of 20 ms on 2 threads, over 100 ms)."""
    engine = ScriptedEngine(chunk_delay_s=0.02)

    async def one(url: str, rid: str, n: int) -> dict[str, object]:
        ws = await open_client(url)
        _, _, done = await speak_and_collect(ws, rid, f"chunks:{n}")
        await ws.close()
        return done

    async def main() -> None:
        async with running(engine) as (server, url):
            busy = [asyncio.create_task(one(url, f"bg{i}", 25)) for i in range(12)]
            # Every stream is past its first chunk (so ahead of real time), and jobs are queued.
            await wait_for(lambda: engine.chunks_made >= 36 and server.pool.pending >= 8)
            late = await one(url, "late", 2)
            assert isinstance(late["first_audio_ms"], float) and late["first_audio_ms"] < 80
            for done in await asyncio.gather(*busy):
                assert done["type"] == "done" and done["chunks"] == 25

    run(main())


def test_server_config_is_validated() -> None:
    with pytest.raises(ValueError, match="low_water_ms"):
        ServerConfig(high_water_ms=100, low_water_ms=200)
    with pytest.raises(ValueError, match="worker_threads"):
        ServerConfig(worker_threads=0)
    with pytest.raises(ValueError, match="port"):
        ServerConfig(port=70000)
    with pytest.raises(ValueError, match="voices"):
        ServerConfig(voices=())


def test_voices_with_whole_chunk_calls_are_heavy_jobs() -> None:
    class Slow:
        whole_chunk = True

    class Fast:
        pass

    class WithVoices(ScriptedEngine):
        def voice(self, voice_id: str) -> object:
            return Slow() if voice_id == "low" else Fast()

    assert ParleyServer(WithVoices(), ServerConfig(port=0)).heavy_voices == frozenset({"low"})
    assert ParleyServer(ScriptedEngine(), ServerConfig(port=0)).heavy_voices == frozenset()


@pytest.mark.integration
def test_kokoro_voices_are_heavy_and_heart_is_not() -> None:
    from parley_engine import Engine
    from parley_engine.errors import AssetError

    try:
        engine = Engine.load(["heart", "joe", "af_heart"])
    except AssetError as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"Kokoro assets not installed ({err.message})")
    assert ParleyServer(engine, ServerConfig(port=0)).heavy_voices == frozenset({"af_heart"})
