"""freeze_heap: objects alive at the call are left out of later garbage-collection passes."""

from __future__ import annotations

import gc

from parley_engine.runtime import freeze_heap


def test_freeze_heap_exempts_what_is_alive_and_still_collects_new_garbage() -> None:
    held = [[i] for i in range(50_000)]  # tracked containers, alive across the call
    try:
        frozen = freeze_heap()
        assert frozen == gc.get_freeze_count() >= len(held)
        tracked = {id(o) for o in gc.get_objects()}
        assert not any(id(o) in tracked for o in held[:1000])  # not walked by later passes

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]  # a cycle made after the freeze
        del a, b
        assert gc.collect() >= 2  # ... is still found and freed
    finally:
        gc.unfreeze()
