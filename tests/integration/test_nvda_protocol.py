"""The NVDA synth driver's protocol code (clients/nvda/addon/synthDrivers/_parley, no NVDA needed)
against the REAL Parley server (real engine, voice "heart") on a free port.

A fake player stands in for ``nvwave.WavePlayer``: it plays in real time on the monotonic clock,
blocks ``feed`` while half a second is queued, calls ``onDone`` once a buffer has played, and
``stop`` silences it at once — so index notifications can be checked against what was heard.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

ADDON = Path(__file__).resolve().parents[2] / "clients" / "nvda" / "addon" / "synthDrivers"
sys.path.insert(0, str(ADDON))

from _parley.core import ParleyCore, ServerUnavailable  # noqa: E402
from _parley.session import Session  # noqa: E402
from _parley.speech import (  # noqa: E402
    Break,
    CharMode,
    Index,
    Item,
    Prosody,
    Text,
    VoiceParams,
    pitch_to_semitones,
    plan,
    rate_to_speed,
    volume_to_db,
)

pytestmark = pytest.mark.integration

SENTENCES = [
    "Hello there.",
    "This is Parley speaking through the driver.",
    "Indexes come back in order.",
]
LONG = " ".join(["The quick brown fox jumps over the lazy dog while the band plays on."] * 8)


# -- the real server ---------------------------------------------------------------------------------


class ServerThread:
    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="nvda-e2e", daemon=True
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.port = 0

    async def _main(self) -> None:
        from parley_server.app import ParleyServer, load_engine
        from parley_server.config import ServerConfig

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            config = ServerConfig(port=0, voices=("heart",))
            engine = await asyncio.to_thread(load_engine, config)
            server = ParleyServer(engine, config)
            await server.start()
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            raise
        self.port = server.port
        self._ready.set()
        await self._stop.wait()
        await server.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(300), "the server did not start"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with ServerThread() as st:
        yield f"ws://127.0.0.1:{st.port}"


# -- a player like nvwave's ----------------------------------------------------------------------------


@dataclass
class FakePlayer:
    rate: int
    max_queued_ms: float = 500.0
    played: list[tuple[float, float, npt.NDArray[np.int16]]] = field(
        default_factory=list
    )  # (start, end, pcm)
    fed_at: list[float] = field(default_factory=list)
    stops: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[tuple[npt.NDArray[np.int16], Callable[[], None] | None]] = deque()
        self._queued_s = 0.0
        self._busy = False
        self._closed = False
        self._paused = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def feed(self, data: bytes, onDone: Callable[[], None] | None = None) -> None:  # noqa: N803
        pcm = np.frombuffer(data, "<i2").copy()
        with self._cond:
            while self._queued_s * 1000 > self.max_queued_ms and not self._closed:
                self._cond.wait(0.01)
            self.fed_at.append(time.monotonic())
            self._queue.append((pcm, onDone))
            self._queued_s += pcm.size / self.rate
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while (not self._queue or self._paused) and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                pcm, done = self._queue.popleft()
                self._busy = True
                start = time.monotonic()
                end = start + pcm.size / self.rate
                interrupted = False
                while time.monotonic() < end:
                    self._cond.wait(max(0.0, min(0.002, end - time.monotonic())))
                    if self._closed or not self._busy:
                        interrupted = True
                        break
                t = time.monotonic()
                played = pcm[: int((t - start) * self.rate)] if interrupted else pcm
                self.played.append((start, t, played))
                self._queued_s = max(0.0, self._queued_s - pcm.size / self.rate)
                self._busy = False
                self._cond.notify_all()
            if done is not None and not interrupted:
                done()

    def idle(self) -> None:
        with self._cond:
            while (self._queue or self._busy) and not self._closed:
                self._cond.wait(0.01)

    def stop(self) -> None:
        with self._cond:
            self.stops.append(time.monotonic())
            self._queue.clear()
            self._queued_s = 0.0
            self._busy = False
            self._cond.notify_all()

    def pause(self, switch: bool) -> None:
        with self._cond:
            self._paused = switch
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def audio(self, since: float = 0.0) -> npt.NDArray[np.float32]:
        parts = [p for s, _, p in self.played if s >= since]
        return (np.concatenate(parts).astype(np.float32) / 32768.0) if parts else np.zeros(0, np.float32)


class Driver:
    """ParleyCore with recorded notifications, as the NVDA glue would wire it."""

    def __init__(self, url: str, protocol: int = 2) -> None:
        self.players: list[FakePlayer] = []
        self.indexes: list[tuple[int, float]] = []
        self.done = threading.Event()
        self.done_at: list[float] = []

        def factory(rate: int) -> FakePlayer:
            p = FakePlayer(rate)
            self.players.append(p)
            return p

        def on_done() -> None:
            self.done_at.append(time.monotonic())
            self.done.set()

        self.core = ParleyCore(
            url,
            factory,
            on_index=lambda i: self.indexes.append((i, time.monotonic())),
            on_done=on_done,
            protocol=protocol,
        )

    def speak(self, items: list[Item], params: VoiceParams | None = None) -> None:
        self.done.clear()
        self.core.speak(items, params or VoiceParams())

    def speak_and_wait(self, items: list[Item], params: VoiceParams | None = None) -> None:
        self.speak(items, params)
        assert self.done.wait(60), "synthDoneSpeaking never came"

    @property
    def player(self) -> FakePlayer:
        assert self.players
        return self.players[-1]

    def close(self) -> None:
        self.core.terminate()


def _rms(x: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


def _voiced_f0(x: npt.NDArray[np.float32], rate: int) -> float:
    """Median f0 (Hz) of the loud 40 ms frames, by autocorrelation (60–500 Hz)."""
    n = int(0.04 * rate)
    f0s = []
    for i in range(0, x.size - n, n // 2):
        fr = x[i : i + n].astype(np.float64)
        if _rms(fr.astype(np.float32)) < 0.05:
            continue
        fr = fr - fr.mean()
        ac = np.correlate(fr, fr, "full")[n - 1 :]
        lo, hi = int(rate / 500), int(rate / 60)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            f0s.append(rate / lag)
    return float(np.median(f0s)) if f0s else float("nan")


def _sequence() -> list[Item]:
    items: list[Item] = []
    for i, s in enumerate(SENTENCES, 1):
        items += [Index(100 + i), Text(s)]
    items.append(Index(200))
    return items


# -- tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 1], ids=["v2-contexts", "v1"])
def test_indexes_are_reported_in_order_when_their_audio_has_played(server_url: str, protocol: int) -> None:
    d = Driver(server_url, protocol)
    try:
        assert d.core.protocol == protocol
        t0 = time.monotonic()
        d.speak_and_wait(_sequence())
        assert [i for i, _ in d.indexes] == [101, 102, 103, 200]
        p = d.player
        audio = p.audio()
        assert audio.size / p.rate > 2.0 and _rms(audio) > 0.02
        speech = [(s, e, pcm) for s, e, pcm in p.played if pcm.size > 2 * p.rate * 0.003]
        first_audio = speech[0][0]
        # 101 precedes all text: reported before the first word plays
        assert d.indexes[0][1] <= first_audio + 0.02
        # every later index comes after the audio of the sentence before it has played
        ends = []
        for k in range(1, 4):
            t_index = d.indexes[k][1]
            played_before = [e for s, e, _ in speech if e <= t_index + 0.005]
            ends.append(max(played_before))
            assert t_index >= max(played_before) - 0.005
        assert ends[0] < ends[1] < ends[2]  # spread over the speech, not all at once
        assert d.indexes[-1][1] - d.indexes[1][1] > 1.0
        assert d.done_at[-1] >= d.indexes[-1][1]
        assert first_audio - t0 < 1.0
    finally:
        d.close()


def test_cancel_silences_at_once_and_reports_nothing_more(server_url: str) -> None:
    d = Driver(server_url)
    try:
        d.speak([Text(LONG), Index(1), Text(LONG), Index(2)])
        deadline = time.monotonic() + 30
        while not d.players or not d.player.played:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.5)
        t_cancel = time.monotonic()
        d.core.cancel()
        p = d.player
        assert p.stops and p.stops[-1] - t_cancel < 0.01
        time.sleep(1.0)
        late = [t for t in p.fed_at if t > t_cancel + 0.05]
        assert not late, "audio of the cancelled speech was fed after cancel"
        assert not d.indexes and not d.done.is_set()
        heard = sum(pcm.size for s, e, pcm in p.played) / p.rate
        assert heard < 2.0
        # the driver is usable at once
        d.speak_and_wait([Text("Next."), Index(7)])
        assert [i for i, _ in d.indexes] == [7]
    finally:
        d.close()


def test_rate_pitch_volume_map_to_what_is_heard(server_url: str) -> None:
    d = Driver(server_url)
    text = "Rate, pitch and volume follow the settings of the screen reader."
    try:

        def render(params: VoiceParams) -> tuple[npt.NDArray[np.float32], int]:
            t = time.monotonic()
            d.speak_and_wait([Text(text), Index(1)], params)
            return d.player.audio(since=t), d.player.rate

        base, rate = render(VoiceParams())
        fast, _ = render(VoiceParams(rate=100, rate_boost=True))  # 2x, boosted to 4x
        quiet, _ = render(VoiceParams(volume=50))  # -6 dB
        high, _ = render(VoiceParams(pitch=100))  # +12 semitones
        dur = base.size / rate
        assert fast.size / rate == pytest.approx(dur / 4, rel=0.25)
        assert _rms(quiet) / _rms(base) == pytest.approx(10 ** (-6 / 20), rel=0.15)
        f0_base, f0_high = _voiced_f0(base, rate), _voiced_f0(high, rate)
        assert f0_high / f0_base == pytest.approx(2.0, rel=0.25)  # an octave up
    finally:
        d.close()


def test_break_char_mode_and_prosody_commands(server_url: str) -> None:
    d = Driver(server_url)
    try:
        t = time.monotonic()
        d.speak_and_wait(
            [Text("One"), Break(400), Text("two"), CharMode(True), Text("ab"), CharMode(False), Index(3)]
        )
        assert [i for i, _ in d.indexes] == [3]
        audio = d.player.audio(since=t)
        win = int(0.05 * d.player.rate)
        quiet = [_rms(audio[i : i + win]) < 1e-3 for i in range(0, audio.size - win, win)]
        run = best = 0
        for q in quiet:
            run = run + 1 if q else 0
            best = max(best, run)
        assert best * 0.05 >= 0.3  # the 400 ms break is there
    finally:
        d.close()


def test_unreachable_server_is_reported_clearly() -> None:
    with pytest.raises(ServerUnavailable, match="cannot reach"):
        ParleyCore("ws://127.0.0.1:9", lambda r: FakePlayer(r), on_index=lambda i: None, on_done=lambda: None)


# -- the pure parts ------------------------------------------------------------------------------------


def test_settings_mapping() -> None:
    assert rate_to_speed(50) == 1.0 and rate_to_speed(0) == 0.5 and rate_to_speed(100) == 2.0
    assert rate_to_speed(100, boost=True) == 4.0 and rate_to_speed(75, boost=True) == pytest.approx(
        2 * 2**0.5
    )
    assert (
        pitch_to_semitones(50) == 0.0 and pitch_to_semitones(100) == 12.0 and pitch_to_semitones(0) == -12.0
    )
    assert volume_to_db(100) == 0.0 and volume_to_db(50) == pytest.approx(-6.02, abs=0.01)
    assert volume_to_db(0) == -40.0 and volume_to_db(5) == -26.020599913279625
    assert all(math.isfinite(volume_to_db(v)) for v in range(101))


def test_plan_cuts_at_indexes_and_applies_prosody() -> None:
    u = plan(
        [
            Index(1),
            Text("Hello"),
            Prosody(rate=2.0),
            Text("fast"),
            Index(2),
            CharMode(True),
            Text("ab"),
            Index(3),
        ],
        VoiceParams(rate=50),
    )
    assert [(x.text, x.indexes, round(x.speed, 2), x.char_mode) for x in u] == [
        ("", (1,), 1.0, False),
        ("Hello", (), 1.0, False),
        ("fast", (2,), 2.0, False),
        ("A B", (3,), 2.0, True),
    ]


def test_session_orders_interleaved_contexts() -> None:
    s = Session()
    s.hello(json.dumps({"type": "hello", "protocol": 2, "server": "t", "speed_min": 0.5, "speed_max": 4.0}))
    utts = plan([Text("one"), Index(1), Text("two"), Index(2)], VoiceParams())
    msgs, items = s.speak(utts)
    assert [json.loads(m)["type"] for m in msgs] == ["create", "create"]
    ids = [json.loads(m)["context"] for m in msgs]
    for k, cid in enumerate(ids):
        s.receive_text(
            json.dumps({"type": "created", "context": cid, "stream": k + 1, "sample_rate_hz": 24000})
        )
    import struct

    def frame(stream: int, value: int) -> bytes:
        return struct.pack("<BBBBIIQ", 0x50, 2, 0, 1, stream, 0, 0) + struct.pack("<h", value)

    assert s.receive_bytes(frame(2, 2)) == []  # the second context's audio waits its turn
    first = s.receive_bytes(frame(1, 1))
    assert [type(x).__name__ for x in first] == ["Audio"]
    _, done1 = s.receive_text(json.dumps({"type": "done", "context": ids[0]}))
    assert [type(x).__name__ for x in done1] == ["Reached", "Audio"]  # then context 2's held audio
    _, done2 = s.receive_text(json.dumps({"type": "done", "context": ids[1]}))
    assert [type(x).__name__ for x in done2] == ["Reached", "Finished"]
