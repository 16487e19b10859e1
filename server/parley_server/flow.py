"""Flow control between a request's producer (synthesis) and its sender (the socket) — pure.

The producer adds audio to a per-request buffer; the sender removes it as the socket accepts it.
Water marks give hysteresis: once the buffered audio reaches ``high_ms`` the producer pauses, and it
resumes only when the sender has drained the buffer down to ``low_ms``. A paused producer submits
no synthesis work, so a slow reader costs the server memory for at most ``high_ms`` plus one engine
chunk of audio, and no CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FlowControl", "WaterMarks"]


@dataclass(frozen=True)
class WaterMarks:
    """high_ms: pause the producer when this much audio is buffered; low_ms: resume at or below."""

    high_ms: float = 2000.0
    low_ms: float = 500.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.low_ms < self.high_ms):
            raise ValueError(f"need 0 <= low_ms < high_ms, got low_ms={self.low_ms}, high_ms={self.high_ms}")


@dataclass
class FlowControl:
    """Audio accounting of one buffer, with the pause/resume decision."""

    marks: WaterMarks
    buffered_ms: float = 0.0
    paused: bool = False
    pauses: int = 0  # how many times the producer had to pause

    def add(self, audio_ms: float) -> None:
        """The producer buffered ``audio_ms`` more audio."""
        if audio_ms < 0:
            raise ValueError(f"audio_ms must be >= 0, got {audio_ms}")
        self.buffered_ms += audio_ms
        if not self.paused and self.buffered_ms >= self.marks.high_ms:
            self.paused = True
            self.pauses += 1

    def remove(self, audio_ms: float) -> bool:
        """The sender took ``audio_ms`` of audio out. Returns True if this resumes the producer."""
        if audio_ms < 0:
            raise ValueError(f"audio_ms must be >= 0, got {audio_ms}")
        self.buffered_ms = max(0.0, self.buffered_ms - audio_ms)
        if self.paused and self.buffered_ms <= self.marks.low_ms:
            self.paused = False
            return True
        return False
