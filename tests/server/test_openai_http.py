"""POST /v1/audio/speech over real sockets, on the WebSocket port, with a scripted engine: the
audio and its encoding, streaming before synthesis ends, every HTTP error, disconnects that stop
the synthesis, and WebSockets and plain GETs still working beside it.
tests/integration/test_openai_speech_e2e.py repeats the essentials with the real voice."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
import soundfile as sf
from parley_engine.errors import InvalidSettingError, SynthesisError
from parley_engine.types import AudioChunk, CancelToken, SpeakSettings, VoiceInfo
from parley_kernels import resample
from parley_kernels.pcm import float_to_pcm16
from parley_server import http_api
from parley_server.app import ParleyServer
from parley_server.config import ServerConfig
from websockets.asyncio.client import connect

PATH = "/v1/audio/speech"


class ScriptedEngine:
    """Speaks a 440 Hz tone, one chunk of ``chunk_ms`` per word of the text ("chunks:N": N
    chunks), each after ``chunk_delay_s``; "refuse" is refused at stream(), "synthfail" and
    "boom" fail at the second chunk."""

    MAX_TEXT_CHARS = 200
    default_voice = "heart"

    def __init__(self, chunk_delay_s: float = 0.0, chunk_ms: int = 100) -> None:
        self.chunk_delay_s = chunk_delay_s
        self.chunk_ms = chunk_ms
        self.lock = threading.Lock()
        self.live_streams = 0
        self.chunks_made = 0
        self.requests: list[tuple[str, str, float]] = []

    def voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo("heart", "en-US", "female", 24000, "test"),
            VoiceInfo("joe", "en-US", "male", 22050, "test"),
            VoiceInfo("low", "en-US", "male", 16000, "test"),
        ]

    def sample_rate_hz(self, voice_id: str) -> int:
        return {"heart": 24000, "joe": 22050, "low": 16000}[voice_id]

    def stream(
        self, text: str, voice: str, settings: SpeakSettings, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        if "refuse" in text:
            raise InvalidSettingError("this engine refuses the text", field="text")
        self.requests.append((text, voice, settings.speed))
        n = len(text.split())
        for word in text.split():
            if word.startswith("chunks:"):
                n = int(word.split(":")[1])
        return self._generate(text, n, self.sample_rate_hz(voice), cancel)

    def _generate(self, text: str, n: int, sr: int, cancel: CancelToken) -> Iterator[AudioChunk]:
        with self.lock:
            self.live_streams += 1
        pos = 0
        try:
            for i in range(n):
                if cancel.cancelled:
                    return
                if self.chunk_delay_s:
                    time.sleep(self.chunk_delay_s)
                if i == 1 and "synthfail" in text:
                    raise SynthesisError("the vocoder diverged")
                if i == 1 and "boom" in text:
                    raise RuntimeError("secret internal detail")
                size = sr * self.chunk_ms // 1000
                yield AudioChunk(tone(pos, size, sr), sr, pos, 0)
                with self.lock:
                    self.chunks_made += 1
                pos += size
        finally:
            with self.lock:
                self.live_streams -= 1


def tone(pos: int, size: int, sr: int) -> np.ndarray:
    t = np.arange(pos, pos + size) / sr
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@contextlib.asynccontextmanager
async def running(engine: ScriptedEngine, **overrides: object) -> AsyncIterator[ParleyServer]:
    config = ServerConfig(port=0, worker_threads=2, **overrides)  # type: ignore[arg-type]
    async with ParleyServer(engine, config) as server:
        yield server


def run(coro: object, timeout_s: float = 30) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout_s))  # type: ignore[arg-type]


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def error(self) -> dict[str, object]:
        assert self.headers["content-type"] == "application/json"
        obj = json.loads(self.body)
        assert set(obj) == {"error"} and set(obj["error"]) == {"message", "type", "param", "code"}
        assert isinstance(obj["error"], dict)
        return obj["error"]


def request(
    port: int,
    body: object = None,
    *,
    method: str = "POST",
    path: str = PATH,
    headers: dict[str, str] | None = None,
) -> Reply:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def raw(port: int, data: bytes, *, shut: bool = False) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


async def idle(server: ParleyServer, engine: ScriptedEngine, timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        h = server.stats()
        if h["http_requests"] == 0 and h["workers_busy"] == 0 and engine.live_streams == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the server did not go idle: {server.stats()}, {engine.live_streams} streams")


# --------------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------------


def test_pcm_is_the_voices_audio_as_s16le_streamed_chunked() -> None:
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as server:
            r = await asyncio.to_thread(
                request,
                server.port,
                {"model": "tts-1", "input": "one two three", "voice": "heart", "response_format": "pcm"},
            )
            assert r.status == 200, r.body
            assert r.headers["content-type"] == "audio/pcm"
            assert r.headers["transfer-encoding"] == "chunked" and "content-length" not in r.headers
            assert r.headers["connection"] == "close" and r.headers["x-parley-sample-rate"] == "24000"
            assert r.headers["x-parley-voice"] == "heart" and r.headers["server"].startswith("parley/")
            expected = np.concatenate([tone(i * 2400, 2400, 24000) for i in range(3)])
            assert r.body == float_to_pcm16(expected).astype("<i2").tobytes()
            assert engine.requests == [("one two three", "heart", 1.0)]
            await idle(server, engine)

    run(main())


@pytest.mark.parametrize("voice", ["joe", "low"])
def test_other_rates_are_resampled_to_24k(voice: str) -> None:
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as server:
            r = await asyncio.to_thread(
                request, server.port, {"input": "a b c d", "voice": voice, "response_format": "pcm"}
            )
            assert r.status == 200 and r.headers["x-parley-voice"] == voice
            sr = engine.sample_rate_hz(voice)
            size = sr // 10
            x = np.concatenate([tone(i * size, size, sr) for i in range(4)])
            state = resample.init_state(sr, 24000)
            y = np.concatenate([resample.push(state, x), resample.flush(state)])
            got = np.frombuffer(r.body, "<i2")
            assert len(got) == resample.output_length(len(x), sr, 24000) == 9600
            assert np.array_equal(got, float_to_pcm16(y).astype("<i2"))

    run(main())


def test_wav_is_a_streamed_24k_wav() -> None:
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as server:
            r = await asyncio.to_thread(
                request, server.port, {"input": "a b", "voice": "low"}
            )  # default: wav
            assert r.status == 200 and r.headers["content-type"] == "audio/wav"
            assert r.body[:4] == b"RIFF" and r.body[4:8] == b"\xff\xff\xff\xff"
            y, sr = sf.read(io.BytesIO(r.body), dtype="float32")
            assert sr == 24000 and len(y) == 4800
            assert 0.3 < np.sqrt(np.mean(y**2)) < 0.4  # the 0.5-amplitude tone

    run(main())


def test_openai_voice_names_and_speed_reach_the_engine() -> None:
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as server:
            for voice, speed in (("alloy", 0.5), ("onyx", 4), ("echo", 1.25)):
                r = await asyncio.to_thread(
                    request,
                    server.port,
                    {"input": "hi", "voice": voice, "speed": speed, "response_format": "pcm"},
                )
                assert r.status == 200
            assert engine.requests == [("hi", "heart", 0.5), ("hi", "joe", 4.0), ("hi", "joe", 1.25)]

    run(main())


def test_first_bytes_arrive_while_synthesis_goes_on() -> None:
    engine = ScriptedEngine(chunk_delay_s=0.15)

    async def main() -> None:
        async with running(engine) as server:

            def timed() -> tuple[float, float, float, int]:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                t0 = time.monotonic()
                conn.request("POST", PATH, body=json.dumps({"input": "chunks:12", "response_format": "pcm"}))
                r = conn.getresponse()
                first = r.read1(65536)
                t_first = time.monotonic() - t0
                made_at_first = engine.chunks_made
                rest = r.read()
                conn.close()
                return t_first, time.monotonic() - t0, made_at_first, len(first) + len(rest)

            t_first, t_all, made_at_first, n = await asyncio.to_thread(timed)
            assert n == 12 * 4800
            assert made_at_first <= 3, "the first bytes waited for most of the synthesis"
            assert t_first < 0.3 * t_all, (t_first, t_all)

    run(main())


def test_concurrent_requests_and_websockets_on_the_same_port() -> None:
    engine = ScriptedEngine(chunk_delay_s=0.02)

    async def main() -> None:
        async with running(engine) as server:
            port = server.port
            body = {"input": "a b c d e", "response_format": "pcm"}
            replies = await asyncio.gather(*[asyncio.to_thread(request, port, body) for _ in range(4)])
            assert [r.status for r in replies] == [200] * 4
            assert all(len(r.body) == 5 * 4800 for r in replies)
            # v1 and v2 WebSockets, /health and the browser client are unaffected
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                assert json.loads(await ws.recv())["protocol"] == 1
                await ws.send(json.dumps({"type": "speak", "id": "r1", "text": "a b", "voice": "low"}))
                types = []
                while True:
                    m = await ws.recv()
                    if isinstance(m, str):
                        types.append(json.loads(m)["type"])
                        if types[-1] in ("done", "error"):
                            break
                assert types == ["start", "done"]
            async with connect(f"ws://127.0.0.1:{port}/", subprotocols=["parley.v2"]) as ws:  # type: ignore[list-item]
                assert json.loads(await ws.recv())["protocol"] == 2
            async with connect(f"ws://127.0.0.1:{port}/v2") as ws:
                assert json.loads(await ws.recv())["protocol"] == 2
            health = await asyncio.to_thread(request, port, method="GET", path="/health")
            assert health.status == 200 and json.loads(health.body)["http_requests"] == 0
            index = await asyncio.to_thread(request, port, method="GET", path="/")
            assert index.status == 200 and b"<html" in index.body.lower()

    run(main())


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


def test_bad_bodies_get_openai_errors_and_nothing_is_synthesised() -> None:
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as server:
            port = server.port
            cases: list[tuple[object, str | None, str]] = [
                (b"{not json", None, "invalid_json"),
                ({"voice": "heart"}, "input", "missing_required_parameter"),
                ({"input": "hi", "voice": "nobody"}, "voice", "unknown_voice"),
                ({"input": "x" * 201}, "input", "text_too_long"),
                ({"input": "hi", "speed": 0.25}, "speed", "invalid_value"),
                ({"input": "hi", "response_format": "mp3"}, "response_format", "unsupported_response_format"),
            ]
            for body, param, code in cases:
                r = await asyncio.to_thread(request, port, body)
                err = r.error()
                assert (r.status, err["param"], err["code"], err["type"]) == (
                    400,
                    param,
                    code,
                    "invalid_request_error",
                ), (body, r.body)
            assert engine.requests == []
            # refused by the engine itself (after validation): still a 400 with the engine's code
            r = await asyncio.to_thread(request, port, {"input": "please refuse"})
            assert (
                r.status == 400 and r.error()["code"] == "invalid_setting" and r.error()["param"] == "input"
            )
            await idle(server, engine)

    run(main())


def test_http_level_errors() -> None:
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as server:
            port = server.port
            r = await asyncio.to_thread(request, port, method="GET")
            assert (
                r.status == 405 and r.headers["allow"] == "POST" and r.error()["code"] == "method_not_allowed"
            )
            r = await asyncio.to_thread(request, port, b"{}", method="PUT")
            assert r.status == 405 and r.headers["allow"] == "POST"
            r = await asyncio.to_thread(request, port, method="HEAD")
            assert r.status == 405 and r.body == b""
            r = await asyncio.to_thread(request, port, b"{}", path="/health")
            assert r.status == 405 and r.headers["allow"] == "GET"
            r = await asyncio.to_thread(request, port, b"{}", path="/")
            assert r.status == 405
            r = await asyncio.to_thread(request, port, method="GET", path="/v1/models")
            assert r.status == 404 and r.error()["code"] == "not_found"
            r = await asyncio.to_thread(request, port, b"{}", path="/v1/audio/transcriptions")
            assert r.status == 404
            # a body over the cap: refused from its Content-Length, before it is read (413)
            r = await asyncio.to_thread(request, port, b"x" * 70_000)
            assert r.status == 413 and r.error()["code"] == "request_too_large"
            # ...or, sent chunked, once it passes the cap
            out = await asyncio.to_thread(
                raw,
                port,
                f"POST {PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                + b"".join(b"4000\r\n" + b" " * 0x4000 + b"\r\n" for _ in range(5))
                + b"0\r\n\r\n",
            )
            assert out.startswith(b"HTTP/1.1 413 ")
            # no Content-Length (and not chunked): 411
            out = await asyncio.to_thread(raw, port, f"POST {PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert out.startswith(b"HTTP/1.1 411 Length Required\r\n") and b'"length_required"' in out
            # malformed requests: 400; a huge head: 431
            out = await asyncio.to_thread(
                raw, port, f"POST {PATH} HTTP/1.1\r\nContent-Length: x\r\n\r\n".encode()
            )
            assert out.startswith(b"HTTP/1.1 400 ") and b"malformed HTTP request" in out
            out = await asyncio.to_thread(
                raw, port, b"POST /v1/x HTTP/1.1\r\nX: " + b"a" * 40_000 + b"\r\n\r\n"
            )
            assert out.startswith(b"HTTP/1.1 431 ")
            # a body shorter than announced, then the client gives up: no answer needed, no crash
            out = await asyncio.to_thread(
                raw,
                port,
                f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{{".encode(),
                shut=True,
            )
            assert out == b"" or out.startswith(b"HTTP/1.1 400 ")
            # a request line that never ends goes to websockets, which refuses it
            out = await asyncio.to_thread(raw, port, b"G" * 9000 + b"\r\n\r\n")
            assert out.startswith(b"HTTP/1.1 414 ")
            assert engine.requests == []
            health = await asyncio.to_thread(request, port, method="GET", path="/health")
            assert health.status == 200

    run(main())


def test_expect_100_continue_and_chunked_bodies() -> None:
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as server:
            body = json.dumps({"input": "hi", "response_format": "pcm"}).encode()

            def talk() -> bytes:
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                    s.sendall(
                        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                        "Expect: 100-continue\r\n\r\n".encode()
                    )
                    interim = s.recv(100)
                    s.sendall(body)
                    out = b""
                    while chunk := s.recv(65536):
                        out += chunk
                    return interim + out

            out = await asyncio.to_thread(talk)
            assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
            chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
            out = await asyncio.to_thread(
                raw,
                server.port,
                f"POST {PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunked,
            )
            assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n0\r\n\r\n")
            # HTTP/1.0: no chunked encoding, the end of the body is the end of the connection
            out = await asyncio.to_thread(
                raw,
                server.port,
                f"POST {PATH} HTTP/1.0\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body,
            )
            head, _, audio = out.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK") and b"chunked" not in head.lower()
            assert len(audio) == 4800

    run(main())


def test_a_request_that_never_completes_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_api, "REQUEST_TIMEOUT_S", 0.3)
    monkeypatch.setattr(http_api, "REQUEST_LINE_TIMEOUT_S", 0.3)
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as server:
            out = await asyncio.to_thread(
                raw, server.port, f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{{".encode()
            )
            assert out.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"request_timeout" in out
            t0 = time.monotonic()
            assert await asyncio.to_thread(raw, server.port, b"POS") == b""  # no request line: closed
            assert time.monotonic() - t0 < 5

    run(main())


def test_engine_failure_mid_stream_cuts_the_body() -> None:
    engine = ScriptedEngine()

    async def main() -> None:
        async with running(engine) as server:
            for text in ("synthfail chunks:4", "boom chunks:4"):

                def fetch(text: str = text) -> None:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                    conn.request("POST", PATH, body=json.dumps({"input": text, "response_format": "pcm"}))
                    r = conn.getresponse()
                    assert r.status == 200
                    with pytest.raises(http.client.IncompleteRead):
                        r.read()
                    conn.close()

                await asyncio.to_thread(fetch)
            await idle(server, engine)

    run(main())


def test_client_leaving_mid_body_stops_synthesis_within_a_chunk() -> None:
    engine = ScriptedEngine(chunk_delay_s=0.1)

    async def main() -> None:
        async with running(engine) as server:
            port = server.port

            def leave_early() -> None:
                body = json.dumps({"input": "chunks:100", "response_format": "pcm"}).encode()
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(
                        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    got = b""
                    while b"\r\n\r\n" not in got or len(got) < 1000:
                        got += s.recv(65536)
                    assert got.startswith(b"HTTP/1.1 200 OK\r\n")

            await asyncio.to_thread(leave_early)
            made = engine.chunks_made
            await idle(server, engine)
            assert engine.chunks_made <= made + 2, "synthesis went on after the client left"
            before = server.pool.completed
            await asyncio.sleep(0.3)
            assert server.pool.completed == before and engine.chunks_made < 10

    run(main())


def test_a_client_that_stops_reading_holds_back_synthesis() -> None:
    engine = ScriptedEngine(chunk_ms=1000)

    async def main() -> None:
        async with running(engine, socket_send_buffer_bytes=4096) as server:
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                body = json.dumps({"input": "chunks:1000", "response_format": "pcm"}).encode()
                s.sendall(
                    f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
                )
                await asyncio.sleep(1.0)
                # 1000 s of audio asked for; without reading, only socket buffers' worth is made
                assert 1 <= engine.chunks_made < 30, engine.chunks_made
            await idle(server, engine)

    run(main())


def test_busy_server_answers_503() -> None:
    engine = ScriptedEngine(chunk_delay_s=0.05)

    async def main() -> None:
        async with running(engine, max_connections=1) as server:
            port = server.port
            slow = asyncio.create_task(
                asyncio.to_thread(request, port, {"input": "chunks:20", "response_format": "pcm"})
            )
            while server.stats()["http_requests"] == 0:
                await asyncio.sleep(0.01)
            r = await asyncio.to_thread(request, port, {"input": "hi"})
            assert r.status == 503 and r.error()["code"] == "server_busy" and r.headers["retry-after"] == "1"
            assert (await slow).status == 200

    run(main())


def test_closing_the_server_cuts_http_streams_and_leaves_no_work() -> None:
    engine = ScriptedEngine(chunk_delay_s=0.05)

    async def main() -> None:
        server = ParleyServer(engine, ServerConfig(port=0, worker_threads=2))
        await server.start()
        port = server.port
        got: list[object] = []

        def fetch() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", PATH, body=json.dumps({"input": "chunks:200", "response_format": "pcm"}))
            r = conn.getresponse()
            try:
                r.read()
            except http.client.IncompleteRead as exc:
                got.append(exc)
            conn.close()

        fetching = asyncio.create_task(asyncio.to_thread(fetch))
        idle_conn = socket.create_connection(("127.0.0.1", port))  # sends nothing at all
        while engine.chunks_made < 2:
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        await server.close()
        assert time.monotonic() - t0 < 3
        await fetching
        assert len(got) == 1 and engine.live_streams == 0
        idle_conn.settimeout(5)
        assert idle_conn.recv(10) == b""
        idle_conn.close()

    run(main())
