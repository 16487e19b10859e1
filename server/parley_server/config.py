"""Server configuration: one frozen, validated dataclass, plus its command-line options.

Light to import (no engine, no asyncio server), so the ``parley`` CLI can build its parser cheaply.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from .flow import WaterMarks

__all__ = ["ServerConfig", "add_serve_arguments", "config_from_args"]


def _default_threads() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ServerConfig:
    """Server configuration. Every choice explicit; validated on construction.

    host, port: where to listen (port 0 picks a free port; see ParleyServer.port).
    voices: voice ids to load and offer; None = every voice the engine has.
    worker_threads: synthesis threads shared by all connections (default: one per CPU core;
        on few cores, more threads than cores only adds contention).
    max_connections: concurrent WebSocket connections; more are refused (HTTP 503 at the
        handshake, or close code 1013 if the race is lost at accept).
    max_queued_requests: ``speak`` requests that may wait behind the streaming one per connection (v1).
    max_contexts: contexts open at once on one protocol v2 connection.
    high_water_ms, low_water_ms: per-request audio buffer between synthesis and the socket; the
        producer pauses at high_water_ms and resumes at low_water_ms. At most high_water_ms plus one
        engine chunk is buffered per request (plus the socket's own write buffer, write_limit_bytes).
        In protocol v2 the same marks apply to each context, and also pace it: a context is
        synthesised at most high_water_ms ahead of a real-time listener (then waits until it is
        250 ms below that, or at low_water_ms if that is nearer).
    connection_high_water_ms, connection_low_water_ms: protocol v2, the audio queued for all of a
        connection's contexts together: over the high mark, a context that already holds
        low_water_ms pauses until the total is back at the low mark.
    send_ahead_ms: protocol v2, how far ahead of a real-time listener a context's frames are sent
        (None: as fast as they are made). Keeps the socket free of long bursts, so ``cancelled``
        and the other contexts' frames never wait behind seconds of one context's audio.
    max_message_bytes: largest incoming message; bigger ones close the connection (1009). The
        default fits a max_text_chars text even if every character is a JSON escape.
    write_limit_bytes: high-water mark of the socket's write buffer, in bytes.
    socket_send_buffer_bytes: SO_SNDBUF of each connection (None = the OS default, which on Linux
        autotunes up to 4 MiB, i.e. ~45 s of 24 kHz pcm_s16le that a stalled reader would make us
        synthesise for nothing). 128 KiB still allows ~25x real time at 100 ms round trip.
    ping_interval_s, ping_timeout_s: keepalive; None disables.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    voices: tuple[str, ...] | None = None
    worker_threads: int = field(default_factory=_default_threads)
    max_connections: int = 64
    max_queued_requests: int = 32
    max_contexts: int = 64
    high_water_ms: float = 2000.0
    low_water_ms: float = 500.0
    # 64 contexts x high_water_ms: with send_ahead_ms holding each context's frames until they
    # are due, a connection of 64 real-time contexts holds ~1-2 s of unsent audio per context, and a
    # 10 s total (the old default) paused them all at once (then ~0.4 s underruns); 128 s of
    # 24 kHz pcm_s16le is 6 MB
    connection_high_water_ms: float = 128_000.0
    connection_low_water_ms: float = 64_000.0
    send_ahead_ms: float | None = 1000.0
    max_message_bytes: int = 1 << 20
    write_limit_bytes: int = 32 * 1024
    socket_send_buffer_bytes: int | None = 128 * 1024
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be 0..65535, got {self.port}")
        if self.voices is not None and (not self.voices or not all(v.strip() for v in self.voices)):
            problems.append(f"voices must be None or a non-empty list of voice ids, got {self.voices!r}")
        if self.worker_threads < 1:
            problems.append(f"worker_threads must be at least 1, got {self.worker_threads}")
        if self.max_connections < 1:
            problems.append(f"max_connections must be at least 1, got {self.max_connections}")
        if self.max_queued_requests < 0:
            problems.append(f"max_queued_requests must be >= 0, got {self.max_queued_requests}")
        if not 0 <= self.low_water_ms < self.high_water_ms:
            problems.append(
                f"need 0 <= low_water_ms < high_water_ms, got {self.low_water_ms} and {self.high_water_ms}"
            )
        if not 0 <= self.connection_low_water_ms < self.connection_high_water_ms:
            problems.append(
                "need 0 <= connection_low_water_ms < connection_high_water_ms, got "
                f"{self.connection_low_water_ms} and {self.connection_high_water_ms}"
            )
        if self.send_ahead_ms is not None and self.send_ahead_ms < 100:
            problems.append(f"send_ahead_ms must be at least 100 or None, got {self.send_ahead_ms}")
        if self.max_contexts < 1:
            problems.append(f"max_contexts must be at least 1, got {self.max_contexts}")
        if self.max_message_bytes < 4096:
            problems.append(f"max_message_bytes must be at least 4096, got {self.max_message_bytes}")
        if self.socket_send_buffer_bytes is not None and self.socket_send_buffer_bytes < 4096:
            problems.append(
                f"socket_send_buffer_bytes must be >= 4096 or None, got {self.socket_send_buffer_bytes}"
            )
        if self.write_limit_bytes < 1024:
            problems.append(f"write_limit_bytes must be at least 1024, got {self.write_limit_bytes}")
        for name in ("ping_interval_s", "ping_timeout_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                problems.append(f"{name} must be positive or None, got {value}")
        if problems:
            raise ValueError("invalid server configuration: " + "; ".join(problems))

    @property
    def water_marks(self) -> WaterMarks:
        return WaterMarks(high_ms=self.high_water_ms, low_ms=self.low_water_ms)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``parley serve`` (shared with ``python -m parley_server``)."""
    d = ServerConfig()
    parser.add_argument("--host", default=d.host, help=f"interface to listen on (default {d.host})")
    parser.add_argument("--port", type=int, default=d.port, help=f"TCP port (default {d.port}; 0 = any free)")
    parser.add_argument("--voices", default=None, help="comma-separated voice ids to load (default: all)")
    parser.add_argument(
        "--threads",
        type=int,
        default=d.worker_threads,
        help=f"synthesis threads (default {d.worker_threads})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=d.max_connections,
        help=f"concurrent WebSocket connections (default {d.max_connections})",
    )
    parser.add_argument(
        "--max-queued",
        type=int,
        default=d.max_queued_requests,
        help=f"speak requests that may wait per connection (default {d.max_queued_requests})",
    )
    parser.add_argument(
        "--max-contexts",
        type=int,
        default=d.max_contexts,
        help=f"contexts open at once per protocol v2 connection (default {d.max_contexts})",
    )
    parser.add_argument(
        "--high-water-ms",
        type=float,
        default=d.high_water_ms,
        help=f"pause a request's synthesis at this much unsent audio (default {d.high_water_ms:g})",
    )
    parser.add_argument(
        "--low-water-ms",
        type=float,
        default=d.low_water_ms,
        help=f"resume it once the client has drained it to this much (default {d.low_water_ms:g})",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    voices = None
    if args.voices is not None:
        voices = tuple(v.strip() for v in args.voices.split(",") if v.strip())
    return ServerConfig(
        host=args.host,
        port=args.port,
        voices=voices,
        worker_threads=args.threads,
        max_connections=args.max_connections,
        max_queued_requests=args.max_queued,
        max_contexts=args.max_contexts,
        high_water_ms=args.high_water_ms,
        low_water_ms=args.low_water_ms,
    )
