"""``sd_parley``: the speech-dispatcher output module process (a thin adapter over
:class:`~parley_speechd.protocol.ModuleProtocol`).

Threads:

* the main thread reads stdin and feeds the protocol machine; it executes what the machine asks
  (Stop is synchronous: the device is silent before the next line is read);
* a small pool of synthesis workers, one job each, each with its own CancelToken checked between
  engine chunks (a new message never waits behind the last chunk of a stopped one);
* the :class:`~parley_speechd.audio.Player`, which reports 701/700/702 when audio is heard.

Every call into the machine and every write to stdout happens under one lock, so replies and
events leave in the order the machine produced them. The protocol owns the real stdout: file
descriptor 1 is moved aside at start and the process's own fd 1 points at stderr, so a library that
prints cannot corrupt the protocol.

    sd_parley [CONFIG] [--test-output DIR] [--voices heart,joe] [--no-cache] [--log-file FILE]
    sd_parley --install-config [--default] [--voices heart]      # register for the current user

The engine is loaded in-process at INIT and kept warm for the module's lifetime.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from .audio import (
    EventLog,
    FileOutput,
    NoAudioDeviceError,
    OutputDevice,
    Player,
    PlayerEvent,
    open_sound_device,
)
from .config import ModuleConfig, install_config, read_config
from .message import Mark, Pause, Ssml, Text, Tone, VoiceEntry
from .protocol import (
    Action,
    ConfigureAudio,
    Initialize,
    Job,
    ModuleProtocol,
    Quit,
    SetDebug,
    SetLogLevel,
    Speak,
    Stop,
)

if TYPE_CHECKING:
    from parley_engine import AudioChunk, CancelToken, SpeakSettings, VoiceInfo
    from parley_engine.cache import PhraseCache
    from parley_engine.ssml import MarkEvent

__all__ = ["Module", "main"]

log = logging.getLogger("parley.speechd")

FloatArray = npt.NDArray[np.float32]


class SynthEngine(Protocol):
    """What the module needs from :class:`parley_engine.Engine`."""

    default_voice: str

    def voices(self) -> list[VoiceInfo]: ...

    def sample_rate_hz(self, voice_id: str | None = None) -> int: ...

    def stream(
        self,
        text: str,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[AudioChunk]: ...

    def stream_cached(
        self,
        text: str,
        cache: PhraseCache,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[AudioChunk]: ...

    def stream_ssml(
        self,
        ssml: str,
        voice: str | None = None,
        settings: SpeakSettings | None = None,
        cancel: CancelToken | None = None,
        *,
        punctuation: str = "none",
        capitals: str = "none",
        cache: PhraseCache | None = None,
    ) -> Iterator[AudioChunk | MarkEvent]: ...


def _settings_of(job: Job, cls: type[SpeakSettings]) -> SpeakSettings:
    return cls(
        speed=min(4.0, max(0.5, job.speed)),
        pitch_semitones=min(12.0, max(-12.0, job.pitch_semitones)),
        volume_db=min(12.0, max(-40.0, job.volume_db)),
    )


def _new_token() -> CancelToken:
    from parley_engine import CancelToken

    return CancelToken()


def tone(freq_hz: float, ms: float, sample_rate_hz: int, level: float = 0.25) -> FloatArray:
    """A sine beep with 5 ms fades (capital-letter and sound icons)."""
    n = max(1, int(sample_rate_hz * ms / 1000))
    t = np.arange(n, dtype=np.float64) / sample_rate_hz
    x = level * np.sin(2 * np.pi * freq_hz * t)
    fade = min(n // 2, int(sample_rate_hz * 0.005))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return x.astype(np.float32)


@dataclass
class _Running:
    job: Job
    cancel: CancelToken
    started_at: float = field(default_factory=time.monotonic)


class Module:
    """The adapter: owns the machine, the engine, the player and the workers."""

    def __init__(
        self,
        config: ModuleConfig,
        write: Callable[[bytes], None],
        *,
        engine_factory: Callable[[ModuleConfig], SynthEngine] | None = None,
        device_factory: Callable[[ModuleConfig, EventLog | None], OutputDevice] | None = None,
    ) -> None:
        self.config = config
        self._write = write
        self._engine_factory = engine_factory or _load_engine
        self._device_factory = device_factory or _open_device
        self.machine = ModuleProtocol()
        self._lock = threading.RLock()
        self.engine: SynthEngine | None = None
        self.player: Player | None = None
        self.events: EventLog | None = None
        self.cache: PhraseCache | None = None
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="parley-synth")
        self._running: dict[int, _Running] = {}
        self.quit = threading.Event()
        # Idle warming of the phrase cache (letters, digits, symbols, key names) at the settings
        # messages actually use: the first "a" typed is then as fast as the hundredth.
        self._warm_cond = threading.Condition()
        self._warm_want: tuple[str | None, SpeakSettings, str] | None = None
        self._warm_done: set[tuple[object, ...]] = set()
        self.warmed = 0
        if config.test_output is not None:
            config.test_output.mkdir(parents=True, exist_ok=True)
            self.events = EventLog(config.test_output / "events.jsonl")

    # -- input -------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from stdin (b"" is not EOF: call :meth:`eof`)."""
        with self._lock:
            actions = self.machine.receive_data(data)
            self._flush_out()
        self._execute(actions)

    def eof(self) -> None:
        with self._lock:
            actions = self.machine.eof()
        self._execute(actions)

    # -- actions -----------------------------------------------------------------------------------

    def _execute(self, actions: Sequence[Action]) -> None:
        for a in actions:
            if isinstance(a, Initialize):
                self._initialize()
            elif isinstance(a, Speak):
                self._speak(a.job)
            elif isinstance(a, Stop):
                self._stop(a.job, a.pause)
            elif isinstance(a, Quit):
                self.quit.set()
            elif isinstance(a, SetLogLevel):
                logging.getLogger("parley").setLevel(_LOG_LEVELS.get(a.level, logging.INFO))
            elif isinstance(a, SetDebug):
                _set_debug_file(a.path)
            elif isinstance(a, ConfigureAudio):
                log.debug(
                    "audio settings from speech-dispatcher (ignored, Parley plays its own): %s", a.params
                )

    def _initialize(self) -> None:
        t0 = time.monotonic()
        try:
            engine = self._engine_factory(self.config)
            device = self._device_factory(self.config, self.events)
            voices = _voice_entries(engine)
        except NoAudioDeviceError as exc:
            log.error("%s", exc)
            self._init_result(False, f"Parley: {exc}")
            return
        except Exception as exc:
            log.exception("could not load the engine")
            self._init_result(False, f"Parley could not load its engine: {type(exc).__name__}: {exc}")
            return
        self.engine = engine
        if self.config.cache_mb > 0:
            from parley_engine.cache import PhraseCache

            self.cache = PhraseCache(max_bytes=int(self.config.cache_mb * (1 << 20)))
        self.player = Player(device, self._on_player_event, events=self.events)
        ms = 1000 * (time.monotonic() - t0)
        names = ", ".join(v.name for v in voices)
        self._init_result(True, f"Parley loaded in {ms:.0f} ms; voices: {names}", voices)

    def _init_result(self, ok: bool, status: str, voices: Sequence[VoiceEntry] = ()) -> None:
        with self._lock:
            actions = self.machine.init_done(ok, status, voices)
            self._flush_out()
        if self.events is not None:
            self.events.write("init", ok=ok, status=status)
        self._execute(actions)

    def _speak(self, job: Job) -> None:
        from parley_engine import CancelToken

        engine, player = self.engine, self.player
        assert engine is not None and player is not None
        cancel = CancelToken()
        try:
            rate = engine.sample_rate_hz(job.voice)
        except Exception:
            rate = engine.sample_rate_hz(None)
        with self._lock:
            self._running[job.job] = _Running(job, cancel)
            # The player knows the job before a worker runs: a STOP right now silences it.
            player.begin(job.job, rate)
        if self.events is not None:
            self.events.write("speak", job=job.job, kind=job.kind, voice=job.voice, speed=round(job.speed, 3))
        self._pool.submit(self._synthesise, job, cancel, rate)
        if self.cache is not None and self.config.warm_cache:
            self._request_warm(job)

    def _stop(self, job: int, pause: bool) -> None:
        t = time.monotonic()
        run = self._running.get(job)
        if run is not None:
            run.cancel.cancel()
        if self.player is not None:
            self.player.stop(job)
        if self.events is not None:
            self.events.write("stop_request", t, job=job, pause=pause)
        with self._lock:
            self.machine.playback_stopped(job)
            self._flush_out()

    # -- synthesis (worker threads) -----------------------------------------------------------------

    def _synthesise(self, job: Job, cancel: CancelToken, rate: int) -> None:
        from parley_engine import SpeakSettings
        from parley_engine.errors import InputError

        player, engine = self.player, self.engine
        assert player is not None and engine is not None
        token = cancel
        settings = _settings_of(job, SpeakSettings)
        try:
            for seg in job.segments:
                if token.cancelled:
                    return
                try:
                    if isinstance(seg, Ssml):
                        if not self._speak_ssml(job, seg.body, settings, token):
                            return
                    elif isinstance(seg, Text):
                        s = settings
                        if seg.pitch_semitones:
                            s = replace(s, pitch_semitones=min(12.0, s.pitch_semitones + seg.pitch_semitones))
                        if not self._speak_text(job.job, seg.text, job.voice, s, token):
                            return
                    elif isinstance(seg, Mark):
                        player.mark(job.job, seg.name)
                    elif isinstance(seg, Pause):
                        player.audio(job.job, np.zeros(int(rate * seg.ms / 1000), np.float32))
                    elif isinstance(seg, Tone):
                        player.audio(job.job, tone(seg.freq_hz, seg.ms, rate))
                except InputError as exc:  # e.g. nothing speakable in "..."
                    log.debug("segment of message %d skipped: %s", job.job, exc)
        except Exception:
            log.exception("synthesis of message %d failed; ending it", job.job)
        finally:
            if not token.cancelled:
                player.end(job.job)
            self._running.pop(job.job, None)

    #: Messages whose text is at most this long are synthesised to their end even after a STOP, so
    #: that the phrase cache keeps them (a few ms of work: screen-reader users interrupt letters,
    #: key names and short labels all the time, and hear them again).
    FINISH_CHARS = 48

    def _speak_text(
        self, job: int, text: str, voice: str | None, settings: SpeakSettings, cancel: CancelToken
    ) -> bool:
        """Play plain ``text`` through the phrase cache; False once the job is stopped."""
        engine = self.engine
        assert engine is not None
        if self.cache is None:
            return self._play(job, engine.stream(text, voice, settings, cancel), cancel, cancel)
        finish = len(text) <= self.FINISH_CHARS
        token = _new_token() if finish else cancel
        return self._play(job, engine.stream_cached(text, self.cache, voice, settings, token), cancel, token)

    def _speak_ssml(self, job: Job, body: str, settings: SpeakSettings, cancel: CancelToken) -> bool:
        """Play an SSML document; its marks are queued at their exact sample."""
        from parley_engine.ssml import strip_tags

        engine = self.engine
        assert engine is not None
        finish = self.cache is not None and len(strip_tags(body)) <= self.FINISH_CHARS
        token = _new_token() if finish else cancel
        stream = engine.stream_ssml(
            body,
            job.voice,
            settings,
            token,
            punctuation=job.punctuation,
            capitals=job.capitals,
            cache=self.cache,
        )
        return self._play(job.job, stream, cancel, token)

    def _play(
        self,
        job: int,
        stream: Iterator[AudioChunk | MarkEvent] | Iterator[AudioChunk],
        cancel: CancelToken,
        token: CancelToken,
    ) -> bool:
        """Hand ``stream``'s audio and marks to the player. A stream with its own ``token`` (not the
        job's ``cancel``) is consumed to its end even when the job is stopped (see FINISH_CHARS)."""
        from parley_engine.ssml import MarkEvent

        player = self.player
        assert player is not None
        own = token is not cancel
        playing = True
        marks: list[MarkEvent] = []
        for item in stream:
            if isinstance(item, MarkEvent):
                marks.append(item)
                continue
            x, start = item.samples, item.start_sample
            while playing and marks and marks[0].sample_offset < start + x.size:
                cut = max(0, marks[0].sample_offset - start)
                playing = player.audio(job, x[:cut]) and player.mark(job, marks.pop(0).name)
                x, start = x[cut:], start + cut
            if playing:
                playing = player.audio(job, x)
            if (not playing or cancel.cancelled) and not own:
                return False
        for m in marks:
            if playing:
                playing = player.mark(job, m.name)
        return playing and not cancel.cancelled

    # -- idle cache warming -------------------------------------------------------------------------

    def _request_warm(self, job: Job) -> None:
        from parley_engine import SpeakSettings

        settings = _settings_of(job, SpeakSettings)
        key = (job.voice, settings, job.capitals)
        if key in self._warm_done:
            return
        with self._warm_cond:
            first = self._warm_want is None and not self._warm_done
            self._warm_want = (job.voice, settings, job.capitals)
            self._warm_cond.notify_all()
        if first:
            threading.Thread(target=self._warm_loop, name="parley-warm", daemon=True).start()

    def _busy(self) -> bool:
        with self._lock:
            return self.machine.current_job is not None

    def _warm_loop(self) -> None:
        from dataclasses import replace as dc_replace

        from parley_engine.cache import warm_texts

        engine, cache = self.engine, self.cache
        assert engine is not None and cache is not None
        while not self.quit.is_set():
            with self._warm_cond:
                while self._warm_want is None and not self.quit.is_set():
                    self._warm_cond.wait(0.5)
                want = self._warm_want
            if want is None:
                continue
            voice, settings, capitals = want
            for text, pitch in warm_texts(None, characters=True, keys=True, capitals=capitals):
                if self.quit.is_set() or self._warm_want != want:
                    break
                while self._busy() and not self.quit.is_set():  # never compete with speech
                    time.sleep(0.02)
                s = settings
                if pitch:
                    s = dc_replace(s, pitch_semitones=min(12.0, s.pitch_semitones + pitch))
                try:
                    for _ in engine.stream_cached(text, cache, voice, s):
                        pass
                    self.warmed += 1
                except Exception:
                    log.debug("warming %r failed", text, exc_info=True)
            else:
                with self._warm_cond:
                    self._warm_done.add((voice, settings, capitals))
                    if self._warm_want == want:
                        self._warm_want = None
                if self.events is not None:
                    self.events.write("cache_warm", entries=len(cache), rendered=self.warmed)

    # -- player events (player thread) --------------------------------------------------------------

    def _on_player_event(self, ev: PlayerEvent) -> None:
        actions: list[Action] = []
        with self._lock:
            if ev.kind == "begin":
                self.machine.playback_started(ev.job)
            elif ev.kind == "mark":
                actions = self.machine.mark_reached(ev.job, ev.name)
            else:
                self.machine.playback_ended(ev.job)
            self._flush_out()
        if self.events is not None:
            extra: dict[str, object] = {"name": ev.name} if ev.kind == "mark" else {}
            self.events.write(ev.kind, ev.t, job=ev.job, sample=ev.sample, **extra)
        self._execute(actions)

    # -- output ------------------------------------------------------------------------------------

    def _flush_out(self) -> None:
        data = self.machine.data_to_send()
        if not data:
            return
        if self.events is not None:
            self.events.write("out", lines=data.decode("utf-8", "replace").splitlines())
        try:
            self._write(data)
        except OSError:  # speech-dispatcher is gone
            self.quit.set()

    def close(self) -> None:
        self.quit.set()
        with self._warm_cond:
            self._warm_cond.notify_all()
        for run in list(self._running.values()):
            run.cancel.cancel()
        if self.player is not None:
            self.player.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.events is not None:
            self.events.close()


# -- engine and device --------------------------------------------------------------------------------


def _load_engine(config: ModuleConfig) -> SynthEngine:
    from parley_engine import Engine

    engine = Engine.load(list(config.voices), threads=config.threads)
    if config.default_voice:
        engine.default_voice = engine.voice(config.default_voice).info.id
    engine.warmup()
    for text in ("a", "Hello world."):  # first real requests are slower than later ones
        for _ in engine.stream(text):
            pass
    from parley_engine.runtime import freeze_heap

    freeze_heap()  # a full GC pass over the loaded engine stops every thread (a STOP) for ~60 ms
    return engine


def _open_device(config: ModuleConfig, events: EventLog | None) -> OutputDevice:
    if config.test_output is not None:
        assert events is not None
        return FileOutput(config.test_output, events)
    return open_sound_device(config.audio_device)


def _voice_entries(engine: SynthEngine) -> list[VoiceEntry]:
    infos = engine.voices()
    return [VoiceEntry(v.id, v.language, "none", v.gender) for v in infos]


_LOG_LEVELS = {
    0: logging.CRITICAL,
    1: logging.ERROR,
    2: logging.WARNING,
    3: logging.INFO,
    4: logging.DEBUG,
    5: logging.DEBUG,
}


def _set_debug_file(path: str | None) -> None:
    root = logging.getLogger("parley")
    for h in list(root.handlers):
        if getattr(h, "_parley_debug", False):
            root.removeHandler(h)
            h.close()
    if path is None:
        return
    try:
        h = logging.FileHandler(path)
    except OSError as exc:
        log.warning("cannot open debug file %s: %s", path, exc)
        return
    h._parley_debug = True  # type: ignore[attr-defined]
    h.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(levelname)s %(message)s"))
    root.addHandler(h)
    root.setLevel(logging.DEBUG)


# -- main ---------------------------------------------------------------------------------------------


def _protocol_stdout() -> Callable[[bytes], None]:
    """Keep fd 1 for the protocol only: dup it aside, point fd 1 at stderr."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]

    return write


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sd_parley",
        description="Parley as a speech-dispatcher output module (module protocol on stdin/stdout).",
    )
    p.add_argument("config", nargs="?", help="module configuration file (speech-dispatcher passes it)")
    p.add_argument("--test-output", metavar="DIR", help="no sound card: write WAVs + events.jsonl to DIR")
    p.add_argument("--voices", help="voices to load, comma-separated (default: heart)")
    p.add_argument("--default-voice", help="voice used when speech-dispatcher names none")
    p.add_argument(
        "--no-cache", action="store_true", help="no phrase cache (every message synthesised afresh)"
    )
    p.add_argument("--no-warm", action="store_true", help="do not pre-render characters and keys when idle")
    p.add_argument("--log-file", help="log here (default: stderr, which speech-dispatcher logs)")
    p.add_argument(
        "--install-config",
        action="store_true",
        help="write ~/.config/speech-dispatcher/{speechd.conf,modules/parley.conf} for this user and exit",
    )
    p.add_argument(
        "--default", action="store_true", help="with --install-config: make parley the default module"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.install_config:
        return install_config(
            module_path=_module_path(),
            voices=tuple(args.voices.split(",")) if args.voices else None,
            make_default=args.default,
            out=sys.stdout,
        )
    config = read_config(Path(args.config) if args.config else None)
    config = config.with_overrides(
        test_output=Path(args.test_output) if args.test_output else None,
        voices=tuple(v.strip() for v in args.voices.split(",") if v.strip()) if args.voices else None,
        default_voice=args.default_voice,
        cache_mb=0.0 if args.no_cache else None,
        warm_cache=False if args.no_warm else None,
        log_file=Path(args.log_file) if args.log_file else None,
    )
    _setup_logging(config)
    sys.setswitchinterval(0.001)  # hand the GIL over quickly: latency beats throughput here
    write = _protocol_stdout()
    module = Module(config, write)
    try:
        while not module.quit.is_set():
            try:
                data = os.read(0, 65536)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                module.eof()
                break
            module.feed(data)
    except KeyboardInterrupt:
        pass
    finally:
        module.close()
    return 0


def _module_path() -> str:
    import shutil

    exe = shutil.which("sd_parley")
    if exe:
        return str(Path(exe).resolve())
    return str(Path(sys.argv[0]).resolve())


def _setup_logging(config: ModuleConfig) -> None:
    handler: logging.Handler = (
        logging.FileHandler(config.log_file)
        if config.log_file is not None
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s sd_parley %(levelname)s %(message)s"))
    root = logging.getLogger("parley")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
