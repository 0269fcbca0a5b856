"""A GGUF file's tensors put into one of our models, one tensor at a time, never the whole model in float32.

On the CPU the weights stay small: llama.cpp's 4-bit blocks (Q4_0, Q4_1, Q4_K) become ``Int4Linear`` operands
without re-quantizing; every other type is dequantized a slice of rows at a time (the ``gguf`` package's
dequantizer) and held as int8 rows with a scale each (``Int8Linear``; the token embedding as ``Int8Embedding``,
shared with a tied output layer, which takes 4-bit embedding blocks as ``Int4Linear`` instead). ``float`` mode dequantizes everything into ordinary float parameters (for a GPU,
or to compare against the file's exact values).

Every value is copied out of the file's memory map into memory of our own, so another program rewriting or
truncating the file while the model is loaded cannot change the weights or crash the app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from engine.errors import CheckpointError
from engine.loading.gguf_blocks import int4_operands
from engine.loading.gguf_file import INT4_TYPES, tensor_rows, tensor_type_name
from engine.models.int4 import GROUP_SIZE, Int4Linear, int4_available
from engine.models.int8 import INNER_MULTIPLE, Int8Embedding, Int8Linear, quantize_rows

_GLOBAL_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                 "output.weight": "lm_head.weight"}
_BLOCK_PARTS = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
                "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm",
                "attn_k_norm": "self_attn.k_norm", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                "ffn_down": "mlp.down_proj"}
#: Where Gemma 3's blocks differ: four norms per block, its ``ffn_norm`` the one before the MLP.
_GEMMA3_BLOCK_PARTS = {**_BLOCK_PARTS, "post_attention_norm": "post_attention_layernorm",
                       "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm"}
#: llama.cpp's converter stores Gemma's RMSNorm weights as the factor they scale by, ``1 + weight``; our Gemma norms
#: hold ``weight`` as transformers' checkpoints do, so this much comes off every ``*norm.weight`` of such files.
NORM_OFFSETS = {"gemma3_text": 1.0}
_BLOCK_NAME = re.compile(r"^blk\.(\d+)\.(\w+)\.(weight|bias)$")
#: Rows dequantized at once: bounds the float32 scratch memory of a large vocabulary matrix.
_DEQUANTIZE_ROWS = 4096
#: llama.cpp's tensor of Llama 3 rope factors; the rotary embedding divides its frequencies by them.
ROPE_FACTORS = "rope_freqs.weight"


def model_key(gguf_name: str, model_type: str = "llama") -> str | None:
    """The state-dict key of our ``model_type`` modules for a GGUF tensor name, or None for one we do not know."""
    if gguf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[gguf_name]
    parts = _GEMMA3_BLOCK_PARTS if model_type == "gemma3_text" else _BLOCK_PARTS
    match = _BLOCK_NAME.match(gguf_name)
    if match and match.group(2) in parts:
        layer, part, kind = match.groups()
        return f"model.layers.{layer}.{parts[part]}.{kind}"
    return None


def dequantized(tensor: Any, rows: slice | None = None) -> np.ndarray:
    """float32 ``[rows, width]`` of a GGUF tensor (or a slice of its rows), through the ``gguf`` dequantizer."""
    from gguf.quants import dequantize

    data = tensor_rows(tensor)
    if rows is not None:
        data = data[rows]
    kind = tensor.tensor_type
    if tensor_type_name(tensor) in ("F32", "F16"):
        return np.array(data, dtype=np.float32)  # a copy: nothing of the file's map is kept
    return np.asarray(dequantize(data, kind), dtype=np.float32).reshape(data.shape[0], -1)


def unpermute_llama_rows(rows: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's reordering of the query and key rows of ``llama`` files (its converter interleaves the two
    halves of each head for its own rotary layout; our rotation, like transformers', wants them apart)."""
    head_dim = rows.shape[0] // heads
    order = np.arange(rows.shape[0]).reshape(heads, 2, head_dim // 2).swapaxes(1, 2).reshape(-1)
    restored = np.empty_like(rows)
    restored[order] = rows
    return restored


class WeightFiller:
    """Fills a model built on the meta device (``checkpoint.shapes_only``) from a GGUF reader's tensors."""

    def __init__(self, model: nn.Module, reader: Any, path: Path, *, quantized: bool, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.model = model
        self.reader = reader
        self.path = path
        self.quantized = quantized
        #: 4-bit blocks go to the int4 kernel where it runs; elsewhere they are held as int8 (``int4_missing``).
        self.int4 = quantized and int4_available()
        self.int4_missing = False
        self.dtype = dtype
        self.device = device
        config: Any = model.config
        self.config = config
        self.permute_qk = config.model_type == "llama"
        self.norm_offset = NORM_OFFSETS.get(config.model_type, 0.0)
        self.expected = model.state_dict()
        self.float_state: dict[str, torch.Tensor] = {}
        #: How each linear layer is held, counted for the LOADS AS line ("int4", "int8", "bfloat16" ...).
        self.storage: dict[str, int] = {}

    def fill(self) -> None:
        tensors = {t.name: t for t in self.reader.tensors}
        model_type = self.config.model_type
        biases = {model_key(name, model_type): t for name, t in tensors.items() if name.endswith(".bias")}
        for name, tensor in tensors.items():
            if name == ROPE_FACTORS:
                self._set_rope_factors(tensor)
                continue
            key = model_key(name, model_type)
            if key is None or key not in self.expected:
                raise CheckpointError(self.path, f"unexpected tensor {name!r}: the file's metadata does not "
                                                 "describe this model")
            self._check_shape(name, key, tensor)
            if key.endswith(".bias") and self.quantized and key.removesuffix(".bias") + ".weight" in self._linears():
                continue  # goes in with its layer's weights
            if key.endswith(".weight") and key.removesuffix(".weight") in self._linears() and self.quantized:
                module = key.removesuffix(".weight")
                self._install(module, self._quantized_linear(key, tensor, biases.get(module + ".bias")))
            elif key == "model.embed_tokens.weight" and self.quantized:
                self._install_embedding(tensor)
            else:
                self.float_state[key] = self._float_tensor(key, tensor)
        self._finish()

    def _linears(self) -> set[str]:
        if not hasattr(self, "_linear_names"):
            self._linear_names = {name for name, m in self.model.named_modules() if isinstance(m, nn.Linear)}
        return self._linear_names

    def _check_shape(self, name: str, key: str, tensor: Any) -> None:
        shape = tuple(int(n) for n in reversed(tensor.shape))  # GGUF lists the innermost dimension first
        shape = tuple(n for n in shape if n != 1) if len(self.expected[key].shape) == 1 else shape
        if shape != tuple(self.expected[key].shape):
            raise CheckpointError(self.path, f"tensor {name!r} has shape {shape}, the metadata implies "
                                             f"{tuple(self.expected[key].shape)}")

    def _rows(self, key: str, tensor: Any) -> np.ndarray:
        """The tensor's stored rows, with llama's query/key reordering undone (raw blocks reorder like rows)."""
        rows = tensor_rows(tensor)
        heads = self._permuted_heads(key)
        return unpermute_llama_rows(rows, heads) if heads else np.array(rows)

    def _permuted_heads(self, key: str) -> int | None:
        if not self.permute_qk:
            return None
        if ".self_attn.q_proj." in key:
            return cast(int, self.config.num_attention_heads)
        if ".self_attn.k_proj." in key:
            return cast(int, self.config.num_key_value_heads)
        return None

    def _float_rows(self, key: str, tensor: Any) -> np.ndarray:
        heads = self._permuted_heads(key)
        values = dequantized(tensor)
        return unpermute_llama_rows(values, heads) if heads else values

    def _float_tensor(self, key: str, tensor: Any) -> torch.Tensor:
        values = torch.from_numpy(self._float_rows(key, tensor)).reshape(self.expected[key].shape)
        if not torch.isfinite(values).all():
            raise CheckpointError(self.path, f"tensor {tensor.name!r} holds NaN or infinite values: the file is "
                                             "damaged or was wrongly converted")
        if self.norm_offset and key.endswith("norm.weight"):
            values = values - self.norm_offset  # in float32, before any rounding to the compute dtype
        return values.to(device=self.device, dtype=self.dtype)

    def _quantized_linear(self, key: str, tensor: Any, bias: Any) -> nn.Module:
        out_features, in_features = self.expected[key].shape
        bias_values = None
        if bias is not None:
            bias_key = key.removesuffix(".weight") + ".bias"
            bias_values = torch.from_numpy(self._float_rows(bias_key, bias)).reshape(-1)
        kind = tensor_type_name(tensor)
        self.int4_missing |= kind in INT4_TYPES and not self.int4
        if kind in INT4_TYPES and in_features % GROUP_SIZE == 0 and self.int4:
            codes, scales, lows = int4_operands(self._rows(key, tensor), kind, in_features)
            self._check_finite(tensor, scales, lows)
            self._count("int4")
            return Int4Linear(codes, scales, lows, bias_values)
        if in_features % INNER_MULTIPLE == 0:
            codes8, scales8 = self._int8_rows(key, tensor)
            self._count("int8")
            return Int8Linear.from_quantized(codes8, scales8, bias_values)
        linear = nn.Linear(in_features, out_features, bias=bias is not None, dtype=torch.bfloat16)
        with torch.no_grad():
            linear.weight.copy_(self._float_tensor(key, tensor))
            if bias_values is not None:
                linear.bias.copy_(bias_values)
        self._count("bfloat16")
        return linear

    def _int8_rows(self, key: str, tensor: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """int8 codes and row scales, dequantizing a slice of rows at a time."""
        heads = self._permuted_heads(key)
        total = tensor_rows(tensor).shape[0]
        codes, scales = [], []
        for start in range(0, total, _DEQUANTIZE_ROWS):
            values = torch.from_numpy(dequantized(tensor, slice(start, start + _DEQUANTIZE_ROWS)))
            if not torch.isfinite(values).all():
                raise CheckpointError(self.path, f"tensor {tensor.name!r} holds NaN or infinite values: the file "
                                                 "is damaged or was wrongly converted")
            part_codes, part_scales = quantize_rows(values)
            codes.append(part_codes)
            scales.append(part_scales)
        all_codes, all_scales = torch.cat(codes), torch.cat(scales)
        if heads:
            order = torch.from_numpy(unpermute_llama_rows(np.arange(total), heads))
            all_codes, all_scales = all_codes[order], all_scales[order]
        return all_codes, all_scales

    def _check_finite(self, tensor: Any, *parts: torch.Tensor) -> None:
        if not all(torch.isfinite(part).all() for part in parts):
            raise CheckpointError(self.path, f"tensor {tensor.name!r} holds NaN or infinite scales: the file is "
                                             "damaged or was wrongly converted")

    def _install_embedding(self, tensor: Any) -> None:
        codes, scales = self._int8_rows("model.embed_tokens.weight", tensor)
        backbone: Any = self.model.model
        backbone.embed_tokens = Int8Embedding(codes, scales)
        self._count("int8")
        if not self.config.tie_word_embeddings:
            return
        width = int(tensor.shape[0])  # GGUF lists the innermost dimension first
        if tied_head_is_int4(tensor_type_name(tensor), width, self.int4):
            # The output layer reads every row each token: 4-bit blocks as they are halve what it reads, while the
            # embedding keeps int8 rows to look up (a vocabulary of 152k rows: 136 MB against 77 MB a token).
            head_codes, head_scales, lows = int4_operands(self._rows("lm_head.weight", tensor),
                                                          tensor_type_name(tensor), width)
            self._install("lm_head", Int4Linear(head_codes, head_scales, lows))
            self._count("int4")
        else:
            self._install("lm_head", Int8Linear.from_quantized(codes, scales))

    def _install(self, module_name: str, module: nn.Module) -> None:
        parent_name, _, child = module_name.rpartition(".")
        setattr(self.model.get_submodule(parent_name) if parent_name else self.model, child, module)

    def _count(self, storage: str) -> None:
        self.storage[storage] = self.storage.get(storage, 0) + 1

    def _set_rope_factors(self, tensor: Any) -> None:
        factors = torch.from_numpy(dequantized(tensor)).reshape(-1)
        rotary: Any = self.model.rotary
        inv_freq = next(iter(rotary._inv_freq.values()))
        if factors.shape != inv_freq.shape:
            raise CheckpointError(self.path, f"tensor {tensor.name!r} has {factors.numel()} rope factors for "
                                             f"{inv_freq.numel()} frequencies")
        rotary._inv_freq = {inv_freq.device: inv_freq / factors}

    def _finish(self) -> None:
        state = self.float_state
        tied = bool(self.config.tie_word_embeddings)
        self.model.load_state_dict(state, strict=False, assign=True)
        if tied and not self.quantized:
            self.model.lm_head.weight = self.model.model.embed_tokens.weight  # type: ignore[union-attr]
        missing = [name for name, tensor in _named_tensors(self.model) if tensor.is_meta]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise CheckpointError(self.path, f"{len(missing)} tensor(s) missing: {shown}")
        if not self.quantized:
            self._count(str(self.dtype).removeprefix("torch."))


def tied_head_is_int4(kind: str, width: int, int4: bool) -> bool:
    """Whether a tied output layer is held as int4, from the embedding's block type: its 4-bit blocks, taken as
    they are, where the int4 kernel runs."""
    return int4 and kind in INT4_TYPES and width % GROUP_SIZE == 0


def _named_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    yield from model.named_parameters()
    yield from model.named_buffers()
