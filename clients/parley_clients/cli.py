"""The ``parley`` command line.

    parley serve [--host 127.0.0.1] [--port 8765] [--voices heart,...] [--threads N]
    parley say "Hello there." --voice heart --out hello.wav      # via a running server
    echo "Hello." | parley say --play                            # text from stdin, played live
    parley say "Offline." --local --out offline.wav              # in-process, no server
    parley voices [--url ws://127.0.0.1:8765] [--json]

Exit status: 0 success, 1 the server/engine refused or failed the request, 2 usage error,
3 cannot reach the server, 4 no audio output (PortAudio or device missing).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

import numpy as np
import numpy.typing as npt

from .client import (
    DEFAULT_URL,
    ParleyClient,
    ParleyConnectionError,
    ParleyServerError,
    to_float32,
)

__all__ = ["main"]

EXIT_OK, EXIT_REQUEST, EXIT_USAGE, EXIT_CONNECT, EXIT_AUDIO = 0, 1, 2, 3, 4

FloatArray = npt.NDArray[np.float32]


class CliError(Exception):
    """A failure reported as one line on stderr with an exit status (no traceback)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# -- audio output -------------------------------------------------------------------------------


class Player(Protocol):
    def write(self, samples: FloatArray) -> None: ...

    def close(self) -> None: ...


class _SoundDevicePlayer:
    def __init__(self, sd: Any, sample_rate_hz: int) -> None:
        self._stream = sd.OutputStream(samplerate=sample_rate_hz, channels=1, dtype="float32")
        self._stream.start()

    def write(self, samples: FloatArray) -> None:
        self._stream.write(np.ascontiguousarray(samples.reshape(-1, 1)))

    def close(self) -> None:
        self._stream.stop()  # returns once what was written has been played
        self._stream.close()


def open_player_factory() -> Callable[[int], Player]:
    """Check that audio output works *before* synthesising; returns a player factory.

    sounddevice is imported lazily: it needs the PortAudio C library, which servers often lack."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise CliError(
            f"cannot play audio: sounddevice/PortAudio is not available ({exc}); "
            "install PortAudio (e.g. apt install libportaudio2) or use --out FILE.wav",
            EXIT_AUDIO,
        ) from None
    try:
        sd.query_devices(kind="output")
    except Exception as exc:
        raise CliError(
            f"cannot play audio: no output device ({exc}); use --out FILE.wav", EXIT_AUDIO
        ) from None

    def factory(sample_rate_hz: int) -> Player:
        try:
            return _SoundDevicePlayer(sd, sample_rate_hz)
        except Exception as exc:
            raise CliError(f"cannot open the audio output: {exc}", EXIT_AUDIO) from None

    return factory


# -- audio sources ------------------------------------------------------------------------------


@dataclass
class SpeakOptions:
    text: str
    voice: str | None
    speed: float | None
    seed: int | None


@dataclass
class StreamInfo:
    sample_rate_hz: int
    stats: dict[str, object]


async def remote_frames(
    url: str, opts: SpeakOptions, info: list[StreamInfo]
) -> AsyncIterator[tuple[int, FloatArray]]:
    """(sample_rate_hz, float32 frame) from a running server; appends the stats to ``info``."""
    try:
        async with ParleyClient(url) as client:
            stream = client.speak(opts.text, voice=opts.voice, speed=opts.speed, seed=opts.seed)
            started = await stream.started()
            async for frame in stream:
                yield started.sample_rate_hz, to_float32(frame)
            stats = dict(stream.stats.stats) if stream.stats is not None else {}
            info.append(StreamInfo(started.sample_rate_hz, stats))
    except ParleyServerError as exc:
        raise CliError(f"the server refused the request: {exc}", EXIT_REQUEST) from None
    except ParleyConnectionError as exc:
        raise CliError(f"{exc} (is `parley serve` running?)", EXIT_CONNECT) from None


async def local_frames(opts: SpeakOptions, info: list[StreamInfo]) -> AsyncIterator[tuple[int, FloatArray]]:
    """Synthesise in this process (no server). Engine work runs in a thread."""
    import time

    from parley_engine import CancelToken, Engine, ParleyError, SpeakSettings

    try:
        engine = await asyncio.to_thread(Engine.load, [opts.voice] if opts.voice else None)
        settings = SpeakSettings(speed=1.0 if opts.speed is None else opts.speed, seed=opts.seed)
        cancel = CancelToken()
        t0 = time.perf_counter()
        it = await asyncio.to_thread(engine.stream, opts.text, opts.voice, settings, cancel)
        sr = engine.sample_rate_hz(opts.voice)
        first: float | None = None
        samples = chunks = 0
        try:
            while True:
                chunk = await asyncio.to_thread(next, it, None)
                if chunk is None:
                    break
                if first is None:
                    first = time.perf_counter() - t0
                chunks += 1
                samples += len(chunk.samples)
                yield sr, chunk.samples
        finally:
            cancel.cancel()
        info.append(
            StreamInfo(
                sr,
                {
                    "audio_ms": 1000.0 * samples / sr,
                    "first_audio_ms": None if first is None else 1000.0 * first,
                    "chunks": chunks,
                    "total_ms": 1000.0 * (time.perf_counter() - t0),
                },
            )
        )
    except ParleyError as exc:
        raise CliError(f"{exc.code}: {exc.message}", EXIT_REQUEST) from None


# -- commands -----------------------------------------------------------------------------------


def _read_text(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.text is not None:
        return str(args.text)
    if stdin.isatty():
        raise CliError("no text: give it as an argument or pipe it on stdin", EXIT_USAGE)
    return stdin.read()


async def _say(
    args: argparse.Namespace,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    player_factory: Callable[[int], Player] | None,
) -> int:
    import soundfile as sf

    opts = SpeakOptions(_read_text(args, stdin), args.voice, args.speed, args.seed)
    info: list[StreamInfo] = []
    source = local_frames(opts, info) if args.local else remote_frames(args.url, opts, info)
    parts: list[FloatArray] = []
    player: Player | None = None
    sample_rate_hz = 0
    try:
        async for sr, frame in source:
            sample_rate_hz = sr
            if args.out is not None:
                parts.append(frame)
            if player_factory is not None:
                if player is None:
                    player = player_factory(sr)
                await asyncio.to_thread(player.write, frame)
    finally:
        if player is not None:
            await asyncio.to_thread(player.close)
    audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if args.out is not None:
        if sample_rate_hz == 0 and info:
            sample_rate_hz = info[0].sample_rate_hz
        rate = sample_rate_hz or 24000
        if args.out == "-":  # WAV needs a seekable file: build it in memory
            buf = io.BytesIO()
            sf.write(buf, audio, rate, format="WAV", subtype="PCM_16")
            stdout.buffer.write(buf.getvalue())
            stdout.flush()
        else:
            sf.write(args.out, audio, rate, subtype="PCM_16")
    if not args.quiet and info:
        st = info[0].stats
        first = st.get("first_audio_ms")
        audio_ms = st.get("audio_ms")
        seconds = float(audio_ms) / 1000 if isinstance(audio_ms, (int, float)) else 0.0
        where = f" -> {args.out}" if args.out not in (None, "-") else ""
        first_s = f"{float(first):.0f} ms" if isinstance(first, (int, float)) else "n/a"
        print(
            f"{seconds:.2f} s of audio at {info[0].sample_rate_hz} Hz{where}; first audio after {first_s}",
            file=stderr,
        )
    return EXIT_OK


def cmd_say(
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    if args.out is None and not args.play:
        raise CliError("nothing to do: give --out FILE.wav (or --out - for stdout) and/or --play", EXIT_USAGE)
    factory = open_player_factory() if args.play else None
    return asyncio.run(_say(args, stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr, factory))


async def _voices_remote(url: str) -> tuple[list[dict[str, object]], str | None]:
    try:
        async with ParleyClient(url) as client:
            voices = await client.voices()
            return [v.to_json() for v in voices], client.hello.default_voice
    except ParleyConnectionError as exc:
        raise CliError(f"{exc} (is `parley serve` running?)", EXIT_CONNECT) from None


def _voices_local() -> tuple[list[dict[str, object]], str | None]:
    from dataclasses import asdict

    from parley_engine import Engine

    engine = Engine.load()
    return [asdict(v) for v in engine.voices()], engine.default_voice


def format_voice_table(voices: Sequence[dict[str, object]], default_voice: str | None) -> str:
    headers = ["ID", "LANGUAGE", "GENDER", "RATE_HZ", "BACKEND", "DESCRIPTION"]
    rows = [
        [
            str(v.get("id", "")) + (" *" if v.get("id") == default_voice else ""),
            str(v.get("language", "")),
            str(v.get("gender", "")),
            str(v.get("sample_rate_hz", "")),
            str(v.get("backend", "")),
            str(v.get("description", "")),
        ]
        for v in voices
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]
    ]
    if default_voice is not None:
        lines.append("(* = default voice)")
    return "\n".join(lines)


def cmd_voices(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    voices, default = _voices_local() if args.local else asyncio.run(_voices_remote(args.url))
    if args.json:
        print(json.dumps({"default_voice": default, "voices": voices}, indent=2), file=stdout)
    else:
        print(format_voice_table(voices, default), file=stdout)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from parley_server.app import run
    from parley_server.config import config_from_args

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return run(config, log_level=args.log_level)


def cmd_assets(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    """List every model asset and whether it is installed and intact; `install` fetches/joins them."""
    from parley_engine import assets

    stdout = stdout or sys.stdout
    rows = assets.install() if args.action == "install" else assets.status()
    width = max(len(name) for name, _, _ in rows)
    for name, ok, detail in rows:
        print(f"{name.ljust(width)}  {'ok     ' if ok else 'MISSING'}  {detail}", file=stdout)
    bad = [name for name, ok, _ in rows if not ok]
    if bad:
        print(f"{len(bad)} asset(s) not available; voices that need them will not load", file=stdout)
        return EXIT_REQUEST
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parley",
        description="Parley: streaming text-to-speech over WebSockets.",
        epilog="exit status: 0 ok, 1 request refused or failed, 2 usage, 3 server unreachable, "
        "4 no audio output",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_serve = sub.add_parser("serve", help="run the WebSocket server")
    from parley_server.config import add_serve_arguments

    add_serve_arguments(p_serve)
    p_serve.set_defaults(func=cmd_serve)

    p_say = sub.add_parser("say", help="speak text (through a running server, or --local)")
    p_say.add_argument("text", nargs="?", help="text to speak (default: read stdin)")
    p_say.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    p_say.add_argument("--voice", default=None, help="voice id (default: the server's default voice)")
    p_say.add_argument("--speed", type=float, default=None, help="speaking rate, 1.0 = natural")
    p_say.add_argument("--seed", type=int, default=None, help="fix the random seed for repeatable audio")
    p_say.add_argument("--out", "-o", default=None, help="write a WAV file ('-' for stdout)")
    p_say.add_argument(
        "--play", action="store_true", help="play through the default audio output as it arrives"
    )
    p_say.add_argument("--local", action="store_true", help="synthesise in this process, without a server")
    p_say.add_argument("--quiet", "-q", action="store_true", help="print no summary on stderr")
    p_say.set_defaults(func=cmd_say)

    p_voices = sub.add_parser("voices", help="list the available voices")
    p_voices.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    p_voices.add_argument("--local", action="store_true", help="list the voices installed here, no server")
    p_voices.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_voices.set_defaults(func=cmd_voices)

    p_assets = sub.add_parser("assets", help="check (or install) the model files every voice needs")
    p_assets.add_argument("action", nargs="?", choices=["status", "install"], default="status")
    p_assets.set_defaults(func=cmd_assets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except CliError as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
