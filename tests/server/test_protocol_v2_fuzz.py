"""Fuzz protocol v2: whatever a peer sends, the server half answers with events (never an exception),
and the wire it produces — driven by a simulated adapter — is one the client half accepts."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parley_server.protocol import (
    ErrorCode,
    ProtocolErrorEvent,
    ProtocolViolation,
    ServerInfo,
    VoiceDescription,
)
from parley_server.protocol_v2 import (
    WIDTH,
    ClientProtocolV2,
    EndContext,
    OpenContext,
    ServerInfoV2,
    ServerProtocolV2,
    SpeakPieces,
    StopContext,
    UpdateContext,
    WordStamp,
)

INFO = ServerInfoV2(
    ServerInfo(
        server="parley/fuzz",
        voices=(
            VoiceDescription("heart", "en-US", "female", 24000, "hibari"),
            VoiceDescription("joe", "en-US", "male", 22050, "piper"),
        ),
        default_voice="heart",
        max_text_chars=60,
        speed_min=0.5,
        speed_max=4.0,
    ),
    max_contexts=4,
    max_pending_chars=120,
)
CODES = {c.value for c in ErrorCode}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
contexts = st.sampled_from(["a", "b", "c", "d", "e"])
plausible: dict[str, Any] = {
    "context": contexts | json_values,
    "voice": st.sampled_from(["heart", "joe", "nobody"]) | json_values,
    "format": st.sampled_from(["pcm_s16le", "pcm_f32le", "mulaw", "alaw", "mp3"]),
    "sample_rate_hz": st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000, 11025]),
    "frame_ms": st.integers(0, 120),
    "speed": st.floats(0, 5),
    "pitch_semitones": st.floats(-20, 20),
    "volume_db": st.floats(-50, 20),
    "latency_budget_ms": st.none() | st.booleans() | st.floats(0, 20000),
    "timestamps": st.sampled_from(["none", "word", "phoneme", "x"]),
    "text": st.text(max_size=70),
    "flush": st.booleans() | json_values,
    "end": st.booleans() | json_values,
    "seed": st.integers(-2, 2**60),
}
message_like = st.builds(
    lambda t, fields: {"type": t, **fields},
    st.sampled_from(["create", "text", "flush", "end", "update", "cancel", "voices", "nope"]),
    st.fixed_dictionaries({}, optional=plausible),
)


def check_wire(messages: list[str | bytes]) -> None:
    for m in messages:
        if isinstance(m, bytes):
            continue
        msg = json.loads(m)
        assert isinstance(msg, dict) and isinstance(msg["type"], str)
        if msg["type"] == "error":
            assert msg["code"] in CODES and msg["message"]


@FUZZ
@given(st.text())
def test_any_text(text: str) -> None:
    p = ServerProtocolV2(INFO)
    p.connection_made()
    for ev in p.receive_text(text):
        assert isinstance(ev, ProtocolErrorEvent) and ev.code in CODES
    check_wire(p.data_to_send())


@FUZZ
@given(json_values)
def test_any_json(value: object) -> None:
    p = ServerProtocolV2(INFO)
    p.connection_made()
    p.receive_text(json.dumps(value))
    check_wire(p.data_to_send())


@FUZZ
@given(st.binary())
def test_any_binary(data: bytes) -> None:
    p = ServerProtocolV2(INFO)
    p.connection_made()
    [ev] = p.receive_bytes(data)
    assert isinstance(ev, ProtocolErrorEvent) and ev.code == "binary_not_allowed"


class Adapter:
    """Plays the asyncio adapter: speaks every piece with a frame or two, ends contexts."""

    def __init__(self, p: ServerProtocolV2, client: ClientProtocolV2) -> None:
        self.p = p
        self.client = client
        self.open: dict[str, tuple[str, bool]] = {}  # context -> (format, ended)
        self.events: list[object] = []

    def handle(self, events: list[Any], data: st.DataObject) -> None:
        for ev in events:
            if isinstance(ev, OpenContext):
                assert ev.config.id not in self.open
                self.open[ev.config.id] = (ev.config.format, False)
                assert len(self.open) <= INFO.max_contexts
            elif isinstance(ev, SpeakPieces):
                fmt, _ = self.open[ev.context]
                for piece in ev.pieces:
                    n = data.draw(st.integers(1, 3))
                    for i in range(n):
                        pcm = bytes(WIDTH[fmt] * data.draw(st.integers(1, 50)))
                        assert self.p.audio(ev.context, pcm, piece_end=i == n - 1)
                    self.p.timestamps(ev.context, [WordStamp("w", piece.start_char, piece.end_char, 0, 1)])
                    self.p.piece_spoken(ev.context, piece.end_char)
            elif isinstance(ev, EndContext):
                fmt, _ = self.open[ev.context]
                self.open[ev.context] = (fmt, True)
            elif isinstance(ev, StopContext):
                del self.open[ev.context]
            elif isinstance(ev, UpdateContext):
                assert ev.context in self.open
            else:
                assert isinstance(ev, ProtocolErrorEvent) and ev.code in CODES
        # Now and then an ended context finishes, or one fails.
        for cid, (_, ended) in list(self.open.items()):
            if ended and data.draw(st.booleans()):
                self.p.done(cid, chunks=1, synthesis_ms=1.0)
                del self.open[cid]
            elif data.draw(st.integers(0, 20)) == 0:
                self.p.fail(cid, "synthesis_failed", "broke")
                del self.open[cid]
        self.relay()

    def relay(self) -> None:
        messages = self.p.data_to_send()
        check_wire(messages)
        for m in messages:
            evs = self.client.receive_bytes(m) if isinstance(m, bytes) else self.client.receive_text(m)
            for ev in evs:
                assert not isinstance(ev, ProtocolViolation), ev.message
            self.events += evs


@FUZZ
@given(st.lists(message_like, max_size=25), st.data())
def test_message_shaped_sequences_keep_server_and_client_in_step(
    messages: list[dict[str, object]], data: st.DataObject
) -> None:
    p = ServerProtocolV2(INFO)
    client = ClientProtocolV2()
    p.connection_made()
    adapter = Adapter(p, client)
    adapter.relay()
    for msg in messages:
        raw = json.dumps(msg)
        if msg["type"] == "create" and isinstance(msg.get("context"), str):
            # Send it the way the client library would (so the client expects its created),
            # unless the library itself refuses the id.
            options = {k: v for k, v in msg.items() if k not in ("type", "context")}
            with contextlib.suppress(ValueError):
                _, raw = client.create(str(msg["context"]), **options)
        adapter.handle(p.receive_text(raw), data)
        # After every message, client and server agree on which contexts are open.
        assert set(client.open_contexts) == set(adapter.open) == set(p.open_contexts)
    adapter.handle(p.connection_lost(), data)
    assert adapter.open == {} and p.open_contexts == ()
