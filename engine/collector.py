"""Python's cyclic garbage collector, kept out of model loads.

Importing torch (and Qt) and building a model create hundreds of thousands of objects that live as long as the
process. The collector scans every one of them each time its oldest generation is due: on a small CPU a pass
takes ~80-100 ms, and one or two fall during a model load, freeing next to nothing. ``collection_paused`` turns
the collector off for such a stretch (a pause around the imports themselves saved only ~50 ms of a 1.6 s
``inkling complete``, so they are left alone). ``freeze_startup_objects``, called once before the first model
is built, moves everything alive at that moment (the imported libraries, the app's widgets) out of the
collector's sight for good, so later passes, while the writer types, scan only what came after. It runs once
per process: a later call would also freeze a model being replaced, which then could never be collected.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_frozen = False


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Run the block without cyclic garbage collection (reference counting still frees what it can)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def freeze_startup_objects() -> None:
    """Keep everything alive now out of every later collection (once per process; see the module's text)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
