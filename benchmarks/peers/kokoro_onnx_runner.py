"""kokoro-onnx 0.6.1 as a peer, run in its own venv (benchmarks/.venv-peers; see setup.sh here).

    benchmarks/.venv-peers/bin/python benchmarks/peers/kokoro_onnx_runner.py \
        --model ~/.cache/parley/assets/kokoro-v1.0.int8.onnx \
        --voice-bin ~/.cache/parley/assets/kokoro-js-1.2.1/af_heart.bin --threads 1

A line protocol on stdin/stdout, so that benchmarks/voices.py can interleave it with Parley on the
same sentences in one run. Each request is one JSON line; each reply is one JSON line:

    {"cmd": "create", "text": "..."}   Kokoro.create (whole audio at once: its main API)
    {"cmd": "stream", "text": "..."}   Kokoro.create_stream (one chunk per phoneme batch)
    {"cmd": "quit"}                    replies with this process's VmRSS/VmHWM, then exits

Reply: {"sample_rate_hz": 24000, "chunks": [[seconds after the call, samples], ...],
"cpu_first_s": CPU seconds of this process until the first chunk, "audio_f32_b64": "..."}
(the chunks' audio, float32 little endian, concatenated). Times are taken
in this process, from just before the call to each chunk's arrival (no pipe overhead).

The voice: kokoro-onnx reads its voices from an .npz of [510, 1, 256] arrays; this runner builds
one from the kokoro-js pack (raw float32 [510, 256], the same file Parley loads) in a temp file.
The model file is the one Parley reassembled. The session is built here with ``--threads``
intra-op threads (kokoro-onnx's own ``Kokoro(...)`` uses onnxruntime's default, 0 = one thread per
physical core); ``--threads 0`` keeps that default.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from importlib.metadata import version

import numpy as np
import onnxruntime as rt
from kokoro_onnx import Kokoro


def _status_kb(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="kokoro-v1.0.int8.onnx")
    ap.add_argument("--voice-bin", required=True, help="kokoro-js voice pack (float32 [510, 256])")
    ap.add_argument("--voice-name", default="af_heart")
    ap.add_argument("--lang", default="en-us")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (0 = onnxruntime default)")
    args = ap.parse_args()

    style = np.fromfile(args.voice_bin, dtype="<f4")
    if style.size != 510 * 256:
        raise SystemExit(f"{args.voice_bin}: {style.size} floats, expected 510*256")
    fd, npz = tempfile.mkstemp(suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **{args.voice_name: style.reshape(510, 1, 256)})

    so = rt.SessionOptions()
    if args.threads > 0:
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
    t = time.perf_counter()
    sess = rt.InferenceSession(args.model, sess_options=so, providers=["CPUExecutionProvider"])
    kokoro = Kokoro.from_session(sess, npz)
    load_s = time.perf_counter() - t
    os.unlink(npz)

    out = sys.stdout
    out.write(
        json.dumps(
            {
                "ready": True,
                "kokoro_onnx": version("kokoro-onnx"),
                "onnxruntime": rt.__version__,
                "threads": args.threads,
                "load_s": load_s,
            }
        )
        + "\n"
    )
    out.flush()

    cpu_first: list[float] = []

    async def stream(text: str) -> list[tuple[float, np.ndarray]]:
        c0 = time.process_time()
        t0 = time.perf_counter()
        got = []
        async for audio, _sr in kokoro.create_stream(text, voice=args.voice_name, lang=args.lang):
            got.append((time.perf_counter() - t0, np.asarray(audio, dtype=np.float32)))
            if len(got) == 1:
                cpu_first.append(time.process_time() - c0)
        return got

    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "quit":
            out.write(json.dumps({"vmrss_kb": _status_kb("VmRSS"), "vmhwm_kb": _status_kb("VmHWM")}) + "\n")
            out.flush()
            return 0
        cpu_first.clear()
        if req["cmd"] == "create":
            c0 = time.process_time()
            t0 = time.perf_counter()
            audio, _sr = kokoro.create(req["text"], voice=args.voice_name, lang=args.lang)
            got = [(time.perf_counter() - t0, np.asarray(audio, dtype=np.float32))]
            cpu_first.append(time.process_time() - c0)
        elif req["cmd"] == "stream":
            got = asyncio.run(stream(req["text"]))
        else:
            raise SystemExit(f"unknown command {req['cmd']!r}")
        audio = np.concatenate([a for _, a in got]) if got else np.zeros(0, np.float32)
        reply = {
            "sample_rate_hz": 24000,
            "chunks": [[t, int(a.size)] for t, a in got],
            "cpu_first_s": cpu_first[0] if cpu_first else None,
            "audio_f32_b64": base64.b64encode(audio.astype("<f4").tobytes()).decode("ascii"),
        }
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
