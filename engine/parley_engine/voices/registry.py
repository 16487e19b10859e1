"""The voice catalogue: every voice Parley knows, and how to load it.

Voices of one family share their weights (Kokoro's 54 voices use one model): a loader receives a
``shared`` dict, per ``Engine.load`` call, where a family keeps what its voices share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..types import VoiceInfo
from .base import Voice

__all__ = ["VoiceEntry", "catalogue"]

Loader = Callable[[int, dict[str, object]], Voice]  # (threads, shared) -> Voice


@dataclass(frozen=True)
class VoiceEntry:
    info: VoiceInfo
    family: str
    load: Loader


def _hibari() -> list[VoiceEntry]:
    from .hibari import HIBARI_INFO, HibariVoice

    return [
        VoiceEntry(HIBARI_INFO, "hibari", lambda threads, shared: HibariVoice(threads=threads, shared=shared))
    ]


def _piper() -> list[VoiceEntry]:
    from .piper import PIPER_JOE_INFO, PiperVoice

    return [
        VoiceEntry(
            PIPER_JOE_INFO, "piper", lambda threads, shared: PiperVoice(threads=threads, shared=shared)
        )
    ]


def _kokoro() -> list[VoiceEntry]:
    from .kokoro import KOKORO_VOICE_IDS, KokoroVoice, kokoro_voice_info

    def entry(vid: str) -> VoiceEntry:
        def load(threads: int, shared: dict[str, object]) -> Voice:
            return KokoroVoice(vid, threads=threads, shared=shared)

        return VoiceEntry(kokoro_voice_info(vid), "kokoro", load)

    return [entry(vid) for vid in KOKORO_VOICE_IDS]


def catalogue() -> dict[str, VoiceEntry]:
    """id → entry for every known voice (installed or not), the default voice first."""
    entries: list[VoiceEntry] = []
    for family in (_hibari, _piper, _kokoro):
        entries.extend(family())
    return {e.info.id: e for e in entries}
