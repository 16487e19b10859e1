"""sd_parley's adapter (threads, player, virtual sound card) with a scripted engine, and
``--install-config``. The real engine and speech-dispatcher are in tests/integration."""

from __future__ import annotations

import json
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from parley_engine.errors import AssetError
from parley_engine.ssml import MarkEvent
from parley_engine.types import AudioChunk, CancelToken, SpeakSettings, VoiceInfo
from parley_speechd.audio import EventLog, FileOutput, Player, PlayerEvent
from parley_speechd.config import BEGIN_MARK, END_MARK, ModuleConfig, install_config, parse_config
from parley_speechd.module import Module

RATE = 24000


class ToneEngine:
    """Test double: every text is 0.1 s of tone per word, in 50 ms chunks; ``stream_ssml`` puts
    a MarkEvent at each ``<mark/>`` (at the start of the next word)."""

    default_voice = "heart"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("heart", "en-US", "female", RATE, "test")]

    def sample_rate_hz(self, voice_id: str | None = None) -> int:
        return RATE

    def _chunks(self, words: int, cancel: CancelToken | None, start: int = 0) -> Iterator[AudioChunk]:
        n = int(0.1 * RATE) * words
        x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / RATE)).astype(np.float32)
        for i in range(0, n, RATE // 20):
            if cancel is not None and cancel.cancelled:
                return
            time.sleep(0.002)
            yield AudioChunk(x[i : i + RATE // 20], RATE, start + i, 0)

    def stream(
        self,
        text: str,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[AudioChunk]:
        self.calls.append(text)
        return self._chunks(len(text.split()), cancel)

    def stream_cached(
        self,
        text: str,
        cache: object,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[AudioChunk]:
        return self.stream(text, voice, settings, cancel)

    def stream_ssml(
        self,
        ssml: str,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
        *,
        punctuation: str = "none",
        capitals: str = "none",
        cache: object = None,
    ) -> Iterator[AudioChunk | MarkEvent]:
        import re

        self.calls.append(ssml)
        parts = re.split(r'<mark name="([^"]*)"/>', re.sub(r"</?speak>", "", ssml))

        def gen() -> Iterator[AudioChunk | MarkEvent]:
            pos = 0
            for k, part in enumerate(parts):
                if k % 2:
                    yield MarkEvent(part, pos)
                    continue
                yield from self._chunks(len(part.split()), cancel, pos)
                pos += int(0.1 * RATE) * len(part.split())

        return gen()


class Harness:
    def __init__(self, tmp: Path, engine: ToneEngine | None = None, fail: bool = False) -> None:
        self.out = bytearray()
        self.lock = threading.Lock()
        self.engine = engine or ToneEngine()
        config = ModuleConfig(test_output=tmp, cache_mb=0)

        def factory(cfg: ModuleConfig) -> ToneEngine:
            if fail:
                raise AssetError("voice files missing")
            return self.engine

        def write(data: bytes) -> None:
            with self.lock:
                self.out += data

        self.module = Module(config, write, engine_factory=factory)
        self.tmp = tmp

    def send(self, text: str) -> None:
        self.module.feed(text.encode())

    def lines(self) -> list[str]:
        with self.lock:
            return self.out.decode().splitlines()

    def wait_line(self, pred: str, timeout_s: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ls = self.lines()
            if any(ln.startswith(pred) for ln in ls):
                return ls
            time.sleep(0.005)
        raise AssertionError(f"no {pred!r} in {self.lines()}")

    def events(self) -> list[dict[str, object]]:
        return [json.loads(ln) for ln in (self.tmp / "events.jsonl").read_text().splitlines()]

    def events_with(self, *kinds: str, timeout_s: float = 10.0) -> list[dict[str, object]]:
        """The event log once it holds each of ``kinds`` (its lines are written by a thread)."""
        deadline = time.monotonic() + timeout_s
        while True:
            ev = self.events()
            if all(any(e["event"] == k for e in ev) for k in kinds):
                return ev
            assert time.monotonic() < deadline, f"events {kinds} not all logged: {ev}"
            time.sleep(0.005)

    def wav_path(self, job: int, timeout_s: float = 10.0) -> Path:
        """The job's WAV file, once the module's writer thread has completed it (``wav_closed``)."""
        deadline = time.monotonic() + timeout_s
        while not any(e["event"] == "wav_closed" and e.get("job") == job for e in self.events()):
            assert time.monotonic() < deadline, "no wav_closed event"
            time.sleep(0.005)
        return self.tmp / f"job-{job:04d}.wav"

    def close(self) -> None:
        self.module.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    h.send("INIT\n")
    h.wait_line("299 OK")
    yield h
    h.close()


def test_speak_plays_and_reports_marks_when_heard(harness: Harness) -> None:
    harness.send('SPEAK\n<speak>one two <mark name="m1"/>three <mark name="__spd_0"/>four</speak>\n.\n')
    ls = harness.wait_line("702 END")
    tail = ls[ls.index("200 OK SPEAKING") + 1 :]
    assert tail == ["701 BEGIN", "700-m1", "700 INDEX MARK", "700-__spd_0", "700 INDEX MARK", "702 END"]
    ev = harness.events_with("first_sample", "mark", "wav_closed")
    first = next(float(str(e["t"])) for e in ev if e["event"] == "first_sample")
    marks = {str(e["name"]): e for e in ev if e["event"] == "mark"}
    # m1 after two words (0.2 s), __spd_0 after three (0.3 s): reported when played
    assert int(str(marks["m1"]["sample"])) == int(0.2 * RATE)
    assert float(str(marks["m1"]["t"])) - first == pytest.approx(0.2, abs=0.03)
    assert float(str(marks["__spd_0"]["t"])) - first == pytest.approx(0.3, abs=0.03)
    with wave.open(str(harness.wav_path(1))) as w:
        assert w.getnframes() == int(0.4 * RATE)


def test_stop_is_synchronous_and_answered_once(harness: Harness) -> None:
    harness.send("SPEAK\n<speak>" + "word " * 30 + "</speak>\n.\n")
    harness.wait_line("701 BEGIN")
    time.sleep(0.1)
    harness.send("STOP\n")
    ls = harness.lines()  # STOP is carried out before feed() returns
    assert ls[-1] == "703 STOP"
    ev = harness.events_with("stop_request", "silence")
    stop = next(e for e in ev if e["event"] == "stop_request")
    silence = next(e for e in ev if e["event"] == "silence")
    assert float(str(silence["t"])) - float(str(stop["t"])) < 0.005
    harness.send("STOP\n")  # nothing playing: no reply, no event
    time.sleep(0.05)
    assert harness.lines() == ls
    harness.send("SPEAK\n<speak>again</speak>\n.\n")
    assert harness.wait_line("702 END")[-1] == "702 END"


def test_pause_stops_at_the_next_spd_mark(harness: Harness) -> None:
    harness.send('SPEAK\n<speak>a b c <mark name="__spd_0"/>d e f g h i j</speak>\n.\n')
    harness.wait_line("701 BEGIN")
    harness.send("PAUSE\n")
    ls = harness.wait_line("704 PAUSE")
    assert ls[-3:] == ["700-__spd_0", "700 INDEX MARK", "704 PAUSE"]
    with wave.open(str(harness.wav_path(1))) as w:
        assert w.getnframes() / RATE == pytest.approx(0.3, abs=0.03)  # stopped at the mark


def test_speak_while_speaking_quit_and_list_voices(harness: Harness) -> None:
    harness.send("SPEAK\n<speak>" + "word " * 20 + "</speak>\n.\n")
    harness.wait_line("701 BEGIN")
    harness.send("CHAR\na\n.\nLIST VOICES\n")
    ls = harness.lines()
    assert ls[-4:] == [
        "202 OK RECEIVING MESSAGE",
        "301 ERROR CANT SPEAK",
        "200-heart\ten-US\tnone",
        "200 OK VOICE LIST SENT",
    ]
    harness.send("QUIT\n")
    assert harness.lines()[-1] == "210 OK QUIT"
    assert harness.module.quit.is_set()


def test_init_failure_says_why(tmp_path: Path) -> None:
    h = Harness(tmp_path, fail=True)
    try:
        h.send("INIT\n")
        ls = h.wait_line("399 ERR")
        assert any("voice files missing" in ln for ln in ls if ln.startswith("399-"))
        assert h.module.quit.is_set()
    finally:
        h.close()


# -- player and virtual sound card -------------------------------------------------------------


def test_file_output_plays_in_real_time_and_flush_drops_the_rest(tmp_path: Path) -> None:
    ev = EventLog(tmp_path / "events.jsonl")
    dev = FileOutput(tmp_path, ev)
    dev.start(1, RATE)
    dev.write(np.full(RATE, 0.5, np.float32))  # 1 s
    time.sleep(0.2)
    played = dev.played()
    assert 0.15 * RATE <= played <= 0.35 * RATE
    dev.flush()
    dev.finish()
    assert ev.drain()
    closed = [json.loads(ln) for ln in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in closed][-2:] == ["wav_closed", "silence"]
    with wave.open(str(tmp_path / "job-0001.wav")) as w:
        assert abs(w.getnframes() - played) < 0.05 * RATE  # only what played is in the file
    ev.close()


def test_player_reports_end_after_the_audio_has_played(tmp_path: Path) -> None:
    ev = EventLog(tmp_path / "events.jsonl")
    got: list[PlayerEvent] = []
    done = threading.Event()

    def on(e: PlayerEvent) -> None:
        got.append(e)
        if e.kind == "end":
            done.set()

    p = Player(FileOutput(tmp_path, ev), on, events=ev)
    try:
        t0 = time.monotonic()
        p.begin(1, RATE)
        p.audio(1, np.zeros(RATE // 4, np.float32))
        p.mark(1, "half")
        p.audio(1, np.zeros(RATE // 4, np.float32))
        p.end(1)
        assert done.wait(5)
        kinds = [(e.kind, e.name) for e in got]
        assert kinds == [("begin", ""), ("mark", "half"), ("end", "")]
        assert got[1].t - t0 == pytest.approx(0.25, abs=0.03)
        assert got[2].t - t0 == pytest.approx(0.5, abs=0.03)
        assert not p.audio(2, np.zeros(10, np.float32))  # not the current job
    finally:
        p.close()
        ev.close()


# -- configuration -------------------------------------------------------------------------------


def test_parse_config() -> None:
    c = parse_config(
        '# comment\nParleyVoices "heart, joe"\nParleyCacheMB 8\nParleyTestOutput "/tmp/x"\nBogus 1\n'
    )
    assert c.voices == ("heart", "joe") and c.cache_mb == 8.0 and c.test_output == Path("/tmp/x")
    assert parse_config("ParleyCacheMB lots\n").cache_mb == ModuleConfig().cache_mb  # bad value ignored


def test_install_config_is_idempotent(tmp_path: Path) -> None:
    cdir = tmp_path / "speech-dispatcher"
    for _ in range(2):
        assert (
            install_config(module_path="/opt/parley/bin/sd_parley", config_dir=cdir, make_default=True) == 0
        )
    text = (cdir / "speechd.conf").read_text()
    assert text.count(BEGIN_MARK) == 1 and text.count(END_MARK) == 1
    assert f'AddModule "parley" "/opt/parley/bin/sd_parley" "{cdir / "modules" / "parley.conf"}"' in text
    active_default = [ln for ln in text.splitlines() if ln.strip().lower().startswith("defaultmodule")]
    assert active_default == ["DefaultModule parley"]
    conf = (cdir / "modules" / "parley.conf").read_text()
    assert 'ParleyVoices "heart"' in conf
    assert parse_config(conf).voices == ("heart",)
