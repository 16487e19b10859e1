"""Parley's WebSocket protocol, client side, for the NVDA driver — sans I/O, standard library only.

A :class:`Session` turns utterances (:mod:`.speech`) into requests and server messages into an
ordered stream of playback items: :class:`Audio` (16-bit PCM), :class:`Reached` (an index whose
audio has all been queued before it) and :class:`Finished` (every utterance of the last
:meth:`Session.speak` is complete). The adapter plays them in order and reports an index when the
audio queued before it has *played*.

Protocol v2 (subprotocol ``parley.v2``): one context per utterance, created with its text and
``end``, at a fixed output rate, several in flight so synthesis runs ahead; frames carry a 20-byte
header naming their context. Protocol v1 (a server without v2): one ``speak`` per utterance, served
in order; no pitch or volume on the server, so volume is applied here and pitch is not available.

    s = Session()
    s.hello(text_of_first_message)                 # protocol 1 or 2, limits
    msgs, items = s.speak(utterances)              # queued after what is speaking
    out, items = s.receive_text(msg)               # messages to send, playback items
    items = s.receive_bytes(frame)
    for msg in s.cancel(): send(msg)
"""

from __future__ import annotations

import json
import struct
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import TypeAlias

from .speech import Utterance

__all__ = ["Audio", "Finished", "Output", "Reached", "Session", "SessionError"]

HEADER = struct.Struct("<BBBBIIQ")
HEADER_MAGIC = 0x50
OUTPUT_RATE_HZ = 24000


class SessionError(Exception):
    """The server broke the protocol (the adapter should reconnect)."""


@dataclass(frozen=True)
class Audio:
    pcm: bytes  # signed 16-bit little-endian mono
    sample_rate_hz: int


@dataclass(frozen=True)
class Reached:
    index: int


@dataclass(frozen=True)
class Finished:
    """Everything of the last speak() has been queued."""


Output: TypeAlias = Audio | Reached | Finished


@dataclass
class _Req:
    rid: str
    utt: Utterance
    sent: bool = False
    complete: bool = False
    rate: int = OUTPUT_RATE_HZ
    items: deque[Output] = field(default_factory=deque)  # held back until it is the head


class Session:
    """Client half of Parley protocol v1/v2 for one connection and one speaker (see module doc)."""

    def __init__(self, *, window: int = 6) -> None:
        self.window = window
        self.protocol = 0
        self.speed_min, self.speed_max = 0.5, 2.0
        self.default_voice: str | None = None
        self._gen = 0
        self._queue: deque[_Req] = deque()  # this generation's requests, in speaking order
        self._by_id: dict[str, _Req] = {}
        self._streams: dict[int, str] = {}  # v2 stream index -> request id
        self._v1_current: str | None = None  # v1: the request whose frames are arriving
        self._stale: set[str] = set()  # cancelled requests whose terminal message may still come
        self.voices: list[dict[str, object]] = []

    # -- handshake ---------------------------------------------------------------------------------

    def hello(self, text: str) -> None:
        msg = _loads(text)
        if msg.get("type") != "hello":
            raise SessionError(f"expected hello, got {text[:80]!r}")
        proto = msg.get("protocol")
        if proto not in (1, 2):
            raise SessionError(f"unsupported protocol {proto!r}")
        self.protocol = int(proto)
        self.speed_min = float(msg.get("speed_min", 0.5))  # type: ignore[arg-type]
        self.speed_max = float(msg.get("speed_max", 2.0 if proto == 1 else 4.0))  # type: ignore[arg-type]
        dv = msg.get("default_voice")
        self.default_voice = dv if isinstance(dv, str) else None

    @staticmethod
    def voices_request() -> str:
        return '{"type":"voices"}'

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    # -- requests ----------------------------------------------------------------------------------

    def speak(self, utterances: list[Utterance]) -> tuple[list[str], list[Output]]:
        """Queue ``utterances`` after those already queued (NVDA sends the next sequence before the
        last one ends, to avoid gaps). Returns (messages to send, items ready now)."""
        msgs: list[str] = []
        self._gen += 1
        for k, u in enumerate(utterances):
            r = _Req(f"g{self._gen}u{k}", u)
            self._queue.append(r)
            self._by_id[r.rid] = r
            if not u.text:  # nothing to synthesise: only its indexes and pause
                r.sent = r.complete = True
                self._finish(r)
        msgs += self._fill()
        if not utterances and not self._queue:
            return msgs, [Finished()]
        return msgs, self._release()

    def cancel(self) -> list[str]:
        """Drop everything queued; returns the cancel messages for requests in flight."""
        msgs = []
        for r in self._queue:
            if r.sent and not r.complete:
                self._stale.add(r.rid)
                if self.protocol == 2:
                    msgs.append(json.dumps({"type": "cancel", "context": r.rid}))
                else:
                    msgs.append(json.dumps({"type": "cancel", "id": r.rid}))
        self._queue.clear()
        self._by_id.clear()
        return msgs

    def _fill(self) -> list[str]:
        msgs = []
        inflight = sum(1 for r in self._queue if r.sent and not r.complete)
        for r in self._queue:
            if inflight >= self.window:
                break
            if r.sent:
                continue
            r.sent = True
            inflight += 1
            msgs.append(self._request(r))
        return msgs

    def _request(self, r: _Req) -> str:
        u = r.utt
        speed = max(self.speed_min, min(self.speed_max, u.speed))
        if self.protocol == 2:
            msg: dict[str, object] = {
                "type": "create",
                "context": r.rid,
                "format": "pcm_s16le",
                "sample_rate_hz": OUTPUT_RATE_HZ,
                "speed": round(speed, 4),
                "pitch_semitones": round(u.pitch_semitones, 3),
                "volume_db": round(max(-40.0, min(12.0, u.volume_db)), 3),
                "text": u.text,
                "end": True,
            }
        else:
            msg = {
                "type": "speak",
                "id": r.rid,
                "text": u.text,
                "format": "pcm_s16le",
                "speed": round(speed, 4),
            }
        if u.voice is not None:
            msg["voice"] = u.voice
        return json.dumps(msg)

    # -- server messages ---------------------------------------------------------------------------

    def receive_text(self, text: str) -> tuple[list[str], list[Output]]:
        msg = _loads(text)
        t = msg.get("type")
        rid = msg.get("context") if self.protocol == 2 else msg.get("id")
        if t == "voices":
            v = msg.get("voices")
            self.voices = [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []
            return [], []
        if not isinstance(rid, str):
            return [], []  # e.g. an error about no request: nothing to do
        r = self._by_id.get(rid)
        if t == "created" and r is not None:
            stream = msg.get("stream")
            if isinstance(stream, int):
                self._streams[stream] = rid
            rate = msg.get("sample_rate_hz")
            r.rate = rate if isinstance(rate, int) else OUTPUT_RATE_HZ
            return [], []
        if t == "start" and r is not None:
            self._v1_current = rid
            rate = msg.get("sample_rate_hz")
            r.rate = rate if isinstance(rate, int) else OUTPUT_RATE_HZ
            return [], []
        if t in ("done", "cancelled", "error"):
            if t == "error":
                if msg.get("code") in ("unknown_id", "duplicate_id", "unknown_context", "context_ended"):
                    return [], []  # a cancel that crossed the request's end
                if self.protocol == 2 and msg.get("closed") is not True and r is None:
                    return [], []
            self._stale.discard(rid)
            for s, c in list(self._streams.items()):
                if c == rid:
                    del self._streams[s]
            if self._v1_current == rid:
                self._v1_current = None
            if r is None or r.complete:
                return [], []
            r.complete = True  # done, cancelled, or refused/failed (nothing more will come)
            self._finish(r)
            return self._fill(), self._release()
        return [], []

    def receive_bytes(self, data: bytes) -> list[Output]:
        if self.protocol == 2:
            if len(data) < HEADER.size:
                raise SessionError("binary frame shorter than its header")
            magic, version, _flags, _fmt, stream, _seq, _off = HEADER.unpack_from(data)
            if magic != HEADER_MAGIC or version != 2:
                raise SessionError("bad frame header")
            rid = self._streams.get(stream)
            payload = data[HEADER.size :]
        else:
            rid = self._v1_current
            payload = data
        r = self._by_id.get(rid) if rid is not None else None
        if r is None or r.complete:
            return []  # a cancelled request's frame still on the wire
        if self.protocol == 1 and r.utt.volume_db < -0.05:
            payload = _gain(payload, 10 ** (r.utt.volume_db / 20))
        r.items.append(Audio(bytes(payload), r.rate))
        return self._release()

    # -- ordering ----------------------------------------------------------------------------------

    def _finish(self, r: _Req) -> None:
        u = r.utt
        for i in u.indexes:
            r.items.append(Reached(i))
        if u.pause_ms > 0:
            n = int(r.rate * u.pause_ms / 1000)
            r.items.append(Audio(bytes(2 * n), r.rate))

    def _release(self) -> list[Output]:
        """Items of the head request (and of following complete ones), in order."""
        out: list[Output] = []
        while self._queue:
            head = self._queue[0]
            out.extend(head.items)
            head.items.clear()
            if not head.complete:
                break
            self._queue.popleft()
            self._by_id.pop(head.rid, None)
            if not self._queue:
                out.append(Finished())
        return out


def _loads(text: str) -> dict[str, object]:
    try:
        v = json.loads(text)
    except ValueError as exc:
        raise SessionError(f"server message is not JSON: {exc}") from None
    if not isinstance(v, dict):
        raise SessionError("server message is not an object")
    return v


def _gain(pcm: bytes, g: float) -> bytes:
    a = array("h")
    a.frombytes(pcm[: len(pcm) // 2 * 2])
    for i, s in enumerate(a):
        a[i] = int(s * g)
    return a.tobytes()
