"""speech-dispatcher's output-module protocol — sans I/O.

An output module is a process that speech-dispatcher starts and talks to over the module's stdin and
stdout, one line at a time. This module is the module's whole side of that protocol and nothing
else: bytes from stdin in, :data:`Action` objects for the adapter and bytes for stdout out. It reads
no clock, starts no thread and touches no file, so the adapter (:mod:`parley_speechd.module`), a
unit test or a fuzzer can drive it the same way.

    machine = ModuleProtocol()
    actions = machine.receive_data(chunk_of_stdin)     # -> Initialize / Speak / Stop / Quit / ...
    stdout.write(machine.data_to_send())               # replies and events, in order
    machine.init_done(ok=True, status="...", voices=[...])   # the adapter reports back:
    machine.playback_started(job)                      #   701 BEGIN (first sample playing)
    actions = machine.mark_reached(job, "m1")          #   700 index mark (may ask to Stop: PAUSE)
    machine.playback_ended(job)                        #   702 END (or 703/704 if a STOP/PAUSE won)
    machine.playback_stopped(job)                      #   703 STOP / 704 PAUSE

The protocol, as speech-dispatcher 0.11 speaks it (``src/modules/module_process.c``):

=========================== ================================================================
``INIT``                    ``299-<status>`` ``299 OK LOADED SUCCESSFULLY`` (or ``399-…``
                            ``399 ERR CANT INIT MODULE``); always the first line
``SPEAK`` / ``CHAR`` /      ``202 OK RECEIVING MESSAGE``, then data lines up to a line ``.``
``KEY`` / ``SOUND_ICON``    (a leading ``.`` of a data line is an escape and is dropped), then
                            ``200 OK SPEAKING``, ``301 ERROR CANT SPEAK`` (empty, busy, too big)
                            or ``305 DATA MORE THAN ONE LINE`` (CHAR/KEY/SOUND_ICON)
``STOP``, ``PAUSE``         no reply; later ``703 STOP`` / ``704 PAUSE`` if something was
                            speaking (PAUSE stops at the next ``__spd_`` index mark)
``SET`` / ``AUDIO`` /       ``207 OK RECEIVING [AUDIO |LOGLEVEL ]SETTINGS``, ``key=value`` lines up
``LOGLEVEL``                to ``.``, then ``203 …`` or ``302 ERROR BAD SYNTAX`` /
                            ``303 ERROR INVALID PARAMETER OR VALUE`` (AUDIO ``server``: ``300``)
``LIST VOICES``             ``200-name<TAB>language<TAB>variant`` … ``200 OK VOICE LIST SENT``
``DEBUG ON <file>|OFF``     ``200 OK DEBUGGING ON|OFF``
``QUIT``                    ``210 OK QUIT``
anything else               ``300 ERR UNKNOWN COMMAND``
events                      ``701 BEGIN``, ``700-<mark>`` ``700 INDEX MARK``, ``702 END``,
                            ``703 STOP``, ``704 PAUSE`` — exactly one terminal event per
                            ``200 OK SPEAKING``, and never one without it
=========================== ================================================================

Replies and events share stdout, and speech-dispatcher takes the next line it reads as the reply to
the command it just sent: so an event must never be written when no message is speaking (a stray
``703 STOP`` after a STOP of nothing would be read as the reply to the next SET). This machine only
emits events for the job it accepted last and only until that job's terminal event.

Robustness: every complete command line gets exactly one final reply (STOP and PAUSE none); a
line longer than the limit is discarded up to its newline; a message body over
:data:`MAX_MESSAGE_BYTES` is read to its end and refused with 301; bytes that are not UTF-8 are
replaced; a ``\\r`` before the newline is ignored. Nothing a peer sends makes a method raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal, TypeAlias

from .message import (
    MessageKind,
    Segment,
    Settings,
    VoiceEntry,
    parse_message,
    speak_settings,
)

__all__ = [
    "MAX_COMMAND_BYTES",
    "MAX_MESSAGE_BYTES",
    "Action",
    "ConfigureAudio",
    "Initialize",
    "Job",
    "ModuleProtocol",
    "ModuleState",
    "Quit",
    "SetDebug",
    "SetLogLevel",
    "Speak",
    "Stop",
]

#: Longest command or ``key=value`` line (a ``DEBUG ON <path>`` fits easily).
MAX_COMMAND_BYTES: Final = 4096
#: Largest message body (SPEAK data, all lines together). speech-dispatcher sends a message as one
#: line, so a long document arrives as one long line; 4 MiB is several hundred pages of text.
MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024

PAUSE_MARK_PREFIX: Final = "__spd_"

# Replies (the exact texts of speech-dispatcher's module_process.c).
R_INIT_OK: Final = "299 OK LOADED SUCCESSFULLY"
R_INIT_FAIL: Final = "399 ERR CANT INIT MODULE"
R_RECEIVING: Final = "202 OK RECEIVING MESSAGE"
R_SPEAKING: Final = "200 OK SPEAKING"
R_CANT_SPEAK: Final = "301 ERROR CANT SPEAK"
R_MULTILINE: Final = "305 DATA MORE THAN ONE LINE"
R_BAD_SYNTAX: Final = "302 ERROR BAD SYNTAX"
R_BAD_PARAM: Final = "303 ERROR INVALID PARAMETER OR VALUE"
R_SETTINGS_OK: Final = "203 OK SETTINGS RECEIVED"
R_AUDIO_OK: Final = "203 OK AUDIO INITIALIZED"
R_LOGLEVEL_OK: Final = "203 OK LOGLEVEL SET"
R_VOICES_OK: Final = "200 OK VOICE LIST SENT"
R_NO_VOICES: Final = "304 CANT LIST VOICES"
R_QUIT: Final = "210 OK QUIT"
R_UNKNOWN: Final = "300 ERR UNKNOWN COMMAND"
R_NOT_INIT: Final = "300 ERR MODULE NOT INITIALIZED (INIT must come first)"
E_MARK: Final = "700 INDEX MARK"
E_BEGIN: Final = "701 BEGIN"
E_END: Final = "702 END"
E_STOP: Final = "703 STOP"
E_PAUSE: Final = "704 PAUSE"


class ModuleState(Enum):
    AWAIT_INIT = "await_init"  # nothing but INIT (or QUIT) is accepted
    INITIALIZING = "initializing"  # Initialize handed out; waiting for init_done()
    READY = "ready"
    CLOSED = "closed"  # QUIT, a failed INIT or end of input: nothing more is read or sent


class _Mode(Enum):
    COMMAND = "command"
    MESSAGE = "message"  # collecting SPEAK/CHAR/KEY/SOUND_ICON data lines
    PARAMS = "params"  # collecting SET/AUDIO/LOGLEVEL key=value lines


class JobState(Enum):
    SPEAKING = "speaking"
    STOPPING = "stopping"  # STOP handed out, waiting for playback_stopped()
    PAUSING = "pausing"  # PAUSE reached an __spd_ mark: Stop handed out, 704 follows


# -- actions for the adapter ------------------------------------------------------------------------


@dataclass(frozen=True)
class Initialize:
    """Load and warm the engine, then call :meth:`ModuleProtocol.init_done`."""


@dataclass(frozen=True)
class Job:
    """One accepted message: what to speak and how.

    job: increasing id; every report about this message names it.
    segments: text pieces, index marks and tones, in order (see :mod:`parley_speechd.message`).
    voice: a voice id from the list given to init_done (None: the engine's default).
    speed, pitch_semitones, volume_db: Parley's settings, mapped from speech-dispatcher's
        rate/pitch/volume (-100..100).
    punctuation, capitals: the screen-reader modes for SSML segments (punctuation_mode none /
        some / most / all; cap_let_recogn none / spell / icon).
    """

    job: int
    kind: MessageKind
    segments: tuple[Segment, ...]
    voice: str | None
    speed: float
    pitch_semitones: float
    volume_db: float
    punctuation: str = "none"
    capitals: str = "none"


@dataclass(frozen=True)
class Speak:
    """Synthesise and play ``job``; report playback_started / mark_reached / playback_ended."""

    job: Job


@dataclass(frozen=True)
class Stop:
    """Silence job ``job`` now (drop its queued audio, cancel its synthesis), then call
    :meth:`ModuleProtocol.playback_stopped`. ``pause`` is informational (704 instead of 703)."""

    job: int
    pause: bool = False


@dataclass(frozen=True)
class ConfigureAudio:
    """speech-dispatcher's audio parameters (audio_output_method, devices...): informational, the
    module plays its own audio."""

    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SetLogLevel:
    level: int


@dataclass(frozen=True)
class SetDebug:
    """``DEBUG ON <path>``: also log to ``path``; ``DEBUG OFF``: path None."""

    path: str | None


@dataclass(frozen=True)
class Quit:
    """Stop everything and exit (QUIT, a failed INIT, or the end of stdin)."""


Action: TypeAlias = Initialize | Speak | Stop | ConfigureAudio | SetLogLevel | SetDebug | Quit


@dataclass
class _Current:
    job: int
    state: JobState = JobState.SPEAKING
    begun: bool = False
    pause_requested: bool = False


_MESSAGE_KINDS: Final[dict[str, MessageKind]] = {
    "SPEAK": "text",
    "CHAR": "char",
    "KEY": "key",
    "SOUND_ICON": "sound_icon",
}
_PARAM_KINDS: Final = {"SET": "", "AUDIO": "AUDIO ", "LOGLEVEL": "LOGLEVEL "}

ParamKind: TypeAlias = Literal["SET", "AUDIO", "LOGLEVEL"]


@dataclass
class _Collect:
    """A multi-line command being received."""

    command: str
    lines: list[str] = field(default_factory=list)
    size: int = 0
    overflow: bool = False
    error: str | None = None  # PARAMS: the first error, replied at "."


class ModuleProtocol:
    """The module side of speech-dispatcher's module protocol, for one module process."""

    def __init__(self, *, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_message_bytes = max_message_bytes
        self._state = ModuleState.AWAIT_INIT
        self._mode = _Mode.COMMAND
        self._collect: _Collect | None = None
        self._buf = bytearray()
        self._discarding = False  # inside an over-long line: drop bytes up to the next newline
        self._out: list[str] = []
        self._settings = Settings()
        self._voices: tuple[VoiceEntry, ...] = ()
        self._current: _Current | None = None
        self._next_job = 1
        self.audio_params: dict[str, str] = {}
        self.log_level = 3

    # -- introspection -----------------------------------------------------------------------------

    @property
    def state(self) -> ModuleState:
        return self._state

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def voices(self) -> tuple[VoiceEntry, ...]:
        return self._voices

    @property
    def current_job(self) -> int | None:
        """The job that is speaking (or stopping), None when idle."""
        return None if self._current is None else self._current.job

    @property
    def job_state(self) -> JobState | None:
        return None if self._current is None else self._current.state

    def data_to_send(self) -> bytes:
        """Replies and events queued so far, in order, as bytes for stdout."""
        if not self._out:
            return b""
        text = "".join(line + "\n" for line in self._out)
        self._out.clear()
        return text.encode("utf-8", "replace")

    # -- input -------------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Action]:
        """Feed bytes read from stdin; returns what the adapter must do, in order."""
        actions: list[Action] = []
        if self._state is ModuleState.CLOSED:
            return actions
        self._buf += data
        while self._reading():
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self._line_limit():
                    self._overlong()
                    self._buf.clear()
                    self._discarding = True
                break
            raw = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            if self._discarding:
                self._discarding = False
                self._finish_overlong()
                continue
            if len(raw) > self._line_limit():
                self._overlong()
                self._finish_overlong()
                continue
            line = raw.decode("utf-8", "replace")
            if line.endswith("\r"):
                line = line[:-1]
            actions.extend(self._line(line))
        return actions

    def eof(self) -> list[Action]:
        """stdin is closed: speech-dispatcher is gone. Stop speaking and quit."""
        if self._state is ModuleState.CLOSED:
            return []
        actions: list[Action] = []
        if self._current is not None:
            actions.append(Stop(self._current.job))
            self._current = None
        self._state = ModuleState.CLOSED
        self._out.clear()  # nobody is listening
        actions.append(Quit())
        return actions

    def _reading(self) -> bool:
        return self._state in (ModuleState.AWAIT_INIT, ModuleState.READY)

    # -- reports from the adapter ------------------------------------------------------------------

    def init_done(self, ok: bool, status: str, voices: Sequence[VoiceEntry] = ()) -> list[Action]:
        """The engine is loaded (``ok``) or could not be (``status`` says why, on one line or more)."""
        if self._state is not ModuleState.INITIALIZING:
            return []
        status_lines = [s for s in status.splitlines() if s.strip()] or ["Parley"]
        if not ok or not voices:
            if ok:
                status_lines.append("no voice is available")
            self._out.extend(f"399-{s}" for s in status_lines)
            self._out.append(R_INIT_FAIL)
            self._state = ModuleState.CLOSED
            return [Quit()]
        self._voices = tuple(voices)
        self._out.extend(f"299-{s}" for s in status_lines)
        self._out.append(R_INIT_OK)
        self._state = ModuleState.READY
        # Lines that arrived while the engine was loading are waiting in the buffer.
        return self.receive_data(b"")

    def playback_started(self, job: int) -> None:
        """The first sample of ``job`` is playing: 701 BEGIN (once)."""
        cur = self._live(job)
        if cur is None or cur.begun or cur.state is not JobState.SPEAKING:
            return
        cur.begun = True
        self._out.append(E_BEGIN)

    def mark_reached(self, job: int, name: str) -> list[Action]:
        """Playback reached index mark ``name`` of ``job``: 700. With a PAUSE pending and an
        ``__spd_`` mark, also returns Stop(job, pause=True) (704 follows playback_stopped)."""
        cur = self._live(job)
        if cur is None or cur.state is not JobState.SPEAKING:
            return []
        self._begin(cur)
        safe = name.replace("\n", " ").replace("\r", " ")
        self._out.append(f"700-{safe}")
        self._out.append(E_MARK)
        if cur.pause_requested and name.startswith(PAUSE_MARK_PREFIX):
            cur.state = JobState.PAUSING
            return [Stop(job, pause=True)]
        return []

    def playback_ended(self, job: int) -> None:
        """Every sample of ``job`` has played (or synthesis failed): 702 END. If a STOP or PAUSE
        is in progress for it, the stop wins: 703 STOP / 704 PAUSE."""
        cur = self._live(job)
        if cur is None:
            return
        self._begin(cur)
        self._finish(cur, {JobState.SPEAKING: E_END, JobState.STOPPING: E_STOP, JobState.PAUSING: E_PAUSE})

    def playback_stopped(self, job: int) -> None:
        """``job`` is silent after a Stop: 703 STOP (704 PAUSE if it was a pause)."""
        cur = self._live(job)
        if cur is None:
            return
        self._begin(cur)
        self._finish(cur, {JobState.SPEAKING: E_STOP, JobState.STOPPING: E_STOP, JobState.PAUSING: E_PAUSE})

    # -- internals ---------------------------------------------------------------------------------

    def _live(self, job: int) -> _Current | None:
        cur = self._current
        if self._state is not ModuleState.READY or cur is None or cur.job != job:
            return None
        return cur

    def _begin(self, cur: _Current) -> None:
        if not cur.begun:
            cur.begun = True
            self._out.append(E_BEGIN)

    def _finish(self, cur: _Current, event: dict[JobState, str]) -> None:
        self._out.append(event[cur.state])
        self._current = None

    def _line_limit(self) -> int:
        if self._mode is _Mode.MESSAGE and self._collect is not None:
            return max(MAX_COMMAND_BYTES, self.max_message_bytes - self._collect.size)
        return MAX_COMMAND_BYTES

    def _overlong(self) -> None:
        """The line being read is over the limit (its bytes are dropped)."""
        col = self._collect
        if self._mode is _Mode.MESSAGE and col is not None:
            col.overflow = True
        elif self._mode is _Mode.PARAMS and col is not None:
            col.error = col.error or R_BAD_SYNTAX

    def _finish_overlong(self) -> None:
        """The over-long line ended. In command mode it was no command: answer it."""
        if self._mode is _Mode.COMMAND:
            self._out.append(R_UNKNOWN if self._state is ModuleState.READY else R_NOT_INIT)

    def _line(self, line: str) -> list[Action]:
        if self._mode is _Mode.MESSAGE:
            return self._message_line(line)
        if self._mode is _Mode.PARAMS:
            return self._param_line(line)
        return self._command(line)

    def _command(self, line: str) -> list[Action]:
        if self._state is ModuleState.AWAIT_INIT:
            if line == "INIT":
                self._state = ModuleState.INITIALIZING
                return [Initialize()]
            if line == "QUIT":
                return self._quit()
            self._out.append(R_NOT_INIT)
            return []
        if line in _MESSAGE_KINDS:
            self._mode = _Mode.MESSAGE
            self._collect = _Collect(line)
            self._out.append(R_RECEIVING)
            return []
        if line in _PARAM_KINDS:
            self._mode = _Mode.PARAMS
            self._collect = _Collect(line)
            self._out.append(f"207 OK RECEIVING {_PARAM_KINDS[line]}SETTINGS")
            return []
        if line == "STOP":
            cur = self._current
            if cur is None or cur.state is not JobState.SPEAKING:
                return []  # nothing to stop: no reply, and no event either
            cur.state = JobState.STOPPING
            return [Stop(cur.job)]
        if line == "PAUSE":
            cur = self._current
            if cur is not None and cur.state is JobState.SPEAKING:
                cur.pause_requested = True
            return []
        if line == "LIST VOICES":
            if not self._voices:
                self._out.append(R_NO_VOICES)
            else:
                for v in self._voices:
                    self._out.append(f"200-{_field(v.name)}\t{_field(v.language)}\t{_field(v.variant)}")
                self._out.append(R_VOICES_OK)
            return []
        if line.startswith("DEBUG"):
            return self._debug(line)
        if line == "QUIT":
            return self._quit()
        if line == "INIT":
            self._out.append(R_INIT_OK)  # already initialised: say so again
            return []
        self._out.append(R_UNKNOWN)
        return []

    def _quit(self) -> list[Action]:
        actions: list[Action] = []
        if self._current is not None:
            actions.append(Stop(self._current.job))
            self._current = None
        self._out.append(R_QUIT)
        self._state = ModuleState.CLOSED
        actions.append(Quit())
        return actions

    def _debug(self, line: str) -> list[Action]:
        words = line.split()
        if words[:1] != ["DEBUG"] or len(words) < 2:
            self._out.append(R_BAD_SYNTAX)
            return []
        if words[1] == "ON" and len(words) >= 3:
            self._out.append("200 OK DEBUGGING ON")
            return [SetDebug(" ".join(words[2:]))]
        if words[1] == "OFF":
            self._out.append("200 OK DEBUGGING OFF")
            return [SetDebug(None)]
        self._out.append(R_BAD_SYNTAX)
        return []

    # -- messages ----------------------------------------------------------------------------------

    def _message_line(self, line: str) -> list[Action]:
        col = self._collect
        assert col is not None
        if line == ".":
            self._mode = _Mode.COMMAND
            self._collect = None
            return self._message_done(col)
        if line.startswith("."):
            line = line[1:]  # dot escaping: "..x" stands for ".x"
        col.size += len(line.encode("utf-8", "replace")) + 1
        if col.size > self.max_message_bytes:
            col.overflow = True
        if not col.overflow:
            col.lines.append(line)
        return []

    def _message_done(self, col: _Collect) -> list[Action]:
        kind = _MESSAGE_KINDS[col.command]
        body = "\n".join(col.lines)
        if col.overflow or not body or self._current is not None:
            self._out.append(R_CANT_SPEAK)
            return []
        if kind != "text" and len(col.lines) > 1:
            self._out.append(R_MULTILINE)
            return []
        segments = parse_message(kind, body, self._settings)
        voice, sp = speak_settings(self._settings, self._voices)
        st = self._settings
        job = Job(
            self._next_job,
            kind,
            segments,
            voice,
            sp.speed,
            sp.pitch_semitones,
            sp.volume_db,
            st.punctuation_mode,
            st.cap_let_recogn,
        )
        self._next_job += 1
        self._current = _Current(job.job)
        self._out.append(R_SPEAKING)
        return [Speak(job)]

    # -- SET / AUDIO / LOGLEVEL --------------------------------------------------------------------

    def _param_line(self, line: str) -> list[Action]:
        col = self._collect
        assert col is not None
        if line == ".":
            self._mode = _Mode.COMMAND
            self._collect = None
            return self._params_done(col)
        key, sep, value = line.partition("=")
        if not sep or not key or not value:
            col.error = col.error or R_BAD_SYNTAX
            return []
        col.lines.append(line)
        if col.command == "SET":
            settings, ok = self._settings.updated(key, value)
            if ok:
                self._settings = settings
            else:
                col.error = col.error or R_BAD_PARAM
        return []

    def _params_done(self, col: _Collect) -> list[Action]:
        if col.error is not None:
            self._out.append(col.error)
            return []
        if col.command == "SET":
            self._out.append(R_SETTINGS_OK)
            return []
        pairs = tuple((k, v) for k, _, v in (ln.partition("=") for ln in col.lines))
        if col.command == "AUDIO":
            if dict(pairs).get("audio_output_method") == "server":
                # Parley plays its own audio (that is how index marks can follow playback): refuse
                # speech-dispatcher's offer to play it, and it sends the ordinary audio settings next.
                self._out.append("300-Parley plays its own audio; it does not send audio to the server")
                self._out.append("300 MODULE ERROR")
                return []
            self.audio_params.update(pairs)
            self._out.append(R_AUDIO_OK)
            return [ConfigureAudio(pairs)]
        # LOGLEVEL
        levels = [v for k, v in pairs if k == "log_level"]
        if len(levels) != len(pairs) or not all(_is_int(v) for v in levels):
            self._out.append(R_BAD_PARAM)
            return []
        self._out.append(R_LOGLEVEL_OK)
        if not levels:
            return []
        self.log_level = int(levels[-1])
        return [SetLogLevel(self.log_level)]


def _field(s: str) -> str:
    """A voice-list field: no tabs or newlines, never empty."""
    out = s.replace("\t", " ").replace("\n", " ").replace("\r", " ").strip()
    return out or "none"


def _is_int(s: str) -> bool:
    t = s.strip()
    if t[:1] in "+-":
        t = t[1:]
    return t.isascii() and t.isdigit()
