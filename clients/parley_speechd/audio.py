"""Audio output for the speech-dispatcher module: devices, and the player whose clock decides when
events are reported.

A device (:class:`OutputDevice`) takes samples without blocking, plays them in real time, says how
many it has played, and drops what it holds on :meth:`~OutputDevice.flush` (silence from that
moment). Two devices:

* :class:`SoundDeviceOutput`: a PortAudio stream (``sounddevice``) whose callback pulls from a
  buffer; :func:`open_sound_device` explains clearly when there is no library or no device.
* :class:`FileOutput` (test mode): a virtual sound card on the monotonic clock. It "plays" what it
  is given at the real-time rate, writes exactly the samples that played to one WAV file per message
  (``job-0001.wav`` ...) and logs every event with the time it played to ``events.jsonl``, so tests
  and benchmarks can check what a listener would have heard, and when. The files are written by a
  thread of their own (a disk write never holds up playback or a STOP); a message's WAV file is
  complete once its ``wav_closed`` event is in the log.

The :class:`Player` thread keeps a device fed ``ahead_ms`` ahead of its playhead, and reports index
marks and the end of a message when the playhead reaches them — when they are heard, not when they
were synthesised. :meth:`Player.stop` silences the device synchronously, in the caller's thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import wave
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

import numpy as np
import numpy.typing as npt

__all__ = [
    "EventLog",
    "FileOutput",
    "NoAudioDeviceError",
    "OutputDevice",
    "Player",
    "PlayerEvent",
    "SoundDeviceOutput",
    "open_sound_device",
]

log = logging.getLogger("parley.speechd")

FloatArray = npt.NDArray[np.float32]
Clock = Callable[[], float]


class NoAudioDeviceError(RuntimeError):
    """No way to play audio here (no PortAudio, no output device)."""


class OutputDevice(Protocol):
    """A sound output that never blocks the caller. Positions count samples since :meth:`start`."""

    def start(self, job: int, sample_rate_hz: int) -> None:
        """A message begins (the device (re)opens at ``sample_rate_hz`` if it must)."""

    def write(self, samples: FloatArray) -> None:
        """Queue samples to play after those already queued."""

    def buffered(self) -> int:
        """Samples queued but not played yet."""

    def played(self) -> int:
        """Samples of this message played so far (heard, as near as the device can tell)."""

    def flush(self) -> None:
        """Drop every queued sample: silent from now."""

    def finish(self) -> None:
        """The message is over (all played, or flushed)."""

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------------------
# Event log (test mode)
# --------------------------------------------------------------------------------------------------


class EventLog:
    """JSON lines ``{"t": monotonic seconds, "event": ..., ...}``, each flushed as it is written
    (thread-safe). ``time.monotonic`` is CLOCK_MONOTONIC, shared by every process of the machine, so
    a test can compare its own timestamps with the module's. The time is taken by :meth:`write`;
    the line reaches the file a moment later, from a writer thread (:meth:`drain` waits for it),
    which also does the virtual sound card's WAV writes (:meth:`defer`), in one order.

    Why a writer thread: the WAV file and this log were written under the device's lock, in the
    thread that played or stopped, and a write the kernel held back (page-cache writeback on this
    machine's virtual disk) held a STOP for 100 ms - 2 s in 2-5 of 40 tries (benchmarks/speechd.py;
    none with the files on tmpfs)."""

    def __init__(self, path: Path, clock: Clock = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._f: TextIO | None = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        # one worker: the writes run one at a time, in the order they were asked for
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-test-output")

    def write(self, event: str, t: float | None = None, **fields: object) -> None:
        rec: dict[str, object] = {"t": round(self._clock() if t is None else t, 6), "event": event}
        rec.update(fields)
        self.defer(partial(self._write_line, json.dumps(rec, ensure_ascii=False) + "\n"))

    def defer(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the writer thread, after every write asked for before it (nothing once
        the log is closed)."""
        with contextlib.suppress(RuntimeError):  # submit() after shutdown()
            self._writer.submit(_logged, fn)

    def drain(self, timeout_s: float | None = 10.0) -> bool:
        """Wait until everything asked for so far is written (True) or ``timeout_s`` passes."""
        try:
            self._writer.submit(lambda: None).result(timeout_s)
        except TimeoutError:
            return False
        return True

    def _write_line(self, line: str) -> None:
        if self._f is not None:
            self._f.write(line)
            self._f.flush()

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        if self._f is not None:
            self._f.close()
            self._f = None


def _logged(fn: Callable[[], object]) -> None:
    """Run a test-mode disk write; a failed one is logged and the ones after it still run."""
    try:
        fn()
    except Exception:
        log.exception("test-mode output: a disk write failed")


class _Wav:
    """A job's WAV file, opened, written and closed on the event log's writer thread."""

    def __init__(self, path: Path, sample_rate_hz: int) -> None:
        self.path = path
        self.rate = sample_rate_hz
        self._w: wave.Wave_write | None = None

    def open(self) -> None:
        w = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(self.rate)
        self._w = w

    def write(self, pcm: bytes) -> None:
        if self._w is not None:
            self._w.writeframes(pcm)

    def close(self) -> None:
        if self._w is not None:
            self._w.close()
            self._w = None


# --------------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------------


class FileOutput:
    """A virtual sound card on a monotonic clock (test mode); see the module docstring.

    Playback starts the moment samples arrive at an idle device and runs at ``sample_rate_hz`` while
    there is audio; when the buffer runs dry before the message is over, the gap is logged as an
    ``underrun`` and playback resumes with the next write.
    """

    def __init__(self, directory: Path, events: EventLog, clock: Clock = time.monotonic) -> None:
        self.directory = directory
        self.events = events
        self._clock = clock
        self._lock = threading.Lock()
        self._job = 0
        self._rate = 0
        self._wav: _Wav | None = None
        self._queue: deque[FloatArray] = deque()
        self._queued = 0
        self._played = 0
        self._anchor_t = 0.0  # playback (re)started at this time...
        self._anchor_pos = 0  # ...at this sample

    def start(self, job: int, sample_rate_hz: int) -> None:
        with self._lock:
            self._close_wav()
            self._job, self._rate = job, sample_rate_hz
            self._queue.clear()
            self._queued = self._played = 0
            self._wav = _Wav(self.directory / f"job-{job:04d}.wav", sample_rate_hz)
            self.events.defer(self._wav.open)

    def write(self, samples: FloatArray) -> None:
        if samples.size == 0:
            return
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._queued == 0:  # idle device: starts playing right now
                if self._played > 0:
                    dry_at = self._anchor_t + (self._played - self._anchor_pos) / self._rate
                    self.events.write(
                        "underrun",
                        now,
                        job=self._job,
                        sample=self._played,
                        gap_ms=round(1e3 * (now - dry_at), 3),
                    )
                else:
                    self.events.write("first_sample", now, job=self._job, sample_rate_hz=self._rate)
                self._anchor_t, self._anchor_pos = now, self._played
            self._queue.append(samples)
            self._queued += samples.size

    def buffered(self) -> int:
        with self._lock:
            self._advance(self._clock())
            return self._queued

    def played(self) -> int:
        with self._lock:
            self._advance(self._clock())
            return self._played

    def flush(self) -> None:
        with self._lock:
            now = self._clock()
            self._advance(now)
            dropped = self._queued
            self._queue.clear()
            self._queued = 0
            self._close_wav()  # the job's audio ends here (a flush is always followed by finish())
            self.events.write("silence", now, job=self._job, sample=self._played, dropped_samples=dropped)

    def finish(self) -> None:
        with self._lock:
            self._advance(self._clock())
            self._close_wav()

    def close(self) -> None:
        self.finish()

    def _advance(self, now: float) -> None:
        """Move what has played by ``now`` from the queue to the WAV file."""
        if self._queued == 0 or self._rate == 0:
            return
        due = int((now - self._anchor_t) * self._rate) + self._anchor_pos - self._played
        while due > 0 and self._queue:
            head = self._queue[0]
            n = min(due, head.size)
            self._emit(head[:n])
            if n == head.size:
                self._queue.popleft()
            else:
                self._queue[0] = head[n:]
            self._queued -= n
            self._played += n
            due -= n

    def _emit(self, x: FloatArray) -> None:
        if self._wav is not None:
            pcm = (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")
            self.events.defer(partial(self._wav.write, pcm.tobytes()))

    def _close_wav(self) -> None:
        """Close the job's WAV file (on the writer thread), then log ``wav_closed``: once that line
        is in the event log, the file is complete."""
        if self._wav is not None:
            self.events.defer(self._wav.close)
            self.events.write("wav_closed", job=self._job, samples=self._played)
            self._wav = None


class SoundDeviceOutput:
    """A PortAudio output stream (via ``sounddevice``) fed from a buffer by its callback.

    ``played()`` counts the samples the callback has handed to PortAudio minus the stream's output
    latency, so index marks are reported when they are heard; ``flush()`` empties the buffer, and the
    callback plays zeros from its next period (``blocksize`` samples: 5 ms by default).
    """

    def __init__(self, sd: Any, *, device: str | int | None = None, block_ms: float = 5.0) -> None:
        self._sd = sd
        self._device = device
        self._block_ms = block_ms
        self._lock = threading.Lock()
        self._stream: Any = None
        self._rate = 0
        self._queue: deque[FloatArray] = deque()
        self._queued = 0
        self._consumed = 0
        self._latency_samples = 0

    def start(self, job: int, sample_rate_hz: int) -> None:
        if self._stream is not None and self._rate == sample_rate_hz:
            with self._lock:
                self._queue.clear()
                self._queued = self._consumed = 0
            return
        self.close()
        self._rate = sample_rate_hz
        self._queue.clear()
        self._queued = self._consumed = 0
        stream = self._sd.OutputStream(
            samplerate=sample_rate_hz,
            channels=1,
            dtype="float32",
            blocksize=max(1, int(sample_rate_hz * self._block_ms / 1000)),
            latency="low",
            device=self._device,
            callback=self._callback,
        )
        stream.start()
        self._stream = stream
        self._latency_samples = int(float(stream.latency) * sample_rate_hz)

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        out = outdata[:, 0]
        filled = 0
        with self._lock:
            while filled < frames and self._queue:
                head = self._queue[0]
                n = min(frames - filled, head.size)
                out[filled : filled + n] = head[:n]
                if n == head.size:
                    self._queue.popleft()
                else:
                    self._queue[0] = head[n:]
                filled += n
            self._queued -= filled
            self._consumed += filled
        if filled < frames:
            out[filled:] = 0.0

    def write(self, samples: FloatArray) -> None:
        with self._lock:
            self._queue.append(samples)
            self._queued += samples.size

    def buffered(self) -> int:
        with self._lock:
            return self._queued + min(self._consumed, self._latency_samples)

    def played(self) -> int:
        with self._lock:
            return max(0, self._consumed - self._latency_samples)

    def flush(self) -> None:
        with self._lock:
            self._queue.clear()
            self._queued = 0
            # what PortAudio holds (the stream's latency) still plays; count it as played
            self._consumed += self._latency_samples

    def finish(self) -> None:
        pass

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.abort()
                self._stream.close()
            finally:
                self._stream = None


def open_sound_device(device: str | int | None = None) -> SoundDeviceOutput:
    """A :class:`SoundDeviceOutput`, or :class:`NoAudioDeviceError` saying what is missing."""
    try:
        import sounddevice as sd
    except ImportError as exc:
        raise NoAudioDeviceError(
            "cannot play audio: the Python package 'sounddevice' is not installed "
            "(pip install 'parley-voice[play]'; it needs PortAudio: apt install libportaudio2)"
        ) from exc
    except OSError as exc:
        raise NoAudioDeviceError(f"cannot play audio: PortAudio could not be loaded ({exc})") from exc
    try:
        info = sd.query_devices(device, "output")
    except Exception as exc:  # sounddevice raises ValueError / PortAudioError
        raise NoAudioDeviceError(
            f"cannot play audio: no output device ({exc}). For a machine without a sound card, run the "
            "module in test mode (ParleyTestOutput in parley.conf, or --test-output DIR)"
        ) from exc
    log.info("audio output: %s", info.get("name", device) if isinstance(info, dict) else device)
    return SoundDeviceOutput(sd, device=device)


# --------------------------------------------------------------------------------------------------
# Player
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayerEvent:
    """What the player reports: ``begin`` (first sample playing), ``mark`` (``name`` heard),
    ``end`` (every sample played). ``t`` is the monotonic time it happened."""

    kind: Literal["begin", "mark", "end"]
    job: int
    t: float
    name: str = ""
    sample: int = 0  # where in the message's audio it happened


@dataclass
class _Item:
    kind: Literal["audio", "mark", "end"]
    samples: FloatArray | None = None
    name: str = ""


class Player:
    """Feeds one device from a queue of audio, marks and ends; reports events when they play.

    Producer side (the synthesis worker): :meth:`begin`, :meth:`audio` (blocks while more than
    ``high_water_ms`` of audio waits, returns False once the job is stopped), :meth:`mark`,
    :meth:`end`. Control: :meth:`stop` (synchronous: the device is silent when it returns).
    ``on_event`` is called from the player thread, never with the player's lock held.
    """

    def __init__(
        self,
        device: OutputDevice,
        on_event: Callable[[PlayerEvent], None],
        *,
        ahead_ms: float = 1000.0,
        high_water_ms: float = 1500.0,
        poll_ms: float = 2.0,
        events: EventLog | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.device = device
        self._on_event = on_event
        self._ahead_ms = ahead_ms
        self._high_water_ms = high_water_ms
        self._poll_s = poll_ms / 1000.0
        self._events = events
        self._clock = clock
        self._cond = threading.Condition()
        self._job: int | None = None
        self._rate = 0
        self._items: deque[_Item] = deque()
        self._queued = 0  # samples in _items
        self._written = 0  # samples of the job handed to the device
        self._begun = False
        self._pending: list[tuple[int, _Item]] = []  # (position, mark/end) handed over, not yet heard
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="parley-player", daemon=True)
        self._thread.start()

    # -- producer ----------------------------------------------------------------------------------

    def begin(self, job: int, sample_rate_hz: int) -> None:
        """Job ``job`` is the one playing from now on (an unfinished previous one is dropped)."""
        with self._cond:
            if self._job is not None:
                self.device.flush()
                self.device.finish()
            self._job, self._rate = job, sample_rate_hz
            self._items.clear()
            self._pending.clear()
            self._queued = self._written = 0
            self._begun = False
            self.device.start(job, sample_rate_hz)
            self._cond.notify_all()

    def audio(self, job: int, samples: FloatArray) -> bool:
        """Queue samples of ``job``; False (nothing queued) if the job is no longer playing."""
        with self._cond:
            high = self._rate * self._high_water_ms / 1000.0
            while self._job == job and self._queued > high and not self._closed:
                self._cond.wait(0.05)
            if self._job != job or self._closed:
                return False
            if samples.size:
                self._items.append(_Item("audio", samples))
                self._queued += samples.size
                self._cond.notify_all()
            return True

    def mark(self, job: int, name: str) -> bool:
        return self._put(job, _Item("mark", name=name))

    def end(self, job: int) -> bool:
        return self._put(job, _Item("end"))

    def _put(self, job: int, item: _Item) -> bool:
        with self._cond:
            if self._job != job or self._closed:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    # -- control -----------------------------------------------------------------------------------

    def stop(self, job: int) -> bool:
        """Silence ``job`` now. True if it was playing (or queued), False if it was not the job."""
        with self._cond:
            if self._job != job:
                return False
            self.device.flush()
            self.device.finish()
            self._job = None
            self._items.clear()
            self._pending.clear()
            self._queued = 0
            self._cond.notify_all()
            return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            if self._job is not None:
                self.device.flush()
                self.device.finish()
                self._job = None
            self._cond.notify_all()
        self._thread.join(2.0)
        self.device.close()

    # -- the thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            out: list[PlayerEvent] = []
            with self._cond:
                if self._closed:
                    return
                job = self._job
                if job is None or (not self._items and not self._pending):
                    self._cond.wait()
                    continue
                self._feed(job, out)
                self._due(job, out)
                if self._job is not None and not out:
                    self._cond.wait(self._poll_s)
            for ev in out:
                try:
                    self._on_event(ev)
                except Exception:  # the adapter's bug must not kill playback
                    log.exception("event handler failed for %s", ev)

    def _feed(self, job: int, out: list[PlayerEvent]) -> None:
        ahead = int(self._rate * self._ahead_ms / 1000.0)
        dev = self.device
        while self._items:
            it = self._items[0]
            if it.kind != "audio":
                self._pending.append((self._written, it))
                self._items.popleft()
                continue
            assert it.samples is not None
            room = ahead - dev.buffered()
            if room <= 0:
                return
            x = it.samples
            n = min(room, x.size)
            dev.write(x[:n])
            if not self._begun:
                self._begun = True
                out.append(PlayerEvent("begin", job, self._clock()))
            self._written += n
            self._queued -= n
            if n == x.size:
                self._items.popleft()
            else:
                it.samples = x[n:]
            self._cond.notify_all()  # room for the producer

    def _due(self, job: int, out: list[PlayerEvent]) -> None:
        if not self._pending:
            return
        played = self.device.played()
        while self._pending and self._pending[0][0] <= played:
            pos, it = self._pending.pop(0)
            now = self._clock()
            if it.kind == "mark":
                out.append(PlayerEvent("mark", job, now, it.name, pos))
            else:
                if not self._begun:
                    self._begun = True
                    out.append(PlayerEvent("begin", job, now))
                out.append(PlayerEvent("end", job, now, sample=pos))
                self.device.finish()
                self._job = None
                self._items.clear()
                self._pending.clear()
                return


def default_test_dir() -> Path | None:
    """``PARLEY_SD_TEST_OUTPUT`` from the environment, if set."""
    d = os.environ.get("PARLEY_SD_TEST_OUTPUT")
    return Path(d) if d else None
