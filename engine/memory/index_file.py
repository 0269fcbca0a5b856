"""The on-disk form of a folder's ``SuffixIndex``: a magic line, a JSON header line, then the two int32 arrays.

The header carries the format version, the tokenizer's fingerprint, the array lengths and a CRC-32 of the arrays,
so a file from another version, another tokenizer, or one cut short or damaged is refused with a reason
(``IndexFileError``) instead of being misread; the library then rebuilds it.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from engine.errors import InklingError
from engine.memory.suffix_index import SuffixIndex
from engine.owned_files import owned_file

MAGIC = b"INKLING-MEMORY-INDEX\n"
VERSION = 1


class IndexFileError(InklingError):
    """A memory index file that cannot be used; the message says why."""


def write_index(path: Path, index: SuffixIndex, header: dict) -> None:
    """Write atomically (a temporary file renamed over the old one): a crash never leaves half an index. A link or
    non-regular file at ``path`` is refused (``NotOwnFileError``, an ``OSError``)."""
    tokens = index.reversed_tokens.astype("<i4", copy=False).tobytes()
    order = index.suffix_array.astype("<i4", copy=False).tobytes()
    full = dict(header, version=VERSION, depth=index.depth, size=index.size,
                crc32=zlib.crc32(order, zlib.crc32(tokens)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with owned_file(path) as out:  # never through a link planted at the index's name
        out.write(MAGIC)
        out.write(json.dumps(full).encode("utf-8") + b"\n")
        out.write(tokens)
        out.write(order)


def read_header(path: Path) -> dict:
    """The header alone (listing folders without loading their arrays)."""
    with open(path, "rb") as file:
        return _parse_header(file.read(len(MAGIC)), file.readline(), path)


def read_index(path: Path, tokenizer_fingerprint: str) -> tuple[SuffixIndex, dict]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IndexFileError(f"cannot read {path}: {exc}") from exc
    line_end = data.find(b"\n", len(MAGIC))
    header = _parse_header(data[: len(MAGIC)], data[len(MAGIC) : line_end + 1], path)
    if header.get("tokenizer") != tokenizer_fingerprint:
        raise IndexFileError(f"{path} was built for another tokenizer")
    try:
        depth, size = int(header["depth"]), int(header["size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(f"{path} has an incomplete header") from exc
    payload = memoryview(data)[line_end + 1 :]
    expected = 4 * ((size + depth) + size)
    if len(payload) != expected:
        raise IndexFileError(f"{path} is damaged: {len(payload)} bytes of data where {expected} belong")
    if zlib.crc32(payload) != header.get("crc32"):
        raise IndexFileError(f"{path} is damaged: its checksum does not match")
    tokens = np.frombuffer(payload, dtype="<i4", count=size + depth).astype(np.int32)
    order = np.frombuffer(payload, dtype="<i4", offset=4 * (size + depth)).astype(np.int32)
    return SuffixIndex(tokens, order, depth), header


def _parse_header(magic: bytes, line: bytes, path: Path) -> dict:
    if magic != MAGIC:
        raise IndexFileError(f"{path} is not an Inkling memory index")
    try:
        header = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise IndexFileError(f"{path} has a damaged header") from exc
    if not isinstance(header, dict) or header.get("version") != VERSION:
        version = header.get("version") if isinstance(header, dict) else None
        raise IndexFileError(f"{path} is an index of format version {version!r}; this Inkling reads {VERSION}")
    return header
