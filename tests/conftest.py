"""Suite-wide test settings.

Property-based tests (hypothesis) draw the same examples on every run unless
``PARLEY_FUZZ_RANDOM=1`` is set: the test command must pass or fail the same way on every fresh
clone (a random draw once found a normaliser input, 'B$.ΪB', in one CI run out of many). Set the
variable to explore new inputs while developing; anything it finds becomes a fixed example.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("parley-deterministic", derandomize=True, database=None)
settings.register_profile("parley-random")
RANDOM = os.environ.get("PARLEY_FUZZ_RANDOM") == "1"
settings.load_profile("parley-random" if RANDOM else "parley-deterministic")
