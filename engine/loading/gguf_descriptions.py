"""``describe_gguf`` remembered per file, so model lists stay fast however often they are drawn.

The Model menu lists every model each time it opens, and Ollama and LM Studio users often have a dozen multi-GB
GGUF files. Reading a header parses the whole vocabulary (about a second for a 150k-token one), so each
description is kept while the file's path, size, modification time and inode stay the same; a file rewritten in
place or replaced gets a new one.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from engine.loading.gguf_file import GgufDescription, describe_gguf

MAX_REMEMBERED = 256

_Key = tuple[str, int, int, int]
_remembered: OrderedDict[_Key, GgufDescription] = OrderedDict()
_lock = threading.Lock()  # the GUI thread lists models while the engine thread may resolve one


def describe_gguf_cached(path: str | os.PathLike) -> GgufDescription:
    """``describe_gguf(path)``, read again only when the file changed since the last time."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return describe_gguf(path)  # its problem says the file is missing or unreadable
    key = (str(path.absolute()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    with _lock:
        known = _remembered.get(key)
        if known is not None:
            _remembered.move_to_end(key)
            return known
    described = describe_gguf(path)
    with _lock:
        _remembered[key] = described
        while len(_remembered) > MAX_REMEMBERED:
            _remembered.popitem(last=False)
    return described


def forget_descriptions() -> None:
    """Drop every remembered description (tests that rewrite a file within one timestamp tick)."""
    with _lock:
        _remembered.clear()
