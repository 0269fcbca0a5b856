"""``load_gguf``: a GGUF file as a ``LoadedCheckpoint``, like a model folder, so everything after loading is the
same for both. The model is built on the meta device and filled tensor by tensor (``engine.loading.gguf_weights``);
the tokenizer is rebuilt from the file's own vocabulary (``engine.loading.gguf_tokenizer``)."""

from __future__ import annotations

import ctypes
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.errors import CheckpointError
from engine.loading.checkpoint import LoadedCheckpoint, shapes_only
from engine.loading.families import FAMILIES
from engine.loading.gguf_cache import read_converted, write_converted
from engine.loading.gguf_config import config_from_gguf
from engine.loading.gguf_file import field_value, open_gguf, unsupported_reason
from engine.loading.gguf_weights import ROPE_FACTORS, WeightFiller
from engine.loading.tokenizer import TextTokenizer
from engine.loading.weights_plan import check_memory, plan_gguf_weights
from engine.models.fused_projections import fuse_model_projections
from engine.models.int4 import INT4_MISSING_NOTE


@dataclass
class LoadedGguf:
    checkpoint: LoadedCheckpoint
    storage: str  # how the weights are held: "int4 + int8", "float32" ...
    parameters: int  # the file's count (a tied matrix once)


def load_gguf(path: str | Path, device: torch.device | str = "cpu", *, quantized: bool = True,
              dtype: torch.dtype = torch.float32, name: str | None = None) -> LoadedGguf:
    """The model in ``path`` and how its weights are held.

    ``quantized`` (CPU only): 4-bit blocks as int4, the rest as int8, computing in bfloat16; otherwise every weight
    is dequantized into ``dtype``. Raises ``CheckpointError`` naming the file and what is supported, and
    ``ModelTooBigError`` (before building anything) when the weights cannot fit in the free memory."""
    from engine.loading.gguf_tokenizer import tokenizer_from_gguf

    path = Path(path)
    device = torch.device(device)
    cacheable = quantized and device.type == "cpu"
    cached = read_converted(path) if cacheable else None
    if cached is not None:
        return LoadedGguf(*cached)
    reader = open_gguf(path)
    problem = unsupported_reason(reader, path)
    if problem:
        raise CheckpointError(path, problem)
    check_memory(plan_gguf_weights(reader, quantized and device.type == "cpu", dtype), path.stat().st_size,
                 device, name or str(path), streamed=True)
    tensors = {t.name: t for t in reader.tensors}
    embedding = tensors.get("token_embd.weight")
    if embedding is None:
        raise CheckpointError(path, "tensor 'token_embd.weight' is missing: the file holds no token embedding")
    vocab_size = int(embedding.shape[-1])
    tied = "output.weight" not in tensors
    config = config_from_gguf(reader, path, vocab_size, tied, has_qkv_bias="blk.0.attn_q.bias" in tensors)
    tokenizer = tokenizer_from_gguf(reader, path)
    config["start_token_id"] = document_start_token(reader, tokenizer, config)
    if tokenizer.vocab_size > vocab_size:
        raise CheckpointError(path, f"the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                                    f"{vocab_size}: the file is inconsistent")
    try:
        with shapes_only():
            model = FAMILIES[config["model_type"]].build(config)
    except (TypeError, ValueError, ArithmeticError, RuntimeError) as exc:
        raise CheckpointError(path, f"invalid model settings in its metadata: {exc}") from exc
    on_cpu = device.type == "cpu"
    filler = WeightFiller(model, reader, path, quantized=quantized and on_cpu,
                          dtype=torch.bfloat16 if quantized and on_cpu else dtype, device=device)
    filler.fill()
    fuse_model_projections(model)  # before the cache keeps it, so a cached load joins nothing again
    parameters = sum(math.prod(int(n) for n in t.shape) for t in reader.tensors if t.name != ROPE_FACTORS)
    del reader, tensors, embedding  # the file's memory map: nothing of it is referenced any more
    model.eval()
    release_freed_memory()
    storage = " + ".join(sorted(filler.storage, key=lambda kind: -filler.storage[kind]))
    if filler.int4_missing:
        storage += INT4_MISSING_NOTE
    loaded = LoadedGguf(LoadedCheckpoint(model, tokenizer, config, {}, path), storage, parameters)
    if cacheable:
        write_converted(path, loaded.checkpoint, storage, parameters)
    return loaded


def document_start_token(reader: Any, tokenizer: TextTokenizer, config: dict) -> int | None:
    """What a document starts with, as the model was trained: the beginning-of-text token where the file says its
    tokenizer adds one (Llama, Gemma), else the end-of-text token that separated documents (GPT-2 style
    vocabularies such as SmolLM2 and Qwen, whose instruct files name a chat turn's end as their eos instead)."""
    if field_value(reader, "tokenizer.ggml.add_bos_token") and config.get("bos_token_id") is not None:
        return int(config["bos_token_id"])
    separator = tokenizer.token_id("<|endoftext|>")
    return separator if separator is not None else config.get("eos_token_id")


def release_freed_memory() -> None:
    """Hand the conversion's scratch back to the OS. glibc keeps freed heap pages for reuse, so without this the
    process stays ~2.5x the weights' size after loading (the 135M SmolLM2: +384 MB resident, +150 MB after)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass  # another C library (musl): nothing to trim, the memory is merely kept for reuse
