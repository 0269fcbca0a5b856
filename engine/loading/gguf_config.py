"""A GGUF file's ``{architecture}.*`` metadata as the ``config.json`` our model families read.

The keys are llama.cpp's (``gguf.Keys``: ``llama.block_count``, ``qwen3.attention.key_length`` ...); what a file
leaves out takes llama.cpp's default for its architecture, and what our modules cannot compute (a partial rotary
dimension, say) is refused here, naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import CheckpointError
from engine.loading.config_size import check_layer_count, layers_held
from engine.loading.gguf_file import ARCHITECTURE_MODEL_TYPES, field_value
from engine.models import gemma3


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
    layers = int(required("block_count"))
    # Before anything sized by it is made (Gemma 3's list of layer types, the model's layers).
    check_layer_count(layers, f"metadata {arch}.block_count", path, layers_held(t.name for t in reader.tensors))
    config: dict[str, Any] = {
        "model_type": model_type,
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": int(required("feed_forward_length")),
        "num_hidden_layers": layers,
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
    elif model_type == gemma3.MODEL_TYPE:
        del config["hidden_act"]
        config.update(_gemma3_settings(value, path, config), attention_bias=has_qkv_bias)
    return config


def _gemma3_settings(value: Any, path: Path, config: dict) -> dict:
    """Gemma 3's settings as llama.cpp reads them (``llama-model.cpp``): the window from the file; the layer pattern
    from the file (a period, or a flag per layer that is true where the layer slides), else every sixth layer
    global; the sliding layers' rope base 10000 unless the file names one; the attention scaled by 1/sqrt(head_dim)
    (the file has no query_pre_attn_scalar), but by 1/sqrt(hidden / heads) in the 62-layer 27B."""
    window = value("attention.sliding_window")
    if window is None:
        raise CheckpointError(path, "metadata gemma3.attention.sliding_window is missing: the file is incomplete")
    layers = config["num_hidden_layers"]
    pattern = value("attention.sliding_window_pattern", gemma3.DEFAULT_SLIDING_WINDOW_PATTERN)
    if isinstance(pattern, list):
        if len(pattern) != layers:
            raise CheckpointError(path, f"gemma3.attention.sliding_window_pattern has {len(pattern)} flags for "
                                        f"{layers} layers")
        layer_types = [gemma3.SLIDING if flag else gemma3.FULL for flag in pattern]
    else:
        try:
            layer_types = gemma3.default_layer_types(layers, pattern)
        except ValueError as exc:
            raise CheckpointError(path, f"gemma3.attention.{exc}") from exc
    scalar = config["hidden_size"] // config["num_attention_heads"] if layers == 62 else config["head_dim"]
    return {"hidden_activation": "gelu_pytorch_tanh", "sliding_window": int(window), "layer_types": layer_types,
            "rope_local_base_freq": float(value("rope.freq_base_swa", 10000.0)), "query_pre_attn_scalar": scalar}


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
