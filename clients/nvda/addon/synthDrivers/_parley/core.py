"""The driver's engine room, without NVDA: a connection to a Parley server, a reader thread, and a
feeder thread that plays audio and reports indexes when the audio before them has played.

``synthDrivers/parley.py`` wraps this in NVDA's SynthDriver API with ``nvwave.WavePlayer`` as the
player and NVDA's notifications as callbacks; tests drive it with a fake player.

    core = ParleyCore("ws://127.0.0.1:8765", player_factory, on_index=..., on_done=...)
    core.speak([Text("Hello"), Index(1), Text("world"), Index(2)], VoiceParams(rate=70))
    core.cancel()          # silent at once; nothing of the cancelled speech is reported afterwards
    core.pause(True)
    core.terminate()
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

from .session import Audio, Finished, Output, Reached, Session, SessionError
from .speech import Item, VoiceParams, plan
from .wsclient import WebSocket, WebSocketClosed, connect

__all__ = ["ParleyCore", "Player", "ServerUnavailable"]

log = logging.getLogger("parley.nvda")

SUBPROTOCOLS_V2 = ("parley.v2", "parley.v1")
INDEX_TICK_MS = 2.0  # an index is hung on a tiny silent buffer: empty buffers may never be scheduled


class ServerUnavailable(ConnectionError):
    """No Parley server at the URL (or it refused the connection)."""


class Player(Protocol):
    """What NVDA's ``nvwave.WavePlayer`` offers (16-bit mono PCM)."""

    def feed(self, data: bytes, onDone: Callable[[], None] | None = None) -> None: ...  # noqa: N803

    def idle(self) -> None: ...

    def stop(self) -> None: ...

    def pause(self, switch: bool) -> None: ...

    def close(self) -> None: ...


class ParleyCore:
    def __init__(
        self,
        url: str,
        player_factory: Callable[[int], Player],
        *,
        on_index: Callable[[int], None],
        on_done: Callable[[], None],
        protocol: int = 2,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self._player_factory = player_factory
        self._on_index = on_index
        self._on_done = on_done
        self._protocol_pref = protocol
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._gen = 0
        self._queue: queue.Queue[tuple[int, Output] | None] = queue.Queue()
        self._players: dict[int, Player] = {}
        self._player: Player | None = None
        self._ws: WebSocket | None = None
        self.session = Session()
        self._reader: threading.Thread | None = None
        self._closed = False
        self._connect()
        self._feeder = threading.Thread(target=self._feed_loop, name="parley-nvda-feeder", daemon=True)
        self._feeder.start()

    # -- connection --------------------------------------------------------------------------------

    @property
    def protocol(self) -> int:
        return self.session.protocol

    def _connect(self) -> None:
        subprotocols = SUBPROTOCOLS_V2 if self._protocol_pref >= 2 else ()
        try:
            ws = connect(self.url, subprotocols, self._timeout_s)
            ws.sock.settimeout(self._timeout_s)
            hello = ws.recv()
            ws.sock.settimeout(None)
        except (OSError, WebSocketClosed) as exc:
            raise ServerUnavailable(f"cannot reach the Parley server at {self.url}: {exc}") from exc
        session = Session()
        try:
            if not isinstance(hello, str):
                raise SessionError("expected hello")
            session.hello(hello)
        except SessionError as exc:
            ws.close()
            raise ServerUnavailable(f"{self.url} is not a Parley server: {exc}") from exc
        self.session, self._ws = session, ws
        self._reader = threading.Thread(
            target=self._read_loop, args=(ws,), name="parley-nvda-reader", daemon=True
        )
        self._reader.start()

    def _send(self, msgs: list[str]) -> None:
        ws = self._ws
        for m in msgs:
            if ws is None:
                return
            try:
                ws.send(m)
            except WebSocketClosed:
                log.warning("connection to the Parley server lost")
                self._ws = None
                return

    def _read_loop(self, ws: WebSocket) -> None:
        while True:
            try:
                msg = ws.recv()
            except WebSocketClosed:
                break
            with self._lock:
                if ws is not self._ws:
                    break
                try:
                    if isinstance(msg, str):
                        out, items = self.session.receive_text(msg)
                    else:
                        out, items = [], self.session.receive_bytes(msg)
                except SessionError as exc:
                    log.error("Parley server broke the protocol: %s", exc)
                    ws.close()
                    break
                self._send(out)
                for it in items:
                    self._queue.put((self._gen, it))
        with self._lock:
            if ws is self._ws:
                self._ws = None
                # whatever was speaking will not finish: end it so NVDA is not left waiting
                self.session.cancel()
                self._queue.put((self._gen, Finished()))

    # -- NVDA's calls ------------------------------------------------------------------------------

    def speak(self, items: list[Item], params: VoiceParams) -> None:
        utterances = plan(items, params)
        with self._lock:
            if self._ws is None and not self._closed:
                try:
                    self._connect()
                except ServerUnavailable as exc:
                    log.error("%s", exc)
                    self._queue.put((self._gen, Finished()))
                    return
            msgs, ready = self.session.speak(utterances)
            self._send(msgs)
            for it in ready:
                self._queue.put((self._gen, it))

    def cancel(self) -> None:
        with self._lock:
            self._gen += 1
            self._send(self.session.cancel())
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            player = self._player
        if player is not None:
            player.stop()

    def pause(self, switch: bool) -> None:
        if self._player is not None:
            self._player.pause(switch)

    def voices(self) -> list[dict[str, object]]:
        """The server's voices (asks and waits up to 2 s)."""
        with self._lock:
            self.session.voices = []
            self._send([self.session.voices_request()])
        for _ in range(200):
            if self.session.voices:
                break
            threading.Event().wait(0.01)
        return list(self.session.voices)

    def terminate(self) -> None:
        self.cancel()
        self._closed = True
        self._queue.put(None)
        self._feeder.join(2)
        if self._ws is not None:
            self._ws.close()
        for p in self._players.values():
            p.close()

    # -- feeder thread -----------------------------------------------------------------------------

    def _player_for(self, rate: int) -> Player:
        p = self._players.get(rate)
        if p is None:
            p = self._players[rate] = self._player_factory(rate)
        if self._player is not None and self._player is not p:
            self._player.idle()
        self._player = p
        return p

    def _feed_loop(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            gen, item = entry
            if gen != self._gen:
                continue
            try:
                if isinstance(item, Audio):
                    if item.pcm:
                        self._player_for(item.sample_rate_hz).feed(item.pcm)
                elif isinstance(item, Reached):
                    self._reached(gen, item.index)
                elif isinstance(item, Finished):
                    if self._player is not None:
                        self._player.idle()
                    if gen == self._gen:
                        self._on_done()
            except Exception:
                log.exception("playing Parley audio failed")

    def _reached(self, gen: int, index: int) -> None:
        def fire() -> None:
            if gen == self._gen:
                self._on_index(index)

        p = self._player
        if p is None:
            fire()
            return
        rate = next((r for r, q in self._players.items() if q is p), 24000)
        p.feed(bytes(2 * max(1, int(rate * INDEX_TICK_MS / 1000))), onDone=fire)
