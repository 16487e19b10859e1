"""Parley's voices against the runtimes they come from: latency, real-time factor and memory.

    bash scripts/install.sh bench               # piper-tts 1.8.0 (the joe peer) in Parley's venv
    bash benchmarks/peers/setup.sh              # kokoro-onnx 0.6.1 in benchmarks/.venv-peers
    .venv/bin/python benchmarks/voices.py       # everything -> benchmarks/results/voices.json
    .venv/bin/python benchmarks/voices.py --skip kokoro,memory --repeats 5

Three parts (``--skip`` takes any of joe, kokoro, memory):

joe      Parley voice "joe" vs piper-tts 1.8.0 (``PiperVoice.load(path).synthesize(text)``, one
         AudioChunk per sentence) on the same model file, the sentences of
         benchmarks/sentences.txt, ``--repeats`` passes, interleaved sentence by sentence (the order
         of the two alternates between passes); 3 warm-up sentences each are excluded. piper-tts
         builds its session with onnxruntime's default options (intra-op threads 0 = one per
         physical core); here its session is rebuilt with ``--threads`` intra-op threads (and 1
         inter-op thread) so both run on the same number of threads (``--peer-default-threads``
         keeps piper's default instead).
kokoro   Parley voice "af_heart" vs kokoro-onnx 0.6.1 with the same model file and style pack, run
         as a subprocess in its own venv (benchmarks/peers/kokoro_onnx_runner.py; it times itself,
         so the pipe is not counted). The 10-20-word sentences of benchmarks/sentences.txt, one call
         each (kokoro-onnx ``create``, its main API; for one sentence it is one batch, the same work
         as its stream API), interleaved as above; then 5-sentence paragraphs, Parley's
         ``Engine.stream`` vs kokoro-onnx ``create_stream``. Same thread count for both.
memory   The real server (``parley serve``, every voice: the default), load time = from the
         process start until it accepts connections (it loads and warms every voice first); then a
         workload over the WebSocket: ``--paragraphs`` paragraphs of 5 sentences over heart, joe
         and several Kokoro voices, ``--concurrency`` at a time; VmRSS and VmHWM of the server
         process from /proc/<pid>/status after load and after the workload.

Latency is measured as latency.py does (benchmarks/common.py ArrivalLog): first chunk = arrival
of the first audio; first audible = when a listener hears the first 10 ms window above -40 dBFS,
with playback starting at the first arrival. RTF = time to the last chunk / audio duration.
"first chunk CPU" = CPU seconds the synthesising process used until its first chunk
(``time.process_time``, all its threads): on a shared machine it moves far less with the load
than the wall-clock figures, so it shows what each side costs; the wall-clock figures are what a
listener got on this machine at the time (the load average is recorded beside them).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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

HERE = Path(__file__).resolve().parent
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
KOKORO_RUNNER = HERE / "peers" / "kokoro_onnx_runner.py"
QUALITY_SENTENCES = HERE / "quality_sentences.txt"
WARMUP = 3

Series = dict[str, list[float]]


def _series() -> Series:
    return {"first_chunk": [], "first_audible": [], "lead_silence": [], "first_chunk_cpu": []}


def _collect(into: Series, log: ArrivalLog) -> None:
    fa, lead = log.first_audible_s(), log.leading_silence_s()
    if fa is None or lead is None:
        raise RuntimeError("a request produced no audible audio")
    into["first_chunk"].append(log.first_chunk_s)
    into["first_audible"].append(fa)
    into["lead_silence"].append(lead)
    cpu = getattr(log, "cpu_first_s", None)
    if cpu is not None:
        into["first_chunk_cpu"].append(cpu)


def _summary(s: Series, compute_s: float, audio_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {k: summary_ms(v) for k, v in s.items() if v}
    out["rtf"] = compute_s / audio_s if audio_s else None
    out["compute_s"] = compute_s
    out["audio_s"] = audio_s
    return out


def _parley_log(engine: Any, text: str, voice: str) -> ArrivalLog:
    from parley_engine import SpeakSettings

    c0 = time.process_time()
    t0 = time.perf_counter()
    log = ArrivalLog(t0, engine.sample_rate_hz(voice))
    for chunk in engine.stream(text, voice=voice, settings=SpeakSettings(seed=1)):
        log.add(chunk.samples)
        if len(log.times) == 1:
            log.cpu_first_s = time.process_time() - c0  # type: ignore[attr-defined]
    return log


def _span(log: ArrivalLog) -> tuple[float, float]:
    """(seconds to the last chunk, seconds of audio)."""
    return log.times[-1] - log.t0, log.ends[-1] / log.sr


# -- joe vs piper-tts ---------------------------------------------------------------------------


def bench_joe(sentences: list[str], repeats: int, threads: int, peer_default_threads: bool) -> dict[str, Any]:
    import onnxruntime as ort
    from parley_engine import Engine
    from parley_engine.assets import PIPER_JOE
    from piper import PiperVoice

    model = PIPER_JOE.verify()
    t = time.perf_counter()
    engine = Engine.load(["joe"], threads=threads)
    engine.warmup()
    parley_load_s = time.perf_counter() - t

    t = time.perf_counter()
    peer = PiperVoice.load(model)
    if not peer_default_threads:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        peer.session = ort.InferenceSession(str(model), sess_options=so, providers=["CPUExecutionProvider"])
    peer_load_s = time.perf_counter() - t
    sr_peer = peer.config.sample_rate

    def peer_log(text: str) -> ArrivalLog:
        c0 = time.process_time()
        t0 = time.perf_counter()
        log = ArrivalLog(t0, sr_peer)
        for ch in peer.synthesize(text):
            log.add(ch.audio_float_array)
            if len(log.times) == 1:
                log.cpu_first_s = time.process_time() - c0  # type: ignore[attr-defined]
        return log

    for s in sentences[:WARMUP]:
        _parley_log(engine, s, "joe")
        peer_log(s)

    ours, theirs = _series(), _series()
    span = {"parley": [0.0, 0.0], "peer": [0.0, 0.0]}
    for r in range(repeats):
        for s in sentences:
            order = ("parley", "peer") if r % 2 == 0 else ("peer", "parley")
            for who in order:
                log = _parley_log(engine, s, "joe") if who == "parley" else peer_log(s)
                _collect(ours if who == "parley" else theirs, log)
                c, a = _span(log)
                span[who][0] += c
                span[who][1] += a
    from importlib.metadata import version

    return {
        "voice": "joe",
        "model": str(model.name),
        "sentences": len(sentences),
        "repeats": repeats,
        "threads": threads,
        "peer": {
            "name": f"piper-tts {version('piper-tts')}",
            "threads": "onnxruntime default (0 = one per physical core)" if peer_default_threads else threads,
            "load_s": peer_load_s,
        },
        "parley_load_and_warmup_s": parley_load_s,
        "parley": _summary(ours, *span["parley"]),
        "piper_tts": _summary(theirs, *span["peer"]),
    }


# -- af_heart vs kokoro-onnx ----------------------------------------------------------------------


class KokoroPeer:
    """kokoro_onnx_runner.py in benchmarks/.venv-peers, one request at a time over a pipe."""

    def __init__(self, model: Path, voice_bin: Path, threads: int) -> None:
        if not PEERS_PYTHON.exists():
            raise RuntimeError(f"{PEERS_PYTHON} missing: run `bash benchmarks/peers/setup.sh`")
        cmd = [str(PEERS_PYTHON), str(KOKORO_RUNNER), "--model", str(model), "--voice-bin", str(voice_bin)]
        cmd += ["--threads", str(threads)]
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads)))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"kokoro-onnx runner exited ({self.proc.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _ask(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def log(self, cmd: str, text: str) -> ArrivalLog:
        r = self._ask({"cmd": cmd, "text": text})
        audio = np.frombuffer(base64.b64decode(r["audio_f32_b64"]), dtype="<f4")
        log = ArrivalLog(0.0, int(r["sample_rate_hz"]))
        pos = 0
        for t, n in r["chunks"]:
            log.add(audio[pos : pos + n], t=float(t))
            pos += n
        log.cpu_first_s = r.get("cpu_first_s")  # type: ignore[attr-defined]
        return log

    def close(self) -> dict[str, Any]:
        mem = self._ask({"cmd": "quit"})
        self.proc.wait(timeout=30)
        return mem


def bench_kokoro(
    sentences: list[str], paragraphs: list[str], repeats: int, threads: int, voice: str
) -> dict[str, Any]:
    from parley_engine import Engine
    from parley_engine.assets import KOKORO_MODEL, KOKORO_VOICES

    t = time.perf_counter()
    engine = Engine.load([voice], threads=threads)
    engine.warmup()
    parley_load_s = time.perf_counter() - t
    peer = KokoroPeer(KOKORO_MODEL.verify(), KOKORO_VOICES.file(f"{voice}.bin"), threads)
    try:
        for s in sentences[:WARMUP]:
            _parley_log(engine, s, voice)
            peer.log("create", s)
        res: dict[str, Any] = {}
        for case, texts, peer_cmd in (
            ("sentence", sentences, "create"),
            ("paragraph", paragraphs, "stream"),
        ):
            if not texts:
                continue
            ours, theirs = _series(), _series()
            span = {"parley": [0.0, 0.0], "peer": [0.0, 0.0]}
            chunks = {"parley": [], "peer": []}
            for r in range(repeats):
                for s in texts:
                    order = ("parley", "peer") if r % 2 == 0 else ("peer", "parley")
                    for who in order:
                        log = _parley_log(engine, s, voice) if who == "parley" else peer.log(peer_cmd, s)
                        _collect(ours if who == "parley" else theirs, log)
                        c, a = _span(log)
                        span[who][0] += c
                        span[who][1] += a
                        chunks[who].append(len(log.times))
            res[case] = {
                "texts": len(texts),
                "words": [len(s.split()) for s in texts],
                "repeats": repeats,
                "peer_api": f"Kokoro.{'create' if peer_cmd == 'create' else 'create_stream'}",
                "parley": _summary(ours, *span["parley"]) | {"chunks_mean": float(np.mean(chunks["parley"]))},
                "kokoro_onnx": _summary(theirs, *span["peer"])
                | {"chunks_mean": float(np.mean(chunks["peer"]))},
            }
    finally:
        mem = peer.close()
    return {
        "voice": voice,
        "threads": threads,
        "peer": {
            "name": f"kokoro-onnx {peer.info.get('kokoro_onnx')}",
            "onnxruntime": peer.info.get("onnxruntime"),
            "threads": threads,
            "load_s": peer.info.get("load_s"),
            "vmhwm_mb": mem.get("vmhwm_kb", 0) / 1024,
        },
        "parley_load_and_warmup_s": parley_load_s,
        **res,
    }


# -- memory of the real server ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_status(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                v = line.split()[1]
                out[key] = int(v) / 1024 if key != "Threads" else int(v)
    return out  # MiB (Threads: count)


async def _speak(url: str, rid: str, text: str, voice: str) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None) as ws:
        await ws.recv()  # hello
        t0 = time.perf_counter()
        msg = {"type": "speak", "id": rid, "text": text, "voice": voice, "format": "pcm_s16le", "seed": 1}
        await ws.send(json.dumps(msg))
        log: ArrivalLog | None = None
        while True:
            m = await ws.recv()
            if isinstance(m, bytes):
                assert log is not None
                log.add(np.frombuffer(m, dtype="<i2").astype(np.float32) / 32768.0)
                continue
            ev = json.loads(m)
            if ev["type"] == "start":
                log = ArrivalLog(t0, int(ev["sample_rate_hz"]))
            elif ev["type"] == "done":
                assert log is not None
                fa = log.first_audible_s()
                return {
                    "voice": voice,
                    "audio_s": log.ends[-1] / log.sr if log.ends else 0.0,
                    "first_audible_ms": None if fa is None else fa * 1e3,
                    "total_s": time.perf_counter() - t0,
                }
            elif ev["type"] == "error":
                raise RuntimeError(f"server error for {voice}: {ev}")


async def _workload(url: str, jobs: list[tuple[str, str]], concurrency: int) -> list[dict[str, Any]]:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, text: str, voice: str) -> dict[str, Any]:
        async with sem:
            return await _speak(url, f"m{i}", text, voice)

    return list(await asyncio.gather(*(one(i, t, v) for i, (v, t) in enumerate(jobs))))


def bench_memory(paragraphs: list[str], voices: list[str], concurrency: int) -> dict[str, Any]:
    port = _free_port()
    cmd = [sys.executable, "-m", "parley_clients.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("server did not start within 300 s") from None
                time.sleep(0.05)
        load_s = time.perf_counter() - t0
        after_load = _proc_status(proc.pid)
        url = f"ws://127.0.0.1:{port}"
        served = asyncio.run(_voices_served(url))
        jobs = [(voices[i % len(voices)], p) for i, p in enumerate(paragraphs)]
        t = time.perf_counter()
        results = asyncio.run(_workload(url, jobs, concurrency))
        wall_s = time.perf_counter() - t
        after = _proc_status(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "command": " ".join(["parley", *cmd[3:]]),
        "voices_loaded": served,
        "load_s": load_s,
        "after_load_mib": after_load,
        "workload": {
            "paragraphs": len(paragraphs),
            "sentences_per_paragraph": 5,
            "concurrency": concurrency,
            "voices": voices,
            "wall_s": wall_s,
            "audio_s": sum(r["audio_s"] for r in results),
            "requests": results,
        },
        "after_workload_mib": after,
    }


async def _voices_served(url: str) -> int:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None) as ws:
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "voices"}))
        reply = json.loads(await ws.recv())
    v = reply.get("voices")
    return len(v) if isinstance(v, list) else -1


# -- driver ---------------------------------------------------------------------------------------


def _paragraphs(sentences: list[str], n: int, per: int = 5) -> list[str]:
    groups = [sentences[i : i + per] for i in range(0, len(sentences) - per + 1, per)]
    return [" ".join(g) for g in groups[:n]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="passes over the sentences (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX intra-op threads, both sides (default 1)")
    ap.add_argument("--peer-default-threads", action="store_true", help="piper-tts: keep its default session")
    ap.add_argument("--kokoro-voice", default="af_heart")
    ap.add_argument("--kokoro-paragraphs", type=int, default=4, help="5-sentence paragraphs (default 4)")
    ap.add_argument("--paragraphs", type=int, default=10, help="memory workload paragraphs (default 10)")
    ap.add_argument("--concurrency", type=int, default=3, help="memory workload streams at once (default 3)")
    ap.add_argument(
        "--memory-voices",
        default="heart,joe,af_heart,am_michael,bf_emma,bm_george,af_bella",
        help="voices the memory workload cycles through",
    )
    ap.add_argument("--limit", type=int, default=0, help="only the first N sentences (0 = all; smoke tests)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: joe, kokoro, memory")
    ap.add_argument("--out", default="voices", help="results file name under benchmarks/results/")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    sentences = load_sentences()
    if args.limit:
        sentences = sentences[: args.limit]
    result: dict[str, Any] = {"git": _git_rev(), "args": vars(args)}
    if "joe" not in skip:
        load0 = os.getloadavg()
        result["joe"] = bench_joe(sentences, args.repeats, args.threads, args.peer_default_threads)
        result["joe"]["loadavg_1m_before_after"] = [load0[0], os.getloadavg()[0]]
        print_joe(result["joe"])
    if "kokoro" not in skip:
        ten_to_twenty = [s for s in sentences if 10 <= len(s.split()) <= 20]
        paras = _paragraphs(sentences, args.kokoro_paragraphs)
        load0 = os.getloadavg()
        result["kokoro"] = bench_kokoro(ten_to_twenty, paras, args.repeats, args.threads, args.kokoro_voice)
        result["kokoro"]["loadavg_1m_before_after"] = [load0[0], os.getloadavg()[0]]
        print_kokoro(result["kokoro"])
    if "memory" not in skip:
        paras = _paragraphs(load_sentences(QUALITY_SENTENCES), args.paragraphs)
        voices = [v.strip() for v in args.memory_voices.split(",") if v.strip()]
        result["memory"] = bench_memory(paras, voices, args.concurrency)
        print_memory(result["memory"])
    path = write_results(args.out, result)
    print(f"\nwrote {path}")
    return 0


def _git_rev() -> str:
    r = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE, check=False
    )
    return r.stdout.strip()


def _row(name: str, s: dict[str, Any]) -> str:
    fa, fc = s["first_audible"], s["first_chunk"]
    cpu = s.get("first_chunk_cpu", {}).get("p50_ms", float("nan"))
    return (
        f"{name:34}{fa['p50_ms']:9.1f}{fa['p95_ms']:9.1f}{fc['p50_ms']:9.1f}{fc['p95_ms']:9.1f}"
        f"{cpu:9.1f}{s['rtf']:8.3f}"
    )


_HEAD = (
    f"{'':34}{'first audible':>18}{'first chunk':>18}{'CPU':>9}\n"
    f"{'':34}{'p50 ms':>9}{'p95 ms':>9}{'p50 ms':>9}{'p95 ms':>9}{'p50 ms':>9}{'RTF':>8}"
)


def print_joe(r: dict[str, Any]) -> None:
    p, q = r["parley"], r["piper_tts"]
    la = r.get("loadavg_1m_before_after", [0, 0])
    print(
        f"\njoe: {r['sentences']} sentences x {r['repeats']} repeats, {r['threads']} ONNX thread(s) "
        f"each, warm, interleaved (load average {la[0]:.1f} -> {la[1]:.1f})"
    )
    print(_HEAD)
    print(_row("parley joe", p))
    print(_row(r["peer"]["name"], q))
    ratio = q["first_audible"]["p50_ms"] / p["first_audible"]["p50_ms"]
    print(f"first audible p50: piper-tts / parley = {ratio:.2f}x (target: parley <= 80 ms and >= 2x)")


def print_kokoro(r: dict[str, Any]) -> None:
    la = r.get("loadavg_1m_before_after", [0, 0])
    print(f"\nkokoro part: load average {la[0]:.1f} -> {la[1]:.1f}")
    for case in ("sentence", "paragraph"):
        if case not in r:
            continue
        c = r[case]
        p, q = c["parley"], c["kokoro_onnx"]
        w = c["words"]
        print(
            f"\n{r['voice']} {case}s: {c['texts']} x {c['repeats']} repeats ({min(w)}-{max(w)} words), "
            f"{r['threads']} ONNX thread(s) each, peer API {c['peer_api']}"
        )
        print(_HEAD)
        print(_row(f"parley {r['voice']}", p))
        print(_row(r["peer"]["name"], q))
        ratio = q["first_audible"]["p50_ms"] / p["first_audible"]["p50_ms"]
        print(
            f"first audible p50: kokoro-onnx / parley = {ratio:.2f}x; chunks per request: parley "
            f"{p['chunks_mean']:.1f}, kokoro-onnx {q['chunks_mean']:.1f}"
            + (" (target: parley <= 600 ms and >= 2x)" if case == "sentence" else "")
        )


def print_memory(r: dict[str, Any]) -> None:
    a, b = r["after_load_mib"], r["after_workload_mib"]
    w = r["workload"]
    print(
        f"\nserver: `{r['command']}`, {r['voices_loaded']} voices, "
        f"ready (loaded + warm) in {r['load_s']:.1f} s"
    )
    print(f"after load:     VmRSS {a['VmRSS']:7.0f} MiB  VmHWM {a['VmHWM']:7.0f} MiB")
    print(
        f"after workload: VmRSS {b['VmRSS']:7.0f} MiB  VmHWM {b['VmHWM']:7.0f} MiB  "
        f"({w['paragraphs']} paragraphs x 5 sentences, {w['concurrency']} at a time, {w['audio_s']:.0f} s "
        f"of audio in {w['wall_s']:.0f} s, voices {','.join(w['voices'])}; target: <= 1 GB resident)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
