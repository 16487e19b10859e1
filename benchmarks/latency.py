"""Parley latency benchmark: first audible sample, real-time factor, WebSocket and concurrency.

    python benchmarks/latency.py                 # everything, writes benchmarks/results/latency.json
    python benchmarks/latency.py --repeats 5 --skip-ws

First audible = when a listener hears the first 10 ms window above -40 dBFS: a player starts at
the first chunk's arrival and plays on; a sample that arrives after its slot delays it. Warm-up
runs are excluded; Parley and hibari's own runtime are measured on the same sentences, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ArrivalLog, load_sentences, summary_ms, write_results  # noqa: E402


def bench_inprocess(sentences: list[str], repeats: int, threads: int) -> dict[str, Any]:
    from hibari import Hibari
    from parley_engine import Engine, SpeakSettings

    engine = Engine.load(["heart"], threads=threads)
    t = time.perf_counter()
    engine.warmup()
    warmup_s = time.perf_counter() - t
    peer = Hibari(threads=threads)
    for s in sentences[:3]:  # warm-up, excluded
        list(engine.stream(s, settings=SpeakSettings(seed=0)))
        next(iter(peer.stream(s, seed=0)))

    ours: dict[str, list[float]] = {"first_chunk": [], "first_audible": [], "lead_silence": []}
    theirs: dict[str, list[float]] = {"first_chunk": [], "first_audible": [], "lead_silence": []}
    compute_s = audio_s = peer_compute_s = peer_audio_s = 0.0
    for _ in range(repeats):
        for s in sentences:
            t0 = time.perf_counter()
            log = ArrivalLog(t0, engine.sample_rate_hz("heart"))
            for chunk in engine.stream(s, settings=SpeakSettings(seed=1)):
                log.add(chunk.samples)
            compute_s += log.times[-1] - t0
            audio_s += log.ends[-1] / log.sr
            _collect(ours, log)

            t0 = time.perf_counter()
            plog = ArrivalLog(t0, 24000)
            for wav in peer.stream(s, seed=1):
                plog.add(wav)
            peer_compute_s += plog.times[-1] - t0
            peer_audio_s += plog.ends[-1] / plog.sr
            _collect(theirs, plog)
    return {
        "threads": threads,
        "warmup_s": warmup_s,
        "parley": {k: summary_ms(v) for k, v in ours.items()} | {"rtf": compute_s / audio_s},
        "hibari_runtime": {k: summary_ms(v) for k, v in theirs.items()}
        | {"rtf": peer_compute_s / peer_audio_s},
    }


def _collect(into: dict[str, list[float]], log: ArrivalLog) -> None:
    fa = log.first_audible_s()
    lead = log.leading_silence_s()
    if fa is None or lead is None:
        raise RuntimeError("a sentence produced no audible audio")
    into["first_chunk"].append(log.first_chunk_s)
    into["first_audible"].append(fa)
    into["lead_silence"].append(lead)


# -- over the WebSocket ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(port: int, threads: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "parley_clients.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--voices",
        "heart",
        "--threads",
        str(threads),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 120 s")


async def _speak_ws(ws: Any, rid: str, text: str) -> ArrivalLog:
    t0 = time.perf_counter()
    await ws.send(
        json.dumps(
            {"type": "speak", "id": rid, "text": text, "voice": "heart", "format": "pcm_s16le", "seed": 1}
        )
    )
    log: ArrivalLog | None = None
    while True:
        msg = await ws.recv()
        if isinstance(msg, bytes):
            assert log is not None
            log.add(np.frombuffer(msg, dtype="<i2").astype(np.float32) / 32768.0)
            continue
        m = json.loads(msg)
        if m["type"] == "start":
            log = ArrivalLog(t0, int(m["sample_rate_hz"]))
        elif m["type"] == "done":
            assert log is not None
            return log
        elif m["type"] == "error":
            raise RuntimeError(m)


async def _ws_sequential(url: str, sentences: list[str], repeats: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    res: dict[str, list[float]] = {"first_chunk": [], "first_audible": [], "lead_silence": []}
    async with connect(url, max_size=None) as ws:
        await ws.recv()  # hello
        for i, s in enumerate(sentences[:3]):
            await _speak_ws(ws, f"w{i}", s)
        n = 0
        for _ in range(repeats):
            for s in sentences:
                n += 1
                _collect(res, await _speak_ws(ws, f"r{n}", s))
    return {k: summary_ms(v) for k, v in res.items()}


async def _ws_concurrent(url: str, text: str, streams: int, jitter_buffer_ms: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async def one(i: int) -> ArrivalLog:
        async with connect(url, max_size=None) as ws:
            await ws.recv()
            return await _speak_ws(ws, f"c{i}", text)

    logs = await asyncio.gather(*(one(i) for i in range(streams)))
    by_buffer = {}
    for jb in (0.0, 50.0, 100.0):
        lates = [log.underruns(jb / 1000) for log in logs]
        by_buffer[f"{jb:.0f}ms"] = {
            "streams_with_underrun": sum(1 for n, _ in lates if n),
            "worst_late_ms": max(w for _, w in lates) * 1e3,
        }
    per = []
    for log in logs:
        late, worst = log.underruns(jitter_buffer_ms / 1000)
        recv_s = log.times[-1] - log.times[0]
        per.append(
            {
                "late_frames": late,
                "worst_late_ms": worst * 1e3,
                "audio_s": log.ends[-1] / log.sr,
                "receive_s": recv_s,
                "first_chunk_ms": log.first_chunk_s * 1e3,
            }
        )
    return {
        "streams": streams,
        "jitter_buffer_ms": jitter_buffer_ms,
        "streams_with_underrun": sum(1 for p in per if p["late_frames"]),
        "worst_late_ms": max(p["worst_late_ms"] for p in per),
        "min_speed_x_realtime": min(p["audio_s"] / max(p["receive_s"], 1e-9) for p in per),
        "first_chunk": summary_ms([p["first_chunk_ms"] / 1e3 for p in per]),
        "first_audible": summary_ms([fa for log in logs if (fa := log.first_audible_s()) is not None]),
        "underruns_by_jitter_buffer": by_buffer,
        "per_stream": per,
    }


def bench_ws(
    sentences: list[str], repeats: int, threads: int, streams: int, jitter_ms: float
) -> dict[str, Any]:
    port = _free_port()
    proc = _start_server(port, threads)
    url = f"ws://127.0.0.1:{port}"
    try:
        seq = asyncio.run(_ws_sequential(url, sentences, repeats))
        paragraph = " ".join(sentences[:6])
        asyncio.run(_ws_concurrent(url, sentences[0], 2, jitter_ms))  # warm the worker pool
        conc = asyncio.run(_ws_concurrent(url, paragraph, streams, jitter_ms))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"server_threads": threads, "sequential": seq, "concurrent": conc}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="passes over the sentence set (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX intra-op threads per session (default 1)")
    ap.add_argument("--streams", type=int, default=16, help="concurrent WebSocket streams (default 16)")
    ap.add_argument(
        "--jitter-buffer-ms",
        type=float,
        default=0.0,
        help="client jitter buffer assumed in the underrun check (default 0)",
    )
    ap.add_argument("--skip-ws", action="store_true", help="in-process only")
    ap.add_argument("--out", default="latency", help="results file name under benchmarks/results/")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sentences = load_sentences()
    result: dict[str, Any] = {"sentences": len(sentences), "repeats": args.repeats}
    result["inprocess"] = bench_inprocess(sentences, args.repeats, args.threads)
    if not args.skip_ws:
        result["websocket"] = bench_ws(
            sentences, args.repeats, args.threads, args.streams, args.jitter_buffer_ms
        )
    path = write_results(args.out, result)
    print_summary(result)
    print(f"\nwrote {path}")
    return 0


def print_summary(r: dict[str, Any]) -> None:
    ip = r["inprocess"]
    p, h = ip["parley"], ip["hibari_runtime"]
    print(
        f"\n{r['sentences']} sentences x {r['repeats']} repeats, voice heart, {ip['threads']} ONNX thread(s)"
    )
    print(f"{'':34}{'p50 ms':>9}{'p95 ms':>9}")
    print(
        f"{'parley first audible (in-process)':34}{p['first_audible']['p50_ms']:9.1f}{p['first_audible']['p95_ms']:9.1f}"
    )
    print(
        f"{'parley first chunk (in-process)':34}{p['first_chunk']['p50_ms']:9.1f}{p['first_chunk']['p95_ms']:9.1f}"
    )
    print(
        f"{'hibari runtime first audible':34}{h['first_audible']['p50_ms']:9.1f}{h['first_audible']['p95_ms']:9.1f}"
    )
    print(
        f"{'hibari runtime first chunk':34}{h['first_chunk']['p50_ms']:9.1f}{h['first_chunk']['p95_ms']:9.1f}"
    )
    print(
        f"first audible p50 ratio hibari/parley: {h['first_audible']['p50_ms'] / p['first_audible']['p50_ms']:.1f}x"
    )
    print(f"real-time factor: parley {p['rtf']:.4f}, hibari runtime {h['rtf']:.4f}")
    if "websocket" in r:
        w = r["websocket"]
        s = w["sequential"]
        print(
            f"{'parley first audible (WebSocket)':34}{s['first_audible']['p50_ms']:9.1f}{s['first_audible']['p95_ms']:9.1f}"
        )
        print(
            f"{'parley first frame (WebSocket)':34}{s['first_chunk']['p50_ms']:9.1f}{s['first_chunk']['p95_ms']:9.1f}"
        )
        c = w["concurrent"]
        print(
            f"{c['streams']} concurrent streams (one paragraph each, all sent at once): slowest stream "
            f"{c['min_speed_x_realtime']:.1f}x real time; first frame p50 {c['first_chunk']['p50_ms']:.0f} ms "
            f"p95 {c['first_chunk']['p95_ms']:.0f} ms; first audible p50 {c['first_audible']['p50_ms']:.0f} ms "
            f"p95 {c['first_audible']['p95_ms']:.0f} ms"
        )
        for jb, u in c["underruns_by_jitter_buffer"].items():
            print(
                f"  client jitter buffer {jb:>5}: {u['streams_with_underrun']} of {c['streams']} streams "
                f"underrun (worst late {u['worst_late_ms']:.1f} ms)"
            )


if __name__ == "__main__":
    raise SystemExit(main())
