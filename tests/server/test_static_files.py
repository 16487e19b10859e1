"""The static-file hook for the browser client, over a real socket: ``/`` is the shipped
``index.html``, every file it links is served with its content type, anything else is 404 (no
directory traversal), and WebSocket handshakes on ``/`` still reach the protocol.
tests/integration/test_browser_e2e.py drives the client itself in headless Chromium."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
from collections.abc import Iterator

import numpy as np
from parley_engine.types import AudioChunk, CancelToken, SpeakSettings, VoiceInfo
from parley_server.app import STATIC_DIR, ParleyServer
from parley_server.config import ServerConfig
from websockets.asyncio.client import connect


class SilentEngine:
    MAX_TEXT_CHARS = 20_000
    default_voice = "heart"

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("heart", "en-US", "female", 24000, "test")]

    def sample_rate_hz(self, voice_id: str) -> int:
        return 24000

    def stream(
        self, text: str, voice: str, settings: SpeakSettings, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        yield AudioChunk(np.zeros(240, np.float32), 24000, 0, 0)


def get(port: int, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)  # sent as written: no client-side normalisation of ".."
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read()
    finally:
        conn.close()


def test_shipped_client_is_served_and_unknown_paths_are_404() -> None:
    async def main() -> None:
        async with ParleyServer(SilentEngine(), ServerConfig(port=0, worker_threads=1)) as server:
            port = server.port

            def fetch(path: str) -> tuple[int, str, bytes]:
                return get(port, path)

            status, ctype, body = await asyncio.to_thread(fetch, "/")
            assert status == 200 and ctype == "text/html; charset=utf-8"
            assert body == (STATIC_DIR / "index.html").read_bytes()
            linked = re.findall(r'(?:src|href)="([\w.-]+\.(?:js|css))"', body.decode())
            app_js = (STATIC_DIR / "app.js").read_text()
            linked += re.findall(r'addModule\("([\w.-]+\.js)"\)', app_js)
            assert sorted(linked) == ["app.js", "style.css", "worklet.js"]
            for name in linked:
                status, ctype, body = await asyncio.to_thread(fetch, "/" + name)
                assert status == 200 and body == (STATIC_DIR / name).read_bytes(), name
                expected = "text/css" if name.endswith(".css") else "text/javascript"
                assert ctype == f"{expected}; charset=utf-8", name
            assert (await asyncio.to_thread(fetch, "/index.html"))[0] == 200
            assert (await asyncio.to_thread(fetch, "/?autoplay=1"))[0] == 200

            for path in (
                "/nope.js",
                "/static/app.js",
                "/../app.py",
                "/../../pyproject.toml",
                "/%2e%2e/app.py",
                "//etc/passwd",
                "/v2",
                "/.",
            ):
                status, _, body = await asyncio.to_thread(fetch, path)
                assert (status, body) == (404, b"not found\n"), path

            status, _, body = await asyncio.to_thread(fetch, "/health")
            assert status == 200 and json.loads(body)["status"] == "ok"
            async with connect(f"ws://127.0.0.1:{port}/", subprotocols=["parley.v2"]) as ws:  # type: ignore[list-item]
                assert json.loads(await ws.recv())["protocol"] == 2

    asyncio.run(asyncio.wait_for(main(), 30))
