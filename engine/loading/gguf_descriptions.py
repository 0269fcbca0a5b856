"""``describe_gguf`` remembered per file, in memory and on disk, so model lists stay fast however often they are
drawn.

The Model menu lists every model each time it opens, and Ollama and LM Studio users often have a dozen multi-GB
GGUF files. Reading a header parses the whole vocabulary (one to two seconds for a 50k-150k-token one), so each
description is kept while the file's path, size, modification time and inode stay the same; a file rewritten in
place or replaced gets a new one. The descriptions are also kept in ``gguf_descriptions.json`` in the user data
folder, so only the first listing ever reads a file; that file is keyed by the code that describes a file
(``gguf_file.py``'s bytes), so a new Inkling that runs more architectures or quantization types describes every
file afresh instead of repeating an old "cannot load".
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

from engine.loading import gguf_file
from engine.loading.gguf_file import GgufDescription, describe_gguf
from engine.owned_files import read_owned_text, write_owned_text
from engine.user_data import user_data_dir

MAX_REMEMBERED = 256
CACHE_FILE = "gguf_descriptions.json"

_remembered: OrderedDict[str, GgufDescription] = OrderedDict()
_loaded_from_disk = False
_lock = threading.Lock()  # the GUI thread lists models while the engine thread may resolve one


def describe_gguf_cached(path: str | os.PathLike) -> GgufDescription:
    """``describe_gguf(path)``, read again only when the file changed since it was last described."""
    path = Path(path)
    key = _key(path)
    if key is None:
        return describe_gguf(path)  # its problem says the file is missing or unreadable
    with _lock:
        _load_from_disk()
        known = _remembered.get(key)
        if known is not None:
            _remembered.move_to_end(key)
            return known
    described = describe_gguf(path)
    with _lock:
        _remembered[key] = described
        while len(_remembered) > MAX_REMEMBERED:
            _remembered.popitem(last=False)
        _save_to_disk()
    return described


def known_gguf_description(path: str | os.PathLike) -> GgufDescription | None:
    """The description of ``path`` as it is now if one is remembered, without reading the file; else None."""
    key = _key(Path(path))
    if key is None:
        return None
    with _lock:
        _load_from_disk()
        return _remembered.get(key)


def _key(path: Path) -> str | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return f"{path.absolute()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"


def forget_descriptions() -> None:
    """Drop every remembered description, in memory (the file on disk is read again at the next description)."""
    global _loaded_from_disk
    with _lock:
        _remembered.clear()
        _loaded_from_disk = False


def cache_path() -> Path:
    return user_data_dir() / CACHE_FILE


def _code_version() -> str:
    """What describes a file: a change to it (a new architecture, a new message) is a new cache."""
    return hashlib.sha256(Path(gguf_file.__file__).read_bytes()).hexdigest()[:16]


def _load_from_disk() -> None:
    """Read the cache file once per process (under ``_lock``); a missing, damaged or outdated one is empty."""
    global _loaded_from_disk
    if _loaded_from_disk:
        return
    _loaded_from_disk = True
    try:
        data = json.loads(read_owned_text(cache_path()))
        if data.get("code") != _code_version():
            return
        for key, fields in data["files"].items():
            _remembered.setdefault(key, GgufDescription(**{**fields, "path": Path(fields["path"])}))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return


def _save_to_disk() -> None:
    files = {key: {**asdict(described), "path": str(described.path)} for key, described in _remembered.items()}
    try:
        cache_path().parent.mkdir(parents=True, exist_ok=True)
        write_owned_text(cache_path(), json.dumps({"code": _code_version(), "files": files}, indent=0))
    except OSError:
        pass  # only a cache: the next listing reads the headers again
