"""Unit tests of the sans-I/O protocol (server half and client half)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from parley_server.protocol import (
    FRAME_MS_DEFAULT,
    MAX_ID_CHARS,
    PROTOCOL_VERSION,
    SEED_MAX,
    AudioReceived,
    Cancelled,
    ClientProtocol,
    ClientState,
    ConnectionState,
    Done,
    ErrorCode,
    Hello,
    InvalidStateError,
    ProtocolErrorEvent,
    ProtocolViolation,
    RequestState,
    ServerError,
    ServerInfo,
    ServerProtocol,
    Started,
    StartSynthesis,
    StopSynthesis,
    UnknownMessage,
    VoiceDescription,
    VoicesListed,
)

VOICES = (
    VoiceDescription("heart", "en-US", "female", 24000, "hibari", description="warm"),
    VoiceDescription("joe", "en-US", "male", 22050, "piper"),
)
INFO = ServerInfo(
    server="parley/test",
    voices=VOICES,
    default_voice="heart",
    max_text_chars=100,
    speed_min=0.5,
    speed_max=2.0,
    max_queued_requests=3,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def proto(clock: FakeClock) -> ServerProtocol:
    p = ServerProtocol(INFO, clock=clock)
    p.connection_made()
    p.data_to_send()  # drop hello
    return p


def speak(rid: str = "a", text: str = "Hello there.", **fields: object) -> str:
    return json.dumps({"type": "speak", "id": rid, "text": text, **fields})


def sent_json(p: ServerProtocol) -> list[dict[str, object]]:
    out = []
    for m in p.data_to_send():
        assert isinstance(m, str), "expected only text messages"
        out.append(json.loads(m))
    return out


def pcm16(n: int) -> bytes:
    return np.zeros(n, "<i2").tobytes()


# -- hello, voices ------------------------------------------------------------------------------


def test_hello_is_sent_first(clock: FakeClock) -> None:
    p = ServerProtocol(INFO, clock=clock)
    assert p.state is ConnectionState.CONNECTING
    p.connection_made()
    assert p.state is ConnectionState.OPEN
    [hello] = sent_json(p)
    assert hello["type"] == "hello"
    assert hello["protocol"] == PROTOCOL_VERSION == 1
    assert hello["server"] == "parley/test"
    assert hello["max_text_chars"] == 100
    assert hello["formats"] == ["pcm_s16le", "pcm_f32le"]
    assert hello["default_voice"] == "heart"


def test_connection_made_twice_is_a_caller_bug(proto: ServerProtocol) -> None:
    with pytest.raises(InvalidStateError):
        proto.connection_made()


def test_receive_before_connection_made_is_a_caller_bug() -> None:
    p = ServerProtocol(INFO)
    with pytest.raises(InvalidStateError):
        p.receive_text(speak())


def test_voices(proto: ServerProtocol) -> None:
    assert proto.receive_text('{"type": "voices"}') == []
    [msg] = sent_json(proto)
    assert msg["type"] == "voices"
    voices = msg["voices"]
    assert isinstance(voices, list)
    assert [v["id"] for v in voices] == ["heart", "joe"]
    assert voices[0] == {
        "id": "heart",
        "language": "en-US",
        "gender": "female",
        "sample_rate_hz": 24000,
        "backend": "hibari",
        "cloneable": False,
        "description": "warm",
    }


def test_server_info_is_validated() -> None:
    with pytest.raises(ValueError, match="default_voice"):
        ServerInfo("s", VOICES, "nobody", 100, 0.5, 2.0)
    with pytest.raises(ValueError, match="unique"):
        ServerInfo("s", VOICES + VOICES[:1], "heart", 100, 0.5, 2.0)


# -- a request's life ---------------------------------------------------------------------------


def test_speak_defaults_and_full_stream(proto: ServerProtocol, clock: FakeClock) -> None:
    [ev] = proto.receive_text(speak("a"))
    assert isinstance(ev, StartSynthesis)
    req = ev.request
    assert (req.id, req.text, req.voice, req.format, req.frame_ms, req.speed, req.seed) == (
        "a",
        "Hello there.",
        "heart",
        "pcm_s16le",
        FRAME_MS_DEFAULT,
        1.0,
        None,
    )
    assert req.received_at_s == 1000.0
    assert proto.data_to_send() == []
    assert proto.request_state("a") is RequestState.SYNTHESIZING

    clock.now += 0.010
    assert proto.start("a", sample_rate_hz=24000)
    [start] = sent_json(proto)
    assert start == {
        "type": "start",
        "id": "a",
        "sample_rate_hz": 24000,
        "channels": 1,
        "format": "pcm_s16le",
        "frame_ms": 20,
        "frame_samples": 480,
    }
    assert proto.request_state("a") is RequestState.STREAMING

    clock.now += 0.040  # first frame 50 ms after receipt
    assert proto.audio("a", pcm16(480))
    assert proto.audio("a", pcm16(480))
    assert proto.audio("a", pcm16(240))
    frames = proto.data_to_send()
    assert [len(f) for f in frames] == [960, 960, 480]
    assert all(isinstance(f, bytes) for f in frames)

    clock.now += 0.100
    assert proto.done("a", chunks=2, synthesis_ms=12.5, paused_ms=0.0) == []
    [done] = sent_json(proto)
    assert done["type"] == "done" and done["id"] == "a"
    assert done["audio_ms"] == 50.0
    assert done["first_audio_ms"] == pytest.approx(50.0)
    assert done["chunks"] == 2
    assert done["frames"] == 3
    assert done["samples"] == 1200
    assert done["queued_ms"] == 0.0
    assert done["total_ms"] == pytest.approx(150.0)
    assert done["synthesis_ms"] == 12.5
    assert done["rtf"] == pytest.approx(0.25)
    assert proto.request_state("a") is None
    assert proto.active_request is None


def test_all_speak_fields(proto: ServerProtocol) -> None:
    msg = speak("x", voice="joe", format="pcm_f32le", frame_ms=10, speed=1.5, seed=7)
    [ev] = proto.receive_text(msg)
    assert isinstance(ev, StartSynthesis)
    r = ev.request
    assert (r.voice, r.format, r.frame_ms, r.speed, r.seed) == ("joe", "pcm_f32le", 10, 1.5, 7)
    assert proto.start("x", sample_rate_hz=22050)
    [start] = sent_json(proto)
    assert start["frame_samples"] == 220  # floor(22050 * 10 / 1000)


def test_null_optional_fields_mean_defaults(proto: ServerProtocol) -> None:
    msg = speak("x", voice=None, format=None, frame_ms=None, speed=None, seed=None)
    [ev] = proto.receive_text(msg)
    assert isinstance(ev, StartSynthesis)
    assert ev.request.voice == "heart" and ev.request.format == "pcm_s16le"


def test_requests_queue_fifo(proto: ServerProtocol, clock: FakeClock) -> None:
    assert isinstance(proto.receive_text(speak("a"))[0], StartSynthesis)
    assert proto.receive_text(speak("b")) == []
    assert proto.receive_text(speak("c")) == []
    assert [r.id for r in proto.queued_requests] == ["b", "c"]
    assert proto.request_state("b") is RequestState.QUEUED
    proto.start("a", sample_rate_hz=24000)
    proto.audio("a", pcm16(480))
    clock.now += 1.0
    [nxt] = proto.done("a", chunks=1, synthesis_ms=1.0)
    assert isinstance(nxt, StartSynthesis) and nxt.request.id == "b"
    proto.start("b", sample_rate_hz=24000)
    proto.audio("b", pcm16(480))
    [nxt] = proto.done("b", chunks=1, synthesis_ms=1.0)
    assert isinstance(nxt, StartSynthesis) and nxt.request.id == "c"
    msgs = proto.data_to_send()
    types = [json.loads(m)["type"] if isinstance(m, str) else "bin" for m in msgs]
    assert types == ["start", "bin", "done", "start", "bin", "done"]
    done_b = json.loads(msgs[5])
    assert done_b["queued_ms"] == pytest.approx(1000.0)


def test_ids_can_be_reused_once_ended(proto: ServerProtocol) -> None:
    proto.receive_text(speak("a"))
    proto.start("a", sample_rate_hz=24000)
    proto.audio("a", pcm16(10))
    proto.done("a", chunks=1, synthesis_ms=1.0)
    [ev] = proto.receive_text(speak("a"))
    assert isinstance(ev, StartSynthesis)


def test_fail_sends_error_with_id_and_moves_on(proto: ServerProtocol) -> None:
    proto.receive_text(speak("a"))
    proto.receive_text(speak("b"))
    proto.data_to_send()
    [ev] = proto.fail("a", "synthesis_failed", "the model broke", None)
    assert isinstance(ev, StartSynthesis) and ev.request.id == "b"
    [err] = sent_json(proto)
    assert err == {
        "type": "error",
        "id": "a",
        "code": "synthesis_failed",
        "message": "the model broke",
        "field": None,
    }


def test_request_with_no_audio_still_has_done(proto: ServerProtocol) -> None:
    proto.receive_text(speak("a"))
    proto.start("a", sample_rate_hz=24000)
    proto.done("a", chunks=0, synthesis_ms=1.0)
    start, done = sent_json(proto)
    assert done["audio_ms"] == 0.0 and done["first_audio_ms"] is None and done["rtf"] is None


def test_adapter_misuse_raises(proto: ServerProtocol) -> None:
    proto.receive_text(speak("a"))
    with pytest.raises(InvalidStateError):
        proto.audio("a", pcm16(4))  # before start
    with pytest.raises(InvalidStateError):
        proto.done("a", chunks=0, synthesis_ms=0.0)
    proto.start("a", sample_rate_hz=24000)
    with pytest.raises(InvalidStateError):
        proto.start("a", sample_rate_hz=24000)
    with pytest.raises(ValueError):
        proto.audio("a", b"\x00\x00\x00")  # not whole int16 samples
    with pytest.raises(ValueError):
        proto.audio("a", b"")


# -- cancel -------------------------------------------------------------------------------------


def test_cancel_queued(proto: ServerProtocol) -> None:
    proto.receive_text(speak("a"))
    proto.receive_text(speak("b"))
    proto.receive_text(speak("c"))
    assert proto.receive_text('{"type":"cancel","id":"b"}') == []
    assert sent_json(proto) == [{"type": "cancelled", "id": "b", "audio_ms_sent": 0.0}]
    assert [r.id for r in proto.queued_requests] == ["c"]
    proto.start("a", sample_rate_hz=24000)
    [nxt] = proto.done("a", chunks=0, synthesis_ms=0.0)
    assert isinstance(nxt, StartSynthesis) and nxt.request.id == "c"


def test_cancel_streaming_stops_frames_at_once(proto: ServerProtocol) -> None:
    proto.receive_text(speak("a"))
    proto.receive_text(speak("b"))
    proto.start("a", sample_rate_hz=24000)
    for _ in range(5):
        proto.audio("a", pcm16(480))
    proto.data_to_send()
    events = proto.receive_text('{"type":"cancel","id":"a"}')
    assert events[0] == StopSynthesis("a", "cancel")
    assert isinstance(events[1], StartSynthesis) and events[1].request.id == "b"
    assert sent_json(proto) == [{"type": "cancelled", "id": "a", "audio_ms_sent": 100.0}]
    # Whatever the synthesis side still had in flight is refused.
    assert proto.audio("a", pcm16(480)) is False
    assert proto.start("a", sample_rate_hz=24000) is False
    assert proto.done("a", chunks=1, synthesis_ms=1.0) == []
    assert proto.fail("a", "internal_error", "x") == []
    assert proto.data_to_send() == []
    # The next request streams normally.
    assert proto.start("b", sample_rate_hz=24000)


def test_cancel_before_start(proto: ServerProtocol) -> None:
    proto.receive_text(speak("a"))
    [stop] = proto.receive_text('{"type":"cancel","id":"a"}')
    assert stop == StopSynthesis("a", "cancel")
    assert sent_json(proto) == [{"type": "cancelled", "id": "a", "audio_ms_sent": 0.0}]
    assert proto.start("a", sample_rate_hz=24000) is False


def test_cancel_unknown_and_finished_ids(proto: ServerProtocol) -> None:
    [ev] = proto.receive_text('{"type":"cancel","id":"nope"}')
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == "unknown_id" and ev.request_id == "nope"
    [err] = sent_json(proto)
    assert err["id"] == "nope" and err["field"] == "id"
    proto.receive_text(speak("a"))
    proto.start("a", sample_rate_hz=24000)
    proto.done("a", chunks=0, synthesis_ms=0.0)
    [ev] = proto.receive_text('{"type":"cancel","id":"a"}')
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == "unknown_id"


# -- disconnect ---------------------------------------------------------------------------------


def test_connection_lost_stops_active_and_drops_queue(proto: ServerProtocol) -> None:
    proto.receive_text(speak("a"))
    proto.receive_text(speak("b"))
    proto.start("a", sample_rate_hz=24000)
    assert proto.connection_lost() == [StopSynthesis("a", "disconnect")]
    assert proto.state is ConnectionState.CLOSED
    assert proto.data_to_send() == []
    assert proto.audio("a", pcm16(480)) is False
    assert proto.done("a", chunks=0, synthesis_ms=0.0) == []
    assert proto.queued_requests == ()
    assert proto.connection_lost() == []
    with pytest.raises(InvalidStateError):
        proto.receive_text(speak("c"))


# -- bad input: every case has a stable code, names the field, and the connection carries on ----

LONG = "x" * 101
BAD_INPUT: list[tuple[str, str, str | None, str | None]] = [
    # (message, code, field, id echoed in the error)
    ("{not json", "invalid_json", None, None),
    ('{"type": "speak", "speed": NaN}', "invalid_json", None, None),
    ("[1, 2]", "invalid_message", None, None),
    ('"speak"', "invalid_message", None, None),
    ("null", "invalid_message", None, None),
    ('{"id": "a"}', "invalid_message", "type", "a"),
    ('{"type": 5}', "invalid_message", "type", None),
    ('{"type": "sing", "id": "a"}', "unknown_type", "type", "a"),
    ('{"type": "speak", "text": "hi"}', "invalid_id", "id", None),
    ('{"type": "speak", "id": 5, "text": "hi"}', "invalid_id", "id", None),
    ('{"type": "speak", "id": "", "text": "hi"}', "invalid_id", "id", None),
    (speak("i" * (MAX_ID_CHARS + 1)), "invalid_id", "id", None),
    ('{"type": "speak", "id": "\\ud800", "text": "hi"}', "invalid_id", "id", None),
    ('{"type": "speak", "id": "a"}', "empty_text", "text", "a"),
    (speak("a", ""), "empty_text", "text", "a"),
    (speak("a", " \n\t "), "empty_text", "text", "a"),
    ('{"type": "speak", "id": "a", "text": 3}', "invalid_field", "text", "a"),
    ('{"type": "speak", "id": "a", "text": "\\udc00 hi"}', "invalid_field", "text", "a"),
    (speak("a", LONG), "text_too_long", "text", "a"),
    (speak("a", voice="nobody"), "unknown_voice", "voice", "a"),
    (speak("a", voice=3), "invalid_field", "voice", "a"),
    (speak("a", format="mp3"), "unsupported_format", "format", "a"),
    (speak("a", format=["pcm_s16le"]), "invalid_field", "format", "a"),
    (speak("a", frame_ms=9), "invalid_setting", "frame_ms", "a"),
    (speak("a", frame_ms=101), "invalid_setting", "frame_ms", "a"),
    (speak("a", frame_ms=20.5), "invalid_setting", "frame_ms", "a"),
    (speak("a", frame_ms="20"), "invalid_setting", "frame_ms", "a"),
    (speak("a", frame_ms=True), "invalid_setting", "frame_ms", "a"),
    (speak("a", speed=0.1), "invalid_setting", "speed", "a"),
    (speak("a", speed=3), "invalid_setting", "speed", "a"),
    (speak("a", speed="fast"), "invalid_setting", "speed", "a"),
    (speak("a", speed=False), "invalid_setting", "speed", "a"),
    ('{"type": "speak", "id": "a", "text": "hi", "speed": 1e999}', "invalid_setting", "speed", "a"),
    (
        '{"type": "speak", "id": "a", "text": "hi", "speed": ' + "9" * 400 + "}",
        "invalid_setting",
        "speed",
        "a",
    ),
    (speak("a", seed=-1), "invalid_setting", "seed", "a"),
    (speak("a", seed=SEED_MAX + 1), "invalid_setting", "seed", "a"),
    (speak("a", seed=1.5), "invalid_setting", "seed", "a"),
    (speak("a", seed="1"), "invalid_setting", "seed", "a"),
    (speak("a", sped=1.2), "unknown_field", "sped", "a"),
    ('{"type": "cancel"}', "invalid_id", "id", None),
    ('{"type": "cancel", "id": 7}', "invalid_id", "id", None),
    ('{"type": "cancel", "id": "ghost"}', "unknown_id", "id", "ghost"),
    ('{"type": "cancel", "id": "ghost", "now": true}', "unknown_field", "now", "ghost"),
    ('{"type": "voices", "all": true}', "unknown_field", "all", None),
    ("[" * 100_000, "invalid_json", None, None),
    ('{"type": "speak", "id": "a", "text": "hi", "seed": ' + "1" * 5000 + "}", "invalid_json", None, None),
]


@pytest.mark.parametrize(("message", "code", "field", "echo_id"), BAD_INPUT)
def test_bad_input_gets_error_and_connection_carries_on(
    proto: ServerProtocol, message: str, code: str, field: str | None, echo_id: str | None
) -> None:
    # A request is streaming while the bad message arrives; it must not be disturbed.
    proto.receive_text(speak("busy"))
    proto.start("busy", sample_rate_hz=24000)
    proto.data_to_send()

    [ev] = proto.receive_text(message)
    assert isinstance(ev, ProtocolErrorEvent)
    assert ev.code == code
    assert ErrorCode(code)  # every code is in the documented table
    [err] = sent_json(proto)
    assert err == {"type": "error", "id": echo_id, "code": code, "message": ev.message, "field": field}
    if field is not None:
        assert field in err["message"] or code == "unknown_type", err["message"]
    assert len(str(err["message"])) < 300

    assert proto.request_state("busy") is RequestState.STREAMING
    assert proto.audio("busy", pcm16(480))
    assert proto.receive_text(speak("next")) == []  # queued behind "busy"
    [nxt] = proto.done("busy", chunks=1, synthesis_ms=1.0)
    assert isinstance(nxt, StartSynthesis) and nxt.request.id == "next"


def test_binary_from_client(proto: ServerProtocol) -> None:
    [ev] = proto.receive_bytes(b"\x00\x01")
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == "binary_not_allowed"
    [err] = sent_json(proto)
    assert err["id"] is None and "binary" in str(err["message"])


@pytest.mark.parametrize("state", ["queued", "streaming"])
def test_duplicate_id(proto: ServerProtocol, state: str) -> None:
    proto.receive_text(speak("a"))
    if state == "queued":
        proto.receive_text(speak("b"))
        dup = "b"
    else:
        proto.start("a", sample_rate_hz=24000)
        dup = "a"
    proto.data_to_send()
    [ev] = proto.receive_text(speak(dup, "other text"))
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == "duplicate_id" and ev.request_id == dup
    [err] = sent_json(proto)
    assert err["id"] == dup and err["field"] == "id"
    # The original request is untouched.
    assert proto.request_state(dup) in (RequestState.QUEUED, RequestState.STREAMING)


def test_queue_full(proto: ServerProtocol) -> None:
    proto.receive_text(speak("a"))
    for rid in "bcd":
        assert proto.receive_text(speak(rid)) == []
    [ev] = proto.receive_text(speak("e"))
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == "queue_full" and ev.request_id == "e"
    assert ev.field is None and "3 requests are already queued" in ev.message
    proto.receive_text('{"type":"cancel","id":"b"}')
    assert proto.receive_text(speak("e")) == []


def test_unknown_field_names_are_not_echoed_when_huge(proto: ServerProtocol) -> None:
    [ev] = proto.receive_text(json.dumps({"type": "voices", "k" * 1000: 1}))
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == "unknown_field" and ev.field is None
    assert len(ev.message) < 300


def test_outgoing_messages_are_ascii_json(proto: ServerProtocol) -> None:
    proto.receive_text(json.dumps({"type": "cancel", "id": "é\U0001f600"}))
    [raw] = proto.data_to_send()
    assert isinstance(raw, str) and raw.isascii()
    assert json.loads(raw)["id"] == "é\U0001f600"


# -- client half --------------------------------------------------------------------------------


def pair() -> tuple[ServerProtocol, ClientProtocol]:
    s = ServerProtocol(INFO)
    c = ClientProtocol()
    s.connection_made()
    [hello] = s.data_to_send()
    assert isinstance(hello, str)
    [ev] = c.receive_text(hello)
    assert isinstance(ev, Hello) and ev.protocol == 1 and ev.default_voice == "heart"
    assert c.state is ClientState.OPEN
    return s, c


def pump(s: ServerProtocol, c: ClientProtocol) -> list[object]:
    events: list[object] = []
    for m in s.data_to_send():
        events += c.receive_text(m) if isinstance(m, str) else c.receive_bytes(m)
    return events


def test_client_builds_requests() -> None:
    c = ClientProtocol()
    rid, msg = c.speak("hi", voice="heart", speed=1.2)
    assert json.loads(msg) == {"type": "speak", "id": rid, "text": "hi", "voice": "heart", "speed": 1.2}
    rid2, _ = c.speak("again")
    assert rid2 != rid
    with pytest.raises(ValueError, match="already"):
        c.speak("x", id=rid)
    with pytest.raises(ValueError, match="id"):
        c.speak("x", id="")
    with pytest.raises(ValueError, match="id"):
        c.speak("x", id="z" * 65)
    assert json.loads(c.cancel(rid)) == {"type": "cancel", "id": rid}
    assert json.loads(c.voices()) == {"type": "voices"}


def test_client_server_round_trip() -> None:
    s, c = pair()
    rid, msg = c.speak("Hello.", format="pcm_f32le")
    [ev] = s.receive_text(msg)
    assert isinstance(ev, StartSynthesis)
    s.start(rid, sample_rate_hz=24000)
    samples = np.linspace(-1, 1, 480, dtype=np.float32)
    s.audio(rid, samples.astype("<f4").tobytes())
    s.done(rid, chunks=1, synthesis_ms=2.0)
    started, audio, done = pump(s, c)
    assert isinstance(started, Started) and started.sample_rate_hz == 24000 and started.format == "pcm_f32le"
    assert isinstance(audio, AudioReceived) and audio.id == rid
    np.testing.assert_array_equal(audio.samples, samples)
    assert isinstance(done, Done) and done.id == rid and done.audio_ms == 20.0 and done.chunks == 1
    assert done.stats["synthesis_ms"] == 2.0
    assert c.outstanding == () and c.streaming is None

    s.receive_text(c.voices())
    [voices] = pump(s, c)
    assert isinstance(voices, VoicesListed) and voices.voices == VOICES


def test_client_error_and_cancel_end_requests() -> None:
    s, c = pair()
    bad, msg = c.speak("hi", voice="nobody")
    s.receive_text(msg)
    [err] = pump(s, c)
    assert isinstance(err, ServerError) and err.code == "unknown_voice" and err.id == bad and err.ends_request
    assert bad not in c.outstanding

    a, msg = c.speak("a")
    s.receive_text(msg)
    b, msg = c.speak("b")
    s.receive_text(msg)
    s.start(a, sample_rate_hz=24000)
    s.audio(a, pcm16(480))
    s.receive_text(c.cancel(b))
    s.receive_text(c.cancel(a))
    events = pump(s, c)
    assert [type(e) for e in events] == [Started, AudioReceived, Cancelled, Cancelled]
    assert c.outstanding == ()
    # A stale cancel gets unknown_id, which ends nothing.
    s.receive_text(c.cancel(a))
    [stale] = pump(s, c)
    assert isinstance(stale, ServerError) and stale.code == "unknown_id" and not stale.ends_request


def test_client_duplicate_id_error_does_not_end_the_original() -> None:
    s, c = pair()
    rid, msg = c.speak("a", id="same")
    s.receive_text(msg)
    s.receive_text(msg)  # a buggy client resends the same message
    [err] = pump(s, c)
    assert isinstance(err, ServerError) and err.code == "duplicate_id" and not err.ends_request
    assert c.outstanding == ("same",)


@pytest.mark.parametrize(
    "message",
    [
        "nonsense",
        "[]",
        '{"type": 1}',
        '{"type": "start", "id": "r1", "sample_rate_hz": 24000, "channels": 1, "format": "pcm_s16le"}',
        '{"type": "done", "id": "r1", "audio_ms": 1, "first_audio_ms": 1, "chunks": 1}',
        '{"type": "cancelled", "id": "zzz", "audio_ms_sent": 0}',
        '{"type": "voices", "voices": [1]}',
        '{"type": "hello", "protocol": 1, "server": "x", "max_text_chars": 1, "formats": []}',
        '{"type": "start", "id": "r1", "sample_rate_hz": true, "channels": 1, "format": "pcm_s16le", '
        '"frame_ms": 20}',
    ],
)
def test_client_reports_server_violations(message: str) -> None:
    s, c = pair()
    c.speak("x")
    [ev] = c.receive_text(message)
    assert isinstance(ev, ProtocolViolation)


def test_client_binary_outside_request_is_a_violation() -> None:
    s, c = pair()
    [ev] = c.receive_bytes(b"\x00\x00")
    assert isinstance(ev, ProtocolViolation)


def test_client_requires_hello_first_and_matching_version() -> None:
    c = ClientProtocol()
    [ev] = c.receive_text('{"type": "voices", "voices": []}')
    assert isinstance(ev, ProtocolViolation)
    [ev] = c.receive_text(
        '{"type": "hello", "protocol": 2, "server": "x", "max_text_chars": 1, "formats": ["pcm_s16le"]}'
    )
    assert isinstance(ev, ProtocolViolation) and "protocol 2" in ev.message


def test_client_ignores_unknown_message_types() -> None:
    s, c = pair()
    [ev] = c.receive_text('{"type": "progress", "x": 1}')
    assert isinstance(ev, UnknownMessage) and ev.type == "progress"


@pytest.mark.parametrize("language", ["en-US", "en", "EN-us", "en_US"])
def test_language_the_voice_speaks_is_accepted(proto: ServerProtocol, language: str) -> None:
    proto.receive_text(speak(language=language))
    assert all(m["type"] != "error" for m in sent_json(proto))
    assert proto.request_state("a") is not None


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("fr-FR", "unsupported_language"),
        ("e", "unsupported_language"),
        (42, "invalid_field"),
        ("", "invalid_field"),
    ],
)
def test_language_the_voice_does_not_speak_is_refused(
    proto: ServerProtocol, language: object, code: str
) -> None:
    proto.receive_text(speak(language=language))
    err = sent_json(proto)[-1]
    assert err["type"] == "error" and err["code"] == code and err["field"] == "language"
    assert err["id"] == "a"
