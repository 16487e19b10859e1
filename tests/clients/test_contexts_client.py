"""The protocol v2 client library (ParleyContexts) against a real server (scripted engine)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from parley_clients import ParleyConnectionError, ParleyContexts, ParleyServerError
from server_thread import ServerThread

TOTAL_3 = 1200 + 2 * 4800  # samples of a 3-chunk stream of the tone engine


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


def test_contexts_speak_and_demultiplex(tone_server: ServerThread) -> None:
    async def main() -> None:
        async with ParleyContexts(tone_server.url) as conn:
            assert conn.hello.protocol == 2 and conn.hello.max_contexts == 64
            assert [v.id for v in await conn.voices()] == ["heart"]
            a = conn.create(text="one", end=True)
            b = conn.create(text="two chunks:2", end=True, format="pcm_f32le")
            audio_a, audio_b = await asyncio.gather(a.read_all(), b.read_all())
            assert a.id != b.id and a.created is not None and b.created is not None
            assert a.created.stream != b.created.stream
            assert audio_a.size == TOTAL_3 and audio_b.size == 1200 + 4800
            assert audio_b.dtype == np.float32 and 0.4 < float(np.max(np.abs(audio_b))) <= 0.5
            assert a.done is not None and a.done.samples == TOTAL_3 and a.ended

    run(main())


def test_cancel_ends_iteration(tone_server: ServerThread) -> None:
    async def main() -> None:
        async with ParleyContexts(tone_server.url) as conn:
            ctx = conn.create("long", text="slow chunks:400", end=True)
            first = await ctx.__anext__()
            assert first.sample_offset == 0 and first.seq == 0
            ctx.cancel()
            rest = [f async for f in ctx]
            assert ctx.cancelled is not None and ctx.done is None
            assert ctx.cancelled.samples_sent == first.samples.size + sum(f.samples.size for f in rest)

    run(main())


def test_errors(tone_server: ServerThread) -> None:
    async def main() -> None:
        async with ParleyContexts(tone_server.url) as conn:
            refused = conn.create("x", sample_rate_hz=12345)
            with pytest.raises(ParleyServerError) as exc:
                await refused.wait_created()
            assert exc.value.code == "unsupported_sample_rate" and exc.value.field == "sample_rate_hz"
            ok = conn.create("x", latency_budget_ms=False)
            await ok.wait_created()
            ok.send("a" * 20_001)  # over max_text_chars: refused, the context carries on
            ok.send("Still here.", end=True)
            audio = await ok.read_all()
            assert audio.size == TOTAL_3
            assert [e.code for e in ok.errors] == ["text_too_long"]
            with pytest.raises(ValueError):
                conn.create("")

    run(main())


def test_close_fails_open_contexts(tone_server: ServerThread) -> None:
    async def main() -> None:
        conn = ParleyContexts(tone_server.url)
        await conn.connect()
        ctx = conn.create("open")
        await ctx.wait_created()
        await conn.close()
        with pytest.raises(ParleyConnectionError):
            await ctx.read_all()
        with pytest.raises(ParleyConnectionError):
            conn.create("again")

    run(main())


def test_connect_failure() -> None:
    async def main() -> None:
        with pytest.raises(ParleyConnectionError):
            async with ParleyContexts("ws://127.0.0.1:9", open_timeout_s=2):
                pass

    run(main())
