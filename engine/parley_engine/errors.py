"""Parley's one error tree.

Every error Parley raises on purpose derives from :class:`ParleyError` and carries a stable,
machine-readable ``code`` (the protocol sends it to clients verbatim) and a message meant for a
person: it says which value was wrong and why.

    ParleyError
    ├── InputError               a caller sent something we cannot speak (code varies)
    │   ├── EmptyTextError       "empty_text"
    │   ├── TextTooLongError     "text_too_long"
    │   ├── UnknownVoiceError    "unknown_voice"
    │   ├── UnsupportedFormatError "unsupported_format"
    │   └── InvalidSettingError  "invalid_setting"
    ├── AssetError               "asset_missing": a model file is missing or corrupt
    └── SynthesisError           "synthesis_failed": a model failed at run time

Unexpected exceptions (bugs) are not wrapped: the server logs them in full and tells the client
only ``internal_error``.
"""

from __future__ import annotations

__all__ = [
    "AssetError",
    "EmptyTextError",
    "InputError",
    "InvalidSettingError",
    "ParleyError",
    "SynthesisError",
    "TextTooLongError",
    "UnknownVoiceError",
    "UnsupportedFormatError",
]


class ParleyError(Exception):
    """Base of every error Parley raises deliberately."""

    code: str = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InputError(ParleyError):
    code = "invalid_input"


class EmptyTextError(InputError):
    code = "empty_text"


class TextTooLongError(InputError):
    code = "text_too_long"


class UnknownVoiceError(InputError):
    code = "unknown_voice"


class UnsupportedFormatError(InputError):
    code = "unsupported_format"


class InvalidSettingError(InputError):
    code = "invalid_setting"


class AssetError(ParleyError):
    code = "asset_missing"


class SynthesisError(ParleyError):
    code = "synthesis_failed"
