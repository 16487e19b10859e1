"""Test helper: a Parley server in a background thread (its own event loop) for client and CLI tests, speaking
with a scripted test double of the engine (the real engine is exercised in tests/integration)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import numpy as np
from parley_engine.errors import InvalidSettingError
from parley_engine.types import AudioChunk, CancelToken, SpeakSettings, VoiceInfo
from parley_server.app import ParleyServer
from parley_server.config import ServerConfig


class ToneEngine:
    """Test double: "chunks:N" in the text gives N chunks of a 440 Hz tone (50 ms, then 200 ms
    each, default 3); "refuse" makes stream() raise InvalidSettingError; "slow" sleeps 10 ms per
    chunk."""

    MAX_TEXT_CHARS = 20_000
    default_voice = "heart"

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("heart", "en-US", "female", 24000, "test", description="test tone")]

    def sample_rate_hz(self, voice_id: str) -> int:
        return 24000

    def stream(
        self, text: str, voice: str, settings: SpeakSettings, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        if "refuse" in text:
            raise InvalidSettingError("refused by the test engine", field="speed")
        n = next((int(w[7:]) for w in text.split() if w.startswith("chunks:")), 3)
        return self._gen(n, cancel, "slow" in text)

    @staticmethod
    def _gen(n: int, cancel: CancelToken, slow: bool) -> Iterator[AudioChunk]:
        import time

        pos = 0
        for i in range(n):
            if cancel.cancelled:
                return
            if slow:
                time.sleep(0.01)
            size = 1200 if i == 0 else 4800
            t = np.arange(pos, pos + size) / 24000
            yield AudioChunk((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 24000, pos, 0)
            pos += size


class ServerThread:
    def __init__(self, engine: object, config: ServerConfig) -> None:
        self.engine = engine
        self.config = config
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="test-server")
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.server: ParleyServer | None = None
        self.error: BaseException | None = None

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self.server = ParleyServer(self.engine, self.config)  # type: ignore[arg-type]
            await self.server.start()
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            raise
        self._ready.set()
        await self._stop.wait()
        await self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.port}"

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(30), "server did not start"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
