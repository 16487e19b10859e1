"""Parley protocol v2 benchmark: many contexts, cancel (barge-in), token-streamed text.

    python benchmarks/contexts.py                       # everything -> benchmarks/results/contexts.json
    python benchmarks/contexts.py --counts 1 4 16 --repeats 2 --skip-tokens

The server runs in its own process (``parley serve``, voice heart, one synthesis thread per core);
the client is this process, over ``ws://127.0.0.1`` with the ``parley.v2`` subprotocol. Every
frame goes through :class:`parley_server.protocol_v2.ClientProtocolV2`, which checks its header
(sequence numbers, contiguous sample offsets).

1. **Concurrent contexts.** N contexts (1, 4, 16, 32, 64) start at once, on one connection and on
   N connections, and (third mode) on one connection with their starts spread evenly over one
   second; each speaks one sentence (~4 s). Each is consumed at real-time pace: a player
   starts at the context's first frame and plays on; ``first audible`` is when the first sample
   above -40 dBFS is heard, from the ``create`` (benchmarks/common.py ArrivalLog); an underrun is
   a frame that arrives after its playback time (no jitter buffer). Warm-up rounds are excluded.
2. **Cancel.** While 8 other contexts speak, a context is cancelled at a random moment: the time
   from sending ``cancel`` to receiving ``cancelled``, and the frames of it received after
   ``cancelled`` (the protocol promises none).
3. **Token streaming.** Text arrives as LLM-style tokens at 20 tokens/s; the first audible sample
   is measured from the moment the token completing the first clause was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ArrivalLog, load_sentences, pct, write_results  # noqa: E402

VOICE = "heart"


# -- server ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, threads: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "parley_clients.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--voices", VOICE, "--threads", str(threads), "--max-contexts", "64", "--max-connections", "128",
        "--log-level", "WARNING",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 180 s")


# -- client ------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    t0: float  # when its create was sent (or the first clause completed, for token streaming)
    log: ArrivalLog | None = None
    end: str | None = None
    ended_at: float | None = None
    frames_after_end: int = 0
    frames: int = 0
    cancel_sent_at: float | None = None
    frames_after_cancel_sent: int = 0
    done_stats: dict[str, Any] = field(default_factory=dict)


class Conn:
    """A v2 connection with a reader task that files every event under its context."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ctx: dict[str, Ctx] = {}
        self.violations: list[str] = []

    async def __aenter__(self) -> Conn:
        from parley_server.protocol_v2 import ClientProtocolV2
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        self.proto = ClientProtocolV2()
        self.ws = await connect(
            self.url,
            subprotocols=[Subprotocol("parley.v2")],
            compression=None,
            max_size=None,
            open_timeout=30,
        )
        self.proto.receive_text(str(await self.ws.recv()))
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader

    async def create(self, cid: str, t0: float | None = None, **options: object) -> Ctx:
        _, msg = self.proto.create(cid, **options)
        ctx = self.ctx[cid] = Ctx(time.perf_counter() if t0 is None else t0)
        await self.ws.send(msg)
        return ctx

    async def _read(self) -> None:
        from parley_server.protocol import ProtocolViolation
        from parley_server.protocol_v2 import (
            ContextAudio,
            ContextCancelled,
            ContextCreated,
            ContextDone,
            ContextError,
        )

        async for m in self.ws:
            t = time.perf_counter()
            events = self.proto.receive_bytes(m) if isinstance(m, bytes) else self.proto.receive_text(m)
            for ev in events:
                if isinstance(ev, ContextAudio):
                    c = self.ctx[ev.context]
                    assert c.log is not None
                    c.log.add(ev.samples.astype(np.float32) / 32768.0, t)
                    c.frames += 1
                    if c.end is not None:
                        c.frames_after_end += 1
                    if c.cancel_sent_at is not None:
                        c.frames_after_cancel_sent += 1
                elif isinstance(ev, ContextCreated):
                    self.ctx[ev.context].log = ArrivalLog(self.ctx[ev.context].t0, ev.sample_rate_hz)
                elif isinstance(ev, (ContextDone, ContextCancelled, ContextError)):
                    assert ev.context is not None
                    c = self.ctx[ev.context]
                    c.end, c.ended_at = type(ev).__name__, t
                    if isinstance(ev, ContextDone):
                        c.done_stats = ev.stats
                    if isinstance(ev, ContextError):
                        self.violations.append(f"{ev.code}: {ev.message}")
                elif isinstance(ev, ProtocolViolation):
                    self.violations.append(ev.message)

    async def wait_ended(self, cids: list[str], timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while any(self.ctx[c].end is None for c in cids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"contexts did not end: {[c for c in cids if self.ctx[c].end is None]}")
            await asyncio.sleep(0.005)


# -- 1. concurrent contexts --------------------------------------------------------------------------


async def round_of(
    url: str,
    n: int,
    texts: list[str],
    one_connection: bool,
    seed: int,
    stagger_s: float = 0.0,
    first_text: int = 0,
) -> list[Ctx]:
    """N contexts, created at once (``stagger_s`` 0) or one every ``stagger_s / n`` seconds,
    speaking texts ``first_text``, ``first_text + 1``, ... (round-robin over ``texts``)."""
    conns = [Conn(url) for _ in range(1 if one_connection else n)]
    for c in conns:
        await c.__aenter__()
    try:
        made: list[tuple[Conn, str]] = []
        start = time.perf_counter()
        for i in range(n):
            if stagger_s:
                await asyncio.sleep(max(0.0, start + i * stagger_s / n - time.perf_counter()))
            conn = conns[0 if one_connection else i]
            cid = f"c{i}"
            await conn.create(
                cid, text=texts[(first_text + i) % len(texts)], end=True, voice=VOICE, seed=seed + i
            )
            made.append((conn, cid))
        for conn in conns:
            await conn.wait_ended([cid for c, cid in made if c is conn])
        for conn in conns:
            if conn.violations:
                raise RuntimeError(f"protocol problems: {conn.violations[:3]}")
        return [conn.ctx[cid] for conn, cid in made]
    finally:
        for c in conns:
            await c.__aexit__()


def summarize_round(ctxs: list[Ctx]) -> dict[str, Any]:
    fa, fc, late, worst, audio_s = [], [], 0, 0.0, 0.0
    for c in ctxs:
        assert c.log is not None and c.end == "ContextDone", c.end
        a = c.log.first_audible_s()
        if a is None:
            raise RuntimeError("a context produced no audible audio")
        fa.append(a)
        fc.append(c.log.first_chunk_s)
        n_late, w = c.log.underruns(0.0)
        late += n_late
        worst = max(worst, w)
        audio_s += c.log.ends[-1] / c.log.sr
    return {
        "first_audible_s": fa,
        "first_frame_s": fc,
        "late_frames": late,
        "worst_late_s": worst,
        "audio_s": audio_s,
    }


MODES = {  # name: (one connection?, starts spread over this many seconds)
    "one_connection": (True, 0.0),
    "one_connection_each": (False, 0.0),
    "one_connection_staggered_1s": (True, 1.0),
}


def bench_concurrency(url: str, counts: list[int], repeats: int, texts: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    asyncio.run(round_of(url, 4, texts, True, 0))  # warm-up, excluded
    for mode, (one, stagger_s) in MODES.items():
        out[mode] = {}
        for n in counts:
            fa: list[float] = []
            fc: list[float] = []
            late = 0
            worst = 0.0
            streams = 0
            for r in range(repeats):
                # each round starts where the last one stopped: 1 context is not always sentence 1
                rnd = round_of(url, n, texts, one, 100 * r, stagger_s, first_text=r * n)
                res = summarize_round(asyncio.run(rnd))
                fa += res["first_audible_s"]
                fc += res["first_frame_s"]
                late += res["late_frames"]
                worst = max(worst, res["worst_late_s"])
                streams += n
            out[mode][str(n)] = {
                "contexts": n,
                "rounds": repeats,
                "first_audible_ms": ms_summary(fa),
                "first_frame_ms": ms_summary(fc),
                "underrun_frames": late,
                "worst_late_ms": 1000 * worst,
            }
            p50, p95, p99 = (pct(fa, q) * 1e3 for q in (50, 95, 99))
            print(
                f"  {mode:19} {n:3d} contexts: first audible p50 {p50:.1f} p95 {p95:.1f} p99 {p99:.1f} ms; "
                f"underrun frames {late} (worst {worst * 1e3:.1f} ms)",
                flush=True,
            )
    return out


def ms_summary(values: list[float]) -> dict[str, float]:
    v = [x * 1e3 for x in values]
    return {
        "p50": pct(v, 50),
        "p95": pct(v, 95),
        "p99": pct(v, 99),
        "min": min(v),
        "max": max(v),
        "n": len(v),
    }


# -- 2. cancel -----------------------------------------------------------------------------------------


async def bench_cancel_async(url: str, trials: int, long_text: str, background: int) -> dict[str, Any]:
    rng = random.Random(5)
    latencies: list[float] = []
    after_cancelled = 0
    in_flight: list[int] = []
    async with Conn(url) as conn:
        for i in range(background):
            await conn.create(f"bg{i}", text=long_text, end=True, voice=VOICE)
        for t in range(trials):
            cid = f"x{t}"
            ctx = await conn.create(cid, text=long_text, end=True, voice=VOICE)
            await asyncio.sleep(rng.uniform(0.2, 1.2))
            if ctx.end is not None:
                continue
            ctx.cancel_sent_at = time.perf_counter()
            await conn.ws.send(conn.proto.cancel(cid))
            await conn.wait_ended([cid], 30)
            assert ctx.ended_at is not None and ctx.end == "ContextCancelled", ctx.end
            latencies.append(ctx.ended_at - ctx.cancel_sent_at)
            in_flight.append(ctx.frames_after_cancel_sent)
            await asyncio.sleep(0.05)  # frames after `cancelled` would have arrived by now
            after_cancelled += ctx.frames_after_end
            # keep the background busy: restart finished background contexts
            for i in range(background):
                b = conn.ctx.get(f"bg{i}")
                if b is not None and b.end is not None:
                    del conn.ctx[f"bg{i}"]
                    await conn.create(f"bg{i}", text=long_text, end=True, voice=VOICE)
        if conn.violations:
            raise RuntimeError(f"protocol problems: {conn.violations[:3]}")
    return {
        "trials": len(latencies),
        "background_contexts": background,
        "cancel_to_cancelled_ms": ms_summary(latencies),
        "frames_after_cancelled": after_cancelled,
        "frames_in_flight_between_cancel_and_cancelled": {
            "p50": pct(in_flight, 50),
            "p99": pct(in_flight, 99),
            "max": max(in_flight),
        },
    }


# -- 3. token streaming --------------------------------------------------------------------------------

CLAUSE = re.compile(r"[,;:]\s|[.!?]\s")


def tokens_of(text: str) -> list[str]:
    """LLM-style tokens: words with their leading space, punctuation split off now and then."""
    out: list[str] = []
    for i, w in enumerate(text.split(" ")):
        tok = (" " if i else "") + w
        if len(w) > 6 and w[-1] in ",.;:!?":
            out += [tok[:-1], tok[-1]]
        else:
            out.append(tok)
    return out


def first_clause_token(tokens: list[str], min_words: int = 3) -> int:
    """Index of the token that completes the first clause the server can speak (>= 3 words
    before a , ; : or a ! ? — or the token after a period, which is what makes a period certain)."""
    words = 0
    for i, tok in enumerate(tokens):
        words += bool(re.search(r"[A-Za-z0-9]", tok))
        if tok.rstrip()[-1:] in ",;!?" and words >= min_words:
            return i
        if tok.rstrip()[-1:] == "." and words >= 1:
            return i + 1
    raise ValueError("no clause")


async def stream_tokens(conn: Conn, cid: str, text: str, rate_per_s: float) -> Ctx:
    tokens = tokens_of(text)
    k = first_clause_token(tokens)
    ctx = await conn.create(cid, voice=VOICE, latency_budget_ms=False)
    while ctx.log is None:
        await asyncio.sleep(0.001)
    period = 1.0 / rate_per_s
    start = time.perf_counter()
    for i, tok in enumerate(tokens):
        await asyncio.sleep(max(0.0, start + i * period - time.perf_counter()))
        await conn.ws.send(conn.proto.text(cid, tok))
        if i == k:
            ctx.t0 = time.perf_counter()
            ctx.log.t0 = ctx.t0
    await conn.ws.send(conn.proto.end(cid))
    await conn.wait_ended([cid])
    return ctx


async def bench_tokens_async(url: str, texts: list[str], rate: float, concurrent: int) -> dict[str, Any]:
    firsts: list[float] = []
    async with Conn(url) as conn:
        await stream_tokens(conn, "warm", texts[0], rate)  # warm-up, excluded
        for r in range(0, len(texts), concurrent):
            batch = texts[r : r + concurrent]
            ctxs = await asyncio.gather(
                *(stream_tokens(conn, f"t{r + j}", t, rate) for j, t in enumerate(batch))
            )
            for c in ctxs:
                assert c.log is not None
                fa = c.log.first_audible_s()
                if fa is None:
                    raise RuntimeError("no audible audio")
                firsts.append(fa)
        if conn.violations:
            raise RuntimeError(f"protocol problems: {conn.violations[:3]}")
    return {
        "tokens_per_s": rate,
        "concurrent_streams": concurrent,
        "first_audible_after_first_clause_ms": ms_summary(firsts),
    }


# -- main ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 4, 16, 32, 64], help="concurrent contexts")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per count (default 3)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="server synthesis threads")
    ap.add_argument("--cancel-trials", type=int, default=60, help="cancels measured (default 60)")
    ap.add_argument("--token-texts", type=int, default=12, help="texts streamed as tokens (default 12)")
    ap.add_argument("--skip-concurrency", action="store_true")
    ap.add_argument("--skip-cancel", action="store_true")
    ap.add_argument("--skip-tokens", action="store_true")
    ap.add_argument("--url", default=None, help="use a running server instead of starting one")
    ap.add_argument("--out", default="contexts", help="results file name under benchmarks/results/")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sentences = load_sentences()
    paragraphs = sentences  # one sentence each: ~4-5 s of speech
    long_text = " ".join(sentences)
    token_texts = [" ".join(sentences[i : i + 2]) for i in range(len(sentences) - 1)][: args.token_texts]

    proc = None
    url = args.url
    if url is None:
        port = free_port()
        proc = start_server(port, args.threads)
        url = f"ws://127.0.0.1:{port}"
    result: dict[str, Any] = {"server_threads": args.threads, "voice": VOICE, "load_before": os.getloadavg()}
    try:
        if not args.skip_concurrency:
            print("concurrent contexts (all created at once, each consumed at real-time pace):", flush=True)
            result["concurrency"] = bench_concurrency(url, args.counts, args.repeats, paragraphs)
        if not args.skip_cancel:
            result["cancel"] = asyncio.run(bench_cancel_async(url, args.cancel_trials, long_text, 8))
        if not args.skip_tokens:
            result["tokens"] = asyncio.run(bench_tokens_async(url, token_texts, 20.0, 1))
            result["tokens_16_concurrent"] = asyncio.run(bench_tokens_async(url, token_texts * 2, 20.0, 16))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    result["load_after"] = os.getloadavg()
    path = write_results(args.out, result)
    print_summary(result)
    print(f"\nwrote {path}")
    return 0


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def print_summary(r: dict[str, Any]) -> None:
    print("\n== summary (targets from the issue) ==")
    lb, la = r.get("load_before"), r.get("load_after")
    if lb and la:
        print(
            "machine load average (1/5/15 min): before "
            + "/".join(f"{x:.1f}" for x in lb)
            + ", after "
            + "/".join(f"{x:.1f}" for x in la)
        )
    conc = r.get("concurrency")
    if conc:
        for mode, rows in conc.items():
            print(f"{mode}:")
            for n, row in rows.items():
                fa = row["first_audible_ms"]
                print(
                    f"  {int(n):3d} contexts: first audible p50 {fa['p50']:6.1f}  p95 {fa['p95']:6.1f}  "
                    f"p99 {fa['p99']:6.1f} ms; underrun frames {row['underrun_frames']}"
                )
        under = sum(row["underrun_frames"] for rows in conc.values() for row in rows.values())
        print(f"zero underruns up to 64 contexts: {under} underrun frames -> {verdict(under == 0)}")
        for mode, rows in conc.items():
            if "16" in rows:
                p95 = rows["16"]["first_audible_ms"]["p95"]
                print(
                    f"p95 first audible at 16 contexts ({mode}) {p95:.1f} ms <= 100 -> {verdict(p95 <= 100)}"
                )
    c = r.get("cancel")
    if c:
        lat = c["cancel_to_cancelled_ms"]
        print(
            f"cancel -> cancelled: p50 {lat['p50']:.2f} ms (<= 5 -> {verdict(lat['p50'] <= 5)}), "
            f"p99 {lat['p99']:.2f} ms (<= 20 -> {verdict(lat['p99'] <= 20)}); "
            f"frames after cancelled: {c['frames_after_cancelled']} "
            f"(with {c['background_contexts']} other contexts speaking)"
        )
    for key in ("tokens", "tokens_16_concurrent"):
        t = r.get(key)
        if t:
            fa = t["first_audible_after_first_clause_ms"]
            print(
                f"token streaming at {t['tokens_per_s']:.0f} tok/s, {t['concurrent_streams']} at once: "
                "first audible "
                f"p50 {fa['p50']:.1f} p95 {fa['p95']:.1f} max {fa['max']:.1f} ms after the first clause "
                f"(<= 100 -> {verdict(fa['p95'] <= 100)} at p95)"
            )


if __name__ == "__main__":
    raise SystemExit(main())
