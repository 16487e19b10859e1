"""Parley's English text frontend: normalisation, sentence/clause planning, G2P.

    from parley_engine.text import normalize, plan_chunks, MisakiG2P
    from parley_engine.text import punctuate, spell, key_text   # screen-reader modes

    g2p = MisakiG2P()
    for chunk in plan_chunks(text):                  # exact slices of `text`, with offsets
        phonemes = g2p(normalize(chunk.text))        # words -> misaki phonemes

Pure Python; importing it reads no files (hibari and espeak-ng load on first use or ``load()``).
"""

from __future__ import annotations

from .normalize import normalize
from .phonemize import EspeakPhonemizer, MisakiG2P, shared_misaki
from .screenreader import SpokenChar, char_name, key_text, punctuate, spell, spoken_char
from .split import TextChunk, plan_chunks, split_sentences

__all__ = [
    "EspeakPhonemizer",
    "MisakiG2P",
    "SpokenChar",
    "TextChunk",
    "char_name",
    "key_text",
    "normalize",
    "plan_chunks",
    "punctuate",
    "shared_misaki",
    "spell",
    "split_sentences",
    "spoken_char",
]
