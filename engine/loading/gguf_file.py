"""Opening a GGUF file (llama.cpp's model format) with the ``gguf`` package's own reader, and what it holds.

Everything a menu or ``inkling models`` needs to say about a file (architecture, quantization, whether Inkling can
load it and why not) comes from ``describe_gguf``, which reads the header only. Files that are not a model we can
run are named for what they are: a LoRA adapter, one part of a split model, a vocabulary without weights.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import CheckpointError

GGUF_SUFFIX = ".gguf"
#: llama.cpp architectures whose computation we have, and the config ``model_type`` each becomes.
ARCHITECTURE_MODEL_TYPES = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma3": "gemma3_text"}
#: Quantization types whose blocks go straight to the int4 kernel (``engine.models.int4``).
INT4_TYPES = ("Q4_0", "Q4_1", "Q4_K")
#: Types read through the ``gguf`` package's dequantizer, then held as int8 (or float) by the loader.
DEQUANTIZED_TYPES = ("F32", "F16", "BF16", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q5_K", "Q6_K", "IQ4_NL",
                     "IQ4_XS")
SUPPORTED_TYPES = INT4_TYPES + DEQUANTIZED_TYPES
_SPLIT_NAME = re.compile(r"-\d{5}-of-(\d{5})\.gguf$", re.IGNORECASE)
#: ``general.file_type`` (llama.cpp's LLAMA_FTYPE) -> the name files are known by.
_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
               11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
               18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
               25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
               32: "BF16", 36: "TQ1_0", 37: "TQ2_0"}


def is_gguf_path(path: str | Path) -> bool:
    return str(path).lower().endswith(GGUF_SUFFIX)


def is_gguf_file(path: str | Path) -> bool:
    """A file named ``*.gguf``, or any file that starts with the GGUF signature: Ollama keeps its models as
    ``blobs/sha256-<hex>``, with no suffix."""
    path = Path(path)
    if not path.is_file():
        return False
    if is_gguf_path(path):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"GGUF"
    except OSError:
        return False


def open_gguf(path: str | Path) -> Any:
    """A ``gguf.GGUFReader`` over ``path`` (memory-mapped, read only), or ``CheckpointError`` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "file is missing" if not path.exists() else "is not a file")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read: {exc}") from exc
    if magic != b"GGUF":
        raise CheckpointError(path, "is not a GGUF file (it does not start with the GGUF signature)")
    try:
        return _reader_class()(path, "r")
    except (ValueError, IndexError, OSError, KeyError, TypeError, OverflowError, MemoryError) as exc:
        raise CheckpointError(path, f"damaged or truncated GGUF file: {exc}") from exc


@functools.cache
def _reader_class() -> type:
    """``gguf.GGUFReader`` reading through a plain array view of its memory map.

    The reader slices its map once per metadata value, some 300,000 times for a 150k-token vocabulary; a slice of
    ``numpy.memmap`` runs Python bookkeeping that a slice of the same bytes as a plain ``ndarray`` does not (3 s ->
    under 1 s for the 135M SmolLM2 file). The parsing itself stays the package's."""
    from gguf import GGUFReader

    class PlainViewReader(GGUFReader):
        @property  # type: ignore[override]
        def data(self) -> np.ndarray:
            return self._plain_data

        @data.setter
        def data(self, value: np.ndarray) -> None:
            self._plain_data = np.asarray(value)  # the memmap stays alive as the view's base

        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> np.ndarray:
            dtype, count = np.dtype(dtype), int(count)
            values = self._plain_data[offset : offset + dtype.itemsize * count].view(dtype)
            order = self.byte_order if override_order is None else override_order
            return values if order == "I" else values.view(values.dtype.newbyteorder(order))

    return PlainViewReader


def field_value(reader: Any, key: str, default: Any = None) -> Any:
    """A metadata value as a Python scalar, string or list; ``default`` when the file does not hold ``key``."""
    field = reader.fields.get(key)
    if field is None:
        return default
    try:
        return field.contents()
    except (ValueError, IndexError, TypeError):
        return default


def tensor_type_name(tensor: Any) -> str:
    return str(tensor.tensor_type.name)


@dataclass(frozen=True)
class GgufDescription:
    """What a model list shows for a GGUF file; ``problem`` is None when Inkling can load it."""

    path: Path
    name: str  # general.name, else the file name
    architecture: str  # llama.cpp's name: "llama", "qwen2", ...
    quantization: str  # "Q4_K_M", "Q8_0", ... (general.file_type, else the commonest weight type)
    size_bytes: int
    problem: str | None

    @property
    def loads(self) -> bool:
        return self.problem is None


def describe_gguf(path: str | Path) -> GgufDescription:
    """Read the header of ``path`` and say what it is; never raises for a bad file (its problem says why)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    try:
        reader = open_gguf(path)
    except CheckpointError as exc:
        return GgufDescription(path, path.name, "?", "?", size, exc.problem)
    architecture = str(field_value(reader, "general.architecture", "?"))
    name = str(field_value(reader, "general.name", "") or path.stem)
    return GgufDescription(path, name, architecture, quantization_name(reader), size, unsupported_reason(reader, path))


def quantization_name(reader: Any) -> str:
    file_type = field_value(reader, "general.file_type")
    if isinstance(file_type, int) and file_type in _FILE_TYPES:
        return _FILE_TYPES[file_type]
    weights = Counter(tensor_type_name(t) for t in reader.tensors if len(t.shape) == 2)
    return weights.most_common(1)[0][0] if weights else "?"


def unsupported_reason(reader: Any, path: Path) -> str | None:
    """Why Inkling cannot load the model in ``reader``, or None: what the file is, and what is supported."""
    kind = str(field_value(reader, "general.type", "model"))
    if kind == "adapter" or field_value(reader, "adapter.type") is not None:
        return ("is a LoRA adapter, not a model: open the base model it was made for (Inkling does not apply "
                "adapters)")
    parts = field_value(reader, "split.count", 0) or 0
    match = _SPLIT_NAME.search(path.name)
    if (isinstance(parts, int) and parts > 1) or (match and int(match.group(1)) > 1):
        return ("is one part of a model split across several files; Inkling opens single-file GGUF models "
                "(llama.cpp's `llama-gguf-split --merge` joins the parts into one)")
    if len(reader.tensors) == 0:
        return "holds a vocabulary but no weights (a vocab-only file): open the model file itself"
    architecture = field_value(reader, "general.architecture")
    if architecture not in ARCHITECTURE_MODEL_TYPES:
        supported = ", ".join(ARCHITECTURE_MODEL_TYPES)
        return f"architecture {architecture!r} is not one Inkling computes (it runs: {supported})"
    unsupported = sorted({tensor_type_name(t) for t in reader.tensors} - set(SUPPORTED_TYPES))
    if unsupported:
        return (f"uses the quantization type(s) {', '.join(unsupported)}, which Inkling cannot read; supported: "
                f"{', '.join(SUPPORTED_TYPES)}")
    return None


def tensor_rows(tensor: Any) -> np.ndarray:
    """The tensor's data as stored: ``[rows, bytes per row]`` uint8 for quantized types, ``[rows, width]`` for
    plain floats (one row for a vector)."""
    data = tensor.data
    return data.reshape(1, -1) if data.ndim == 1 else data.reshape(-1, data.shape[-1])
