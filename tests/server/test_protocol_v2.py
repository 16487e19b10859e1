"""Unit tests of the sans-I/O protocol v2 (server half, client half, frame header)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from parley_server.protocol import (
    ConnectionState,
    InvalidStateError,
    ProtocolErrorEvent,
    ServerInfo,
    VoiceDescription,
)
from parley_server.protocol_v2 import (
    FLAG_PIECE_END,
    HEADER,
    ClientProtocolV2,
    ContextAudio,
    ContextCancelled,
    ContextCreated,
    ContextDone,
    ContextError,
    ContextState,
    EndContext,
    HelloV2,
    OpenContext,
    PhonemeStamp,
    ServerInfoV2,
    ServerProtocolV2,
    SpeakPieces,
    StopContext,
    Timestamps,
    UpdateContext,
    VoiceSettings,
    WordStamp,
    pack_header,
    parse_header,
)

VOICES = (
    VoiceDescription("heart", "en-US", "female", 24000, "hibari"),
    VoiceDescription("joe", "en-US", "male", 22050, "piper"),
)
BASE = ServerInfo(
    server="parley/test",
    voices=VOICES,
    default_voice="heart",
    max_text_chars=100,
    speed_min=0.5,
    speed_max=4.0,
)
INFO = ServerInfoV2(BASE, max_contexts=3, max_pending_chars=150)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> ServerProtocolV2:
    p = ServerProtocolV2(INFO, clock=clock)
    p.connection_made()
    p.data_to_send()
    return p


def send(p: ServerProtocolV2, **msg: object) -> list[object]:
    return list(p.receive_text(json.dumps(msg)))


def sent(p: ServerProtocolV2) -> list[dict[str, object]]:
    out = []
    for m in p.data_to_send():
        assert isinstance(m, str)
        out.append(json.loads(m))
    return out


def error_of(p: ServerProtocolV2, **msg: object) -> dict[str, object]:
    events = send(p, **msg)
    assert len(events) == 1 and isinstance(events[0], ProtocolErrorEvent), events
    [err] = sent(p)
    assert err["type"] == "error" and err["closed"] is False
    return err


# -- header ----------------------------------------------------------------------------------------


def test_header_layout_is_20_bytes_little_endian() -> None:
    assert HEADER.size == 20
    raw = pack_header(stream=0x01020304, seq=7, sample_offset=2**40 + 5, flags=FLAG_PIECE_END, format="mulaw")
    assert raw == b"P\x02\x01\x03" + struct.pack("<I", 0x01020304) + struct.pack("<I", 7) + struct.pack(
        "<Q", 2**40 + 5
    )
    h = parse_header(raw + b"\x00")
    assert (h.stream, h.seq, h.sample_offset, h.format, h.piece_end) == (
        0x01020304,
        7,
        2**40 + 5,
        "mulaw",
        True,
    )


@pytest.mark.parametrize(
    "data", [b"", b"P\x02", b"Q" + bytes(19), b"P\x01" + bytes(18), b"P\x02\x00\x09" + bytes(16)]
)
def test_bad_headers_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_header(data)


# -- hello and create ------------------------------------------------------------------------------


def test_hello(clock: FakeClock) -> None:
    p = ServerProtocolV2(INFO, clock=clock)
    p.connection_made()
    [hello] = sent(p)
    assert hello["protocol"] == 2 and hello["max_contexts"] == 3 and hello["speed_max"] == 4.0
    assert hello["formats"] == ["pcm_s16le", "pcm_f32le", "mulaw", "alaw"]
    assert hello["sample_rates_hz"] == [8000, 16000, 22050, 24000, 44100, 48000]
    assert hello["header"] == {"bytes": 20, "struct": "<BBBBIIQ", "magic": 0x50}
    with pytest.raises(InvalidStateError):
        p.connection_made()


def test_create_assigns_streams_and_defaults(server: ServerProtocolV2) -> None:
    [ev] = send(server, type="create", context="npc1")
    assert isinstance(ev, OpenContext)
    cfg = ev.config
    assert (cfg.stream, cfg.voice, cfg.format, cfg.sample_rate_hz, cfg.voice_rate_hz) == (
        1,
        "heart",
        "pcm_s16le",
        24000,
        24000,
    )
    assert (cfg.frame_ms, cfg.timestamps, cfg.latency_budget_ms, cfg.settings) == (
        20,
        "none",
        500.0,
        VoiceSettings(),
    )
    [created] = sent(server)
    assert created == {
        "type": "created", "context": "npc1", "stream": 1, "voice": "heart", "sample_rate_hz": 24000,
        "channels": 1, "format": "pcm_s16le", "frame_ms": 20, "frame_samples": 480, "timestamps": "none",
    }  # fmt: skip
    [ev2] = send(server, type="create", context="npc2", voice="joe", format="mulaw", timestamps="phoneme")
    assert isinstance(ev2, OpenContext)
    assert (ev2.config.stream, ev2.config.sample_rate_hz, ev2.config.voice_rate_hz) == (2, 8000, 22050)
    assert server.open_contexts == ("npc1", "npc2")


def test_create_with_text_and_end_is_a_one_shot(server: ServerProtocolV2) -> None:
    events = send(server, type="create", context="a", text="Hi there. How are you", end=True)
    assert [type(e) for e in events] == [OpenContext, SpeakPieces, EndContext]
    speak = events[1]
    assert isinstance(speak, SpeakPieces)
    assert [(p.text, p.start_char, p.end_char) for p in speak.pieces] == [
        ("Hi there.", 0, 9),
        ("How are you", 10, 21),
    ]
    assert server.context_state("a") is ContextState.ENDING


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"voice": "nobody"}, "unknown_voice", "voice"),
        ({"voice": 3}, "invalid_field", "voice"),
        ({"format": "mp3"}, "unsupported_format", "format"),
        ({"sample_rate_hz": 12345}, "unsupported_sample_rate", "sample_rate_hz"),
        ({"sample_rate_hz": "8000"}, "invalid_setting", "sample_rate_hz"),
        ({"format": "alaw", "sample_rate_hz": 16000}, "unsupported_sample_rate", "sample_rate_hz"),
        ({"frame_ms": 5}, "invalid_setting", "frame_ms"),
        ({"speed": 4.5}, "invalid_setting", "speed"),
        ({"speed": 0.4}, "invalid_setting", "speed"),
        ({"speed": True}, "invalid_setting", "speed"),
        ({"pitch_semitones": 12.5}, "invalid_setting", "pitch_semitones"),
        ({"volume_db": -41}, "invalid_setting", "volume_db"),
        ({"volume_db": 13}, "invalid_setting", "volume_db"),
        ({"seed": -1}, "invalid_setting", "seed"),
        ({"latency_budget_ms": 20000}, "invalid_setting", "latency_budget_ms"),
        ({"latency_budget_ms": "soon"}, "invalid_setting", "latency_budget_ms"),
        ({"timestamps": "char"}, "invalid_setting", "timestamps"),
        ({"language": "fr"}, "unsupported_language", "language"),
        ({"text": 5}, "invalid_field", "text"),
        ({"text": "x" * 101}, "text_too_long", "text"),
        ({"end": "yes"}, "invalid_field", "end"),
        ({"sped": 2}, "unknown_field", "sped"),
    ],
)
def test_bad_create_names_the_context_and_the_field(
    server: ServerProtocolV2, fields: dict[str, object], code: str, field: str
) -> None:
    err = error_of(server, type="create", context="npc1", **fields)
    assert (err["code"], err["field"], err["context"]) == (code, field, "npc1")
    assert str(err["message"]).startswith('context "npc1"') or code == "unknown_field"
    assert field in str(err["message"])
    assert not server.open_contexts
    send(server, type="create", context="npc1")  # the connection carries on
    assert list(server.open_contexts) == ["npc1"]


def test_extreme_settings_within_range_are_accepted(server: ServerProtocolV2) -> None:
    [ev] = send(
        server,
        type="create",
        context="a",
        speed=4,
        pitch_semitones=-12,
        volume_db=12,
        latency_budget_ms=False,
    )
    assert isinstance(ev, OpenContext)
    assert ev.config.settings == VoiceSettings(4.0, -12.0, 12.0) and ev.config.latency_budget_ms is None


def test_duplicate_and_too_many_contexts(server: ServerProtocolV2) -> None:
    send(server, type="create", context="a")
    sent(server)
    err = error_of(server, type="create", context="a")
    assert err["code"] == "duplicate_context" and err["context"] == "a"
    send(server, type="create", context="b")
    send(server, type="create", context="c")
    sent(server)
    err = error_of(server, type="create", context="d")
    assert err["code"] == "too_many_contexts" and "limit is 3" in str(err["message"])
    send(server, type="cancel", context="a")
    sent(server)
    assert isinstance(send(server, type="create", context="d")[0], OpenContext)


@pytest.mark.parametrize("context", [None, 7, "", "x" * 65])
def test_invalid_context_ids(server: ServerProtocolV2, context: object) -> None:
    msg: dict[str, object] = {"type": "text", "text": "hi"}
    if context is not None:
        msg["context"] = context
    err = error_of(server, **msg)
    assert err["code"] == "invalid_context" and err["field"] == "context"


# -- text, flush, end, update ----------------------------------------------------------------------


def test_text_flush_end(server: ServerProtocolV2) -> None:
    send(server, type="create", context="a", latency_budget_ms=False)
    sent(server)
    assert send(server, type="text", context="a", text="So what") == []
    [ev] = send(server, type="flush", context="a")
    assert isinstance(ev, SpeakPieces) and [p.text for p in ev.pieces] == ["So what"]
    assert send(server, type="text", context="a", text=" now?") != []  # "?" ends a sentence at once
    events = send(server, type="end", context="a")
    assert [type(e) for e in events] == [EndContext]
    err = error_of(server, type="text", context="a", text="more")
    assert err["code"] == "context_ended" and err["field"] == "context"
    assert error_of(server, type="update", context="a", speed=2)["code"] == "context_ended"
    assert error_of(server, type="flush", context="a")["code"] == "context_ended"


def test_unknown_context_and_recently_ended_one(server: ServerProtocolV2) -> None:
    assert error_of(server, type="text", context="ghost", text="boo")["code"] == "unknown_context"
    assert error_of(server, type="cancel", context="ghost")["code"] == "unknown_context"
    send(server, type="create", context="a")
    send(server, type="cancel", context="a")
    sent(server)
    err = error_of(server, type="text", context="a", text="hello")
    assert err["code"] == "context_ended" and "has ended" in str(err["message"])


def test_text_message_needs_text(server: ServerProtocolV2) -> None:
    send(server, type="create", context="a")
    sent(server)
    assert error_of(server, type="text", context="a")["field"] == "text"


def test_update(server: ServerProtocolV2) -> None:
    send(server, type="create", context="a", speed=1.5)
    sent(server)
    [ev] = send(server, type="update", context="a", volume_db=-6)
    assert ev == UpdateContext("a", VoiceSettings(1.5, 0.0, -6.0))  # unnamed settings are kept
    err = error_of(server, type="update", context="a", pitch_semitones=20)
    assert (err["code"], err["field"], err["context"]) == ("invalid_setting", "pitch_semitones", "a")
    assert error_of(server, type="update", context="a")["code"] == "invalid_message"
    assert error_of(server, type="update", context="a", voice="joe")["code"] == "unknown_field"


def test_pending_text_is_bounded_and_freed_as_it_is_spoken(server: ServerProtocolV2) -> None:
    send(server, type="create", context="a", latency_budget_ms=False)
    sent(server)
    send(server, type="text", context="a", text="word " * 20)  # 100 characters
    err = error_of(server, type="text", context="a", text="x" * 60)  # 160 > 150
    assert (
        err["code"] == "text_too_long" and err["field"] == "text" and "not yet spoken" in str(err["message"])
    )
    server.piece_spoken("a", 60)
    assert send(server, type="text", context="a", text="x" * 60) == []


def test_latency_budget_through_poll(server: ServerProtocolV2, clock: FakeClock) -> None:
    send(server, type="create", context="a", latency_budget_ms=200)
    send(server, type="create", context="b", latency_budget_ms=False)
    sent(server)
    send(server, type="text", context="a", text="so we went ")
    send(server, type="text", context="b", text="so we went ")
    assert server.next_due_s() == pytest.approx(1000.2)
    clock.now = 1000.1
    assert server.poll() == []
    clock.now = 1000.2
    [ev] = server.poll()
    assert isinstance(ev, SpeakPieces) and ev.context == "a" and ev.pieces[0].reason == "budget"
    assert server.next_due_s() is None


# -- audio, timestamps, done, cancel, fail ---------------------------------------------------------


def open_ctx(p: ServerProtocolV2, cid: str = "a", **fields: object) -> int:
    [ev] = [e for e in send(p, type="create", context=cid, **fields) if isinstance(e, OpenContext)]
    sent(p)
    return ev.config.stream


def test_audio_frames_carry_stream_sequence_and_offset(server: ServerProtocolV2, clock: FakeClock) -> None:
    stream = open_ctx(server)
    clock.now += 0.05
    assert server.audio("a", b"\x01\x00" * 480)
    assert server.audio("a", b"\x02\x00" * 100, piece_end=True)
    frames = server.data_to_send()
    assert all(isinstance(f, bytes) for f in frames)
    h0, h1 = (parse_header(f) for f in frames if isinstance(f, bytes))
    assert (h0.stream, h0.seq, h0.sample_offset, h0.piece_end) == (stream, 0, 0, False)
    assert (h1.stream, h1.seq, h1.sample_offset, h1.piece_end) == (stream, 1, 480, True)
    with pytest.raises(ValueError):
        server.audio("a", b"\x01")  # not whole samples
    send(server, type="end", context="a")
    clock.now += 0.1
    server.done("a", chunks=2, synthesis_ms=3.0)
    [done] = sent(server)
    assert (
        done["type"] == "done" and done["context"] == "a" and done["samples"] == 580 and done["frames"] == 2
    )
    assert done["audio_ms"] == pytest.approx(580 / 24, abs=1e-3) and done["first_audio_ms"] == pytest.approx(
        50
    )
    assert done["total_ms"] == pytest.approx(150)
    assert server.context_state("a") is None and not server.audio("a", b"\x00\x00")


def test_done_before_end_is_a_caller_bug(server: ServerProtocolV2) -> None:
    open_ctx(server)
    with pytest.raises(InvalidStateError):
        server.done("a", chunks=0, synthesis_ms=0)


def test_cancel_reports_audio_sent_and_refuses_later_frames(server: ServerProtocolV2) -> None:
    open_ctx(server, "a")
    open_ctx(server, "b")
    server.audio("a", bytes(960))
    server.audio("b", bytes(960))
    server.data_to_send()
    events = send(server, type="cancel", context="a")
    assert events == [StopContext("a", "cancel")]
    [msg] = sent(server)
    assert msg == {
        "type": "cancelled",
        "context": "a",
        "stream": 1,
        "audio_ms_sent": 20.0,
        "samples_sent": 480,
    }
    assert not server.audio("a", bytes(960)) and server.data_to_send() == []
    assert server.audio("b", bytes(960))  # the other context carries on


def test_timestamps_only_when_asked(server: ServerProtocolV2) -> None:
    open_ctx(server, "plain")
    open_ctx(server, "words", timestamps="word")
    open_ctx(server, "phones", timestamps="phoneme")
    w = WordStamp("hello", 3, 8, 100, 900, (PhonemeStamp("h", 100, 200), PhonemeStamp("ə", 200, 400)))
    assert not server.timestamps("plain", [w])
    assert server.timestamps("words", [w]) and server.timestamps("phones", [w])
    a, b = sent(server)
    assert a["words"] == [
        {"word": "hello", "char_start": 3, "char_end": 8, "start_sample": 100, "end_sample": 900}
    ]
    assert b["words"][0]["phonemes"] == [  # type: ignore[index]
        {"phoneme": "h", "start_sample": 100, "end_sample": 200},
        {"phoneme": "ə", "start_sample": 200, "end_sample": 400},
    ]
    assert b["context"] == "phones" and b["sample_rate_hz"] == 24000


def test_fail_closes_the_context(server: ServerProtocolV2) -> None:
    open_ctx(server)
    server.fail("a", "invalid_setting", 'context "a": speed refused', "speed")
    [err] = sent(server)
    assert err == {
        "type": "error", "context": "a", "code": "invalid_setting",
        "message": 'context "a": speed refused', "field": "speed", "closed": True,
    }  # fmt: skip
    server.fail("a", "x", "y")  # already gone: ignored
    assert sent(server) == []


def test_connection_lost_stops_every_context(server: ServerProtocolV2) -> None:
    open_ctx(server, "a")
    open_ctx(server, "b")
    events = server.connection_lost()
    assert events == [StopContext("a", "disconnect"), StopContext("b", "disconnect")]
    assert server.state is ConnectionState.CLOSED and not server.audio("a", bytes(2))
    assert server.connection_lost() == [] and server.poll() == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{", "invalid_json"),
        ("[1]", "invalid_message"),
        ('{"context": "a"}', "invalid_message"),
        ('{"type": "speak", "context": "a"}', "unknown_type"),
        ('{"type": "voices", "x": 1}', "unknown_field"),
    ],
)
def test_messages_that_do_not_parse(server: ServerProtocolV2, raw: str, code: str) -> None:
    [ev] = server.receive_text(raw)
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == code


def test_binary_from_client_is_refused(server: ServerProtocolV2) -> None:
    [ev] = server.receive_bytes(b"P\x02")
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == "binary_not_allowed"


def test_voices(server: ServerProtocolV2) -> None:
    assert send(server, type="voices") == []
    [msg] = sent(server)
    voices = msg["voices"]
    assert isinstance(voices, list) and [v["id"] for v in voices] == ["heart", "joe"]


# -- client half -----------------------------------------------------------------------------------


def relay(server: ServerProtocolV2, client: ClientProtocolV2) -> list[object]:
    events: list[object] = []
    for m in server.data_to_send():
        events += client.receive_bytes(m) if isinstance(m, bytes) else client.receive_text(m)
    return events


def test_client_round_trip_demultiplexes_by_header(clock: FakeClock) -> None:
    server = ServerProtocolV2(INFO, clock=clock)
    client = ClientProtocolV2()
    server.connection_made()
    [hello] = relay(server, client)
    assert isinstance(hello, HelloV2) and hello.max_contexts == 3
    for cid, fmt in (("a", "pcm_s16le"), ("b", "mulaw")):
        _, msg = client.create(cid, format=fmt, timestamps="word")
        server.receive_text(msg)
    created = relay(server, client)
    assert [type(e) for e in created] == [ContextCreated, ContextCreated]
    server.audio("a", np.arange(480, dtype="<i2").tobytes())
    server.audio("b", bytes(range(160)))
    server.audio("a", np.arange(10, dtype="<i2").tobytes(), piece_end=True)
    server.timestamps("b", [WordStamp("hi", 0, 2, 0, 80)])
    events = relay(server, client)
    audio = [e for e in events if isinstance(e, ContextAudio)]
    assert [(e.context, e.seq, e.sample_offset, e.samples.size, e.piece_end) for e in audio] == [
        ("a", 0, 0, 480, False),
        ("b", 0, 0, 160, False),
        ("a", 1, 480, 10, True),
    ]
    assert audio[1].samples.dtype == np.uint8 and audio[0].samples.dtype == np.dtype("<i2")
    [ts] = [e for e in events if isinstance(e, Timestamps)]
    assert ts.words == (WordStamp("hi", 0, 2, 0, 80),)
    server.receive_text(client.end("a"))
    server.done("a", chunks=1, synthesis_ms=1)
    server.receive_text(client.cancel("b"))
    done, cancelled = relay(server, client)
    assert isinstance(done, ContextDone) and done.samples == 490
    assert isinstance(cancelled, ContextCancelled) and cancelled.samples_sent == 160
    assert client.open_contexts == ()


def test_client_catches_out_of_order_and_foreign_frames(clock: FakeClock) -> None:
    server = ServerProtocolV2(INFO, clock=clock)
    client = ClientProtocolV2()
    server.connection_made()
    relay(server, client)
    _, msg = client.create("a")
    server.receive_text(msg)
    relay(server, client)
    bad = [
        pack_header(1, 1, 0, 0, "pcm_s16le") + bytes(4),  # skipped a sequence number
        pack_header(1, 0, 5, 0, "pcm_s16le") + bytes(4),  # not contiguous
        pack_header(9, 0, 0, 0, "pcm_s16le") + bytes(4),  # unknown stream
        pack_header(1, 0, 0, 0, "pcm_f32le") + bytes(4),  # wrong format
        pack_header(1, 0, 0, 0, "pcm_s16le") + bytes(3),  # not whole samples
        b"\x00" * 8,
    ]
    for frame in bad:
        [ev] = client.receive_bytes(frame)
        assert type(ev).__name__ == "ProtocolViolation", frame


def test_client_error_events(clock: FakeClock) -> None:
    server = ServerProtocolV2(INFO, clock=clock)
    client = ClientProtocolV2()
    server.connection_made()
    relay(server, client)
    _, msg = client.create("a", speed=9)
    server.receive_text(msg)
    [err] = relay(server, client)
    assert isinstance(err, ContextError) and err.context == "a" and err.field == "speed" and not err.closed
    assert client.open_contexts == ()  # the refused create is forgotten
    _, msg = client.create("a")
    server.receive_text(msg)
    relay(server, client)
    server.fail("a", "synthesis_failed", "boom")
    [err] = relay(server, client)
    assert isinstance(err, ContextError) and err.closed and client.open_contexts == ()
    with pytest.raises(ValueError):
        client.create("b")
        client.create("b")
