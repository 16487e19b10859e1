"""Clients for Parley's WebSocket protocols: asyncio libraries and the ``parley`` CLI.

from parley_clients import ParleyClient, synthesize     # v1: one request at a time per connection
from parley_clients import ParleyContexts               # v2: many contexts, streamed text, timestamps
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
from .contexts import Context, ParleyContexts

__all__ = [
    "Context",
    "DEFAULT_URL",
    "ParleyClient",
    "ParleyClientError",
    "ParleyConnectionError",
    "ParleyContexts",
    "ParleyServerError",
    "SpeakStream",
    "Synthesis",
    "synthesize",
    "to_float32",
]
