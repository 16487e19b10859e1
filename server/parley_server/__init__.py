"""Parley's WebSocket server.

    parley_server.protocol   the wire protocol v1, sans I/O (also used by the client library)
    parley_server.framing    float32 chunks -> exact frame_ms PCM frames
    parley_server.app        the asyncio adapter: ParleyServer, ServerConfig, serve, main

Importing this package is cheap: the asyncio server (and the engine behind it) is imported only
when one of its names is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ParleyServer", "ServerConfig", "main", "serve"]

if TYPE_CHECKING:
    from .app import ParleyServer, main, serve
    from .config import ServerConfig


def __getattr__(name: str) -> Any:
    if name == "ServerConfig":
        from .config import ServerConfig

        return ServerConfig
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
