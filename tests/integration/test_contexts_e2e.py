"""Protocol v2 end to end: the real server, the real engine and voice "heart", real WebSockets.

The server runs in-process in a background thread with its own event loop (as in
test_server_e2e.py); each test talks to it over the ``parley.v2`` subprotocol, checking every frame
header with the client half of the protocol (sequence numbers, contiguous sample offsets).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest
from parley_clients.contexts import decode
from parley_server.protocol import ProtocolViolation
from parley_server.protocol_v2 import (
    ClientProtocolV2,
    ContextAudio,
    ContextCancelled,
    ContextCreated,
    ContextDone,
    ContextError,
    EventV2,
    ServerProtocolV2,
    Timestamps,
    WordStamp,
)
from test_server_e2e import ServerThread
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

pytestmark = pytest.mark.integration

LINES = [
    "Halt! Who goes there?",
    "The bridge is closed until morning, traveller.",
    "I have nothing to sell you today.",
    "Watch your step, the floor is wet.",
]
LONG = " ".join(
    [
        "Long ago, before the river changed its course, this valley was green from end to end.",
        "Farmers came from every village to trade, and the market never closed before sunset.",
    ]
    * 4
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread() as st:
        yield st


def run(coro: object, timeout_s: float = 180) -> object:
    return asyncio.run(asyncio.wait_for(coro, timeout_s))  # type: ignore[arg-type]


@dataclass
class Ctx:
    created: ContextCreated | None = None
    frames: list[ContextAudio] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    words: list[WordStamp] = field(default_factory=list)
    end: ContextDone | ContextCancelled | ContextError | None = None

    def audio(self) -> npt.NDArray[np.float32]:
        assert self.created is not None
        parts = [decode(f, self.created.format) for f in self.frames]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


class Session:
    """A v2 connection whose every message goes through ClientProtocolV2 (it checks each header)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.proto = ClientProtocolV2()
        self.ctx: dict[str, Ctx] = {}

    async def start(self) -> None:
        [hello] = self.proto.receive_text(str(await self.ws.recv()))
        assert getattr(hello, "protocol", None) == 2

    async def create(self, cid: str, **options: object) -> None:
        _, msg = self.proto.create(cid, **options)
        self.ctx[cid] = Ctx()
        await self.ws.send(msg)

    async def step(self) -> list[object]:
        m = await self.ws.recv()
        t = time.perf_counter()
        events = self.proto.receive_bytes(m) if isinstance(m, bytes) else self.proto.receive_text(m)
        for ev in events:
            assert not isinstance(ev, ProtocolViolation), ev.message
            if isinstance(ev, ContextCreated):
                self.ctx[ev.context].created = ev
            elif isinstance(ev, ContextAudio):
                self.ctx[ev.context].frames.append(ev)
                self.ctx[ev.context].arrivals.append(t)
            elif isinstance(ev, Timestamps):
                self.ctx[ev.context].words.extend(ev.words)
            elif isinstance(ev, (ContextDone, ContextCancelled)):
                self.ctx[ev.context].end = ev
            elif isinstance(ev, ContextError):
                assert ev.context is not None and ev.closed, ev
                self.ctx[ev.context].end = ev
        return list(events)

    async def until_all_ended(self) -> None:
        while any(c.end is None for c in self.ctx.values()):
            await self.step()


async def session(url: str) -> tuple[ClientConnection, Session]:
    ws = await connect(url, subprotocols=[Subprotocol("parley.v2")], compression=None, max_size=None)
    s = Session(ws)
    await s.start()
    return ws, s


def check_speech(audio: npt.NDArray[np.float32], sr: int, words: int) -> None:
    duration_s = audio.size / sr
    assert 0.15 * words <= duration_s <= 1.0 * words + 1.5, f"{duration_s:.2f} s for {words} words"
    assert np.all(np.isfinite(audio))
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    assert rms > 0.01, f"audio is (nearly) silent: RMS {rms:.4f}"


def n_words(text: str) -> int:
    return len(re.findall(r"[A-Za-z']+", text))


def wait_idle(server: ServerThread, timeout_s: float = 15) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        h = server.health()
        if h["context_tasks"] == 0 and h["workers_busy"] == 0 and h["workers_pending"] == 0:
            return h
        assert time.monotonic() < deadline, f"work left behind: {h}"
        time.sleep(0.02)


def test_64_contexts_on_one_connection(server: ServerThread) -> None:
    async def main() -> Session:
        ws, s = await session(server.url)
        async with ws:
            for i in range(64):
                await s.create(f"npc{i}", text=LINES[i % len(LINES)], end=True, seed=i)
            await s.until_all_ended()
        return s

    s = run(main(), timeout_s=240)
    assert isinstance(s, Session)
    streams = set()
    for i in range(64):
        c = s.ctx[f"npc{i}"]
        assert isinstance(c.end, ContextDone), c.end
        assert c.created is not None and c.created.sample_rate_hz == 24000
        streams.add(c.created.stream)
        offsets = [f.sample_offset for f in c.frames]
        sizes = [f.samples.size for f in c.frames]
        assert offsets == list(np.cumsum([0, *sizes[:-1]]))  # contiguous (also checked per frame)
        assert sum(sizes) == c.end.samples
        check_speech(c.audio(), 24000, n_words(LINES[i % len(LINES)]))
    assert len(streams) == 64
    wait_idle(server)


def test_cancel_stops_within_a_frame_and_the_others_carry_on(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Instrument the in-process server: how many frames of "b" had its protocol accepted when the
    # cancel reached it?
    at_cancel: list[int] = []
    original = ServerProtocolV2.receive_text

    def receive_text(self: ServerProtocolV2, text: str) -> list[EventV2]:
        if '"cancel"' in text and "b" in self.open_contexts:
            at_cancel.append(self._contexts["b"].seq)
        return original(self, text)

    monkeypatch.setattr(ServerProtocolV2, "receive_text", receive_text)

    async def main() -> tuple[Session, int, float]:
        ws, s = await session(server.url)
        async with ws:
            for cid in ("a", "b", "c"):
                await s.create(cid, text=LONG, end=True)
            while len(s.ctx["b"].frames) < 25:  # half a second of b
                await s.step()
            sent_at = len(s.ctx["b"].frames)
            t0 = time.perf_counter()
            await ws.send(s.proto.cancel("b"))
            while s.ctx["b"].end is None:
                await s.step()
            latency_ms = 1000 * (time.perf_counter() - t0)
            in_flight = len(s.ctx["b"].frames) - sent_at
            await s.until_all_ended()
            return s, in_flight, latency_ms

    result = run(main())
    assert isinstance(result, tuple)
    s, in_flight, latency_ms = result
    b = s.ctx["b"]
    assert isinstance(b.end, ContextCancelled)
    assert b.end.samples_sent == sum(f.samples.size for f in b.frames)  # nothing of b after cancelled
    # The server sent at most the frame it was writing when the cancel arrived; the rest of what
    # the client read after sending it was already on the wire (sent before the cancel arrived).
    [accepted] = at_cancel
    assert len(b.frames) - accepted <= 1, (len(b.frames), accepted)
    print(
        f"\ncancel: {latency_ms:.1f} ms to cancelled; {in_flight} frames were already on the wire; "
        f"{len(b.frames) - accepted} sent after the server got the cancel"
    )
    assert latency_ms < 200
    for cid in ("a", "c"):
        assert isinstance(s.ctx[cid].end, ContextDone)
        check_speech(s.ctx[cid].audio(), 24000, n_words(LONG))
    wait_idle(server)


def test_streamed_tokens_first_audio_soon_after_the_first_clause(server: ServerThread) -> None:
    text = "Well, my friend, the road ahead is long and dangerous, so pack some food. We leave at dawn."
    tokens = [" " + w if i else w for i, w in enumerate(text.split(" "))]

    async def main() -> tuple[Session, float, float]:
        ws, s = await session(server.url)
        async with ws:
            await s.create("npc", timestamps="word", latency_budget_ms=False)
            while s.ctx["npc"].created is None:
                await s.step()
            reader = asyncio.create_task(s.until_all_ended())
            clause_at = 0.0
            for tok in tokens:  # 20 tokens a second
                await ws.send(s.proto.text("npc", tok))
                if tok == " friend," and not clause_at:  # "Well, my friend," completes the first clause
                    clause_at = time.perf_counter()
                await asyncio.sleep(0.05)
            await ws.send(s.proto.end("npc"))
            await reader
            return s, clause_at, s.ctx["npc"].arrivals[0]

    result = run(main())
    assert isinstance(result, tuple)
    s, clause_at, first_audio = result
    c = s.ctx["npc"]
    assert (
        isinstance(c.end, ContextDone)
        and isinstance(c.end.stats["pieces"], int)
        and c.end.stats["pieces"] >= 3
    )
    latency_ms = 1000 * (first_audio - clause_at)
    print(f"\nfirst audio {latency_ms:.0f} ms after the token that completed the first clause")
    assert 0 < latency_ms < 300
    check_speech(c.audio(), 24000, n_words(text))
    # Word timestamps point into the whole text and into the context's samples, in order.
    assert len(c.words) >= n_words(text) - 2
    for w in c.words:
        if w.char_start >= 0:
            assert w.word.lower().strip(".,")[:2] in text[w.char_start : w.char_end].lower()
    starts = [w.start_sample for w in c.words]
    assert starts == sorted(starts) and starts[-1] < c.end.samples


@pytest.mark.parametrize(
    ("fmt", "rate", "width"),
    [
        ("pcm_s16le", 24000, 2),
        ("mulaw", 8000, 1),
        ("alaw", 8000, 1),
        ("pcm_s16le", 16000, 2),
        ("pcm_f32le", 48000, 4),
        ("pcm_s16le", 44100, 2),
    ],
)
def test_formats_and_rates(server: ServerThread, fmt: str, rate: int, width: int) -> None:
    text = "The quick brown fox jumps over the lazy dog."

    async def main() -> Session:
        ws, s = await session(server.url)
        async with ws:
            await s.create(
                "x", text=text, end=True, format=fmt, sample_rate_hz=rate, seed=3, timestamps="word"
            )
            await s.until_all_ended()
        return s

    s = run(main())
    assert isinstance(s, Session)
    c = s.ctx["x"]
    assert isinstance(c.end, ContextDone) and c.created is not None
    assert c.created.sample_rate_hz == rate and c.created.format == fmt
    frame_samples = c.created.frame_samples
    payload = sum(f.samples.size * width for f in c.frames)
    assert payload == c.end.samples * width
    assert all(f.samples.size <= frame_samples for f in c.frames)
    # A piece ends with its only short frame; every other frame is whole.
    ends = [i for i, f in enumerate(c.frames) if f.piece_end]
    assert ends and ends[-1] == len(c.frames) - 1
    assert all(f.samples.size == frame_samples for i, f in enumerate(c.frames) if i not in ends)
    audio = c.audio()
    check_speech(audio, rate, n_words(text))
    # Plausible audio at that rate: speech energy below 4 kHz; nothing above the voice's own band.
    spec = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / rate)
    assert spec[(freqs > 100) & (freqs < 4000)].sum() > 0.5 * spec.sum()
    if rate > 24000:
        assert spec[freqs > 12500].sum() < 1e-4 * spec.sum()  # upsampled: no images above 12 kHz
    # Timestamps are in the context's samples at its rate.
    assert c.words and c.words[-1].end_sample <= c.end.samples + rate // 100


def test_disconnect_leaves_no_worker_running(server: ServerThread) -> None:
    threads_before = {t.ident for t in threading.enumerate()}

    async def main() -> None:
        ws, s = await session(server.url)
        for i in range(8):
            await s.create(f"c{i}", text=LONG, end=True)
        while sum(len(c.frames) for c in s.ctx.values()) < 40:
            await s.step()
        ws.transport.abort()  # vanish without a closing handshake

    run(main())
    h = wait_idle(server)
    deadline = time.monotonic() + 10
    while h["connections"] or h["open_contexts"]:
        assert time.monotonic() < deadline, h
        time.sleep(0.02)
        h = server.health()
    time.sleep(0.3)
    h2 = server.health()
    assert h2["jobs_completed"] == h["jobs_completed"], "synthesis went on after the client left"
    assert h2["context_tasks"] == 0 and h2["workers_busy"] == 0
    assert {t.ident for t in threading.enumerate()} <= threads_before | {threading.get_ident()}


def test_update_and_voice_settings_reach_the_engine(server: ServerThread) -> None:
    text_a = "This first sentence is spoken at the normal pace."

    async def main() -> Session:
        ws, s = await session(server.url)
        async with ws:
            await s.create("slow", text=text_a, end=True, seed=1)
            await s.create("fast", text=text_a, end=True, seed=1, speed=2.0)
            await s.create("quiet", text=text_a, end=True, seed=1, volume_db=-20)
            await s.until_all_ended()
        return s

    s = run(main())
    assert isinstance(s, Session)
    slow, fast, quiet = (s.ctx[k].audio() for k in ("slow", "fast", "quiet"))
    assert 0.35 < fast.size / slow.size < 0.7, (fast.size, slow.size)
    ratio = float(np.sqrt(np.mean(quiet**2) / np.mean(slow**2)))
    assert 0.07 < ratio < 0.14, ratio  # -20 dB = 0.1
    print(json.dumps({"fast/slow": round(fast.size / slow.size, 3), "quiet/slow rms": round(ratio, 3)}))
