"""OpenAI's ``POST /v1/audio/speech``, the pure part: request validation, voice names, errors, WAV.

The endpoint itself (HTTP on the WebSocket port, streaming the body as it is synthesised) lives in
:mod:`parley_server.http_api`; everything here is a pure function of its arguments, so it is tested
without a socket.

The request body is OpenAI's JSON::

    {"model": "tts-1", "input": "Hello.", "voice": "alloy", "response_format": "pcm", "speed": 1.0}

* ``input`` (required): the text, 1 to ``max_text_chars`` characters, not blank.
* ``voice``: a Parley voice id, or one of OpenAI's names (:data:`OPENAI_VOICES`), which map to the
  first Parley voice of their list that the server offers (the server's default voice last).
  Left out: the server's default voice. ``{"id": "..."}`` (OpenAI's custom-voice form) is the same
  as the plain string.
* ``model``: accepted and ignored (a string if given; ``tts-1``, ``tts-1-hd``,
  ``gpt-4o-mini-tts``, ``parley``... all speak the same).
* ``response_format``: ``pcm`` (raw signed 16-bit little-endian mono at 24 kHz, as OpenAI sends)
  or ``wav`` (the same samples after a 44-byte WAV header whose two sizes are 0xFFFFFFFF: the
  length is not known when the header is sent). Left out: ``wav`` (OpenAI's default is ``mp3``,
  which Parley does not encode). ``mp3``, ``opus``, ``aac`` and ``flac`` are refused (400).
* ``speed``: 0.5 to 4.0 (OpenAI allows 0.25 to 4.0; Parley's voices go no slower than 0.5).
* ``instructions``: accepted and ignored (a string if given). ``stream_format``: ``audio`` (the
  default) only; ``sse`` is refused. Other fields are ignored.

Every refusal is an :class:`ApiError`, sent as OpenAI's error object::

    {"error": {"message": "...", "type": "invalid_request_error", "param": "speed", "code": "..."}}
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus

from parley_engine.errors import InputError, ParleyError
from parley_engine.types import MAX_SPEED, MIN_SPEED

__all__ = [
    "DEFAULT_RESPONSE_FORMAT",
    "MAX_BODY_BYTES",
    "OPENAI_VOICES",
    "OUTPUT_RATE_HZ",
    "RESPONSE_FORMATS",
    "SPEECH_PATH",
    "UNSUPPORTED_FORMATS",
    "ApiError",
    "SpeechRequest",
    "api_error_for",
    "content_type",
    "parse_speech_request",
    "resolve_voice",
    "wav_header",
]

SPEECH_PATH = "/v1/audio/speech"
#: Largest request body accepted (413 beyond): the JSON of a full-length input with room to spare.
MAX_BODY_BYTES = 64 * 1024
#: Every response is at OpenAI's rate; voices of other rates are resampled.
OUTPUT_RATE_HZ = 24000
RESPONSE_FORMATS = ("pcm", "wav")
DEFAULT_RESPONSE_FORMAT = "wav"
UNSUPPORTED_FORMATS = ("mp3", "opus", "aac", "flac")

#: OpenAI's voice names -> Parley voices, in order of preference: the Kokoro voice of the same
#: name (or the closest one) when it is installed, then the built-in voice of the same gender
#: ("heart", female; "joe", male). A server offering none of them uses its default voice.
OPENAI_VOICES: Mapping[str, tuple[str, ...]] = {
    "alloy": ("af_alloy", "heart"),
    "ash": ("am_adam", "joe"),
    "ballad": ("bm_lewis", "joe"),
    "coral": ("af_jessica", "heart"),
    "echo": ("am_echo", "joe"),
    "fable": ("bm_fable", "joe"),
    "nova": ("af_nova", "heart"),
    "onyx": ("am_onyx", "joe"),
    "sage": ("af_sarah", "heart"),
    "shimmer": ("af_bella", "heart"),
    "verse": ("am_michael", "joe"),
    "marin": ("af_heart", "heart"),
    "cedar": ("am_liam", "joe"),
}


class ApiError(Exception):
    """A refused request: HTTP status plus OpenAI's error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.param = param
        self.code = code
        self.type = type
        self.headers = tuple(headers)

    def to_json(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        return (json.dumps(self.to_json()) + "\n").encode()


@dataclass(frozen=True)
class SpeechRequest:
    """A validated request. ``voice`` is the Parley voice that speaks (``requested_voice`` is
    what the client named)."""

    text: str
    voice: str
    requested_voice: str | None
    response_format: str
    speed: float
    model: str | None


def _bad(message: str, param: str | None, code: str = "invalid_value") -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, message, param=param, code=code)


def resolve_voice(name: str, voices: Sequence[str], default_voice: str) -> str | None:
    """The Parley voice for ``name``: itself when offered, else an OpenAI name's mapping (see
    :data:`OPENAI_VOICES`), else None (unknown). Names match case-insensitively when no voice has
    that exact spelling."""
    if name in voices:
        return name
    lowered = name.strip().lower()
    for v in voices:
        if v.lower() == lowered:
            return v
    choices = OPENAI_VOICES.get(lowered)
    if choices is None:
        return None
    for v in choices:
        if v in voices:
            return v
    return default_voice


def _optional_string(obj: Mapping[str, object], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"'{name}' must be a string, got {_json_type(value)}", name, "invalid_type")
    return value


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def parse_speech_request(
    body: bytes, *, voices: Sequence[str], default_voice: str, max_text_chars: int
) -> SpeechRequest:
    """Validate a request body (the raw bytes). Raises :class:`ApiError` (400) naming the field."""
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"the request body has {len(body)} bytes; the limit is {MAX_BODY_BYTES}",
            code="request_too_large",
        )
    try:
        obj = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad("the request body is not UTF-8", None, "invalid_json") from None
    except ValueError as exc:
        raise _bad(f"the request body is not valid JSON: {exc}", None, "invalid_json") from None
    if not isinstance(obj, dict):
        raise _bad(f"the request body must be a JSON object, got {_json_type(obj)}", None, "invalid_json")

    # input
    if "input" not in obj or obj["input"] is None:
        raise _bad("'input' is required: the text to speak", "input", "missing_required_parameter")
    text = obj["input"]
    if not isinstance(text, str):
        raise _bad(f"'input' must be a string, got {_json_type(text)}", "input", "invalid_type")
    if len(text) > max_text_chars:
        raise _bad(
            f"'input' has {len(text)} characters; the limit is {max_text_chars}", "input", "text_too_long"
        )
    if not text.strip():
        raise _bad("'input' is empty: nothing to speak", "input", "empty_text")

    # model (ignored), instructions (ignored), stream_format
    model = _optional_string(obj, "model")
    _optional_string(obj, "instructions")
    stream_format = _optional_string(obj, "stream_format")
    if stream_format not in (None, "audio"):
        raise _bad(
            f"'stream_format' {stream_format!r} is not supported; this server streams raw audio ('audio')",
            "stream_format",
            "unsupported_value",
        )

    # voice
    raw_voice = obj.get("voice")
    if isinstance(raw_voice, dict):  # OpenAI's custom-voice form {"id": "..."}
        raw_voice = raw_voice.get("id")
        if not isinstance(raw_voice, str):
            raise _bad("'voice' as an object must have a string 'id'", "voice", "invalid_type")
    requested: str | None
    if raw_voice is None:
        requested, voice = None, default_voice
    elif not isinstance(raw_voice, str):
        raise _bad(f"'voice' must be a string, got {_json_type(raw_voice)}", "voice", "invalid_type")
    else:
        requested = raw_voice
        resolved = resolve_voice(raw_voice, voices, default_voice)
        if resolved is None:
            raise _bad(
                f"unknown voice {raw_voice!r}; this server offers {', '.join(voices)} "
                f"and OpenAI's names {', '.join(OPENAI_VOICES)}",
                "voice",
                "unknown_voice",
            )
        voice = resolved

    # response_format
    fmt = _optional_string(obj, "response_format")
    if fmt is None:
        fmt = DEFAULT_RESPONSE_FORMAT
    fmt = fmt.strip().lower()
    if fmt not in RESPONSE_FORMATS:
        why = "is not encoded by this server" if fmt in UNSUPPORTED_FORMATS else "is not a known format"
        raise _bad(
            f"response_format {fmt!r} {why}; use 'pcm' (s16le mono {OUTPUT_RATE_HZ} Hz) or 'wav'",
            "response_format",
            "unsupported_response_format",
        )

    # speed
    speed = obj.get("speed", 1.0)
    if speed is None:
        speed = 1.0
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise _bad(f"'speed' must be a number, got {_json_type(speed)}", "speed", "invalid_type")
    speed = float(speed)
    if not (math.isfinite(speed) and MIN_SPEED <= speed <= MAX_SPEED):
        raise _bad(
            f"'speed' must be between {MIN_SPEED} and {MAX_SPEED} on this server, got {obj['speed']}",
            "speed",
        )
    return SpeechRequest(text, voice, requested, fmt, speed, model)


def api_error_for(exc: ParleyError) -> ApiError:
    """An engine error (raised before any audio was sent) as an HTTP error: the caller's fault
    (400) or the server's (500), with the engine's code."""
    param = {"text": "input"}.get(exc.field or "", exc.field)
    if isinstance(exc, InputError):
        return ApiError(HTTPStatus.BAD_REQUEST, exc.message, param=param, code=exc.code)
    # AssetError, SynthesisError: the server's fault
    return ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, exc.message, code=exc.code, type="server_error")


def content_type(response_format: str) -> str:
    if response_format == "wav":
        return "audio/wav"
    if response_format == "pcm":
        return "audio/pcm"
    raise ValueError(f"unknown response_format {response_format!r}")


def wav_header(sample_rate_hz: int = OUTPUT_RATE_HZ) -> bytes:
    """A 44-byte header of mono 16-bit PCM WAV of unknown length: the RIFF and data sizes are
    0xFFFFFFFF (the usual mark of a streamed WAV; readers take the data up to the end)."""
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate_hz, 2 * sample_rate_hz, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )
