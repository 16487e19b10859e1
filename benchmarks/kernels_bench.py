"""Kernel benchmark: the Numba vocoder against the NumPy reference (and hibari's own dsp.synth).

    python benchmarks/kernels_bench.py                     # writes benchmarks/results/kernels.json
    python benchmarks/kernels_bench.py --sentences 3 --repeats 50 --stream-chunk 8

Inputs are real: hibari's ONNX model (voice "heart") run on sentences from sentences.txt, once,
before timing. Each timed run vocodes one whole sentence from a fresh state (``synthesize``: push
all frames, flush) or, in the streaming rows, pushes it ``--stream-chunk`` frames at a time. All
implementations run interleaved, in a shuffled order per repeat, after warm-up runs that are not
counted; the table reports p50 and min per sentence summed over the sentences. Noise generation
(one Generator draw per frame) is part of every timed run, as it is part of the work.

Output transforms (second table): the vocoded sentences (24 kHz) through the resampler
(24k->48k, 24k->8k, and 22.05k->16k on the same samples taken as 22.05 kHz), G.711 µ-law/A-law
encoding, WSOLA at 2x and 3x and a +3 semitone pitch shift, each Numba against its NumPy reference.
The streaming transforms run as the server would: a fresh state per sentence, pushes of
``--transform-chunk`` samples (default 2400 = 8 frames), flush. Same interleaving and statistics;
"x realtime" is the input audio's duration over the summed p50.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_sentences, summary_ms, write_results  # noqa: E402

F32 = npt.NDArray[np.float32]
Frames = tuple[F32, F32, F32, F32, F32, F32]


def model_frames(sentences: list[str]) -> tuple[list[str], list[Frames]]:
    """(label, model outputs) per model call: one per sentence unless hibari splits a long one."""
    from hibari import Hibari

    tts = Hibari()
    labels, out = [], []
    for s in sentences:
        for ps in tts.phonemize(s):
            ids = np.asarray([tts.ids(ps)], np.int64)
            res = tts.sess.run(None, {"ids": ids, "speed": np.asarray([1.0], np.float32)})
            labels.append(s)
            out.append(tuple(np.ascontiguousarray(o[0]) for o in res))
    return labels, out  # type: ignore[return-value]


def runners(stream_chunk: int, with_hibari: bool) -> dict[str, Callable[[Frames], F32]]:
    from parley_kernels import vocoder

    def one_shot(impl: vocoder.Impl) -> Callable[[Frames], F32]:
        return lambda fr: vocoder.synthesize(*fr, seed=0, impl=impl)

    def streamed(impl: vocoder.Impl) -> Callable[[Frames], F32]:
        def run(fr: Frames) -> F32:
            state = vocoder.init_state(0, impl=impl)
            n = fr[5].shape[0]
            c = stream_chunk
            parts = [
                vocoder.push(
                    state,
                    fr[0][:, a : a + c],
                    fr[1][:, a : a + c],
                    fr[2][:, a : a + c],
                    fr[3][:, a : a + c],
                    fr[4][:, a : a + c],
                    fr[5][a : a + c],
                )
                for a in range(0, n, c)
            ]
            parts.append(vocoder.flush(state))
            return np.concatenate(parts)

        return run

    table: dict[str, Callable[[Frames], F32]] = {"numba": one_shot("numba"), "numpy": one_shot("numpy")}
    if stream_chunk > 0:
        table[f"numba/stream{stream_chunk}"] = streamed("numba")
        table[f"numpy/stream{stream_chunk}"] = streamed("numpy")
    if with_hibari:
        from hibari import dsp

        table["hibari.dsp"] = lambda fr: dsp.synth(*fr, np.random.default_rng(0))
    return table


def bench(
    frames: Sequence[Any], table: Mapping[str, Callable[[Any], object]], repeats: int, warm: int
) -> dict[str, Any]:
    """Per name, per input: the timed durations (s); every name runs on every input, interleaved."""
    names = list(table)
    times: dict[str, list[list[float]]] = {k: [[] for _ in frames] for k in names}
    rnd = random.Random(0)
    for rep in range(warm + repeats):
        for i, fr in enumerate(frames):
            order = names[:]
            rnd.shuffle(order)
            for name in order:
                t = time.perf_counter()
                table[name](fr)
                dt = time.perf_counter() - t
                if rep >= warm:
                    times[name][i].append(dt)
    return {k: v for k, v in times.items()}


def transform_runners(chunk: int) -> dict[str, tuple[int, Callable[[F32], object]]]:
    """name -> (input sample rate, run on one sentence's samples)."""
    from parley_kernels import g711, pitch, resample, tsm

    def streamed(
        init: Callable[[], Any], push: Callable[[Any, F32], F32], flush: Callable[[Any], F32]
    ) -> Callable[[F32], object]:
        def run(x: F32) -> list[F32]:
            state = init()
            parts = [push(state, x[a : a + chunk]) for a in range(0, x.shape[0], chunk)]
            parts.append(flush(state))
            return parts

        return run

    impls: tuple[Literal["numba"], Literal["numpy"]] = ("numba", "numpy")
    table: dict[str, tuple[int, Callable[[F32], object]]] = {}
    for fin, fout in ((24000, 48000), (24000, 8000), (22050, 16000)):
        for impl in impls:
            rs = functools.partial(resample.init_state, fin, fout, impl=impl)
            name = f"resample {fin / 1000:g}k->{fout / 1000:g}k/{impl}"
            table[name] = (fin, streamed(rs, resample.push, resample.flush))
    for law, enc in (("ulaw", g711.float_to_ulaw), ("alaw", g711.float_to_alaw)):
        for impl in impls:
            table[f"g711 {law}/{impl}"] = (24000, functools.partial(enc, impl=impl))
    for speed in (2.0, 3.0):
        for impl in impls:
            ts = functools.partial(tsm.init_state, 24000, speed, impl=impl)
            table[f"wsola {speed:g}x/{impl}"] = (24000, streamed(ts, tsm.push, tsm.flush))
    for impl in impls:
        ps = functools.partial(pitch.init_state, 24000, 3.0, impl=impl)
        table[f"pitch +3st/{impl}"] = (24000, streamed(ps, pitch.push, pitch.flush))
    return table


def bench_transforms(wavs: list[F32], chunk: int, repeats: int, warm: int) -> dict[str, dict[str, float]]:
    """Per transform: p50 and min (ms) summed over the sentences, input seconds, x realtime."""
    table = transform_runners(chunk)
    times = bench(wavs, {k: v[1] for k, v in table.items()}, repeats, warm)
    n_samples = sum(int(w.shape[0]) for w in wavs)
    out: dict[str, dict[str, float]] = {}
    for name, per_sentence in times.items():
        p50 = sum(float(np.median(t)) for t in per_sentence) * 1e3
        audio_s = n_samples / table[name][0]
        out[name] = {
            "p50_ms": p50,
            "min_ms": sum(min(t) for t in per_sentence) * 1e3,
            "audio_s": audio_s,
            "x_realtime_p50": audio_s * 1e3 / p50,
        }
    return out


def bench_pcm(wavs: list[F32], repeats: int) -> dict[str, dict[str, float]]:
    from parley_kernels import float_to_pcm16

    x = np.concatenate(wavs)
    out = np.empty(x.shape[0], np.int16)
    res: dict[str, list[float]] = {"numba": [], "numpy": []}
    for _ in range(3):
        float_to_pcm16(x, out)
    for _ in range(repeats):
        for impl in ("numba", "numpy"):
            t = time.perf_counter()
            float_to_pcm16(x, out, impl=impl)
            res[impl].append(time.perf_counter() - t)
    return {k: {**summary_ms(v), "samples": int(x.shape[0])} for k, v in res.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sentences", type=int, default=6, help="how many sentences of sentences.txt (default 6)"
    )
    ap.add_argument(
        "--repeats", type=int, default=30, help="timed runs per sentence and implementation (>= 20)"
    )
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    ap.add_argument(
        "--stream-chunk", type=int, default=8, help="frames per push in the streaming rows (0: none)"
    )
    ap.add_argument("--no-hibari", action="store_true", help="leave out hibari's own dsp.synth")
    ap.add_argument(
        "--transform-chunk",
        type=int,
        default=2400,
        help="samples per push in the output-transform rows (default 2400 = 8 frames; 0: leave them out)",
    )
    ap.add_argument("--name", default="kernels", help="results file name (benchmarks/results/NAME.json)")
    args = ap.parse_args(argv)
    if args.repeats < 20:
        ap.error("--repeats must be at least 20")

    import parley_kernels

    t = time.perf_counter()
    parley_kernels.warmup()
    warmup_s = time.perf_counter() - t
    sentences = load_sentences()[: args.sentences]
    labels, frames = model_frames(sentences)
    n_frames = [int(fr[5].shape[0]) for fr in frames]
    audio_s = sum(n_frames) * 300 / 24000
    table = runners(args.stream_chunk, not args.no_hibari)
    times = bench(frames, table, args.repeats, args.warmup)

    # The sum over sentences of each sentence's p50 (and min): the time to vocode them all once.
    totals = {
        k: {
            "p50_ms": sum(float(np.median(s)) for s in v) * 1e3,
            "min_ms": sum(min(s) for s in v) * 1e3,
        }
        for k, v in times.items()
    }
    base = totals["numba"]
    print(
        f"vocoder: {len(frames)} sentences, {sum(n_frames)} frames = {audio_s:.2f} s of audio, "
        f"{args.repeats} interleaved repeats (warmup() {warmup_s:.2f} s, cpus {os.cpu_count()})"
    )
    print(
        f"{'implementation':<20}{'p50 ms':>10}{'min ms':>10}{'x realtime':>12}"
        f"{'/ numba p50':>13}{'/ numba min':>13}"
    )
    for k, v in totals.items():
        print(
            f"{k:<20}{v['p50_ms']:>10.2f}{v['min_ms']:>10.2f}{audio_s * 1e3 / v['p50_ms']:>12.0f}"
            f"{v['p50_ms'] / base['p50_ms']:>13.2f}{v['min_ms'] / base['min_ms']:>13.2f}"
        )
    ratio = totals["numpy"]["p50_ms"] / base["p50_ms"]
    print(
        f"numba is {ratio:.2f}x faster than the numpy reference (p50), "
        f"{totals['numpy']['min_ms'] / base['min_ms']:.2f}x (min)"
    )

    wavs = [table["numba"](fr) for fr in frames]
    pcm = bench_pcm(wavs, args.repeats)
    print(
        f"float_to_pcm16 on {pcm['numba']['samples']} samples: numba p50 {pcm['numba']['p50_ms']:.3f} ms, "
        f"numpy p50 {pcm['numpy']['p50_ms']:.3f} ms"
    )

    transforms: dict[str, dict[str, float]] = {}
    if args.transform_chunk > 0:
        transforms = bench_transforms(wavs, args.transform_chunk, args.repeats, args.warmup)
        chunk = args.transform_chunk
        print(f"output transforms on the same {audio_s:.2f} s (24 kHz), pushes of {chunk} samples")
        print(f"{'transform':<28}{'p50 ms':>10}{'min ms':>10}{'x realtime':>12}{'numpy/numba p50':>17}")
        for name, v in transforms.items():
            base_name = name.rsplit("/", 1)[0] + "/numba"
            rel = v["p50_ms"] / transforms[base_name]["p50_ms"]
            print(
                f"{name:<28}{v['p50_ms']:>10.2f}{v['min_ms']:>10.2f}{v['x_realtime_p50']:>12.0f}{rel:>17.2f}"
            )

    per_sentence = [
        {
            "sentence": s,
            "frames": n,
            "audio_s": n * 300 / 24000,
            **{k: summary_ms(v[i]) for k, v in times.items()},
        }
        for i, (s, n) in enumerate(zip(labels, n_frames, strict=True))
    ]
    import numba

    path = write_results(
        args.name,
        {
            "versions": {"numpy": np.__version__, "numba": numba.__version__},
            "repeats": args.repeats,
            "warmup_runs": args.warmup,
            "stream_chunk_frames": args.stream_chunk,
            "kernels_warmup_s": warmup_s,
            "audio_s": audio_s,
            "frames": sum(n_frames),
            "totals": totals,
            "speedup_numpy_over_numba": {
                "p50": ratio,
                "min": totals["numpy"]["min_ms"] / base["min_ms"],
            },
            "per_sentence": per_sentence,
            "pcm16": pcm,
            "transform_chunk_samples": args.transform_chunk,
            "transforms": transforms,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
