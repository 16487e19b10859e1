"""Screen-reader latency: from a speak call to the first sample, Parley beside espeak-ng, same run.

    .venv/bin/python benchmarks/screenreader.py                   # writes results/screenreader.json
    .venv/bin/python benchmarks/screenreader.py --repeats 100 --speeds 1,3 --threads 1

What a screen reader does all day: echo a typed character, name a key, read a short UI phrase
("Save changes before closing?", "link, main navigation"); the user interrupts constantly, so only
the time to the first sample counts. Measured for the same texts (single characters as
``spoken_char`` names them: "eh", "comma", ...; 3-5 word phrases), interleaved system by system so
machine noise hits all alike; the first ``--warmup`` rounds are excluded.

Systems:
  parley-cold     ``Engine.stream(text)``, no cache: call -> first chunk returned
  parley-ssml     ``Engine.stream_ssml("<speak>text</speak>")``, no cache (a speech-dispatcher
                  module's path): call -> first audio chunk
  parley-cached   ``Engine.stream_cached(text, cache)`` after ``cache.warm`` (a hit)
  espeak-lib      libespeak-ng (the pinned espeakng-loader build) through ctypes, synchronous mode,
                  20 ms buffers: ``espeak_Synth`` call -> first callback with samples
  espeak-cli      Debian's ``espeak-ng --stdout`` as a subprocess: spawn -> first sample bytes after
                  the WAV header (skipped if the program is not installed)

"first sample" is the latency the targets are set on (single character p50 <= 15 ms; short phrase
p50 <= 30 ms, p99 <= 60 ms). "audible" adds the silence the audio opens with (time until the first
10 ms window above -40 dBFS) - what a listener actually waits. At ``speed`` s, Parley gets
``SpeakSettings(speed=s)`` and espeak-ng ``175 * s`` words per minute.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import html
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import first_audible_sample, pct, write_results  # noqa: E402

CHAR_SOURCES = list("aAbeimrstz019.,;?!@#/-(") + [" "]
PHRASES = [
    "Open the file menu",
    "Save changes before closing?",
    "Link, main navigation",
    "Heading level two",
    "Edit text, blank",
    "Button, submit form",
    "Check box, not checked",
    "New message from Alex",
    "Page down to continue",
    "Search results, ten items",
    "List with five items",
    "Close this dialog",
    "Menu bar, File",
    "Selected, three of seven",
    "Downloads folder is empty",
    "Press enter to activate",
]
ESPEAK_NORMAL_WPM = 175


class EspeakLib:
    """libespeak-ng through ctypes: synchronous synthesis into a callback (no audio device)."""

    AUDIO_OUTPUT_SYNCHRONOUS = 2
    POS_CHARACTER = 1
    ESPEAK_CHARS_UTF8 = 1
    ESPEAK_RATE = 1

    def __init__(self, voice: str = "en-us", buffer_ms: int = 20) -> None:
        import espeakng_loader

        path = espeakng_loader.get_library_path()
        self.lib = ctypes.CDLL(path)
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.sample_rate_hz = int(
            self.lib.espeak_Initialize(
                self.AUDIO_OUTPUT_SYNCHRONOUS, buffer_ms, os.path.dirname(path).encode(), 0
            )
        )
        if self.sample_rate_hz <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.version = self._version()
        self._first: float | None = None
        self._parts: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )
        self._callback = callback_type(self._on_audio)  # kept alive for the library
        self.lib.espeak_SetSynthCallback(self._callback)

    def _version(self) -> str:
        try:
            self.lib.espeak_Info.restype = ctypes.c_char_p
            self.lib.espeak_Info.argtypes = [ctypes.c_void_p]
            return (self.lib.espeak_Info(None) or b"").decode()
        except AttributeError:  # pragma: no cover - old builds
            return "unknown"

    def _on_audio(self, wav: Any, n: int, _events: Any) -> int:
        if n > 0 and wav:
            if self._first is None:
                self._first = time.perf_counter()
            self._parts.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        return 0

    def set_rate(self, wpm: int) -> None:
        self.lib.espeak_SetParameter(self.ESPEAK_RATE, int(wpm), 0)

    def synth(self, text: str) -> tuple[float, np.ndarray]:
        """(seconds from the call to the first samples, the whole audio as float32)."""
        data = text.encode() + b"\0"
        self._first, self._parts = None, []
        t0 = time.perf_counter()
        self.lib.espeak_Synth(data, len(data), 0, self.POS_CHARACTER, 0, self.ESPEAK_CHARS_UTF8, None, None)
        first = (self._first or time.perf_counter()) - t0
        y = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        return first, y


def espeak_cli_first_sample(text: str, wpm: int) -> tuple[float, np.ndarray, int]:
    """Spawn ``espeak-ng --stdout`` -> (seconds to the first sample bytes, audio, sample rate)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(
        ["espeak-ng", "--stdout", "-v", "en-us", "-s", str(wpm), text],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert p.stdout is not None
    buf = b""
    first = None
    while True:
        b = os.read(p.stdout.fileno(), 65536)
        if not b:
            break
        buf += b
        if first is None and len(buf) >= 46:
            first = time.perf_counter() - t0
    p.wait()
    sr = int.from_bytes(buf[24:28], "little") if len(buf) >= 44 else 22050
    y = np.frombuffer(buf[44 : 44 + (len(buf) - 44) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    return (first if first is not None else time.perf_counter() - t0), y, sr


def _audible_s(y: np.ndarray, sr: int) -> float:
    n = first_audible_sample(y, sr)
    return (n if n is not None else len(y)) / sr


def _summary(first: list[float], audible: list[float]) -> dict[str, Any]:
    ms = [1e3 * x for x in first]
    aud = [1e3 * x for x in audible]
    return {
        "n": len(ms),
        "first_sample_ms": {
            "p50": pct(ms, 50),
            "p90": pct(ms, 90),
            "p99": pct(ms, 99),
            "min": min(ms),
            "max": max(ms),
        },
        "audible_ms": {"p50": pct(aud, 50), "p99": pct(aud, 99)},
    }


def _systems(
    engine: Any, espeak: EspeakLib, voice: str, settings: Any, cache: Any, wpm: int, has_cli: bool
) -> dict[str, Callable[[str], tuple[float, float]]]:
    """name -> measure(text) -> (seconds to the first sample, seconds until audible)."""
    sr = engine.sample_rate_hz(voice)

    def parley(make: Callable[[str], Any]) -> Callable[[str], tuple[float, float]]:
        def measure(text: str) -> tuple[float, float]:
            t0 = time.perf_counter()
            it = iter(make(text))
            first = next(it)
            while not hasattr(first, "samples"):  # a MarkEvent: not audio
                first = next(it)
            dt = time.perf_counter() - t0
            rest = [c.samples for c in it if hasattr(c, "samples")]
            y = np.concatenate([first.samples, *rest])
            return dt, dt + _audible_s(y, sr)

        return measure

    def espeak_lib(text: str) -> tuple[float, float]:
        dt, y = espeak.synth(text)
        return dt, dt + _audible_s(y, espeak.sample_rate_hz)

    def espeak_cli(text: str) -> tuple[float, float]:
        dt, y, rate = espeak_cli_first_sample(text, wpm)
        return dt, dt + _audible_s(y, rate)

    systems: dict[str, Callable[[str], tuple[float, float]]] = {
        "parley-cold": parley(lambda x: engine.stream(x, voice, settings)),
        "parley-ssml": parley(
            lambda x: engine.stream_ssml(f"<speak>{html.escape(x)}</speak>", voice, settings)
        ),
        "parley-cached": parley(lambda x: engine.stream_cached(x, cache, voice, settings)),
        "espeak-lib": espeak_lib,
    }
    if has_cli:
        systems["espeak-cli"] = espeak_cli
    return systems


def run(args: argparse.Namespace) -> dict[str, Any]:
    from parley_engine import Engine, SpeakSettings
    from parley_engine.cache import PhraseCache
    from parley_engine.text import spoken_char

    engine = Engine.load([args.voice], threads=args.threads)
    engine.warmup()
    espeak = EspeakLib()
    has_cli = shutil.which("espeak-ng") is not None and not args.no_cli
    chars = list(dict.fromkeys(spoken_char(c).text for c in CHAR_SOURCES))
    texts = {"character": chars, "phrase": PHRASES}
    speeds = [float(s) for s in args.speeds.split(",")]
    rng = np.random.default_rng(args.seed)

    results: dict[str, Any] = {}
    for speed in speeds:
        settings = SpeakSettings(speed=speed)
        cache = PhraseCache()
        t = time.perf_counter()
        for kind_texts in texts.values():
            for text in kind_texts:
                cache.render(engine, text, args.voice, settings)
        warm_s = time.perf_counter() - t
        wpm = int(round(ESPEAK_NORMAL_WPM * speed))
        espeak.set_rate(wpm)

        systems = _systems(engine, espeak, args.voice, settings, cache, wpm, has_cli)
        per: dict[str, dict[str, tuple[list[float], list[float]]]] = {
            kind: {name: ([], []) for name in systems} for kind in texts
        }
        for r in range(args.warmup + args.repeats):
            for kind, pool in texts.items():
                text = pool[int(rng.integers(len(pool)))]
                for name, fn in systems.items():
                    first, audible = fn(text)
                    if r >= args.warmup:
                        per[kind][name][0].append(first)
                        per[kind][name][1].append(audible)
        results[f"{speed:g}x"] = {
            "speed": speed,
            "espeak_wpm": wpm,
            "cache_render_s": warm_s,
            "cache_stats": dataclasses.asdict(cache.stats),
            "kinds": {
                kind: {name: _summary(*vals) for name, vals in by_system.items()}
                for kind, by_system in per.items()
            },
        }
        print(f"speed {speed:g}x done", flush=True)
    return {
        "voice": args.voice,
        "onnx_threads": args.threads,
        "repeats": args.repeats,
        "warmup_excluded": args.warmup,
        "espeak_lib": {"version": espeak.version, "sample_rate_hz": espeak.sample_rate_hz, "buffer_ms": 20},
        "espeak_cli": _cli_version() if has_cli else None,
        "texts": texts,
        "targets_ms": {"character_p50": 15, "phrase_p50": 30, "phrase_p99": 60},
        "speeds": results,
    }


def _cli_version() -> str:
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def print_summary(r: dict[str, Any]) -> None:
    t = r["targets_ms"]
    print(
        f"\nvoice {r['voice']}, {r['repeats']} draws per kind (warm-up excluded), "
        "ms from the call to the first sample (audible: + leading silence)\n"
        f"targets: character p50 <= {t['character_p50']}, "
        f"phrase p50 <= {t['phrase_p50']}, p99 <= {t['phrase_p99']}"
    )
    for label, sp in r["speeds"].items():
        print(f"\nspeed {label} (espeak-ng {sp['espeak_wpm']} wpm)")
        print(f"{'kind':11}{'system':15}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}{'aud p50':>9}{'aud p99':>9}")
        for kind, systems in sp["kinds"].items():
            for name, s in systems.items():
                f, a = s["first_sample_ms"], s["audible_ms"]
                print(
                    f"{kind:11}{name:15}{f['p50']:8.2f}{f['p90']:8.2f}{f['p99']:8.2f}{f['max']:8.2f}"
                    f"{a['p50']:9.1f}{a['p99']:9.1f}"
                )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voice", default="heart")
    p.add_argument("--speeds", default="1,3")
    p.add_argument("--repeats", type=int, default=200, help="measured draws per kind and speed")
    p.add_argument("--warmup", type=int, default=10, help="first draws excluded")
    p.add_argument("--threads", type=int, default=1, help="ONNX threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cli", action="store_true", help="skip the espeak-ng program")
    p.add_argument("--name", default="screenreader")
    args = p.parse_args(argv)
    r = run(args)
    path = write_results(args.name, r)
    print_summary(r)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
