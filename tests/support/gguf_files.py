"""Writing small GGUF model files for tests, the way llama.cpp's converter writes them (``gguf.GGUFWriter``).

``write_llama_gguf`` takes a Hugging Face style state dict and config of a Llama-family model, renames the tensors
to llama.cpp's names, reorders the query/key rows of ``llama`` files as its converter does, and stores each weight
matrix in the quantization type asked for; the tokenizer is a byte-level BPE taken from a ``tokenizer.json``.
``write_gemma3_gguf`` does the same for a Gemma 3 text model, with its converter's ``1 + weight`` norms.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFWriter, RopeScalingType
from gguf.quants import quantize

from tests.support.paths import BUNDLED_TOKENIZER

VOCAB = 8192  # the bundled tokenizer's

_GLOBAL = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}
_PARTS = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
          "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
          "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm", "mlp.gate_proj": "ffn_gate",
          "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


_GEMMA3_PARTS = {**_PARTS, "post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
                 "post_feedforward_layernorm": "post_ffw_norm"}


def gguf_name(key: str, parts: dict[str, str] = _PARTS) -> str:
    if key in _GLOBAL:
        return _GLOBAL[key]
    _model, _layers, layer, rest = key.split(".", 3)
    module, kind = rest.rsplit(".", 1)
    return f"blk.{layer}.{parts[module]}.{kind}"


def llama_cpp_permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf.py ``LlamaModel.permute``: the rows of each head's two rotary halves
    interleaved."""
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def pack_q4_k(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``weights`` [rows, width] as Q4_K blocks (144 bytes per 256 weights), with random 6-bit sub-block scales and
    minimums: the ``gguf`` package can read Q4_K but not write it. Returns the blocks; their values are what
    ``gguf.quants.dequantize`` gives back, not ``weights`` (only the shape and rough size are kept)."""
    rows, width = weights.shape
    count = rows * width // 256
    blocks = np.zeros((count, 144), dtype=np.uint8)
    spread = float(np.abs(weights).max()) or 1.0
    blocks[:, 0:2] = np.frombuffer(np.float16(spread / 15 / 40).tobytes(), np.uint8)
    blocks[:, 2:4] = np.frombuffer(np.float16(spread / 40).tobytes(), np.uint8)
    blocks[:, 4:16] = rng.integers(0, 256, (count, 12), dtype=np.uint8)
    blocks[:, 16:] = rng.integers(0, 256, (count, 128), dtype=np.uint8)
    return blocks.reshape(rows, width // 256 * 144)


def write_llama_gguf(path: Path, config: dict, state: dict[str, torch.Tensor], tokenizer_json: Path, *,
                     weight_type: str = "F32", architecture: str | None = None, metadata: dict | None = None,
                     seed: int = 0, bos_id: int = 0) -> Path:
    """A GGUF file of the model (``config`` as in config.json, ``state`` its Hugging Face keys)."""
    arch = architecture or config["model_type"]
    writer = GGUFWriter(str(path), arch)
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(config.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(0)
    for key, value in (metadata or {}).items():
        if isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value)
    _add_byte_level_tokenizer(writer, tokenizer_json, config["vocab_size"], bos_id)
    rng = np.random.default_rng(seed)
    tied = config.get("tie_word_embeddings", False)
    for key, tensor in state.items():
        if key == "lm_head.weight" and tied:
            continue
        values = tensor.detach().float().numpy()
        if arch == "llama" and ".q_proj." in key:
            values = llama_cpp_permute(values, heads)
        elif arch == "llama" and ".k_proj." in key:
            values = llama_cpp_permute(values, kv_heads)
        _add_weight(writer, gguf_name(key), values, weight_type, rng)
    _finish(writer)
    return path


def write_gemma3_gguf(path: Path, config: dict, state: dict[str, torch.Tensor], tokenizer_json: Path, *,
                      weight_type: str = "F32", sliding_window_pattern: int | list[bool] | None = None,
                      local_rope_base: float | None = None, seed: int = 0) -> Path:
    """A GGUF file of a Gemma 3 text model (``config`` as ``Gemma3TextConfig.to_dict()`` gives it), written as
    llama.cpp's converter writes one (``Gemma3Model`` in convert_hf_to_gguf.py): every ``*norm.weight`` stored as
    ``1 + weight``, the global rope base and linear scaling in ``rope.*``, no layer pattern unless one is given."""
    writer = GGUFWriter(str(path), "gemma3")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_key_length(config["head_dim"])
    writer.add_value_length(config["head_dim"])
    writer.add_file_type(0)
    full_rope = (config.get("rope_parameters") or {}).get("full_attention") or {}
    writer.add_rope_freq_base(float(full_rope.get("rope_theta", config.get("rope_theta", 1_000_000.0))))
    writer.add_sliding_window(config["sliding_window"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    if full_rope.get("rope_type", "default") == "linear":
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(full_rope["factor"]))
    if sliding_window_pattern is not None:
        writer.add_sliding_window_pattern(sliding_window_pattern)
    if local_rope_base is not None:  # newer llama.cpp reads it; its converter leaves Gemma 3's 10000 unwritten
        writer.add_float32("gemma3.rope.freq_base_swa", local_rope_base)
    writer.add_vocab_size(config["vocab_size"])
    _add_byte_level_tokenizer(writer, tokenizer_json, config["vocab_size"], config.get("bos_token_id") or 0)
    rng = np.random.default_rng(seed)
    for key, tensor in state.items():
        if key == "lm_head.weight" and config.get("tie_word_embeddings", True):
            continue
        values = tensor.detach().float().numpy()
        if key.endswith("norm.weight"):
            values = values + 1
        _add_weight(writer, gguf_name(key, _GEMMA3_PARTS), values, weight_type, rng)
    _finish(writer)
    return path


def _add_weight(writer: GGUFWriter, name: str, values: np.ndarray, weight_type: str,
                rng: np.random.Generator) -> None:
    """Matrices in ``weight_type``, vectors in F32 (as llama.cpp's converter keeps norms and biases)."""
    kind = weight_type if values.ndim == 2 else "F32"
    if kind == "Q4_K":
        writer.add_tensor(name, pack_q4_k(values, rng), raw_dtype=GGMLQuantizationType.Q4_K)
    elif kind == "F32":
        writer.add_tensor(name, values.astype(np.float32))
    else:
        qtype = GGMLQuantizationType[kind]
        writer.add_tensor(name, quantize(values, qtype), raw_dtype=qtype)


def _finish(writer: GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _add_byte_level_tokenizer(writer: GGUFWriter, tokenizer_json: Path, vocab_size: int, bos_id: int) -> None:
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    added = {t["id"]: t["content"] for t in data.get("added_tokens", [])}
    tokens = [""] * vocab_size
    types = [1] * vocab_size  # NORMAL
    for token, index in vocab.items():
        tokens[index] = token
    for index, content in added.items():
        tokens[index] = content
        types[index] = 3  # CONTROL
    for index, token in enumerate(tokens):
        if not token:
            tokens[index] = f"[PAD{index}]"
            types[index] = 5  # UNUSED
    merges = [" ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(bos_id)
    writer.add_eos_token_id(0)


def logits_of(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """float32 logits of our model or a transformers one."""
    with torch.inference_mode():
        out = model(tokens)
    return (out.logits if hasattr(out, "logits") else out[0]).float()


def mean_kl(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Mean KL divergence (nats per position) of ``other``'s distributions from ``reference``'s."""
    p = reference.log_softmax(-1)
    return float((p.exp() * (p - other.log_softmax(-1))).sum(-1).mean())


def tiny_config(model_type: str, hidden: int = 64, **changes) -> dict:
    """A small Llama-family config (Hugging Face keys) on the bundled tokenizer's vocabulary."""
    config = {"model_type": model_type, "vocab_size": VOCAB, "hidden_size": hidden, "intermediate_size": 2 * hidden,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "head_dim": hidden // 4, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
              "rope_theta": 10000.0, "tie_word_embeddings": False, "hidden_act": "silu"}
    return {**config, **changes}


def reference_model(config: dict) -> torch.nn.Module:
    """The model as transformers builds it, with random weights (and random norm weights, so a swapped norm
    shows)."""
    import transformers

    classes = {"llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
               "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
               "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM)}
    config_class, model_class = classes[config["model_type"]]
    torch.manual_seed(0)
    model = model_class(config_class(**{k: v for k, v in config.items() if k != "model_type"})).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name or name.endswith(".bias"):
                param.copy_(torch.randn_like(param) * 0.1 + (1.0 if "norm" in name else 0.0))
    return model


def write_model(tmp_path: Path, config: dict, weight_type: str = "F32", name: str = "model.gguf",
                **kwargs) -> tuple[Path, torch.nn.Module]:
    """A GGUF file of ``reference_model(config)`` in ``tmp_path``, and that model."""
    model = reference_model(config)
    path = write_llama_gguf(tmp_path / name, config, model.state_dict(), BUNDLED_TOKENIZER,
                            weight_type=weight_type, **kwargs)
    return path, model
