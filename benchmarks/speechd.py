"""speech-dispatcher output module latency: from SPEAK written to the module's stdin to the first
sample leaving the module, and from STOP to silence.

Drives the module processes directly over their stdin/stdout, exactly as speech-dispatcher does:

* ``sd_parley`` in test mode (its virtual sound card logs, on CLOCK_MONOTONIC, when the first
  sample of each message started playing and when a STOP silenced it), with its phrase cache on
  (how it runs) and off (every message synthesised afresh);
* ``sd_espeak-ng`` (Debian's speech-dispatcher-espeak-ng), with ``audio_output_method=server``:
  its audio leaves the module as ``705 AUDIO`` blocks on stdout, so the first one is its first
  sample (espeak-ng hands a whole message over at once, so its STOP is timed to the ``703``);
* for comparison, Parley's WebSocket server (in this process, real engine, protocol v1): speak →
  first audio frame, i.e. what a module that went through the server would pay before its own work.

Cases: a single character (CHAR), a short phrase (SPEAK), STOP during a long text. Each case is
repeated ``--repeats`` times after ``--warmup`` unmeasured ones; every message is stopped once its
first sample has played (screen-reader users interrupt constantly, and it keeps the run short).

    python benchmarks/speechd.py [--repeats 40] [--no-espeak] [--no-server]

Writes benchmarks/results/speechd.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

CHAR = "a"
DISTINCT = "bcdefghijklmnopqrstuvwxyz0123456789.,;:!?()"  # each typed once: first occurrences
PHRASE = "Open the file menu."
LONG = " ".join(
    [
        "The quick brown fox jumps over the lazy dog while the band plays on.",
        "Streaming speech has to start quickly, keep going without gaps, and stop at once when asked.",
    ]
    * 4
)
TARGETS_MS = {"char_p50": 15.0, "phrase_p50": 30.0, "phrase_p99": 60.0, "stop_p99": 20.0}
ESPEAK = Path("/usr/lib/speech-dispatcher-modules/sd_espeak-ng")
SET_BLOCK = (
    "SET\npitch=0\npitch_range=0\nrate=0\nvolume=0\npunctuation_mode=none\nspelling_mode=off\n"
    "cap_let_recogn=none\nlanguage=en\nsynthesis_voice=NULL\n.\n"
)


def stats(values_s: list[float]) -> dict[str, float]:
    v = np.asarray(values_s, dtype=np.float64) * 1e3
    return {
        "p50_ms": round(float(np.percentile(v, 50)), 3),
        "p99_ms": round(float(np.percentile(v, 99)), 3),
        "min_ms": round(float(v.min()), 3),
        "max_ms": round(float(v.max()), 3),
        "n": int(v.size),
        "values_ms": [round(float(x), 3) for x in v],
    }


class ModuleProcess:
    """A speech-dispatcher module process driven over its pipes."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.stdout = self.proc.stdout
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def send(self, text: str) -> float:
        data = text.encode()
        t = time.monotonic()
        self.stdin.write(data)
        self.stdin.flush()
        return t

    def _read(self) -> None:
        for ln in iter(self.stdout.readline, b""):
            self._lines.put(ln)
        self._lines.put(b"")

    def line(self, timeout_s: float = 60.0) -> bytes:
        try:
            ln = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"the module said nothing for {timeout_s} s") from None
        if not ln:
            raise RuntimeError("the module exited")
        return ln

    def until(self, pred: Callable[[bytes], bool], on_line: Callable[[bytes], None] | None = None) -> bytes:
        while True:
            ln = self.line()
            if on_line is not None:
                on_line(ln)
            if pred(ln):
                return ln

    def reply(self) -> bytes:
        return self.until(lambda ln: len(ln) >= 4 and ln[3:4] == b" " and not ln.startswith(b"7"))

    def close(self) -> None:
        try:
            self.send("QUIT\n")
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


def _is_terminal(ln: bytes) -> bool:
    return ln.startswith((b"702", b"703", b"704"))


# -- Parley's module ---------------------------------------------------------------------------------


class EventTail:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.events: list[dict[str, Any]] = []

    def poll(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind("\n") + 1
        self.offset += len(data[:end].encode())
        self.events += [json.loads(ln) for ln in data[:end].splitlines() if ln.strip()]

    def find(self, job: int, kind: str, timeout_s: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            for e in reversed(self.events):
                if e.get("job") == job and e["event"] == kind:
                    return e
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {kind} for job {job}")
            time.sleep(0.001)


def bench_parley(repeats: int, warmup: int, cache: bool) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "sd_parley"
    out = Path(tempfile.mkdtemp(prefix="parley-sd-bench-"))
    argv = [str(exe), "--test-output", str(out)] + ([] if cache else ["--no-cache"])
    m = ModuleProcess(argv)
    tail = EventTail(out / "events.jsonl")
    job = 0
    try:
        m.send("INIT\n")
        assert m.reply().startswith(b"299"), "INIT failed"
        m.send(SET_BLOCK)
        m.reply()
        m.reply()

        def first_sample(payload: str, stop_after_s: float = 0.0) -> tuple[float, float, float]:
            """(SPEAK -> first sample, STOP -> silence, STOP -> 703) in seconds."""
            nonlocal job
            t0 = m.send(payload)
            m.until(lambda ln: ln.startswith(b"701"))
            job += 1
            t_first = float(tail.find(job, "first_sample")["t"])
            if stop_after_s:
                time.sleep(stop_after_s)
            t_stop = m.send("STOP\n")
            end = m.until(_is_terminal)
            t_703 = time.monotonic()
            silence = tail.find(job, "silence") if end.startswith(b"703") else None
            stop = float(silence["t"]) - t_stop if silence is not None else float("nan")
            return t_first - t0, stop, t_703 - t_stop

        res: dict[str, Any] = {}
        for name, payload in (
            ("char", f"CHAR\n{CHAR}\n.\n"),
            ("phrase", f"SPEAK\n<speak>{PHRASE}</speak>\n.\n"),
        ):
            for _ in range(warmup):
                first_sample(payload)
            runs = [first_sample(payload) for _ in range(repeats)]
            res[name] = stats([r[0] for r in runs])
        if cache:  # the module pre-renders characters and key names while idle: let it finish
            t_wait = time.monotonic()
            while time.monotonic() - t_wait < 120 and not any(
                e["event"] == "cache_warm" for e in tail.events
            ):
                tail.poll()
                time.sleep(0.1)
            res["warm_wait_s"] = round(time.monotonic() - t_wait, 1)
        # a data line starting with "." is escaped as speech-dispatcher does it: ".."
        res["char_first_time"] = stats(
            [first_sample(f"CHAR\n{'.' + c if c == '.' else c}\n.\n")[0] for c in DISTINCT]
        )
        for _ in range(max(1, warmup // 2)):
            first_sample(f"SPEAK\n<speak>{LONG}</speak>\n.\n", 0.2)
        runs = [first_sample(f"SPEAK\n<speak>{LONG}</speak>\n.\n", 0.2) for _ in range(repeats)]
        res["long_first_sample"] = stats([r[0] for r in runs])
        res["stop_to_silence"] = stats([r[1] for r in runs if r[1] == r[1]])
        res["stop_to_703"] = stats([r[2] for r in runs])
        return res
    finally:
        m.close()
        shutil.rmtree(out, ignore_errors=True)


# -- espeak-ng's module ------------------------------------------------------------------------------


def bench_espeak(repeats: int, warmup: int) -> dict[str, Any] | None:
    if not ESPEAK.exists():
        return None
    conf = "/etc/speech-dispatcher/modules/espeak-ng.conf"
    m = ModuleProcess([str(ESPEAK)] + ([conf] if os.path.exists(conf) else []))
    try:
        m.send("INIT\n")
        assert m.reply().startswith(b"299")
        m.send("AUDIO\naudio_output_method=server\n.\n")
        m.reply()
        m.reply()
        m.send(SET_BLOCK)
        m.reply()
        m.reply()

        def first_audio(payload: str, stop: bool) -> tuple[float, float | None]:
            t0 = m.send(payload)
            m.until(lambda ln: ln.startswith(b"705 AUDIO"))
            t_first = time.monotonic()
            if not stop:
                m.until(_is_terminal)
                return t_first - t0, None
            t_stop = m.send("STOP\n")
            end = m.until(_is_terminal)
            return t_first - t0, (time.monotonic() - t_stop) if end.startswith(b"703") else None

        res: dict[str, Any] = {}
        for name, payload in (
            ("char", f"CHAR\n{CHAR}\n.\n"),
            ("phrase", f"SPEAK\n<speak>{PHRASE}</speak>\n.\n"),
        ):
            for _ in range(warmup):
                first_audio(payload, False)
            res[name] = stats([first_audio(payload, False)[0] for _ in range(repeats)])
        runs = [first_audio(f"SPEAK\n<speak>{LONG}</speak>\n.\n", True) for _ in range(repeats)]
        res["long_first_sample"] = stats([r[0] for r in runs])
        stopped = [r[1] for r in runs if r[1] is not None]
        res["stop_to_703"] = stats(stopped) if stopped else None
        res["stop_note"] = (
            f"{len(stopped)}/{len(runs)} long messages were still being handed over when STOP came; "
            "with audio_output_method=server espeak-ng sends a whole message at once, so speech-dispatcher "
            "does the silencing"
        )
        return res
    finally:
        m.close()


# -- through the server ------------------------------------------------------------------------------


def bench_server(repeats: int, warmup: int) -> dict[str, Any]:
    from parley_server.app import ParleyServer, load_engine
    from parley_server.config import ServerConfig
    from websockets.asyncio.client import connect

    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        config = ServerConfig(port=0, voices=("heart",), worker_threads=1)
        engine = await asyncio.to_thread(load_engine, config)
        server = ParleyServer(engine, config)
        await server.start()
        state["port"], state["stop"], state["loop"] = server.port, asyncio.Event(), asyncio.get_running_loop()
        ready.set()
        await state["stop"].wait()
        await server.close()

    th = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    th.start()
    assert ready.wait(300)

    async def client() -> dict[str, Any]:
        res: dict[str, Any] = {}
        async with connect(f"ws://127.0.0.1:{state['port']}", compression=None) as ws:
            json.loads(await ws.recv())  # hello
            n = 0
            for name, text in (("char", CHAR), ("phrase", PHRASE)):
                times = []
                for i in range(warmup + repeats):
                    n += 1
                    t0 = time.monotonic()
                    await ws.send(json.dumps({"type": "speak", "id": str(n), "text": text}))
                    while True:
                        msg = await ws.recv()
                        if isinstance(msg, bytes):
                            break
                    if i >= warmup:
                        times.append(time.monotonic() - t0)
                    await ws.send(json.dumps({"type": "cancel", "id": str(n)}))
                    while True:
                        msg = await ws.recv()
                        if isinstance(msg, str) and json.loads(msg)["type"] in ("cancelled", "done", "error"):
                            break
                    # a cancel that crossed "done" is answered with unknown_id: drain it
                    try:
                        while True:
                            await asyncio.wait_for(ws.recv(), 0.02)
                    except TimeoutError:
                        pass
                res[name] = stats(times)
        return res

    try:
        return asyncio.run(client())
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        th.join(10)


# -- report ------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-espeak", action="store_true")
    ap.add_argument("--no-server", action="store_true")
    args = ap.parse_args()

    results: dict[str, Any] = {
        "parley_cache_on": bench_parley(args.repeats, args.warmup, cache=True),
        "parley_cache_off": bench_parley(args.repeats, args.warmup, cache=False),
    }
    if not args.no_espeak:
        results["espeak_ng"] = bench_espeak(args.repeats, args.warmup)
    if not args.no_server:
        results["parley_server_v1"] = bench_server(args.repeats, args.warmup)
    load = os.getloadavg()

    rows = [
        ("single character, SPEAK -> first sample", "char", "char_p50"),
        ("each character once (first occurrence)", "char_first_time", None),
        ("short phrase, SPEAK -> first sample", "phrase", "phrase_p50"),
        ("long text, SPEAK -> first sample", "long_first_sample", None),
        ("STOP -> silence", "stop_to_silence", "stop_p99"),
        ("STOP -> 703 STOP on stdout", "stop_to_703", None),
    ]
    cols = [
        k for k in ("parley_cache_on", "parley_cache_off", "espeak_ng", "parley_server_v1") if results.get(k)
    ]
    print(
        f"\nspeech-dispatcher module latency, ms p50 / p99 over {args.repeats} repeats "
        f"(load avg {load[0]:.1f})"
    )
    print(f"{'case':44}" + "".join(f"{c:>24}" for c in cols))
    for label, key, _ in rows:
        cells = []
        for c in cols:
            s = results[c].get(key) if isinstance(results[c], dict) else None
            cells.append(f"{s['p50_ms']:9.2f} / {s['p99_ms']:9.2f}" if isinstance(s, dict) else f"{'-':>21}")
        print(f"{label:44}" + "".join(f"{x:>24}" for x in cells))
    on, off = results["parley_cache_on"], results["parley_cache_off"]
    verdict = {
        name: {
            "target": TARGETS_MS[target],
            "cache_on": on[case][q],
            "cache_off": off[case][q],
        }
        for name, case, q, target in (
            ("char_p50_ms", "char", "p50_ms", "char_p50"),
            ("char_first_time_p50_ms", "char_first_time", "p50_ms", "char_p50"),
            ("phrase_p50_ms", "phrase", "p50_ms", "phrase_p50"),
            ("phrase_p99_ms", "phrase", "p99_ms", "phrase_p99"),
            ("stop_to_silence_p99_ms", "stop_to_silence", "p99_ms", "stop_p99"),
        )
    }
    print("\ntargets:")
    for k, v in verdict.items():
        print(
            f"  {k:24} target {v['target']:6.1f}   cache on {v['cache_on']:8.2f}"
            f"   cache off {v['cache_off']:8.2f}"
        )
    path = write_results(
        "speechd",
        {
            "repeats": args.repeats,
            "warmup": args.warmup,
            "texts": {"char": CHAR, "phrase": PHRASE, "long": LONG},
            "load_average_1min": round(load[0], 2),
            "targets_ms": TARGETS_MS,
            "verdict": verdict,
            "results": results,
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
