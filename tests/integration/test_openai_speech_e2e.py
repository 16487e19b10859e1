"""End to end: OpenAI's POST /v1/audio/speech against a real `parley serve` (voice "heart"), with
plain HTTP clients (urllib, http.client, a raw socket) and the `openai` package itself.

The server runs as a subprocess exactly as a user starts it (`parley serve --port 0`); its port is
read from its log. The audio must be speech (Whisper tiny.en hears the words, when
faster-whisper is installed), streamed (the first bytes long before the last), and the WebSocket
protocols keep working on the same port.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

pytestmark = pytest.mark.integration

PATH = "/v1/audio/speech"
SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank."
LONG_TEXT = " ".join(
    [
        "Streaming speech has to start quickly, keep going without gaps, and stop at once when asked.",
        "Every listener notices a click, a pause in the wrong place, or a word that is dropped.",
    ]
    * 6
)


class ParleyServe:
    """`parley serve --port 0 --voices heart` in a subprocess; the port comes from its log."""

    def __init__(self) -> None:
        exe = Path(sys.executable).with_name("parley")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "parley_server"]
        if exe.exists():
            cmd.append("serve")
        cmd += ["--host", "127.0.0.1", "--port", "0", "--voices", "heart", "--threads", "2"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self._port: int | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._ready.wait(300) or self._port is None:
            self.close()
            raise RuntimeError("parley serve did not start:\n" + "".join(self.log[-30:]))
        self.port: int = self._port

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", line)
            if m:
                self._port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()

    def health(self) -> dict[str, object]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=10) as r:
            body = json.loads(r.read())
        assert isinstance(body, dict)
        return body


@pytest.fixture(scope="module")
def server() -> Iterator[ParleyServe]:
    s = ParleyServe()
    try:
        yield s
    finally:
        s.close()
    assert s.proc.returncode == 0, "".join(s.log[-30:])
    assert not [line for line in s.log if "Traceback" in line or " ERROR " in line], "".join(s.log)


def post(port: int, body: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{PATH}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def pcm(body: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(body, "<i2").astype(np.float32) / 32768.0


def assert_speech(x: npt.NDArray[np.float32], *, min_s: float, max_s: float) -> None:
    duration = len(x) / 24000
    assert min_s < duration < max_s, f"{duration:.2f} s of audio"
    rms = float(np.sqrt(np.mean(x**2)))
    assert 0.01 < rms < 0.5, f"rms {rms:.4f}"
    frames = x[: len(x) // 480 * 480].reshape(-1, 480)  # 20 ms frames
    voiced = np.mean(np.sqrt(np.mean(frames**2, axis=1)) > 0.01)
    assert voiced > 0.5, f"only {voiced:.0%} of the 20 ms frames carry sound"


def wait_idle(server: ParleyServe, timeout_s: float = 10.0) -> dict[str, object]:
    end = time.monotonic() + timeout_s
    while True:
        h = server.health()
        if h["http_requests"] == 0 and h["workers_busy"] == 0 and h["workers_pending"] == 0:
            return h
        assert time.monotonic() < end, f"the server did not go idle: {h}"
        time.sleep(0.05)


def test_pcm_with_urllib_is_speech(server: ParleyServe) -> None:
    status, headers, body = post(
        server.port, {"model": "tts-1", "input": SENTENCE, "voice": "heart", "response_format": "pcm"}
    )
    assert status == 200 and headers["content-type"] == "audio/pcm"
    assert headers["transfer-encoding"] == "chunked" and headers["x-parley-sample-rate"] == "24000"
    assert len(body) % 2 == 0
    assert_speech(pcm(body), min_s=2.0, max_s=8.0)


def test_wav_and_speed(server: ParleyServe) -> None:
    durations = {}
    for speed in (1.0, 2.0):
        status, headers, body = post(
            server.port, {"model": "gpt-4o-mini-tts", "input": SENTENCE, "voice": "alloy", "speed": speed}
        )
        assert (
            status == 200 and headers["content-type"] == "audio/wav" and headers["x-parley-voice"] == "heart"
        )
        x, sr = sf.read(io.BytesIO(body), dtype="float32")
        assert sr == 24000 and x.ndim == 1
        assert_speech(x, min_s=1.0, max_s=8.0)
        durations[speed] = len(x) / sr
    assert 0.35 < durations[2.0] / durations[1.0] < 0.7, durations


def test_first_bytes_arrive_long_before_the_last(server: ParleyServe) -> None:
    body = json.dumps({"model": "tts-1", "input": LONG_TEXT, "voice": "heart", "response_format": "pcm"})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    t0 = time.monotonic()
    conn.request("POST", PATH, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200
    first = r.read1(65536)
    t_first = time.monotonic() - t0
    rest = r.read()
    t_all = time.monotonic() - t0
    conn.close()
    x = pcm(first + rest)
    audio_s = len(x) / 24000
    assert_speech(x, min_s=40.0, max_s=120.0)
    assert first and t_first < 3.0, f"first bytes after {t_first:.2f} s"
    assert t_first < 0.25 * t_all, f"first bytes at {t_first:.2f} s of {t_all:.2f} s"
    print(f"first bytes {1000 * t_first:.0f} ms; all {t_all:.2f} s for {audio_s:.1f} s of audio")


def test_the_openai_package_streams_from_parley(server: ParleyServe) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="not-needed", max_retries=0)
    parts: list[bytes] = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="nova", input=SENTENCE, response_format="pcm"
    ) as response:
        assert response.headers["content-type"] == "audio/pcm"
        for part in response.iter_bytes(4800):
            parts.append(part)
    x = pcm(b"".join(parts))
    assert len(parts) > 5
    assert_speech(x, min_s=2.0, max_s=8.0)
    if _has_whisper():
        text = _transcribe(x)
        print(f"Whisper tiny.en heard: {text!r}")
        words = set(re.findall(r"[a-z]+", text.lower()))
        assert {"quick", "brown", "fox", "lazy", "dog", "river"} <= words, text

    with pytest.raises(openai.BadRequestError) as info:
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hi", response_format="pcm")
    assert info.value.status_code == 400 and "unknown voice 'nobody'" in str(info.value)
    assert info.value.body["param"] == "voice" and info.value.body["code"] == "unknown_voice"
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi", response_format="mp3")
    assert info.value.body["param"] == "response_format"


def _has_whisper() -> bool:
    import importlib.util

    return importlib.util.find_spec("faster_whisper") is not None


def _transcribe(x: npt.NDArray[np.float32]) -> str:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "quality.py"
    spec = importlib.util.spec_from_file_location("parley_bench_quality", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    text: str = module.Transcriber(beam_size=1, threads=1)(x, 24000)
    return text


def test_errors_from_the_real_server(server: ParleyServe) -> None:
    port = server.port
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"input": "Hi", "voice": "nobody"}, 400, "voice"),
        ({"input": "x" * 20_001}, 400, "input"),
        ({"input": "   "}, 400, "input"),
        ({"input": "Hi", "speed": 0.25}, 400, "speed"),
        ({"input": "Hi", "response_format": "opus"}, 400, "response_format"),
        ({"voice": "heart"}, 400, "input"),
    ]
    for body, status, param in cases:
        got, headers, reply = post(port, body)
        err = json.loads(reply)["error"]
        assert (got, err["param"], err["type"]) == (status, param, "invalid_request_error"), reply
        assert headers["content-type"] == "application/json"

    def raw(data: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(data)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    assert raw(f"POST {PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode()).startswith(b"HTTP/1.1 411 ")
    assert raw(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode()).startswith(
        b"HTTP/1.1 413 "
    )
    assert raw(f"GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode()).startswith(b"HTTP/1.1 405 ")
    assert raw(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{{bad}}".encode()).startswith(
        b"HTTP/1.1 400 "
    )
    assert server.health()["status"] == "ok"


def test_leaving_mid_body_stops_the_synthesis(server: ParleyServe) -> None:
    wait_idle(server)
    body = json.dumps({"input": LONG_TEXT * 3, "response_format": "pcm"}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        got = b""
        while len(got) < 10_000:
            got += s.recv(65536)
        assert got.startswith(b"HTTP/1.1 200 OK\r\n")
        assert server.health()["http_requests"] == 1
    t0 = time.monotonic()
    h = wait_idle(server)
    assert time.monotonic() - t0 < 5
    time.sleep(0.5)
    assert server.health()["jobs_completed"] == h["jobs_completed"], "synthesis went on after the client left"


def test_websockets_on_the_same_port(server: ParleyServe) -> None:
    from websockets.asyncio.client import connect

    async def main() -> None:
        url = f"ws://127.0.0.1:{server.port}"
        async with connect(url, compression=None, max_size=None) as ws:
            assert json.loads(await ws.recv())["protocol"] == 1
            await ws.send(
                json.dumps({"type": "speak", "id": "a", "text": "Hello there.", "format": "pcm_s16le"})
            )
            frames: list[bytes] = []
            while True:
                m = await ws.recv()
                if isinstance(m, bytes):
                    frames.append(m)
                elif json.loads(m)["type"] in ("done", "error"):
                    assert json.loads(m)["type"] == "done"
                    break
            assert_speech(pcm(b"".join(frames)), min_s=0.4, max_s=4.0)
        async with connect(f"{url}/v2") as ws:
            assert json.loads(await ws.recv())["protocol"] == 2

    # and at the same time as an HTTP request
    result: list[tuple[int, dict[str, str], bytes]] = []
    t = threading.Thread(
        target=lambda: result.append(post(server.port, {"input": SENTENCE, "response_format": "pcm"}))
    )
    t.start()
    asyncio.run(asyncio.wait_for(main(), 60))
    t.join(120)
    assert result and result[0][0] == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10) as r:
        assert r.status == 200 and b"<html" in r.read().lower()
