"""A GGUF file's ``{architecture}.*`` metadata as the ``config.json`` our model families read.

The keys are llama.cpp's (``gguf.Keys``: ``llama.block_count``, ``qwen3.attention.key_length`` ...); what a file
leaves out takes llama.cpp's default for its architecture, and what our modules cannot compute (a partial rotary
dimension, say) is refused here, naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import CheckpointError
from engine.loading.gguf_file import ARCHITECTURE_MODEL_TYPES, field_value


def config_from_gguf(reader: Any, path: Path, vocab_size: int, tied: bool, has_qkv_bias: bool) -> dict:
    """The Hugging Face style config of the model in ``reader``; ``vocab_size`` and whether the output layer is
    tied or the attention has biases come from the tensors, which say it more surely than optional keys."""
    arch = str(field_value(reader, "general.architecture"))
    model_type = ARCHITECTURE_MODEL_TYPES[arch]

    def value(key: str, default: Any = None) -> Any:
        return field_value(reader, f"{arch}.{key}", default)

    def required(key: str) -> Any:
        found = value(key)
        if found is None:
            raise CheckpointError(path, f"metadata {arch}.{key} is missing: the file is incomplete")
        return found

    heads = int(required("attention.head_count"))
    hidden = int(required("embedding_length"))
    head_dim = int(value("attention.key_length", hidden // heads))
    rotary = value("rope.dimension_count", head_dim)
    if rotary != head_dim:
        raise CheckpointError(path, f"{arch}.rope.dimension_count {rotary} rotates part of each head of "
                                    f"{head_dim}: Inkling computes full rotary embeddings only")
    config: dict[str, Any] = {
        "model_type": model_type,
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": int(required("feed_forward_length")),
        "num_hidden_layers": int(required("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(value("attention.head_count_kv", heads)),
        "head_dim": head_dim,
        "max_position_embeddings": int(value("context_length", 2048)),
        "rms_norm_eps": float(value("attention.layer_norm_rms_epsilon", 1e-6)),
        "rope_theta": float(value("rope.freq_base", 10000.0)),
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "bos_token_id": field_value(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": field_value(reader, "tokenizer.ggml.eos_token_id"),
    }
    scaling = _rope_scaling(value)
    if scaling is not None:
        config["rope_scaling"] = scaling
    if model_type == "llama":
        config["attention_bias"] = has_qkv_bias
    return config


def _rope_scaling(value: Any) -> dict | None:
    kind = value("rope.scaling.type")
    factor = value("rope.scaling.factor")
    if kind in (None, "none") or not factor or factor == 1:
        return None
    scaling: dict[str, Any] = {"rope_type": kind, "factor": float(factor)}
    original = value("rope.scaling.original_context_length")
    if original:
        scaling["original_max_position_embeddings"] = int(original)
    return scaling
