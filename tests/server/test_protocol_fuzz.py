"""Fuzz the protocol: whatever a peer sends, the parser answers with events, never an exception,
and the wire it produces keeps the ordering guarantees."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parley_server.protocol import (
    AudioReceived,
    Cancelled,
    ClientProtocol,
    Done,
    ErrorCode,
    ProtocolErrorEvent,
    ProtocolViolation,
    ServerError,
    ServerInfo,
    ServerProtocol,
    StartSynthesis,
    StopSynthesis,
    VoiceDescription,
)

INFO = ServerInfo(
    server="parley/fuzz",
    voices=(VoiceDescription("heart", "en-US", "female", 24000, "hibari"),),
    default_voice="heart",
    max_text_chars=50,
    speed_min=0.5,
    speed_max=2.0,
    max_queued_requests=4,
)
CODES = {c.value for c in ErrorCode}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["type", "id", "text", "voice", "format", "frame_ms", "speed", "seed", "x"])
message_types = st.sampled_from(["speak", "cancel", "voices", "Speak", "", "error"])
ids = st.sampled_from(["a", "b", "c"]) | st.text(max_size=70)

# Objects shaped like requests, with fields drawn from plausible and implausible values.
plausible_fields: dict[str, Any] = {
    "id": ids,
    "text": st.text(max_size=60) | json_values,
    "voice": st.sampled_from(["heart", "nobody", None]) | json_values,
    "format": st.sampled_from(["pcm_s16le", "pcm_f32le", "mp3", None]) | json_values,
    "frame_ms": st.integers(0, 200) | json_values,
    "speed": st.floats(0, 3) | json_values,
    "seed": st.integers(-5, 2**60) | json_values,
}
request_like = st.builds(
    lambda t, fields, extra: {"type": t, **fields, **extra},
    message_types,
    st.fixed_dictionaries({}, optional=plausible_fields),
    st.dictionaries(field_names, json_values, max_size=2),
)


def new_server() -> ServerProtocol:
    p = ServerProtocol(INFO)
    p.connection_made()
    p.data_to_send()
    return p


def check_outbox(p: ServerProtocol) -> None:
    for m in p.data_to_send():
        assert isinstance(m, str)
        msg = json.loads(m)
        assert isinstance(msg, dict) and isinstance(msg["type"], str)
        if msg["type"] == "error":
            assert msg["code"] in CODES
            assert isinstance(msg["message"], str) and msg["message"]


def check_events(events: list[object]) -> None:
    for ev in events:
        assert isinstance(ev, ProtocolErrorEvent | StartSynthesis | StopSynthesis)
        if isinstance(ev, ProtocolErrorEvent):
            assert ev.code in CODES


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text())
def test_any_text(text: str) -> None:
    p = new_server()
    check_events(p.receive_text(text))  # type: ignore[arg-type]
    check_outbox(p)


@FUZZ
@given(st.binary())
def test_any_bytes_decoded_as_text(data: bytes) -> None:
    p = new_server()
    check_events(p.receive_text(data.decode("utf-8", "surrogateescape")))  # type: ignore[arg-type]
    check_outbox(p)


@FUZZ
@given(st.binary())
def test_any_binary_message(data: bytes) -> None:
    p = new_server()
    [ev] = p.receive_bytes(data)
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == "binary_not_allowed"
    check_outbox(p)


@FUZZ
@given(json_values)
def test_any_json_value(value: object) -> None:
    p = new_server()
    check_events(p.receive_text(json.dumps(value)))  # type: ignore[arg-type]
    check_outbox(p)


@FUZZ
@given(st.lists(request_like, max_size=12))
def test_request_shaped_messages(messages: list[dict[str, object]]) -> None:
    p = new_server()
    for msg in messages:
        events = p.receive_text(json.dumps(msg))
        check_events(events)  # type: ignore[arg-type]
        for ev in events:
            if isinstance(ev, StartSynthesis):
                r = ev.request
                assert r.text.strip() and len(r.text) <= INFO.max_text_chars
                assert r.voice == "heart" and r.format in ("pcm_s16le", "pcm_f32le")
                assert 10 <= r.frame_ms <= 100 and 0.5 <= r.speed <= 2.0
        check_outbox(p)
    assert len(p.queued_requests) <= INFO.max_queued_requests


# -- the server and the client driven together by random actions ---------------------------------

actions = st.lists(
    st.one_of(
        st.tuples(st.just("speak"), st.sampled_from(["hi", "", "x" * 60]), st.sampled_from(["heart", "x"])),
        st.tuples(st.just("cancel"), st.integers(0, 6)),
        st.tuples(st.just("voices")),
        st.tuples(st.just("produce"), st.integers(1, 3)),
        st.tuples(st.just("finish")),
        st.tuples(st.just("fail")),
        st.tuples(st.just("garbage"), st.text(max_size=20)),
    ),
    max_size=40,
)


@FUZZ
@given(actions)
def test_server_and_client_stay_consistent(script: list[tuple[Any, ...]]) -> None:
    """Random client requests and synthesis progress: the client never sees a protocol violation,
    every frame it gets belongs to the request the server was streaming, and every request ends
    exactly once."""
    s = ServerProtocol(INFO)
    c = ClientProtocol()
    s.connection_made()
    sent_ids: list[str] = []
    ended: list[str] = []
    synthesizing: list[str] = []  # what the adapter believes it is synthesising
    frames_for: dict[str, int] = {}
    started: set[str] = set()

    def pump() -> None:
        for m in s.data_to_send():
            events = c.receive_text(m) if isinstance(m, str) else c.receive_bytes(m)
            for ev in events:
                assert not isinstance(ev, ProtocolViolation), ev
                if isinstance(ev, AudioReceived):
                    frames_for[ev.id] = frames_for.get(ev.id, 0) + 1
                    assert ev.id not in ended
                if isinstance(ev, Done | Cancelled) or (isinstance(ev, ServerError) and ev.ends_request):
                    rid = ev.id
                    assert rid is not None and rid not in ended
                    ended.append(rid)

    def handle(events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, StartSynthesis):
                synthesizing.append(ev.request.id)
            elif isinstance(ev, StopSynthesis):
                synthesizing.remove(ev.request_id)
                started.discard(ev.request_id)

    pump()
    for action in script:
        kind = action[0]
        if kind == "speak":
            rid, msg = c.speak(action[1], voice=action[2])
            sent_ids.append(rid)
            handle(s.receive_text(msg))
        elif kind == "cancel" and sent_ids:
            handle(s.receive_text(c.cancel(sent_ids[action[1] % len(sent_ids)])))
        elif kind == "voices":
            handle(s.receive_text(c.voices()))
        elif kind == "garbage":
            handle(s.receive_text(action[1]))
        elif synthesizing:
            rid = synthesizing[0]
            if rid not in started:
                started.add(rid)
                assert s.start(rid, sample_rate_hz=24000)
            if kind == "produce":
                for _ in range(action[1]):
                    assert s.audio(rid, np.zeros(480, "<i2").tobytes())
            elif kind == "finish":
                synthesizing.pop(0)
                started.discard(rid)
                handle(s.done(rid, chunks=1, synthesis_ms=1.0))
            elif kind == "fail":
                synthesizing.pop(0)
                started.discard(rid)
                handle(s.fail(rid, "synthesis_failed", "boom"))
        pump()
        assert len(synthesizing) <= 1
    # Everything the client sent that the server accepted is either still pending or ended once.
    assert len(ended) == len(set(ended))
    assert set(c.outstanding) | set(ended) <= set(sent_ids)
    for rid in ended:
        assert rid not in c.outstanding


@FUZZ
@given(st.text() | json_values.map(json.dumps), st.binary(max_size=64))
def test_client_parser_never_raises(text: str, data: bytes) -> None:
    c = ClientProtocol()
    c.receive_text('{"type":"hello","protocol":1,"server":"x","max_text_chars":5,"formats":["pcm_s16le"]}')
    c.speak("x")
    for ev in c.receive_text(text) + c.receive_bytes(data):
        assert ev is not None


server_fields: dict[str, Any] = {
    "id": st.sampled_from(["a", "b"]) | json_values,
    "sample_rate_hz": st.sampled_from([24000, 0, -1]) | json_values,
    "channels": st.sampled_from([1, 2]) | json_values,
    "format": st.sampled_from(["pcm_s16le", "pcm_f32le", "ulaw"]) | json_values,
    "frame_ms": st.sampled_from([20]) | json_values,
    "audio_ms": st.floats(allow_nan=False) | json_values,
    "first_audio_ms": json_values,
    "chunks": st.integers() | json_values,
    "audio_ms_sent": json_values,
    "code": st.sampled_from(["unknown_voice", "duplicate_id"]) | json_values,
    "message": json_values,
    "field": json_values,
    "voices": st.lists(st.fixed_dictionaries({}, optional={"id": json_values, "sample_rate_hz": json_values}))
    | json_values,
}


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["start", "done", "cancelled", "error", "voices", "hello"]),
            st.fixed_dictionaries({}, optional=server_fields),
        ),
        max_size=6,
    ),
    st.binary(max_size=16),
)
def test_client_parser_on_server_message_shapes(
    messages: list[tuple[str, dict[str, Any]]], data: bytes
) -> None:
    c = ClientProtocol()
    c.receive_text('{"type":"hello","protocol":1,"server":"x","max_text_chars":5,"formats":["pcm_s16le"]}')
    c.speak("x", id="a")
    c.speak("y", id="b")
    for mtype, fields in messages:
        c.receive_text(json.dumps({**fields, "type": mtype}))
        c.receive_bytes(data)
