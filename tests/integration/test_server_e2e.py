"""End to end: the real server, the real engine and voice "heart", over real WebSockets.

The server runs in-process in a background thread with its own event loop (as `parley serve`
would run it), on a free port; each test talks to it with plain WebSocket clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from websockets.asyncio.client import ClientConnection, connect

pytestmark = pytest.mark.integration

SENTENCE = "Hello there. This is Parley, a streaming speech engine, talking to you."
LONG_TEXT = " ".join(
    [
        "The quick brown fox jumps over the lazy dog while the band plays on.",
        "Streaming speech has to start quickly, keep going without gaps, and stop at once when asked.",
        "Every listener notices a click, a pause in the wrong place, or a word that is dropped.",
    ]
    * 6
)


class ServerThread:
    """The real server (real engine, warmed up) in a thread with its own event loop."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="e2e-server", daemon=True
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.port = 0
        self.server: object = None

    async def _main(self) -> None:
        from parley_server.app import ParleyServer, load_engine
        from parley_server.config import ServerConfig

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            config = ServerConfig(port=0, voices=("heart",), max_connections=64)
            engine = await asyncio.to_thread(load_engine, config)
            server = ParleyServer(engine, config)
            await server.start()
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            raise
        self.server = server
        self.port = server.port
        self._ready.set()
        await self._stop.wait()
        await server.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(240), "the server did not start in time"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def health(self) -> dict[str, object]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=10) as r:
            assert r.status == 200
            body = json.loads(r.read())
        assert isinstance(body, dict)
        return body


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread() as st:
        yield st


def run(coro: object, timeout_s: float = 120) -> object:
    return asyncio.run(asyncio.wait_for(coro, timeout_s))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def client(url: str) -> AsyncIterator[ClientConnection]:
    """A plain WebSocket client that has read ``hello``; closed even if the test fails, so that a
    failure cannot leave a stalled connection behind for the next test."""
    async with connect(url, compression=None, max_size=None) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["protocol"] == 1
        assert hello["server"].startswith("parley/") and hello["max_text_chars"] == 20000
        yield ws


@dataclass
class Result:
    start: dict[str, object]
    frames: list[bytes]
    end: dict[str, object]
    wall_s: float
    first_frame_s: float | None

    def samples(self) -> npt.NDArray[np.float32]:
        fmt = self.start.get("format")
        if fmt == "pcm_f32le":
            return np.frombuffer(b"".join(self.frames), "<f4").astype(np.float32)
        return np.frombuffer(b"".join(self.frames), "<i2").astype(np.float32) / 32768.0

    def int16(self) -> npt.NDArray[np.int16]:
        return np.frombuffer(b"".join(self.frames), "<i2")


async def collect(
    ws: ClientConnection,
    rid: str,
    t0: float | None = None,
    start: dict[str, object] | None = None,
    frames: list[bytes] | None = None,
) -> Result:
    """Read until ``rid`` ends (``start``/``frames``: what was already read of it)."""
    t0 = time.perf_counter() if t0 is None else t0
    start = {} if start is None else start
    frames = [] if frames is None else frames
    first: float | None = None
    while True:
        m = await ws.recv()
        if isinstance(m, bytes):
            assert start.get("id") == rid, "a binary frame outside its request"
            if first is None:
                first = time.perf_counter() - t0
            frames.append(m)
            continue
        msg = json.loads(m)
        if msg.get("id") != rid:
            continue
        if msg["type"] == "start":
            start = msg
        elif msg["type"] in ("done", "cancelled", "error"):
            return Result(start, frames, msg, time.perf_counter() - t0, first)


async def speak(ws: ClientConnection, rid: str, text: str, **fields: object) -> Result:
    t0 = time.perf_counter()
    await ws.send(json.dumps({"type": "speak", "id": rid, "text": text, **fields}))
    return await collect(ws, rid, t0)


def check_speech(res: Result, text: str) -> None:
    assert res.end["type"] == "done", res.end
    assert res.start["sample_rate_hz"] == 24000 and res.start["channels"] == 1
    x = res.samples()
    sr = 24000
    duration_s = x.size / sr
    words = len(re.findall(r"[A-Za-z']+", text))
    # Conversational English runs at ~2-4 words a second; allow pauses and a slow voice.
    assert 0.15 * words <= duration_s <= 1.0 * words + 1.0, f"{duration_s:.2f} s for {words} words"
    assert res.end["audio_ms"] == pytest.approx(1000 * duration_s, abs=0.1)
    assert np.all(np.isfinite(x)), "NaN or Inf in the audio"
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    assert rms > 0.01, f"audio is (nearly) silent: RMS {rms:.4f}"
    # Speech, not one long silence: most 100 ms windows carry energy.
    win = x[: x.size // 2400 * 2400].reshape(-1, 2400)
    active = np.mean(np.sqrt(np.mean(win.astype(np.float64) ** 2, axis=1)) > 0.005)
    assert active > 0.5, f"only {active:.0%} of 100 ms windows are voiced"
    frame_bytes = int(res.start["frame_samples"]) * (2 if res.start["format"] == "pcm_s16le" else 4)  # type: ignore[call-overload]
    assert all(len(f) == frame_bytes for f in res.frames[:-1]) and 0 < len(res.frames[-1]) <= frame_bytes


def test_health(server: ServerThread) -> None:
    body = server.health()
    assert body["status"] == "ok" and body["voices"] == ["heart"] and body["default_voice"] == "heart"


def test_speak_pcm_s16le(server: ServerThread) -> None:
    async def main() -> None:
        async with client(server.url) as ws:
            res = await speak(ws, "s16", SENTENCE, voice="heart")
            check_speech(res, SENTENCE)
            pcm = res.int16()
            at_rail = np.abs(pcm.astype(np.int32)) >= 32767
            assert at_rail.mean() < 0.001, f"{at_rail.mean():.2%} of samples at full scale"
            # Never stuck at a rail: no run of 5 consecutive full-scale samples.
            run_len = np.convolve(at_rail.astype(np.int32), np.ones(5, np.int32), "valid")
            assert run_len.max(initial=0) < 5
            done = res.end
            assert isinstance(done["first_audio_ms"], float) and 0 < done["first_audio_ms"] < 2000
            assert done["chunks"] >= 2, "the engine is expected to stream several chunks"

    run(main())


def test_speak_pcm_f32le(server: ServerThread) -> None:
    async def main() -> None:
        async with client(server.url) as ws:
            res = await speak(ws, "f32", SENTENCE, format="pcm_f32le", frame_ms=40)
            check_speech(res, SENTENCE)
            x = res.samples()
            assert np.max(np.abs(x)) < 1.0, "f32 audio reaches or exceeds full scale"
            assert res.start["frame_ms"] == 40 and res.start["frame_samples"] == 960

    run(main())


def test_two_requests_in_order(server: ServerThread) -> None:
    async def main() -> None:
        async with client(server.url) as ws:
            texts = {"first": "One, two, three.", "second": "And now the second request speaks."}
            for rid, text in texts.items():
                await ws.send(json.dumps({"type": "speak", "id": rid, "text": text}))
            a = await collect(ws, "first")
            b = await collect(ws, "second")
            check_speech(a, texts["first"])
            check_speech(b, texts["second"])
            assert b.end["queued_ms"] > 0  # it waited for the first

    run(main())


BAD_INPUTS: list[tuple[str, object, str]] = [
    ("empty text", {"type": "speak", "id": "e1", "text": ""}, "empty_text"),
    ("text too long", {"type": "speak", "id": "e2", "text": "a" * 20001}, "text_too_long"),
    ("unknown voice", {"type": "speak", "id": "e3", "text": "hi", "voice": "nobody"}, "unknown_voice"),
    ("unknown format", {"type": "speak", "id": "e4", "text": "hi", "format": "mp3"}, "unsupported_format"),
    ("frame_ms", {"type": "speak", "id": "e5", "text": "hi", "frame_ms": 5}, "invalid_setting"),
    ("speed", {"type": "speak", "id": "e6", "text": "hi", "speed": 9}, "invalid_setting"),
    ("seed", {"type": "speak", "id": "e7", "text": "hi", "seed": "x"}, "invalid_setting"),
    ("missing id", {"type": "speak", "text": "hi"}, "invalid_id"),
    ("duplicate id", {"type": "speak", "id": "busy", "text": "hi"}, "duplicate_id"),
    ("malformed JSON", '{"type": "speak", "id": ', "invalid_json"),
    ("JSON not an object", "[1, 2, 3]", "invalid_message"),
    ("binary frame", b"\x01\x02\x03\x04", "binary_not_allowed"),
    ("unknown type", {"type": "shout", "id": "e8"}, "unknown_type"),
    ("cancel unknown id", {"type": "cancel", "id": "ghost"}, "unknown_id"),
]


def test_bad_inputs_get_their_error_and_the_connection_carries_on(server: ServerThread) -> None:
    async def main() -> None:
        async with client(server.url) as ws:
            # A long request streams while the bad messages arrive; it must finish intact.
            await ws.send(json.dumps({"type": "speak", "id": "busy", "text": LONG_TEXT}))
            errors: dict[str, dict[str, object]] = {}
            busy_start: dict[str, object] = {}
            busy_frames: list[bytes] = []
            for name, message, _ in BAD_INPUTS:
                payload = message if isinstance(message, (str, bytes)) else json.dumps(message)
                await ws.send(payload)
                while True:
                    m = await ws.recv()
                    if isinstance(m, bytes):
                        busy_frames.append(m)  # audio of "busy"
                        continue
                    msg = json.loads(m)
                    if msg["type"] == "error":
                        errors[name] = msg
                        break
                    assert msg["type"] == "start" and msg["id"] == "busy", msg
                    busy_start = msg
            for name, _, code in BAD_INPUTS:
                err = errors[name]
                assert err["code"] == code, (name, err)
                assert isinstance(err["message"], str) and err["message"]
                if err["field"] is not None:
                    assert err["field"] in err["message"], err
            assert errors["empty text"]["id"] == "e1" and errors["empty text"]["field"] == "text"
            assert errors["unknown voice"]["field"] == "voice"
            assert errors["missing id"]["id"] is None
            busy = await collect(ws, "busy", start=busy_start, frames=busy_frames)
            check_speech(busy, LONG_TEXT)
            after = await speak(ws, "after", "Still here.")
            check_speech(after, "Still here.")

    run(main())


def test_cancel_mid_stream(server: ServerThread) -> None:
    async def main() -> None:
        async with client(server.url) as ws:
            await ws.send(json.dumps({"type": "speak", "id": "long", "text": LONG_TEXT}))
            start = json.loads(await ws.recv())
            assert start["type"] == "start"
            before = 0
            while before < 25:  # half a second of audio
                m = await ws.recv()
                assert isinstance(m, bytes)
                before += 1
            await ws.send(json.dumps({"type": "cancel", "id": "long"}))
            in_flight = 0
            while True:
                m = await ws.recv()
                if isinstance(m, bytes):
                    in_flight += 1
                    continue
                msg = json.loads(m)
                assert msg == {"type": "cancelled", "id": "long", "audio_ms_sent": msg["audio_ms_sent"]}
                break
            assert msg["audio_ms_sent"] == pytest.approx((before + in_flight) * 20)
            # Nothing more arrives for it, and the next request on the connection works.
            res = await speak(ws, "next", "Cancelled, and on to the next one.")
            check_speech(res, "Cancelled, and on to the next one.")

    run(main())
    deadline = time.monotonic() + 10
    while True:
        h = server.health()
        if h["active_requests"] == 0 and h["workers_busy"] == 0 and h["workers_pending"] == 0:
            break
        assert time.monotonic() < deadline, h
        time.sleep(0.05)


def test_disconnect_mid_stream_leaves_no_work(server: ServerThread) -> None:
    threads_before = {t.ident for t in threading.enumerate()}

    async def main() -> None:
        async with client(server.url) as ws:
            await ws.send(json.dumps({"type": "speak", "id": "a", "text": LONG_TEXT}))
            await ws.send(json.dumps({"type": "speak", "id": "b", "text": LONG_TEXT}))
            for _ in range(10):
                await ws.recv()
            ws.transport.abort()  # vanish without a closing handshake

    run(main())
    deadline = time.monotonic() + 10
    while True:
        h = server.health()
        idle = h["connections"] == 0 and h["active_requests"] == 0
        if idle and h["workers_busy"] == 0 and h["workers_pending"] == 0:
            break
        assert time.monotonic() < deadline, f"work left behind after the client left: {h}"
        time.sleep(0.02)
    # Stays idle: generation did not continue in the background (no synthesis job ran since).
    time.sleep(0.3)
    h2 = server.health()
    assert h2["workers_busy"] == 0 and h2["workers_pending"] == 0 and h2["active_requests"] == 0
    assert h2["jobs_completed"] == h["jobs_completed"]
    assert {t.ident for t in threading.enumerate()} <= threads_before | {threading.get_ident()}


def test_sixteen_concurrent_connections_faster_than_real_time(server: ServerThread) -> None:
    text = "Sixteen listeners at once, and every one of them hears this sentence without waiting."
    n = 16

    async def one(i: int) -> Result:
        async with client(server.url) as ws:
            res = await speak(ws, f"c{i}", text)
            return res

    async def main() -> list[Result]:
        return list(await asyncio.gather(*(one(i) for i in range(n))))

    results = run(main(), timeout_s=240)
    assert isinstance(results, list)
    rtf = []
    for res in results:
        check_speech(res, text)
        audio_s = float(res.end["audio_ms"]) / 1000  # type: ignore[arg-type]
        rtf.append(res.wall_s / audio_s)
    firsts = sorted(float(r.end["first_audio_ms"]) for r in results)  # type: ignore[arg-type]
    print(
        f"\n16 connections: wall/audio max {max(rtf):.2f}, median {sorted(rtf)[n // 2]:.2f}; "
        f"first audio (server) p50 {firsts[n // 2]:.0f} ms, max {firsts[-1]:.0f} ms"
    )
    assert max(rtf) < 1.0, f"a connection received audio slower than real time: {max(rtf):.2f}"
