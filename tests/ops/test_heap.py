"""A server's start-up heap is frozen out of the garbage collector's full collections."""

from __future__ import annotations

import gc
import weakref

from ticket_service.kit.heap import freeze_heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_freeze_keeps_what_lives_and_collects_start_up_garbage_first() -> None:
    garbage = Node()
    garbage.other = Node()
    garbage.other.other = garbage  # a cycle: only a collection frees it
    gone = weakref.ref(garbage)
    del garbage
    try:
        freeze_heap()
        frozen = gc.get_freeze_count()
        assert gone() is None  # collected before the freeze, not kept for good
        assert frozen > 1000  # every module, function and class alive now
        # What a full collection still walks: what was created since, not the frozen heap.
        assert len(gc.get_objects(generation=2)) < frozen
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
