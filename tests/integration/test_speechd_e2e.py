"""End to end: the real speech-dispatcher (Debian's) driving ``sd_parley`` with the real engine.

The test starts its own speech-dispatcher with its own configuration directory, runtime directory
and socket; the only module is ``parley``, in test mode: its virtual sound card writes the audio
that played to WAV files and logs every event with the time it played (``events.jsonl``). Clients
are ``spd-say`` and a small SSIP client speaking to the socket directly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

pytestmark = pytest.mark.integration

LONG_TEXT = " ".join(
    [
        "The quick brown fox jumps over the lazy dog while the band plays on.",
        "Streaming speech has to start quickly, keep going without gaps, and stop at once when asked.",
        "Every listener notices a click, a pause in the wrong place, or a word that is dropped.",
    ]
    * 3
)


def _ensure_speech_dispatcher() -> None:
    if shutil.which("speech-dispatcher") and shutil.which("spd-say"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "speech-dispatcher"], env=env, check=False, timeout=600
        )
    if not (shutil.which("speech-dispatcher") and shutil.which("spd-say")):
        pytest.skip("speech-dispatcher is not installed (apt-get install speech-dispatcher)")


@dataclass
class Dispatcher:
    root: Path
    socket_path: Path
    out: Path
    proc: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            SPEECHD_ADDRESS=f"unix_socket:{self.socket_path}",
            XDG_RUNTIME_DIR=str(self.root / "run"),
        )

    def events(self) -> list[dict[str, object]]:
        p = self.out / "events.jsonl"
        if not p.exists():
            return []
        return [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()]

    def events_of(self, job: int) -> list[dict[str, object]]:
        return [e for e in self.events() if e.get("job") == job]

    def last_job(self) -> int:
        jobs = [int(str(e["job"])) for e in self.events() if e["event"] == "speak"]
        return max(jobs) if jobs else 0

    def wait_event(self, job: int, kind: str, timeout_s: float = 30.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for e in self.events_of(job):
                if e["event"] == kind:
                    return e
            time.sleep(0.01)
        raise AssertionError(f"no {kind} event for job {job}: {self.events_of(job)}")

    def wav(self, job: int) -> tuple[npt.NDArray[np.float32], int]:
        self.wait_event(job, "wav_closed")  # the module's writer thread has completed the file
        with wave.open(str(self.out / f"job-{job:04d}.wav")) as w:
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
        return x, rate

    def say(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["spd-say", "-o", "parley", "-w", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )


@pytest.fixture(scope="module")
def dispatcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dispatcher]:
    _ensure_speech_dispatcher()
    module = Path(sys.executable).parent / "sd_parley"
    assert module.exists(), f"{module} missing: pip install -e . creates it"
    root = tmp_path_factory.mktemp("speechd")
    conf, run, logs, out = root / "conf", root / "run", root / "log", root / "out"
    for sub in (conf / "modules", run, logs, out):
        sub.mkdir(parents=True)
    (conf / "modules" / "parley.conf").write_text(f'ParleyVoices "heart"\nParleyTestOutput "{out}"\n')
    (conf / "speechd.conf").write_text(
        "LogLevel 4\n"
        f'LogDir "{logs}"\n'
        # The module plays (writes) its own audio: speech-dispatcher never opens a sound card.
        'AudioOutputMethod "alsa"\n'
        f'AddModule "parley" "{module}" "{conf / "modules" / "parley.conf"}"\n'
        "DefaultModule parley\n"
        "Timeout 0\n"
    )
    sock = run / "speechd.sock"
    proc = subprocess.Popen(
        ["speech-dispatcher", "-s", "-t", "0", "-c", "unix_socket", "-S", str(sock), "-C", str(conf)],
        env=dict(os.environ, XDG_RUNTIME_DIR=str(run)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    d = Dispatcher(root, sock, out, proc)
    try:
        deadline = time.monotonic() + 300  # the module loads and warms the engine before answering INIT
        while not sock.exists():
            assert proc.poll() is None, (
                f"speech-dispatcher exited: {(logs / 'speech-dispatcher.log').read_text()}"
            )
            assert time.monotonic() < deadline, "speech-dispatcher did not open its socket"
            time.sleep(0.1)
        inits = [e for e in d.events() if e["event"] == "init"]
        assert inits and inits[0]["ok"], inits
        yield d
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


class Ssip:
    """A minimal SSIP client (speech-dispatcher's client protocol) on the unix socket."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.sock.settimeout(30)
        self.buf = b""
        self.events: list[list[str]] = []
        self.cmd("SET SELF CLIENT_NAME test:speechd_e2e:main")

    def _reply(self) -> list[str]:
        lines: list[str] = []
        while True:
            while b"\r\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("speech-dispatcher closed the connection")
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode()
            lines.append(text)
            if len(text) >= 4 and text[3] == " ":
                return lines

    def read(self) -> list[str]:
        """The next reply or event (events are 7xx)."""
        return self._reply()

    def cmd(self, line: str) -> list[str]:
        self.sock.sendall(line.encode() + b"\r\n")
        while True:
            r = self._reply()
            if r[-1].startswith("7"):
                self.events.append(r)
                continue
            assert r[-1][0] == "2", f"{line!r} -> {r}"
            return r

    def speak(self, text: str) -> int:
        r = self.cmd("SPEAK")
        assert r[-1].startswith("230")
        body = "\r\n".join(".." + ln if ln.startswith(".") else ln for ln in text.split("\n"))
        self.sock.sendall(body.encode() + b"\r\n.\r\n")
        while True:
            r = self._reply()
            if r[-1].startswith("7"):
                self.events.append(r)
                continue
            assert r[-1].startswith("225"), r
            return int(r[0].split("-", 1)[1])

    def wait_events(self, codes: set[str], timeout_s: float = 30.0) -> list[str]:
        """The first event (already received or still to come) whose code is in ``codes``."""
        for ev in self.events:
            if ev[-1][:3] in codes:
                return ev
        self.sock.settimeout(timeout_s)
        while True:
            ev = self._reply()
            self.events.append(ev)
            if ev[-1][:3] in codes:
                return ev

    def close(self) -> None:
        try:
            self.sock.sendall(b"QUIT\r\n")
        finally:
            self.sock.close()


def _wait_any(
    d: Dispatcher, job: int, kinds: tuple[str, ...], timeout_s: float = 30.0
) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [e for e in d.events_of(job) if e["event"] in kinds]
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"none of {kinds} for job {job}")


def _rms(x: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


# -- spd-say -------------------------------------------------------------------------------------------


def test_spd_say_hello_world(dispatcher: Dispatcher) -> None:
    before = dispatcher.last_job()
    r = dispatcher.say("Hello world")
    assert r.returncode == 0, r.stderr
    job = dispatcher.last_job()
    assert job > before
    deadline = time.monotonic() + 5.0  # the module logs "end" as its player finishes; under load
    while True:  # spd-say can return a moment before that line reaches the event log
        kinds = [
            e["event"]
            for e in dispatcher.events_of(job)
            if e["event"] in ("speak", "first_sample", "begin", "end")
        ]
        if "end" in kinds or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert kinds == ["speak", "first_sample", "begin", "end"]
    x, rate = dispatcher.wav(job)
    duration = x.size / rate
    assert 0.4 <= duration <= 2.5, f"'Hello world' lasted {duration:.2f} s"
    assert _rms(x) > 0.02 and float(np.max(np.abs(x))) > 0.1, "the audio is (nearly) silent"
    # every sample that played is in the file, and playback took as long as the audio lasts
    end = dispatcher.wait_event(job, "end")
    first = dispatcher.wait_event(job, "first_sample")
    # on a loaded machine synthesis can fall behind real time: the virtual card logs each gap
    gaps = sum(float(str(e["gap_ms"])) for e in dispatcher.events_of(job) if e["event"] == "underrun") / 1000
    assert float(str(end["t"])) - float(str(first["t"])) == pytest.approx(duration + gaps, abs=0.05)


@pytest.mark.parametrize(
    ("args", "min_s"),
    [(("-c", "a"), 0.05), (("-k", "shift_a"), 0.2), (("-s", "Ab"), 0.2), (("-I", "message"), 0.03)],
    ids=["char", "key", "spelling", "sound-icon"],
)
def test_spd_say_other_message_types(dispatcher: Dispatcher, args: tuple[str, ...], min_s: float) -> None:
    before = dispatcher.last_job()
    r = dispatcher.say(*args)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while dispatcher.last_job() == before:  # spd-say -w does not wait for a sound icon
        assert time.monotonic() < deadline, "the message never reached the module"
        time.sleep(0.01)
    job = dispatcher.last_job()
    ended = next(e for e in _wait_any(dispatcher, job, ("end", "silence")))
    x, rate = dispatcher.wav(job)
    if ended["event"] == "end":
        assert x.size / rate >= min_s
    assert x.size > 0 and _rms(x) > 0.01


# -- STOP ----------------------------------------------------------------------------------------------


def test_stop_during_a_long_text_silences_it_within_20_ms(dispatcher: Dispatcher) -> None:
    client = Ssip(dispatcher.socket_path)
    try:
        client.cmd("SET SELF NOTIFICATION ALL on")
        before = dispatcher.last_job()
        client.speak(LONG_TEXT)
        deadline = time.monotonic() + 30
        while dispatcher.last_job() == before:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        job = dispatcher.last_job()
        dispatcher.wait_event(job, "begin")
        time.sleep(0.8)  # well into the first sentence
        client.cmd("STOP SELF")
        stopped = client.wait_events({"703", "702"})
        assert stopped[-1].startswith("703"), stopped
    finally:
        client.close()
    dispatcher.wait_event(job, "silence")  # (the module's event log is written by a thread)
    ev = {e["event"]: e for e in dispatcher.events_of(job)}
    stop_t, silence_t = float(str(ev["stop_request"]["t"])), float(str(ev["silence"]["t"]))
    assert silence_t - stop_t <= 0.020, f"STOP -> silence took {1e3 * (silence_t - stop_t):.1f} ms"
    assert "end" not in ev  # stopped, not ended
    deadline = time.monotonic() + 5.0
    while True:
        out_lines = [ln for e in dispatcher.events() if e["event"] == "out" for ln in e["lines"]]  # type: ignore[attr-defined]
        if "703 STOP" in out_lines or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert "703 STOP" in out_lines
    x, rate = dispatcher.wav(job)
    played = x.size / rate
    assert 0.5 <= played <= 3.0, f"{played:.2f} s played before the stop"
    assert int(str(ev["silence"]["sample"])) == x.size  # nothing after the silence reached the file
    # the module is usable at once afterwards
    r = dispatcher.say("Next.")
    assert r.returncode == 0


# -- index marks ---------------------------------------------------------------------------------------


def test_index_marks_arrive_in_order_when_their_audio_plays(dispatcher: Dispatcher) -> None:
    client = Ssip(dispatcher.socket_path)
    try:
        client.cmd("SET SELF SSML_MODE on")
        client.cmd("SET SELF NOTIFICATION ALL on")
        before = dispatcher.last_job()
        client.speak(
            '<speak>One two three. <mark name="alpha"/>Four five six. <mark name="beta"/>'
            'Seven eight nine. <mark name="gamma"/>Ten.</speak>'
        )
        client.wait_events({"702", "703"})
        names = [ev[-2].split("-", 1)[1] for ev in client.events if ev[-1].startswith("700")]
    finally:
        client.close()
    assert [n for n in names if not n.startswith("__spd_")] == ["alpha", "beta", "gamma"]
    job = dispatcher.last_job()
    assert job > before
    dispatcher.wait_event(job, "wav_closed")  # every event of its audio is logged before this one
    evs = dispatcher.events_of(job)
    first = next(float(str(e["t"])) for e in evs if e["event"] == "first_sample")
    marks = [e for e in evs if e["event"] == "mark" and not str(e["name"]).startswith("__spd_")]
    x, rate = dispatcher.wav(job)
    prev = 0.0
    for m in marks:
        at_s = int(str(m["sample"])) / rate  # where the mark is in the audio
        heard_s = float(str(m["t"])) - first  # when it was reported, from the first sample
        assert at_s > prev + 0.3  # marks are spread through the audio...
        assert heard_s == pytest.approx(at_s, abs=0.05)  # ...and reported when that audio played
        prev = at_s
    assert prev < x.size / rate


# -- PAUSE / RESUME ------------------------------------------------------------------------------------


def test_pause_stops_at_a_sentence_mark_and_resume_speaks_the_rest(dispatcher: Dispatcher) -> None:
    client = Ssip(dispatcher.socket_path)
    try:
        client.cmd("SET SELF NOTIFICATION ALL on")
        before = dispatcher.last_job()
        client.speak("First sentence here. Second sentence comes next. Third sentence ends it.")
        deadline = time.monotonic() + 30
        while dispatcher.last_job() == before:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        job = dispatcher.last_job()
        dispatcher.wait_event(job, "begin")
        client.cmd("PAUSE SELF")
        paused = client.wait_events({"704", "702", "703"})
        assert paused[-1].startswith("704"), paused
        x, rate = dispatcher.wav(job)
        marks = [e for e in dispatcher.events_of(job) if e["event"] == "mark"]
        assert marks and str(marks[-1]["name"]).startswith("__spd_")
        assert abs(x.size - int(str(marks[-1]["sample"]))) < 0.1 * rate  # silent right at that mark
        client.cmd("RESUME SELF")
        resumed = client.wait_events({"702"})
        assert resumed[-1].startswith("702")
    finally:
        client.close()
    after = dispatcher.last_job()
    assert after > job  # speech-dispatcher sent the rest as a new message
    rest, rate = dispatcher.wav(after)
    assert 0.5 < rest.size / rate < 6.0 and _rms(rest) > 0.02
