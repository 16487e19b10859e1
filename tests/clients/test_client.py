"""The asyncio client library against a real server (scripted engine)."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest
from parley_clients import (
    ParleyClient,
    ParleyConnectionError,
    ParleyServerError,
    synthesize,
    to_float32,
)
from parley_server.config import ServerConfig
from server_thread import ServerThread, ToneEngine

TOTAL_3 = 1200 + 2 * 4800  # samples of a 3-chunk stream


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


def test_speak_yields_frames_and_stats(tone_server: ServerThread) -> None:
    async def main() -> None:
        async with ParleyClient(tone_server.url) as c:
            assert c.hello.protocol == 1 and c.hello.default_voice == "heart"
            stream = c.speak("hello")
            frames = [f async for f in stream]
            assert all(f.dtype == np.int16 for f in frames)
            assert all(len(f) == 480 for f in frames[:-1])
            assert sum(len(f) for f in frames) == TOTAL_3
            assert stream.start is not None and stream.start.sample_rate_hz == 24000
            assert stream.stats is not None and stream.stats.chunks == 3
            assert stream.stats.audio_ms == pytest.approx(1000 * TOTAL_3 / 24000)
            assert stream.ended and stream.cancelled is None

    run(main())


def test_f32_and_read_all(tone_server: ServerThread) -> None:
    async def main() -> None:
        async with ParleyClient(tone_server.url) as c:
            x = await c.speak("hello", format="pcm_f32le", frame_ms=40).read_all()
            assert x.dtype == np.float32 and x.size == TOTAL_3
            t = np.arange(TOTAL_3) / 24000
            np.testing.assert_allclose(x, 0.5 * np.sin(2 * np.pi * 440 * t), atol=1e-6)

    run(main())


def test_voices(tone_server: ServerThread) -> None:
    async def main() -> None:
        async with ParleyClient(tone_server.url) as c:
            [v] = await c.voices()
            assert v.id == "heart" and v.sample_rate_hz == 24000 and v.description == "test tone"

    run(main())


def test_several_outstanding_requests(tone_server: ServerThread) -> None:
    async def main() -> None:
        async with ParleyClient(tone_server.url) as c:
            streams = [c.speak(f"chunks:{n}") for n in (1, 2, 3)]
            # Read them in reverse order: the client buffers what arrives for the others.
            sizes = [sum(len(f) for f in [f async for f in s]) for s in reversed(streams)]
            assert sizes == [TOTAL_3, 1200 + 4800, 1200]

    run(main())


def test_server_errors_raise(tone_server: ServerThread) -> None:
    async def main() -> None:
        async with ParleyClient(tone_server.url) as c:
            with pytest.raises(ParleyServerError) as info:
                async for _ in c.speak("hi", voice="nobody"):
                    pass
            assert info.value.code == "unknown_voice" and info.value.field == "voice"
            with pytest.raises(ParleyServerError) as info:
                await c.speak("", voice="heart").started()
            assert info.value.code == "empty_text"
            with pytest.raises(ParleyServerError) as info:
                await c.speak("refuse").read_all()
            assert info.value.code == "invalid_setting" and "refused" in info.value.message
            # Still usable.
            assert (await c.speak("chunks:1").read_all()).size == 1200

    run(main())


def test_cancel_ends_the_iteration(tone_server: ServerThread) -> None:
    async def main() -> None:
        async with ParleyClient(tone_server.url) as c:
            stream = c.speak("slow chunks:400")
            queued = c.speak("chunks:1")
            got = 0
            async for _ in stream:
                got += 1
                if got == 5:
                    await c.cancel(queued.id)
                    await stream.cancel()
            assert stream.cancelled is not None and stream.stats is None
            assert stream.cancelled.audio_ms_sent >= 100
            assert got * 20 == pytest.approx(stream.cancelled.audio_ms_sent)
            assert [f async for f in queued] == [] and queued.cancelled is not None
            assert (await c.speak("chunks:2").read_all()).size == 6000

    run(main())


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        with pytest.raises(ParleyConnectionError, match="cannot connect"):
            async with ParleyClient(f"ws://127.0.0.1:{port}"):
                pass

    run(main())


def test_server_going_away_fails_the_stream() -> None:
    async def main(st: ServerThread) -> None:
        async with ParleyClient(st.url) as c:
            stream = c.speak("slow chunks:1000")
            await stream.started()
            await asyncio.to_thread(st.__exit__)
            with pytest.raises(ParleyConnectionError):
                async for _ in stream:
                    pass
            with pytest.raises(ParleyConnectionError):
                c.speak("again")

    st = ServerThread(ToneEngine(), ServerConfig(port=0, worker_threads=2))
    st.__enter__()
    run(main(st))


def test_synthesize_blocking(tone_server: ServerThread) -> None:
    samples, sr, stats = synthesize(tone_server.url, "hello")
    assert samples.dtype == np.float32 and samples.size == TOTAL_3 and sr == 24000
    assert stats.chunks == 3
    result = synthesize(tone_server.url, "chunks:1", format="pcm_s16le")
    assert result.samples.size == 1200 and np.max(np.abs(result.samples)) <= 0.5 + 1e-4


def test_to_float32() -> None:
    x = to_float32(np.array([0, 16384, -32768, 32767], np.int16))
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [0.0, 0.5, -1.0, 32767 / 32768])
