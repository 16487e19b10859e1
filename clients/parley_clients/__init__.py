"""Clients for Parley's WebSocket protocol v1: an asyncio library and the ``parley`` CLI.

from parley_clients import ParleyClient, synthesize
"""

from .client import (
    DEFAULT_URL,
    ParleyClient,
    ParleyClientError,
    ParleyConnectionError,
    ParleyServerError,
    SpeakStream,
    Synthesis,
    synthesize,
    to_float32,
)

__all__ = [
    "DEFAULT_URL",
    "ParleyClient",
    "ParleyClientError",
    "ParleyConnectionError",
    "ParleyServerError",
    "SpeakStream",
    "Synthesis",
    "synthesize",
    "to_float32",
]
