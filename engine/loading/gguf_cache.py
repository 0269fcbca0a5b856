"""Converted GGUF models kept in the user cache, so a model's second load is one read instead of a conversion.

Converting a GGUF for the CPU (parsing ~100,000 metadata strings, rebuilding the tokenizer, packing every 4-bit
matrix for the int4 kernel) takes seconds that llama.cpp, which computes on the file's blocks as they are, does
not spend. The first load writes what it built (the packed buffers, int8 rows, norms, the tokenizer and config) as
one safetensors file and a JSON description; later loads read that back, which takes a fraction of a second.

An entry is keyed by the GGUF's resolved path, size and modification time, the torch version (the int4 packing is
torch's own layout) and this module's format version: a changed file or a new torch is simply a miss. Entries are
data only (safetensors and JSON: nothing in them can run code), written atomically through ``engine.owned_files``;
the oldest are removed beyond ``MAX_ENTRIES``. Any problem reading an entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.loading.checkpoint import LoadedCheckpoint, shapes_only
from engine.loading.families import FAMILIES
from engine.loading.tokenizer import TextTokenizer
from engine.models.fused_projections import fuse_model_projections
from engine.models.int4 import Int4Linear, int4_available
from engine.models.int8 import Int8Embedding, Int8Linear
from engine.owned_files import write_owned_file, write_owned_text

FORMAT_VERSION = 2  # 2: query/key/value and gate/up projections kept joined
MAX_ENTRIES = 4
_TENSORS = "weights.safetensors"
_DESCRIPTION = "model.json"


def cache_root() -> Path:
    """``INKLING_CACHE_DIR`` (tests, portable setups) or the platform's user cache folder."""
    override = os.environ.get("INKLING_CACHE_DIR")
    if override:
        return Path(override) / "gguf"
    from platformdirs import user_cache_path

    return user_cache_path("inkling", appauthor=False) / "gguf"


def entry_folder(path: Path) -> Path | None:
    """Where the converted model of ``path`` lives (or would), or None when the file cannot be looked at."""
    try:
        resolved = path.resolve()
        info = resolved.stat()
    except OSError:
        return None
    key = f"{resolved}|{info.st_size}|{info.st_mtime_ns}|{torch.__version__}|{FORMAT_VERSION}"
    return cache_root() / hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def read_converted(path: Path) -> tuple[LoadedCheckpoint, str, int] | None:
    """(checkpoint, storage, parameters) from the cache, or None when there is no usable entry."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = entry_folder(path)
    if folder is None or not (folder / _DESCRIPTION).is_file():
        return None
    try:
        description = json.loads((folder / _DESCRIPTION).read_text(encoding="utf-8"))
        # Cloned: owned memory the cache file cannot change, and 64-byte aligned (tensors as read sit at the
        # file's offsets, and the int8 kernel crashes on a misaligned matrix).
        tensors = {name: tensor.clone() for name, tensor in load_file(str(folder / _TENSORS)).items()}
        model = _rebuilt(description, tensors)
        tokenizer = TextTokenizer(_tokenizer_from_json(description["tokenizer"]), path)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError):
        return None
    os.utime(folder)  # most recently used: kept longest
    loaded = LoadedCheckpoint(model, tokenizer, description["config"], {}, path)
    return loaded, str(description["storage"]), int(description["parameters"])


def write_converted(path: Path, loaded: LoadedCheckpoint, storage: str, parameters: int) -> None:
    """Keep the converted model of ``path``; a failure (disk full, a read-only cache) only costs the next load
    its speed, so it is swallowed."""
    from safetensors.torch import save

    folder = entry_folder(path)
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tensors, modules = _flattened(loaded.model)
        write_owned_file(folder / _TENSORS, save(tensors))
        description = {"config": loaded.config, "storage": storage, "parameters": parameters, "modules": modules,
                       "tokenizer": loaded.tokenizer.backend.to_str(), "source": str(path)}
        write_owned_text(folder / _DESCRIPTION, json.dumps(description))
        _evict_oldest(folder)
    except (OSError, ValueError, RuntimeError):
        return


def _flattened(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]]]:
    """Every tensor once (shared buffers by their first name) and how each quantized module is made."""
    tensors: dict[str, torch.Tensor] = {}
    seen: dict[int, str] = {}
    modules: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        kind = {Int4Linear: "int4", Int8Linear: "int8", Int8Embedding: "int8_embedding"}.get(type(module))
        if kind is None:
            continue
        record: dict[str, Any] = {"kind": kind, "tensors": {}}
        for buffer_name, buffer in module.named_buffers(recurse=False):
            if buffer is None:
                continue
            key = seen.setdefault(buffer.data_ptr(), f"{name}.{buffer_name}")
            tensors.setdefault(key, buffer.contiguous())
            record["tensors"][buffer_name] = key
        if kind == "int4":
            record["shape"] = [module.out_features, module.in_features]
        modules[name] = record
    for name, param in model.named_parameters():
        tensors[name] = param.detach().contiguous()
    rotary = getattr(model, "rotary", None)
    if rotary is not None and hasattr(rotary, "_inv_freq"):
        tensors["rotary.inv_freq"] = next(iter(rotary._inv_freq.values())).contiguous()
    return tensors, modules


def _rebuilt(description: dict, tensors: dict[str, torch.Tensor]) -> nn.Module:
    config = description["config"]
    with shapes_only():
        model = FAMILIES[config["model_type"]].build(config)
    for name, record in description["modules"].items():
        parts = {key: tensors[source] for key, source in record["tensors"].items()}
        module: nn.Module
        if record["kind"] == "int4":
            if not int4_available():
                raise ValueError("int4 weights, and no int4 kernel here")  # an entry made on another machine
            out_features, in_features = record["shape"]
            module = Int4Linear.from_packed(parts["packed"], parts["scales_and_zeros"], in_features, out_features,
                                            parts.get("bias"))
        elif record["kind"] == "int8":
            module = Int8Linear.from_quantized(parts["weight_int8"], parts["scales"], parts.get("bias"))
        else:
            module = Int8Embedding(parts["weight_int8"], parts["scales"])
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, module)
    fuse_model_projections(model)  # drops the placeholders of joined layers (and joins those of older entries)
    rotary = getattr(model, "rotary", None)
    if "rotary.inv_freq" in tensors and rotary is not None:
        rotary._inv_freq = {torch.device("cpu"): tensors.pop("rotary.inv_freq")}
    expected = {name for name, _ in model.named_parameters()}
    model.load_state_dict({k: v for k, v in tensors.items() if k in expected}, strict=False, assign=True)
    if any(p.is_meta for p in model.parameters()) or any(b.is_meta for b in model.buffers()):
        raise ValueError("the cached model is incomplete")
    return model.eval()


def _tokenizer_from_json(text: str) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(text)


def _evict_oldest(keep: Path) -> None:
    entries = sorted((p for p in keep.parent.iterdir() if p.is_dir() and p != keep),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[MAX_ENTRIES - 1:]:
        for child in old.iterdir():
            child.unlink(missing_ok=True)
        old.rmdir()
