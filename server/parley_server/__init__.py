"""Parley's WebSocket server.

    parley_server.protocol   the wire protocol v1, sans I/O (also used by the client library)
    parley_server.framing    float32 chunks -> exact frame_ms PCM frames
    parley_server.app        the asyncio adapter: ParleyServer, ServerConfig, serve_forever, main

Importing this package is cheap: the asyncio server (and the engine behind it) is imported only
when one of its names is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ParleyServer", "ServerConfig", "main", "serve_forever"]

if TYPE_CHECKING:
    from .app import ParleyServer, ServerConfig, main, serve_forever


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
