"""Python's cyclic garbage collector, run rarely while a command gathers many long-lived results.

Each collection of the oldest generation walks every container object alive; a command that keeps a result per
input (preprocess: a dict per face, 7,636 faces) triggers a few hundred collections, three of them full walks of
the heap with its imported modules: 0.25 s of a 4.5 s run, all in the process the workers wait on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def fewer_collections(young: int = 50_000) -> Iterator[None]:
    """While the block runs, the objects alive on entry (modules, settings) are frozen, never walked again, and a
    collection starts after `young` new container objects rather than Python's 700: a handful of collections
    instead of hundreds. Cyclic garbage is still collected, so memory stays bounded. The collector's thresholds and
    the frozen objects are given back on exit."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(young, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
