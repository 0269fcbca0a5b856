"""How ``engine.load`` will hold a model's weights on a device, and the memory they take, read from the
checkpoint's headers without loading it: for ``inkling models``, and for refusing a model too big for the memory
that is free before a load would exhaust it.

The rule is the loader's own (``engine.models.int8.int8_helps_by_size``), so what is listed is what a load does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from engine.byte_sizes import format_bytes
from engine.errors import CheckpointError, ModelTooBigError
from engine.loading.config_size import checkpoint_shapes
from engine.loading.devices import available_memory_bytes, cpu_has_bf16, default_dtype
from engine.loading.gguf_file import INT4_TYPES, is_gguf_file, tensor_type_name
from engine.loading.gguf_weights import tied_head_is_int4
from engine.models.int4 import INT4_MISSING_NOTE, int4_available
from engine.models.int8 import INNER_MULTIPLE, int8_helps_by_size

_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class WeightsPlan:
    storage: str  # "int8", or the float dtype's name ("float32", "bfloat16", ...)
    memory_bytes: int  # what the weights take once loaded, estimated from the tensor shapes
    parameters: int

    @property
    def text(self) -> str:
        return f"{self.storage}, {format_bytes(self.memory_bytes)}"


def plan_weights(folder: Path, config: dict, device: torch.device) -> WeightsPlan | None:
    """None when the checkpoint's headers cannot be read (the model list skips the column rather than fail)."""
    try:
        shapes = checkpoint_shapes(folder)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError):
        return None
    if not shapes:
        return None
    parameters = sum(math.prod(shape) for shape in shapes.values())
    if int8_helps_by_size(parameters, config.get("model_type", ""), device, cpu_has_bf16()):
        # Linear weights become int8 (one byte each, plus a bfloat16 scale per row); embeddings, norms and
        # biases stay bfloat16. A head tied to the embedding gets an int8 copy of its own.
        linear: list[tuple[int, ...]] = [s for name, s in shapes.items()
                                         if len(s) == 2 and not _is_embedding(name) and s[1] % INNER_MULTIPLE == 0]
        float_values = parameters - sum(math.prod(s) for s in linear)
        if config.get("tie_word_embeddings", True) and not any("lm_head" in name for name in shapes):
            linear += [s for name, s in shapes.items() if "embed_tokens" in name or "wte" in name]
        int8_bytes = sum(math.prod(s) + 2 * s[0] for s in linear)
        return WeightsPlan("int8", int8_bytes + 2 * float_values, parameters)
    dtype = str(default_dtype(device)).removeprefix("torch.")
    return WeightsPlan(dtype, _DTYPE_BYTES.get(dtype, 4) * parameters, parameters)


def _is_embedding(name: str) -> bool:
    # Token embeddings are looked up, not multiplied, so the loader leaves them float (a tied head shares them).
    return any(part in name for part in ("embed_tokens", "wte", "wpe", "embedding"))




def check_memory(plan: WeightsPlan, checkpoint_bytes: int, device: torch.device, name: str,
                 streamed: bool = False) -> None:
    """Refuse, before loading starts, a model that cannot fit: a clear message instead of the machine swapping
    or the process being killed. Where free memory cannot be read, nothing is checked. ``streamed``: the loader
    converts tensor by tensor from a memory map (GGUF), so only the loaded weights and some scratch are needed."""
    free: int | None
    if device.type == "cuda":
        needed = plan.memory_bytes
        free = torch.cuda.mem_get_info(device)[0]
        where = "is free on the GPU"
    elif streamed:
        needed = plan.memory_bytes + min(checkpoint_bytes, 512 * 1024 * 1024)
        free = available_memory_bytes()
        where = "is free"
    else:
        # The float32 model is built whole before it is converted (to int8 or another dtype), next to the
        # checkpoint's tensors as read from disk.
        needed = max(plan.memory_bytes, 4 * plan.parameters) + checkpoint_bytes
        free = available_memory_bytes()
        where = "is free"
    if free is not None and needed > free:
        raise ModelTooBigError(
            f"{name} needs about {format_bytes(needed)} to load ({plan.text} once loaded) and only "
            f"{format_bytes(free)} {where}: close other programs or choose a smaller model")


def plan_folder_weights(folder: Path, device: torch.device) -> WeightsPlan | None:
    """``plan_weights`` for a model folder, reading its config; None where the config or the headers cannot be
    read (the loader's own error then names the broken file)."""
    from engine.loading.checkpoint import read_config

    try:
        return plan_weights(folder, read_config(folder), device)
    except CheckpointError:
        return None


def plan_model_weights(path: Path, device: torch.device) -> WeightsPlan | None:
    """``plan_folder_weights``, or for a GGUF file the plan of its own loader (quantized on the CPU)."""
    if not is_gguf_file(path):
        return plan_folder_weights(path, device)
    from engine.loading.gguf_file import open_gguf

    try:
        reader = open_gguf(path)
    except CheckpointError:
        return None
    return plan_gguf_weights(reader, device.type == "cpu", default_dtype(device))


def refuse_if_too_big(folder: Path, name: str, device: torch.device) -> None:
    """``check_memory`` for a model folder; a folder that cannot be planned is left to the loader."""
    plan = plan_folder_weights(folder, device)
    if plan is not None:
        checkpoint_bytes = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
        check_memory(plan, checkpoint_bytes, device, name)


def plan_gguf_weights(reader: Any, quantized: bool, dtype: torch.dtype = torch.float32) -> WeightsPlan:
    """How the loader will hold the file's weights and the bytes they take, from the tensor headers alone."""
    total = parameters = 0
    kinds = set()
    int4 = quantized and int4_available()
    int4_missing = False
    for tensor in reader.tensors:
        count = math.prod(int(n) for n in tensor.shape)
        rows = count // int(tensor.shape[0]) if len(tensor.shape) > 1 else 1
        parameters += count
        if not quantized:
            total += count * dtype.itemsize
        elif len(tensor.shape) == 1:
            total += 2 * count
        elif tensor_type_name(tensor) in INT4_TYPES and tensor.name != "token_embd.weight" and int4:
            # (the token embedding is looked up, not multiplied: the loader holds it as int8 rows)
            total += count // 2 + count // 32 * 4
            kinds.add("int4")
        else:
            int4_missing |= tensor_type_name(tensor) in INT4_TYPES and tensor.name != "token_embd.weight"
            total += count + 2 * rows
            kinds.add("int8")
    embedding: Any = next((t for t in reader.tensors if t.name == "token_embd.weight"), None)
    tied = embedding is not None and not any(t.name == "output.weight" for t in reader.tensors)
    if quantized and tied and tied_head_is_int4(tensor_type_name(embedding), int(embedding.shape[0]), int4):
        count = math.prod(int(n) for n in embedding.shape)
        total += count // 2 + count // 32 * 4  # the output layer's own int4 copy of the 4-bit blocks
        kinds.add("int4")
    storage = " + ".join(sorted(kinds)) if quantized else str(dtype).removeprefix("torch.")
    if int4_missing:
        storage += INT4_MISSING_NOTE
    return WeightsPlan(storage, total, parameters)
