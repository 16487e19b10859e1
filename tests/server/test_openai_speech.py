"""OpenAI's POST /v1/audio/speech, the pure part: body validation, voice names, errors, WAV header.
The endpoint over real sockets: test_openai_http.py (scripted engine) and
tests/integration/test_openai_speech_e2e.py (the real server and voice)."""

from __future__ import annotations

import io
import json
import math
import wave

import numpy as np
import pytest
import soundfile as sf
from parley_engine.errors import EmptyTextError, SynthesisError, UnknownVoiceError
from parley_server.http_api import routed_to_http
from parley_server.openai_speech import (
    MAX_BODY_BYTES,
    OPENAI_VOICES,
    ApiError,
    SpeechRequest,
    api_error_for,
    content_type,
    parse_speech_request,
    resolve_voice,
    wav_header,
)

BUILTIN = ["heart", "joe"]
KOKORO = ["af_alloy", "am_echo", "bm_fable", "am_onyx", "af_nova", "af_bella", "am_adam", "af_jessica"]


def parse(obj: object, voices: list[str] | None = None, max_text_chars: int = 100) -> SpeechRequest:
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return parse_speech_request(
        body, voices=voices or BUILTIN, default_voice="heart", max_text_chars=max_text_chars
    )


def refused(obj: object, **kw: object) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse(obj, **kw)  # type: ignore[arg-type]
    err = info.value
    body = json.loads(err.body())
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"] == err.message and err.message
    return err


def test_a_full_openai_request() -> None:
    req = parse(
        {
            "model": "tts-1",
            "input": "Hello there.",
            "voice": "heart",
            "response_format": "pcm",
            "speed": 1.5,
            "instructions": "Speak cheerfully.",
            "stream_format": "audio",
            "some_future_field": [1, 2],
        }
    )
    assert req == SpeechRequest("Hello there.", "heart", "heart", "pcm", 1.5, "tts-1")


def test_defaults() -> None:
    req = parse({"input": "Hi"})
    assert (req.voice, req.requested_voice, req.response_format, req.speed, req.model) == (
        "heart",
        None,
        "wav",  # OpenAI's default is mp3, which this server does not encode
        1.0,
        None,
    )
    assert parse({"input": "Hi", "speed": None, "response_format": None, "voice": None}).speed == 1.0


@pytest.mark.parametrize("model", ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "parley", "anything"])
def test_model_is_accepted_and_ignored(model: str) -> None:
    assert parse({"input": "Hi", "model": model}).model == model


@pytest.mark.parametrize("fmt", ["pcm", "wav", "PCM", " wav "])
def test_supported_formats(fmt: str) -> None:
    assert parse({"input": "Hi", "response_format": fmt}).response_format == fmt.strip().lower()


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_compressed_formats_are_refused_by_name(fmt: str) -> None:
    err = refused({"input": "Hi", "response_format": fmt})
    assert (err.status, err.param, err.code) == (400, "response_format", "unsupported_response_format")
    assert "not encoded by this server" in err.message and "'pcm'" in err.message and "'wav'" in err.message


def test_unknown_format() -> None:
    err = refused({"input": "Hi", "response_format": "ogg"})
    assert err.param == "response_format" and "not a known format" in err.message


@pytest.mark.parametrize("speed", [0.5, 1, 2.25, 4.0])
def test_speed_in_range(speed: float) -> None:
    assert parse({"input": "Hi", "speed": speed}).speed == speed


@pytest.mark.parametrize("speed", [0.25, 0.49, 4.01, 10, -1, 0])
def test_speed_outside_parleys_range_is_a_clear_400(speed: float) -> None:
    err = refused({"input": "Hi", "speed": speed})
    assert (err.status, err.param, err.type) == (400, "speed", "invalid_request_error")
    assert "between 0.5 and 4.0" in err.message and str(speed) in err.message


@pytest.mark.parametrize("speed", ["fast", True, [1], {"x": 1}])
def test_speed_must_be_a_number(speed: object) -> None:
    err = refused({"input": "Hi", "speed": speed})
    assert err.param == "speed" and err.code == "invalid_type"


def test_non_finite_speed() -> None:
    err = refused(b'{"input": "Hi", "speed": NaN}')
    assert err.param == "speed"


def test_input_is_required_and_checked() -> None:
    assert refused({"voice": "heart"}).code == "missing_required_parameter"
    assert refused({"input": None}).param == "input"
    assert refused({"input": 12}).code == "invalid_type"
    assert refused({"input": ""}).code == "empty_text"
    assert refused({"input": "   \n"}).code == "empty_text"
    err = refused({"input": "x" * 101}, max_text_chars=100)
    assert (err.param, err.code) == ("input", "text_too_long")
    assert "101 characters" in err.message and "100" in err.message
    assert parse({"input": "x" * 100}).text == "x" * 100


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"\xff\xfe{}", b"[]", b'"text"', b"null", b"3"])
def test_body_must_be_a_json_object(body: bytes) -> None:
    err = refused(body)
    assert (err.status, err.code, err.param) == (400, "invalid_json", None)


def test_body_too_large_is_413() -> None:
    err = refused(b" " * (MAX_BODY_BYTES + 1))
    assert (err.status, err.code) == (413, "request_too_large")


def test_other_fields_must_have_their_types() -> None:
    assert refused({"input": "Hi", "model": 4}).param == "model"
    assert refused({"input": "Hi", "instructions": ["x"]}).param == "instructions"
    assert refused({"input": "Hi", "response_format": 1}).param == "response_format"
    assert refused({"input": "Hi", "voice": 7}).param == "voice"
    err = refused({"input": "Hi", "stream_format": "sse"})
    assert err.param == "stream_format" and "sse" in err.message


def test_unknown_voice_names_what_is_offered() -> None:
    err = refused({"input": "Hi", "voice": "nobody"})
    assert (err.status, err.param, err.code) == (400, "voice", "unknown_voice")
    assert "'nobody'" in err.message and "heart, joe" in err.message and "alloy" in err.message


def test_voice_object_form() -> None:
    assert parse({"input": "Hi", "voice": {"id": "joe"}}).voice == "joe"
    assert refused({"input": "Hi", "voice": {"name": "joe"}}).param == "voice"


def test_openai_voice_names_map_to_builtin_voices() -> None:
    female = {"alloy", "coral", "nova", "sage", "shimmer", "marin"}
    for name in OPENAI_VOICES:
        req = parse({"input": "Hi", "voice": name})
        assert req.voice == ("heart" if name in female else "joe"), name
        assert req.requested_voice == name
    assert parse({"input": "Hi", "voice": "Alloy"}).voice == "heart"


def test_openai_voice_names_prefer_their_kokoro_namesakes() -> None:
    voices = BUILTIN + KOKORO
    expected = {
        "alloy": "af_alloy",
        "echo": "am_echo",
        "fable": "bm_fable",
        "onyx": "am_onyx",
        "nova": "af_nova",
        "shimmer": "af_bella",
        "ash": "am_adam",
        "coral": "af_jessica",
        "sage": "heart",
        "ballad": "joe",
    }
    for name, voice in expected.items():
        assert resolve_voice(name, voices, "heart") == voice, name


def test_openai_voice_names_fall_back_to_the_default_voice() -> None:
    assert resolve_voice("onyx", ["af_heart", "bf_emma"], "bf_emma") == "bf_emma"
    assert resolve_voice("nobody", ["af_heart"], "af_heart") is None
    assert resolve_voice("HEART", BUILTIN, "joe") == "heart"
    # every mapping names real catalogue voices
    from parley_engine.voices.registry import catalogue

    known = set(catalogue())
    assert all(set(choices) <= known for choices in OPENAI_VOICES.values())


def test_engine_errors_become_http_errors() -> None:
    err = api_error_for(EmptyTextError("nothing to speak", field="text"))
    assert (err.status, err.param, err.code, err.type) == (
        400,
        "input",
        "empty_text",
        "invalid_request_error",
    )
    err = api_error_for(UnknownVoiceError("no such voice", field="voice"))
    assert (err.status, err.param) == (400, "voice")
    err = api_error_for(SynthesisError("the vocoder diverged"))
    assert (err.status, err.code, err.type) == (500, "synthesis_failed", "server_error")


def test_content_types() -> None:
    assert content_type("wav") == "audio/wav" and content_type("pcm") == "audio/pcm"
    with pytest.raises(ValueError):
        content_type("mp3")


def test_streamed_wav_header_reads_everywhere() -> None:
    header = wav_header(24000)
    assert len(header) == 44 and header[4:8] == b"\xff\xff\xff\xff" and header[40:44] == b"\xff\xff\xff\xff"
    pcm = (np.sin(np.arange(2400) * 0.1) * 10000).astype("<i2")
    data = header + pcm.tobytes()
    y, sr = sf.read(io.BytesIO(data), dtype="int16")
    assert sr == 24000 and np.array_equal(y, pcm)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
        assert np.array_equal(np.frombuffer(w.readframes(10**6), "<i2"), pcm)
    assert math.isclose(len(pcm) / sr, 0.1)


def test_routing_between_websockets_and_http() -> None:
    assert routed_to_http(b"POST", b"/v1/audio/speech")
    assert routed_to_http(b"GET", b"/v1/audio/speech")
    assert routed_to_http(b"GET", b"/v1/models?x=1")
    assert routed_to_http(b"POST", b"/")
    assert routed_to_http(b"HEAD", b"/health")
    assert not routed_to_http(b"GET", b"/")
    assert not routed_to_http(b"GET", b"/v2")
    assert not routed_to_http(b"GET", b"/health")
    assert not routed_to_http(b"GET", b"/v1x")
