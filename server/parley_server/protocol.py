"""Parley wire protocol, version 1 — sans I/O.

This module is the whole protocol and nothing but the protocol: JSON text messages and binary PCM
frames in, typed events and messages to send out. It imports no asyncio, socket, threading or
websockets code, never blocks and never reads a clock other than the one it is given, so it can be
driven by the asyncio server (:mod:`parley_server.app`), by the client library
(:mod:`parley_clients.client`), by a test, or by a fuzzer. See ``docs/protocol.md`` for the
specification this module implements.

Server side: one :class:`ServerProtocol` per WebSocket connection.

    proto = ServerProtocol(info)
    proto.connection_made()                      # queues the ``hello`` message
    events = proto.receive_text(message)         # -> StartSynthesis / StopSynthesis / ProtocolErrorEvent
    proto.start(request_id, sample_rate_hz=...)  # the adapter reports progress...
    proto.audio(request_id, pcm_bytes)
    events = proto.done(request_id, ...)         # ...and may be told to start the next request
    for message in proto.data_to_send(): ...     # str -> text frame, bytes -> binary frame

Every outgoing message is appended to one outbox in the order the protocol decided, so the
adapter only has to send :meth:`ServerProtocol.data_to_send` in order for the wire to respect the
ordering guarantees (binary frames of request X only between ``start`` X and its terminal message).

Client side: :class:`ClientProtocol` builds requests and turns server messages into typed events.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "BYTES_PER_SAMPLE",
    "DEFAULT_FORMAT",
    "FORMATS",
    "FRAME_MS_DEFAULT",
    "FRAME_MS_MAX",
    "FRAME_MS_MIN",
    "MAX_ID_CHARS",
    "PROTOCOL_VERSION",
    "SEED_MAX",
    "AudioReceived",
    "Cancelled",
    "ClientEvent",
    "ClientProtocol",
    "ClientState",
    "ConnectionState",
    "Done",
    "ErrorCode",
    "Event",
    "Hello",
    "InvalidStateError",
    "ProtocolErrorEvent",
    "ProtocolViolation",
    "RequestState",
    "ServerError",
    "ServerInfo",
    "ServerProtocol",
    "SpeakRequest",
    "Started",
    "StartSynthesis",
    "StopSynthesis",
    "UnknownMessage",
    "VoiceDescription",
    "VoicesListed",
]

PROTOCOL_VERSION: Final = 1

Format: TypeAlias = Literal["pcm_s16le", "pcm_f32le"]
FORMATS: Final[tuple[Format, ...]] = ("pcm_s16le", "pcm_f32le")
DEFAULT_FORMAT: Final[Format] = "pcm_s16le"
BYTES_PER_SAMPLE: Final[dict[str, int]] = {"pcm_s16le": 2, "pcm_f32le": 4}

FRAME_MS_MIN: Final = 10
FRAME_MS_MAX: Final = 100
FRAME_MS_DEFAULT: Final = 20
MAX_ID_CHARS: Final = 64
SEED_MAX: Final = 2**53 - 1  # the largest integer a JavaScript client can send exactly


class ErrorCode(StrEnum):
    """Stable error codes of protocols v1 and v2 (the ``code`` field of ``error`` messages).

    The engine's own codes (``ParleyError.code``) travel verbatim; the ones it defines today are
    listed here too so that the table in docs/protocol.md has one source.
    """

    # Messages that could not be understood at all.
    INVALID_JSON = "invalid_json"  # not valid JSON (NaN/Infinity included)
    INVALID_MESSAGE = "invalid_message"  # JSON, but not an object with a string "type"
    UNKNOWN_TYPE = "unknown_type"  # "type" names no v1 client message
    UNKNOWN_FIELD = "unknown_field"  # a field v1 does not define for this message type
    BINARY_NOT_ALLOWED = "binary_not_allowed"  # clients send text messages only
    # Request ids.
    INVALID_ID = "invalid_id"  # missing, not a string, empty, too long
    DUPLICATE_ID = "duplicate_id"  # the id is already queued or streaming on this connection
    UNKNOWN_ID = "unknown_id"  # cancel of an id that is neither queued nor streaming
    QUEUE_FULL = "queue_full"  # too many speak requests queued on this connection
    # Contexts (protocol v2).
    INVALID_CONTEXT = "invalid_context"  # context id missing, not a string, empty, too long
    UNKNOWN_CONTEXT = "unknown_context"  # no open context with that id
    DUPLICATE_CONTEXT = "duplicate_context"  # create with the id of a context that is still open
    CONTEXT_ENDED = "context_ended"  # text/flush/end/update after the context's end
    TOO_MANY_CONTEXTS = "too_many_contexts"  # create beyond max_contexts open on this connection
    UNSUPPORTED_SAMPLE_RATE = "unsupported_sample_rate"  # sample_rate_hz not offered for that format/voice
    # Fields of speak.
    INVALID_FIELD = "invalid_field"  # text/voice/format has the wrong JSON type or bad characters
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    UNKNOWN_VOICE = "unknown_voice"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNSUPPORTED_LANGUAGE = "unsupported_language"  # the voice does not speak the requested language
    INVALID_SETTING = "invalid_setting"  # frame_ms, speed, seed, ...: wrong type or out of range
    INVALID_INPUT = "invalid_input"  # the engine refused the input for another reason
    # Failures while synthesising.
    SYNTHESIS_FAILED = "synthesis_failed"
    ASSET_MISSING = "asset_missing"
    INTERNAL_ERROR = "internal_error"


class InvalidStateError(RuntimeError):
    """The adapter called a protocol method that makes no sense in the current state (a bug in the
    caller, never caused by what a peer sent)."""


def _dumps(obj: dict[str, object]) -> str:
    # ensure_ascii: ids and texts may hold lone surrogates (valid JSON escapes, invalid UTF-8);
    # escaping keeps every outgoing message encodable.
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str) -> tuple[object, str | None]:
    """Parse JSON strictly. Returns (value, None) or (None, reason)."""
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers with too many digits
        return None, str(exc)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: object) -> str:
    """A JSON value for an error message: its type, and the value itself if it is a scalar."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return f"string {_short(value)}"
    if isinstance(value, (int, float)):
        return f"number {_num(value)}"
    return _json_type(value)


def _num(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _has_lone_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _short(s: str, limit: int = 40) -> str:
    """A value quoted for an error message, cut to ``limit`` characters."""
    return json.dumps(s if len(s) <= limit else s[:limit] + "…", ensure_ascii=True)


# --------------------------------------------------------------------------------------------------
# Server side
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceDescription:
    """One entry of the ``voices`` message (mirrors ``parley_engine.VoiceInfo``)."""

    id: str
    language: str
    gender: str
    sample_rate_hz: int
    backend: str
    cloneable: bool = False
    description: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "language": self.language,
            "gender": self.gender,
            "sample_rate_hz": self.sample_rate_hz,
            "backend": self.backend,
            "cloneable": self.cloneable,
            "description": self.description,
        }


@dataclass(frozen=True)
class ServerInfo:
    """What a :class:`ServerProtocol` needs to know about the server to validate requests.

    server: the ``server`` field of ``hello``, e.g. "parley/0.1.0".
    voices: the voices this server can speak with; ``default_voice`` must be one of them.
    max_text_chars: longest accepted ``text``, in Unicode code points.
    speed_min, speed_max: accepted ``speed`` range (inclusive).
    max_queued_requests: most ``speak`` requests waiting behind the streaming one per connection.
    """

    server: str
    voices: tuple[VoiceDescription, ...]
    default_voice: str
    max_text_chars: int
    speed_min: float
    speed_max: float
    max_queued_requests: int = 32

    def __post_init__(self) -> None:
        ids = [v.id for v in self.voices]
        if self.default_voice not in ids:
            raise ValueError(f"default_voice {self.default_voice!r} is not among the voices {ids}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"voice ids must be unique, got {ids}")
        if self.max_text_chars < 1:
            raise ValueError(f"max_text_chars must be at least 1, got {self.max_text_chars}")
        if not (0 < self.speed_min <= 1.0 <= self.speed_max):
            raise ValueError(f"need 0 < speed_min <= 1 <= speed_max, got {self.speed_min}, {self.speed_max}")
        if self.max_queued_requests < 0:
            raise ValueError(f"max_queued_requests must be >= 0, got {self.max_queued_requests}")


@dataclass(frozen=True)
class SpeakRequest:
    """A validated ``speak`` message. ``received_at_s`` is the protocol clock at receipt."""

    id: str
    text: str
    voice: str
    format: Format
    frame_ms: int
    speed: float
    seed: int | None
    received_at_s: float


class ConnectionState(Enum):
    CONNECTING = "connecting"  # before connection_made(): hello not sent yet
    OPEN = "open"
    CLOSED = "closed"  # after connection_lost()


class RequestState(Enum):
    QUEUED = "queued"  # waiting behind the streaming request (FIFO)
    SYNTHESIZING = "synthesizing"  # the adapter was told to start it; ``start`` not sent yet
    STREAMING = "streaming"  # ``start`` sent; binary frames belong to it


# Events returned to the adapter ----------------------------------------------------------------


@dataclass(frozen=True)
class StartSynthesis:
    """Begin synthesising ``request`` now (it reached the head of the connection's FIFO)."""

    request: SpeakRequest


@dataclass(frozen=True)
class StopSynthesis:
    """Stop synthesising ``request_id`` (set its cancel token). The protocol has already queued
    its terminal message (``cancelled``) if the peer is still there; frames offered for it from
    now on are refused by :meth:`ServerProtocol.audio`."""

    request_id: str
    reason: Literal["cancel", "disconnect"]


@dataclass(frozen=True)
class ProtocolErrorEvent:
    """The peer sent something invalid; an ``error`` message is already in the outbox."""

    code: str
    message: str
    field: str | None
    request_id: str | None


Event: TypeAlias = StartSynthesis | StopSynthesis | ProtocolErrorEvent


@dataclass
class _Active:
    request: SpeakRequest
    state: RequestState
    started_at_s: float
    first_audio_at_s: float | None = None
    samples_sent: int = 0
    frames_sent: int = 0
    sample_rate_hz: int = 0


class _Reject(Exception):
    """Internal: validation failed (never leaves this module)."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


_SPEAK_FIELDS: Final = frozenset(
    {"type", "id", "text", "voice", "language", "format", "frame_ms", "speed", "seed"}
)
_CANCEL_FIELDS: Final = frozenset({"type", "id"})
_VOICES_FIELDS: Final = frozenset({"type"})


class ServerProtocol:
    """Server half of protocol v1 for one connection.

    v1 streams one request per connection at a time; further ``speak`` requests wait in a FIFO
    (at most ``info.max_queued_requests``). Every request ends with exactly one terminal message:
    ``done``, ``cancelled`` or ``error`` carrying its id.

    ``clock`` returns seconds on a monotonic scale; it stamps receipt and first-audio times.
    """

    def __init__(self, info: ServerInfo, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.info = info
        self._clock = clock
        self._voice_ids = frozenset(v.id for v in info.voices)
        self._state = ConnectionState.CONNECTING
        self._outbox: list[str | bytes] = []
        self._queue: deque[SpeakRequest] = deque()
        self._active: _Active | None = None

    # -- introspection -----------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def active_request(self) -> SpeakRequest | None:
        return self._active.request if self._active is not None else None

    @property
    def queued_requests(self) -> tuple[SpeakRequest, ...]:
        return tuple(self._queue)

    def request_state(self, request_id: str) -> RequestState | None:
        """State of a request that has not ended yet, or None."""
        if self._active is not None and self._active.request.id == request_id:
            return self._active.state
        if any(r.id == request_id for r in self._queue):
            return RequestState.QUEUED
        return None

    @property
    def outbox_size(self) -> int:
        """Messages queued for sending and not yet taken by :meth:`data_to_send`."""
        return len(self._outbox)

    def data_to_send(self) -> list[str | bytes]:
        """Messages to send, in order, since the last call: ``str`` as WebSocket text, ``bytes`` as
        binary."""
        out, self._outbox = self._outbox, []
        return out

    # -- connection lifecycle ----------------------------------------------------------------------

    def connection_made(self) -> None:
        """The WebSocket is open: queue ``hello``."""
        if self._state is not ConnectionState.CONNECTING:
            raise InvalidStateError(f"connection_made() in state {self._state.value}")
        self._state = ConnectionState.OPEN
        info = self.info
        self._send_json(
            {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "server": info.server,
                "max_text_chars": info.max_text_chars,
                "formats": list(FORMATS),
                "default_voice": info.default_voice,
                "frame_ms_default": FRAME_MS_DEFAULT,
                "frame_ms_min": FRAME_MS_MIN,
                "frame_ms_max": FRAME_MS_MAX,
                "speed_min": info.speed_min,
                "speed_max": info.speed_max,
                "max_queued_requests": info.max_queued_requests,
            }
        )

    def connection_lost(self) -> list[Event]:
        """The peer is gone: drop queued requests; stop the streaming one. Nothing more is sent."""
        if self._state is ConnectionState.CLOSED:
            return []
        self._state = ConnectionState.CLOSED
        self._queue.clear()
        self._outbox.clear()
        events: list[Event] = []
        if self._active is not None:
            events.append(StopSynthesis(self._active.request.id, "disconnect"))
            self._active = None
        return events

    # -- input from the peer -----------------------------------------------------------------------

    def receive_text(self, text: str) -> list[Event]:
        """Handle one text message from the client. Never raises for anything the client sent:
        invalid input yields a :class:`ProtocolErrorEvent` and an ``error`` message."""
        self._require_open("receive_text")
        value, reason = _loads(text)
        if reason is not None:
            return self._reject(None, ErrorCode.INVALID_JSON, f"message is not valid JSON: {reason}")
        if not isinstance(value, dict):
            return self._reject(
                None,
                ErrorCode.INVALID_MESSAGE,
                f"message must be a JSON object, got {_json_type(value)}",
            )
        msg: dict[str, object] = value
        request_id = self._peek_id(msg)
        mtype = msg.get("type")
        if mtype is None:
            return self._reject(request_id, ErrorCode.INVALID_MESSAGE, 'message has no "type" field', "type")
        if not isinstance(mtype, str):
            return self._reject(
                request_id,
                ErrorCode.INVALID_MESSAGE,
                f'"type" must be a string, got {_json_type(mtype)}',
                "type",
            )
        try:
            if mtype == "speak":
                self._check_fields(msg, _SPEAK_FIELDS, mtype)
                return self._on_speak(msg)
            if mtype == "cancel":
                self._check_fields(msg, _CANCEL_FIELDS, mtype)
                return self._on_cancel(msg)
            if mtype == "voices":
                self._check_fields(msg, _VOICES_FIELDS, mtype)
                self._send_json({"type": "voices", "voices": [v.to_json() for v in self.info.voices]})
                return []
        except _Reject as rej:
            return self._reject(request_id, rej.code, rej.message, rej.field)
        return self._reject(
            request_id,
            ErrorCode.UNKNOWN_TYPE,
            f'unknown message type {_short(mtype)}; v1 clients send "speak", "cancel" or "voices"',
            "type",
        )

    def receive_bytes(self, data: bytes) -> list[Event]:
        """Handle one binary message from the client: always an error in v1."""
        self._require_open("receive_bytes")
        return self._reject(
            None,
            ErrorCode.BINARY_NOT_ALLOWED,
            f"clients send JSON text messages only; got a binary message of {len(data)} bytes",
        )

    # -- progress reported by the adapter ----------------------------------------------------------

    def start(self, request_id: str, *, sample_rate_hz: int) -> bool:
        """Queue ``start`` for the request being synthesised. Returns False (sending nothing) if
        the request is no longer active: it was cancelled or the peer left."""
        act = self._lookup_active(request_id)
        if act is None:
            return False
        if act.state is not RequestState.SYNTHESIZING:
            raise InvalidStateError(f"start({request_id!r}) in request state {act.state.value}")
        if sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be positive, got {sample_rate_hz}")
        act.state = RequestState.STREAMING
        act.sample_rate_hz = sample_rate_hz
        req = act.request
        self._send_json(
            {
                "type": "start",
                "id": req.id,
                "sample_rate_hz": sample_rate_hz,
                "channels": 1,
                "format": req.format,
                "frame_ms": req.frame_ms,
                "frame_samples": frame_samples(sample_rate_hz, req.frame_ms),
            }
        )
        return True

    def audio(self, request_id: str, pcm: bytes) -> bool:
        """Queue one binary frame (already encoded in the request's format). Returns False
        (sending nothing) if the request is no longer active."""
        act = self._lookup_active(request_id)
        if act is None:
            return False
        if act.state is not RequestState.STREAMING:
            raise InvalidStateError(f"audio({request_id!r}) before start()")
        width = BYTES_PER_SAMPLE[act.request.format]
        if len(pcm) == 0 or len(pcm) % width:
            raise ValueError(f"a {act.request.format} frame must be a non-empty multiple of {width} bytes")
        if act.first_audio_at_s is None:
            act.first_audio_at_s = self._clock()
        act.samples_sent += len(pcm) // width
        act.frames_sent += 1
        self._outbox.append(bytes(pcm))
        return True

    def done(
        self,
        request_id: str,
        *,
        chunks: int,
        synthesis_ms: float,
        paused_ms: float = 0.0,
    ) -> list[Event]:
        """The request's audio is complete: queue ``done`` with its statistics and move on to the
        next queued request (returned as :class:`StartSynthesis`). Ignored if the request is no
        longer active."""
        act = self._lookup_active(request_id)
        if act is None:
            return []
        if act.state is not RequestState.STREAMING:
            raise InvalidStateError(f"done({request_id!r}) before start()")
        now = self._clock()
        req = act.request
        audio_ms = 1000.0 * act.samples_sent / act.sample_rate_hz
        first = act.first_audio_at_s
        self._send_json(
            {
                "type": "done",
                "id": req.id,
                "audio_ms": round(audio_ms, 3),
                "first_audio_ms": None if first is None else round(1000.0 * (first - req.received_at_s), 3),
                "chunks": chunks,
                "frames": act.frames_sent,
                "samples": act.samples_sent,
                "queued_ms": round(1000.0 * (act.started_at_s - req.received_at_s), 3),
                "synthesis_ms": round(synthesis_ms, 3),
                "paused_ms": round(paused_ms, 3),
                "total_ms": round(1000.0 * (now - req.received_at_s), 3),
                "rtf": round(synthesis_ms / audio_ms, 5) if audio_ms > 0 else None,
            }
        )
        self._active = None
        return self._next()

    def fail(self, request_id: str, code: str, message: str, field: str | None = None) -> list[Event]:
        """The request failed (engine refused the input, or broke): queue ``error`` with its id and
        move on to the next queued request. Ignored if the request is no longer active."""
        act = self._lookup_active(request_id)
        if act is None:
            return []
        self._send_error(request_id, code, message, field)
        self._active = None
        return self._next()

    # -- internals ---------------------------------------------------------------------------------

    def _require_open(self, what: str) -> None:
        if self._state is not ConnectionState.OPEN:
            raise InvalidStateError(f"{what}() in connection state {self._state.value}")

    def _lookup_active(self, request_id: str) -> _Active | None:
        if self._state is not ConnectionState.OPEN:
            return None
        act = self._active
        if act is None or act.request.id != request_id:
            return None
        return act

    def _send_json(self, obj: dict[str, object]) -> None:
        self._outbox.append(_dumps(obj))

    def _send_error(self, request_id: str | None, code: str, message: str, field: str | None) -> None:
        self._send_json({"type": "error", "id": request_id, "code": code, "message": message, "field": field})

    def _reject(
        self, request_id: str | None, code: ErrorCode, message: str, field: str | None = None
    ) -> list[Event]:
        self._send_error(request_id, code.value, message, field)
        return [ProtocolErrorEvent(code.value, message, field, request_id)]

    @staticmethod
    def _peek_id(msg: dict[str, object]) -> str | None:
        """The message's id if it is a valid one (used to address error replies)."""
        rid = msg.get("id")
        if isinstance(rid, str) and 0 < len(rid) <= MAX_ID_CHARS and not _has_lone_surrogate(rid):
            return rid
        return None

    @staticmethod
    def _check_fields(msg: dict[str, object], allowed: frozenset[str], mtype: str) -> None:
        unknown = sorted(k for k in msg if k not in allowed)
        if unknown:
            name = unknown[0]
            raise _Reject(
                ErrorCode.UNKNOWN_FIELD,
                f"{mtype} has no field {_short(name)}; its fields are {', '.join(sorted(allowed))}",
                name if len(name) <= MAX_ID_CHARS and not _has_lone_surrogate(name) else None,
            )

    @staticmethod
    def _validate_id(msg: dict[str, object], mtype: str) -> str:
        rid = msg.get("id")
        what = f"{mtype} needs an id: a non-empty string of at most {MAX_ID_CHARS} characters"
        if rid is None:
            raise _Reject(ErrorCode.INVALID_ID, f"{what}; it has none", "id")
        if not isinstance(rid, str):
            raise _Reject(ErrorCode.INVALID_ID, f"{what}; got a {_json_type(rid)}", "id")
        if not rid:
            raise _Reject(ErrorCode.INVALID_ID, f"{what}; got an empty string", "id")
        if len(rid) > MAX_ID_CHARS:
            raise _Reject(ErrorCode.INVALID_ID, f"{what}; got {len(rid)} characters", "id")
        if _has_lone_surrogate(rid):
            raise _Reject(ErrorCode.INVALID_ID, f"{what}; it contains an unpaired surrogate", "id")
        return rid

    def _on_speak(self, msg: dict[str, object]) -> list[Event]:
        rid = self._validate_id(msg, "speak")
        if self.request_state(rid) is not None:
            raise _Reject(
                ErrorCode.DUPLICATE_ID,
                f"id {_short(rid)} is already queued or streaming on this connection; "
                "the request using it carries on",
                "id",
            )
        text = self._validate_text(msg.get("text"))
        voice = self._validate_voice(msg.get("voice"))
        self._validate_language(msg.get("language"), voice)
        fmt = self._validate_format(msg.get("format"))
        frame_ms = self._validate_frame_ms(msg.get("frame_ms"))
        speed = self._validate_speed(msg.get("speed"))
        seed = self._validate_seed(msg.get("seed"))
        if self._active is not None and len(self._queue) >= self.info.max_queued_requests:
            raise _Reject(
                ErrorCode.QUEUE_FULL,
                f"{len(self._queue)} requests are already queued behind the streaming one "
                f"(the limit is {self.info.max_queued_requests}); wait for one to finish",
            )
        req = SpeakRequest(rid, text, voice, fmt, frame_ms, speed, seed, self._clock())
        self._queue.append(req)
        return self._next()

    def _validate_text(self, text: object) -> str:
        if text is None:
            raise _Reject(ErrorCode.EMPTY_TEXT, "speak needs a text: a non-empty string", "text")
        if not isinstance(text, str):
            raise _Reject(ErrorCode.INVALID_FIELD, f"text must be a string, got {_json_type(text)}", "text")
        if not text.strip():
            raise _Reject(ErrorCode.EMPTY_TEXT, "text is empty or only whitespace", "text")
        limit = self.info.max_text_chars
        if len(text) > limit:
            raise _Reject(
                ErrorCode.TEXT_TOO_LONG,
                f"text is {len(text)} characters long; the limit is {limit}: split it into several requests",
                "text",
            )
        if _has_lone_surrogate(text):
            raise _Reject(ErrorCode.INVALID_FIELD, "text contains an unpaired UTF-16 surrogate", "text")
        return text

    def _validate_language(self, language: object, voice: str) -> None:
        """``language`` is optional; when given, the voice must speak it ("en" matches "en-US")."""
        if language is None:
            return
        if not isinstance(language, str) or not 0 < len(language) <= 35:
            raise _Reject(
                ErrorCode.INVALID_FIELD,
                f"language must be a BCP 47 tag such as \"en-US\", got {_json_type(language)}",
                "language",
            )
        spoken = next((v.language for v in self.info.voices if v.id == voice), "")
        want, have = language.lower().replace("_", "-"), spoken.lower()
        if not (have == want or have.startswith(want + "-")):
            raise _Reject(
                ErrorCode.UNSUPPORTED_LANGUAGE,
                f"voice {_short(voice)} speaks {spoken or 'an unknown language'}, not {_short(language)}; "
                "pick a voice of that language (see the voices message)",
                "language",
            )

    def _validate_voice(self, voice: object) -> str:
        if voice is None:
            return self.info.default_voice
        if not isinstance(voice, str):
            raise _Reject(
                ErrorCode.INVALID_FIELD, f"voice must be a string or null, got {_json_type(voice)}", "voice"
            )
        if voice not in self._voice_ids:
            raise _Reject(
                ErrorCode.UNKNOWN_VOICE,
                f"voice {_short(voice)} is not available; "
                f"available voices: {', '.join(sorted(self._voice_ids))}",
                "voice",
            )
        return voice

    @staticmethod
    def _validate_format(fmt: object) -> Format:
        if fmt is None:
            return DEFAULT_FORMAT
        if not isinstance(fmt, str):
            raise _Reject(
                ErrorCode.INVALID_FIELD, f"format must be a string or null, got {_json_type(fmt)}", "format"
            )
        for known in FORMATS:
            if fmt == known:
                return known
        raise _Reject(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"format {_short(fmt)} is not supported; use one of {', '.join(FORMATS)}",
            "format",
        )

    @staticmethod
    def _validate_frame_ms(value: object) -> int:
        if value is None:
            return FRAME_MS_DEFAULT
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Reject(
                ErrorCode.INVALID_SETTING,
                f"frame_ms must be an integer number of milliseconds, got {_show(value)}",
                "frame_ms",
            )
        if not FRAME_MS_MIN <= value <= FRAME_MS_MAX:
            raise _Reject(
                ErrorCode.INVALID_SETTING,
                f"frame_ms must be between {FRAME_MS_MIN} and {FRAME_MS_MAX}, got {_num(value)}",
                "frame_ms",
            )
        return value

    def _validate_speed(self, value: object) -> float:
        if value is None:
            return 1.0
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _Reject(
                ErrorCode.INVALID_SETTING, f"speed must be a number, got {_json_type(value)}", "speed"
            )
        lo, hi = self.info.speed_min, self.info.speed_max
        try:
            speed = float(value)
        except OverflowError:  # an integer literal beyond the float range
            speed = math.inf
        if not (math.isfinite(speed) and lo <= speed <= hi):
            raise _Reject(
                ErrorCode.INVALID_SETTING,
                f"speed must be between {lo} and {hi}, got {_num(value)}",
                "speed",
            )
        return speed

    @staticmethod
    def _validate_seed(value: object) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Reject(
                ErrorCode.INVALID_SETTING, f"seed must be an integer or null, got {_json_type(value)}", "seed"
            )
        if not 0 <= value <= SEED_MAX:
            raise _Reject(
                ErrorCode.INVALID_SETTING,
                f"seed must be between 0 and {SEED_MAX} (2**53 - 1), got {_num(value)}",
                "seed",
            )
        return value

    def _on_cancel(self, msg: dict[str, object]) -> list[Event]:
        rid = self._validate_id(msg, "cancel")
        act = self._active
        if act is not None and act.request.id == rid:
            audio_ms = 1000.0 * act.samples_sent / act.sample_rate_hz if act.sample_rate_hz else 0.0
            self._send_json({"type": "cancelled", "id": rid, "audio_ms_sent": round(audio_ms, 3)})
            self._active = None
            events: list[Event] = [StopSynthesis(rid, "cancel")]
            events.extend(self._next())
            return events
        for req in self._queue:
            if req.id == rid:
                self._queue.remove(req)
                self._send_json({"type": "cancelled", "id": rid, "audio_ms_sent": 0.0})
                return []
        raise _Reject(
            ErrorCode.UNKNOWN_ID,
            f"no request with id {_short(rid)} is queued or streaming on this connection "
            "(it may have just finished)",
            "id",
        )

    def _next(self) -> list[Event]:
        """If nothing is active, make the head of the FIFO active."""
        if self._active is not None or not self._queue:
            return []
        req = self._queue.popleft()
        self._active = _Active(req, RequestState.SYNTHESIZING, started_at_s=self._clock())
        return [StartSynthesis(req)]


def frame_samples(sample_rate_hz: int, frame_ms: int) -> int:
    """Samples in one full frame: floor(sample_rate_hz * frame_ms / 1000) (exact for 8/16/24/48 kHz)."""
    n = sample_rate_hz * frame_ms // 1000
    if n < 1:
        raise ValueError(f"a {frame_ms} ms frame at {sample_rate_hz} Hz holds no sample")
    return n


# --------------------------------------------------------------------------------------------------
# Client side
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    protocol: int
    server: str
    max_text_chars: int
    formats: tuple[str, ...]
    default_voice: str | None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Started:
    id: str
    sample_rate_hz: int
    channels: int
    format: str
    frame_ms: int


@dataclass(frozen=True)
class AudioReceived:
    """One binary frame of request ``id``: int16 (pcm_s16le) or float32 (pcm_f32le) samples."""

    id: str
    samples: npt.NDArray[np.int16] | npt.NDArray[np.float32]


@dataclass(frozen=True)
class Done:
    """End of request ``id``. ``stats`` holds every field of the message (rtf, synthesis_ms...)."""

    id: str
    audio_ms: float
    first_audio_ms: float | None
    chunks: int
    stats: dict[str, object]


@dataclass(frozen=True)
class Cancelled:
    id: str
    audio_ms_sent: float


@dataclass(frozen=True)
class VoicesListed:
    voices: tuple[VoiceDescription, ...]


@dataclass(frozen=True)
class ServerError:
    """An ``error`` message. ``ends_request`` is True when it terminates the request ``id``."""

    id: str | None
    code: str
    message: str
    field: str | None
    ends_request: bool


@dataclass(frozen=True)
class UnknownMessage:
    """A well-formed message of a type this client does not know (ignored for compatibility)."""

    type: str
    message: dict[str, object]


@dataclass(frozen=True)
class ProtocolViolation:
    """The server sent something that breaks the protocol (a server bug)."""

    message: str


ClientEvent: TypeAlias = (
    Hello
    | Started
    | AudioReceived
    | Done
    | Cancelled
    | VoicesListed
    | ServerError
    | UnknownMessage
    | ProtocolViolation
)


class ClientState(Enum):
    AWAITING_HELLO = "awaiting_hello"
    OPEN = "open"
    CLOSED = "closed"


class _Bad(Exception):
    pass


def _get(
    msg: dict[str, object], key: str, kind: type | tuple[type, ...], *, optional: bool = False
) -> object:
    value = msg.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _Bad(f"{msg.get('type')} message: field {key!r} has the wrong type ({_json_type(value)})")
    return value


def _get_str(msg: dict[str, object], key: str) -> str:
    value = _get(msg, key, str)
    assert isinstance(value, str)
    return value


def _get_int(msg: dict[str, object], key: str) -> int:
    value = _get(msg, key, int)
    assert isinstance(value, int)
    return value


def _get_num(msg: dict[str, object], key: str) -> float:
    value = _get(msg, key, (int, float))
    assert isinstance(value, (int, float))
    return float(value)


def _get_opt_num(msg: dict[str, object], key: str) -> float | None:
    value = _get(msg, key, (int, float), optional=True)
    return float(value) if isinstance(value, (int, float)) else None


def _get_opt_str(msg: dict[str, object], key: str) -> str | None:
    value = _get(msg, key, str, optional=True)
    return value if isinstance(value, str) else None


class ClientProtocol:
    """Client half of protocol v1: builds requests, parses server messages into typed events and
    attributes binary frames to the request between its ``start`` and its terminal message.

    Never raises for anything the server sent: broken input yields :class:`ProtocolViolation`.
    """

    def __init__(self) -> None:
        self._state = ClientState.AWAITING_HELLO
        self._outstanding: dict[str, str | None] = {}  # id -> format once started
        self._streaming: Started | None = None
        self._counter = 0
        self.hello: Hello | None = None

    @property
    def state(self) -> ClientState:
        return self._state

    @property
    def streaming(self) -> Started | None:
        return self._streaming

    @property
    def outstanding(self) -> tuple[str, ...]:
        """Ids of requests sent and not yet ended (queued or streaming)."""
        return tuple(self._outstanding)

    # -- requests ----------------------------------------------------------------------------------

    def new_id(self) -> str:
        self._counter += 1
        return f"r{self._counter}"

    def speak(
        self,
        text: str,
        *,
        id: str | None = None,
        voice: str | None = None,
        format: str | None = None,
        frame_ms: int | None = None,
        speed: float | None = None,
        seed: int | None = None,
        language: str | None = None,
    ) -> tuple[str, str]:
        """Returns (request id, message to send). Raises ValueError if ``id`` is already in use on
        this connection. Everything else is validated by the server."""
        if self._state is ClientState.CLOSED:
            raise InvalidStateError("the connection is closed")
        rid = self.new_id() if id is None else id
        while id is None and rid in self._outstanding:
            rid = self.new_id()
        if not 0 < len(rid) <= MAX_ID_CHARS:
            raise ValueError(f"request id must be 1 to {MAX_ID_CHARS} characters, got {len(rid)}")
        if rid in self._outstanding:
            raise ValueError(f"request id {rid!r} is already queued or streaming on this connection")
        msg: dict[str, object] = {"type": "speak", "id": rid, "text": text}
        options: dict[str, object] = {
            "voice": voice,
            "format": format,
            "frame_ms": frame_ms,
            "speed": speed,
            "seed": seed,
            "language": language,
        }
        msg.update({k: v for k, v in options.items() if v is not None})
        self._outstanding[rid] = None
        return rid, json.dumps(msg, ensure_ascii=False, allow_nan=False)

    def cancel(self, request_id: str) -> str:
        return json.dumps({"type": "cancel", "id": request_id}, ensure_ascii=False)

    def voices(self) -> str:
        return '{"type":"voices"}'

    def connection_lost(self) -> None:
        self._state = ClientState.CLOSED
        self._streaming = None

    # -- input from the server ---------------------------------------------------------------------

    def receive_bytes(self, data: bytes) -> list[ClientEvent]:
        cur = self._streaming
        if cur is None:
            return [ProtocolViolation(f"binary message of {len(data)} bytes outside any request")]
        width = BYTES_PER_SAMPLE.get(cur.format)
        if width is None or not data or len(data) % width:
            return [
                ProtocolViolation(f"binary message of {len(data)} bytes is not whole samples of {cur.format}")
            ]
        if cur.format == "pcm_s16le":
            return [AudioReceived(cur.id, np.frombuffer(data, dtype="<i2"))]
        return [AudioReceived(cur.id, np.frombuffer(data, dtype="<f4"))]

    def receive_text(self, text: str) -> list[ClientEvent]:
        value, reason = _loads(text)
        if reason is not None:
            return [ProtocolViolation(f"server message is not valid JSON: {reason}")]
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            return [ProtocolViolation("server message is not an object with a string type")]
        msg: dict[str, object] = value
        try:
            return self._dispatch(msg)
        except _Bad as exc:
            return [ProtocolViolation(str(exc))]

    def _dispatch(self, msg: dict[str, object]) -> list[ClientEvent]:
        mtype = msg["type"]
        if self._state is ClientState.AWAITING_HELLO and mtype != "hello":
            raise _Bad(f"expected hello first, got {mtype!r}")
        if mtype == "hello":
            if self._state is not ClientState.AWAITING_HELLO:
                raise _Bad("second hello")
            formats = _get(msg, "formats", list)
            assert isinstance(formats, list)
            known = {"type", "protocol", "server", "max_text_chars", "formats", "default_voice"}
            hello = Hello(
                protocol=_get_int(msg, "protocol"),
                server=_get_str(msg, "server"),
                max_text_chars=_get_int(msg, "max_text_chars"),
                formats=tuple(str(f) for f in formats),
                default_voice=_get_opt_str(msg, "default_voice"),
                extra={k: v for k, v in msg.items() if k not in known},
            )
            if hello.protocol != PROTOCOL_VERSION:
                raise _Bad(f"server speaks protocol {hello.protocol}; this client speaks {PROTOCOL_VERSION}")
            self._state = ClientState.OPEN
            self.hello = hello
            return [hello]
        if mtype == "start":
            started = Started(
                id=_get_str(msg, "id"),
                sample_rate_hz=_get_int(msg, "sample_rate_hz"),
                channels=_get_int(msg, "channels"),
                format=_get_str(msg, "format"),
                frame_ms=_get_int(msg, "frame_ms"),
            )
            if self._streaming is not None:
                raise _Bad(f"start of {started.id!r} while {self._streaming.id!r} is streaming")
            if started.id not in self._outstanding:
                raise _Bad(f"start of unknown request {started.id!r}")
            if started.format not in BYTES_PER_SAMPLE or started.channels != 1 or started.sample_rate_hz <= 0:
                raise _Bad(f"start of {started.id!r} has an unusable format/channels/sample rate")
            self._streaming = started
            self._outstanding[started.id] = started.format
            return [started]
        if mtype == "done":
            rid = _get_str(msg, "id")
            done = Done(
                id=rid,
                audio_ms=_get_num(msg, "audio_ms"),
                first_audio_ms=_get_opt_num(msg, "first_audio_ms"),
                chunks=_get_int(msg, "chunks"),
                stats={k: v for k, v in msg.items() if k not in ("type", "id")},
            )
            if self._streaming is None or self._streaming.id != rid:
                raise _Bad(f"done for {rid!r}, which is not streaming")
            self._end(rid)
            return [done]
        if mtype == "cancelled":
            rid = _get_str(msg, "id")
            cancelled = Cancelled(rid, _get_num(msg, "audio_ms_sent"))
            if rid not in self._outstanding:
                raise _Bad(f"cancelled for unknown request {rid!r}")
            self._end(rid)
            return [cancelled]
        if mtype == "voices":
            raw = _get(msg, "voices", list)
            assert isinstance(raw, list)
            voices: list[VoiceDescription] = []
            for item in raw:
                if not isinstance(item, dict):
                    raise _Bad("voices: each voice must be an object")
                voices.append(
                    VoiceDescription(
                        id=_get_str(item, "id"),
                        language=str(item.get("language", "")),
                        gender=str(item.get("gender", "unknown")),
                        sample_rate_hz=_get_int(item, "sample_rate_hz"),
                        backend=str(item.get("backend", "")),
                        cloneable=bool(item.get("cloneable", False)),
                        description=str(item.get("description", "")),
                    )
                )
            return [VoicesListed(tuple(voices))]
        if mtype == "error":
            id_value = msg.get("id")
            err_id = id_value if isinstance(id_value, str) else None
            code = _get_str(msg, "code")
            ends = (
                err_id is not None
                and err_id in self._outstanding
                and code not in (ErrorCode.DUPLICATE_ID.value, ErrorCode.UNKNOWN_ID.value)
            )
            if err_id is not None and ends:
                self._end(err_id)
            return [ServerError(err_id, code, str(msg.get("message", "")), _get_opt_str(msg, "field"), ends)]
        assert isinstance(mtype, str)
        return [UnknownMessage(mtype, msg)]

    def _end(self, rid: str) -> None:
        self._outstanding.pop(rid, None)
        if self._streaming is not None and self._streaming.id == rid:
            self._streaming = None
