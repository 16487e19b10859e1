# NVDA synth driver for Parley: the NVDA glue only. Everything that can run without NVDA lives in
# the _parley package next to this file (tested against a real Parley server on Linux).
#
# The driver speaks to a running Parley server (`parley serve`) over WebSocket: protocol v2
# (contexts) when the server offers it, else v1. Audio plays through nvwave; index notifications
# fire when the audio before them has played; synthDoneSpeaking when everything queued has played.

from __future__ import annotations

import os
from collections import OrderedDict

import nvwave
from logHandler import log
from speech.commands import (
    BreakCommand,
    CharacterModeCommand,
    IndexCommand,
    LangChangeCommand,
    PitchCommand,
    RateCommand,
    VolumeCommand,
)
from synthDriverHandler import SynthDriver as BaseSynthDriver
from synthDriverHandler import VoiceInfo, synthDoneSpeaking, synthIndexReached

from ._parley.core import ParleyCore, ServerUnavailable
from ._parley.speech import Break, CharMode, Index, Prosody, Text, VoiceParams

DEFAULT_URL = "ws://127.0.0.1:8765"


def _url() -> str:
    return os.environ.get("PARLEY_URL", DEFAULT_URL)


class _NvwavePlayer:
    """nvwave.WavePlayer with the small interface the core uses."""

    def __init__(self, rate: int) -> None:
        import config

        kwargs = {"channels": 1, "samplesPerSec": rate, "bitsPerSample": 16}
        try:
            from nvwave import AudioPurpose  # NVDA 2024.2+

            kwargs["purpose"] = AudioPurpose.SPEECH
        except ImportError:
            kwargs["outputDevice"] = config.conf["speech"]["outputDevice"]
        self._p = nvwave.WavePlayer(**kwargs)

    def feed(self, data, onDone=None):  # noqa: N803 - nvwave's spelling
        self._p.feed(data, onDone=onDone)

    def idle(self):
        self._p.idle()

    def stop(self):
        self._p.stop()

    def pause(self, switch):
        self._p.pause(switch)

    def close(self):
        self._p.close()


class SynthDriver(BaseSynthDriver):
    name = "parley"
    # Translators: the name of the synthesizer in NVDA's synthesizer list
    description = "Parley (neural, via the Parley server)"
    supportedSettings = (
        BaseSynthDriver.VoiceSetting(),
        BaseSynthDriver.RateSetting(),
        BaseSynthDriver.RateBoostSetting(),
        BaseSynthDriver.PitchSetting(),
        BaseSynthDriver.VolumeSetting(),
    )
    supportedCommands = {
        IndexCommand,
        CharacterModeCommand,
        BreakCommand,
        PitchCommand,
        RateCommand,
        VolumeCommand,
        LangChangeCommand,
    }
    supportedNotifications = {synthIndexReached, synthDoneSpeaking}

    @classmethod
    def check(cls):
        """Available when a Parley server answers at PARLEY_URL."""
        try:
            core = ParleyCore(
                _url(), _NvwavePlayer, on_index=lambda i: None, on_done=lambda: None, timeout_s=1.0
            )
        except ServerUnavailable:
            return False
        core.terminate()
        return True

    def __init__(self):
        super().__init__()
        self._params = VoiceParams()
        self._core = ParleyCore(
            _url(),
            _NvwavePlayer,
            on_index=lambda index: synthIndexReached.notify(synth=self, index=index),
            on_done=lambda: synthDoneSpeaking.notify(synth=self),
        )
        self._voices = self._load_voices()
        log.info("Parley: connected to %s with protocol v%d", _url(), self._core.protocol)

    def _load_voices(self):
        voices = OrderedDict()
        for v in self._core.voices():
            vid = str(v.get("id", ""))
            if vid:
                label = f"{vid} ({v.get('language', '')}, {v.get('gender', '')})"
                voices[vid] = VoiceInfo(vid, label, str(v.get("language", "")) or None)
        return voices

    # -- speech --------------------------------------------------------------------------------------

    def speak(self, speechSequence):  # noqa: N803 - NVDA's API
        items = []
        for item in speechSequence:
            if isinstance(item, str):
                items.append(Text(item))
            elif isinstance(item, IndexCommand):
                items.append(Index(item.index))
            elif isinstance(item, CharacterModeCommand):
                items.append(CharMode(bool(item.state)))
            elif isinstance(item, BreakCommand):
                items.append(Break(float(item.time)))
            elif isinstance(item, RateCommand):
                items.append(Prosody(rate=float(item.multiplier)))
            elif isinstance(item, PitchCommand):
                items.append(Prosody(pitch=float(item.multiplier)))
            elif isinstance(item, VolumeCommand):
                items.append(Prosody(volume=float(item.multiplier)))
            # LangChangeCommand: the voice speaks its own language; other commands are ignored
        self._core.speak(items, self._params)

    def cancel(self):
        self._core.cancel()

    def pause(self, switch):
        self._core.pause(switch)

    def terminate(self):
        self._core.terminate()

    # -- settings (NVDA's 0-100 scales; mapped in _parley.speech) -------------------------------------

    def _get_rate(self):
        return int(self._params.rate)

    def _set_rate(self, value):
        self._params = self._replace(rate=float(value))

    def _get_rateBoost(self):  # noqa: N802
        return self._params.rate_boost

    def _set_rateBoost(self, value):  # noqa: N802
        self._params = self._replace(rate_boost=bool(value))

    def _get_pitch(self):
        return int(self._params.pitch)

    def _set_pitch(self, value):
        self._params = self._replace(pitch=float(value))

    def _get_volume(self):
        return int(self._params.volume)

    def _set_volume(self, value):
        self._params = self._replace(volume=float(value))

    def _getAvailableVoices(self):  # noqa: N802
        return self._voices

    def _get_voice(self):
        return self._params.voice or next(iter(self._voices), "")

    def _set_voice(self, value):
        if value in self._voices:
            self._params = self._replace(voice=value)

    def _replace(self, **changes):
        from dataclasses import replace

        return replace(self._params, **changes)
