"""Parley wire protocol, version 2 — sans I/O: many independent contexts on one connection.

Like :mod:`parley_server.protocol` (v1), this module is the whole protocol and nothing else: JSON
text messages and binary frames in, typed events and messages to send out. It imports no asyncio,
socket or threading code and reads only the clock it is given. ``docs/protocol.md`` is the
specification.

A *context* is one stream of speech with its own voice and settings, created, fed with text,
flushed, ended, updated and cancelled by its id (a string the client picks). The server assigns it
a numeric ``stream`` index in ``created``; every binary audio frame starts with a fixed 20-byte
little-endian header (:data:`HEADER`) naming that index, a sequence number and the sample offset,
so a client demultiplexes without parsing JSON per frame.

Server side: one :class:`ServerProtocolV2` per WebSocket connection.

    proto = ServerProtocolV2(info)
    proto.connection_made()                       # queues hello
    events = proto.receive_text(message)          # -> OpenContext / SpeakPieces / EndContext /
                                                  #    UpdateContext / StopContext / ProtocolErrorEvent
    events = proto.poll()                         # at proto.next_due_s(): latency budgets run out
    proto.timestamps(ctx, words)                  # the adapter reports progress...
    proto.audio(ctx, pcm, piece_end=...)
    proto.piece_spoken(ctx, end_char)
    proto.done(ctx, ...)                          # ...or proto.fail(ctx, code, message, field)
    for message in proto.data_to_send(): ...      # str -> text frame, bytes -> binary frame

The text of each context goes through a :class:`~parley_server.textbuffer.TextBuffer` owned by the
protocol; the adapter only speaks the pieces it is handed, in order, one context at a time.

Client side: :class:`ClientProtocolV2` builds messages and turns server messages and frames into
typed events, checking the header's sequence numbers and sample offsets as it goes.
"""

from __future__ import annotations

import math
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from .protocol import (
    FRAME_MS_DEFAULT,
    FRAME_MS_MAX,
    FRAME_MS_MIN,
    MAX_ID_CHARS,
    SEED_MAX,
    ConnectionState,
    ErrorCode,
    InvalidStateError,
    ProtocolErrorEvent,
    ProtocolViolation,
    ServerInfo,
    UnknownMessage,
    VoiceDescription,
    VoicesListed,
    _Bad,
    _dumps,
    _get_int,
    _get_num,
    _get_opt_num,
    _get_str,
    _has_lone_surrogate,
    _json_type,
    _loads,
    _num,
    _Reject,
    _short,
    _show,
    frame_samples,
)

if TYPE_CHECKING:  # the server half imports it when it needs it: the client half stays light
    from .textbuffer import Piece, TextBuffer

__all__ = [
    "FLAG_PIECE_END",
    "FORMAT_CODES",
    "FORMATS_V2",
    "HEADER",
    "HEADER_MAGIC",
    "LATENCY_BUDGET_DEFAULT_MS",
    "LATENCY_BUDGET_MAX_MS",
    "PITCH_MAX",
    "PITCH_MIN",
    "PROTOCOL_V2",
    "SAMPLE_RATES_HZ",
    "SPEED_MAX",
    "SPEED_MIN",
    "SUBPROTOCOL_V1",
    "SUBPROTOCOL_V2",
    "TIMESTAMP_MODES",
    "VOLUME_MAX_DB",
    "VOLUME_MIN_DB",
    "WIDTH",
    "ClientProtocolV2",
    "ContextAudio",
    "ContextCancelled",
    "ContextConfig",
    "ContextCreated",
    "ContextDone",
    "ContextError",
    "ContextState",
    "ClientEventV2",
    "EndContext",
    "EventV2",
    "FormatV2",
    "FrameHeader",
    "HelloV2",
    "OpenContext",
    "PhonemeStamp",
    "ServerInfoV2",
    "ServerProtocolV2",
    "SpeakPieces",
    "StopContext",
    "TimestampMode",
    "Timestamps",
    "UpdateContext",
    "VoiceSettings",
    "WordStamp",
    "pack_header",
    "parse_header",
]

PROTOCOL_V2: Final = 2
SUBPROTOCOL_V1: Final = "parley.v1"
SUBPROTOCOL_V2: Final = "parley.v2"

FormatV2: TypeAlias = Literal["pcm_s16le", "pcm_f32le", "mulaw", "alaw"]
FORMATS_V2: Final[tuple[FormatV2, ...]] = ("pcm_s16le", "pcm_f32le", "mulaw", "alaw")
WIDTH: Final[dict[str, int]] = {"pcm_s16le": 2, "pcm_f32le": 4, "mulaw": 1, "alaw": 1}
FORMAT_CODES: Final[dict[str, int]] = {"pcm_s16le": 1, "pcm_f32le": 2, "mulaw": 3, "alaw": 4}
_FORMAT_BY_CODE: Final = {v: k for k, v in FORMAT_CODES.items()}
G711_FORMATS: Final = frozenset({"mulaw", "alaw"})
G711_RATE_HZ: Final = 8000
SAMPLE_RATES_HZ: Final = (8000, 16000, 22050, 24000, 44100, 48000)

# The engine's own ranges (parley_engine.SpeakSettings validates the same ones; a test pins them).
SPEED_MIN: Final = 0.5
SPEED_MAX: Final = 4.0
PITCH_MIN: Final = -12.0
PITCH_MAX: Final = 12.0
VOLUME_MIN_DB: Final = -40.0
VOLUME_MAX_DB: Final = 12.0
LATENCY_BUDGET_DEFAULT_MS: Final = 500
LATENCY_BUDGET_MAX_MS: Final = 10_000

TimestampMode: TypeAlias = Literal["none", "word", "phoneme"]
TIMESTAMP_MODES: Final[tuple[TimestampMode, ...]] = ("none", "word", "phoneme")

#: Binary frame header: magic 'P' (0x50), version 2, flags, format code, stream index (uint32),
#: sequence number of the frame within its context (uint32, from 0), sample offset of the frame's
#: first sample within its context (uint64, from 0). Little-endian, 20 bytes, then the payload.
HEADER: Final = struct.Struct("<BBBBIIQ")
HEADER_MAGIC: Final = 0x50
#: Flag: the last frame of a text piece (the context is silent after it until more text is spoken).
FLAG_PIECE_END: Final = 0x01

_RECENTLY_ENDED: Final = 256  # ended context ids remembered, to tell "ended" from "unknown"


@dataclass(frozen=True)
class FrameHeader:
    stream: int
    seq: int
    sample_offset: int
    flags: int
    format: str

    @property
    def piece_end(self) -> bool:
        return bool(self.flags & FLAG_PIECE_END)


def pack_header(stream: int, seq: int, sample_offset: int, flags: int, format: str) -> bytes:
    return HEADER.pack(HEADER_MAGIC, PROTOCOL_V2, flags, FORMAT_CODES[format], stream, seq, sample_offset)


def parse_header(data: bytes) -> FrameHeader:
    """The header of a binary frame; raises ValueError if it is not a v2 header."""
    if len(data) < HEADER.size:
        raise ValueError(f"a binary frame of {len(data)} bytes is shorter than the {HEADER.size}-byte header")
    magic, version, flags, code, stream, seq, offset = HEADER.unpack_from(data)
    if magic != HEADER_MAGIC or version != PROTOCOL_V2:
        raise ValueError(f"bad frame header: magic 0x{magic:02x}, version {version}")
    fmt = _FORMAT_BY_CODE.get(code)
    if fmt is None:
        raise ValueError(f"bad frame header: unknown format code {code}")
    return FrameHeader(stream, seq, offset, flags, fmt)


# --------------------------------------------------------------------------------------------------
# Shared value types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhonemeStamp:
    phoneme: str
    start_sample: int
    end_sample: int


@dataclass(frozen=True)
class WordStamp:
    """A word's place in a context: characters of the context's whole text (``char_start`` -1 when
    unknown) and samples of the context's output stream (at its output sample rate)."""

    word: str
    char_start: int
    char_end: int
    start_sample: int
    end_sample: int
    phonemes: tuple[PhonemeStamp, ...] = ()

    def to_json(self, with_phonemes: bool) -> dict[str, object]:
        out: dict[str, object] = {
            "word": self.word,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "start_sample": self.start_sample,
            "end_sample": self.end_sample,
        }
        if with_phonemes:
            out["phonemes"] = [
                {"phoneme": p.phoneme, "start_sample": p.start_sample, "end_sample": p.end_sample}
                for p in self.phonemes
            ]
        return out


@dataclass(frozen=True)
class VoiceSettings:
    """The settings ``update`` may change between pieces."""

    speed: float = 1.0
    pitch_semitones: float = 0.0
    volume_db: float = 0.0


# --------------------------------------------------------------------------------------------------
# Server side
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextConfig:
    """A validated ``create``. ``sample_rate_hz`` is the output rate; ``voice_rate_hz`` the voice's."""

    id: str
    stream: int
    voice: str
    format: FormatV2
    sample_rate_hz: int
    voice_rate_hz: int
    frame_ms: int
    seed: int | None
    latency_budget_ms: float | None
    timestamps: TimestampMode
    settings: VoiceSettings
    created_at_s: float

    @property
    def frame_samples(self) -> int:
        return frame_samples(self.sample_rate_hz, self.frame_ms)


@dataclass(frozen=True)
class ServerInfoV2:
    """What a :class:`ServerProtocolV2` needs to know about the server.

    base: voices, default voice, max_text_chars (per text message), server name (shared with v1).
    max_contexts: contexts open at once on one connection.
    max_pending_chars: text a context may hold that is not spoken yet (received minus spoken).

    Every format of FORMATS_V2 and rate of SAMPLE_RATES_HZ is offered (G.711 at 8000 Hz only).
    """

    base: ServerInfo
    max_contexts: int = 64
    max_pending_chars: int = 20_000

    def __post_init__(self) -> None:
        if self.max_contexts < 1:
            raise ValueError(f"max_contexts must be at least 1, got {self.max_contexts}")
        if self.max_pending_chars < self.base.max_text_chars:
            raise ValueError("max_pending_chars must be at least max_text_chars")


class ContextState(Enum):
    OPEN = "open"  # accepting text
    ENDING = "ending"  # ``end`` received: speaking what is left, then ``done``


# Events returned to the adapter --------------------------------------------------------------------


@dataclass(frozen=True)
class OpenContext:
    """A context was created (``created`` is queued): get ready to speak its pieces."""

    config: ContextConfig


@dataclass(frozen=True)
class SpeakPieces:
    """Speak these pieces of the context, after those already handed out, in order."""

    context: str
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class EndContext:
    """No more pieces will come: once the pieces handed out are spoken, call :meth:`done`."""

    context: str


@dataclass(frozen=True)
class UpdateContext:
    """Pieces that have not started yet use these settings."""

    context: str
    settings: VoiceSettings


@dataclass(frozen=True)
class StopContext:
    """Stop the context's synthesis (set its cancel token). Its terminal message is queued if the
    peer is still there; frames offered for it from now on are refused by :meth:`audio`."""

    context: str
    reason: Literal["cancel", "disconnect"]


EventV2: TypeAlias = OpenContext | SpeakPieces | EndContext | UpdateContext | StopContext | ProtocolErrorEvent


@dataclass
class _Context:
    config: ContextConfig
    text: TextBuffer
    state: ContextState = ContextState.OPEN
    spoken_to: int = 0  # end_char of the last piece the adapter reported spoken
    seq: int = 0
    samples_sent: int = 0
    first_audio_at_s: float | None = None
    pieces: int = 0


_CREATE_FIELDS: Final = frozenset(
    {
        "type",
        "context",
        "voice",
        "language",
        "format",
        "sample_rate_hz",
        "frame_ms",
        "speed",
        "pitch_semitones",
        "volume_db",
        "seed",
        "latency_budget_ms",
        "timestamps",
        "text",
        "flush",
        "end",
    }
)
_TEXT_FIELDS: Final = frozenset({"type", "context", "text", "flush", "end"})
_CONTEXT_ONLY_FIELDS: Final = frozenset({"type", "context"})
_UPDATE_FIELDS: Final = frozenset({"type", "context", "speed", "pitch_semitones", "volume_db"})
_VOICES_FIELDS: Final = frozenset({"type"})
_TYPES: Final = ("create", "text", "flush", "end", "update", "cancel", "voices")


class ServerProtocolV2:
    """Server half of protocol v2 for one connection.

    Every created context ends with exactly one terminal message: ``done``, ``cancelled`` or an
    ``error`` with ``"closed": true``. ``clock`` returns seconds on a monotonic scale.
    """

    def __init__(self, info: ServerInfoV2, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.info = info
        self._clock = clock
        self._voices = {v.id: v for v in info.base.voices}
        self._state = ConnectionState.CONNECTING
        self._outbox: list[str | bytes] = []
        self._contexts: dict[str, _Context] = {}
        self._by_stream: dict[int, str] = {}
        self._next_stream = 1
        self._ended: deque[str] = deque(maxlen=_RECENTLY_ENDED)

    # -- introspection -----------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def open_contexts(self) -> tuple[str, ...]:
        return tuple(self._contexts)

    def context_state(self, context: str) -> ContextState | None:
        ctx = self._contexts.get(context)
        return None if ctx is None else ctx.state

    @property
    def outbox_size(self) -> int:
        return len(self._outbox)

    def data_to_send(self) -> list[str | bytes]:
        """Messages to send, in order: ``str`` as WebSocket text, ``bytes`` as binary."""
        out, self._outbox = self._outbox, []
        return out

    def next_due_s(self) -> float | None:
        """When :meth:`poll` should next be called (a latency budget runs out), or None."""
        due = [d for c in self._contexts.values() if (d := c.text.due_ms()) is not None]
        return min(due) / 1000.0 if due else None

    # -- lifecycle ---------------------------------------------------------------------------------

    def connection_made(self) -> None:
        if self._state is not ConnectionState.CONNECTING:
            raise InvalidStateError(f"connection_made() in state {self._state.value}")
        self._state = ConnectionState.OPEN
        info, base = self.info, self.info.base
        self._send(
            {
                "type": "hello",
                "protocol": PROTOCOL_V2,
                "server": base.server,
                "max_text_chars": base.max_text_chars,
                "max_pending_chars": info.max_pending_chars,
                "max_contexts": info.max_contexts,
                "formats": list(FORMATS_V2),
                "sample_rates_hz": list(SAMPLE_RATES_HZ),
                "default_voice": base.default_voice,
                "frame_ms_default": FRAME_MS_DEFAULT,
                "frame_ms_min": FRAME_MS_MIN,
                "frame_ms_max": FRAME_MS_MAX,
                "speed_min": SPEED_MIN,
                "speed_max": SPEED_MAX,
                "pitch_semitones_min": PITCH_MIN,
                "pitch_semitones_max": PITCH_MAX,
                "volume_db_min": VOLUME_MIN_DB,
                "volume_db_max": VOLUME_MAX_DB,
                "latency_budget_ms_default": LATENCY_BUDGET_DEFAULT_MS,
                "timestamps": list(TIMESTAMP_MODES),
                "header": {"bytes": HEADER.size, "struct": HEADER.format, "magic": HEADER_MAGIC},
            }
        )

    def connection_lost(self) -> list[EventV2]:
        """The peer is gone: stop every context. Nothing more is sent."""
        if self._state is ConnectionState.CLOSED:
            return []
        self._state = ConnectionState.CLOSED
        self._outbox.clear()
        events: list[EventV2] = [StopContext(cid, "disconnect") for cid in self._contexts]
        self._contexts.clear()
        self._by_stream.clear()
        return events

    # -- input from the peer -----------------------------------------------------------------------

    def receive_text(self, text: str) -> list[EventV2]:
        """Handle one text message. Never raises for anything the peer sent."""
        self._require_open("receive_text")
        value, reason = _loads(text)
        if reason is not None:
            return self._reject(None, ErrorCode.INVALID_JSON, f"message is not valid JSON: {reason}")
        if not isinstance(value, dict):
            return self._reject(
                None, ErrorCode.INVALID_MESSAGE, f"message must be a JSON object, got {_json_type(value)}"
            )
        msg: dict[str, object] = value
        cid = self._peek_context(msg)
        mtype = msg.get("type")
        if not isinstance(mtype, str):
            what = (
                'message has no "type" field'
                if mtype is None
                else f'"type" must be a string, got {_json_type(mtype)}'
            )
            return self._reject(cid, ErrorCode.INVALID_MESSAGE, what, "type")
        try:
            if mtype == "create":
                self._check_fields(msg, _CREATE_FIELDS, mtype)
                return self._on_create(msg)
            if mtype == "text":
                self._check_fields(msg, _TEXT_FIELDS, mtype)
                return self._on_text(msg)
            if mtype in ("flush", "end", "cancel"):
                self._check_fields(msg, _CONTEXT_ONLY_FIELDS, mtype)
                if mtype == "cancel":
                    return self._on_cancel(msg)
                return self._on_text({"context": msg.get("context"), mtype: True}, mtype)
            if mtype == "update":
                self._check_fields(msg, _UPDATE_FIELDS, mtype)
                return self._on_update(msg)
            if mtype == "voices":
                self._check_fields(msg, _VOICES_FIELDS, mtype)
                self._send({"type": "voices", "voices": [v.to_json() for v in self.info.base.voices]})
                return []
        except _Reject as rej:
            return self._reject(cid, rej.code, rej.message, rej.field)
        return self._reject(
            cid,
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {_short(mtype)}; v2 clients send {', '.join(_TYPES)}",
            "type",
        )

    def receive_bytes(self, data: bytes) -> list[EventV2]:
        self._require_open("receive_bytes")
        return self._reject(
            None,
            ErrorCode.BINARY_NOT_ALLOWED,
            f"clients send JSON text messages only; got a binary message of {len(data)} bytes",
        )

    def poll(self) -> list[EventV2]:
        """Release text whose latency budget ran out (call at :meth:`next_due_s`)."""
        if self._state is not ConnectionState.OPEN:
            return []
        now_ms = 1000.0 * self._clock()
        events: list[EventV2] = []
        for cid, ctx in self._contexts.items():
            due = ctx.text.due_ms()
            if due is not None and due <= now_ms:
                pieces = ctx.text.poll(now_ms)
                if pieces:
                    events.append(self._speak(cid, ctx, pieces))
        return events

    # -- progress reported by the adapter ----------------------------------------------------------

    def audio(self, context: str, pcm: bytes, *, piece_end: bool = False) -> bool:
        """Queue one binary frame of ``context`` (payload already encoded in its format). Returns
        False, sending nothing, if the context is no longer open (cancelled, failed, peer gone)."""
        ctx = self._live(context)
        if ctx is None:
            return False
        cfg = ctx.config
        width = WIDTH[cfg.format]
        if not pcm or len(pcm) % width:
            raise ValueError(f"a {cfg.format} frame must be a non-empty multiple of {width} bytes")
        if ctx.first_audio_at_s is None:
            ctx.first_audio_at_s = self._clock()
        head = pack_header(
            cfg.stream, ctx.seq, ctx.samples_sent, FLAG_PIECE_END if piece_end else 0, cfg.format
        )
        self._outbox.append(head + pcm)
        ctx.seq += 1
        ctx.samples_sent += len(pcm) // width
        return True

    def timestamps(self, context: str, words: Sequence[WordStamp]) -> bool:
        """Queue a ``timestamps`` event (offsets already in the context's text and output samples).
        Returns False if the context did not ask for timestamps or is no longer open."""
        ctx = self._live(context)
        if ctx is None or ctx.config.timestamps == "none" or not words:
            return False
        phonemes = ctx.config.timestamps == "phoneme"
        self._send(
            {
                "type": "timestamps",
                "context": context,
                "stream": ctx.config.stream,
                "sample_rate_hz": ctx.config.sample_rate_hz,
                "words": [w.to_json(phonemes) for w in words],
            }
        )
        return True

    def piece_spoken(self, context: str, end_char: int) -> None:
        """The piece ending at ``end_char`` is spoken (frees room under max_pending_chars)."""
        ctx = self._live(context)
        if ctx is not None:
            ctx.spoken_to = max(ctx.spoken_to, end_char)

    def done(self, context: str, *, chunks: int, synthesis_ms: float, paused_ms: float = 0.0) -> None:
        """Every piece of the ended context is spoken: queue ``done``. Ignored if it is gone."""
        ctx = self._live(context)
        if ctx is None:
            return
        if ctx.state is not ContextState.ENDING:
            raise InvalidStateError(f"done({context!r}) before the context's end")
        cfg = ctx.config
        now = self._clock()
        audio_ms = 1000.0 * ctx.samples_sent / cfg.sample_rate_hz
        first = ctx.first_audio_at_s
        self._send(
            {
                "type": "done",
                "context": context,
                "stream": cfg.stream,
                "audio_ms": round(audio_ms, 3),
                "samples": ctx.samples_sent,
                "frames": ctx.seq,
                "pieces": ctx.pieces,
                "chunks": chunks,
                "first_audio_ms": None if first is None else round(1000.0 * (first - cfg.created_at_s), 3),
                "synthesis_ms": round(synthesis_ms, 3),
                "paused_ms": round(paused_ms, 3),
                "total_ms": round(1000.0 * (now - cfg.created_at_s), 3),
                "rtf": round(synthesis_ms / audio_ms, 5) if audio_ms > 0 else None,
            }
        )
        self._close(context)

    def fail(self, context: str, code: str, message: str, field: str | None = None) -> None:
        """The context failed (the engine refused a piece, or broke): queue a closing ``error``."""
        if self._live(context) is None:
            return
        self._send_error(context, code, message, field, closed=True)
        self._close(context)

    # -- message handlers --------------------------------------------------------------------------

    def _on_create(self, msg: dict[str, object]) -> list[EventV2]:
        cid = self._validate_context(msg)
        if cid in self._contexts:
            raise _Reject(
                ErrorCode.DUPLICATE_CONTEXT,
                f"context {_short(cid)} is already open on this connection; it carries on "
                "(pick another id, or reuse this one after its done/cancelled)",
                "context",
            )
        if len(self._contexts) >= self.info.max_contexts:
            raise _Reject(
                ErrorCode.TOO_MANY_CONTEXTS,
                f"context {_short(cid)} refused: {len(self._contexts)} contexts are open on this "
                f"connection (the limit is {self.info.max_contexts}); end or cancel one first",
                "context",
            )
        p = _Prefix(cid)
        voice = self._validate_voice(msg.get("voice"), p)
        self._validate_language(msg.get("language"), voice, p)
        fmt = self._validate_format(msg.get("format"), p)
        rate = self._validate_rate(msg.get("sample_rate_hz"), fmt, voice, p)
        frame_ms = _int_in(msg.get("frame_ms"), "frame_ms", FRAME_MS_MIN, FRAME_MS_MAX, FRAME_MS_DEFAULT, p)
        settings = self._validate_settings(msg, VoiceSettings(), p)
        seed = self._validate_seed(msg.get("seed"), p)
        budget = self._validate_budget(msg.get("latency_budget_ms"), p)
        ts = self._validate_timestamps(msg.get("timestamps"), p)
        text, flush, end = self._validate_text_fields(msg, p, allow_missing_text=True)
        now = self._clock()
        stream = self._next_stream
        self._next_stream = 1 if stream >= 0xFFFFFFFF else stream + 1
        cfg = ContextConfig(
            id=cid,
            stream=stream,
            voice=voice,
            format=fmt,
            sample_rate_hz=rate,
            voice_rate_hz=self._voices[voice].sample_rate_hz,
            frame_ms=frame_ms,
            seed=seed,
            latency_budget_ms=budget,
            timestamps=ts,
            settings=settings,
            created_at_s=now,
        )
        from .textbuffer import TextBuffer

        ctx = _Context(cfg, TextBuffer(latency_budget_ms=budget))
        self._contexts[cid] = ctx
        self._by_stream[stream] = cid
        self._send(
            {
                "type": "created",
                "context": cid,
                "stream": stream,
                "voice": voice,
                "sample_rate_hz": rate,
                "channels": 1,
                "format": fmt,
                "frame_ms": frame_ms,
                "frame_samples": cfg.frame_samples,
                "timestamps": ts,
            }
        )
        events: list[EventV2] = [OpenContext(cfg)]
        events.extend(self._feed(cid, ctx, text, flush, end, now))
        return events

    def _on_text(self, msg: dict[str, object], mtype: str = "text") -> list[EventV2]:
        cid = self._validate_context(msg)
        p = _Prefix(cid)
        ctx = self._open_context(cid, mtype, p)
        text, flush, end = self._validate_text_fields(msg, p, allow_missing_text=mtype != "text")
        if text:
            pending = ctx.text.chars_received - ctx.spoken_to
            if pending + len(text) > self.info.max_pending_chars:
                self._reject_pending(cid, pending, len(text), p)
        return self._feed(cid, ctx, text, flush, end, self._clock())

    def _on_update(self, msg: dict[str, object]) -> list[EventV2]:
        cid = self._validate_context(msg)
        p = _Prefix(cid)
        ctx = self._open_context(cid, "update", p)
        if not any(k in msg for k in ("speed", "pitch_semitones", "volume_db")):
            raise _Reject(
                ErrorCode.INVALID_MESSAGE,
                p("update needs at least one of speed, pitch_semitones, volume_db"),
                None,
            )
        settings = self._validate_settings(msg, ctx.config.settings, p)
        ctx.config = replace(ctx.config, settings=settings)
        return [UpdateContext(cid, settings)]

    def _on_cancel(self, msg: dict[str, object]) -> list[EventV2]:
        cid = self._validate_context(msg)
        ctx = self._contexts.get(cid)
        if ctx is None:
            raise self._missing(cid, "cancel")
        rate = ctx.config.sample_rate_hz
        self._send(
            {
                "type": "cancelled",
                "context": cid,
                "stream": ctx.config.stream,
                "audio_ms_sent": round(1000.0 * ctx.samples_sent / rate, 3),
                "samples_sent": ctx.samples_sent,
            }
        )
        self._close(cid)
        return [StopContext(cid, "cancel")]

    def _feed(
        self, cid: str, ctx: _Context, text: str | None, flush: bool, end: bool, now_s: float
    ) -> list[EventV2]:
        buf = ctx.text
        pieces = buf.push(text, 1000.0 * now_s) if text else []
        if end:
            pieces += buf.end()
        elif flush:
            pieces += buf.flush()
        events: list[EventV2] = []
        if pieces:
            events.append(self._speak(cid, ctx, pieces))
        if end:
            ctx.state = ContextState.ENDING
            events.append(EndContext(cid))
        return events

    def _speak(self, cid: str, ctx: _Context, pieces: list[Piece]) -> SpeakPieces:
        ctx.pieces += len(pieces)
        return SpeakPieces(cid, tuple(pieces))

    # -- validation --------------------------------------------------------------------------------

    def _open_context(self, cid: str, mtype: str, p: _Prefix) -> _Context:
        ctx = self._contexts.get(cid)
        if ctx is None:
            raise self._missing(cid, mtype)
        if ctx.state is not ContextState.OPEN:
            raise _Reject(
                ErrorCode.CONTEXT_ENDED,
                p(f"{mtype} after the context's end: it is finishing what it has and takes no more text"),
                "context",
            )
        return ctx

    def _missing(self, cid: str, mtype: str) -> _Reject:
        if cid in self._ended:
            return _Reject(
                ErrorCode.CONTEXT_ENDED,
                f"context {_short(cid)} has ended (done, cancelled or failed); {mtype} does nothing",
                "context",
            )
        return _Reject(
            ErrorCode.UNKNOWN_CONTEXT,
            f"no context {_short(cid)} is open on this connection (create it first)",
            "context",
        )

    def _reject_pending(self, cid: str, pending: int, adding: int, p: _Prefix) -> None:
        raise _Reject(
            ErrorCode.TEXT_TOO_LONG,
            p(
                f"text refused: the context holds {pending} characters not yet spoken and this message "
                f"adds {adding}; the limit is {self.info.max_pending_chars} (send more as it is spoken)"
            ),
            "text",
        )

    def _validate_text_fields(
        self, msg: dict[str, object], p: _Prefix, *, allow_missing_text: bool
    ) -> tuple[str | None, bool, bool]:
        text = msg.get("text")
        if text is None and not allow_missing_text:
            raise _Reject(ErrorCode.INVALID_FIELD, p("text message needs a text: a string"), "text")
        if text is not None:
            if not isinstance(text, str):
                raise _Reject(
                    ErrorCode.INVALID_FIELD, p(f"text must be a string, got {_json_type(text)}"), "text"
                )
            limit = self.info.base.max_text_chars
            if len(text) > limit:
                raise _Reject(
                    ErrorCode.TEXT_TOO_LONG,
                    p(f"text is {len(text)} characters long; the limit per message is {limit}"),
                    "text",
                )
            if _has_lone_surrogate(text):
                raise _Reject(
                    ErrorCode.INVALID_FIELD, p("text contains an unpaired UTF-16 surrogate"), "text"
                )
        flags = []
        for name in ("flush", "end"):
            v = msg.get(name)
            if v is not None and not isinstance(v, bool):
                raise _Reject(
                    ErrorCode.INVALID_FIELD, p(f"{name} must be true, false or null, got {_show(v)}"), name
                )
            flags.append(bool(v))
        return (text if isinstance(text, str) else None), flags[0], flags[1]

    def _validate_voice(self, voice: object, p: _Prefix) -> str:
        if voice is None:
            return self.info.base.default_voice
        if not isinstance(voice, str):
            raise _Reject(
                ErrorCode.INVALID_FIELD,
                p(f"voice must be a string or null, got {_json_type(voice)}"),
                "voice",
            )
        if voice not in self._voices:
            raise _Reject(
                ErrorCode.UNKNOWN_VOICE,
                p(f"voice {_short(voice)} is not available; available: {', '.join(sorted(self._voices))}"),
                "voice",
            )
        return voice

    def _validate_language(self, language: object, voice: str, p: _Prefix) -> None:
        if language is None:
            return
        if not isinstance(language, str) or not 0 < len(language) <= 35:
            raise _Reject(
                ErrorCode.INVALID_FIELD,
                p(f'language must be a BCP 47 tag such as "en-US", got {_show(language)}'),
                "language",
            )
        spoken = self._voices[voice].language
        want, have = language.lower().replace("_", "-"), spoken.lower()
        if not (have == want or have.startswith(want + "-")):
            raise _Reject(
                ErrorCode.UNSUPPORTED_LANGUAGE,
                p(f"language {_short(language)}: voice {_short(voice)} speaks {spoken or 'another'}"),
                "language",
            )

    def _validate_format(self, fmt: object, p: _Prefix) -> FormatV2:
        if fmt is None:
            return "pcm_s16le"
        if not isinstance(fmt, str):
            raise _Reject(
                ErrorCode.INVALID_FIELD,
                p(f"format must be a string or null, got {_json_type(fmt)}"),
                "format",
            )
        for known in FORMATS_V2:
            if fmt == known:
                return known
        raise _Reject(
            ErrorCode.UNSUPPORTED_FORMAT,
            p(f"format {_short(fmt)} is not supported; use one of {', '.join(FORMATS_V2)}"),
            "format",
        )

    def _validate_rate(self, value: object, fmt: FormatV2, voice: str, p: _Prefix) -> int:
        native = self._voices[voice].sample_rate_hz
        if value is None:
            return G711_RATE_HZ if fmt in G711_FORMATS else native
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Reject(
                ErrorCode.INVALID_SETTING,
                p(f"sample_rate_hz must be an integer, got {_show(value)}"),
                "sample_rate_hz",
            )
        if fmt in G711_FORMATS and value != G711_RATE_HZ:
            raise _Reject(
                ErrorCode.UNSUPPORTED_SAMPLE_RATE,
                p(f"{fmt} is 8000 Hz only, got sample_rate_hz {_num(value)}"),
                "sample_rate_hz",
            )
        if value not in SAMPLE_RATES_HZ and value != native:
            raise _Reject(
                ErrorCode.UNSUPPORTED_SAMPLE_RATE,
                p(
                    f"sample_rate_hz must be one of {', '.join(map(str, SAMPLE_RATES_HZ))} "
                    f"(or null for the voice's own {native}), got {_num(value)}"
                ),
                "sample_rate_hz",
            )
        return value

    def _validate_settings(self, msg: dict[str, object], cur: VoiceSettings, p: _Prefix) -> VoiceSettings:
        speed = _number_in(msg.get("speed"), "speed", SPEED_MIN, SPEED_MAX, cur.speed, p)
        pitch = _number_in(
            msg.get("pitch_semitones"), "pitch_semitones", PITCH_MIN, PITCH_MAX, cur.pitch_semitones, p
        )
        volume = _number_in(msg.get("volume_db"), "volume_db", VOLUME_MIN_DB, VOLUME_MAX_DB, cur.volume_db, p)
        return VoiceSettings(speed, pitch, volume)

    @staticmethod
    def _validate_timestamps(value: object, p: _Prefix) -> TimestampMode:
        if value is None:
            return "none"
        for mode in TIMESTAMP_MODES:
            if value == mode:
                return mode
        raise _Reject(
            ErrorCode.INVALID_SETTING,
            p(f"timestamps must be one of {', '.join(TIMESTAMP_MODES)} or null, got {_show(value)}"),
            "timestamps",
        )

    @staticmethod
    def _validate_seed(value: object, p: _Prefix) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Reject(
                ErrorCode.INVALID_SETTING, p(f"seed must be an integer or null, got {_show(value)}"), "seed"
            )
        if not 0 <= value <= SEED_MAX:
            raise _Reject(
                ErrorCode.INVALID_SETTING,
                p(f"seed must be between 0 and {SEED_MAX}, got {_num(value)}"),
                "seed",
            )
        return value

    @staticmethod
    def _validate_budget(value: object, p: _Prefix) -> float | None:
        if value is None:
            return float(LATENCY_BUDGET_DEFAULT_MS)
        if value is False:
            return None  # no budget: wait for a boundary, flush or end
        return _number_in(value, "latency_budget_ms", 0.0, float(LATENCY_BUDGET_MAX_MS), 0.0, p)

    @staticmethod
    def _validate_context(msg: dict[str, object]) -> str:
        cid = msg.get("context")
        what = f"needs a context: a non-empty string of at most {MAX_ID_CHARS} characters"
        if cid is None:
            raise _Reject(ErrorCode.INVALID_CONTEXT, f"message {what}; it has none", "context")
        if not isinstance(cid, str):
            raise _Reject(ErrorCode.INVALID_CONTEXT, f"message {what}; got a {_json_type(cid)}", "context")
        if not 0 < len(cid) <= MAX_ID_CHARS or _has_lone_surrogate(cid):
            raise _Reject(ErrorCode.INVALID_CONTEXT, f"message {what}; got {_short(cid)}", "context")
        return cid

    @staticmethod
    def _peek_context(msg: dict[str, object]) -> str | None:
        cid = msg.get("context")
        if isinstance(cid, str) and 0 < len(cid) <= MAX_ID_CHARS and not _has_lone_surrogate(cid):
            return cid
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

    # -- internals ---------------------------------------------------------------------------------

    def _require_open(self, what: str) -> None:
        if self._state is not ConnectionState.OPEN:
            raise InvalidStateError(f"{what}() in connection state {self._state.value}")

    def _live(self, context: str) -> _Context | None:
        if self._state is not ConnectionState.OPEN:
            return None
        return self._contexts.get(context)

    def _close(self, cid: str) -> None:
        ctx = self._contexts.pop(cid)
        self._by_stream.pop(ctx.config.stream, None)
        self._ended.append(cid)

    def _send(self, obj: dict[str, object]) -> None:
        self._outbox.append(_dumps(obj))

    def _send_error(
        self, cid: str | None, code: str, message: str, field: str | None, *, closed: bool
    ) -> None:
        self._send(
            {
                "type": "error",
                "context": cid,
                "code": code,
                "message": message,
                "field": field,
                "closed": closed,
            }
        )

    def _reject(
        self, cid: str | None, code: ErrorCode, message: str, field: str | None = None
    ) -> list[EventV2]:
        self._send_error(cid, code.value, message, field, closed=False)
        return [ProtocolErrorEvent(code.value, message, field, cid)]


class _Prefix:
    """Prefixes an error message with the context it concerns."""

    def __init__(self, cid: str) -> None:
        self.cid = cid

    def __call__(self, message: str) -> str:
        return f"context {_short(self.cid)}: {message}"


def _number_in(value: object, name: str, lo: float, hi: float, default: float, p: _Prefix) -> float:
    if value is None:
        return default
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Reject(ErrorCode.INVALID_SETTING, p(f"{name} must be a number, got {_show(value)}"), name)
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not (math.isfinite(x) and lo <= x <= hi):
        raise _Reject(
            ErrorCode.INVALID_SETTING, p(f"{name} must be between {lo:g} and {hi:g}, got {_num(value)}"), name
        )
    return x


def _int_in(value: object, name: str, lo: int, hi: int, default: int, p: _Prefix) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Reject(ErrorCode.INVALID_SETTING, p(f"{name} must be an integer, got {_show(value)}"), name)
    if not lo <= value <= hi:
        raise _Reject(
            ErrorCode.INVALID_SETTING, p(f"{name} must be between {lo} and {hi}, got {_num(value)}"), name
        )
    return value


# --------------------------------------------------------------------------------------------------
# Client side
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HelloV2:
    protocol: int
    server: str
    max_contexts: int
    formats: tuple[str, ...]
    sample_rates_hz: tuple[int, ...]
    default_voice: str | None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ContextCreated:
    context: str
    stream: int
    voice: str
    sample_rate_hz: int
    format: str
    frame_ms: int
    frame_samples: int


@dataclass(frozen=True)
class ContextAudio:
    """One binary frame of ``context``: int16 (pcm_s16le), float32 (pcm_f32le) or uint8 (G.711
    bytes) samples, the first of which is sample ``sample_offset`` of the context."""

    context: str
    stream: int
    seq: int
    sample_offset: int
    piece_end: bool
    samples: npt.NDArray[np.int16] | npt.NDArray[np.float32] | npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Timestamps:
    context: str
    sample_rate_hz: int
    words: tuple[WordStamp, ...]


@dataclass(frozen=True)
class ContextDone:
    """``stats`` holds every field of the message (audio_ms, first_audio_ms, rtf, ...)."""

    context: str
    audio_ms: float
    samples: int
    first_audio_ms: float | None
    stats: dict[str, object]


@dataclass(frozen=True)
class ContextCancelled:
    context: str
    audio_ms_sent: float
    samples_sent: int


@dataclass(frozen=True)
class ContextError:
    """An ``error``; ``closed`` is True when it ended the context ``context``."""

    context: str | None
    code: str
    message: str
    field: str | None
    closed: bool


ClientEventV2: TypeAlias = (
    HelloV2
    | ContextCreated
    | ContextAudio
    | Timestamps
    | ContextDone
    | ContextCancelled
    | ContextError
    | VoicesListed
    | UnknownMessage
    | ProtocolViolation
)


@dataclass
class _ClientStream:
    created: ContextCreated
    next_seq: int = 0
    next_offset: int = 0


_DTYPES: Final = {"pcm_s16le": "<i2", "pcm_f32le": "<f4", "mulaw": "u1", "alaw": "u1"}


class ClientProtocolV2:
    """Client half of protocol v2: builds messages, parses server messages, demultiplexes frames
    by their header and checks that each context's frames are in sequence and contiguous.

    Never raises for anything the server sent: broken input yields :class:`ProtocolViolation`.
    """

    def __init__(self) -> None:
        self.hello: HelloV2 | None = None
        self._pending: set[str] = set()  # create sent, created not received yet
        self._streams: dict[int, _ClientStream] = {}
        self._by_context: dict[str, int] = {}
        self._counter = 0

    @property
    def open_contexts(self) -> tuple[str, ...]:
        return tuple(sorted(self._pending | set(self._by_context)))

    # -- messages to send --------------------------------------------------------------------------

    def create(self, context: str | None = None, **options: object) -> tuple[str, str]:
        """(context id, ``create`` message). ``options`` are create's fields; None ones are left out.
        Raises ValueError for an invalid id or one already open (the server would refuse it)."""
        if context is None:
            self._counter += 1
            context = f"c{self._counter}"
            while context in self._pending or context in self._by_context:
                self._counter += 1
                context = f"c{self._counter}"
        if not 0 < len(context) <= MAX_ID_CHARS or _has_lone_surrogate(context):
            raise ValueError(f"a context id is 1 to {MAX_ID_CHARS} characters of valid text, got {context!r}")
        if context in self._pending or context in self._by_context:
            raise ValueError(f"context {context!r} is already open on this connection")
        msg: dict[str, object] = {"type": "create", "context": context}
        msg.update({k: v for k, v in options.items() if v is not None})
        self._pending.add(context)
        return context, _dumps(msg)

    @staticmethod
    def text(context: str, text: str, *, flush: bool = False, end: bool = False) -> str:
        msg: dict[str, object] = {"type": "text", "context": context, "text": text}
        if flush:
            msg["flush"] = True
        if end:
            msg["end"] = True
        return _dumps(msg)

    @staticmethod
    def flush(context: str) -> str:
        return _dumps({"type": "flush", "context": context})

    @staticmethod
    def end(context: str) -> str:
        return _dumps({"type": "end", "context": context})

    @staticmethod
    def cancel(context: str) -> str:
        return _dumps({"type": "cancel", "context": context})

    @staticmethod
    def update(context: str, **settings: float | None) -> str:
        msg: dict[str, object] = {"type": "update", "context": context}
        msg.update({k: v for k, v in settings.items() if v is not None})
        return _dumps(msg)

    @staticmethod
    def voices() -> str:
        return '{"type":"voices"}'

    # -- input from the server ---------------------------------------------------------------------

    def receive_bytes(self, data: bytes) -> list[ClientEventV2]:
        try:
            h = parse_header(data)
        except ValueError as exc:
            return [ProtocolViolation(str(exc))]
        st = self._streams.get(h.stream)
        if st is None:
            return [ProtocolViolation(f"binary frame of stream {h.stream}, which is not open")]
        c = st.created
        payload = memoryview(data)[HEADER.size :]
        width = WIDTH[c.format]
        if h.format != c.format or not len(payload) or len(payload) % width:
            return [ProtocolViolation(f"frame of context {c.context!r}: {len(payload)} bytes of {h.format}")]
        if h.seq != st.next_seq or h.sample_offset != st.next_offset:
            return [
                ProtocolViolation(
                    f"frame of context {c.context!r} out of order: seq {h.seq} at sample {h.sample_offset}, "
                    f"expected seq {st.next_seq} at sample {st.next_offset}"
                )
            ]
        samples = np.frombuffer(payload, dtype=_DTYPES[c.format])
        st.next_seq += 1
        st.next_offset += samples.size
        return [ContextAudio(c.context, h.stream, h.seq, h.sample_offset, h.piece_end, samples)]

    def receive_text(self, text: str) -> list[ClientEventV2]:
        value, reason = _loads(text)
        if reason is not None:
            return [ProtocolViolation(f"server message is not valid JSON: {reason}")]
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            return [ProtocolViolation("server message is not an object with a string type")]
        try:
            return self._dispatch(value)
        except _Bad as exc:
            return [ProtocolViolation(str(exc))]
        except (TypeError, ValueError, KeyError) as exc:
            return [ProtocolViolation(f"malformed {value.get('type')} message: {exc}")]

    def _dispatch(self, msg: dict[str, object]) -> list[ClientEventV2]:
        mtype = msg["type"]
        if self.hello is None and mtype != "hello":
            raise _Bad(f"expected hello first, got {mtype!r}")
        if mtype == "hello":
            if self.hello is not None:
                raise _Bad("second hello")
            known = {
                "type",
                "protocol",
                "server",
                "max_contexts",
                "formats",
                "sample_rates_hz",
                "default_voice",
            }
            formats = msg.get("formats")
            rates = msg.get("sample_rates_hz")
            if not isinstance(formats, list) or not isinstance(rates, list):
                raise _Bad("hello: formats and sample_rates_hz must be arrays")
            dv = msg.get("default_voice")
            hello = HelloV2(
                protocol=_get_int(msg, "protocol"),
                server=_get_str(msg, "server"),
                max_contexts=_get_int(msg, "max_contexts"),
                formats=tuple(str(f) for f in formats),
                sample_rates_hz=tuple(int(r) for r in rates),
                default_voice=dv if isinstance(dv, str) else None,
                extra={k: v for k, v in msg.items() if k not in known},
            )
            if hello.protocol != PROTOCOL_V2:
                raise _Bad(f"server speaks protocol {hello.protocol}; this client speaks {PROTOCOL_V2}")
            self.hello = hello
            return [hello]
        if mtype == "created":
            c = ContextCreated(
                context=_get_str(msg, "context"),
                stream=_get_int(msg, "stream"),
                voice=_get_str(msg, "voice"),
                sample_rate_hz=_get_int(msg, "sample_rate_hz"),
                format=_get_str(msg, "format"),
                frame_ms=_get_int(msg, "frame_ms"),
                frame_samples=_get_int(msg, "frame_samples"),
            )
            if c.context not in self._pending:
                raise _Bad(f"created for context {c.context!r}, which was not being created")
            if c.stream in self._streams or c.format not in WIDTH or c.sample_rate_hz <= 0:
                raise _Bad(f"created for context {c.context!r} has an unusable stream, format or rate")
            self._pending.discard(c.context)
            self._streams[c.stream] = _ClientStream(c)
            self._by_context[c.context] = c.stream
            return [c]
        if mtype == "timestamps":
            cid = _get_str(msg, "context")
            if cid not in self._by_context:
                raise _Bad(f"timestamps for context {cid!r}, which is not open")
            raw = msg.get("words")
            if not isinstance(raw, list):
                raise _Bad("timestamps: words must be an array")
            words = tuple(_word_from_json(w) for w in raw)
            return [Timestamps(cid, _get_int(msg, "sample_rate_hz"), words)]
        if mtype == "done":
            cid = _get_str(msg, "context")
            done = ContextDone(
                cid,
                _get_num(msg, "audio_ms"),
                _get_int(msg, "samples"),
                _get_opt_num(msg, "first_audio_ms"),
                {k: v for k, v in msg.items() if k not in ("type", "context")},
            )
            st = self._close(cid, "done")
            if st.next_offset != done.samples:
                raise _Bad(f"done for {cid!r} says {done.samples} samples; {st.next_offset} arrived")
            return [done]
        if mtype == "cancelled":
            cid = _get_str(msg, "context")
            cancelled = ContextCancelled(cid, _get_num(msg, "audio_ms_sent"), _get_int(msg, "samples_sent"))
            st = self._close(cid, "cancelled")
            if st.next_offset != cancelled.samples_sent:
                raise _Bad(
                    f"cancelled for {cid!r} says {cancelled.samples_sent} samples; {st.next_offset} arrived"
                )
            return [cancelled]
        if mtype == "error":
            c_value = msg.get("context")
            err_cid = c_value if isinstance(c_value, str) else None
            closed = msg.get("closed") is True
            if closed:
                if err_cid is None:
                    raise _Bad("an error closed no context")
                self._close(err_cid, "error")
            elif err_cid is not None and err_cid in self._pending:
                self._pending.discard(err_cid)  # its create was refused
            fld = msg.get("field")
            return [
                ContextError(
                    err_cid,
                    _get_str(msg, "code"),
                    str(msg.get("message", "")),
                    fld if isinstance(fld, str) else None,
                    closed,
                )
            ]
        if mtype == "voices":
            raw_voices = msg.get("voices")
            if not isinstance(raw_voices, list):
                raise _Bad("voices must be an array")
            voices = tuple(
                VoiceDescription(
                    id=_get_str(v, "id"),
                    language=str(v.get("language", "")),
                    gender=str(v.get("gender", "unknown")),
                    sample_rate_hz=_get_int(v, "sample_rate_hz"),
                    backend=str(v.get("backend", "")),
                    cloneable=bool(v.get("cloneable", False)),
                    description=str(v.get("description", "")),
                )
                for v in raw_voices
                if isinstance(v, dict)
            )
            return [VoicesListed(voices)]
        assert isinstance(mtype, str)
        return [UnknownMessage(mtype, msg)]

    def _close(self, cid: str, what: str) -> _ClientStream:
        stream = self._by_context.pop(cid, None)
        if stream is None:
            raise _Bad(f"{what} for context {cid!r}, which is not open")
        return self._streams.pop(stream)


def _word_from_json(w: object) -> WordStamp:
    if not isinstance(w, dict):
        raise _Bad("timestamps: each word must be an object")
    raw = w.get("phonemes", [])
    if not isinstance(raw, list):
        raise _Bad("timestamps: phonemes must be an array")
    phonemes = tuple(
        PhonemeStamp(_get_str(p, "phoneme"), _get_int(p, "start_sample"), _get_int(p, "end_sample"))
        for p in raw
        if isinstance(p, dict)
    )
    return WordStamp(
        _get_str(w, "word"),
        _get_int(w, "char_start"),
        _get_int(w, "char_end"),
        _get_int(w, "start_sample"),
        _get_int(w, "end_sample"),
        phonemes,
    )
