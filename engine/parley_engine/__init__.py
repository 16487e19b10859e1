"""Parley's engine: text in, streamed audio chunks out.

from parley_engine import Engine
engine = Engine.load()
engine.warmup()
for chunk in engine.stream("Hello there.", voice="heart"):
    ...   # chunk.samples: float32 mono, chunk.sample_rate_hz
"""

from .engine import Engine
from .errors import ParleyError
from .types import AudioChunk, CancelToken, SpeakSettings, VoiceInfo

__all__ = ["AudioChunk", "CancelToken", "Engine", "ParleyError", "SpeakSettings", "VoiceInfo"]
__version__ = "0.1.0"
