"""Process-level tuning for a long-running Parley process (server, speech-dispatcher module).

A loaded engine holds ~135,000 objects that Python's cyclic garbage collector tracks (lexicons,
ONNX and Numba bookkeeping), and they live as long as the process. Each full (generation 2)
collection walks all of them: 59 ms on this machine with one voice loaded, and 100-200 ms under
load, with every Python thread stopped meanwhile. In the speech-dispatcher module that was a STOP
answered 130-190 ms late in 2 of 40 tries (benchmarks/speechd.py). :func:`freeze_heap`, called
once the engine is loaded and warm, moves everything alive then into the collector's permanent
generation (``gc.freeze``), so later collections walk only what was allocated since.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap"]


def freeze_heap() -> int:
    """Collect garbage, then exempt every object alive now from later collections (they are still
    freed by reference counting). Returns how many objects were frozen. Call it once, after
    loading and warming up; objects in reference cycles among them are never collected."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
