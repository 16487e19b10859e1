"""Parley as a speech-dispatcher output module (``sd_parley``).

speech-dispatcher (the speech service Orca and other Linux screen readers use) starts ``sd_parley``
and speaks its module protocol on the module's stdin/stdout. The protocol itself is
:class:`~parley_speechd.protocol.ModuleProtocol` (pure, no I/O); :mod:`parley_speechd.module` runs it
with an in-process engine, a synthesis worker and an audio player whose clock decides when index
marks and events are reported. ``sd_parley --install-config`` registers the module for the
current user; docs/screen-readers.md tells the rest.
"""

from .message import Settings, VoiceEntry, parse_message
from .protocol import ModuleProtocol

__all__ = ["ModuleProtocol", "Settings", "VoiceEntry", "parse_message"]
