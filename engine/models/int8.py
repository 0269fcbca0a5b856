"""Weight-only int8 for decoding on the CPU: per-output-channel scales, bfloat16 activations.

Decoding one token reads every weight once. Once a model's float32 weights outgrow the CPU's caches (the bundled
6 x 256 default holds 29 MB), each step streams them from memory and the step is bound by bandwidth, not
arithmetic: int8 weights read a quarter of the bytes. ``torch._weight_int8pack_mm`` multiplies bfloat16 rows by
int8 weights with one scale per output row without materialising a dequantised copy. Measured on the 2-core Zen 4
(benchmarks/decode_step_models.py), one decoding step of the default: 3.3 ms in float32, 2.9 in bfloat16, 1.7 in
int8; mean KL from the float32 distribution 2e-4 nats per token.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

#: Float32 weights above this no longer sit in a typical desktop CPU's last-level cache between two steps.
CACHE_RESIDENT_BYTES = 16 * 1024 * 1024
#: Families made of plain ``nn.Linear`` layers, where replacing them changes nothing but the weights' storage.
QUANTIZABLE_FAMILIES = ("gpt2", "llama", "qwen2", "qwen3", "mistral", "gemma3_text")
#: ``_weight_int8pack_mm`` reads the inner dimension in blocks of 16: other widths crash or come out wrong (seen
#: with torch 2.13), so such layers keep float weights.
INNER_MULTIPLE = 16


class Int8Linear(nn.Module):
    """``nn.Linear`` with int8 weights and float scales; the activations keep ``compute_dtype``."""

    weight_int8: torch.Tensor  # buffers, registered in __init__
    scales: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear, compute_dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        codes, scales = quantize_rows(linear.weight.detach())
        self.in_features, self.out_features = linear.in_features, linear.out_features
        # Not persistent: a quantised model is never saved; its checkpoint stays the float one.
        self.register_buffer("weight_int8", codes, persistent=False)
        self.register_buffer("scales", scales.to(compute_dtype), persistent=False)
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().to(compute_dtype), persistent=False)

    @classmethod
    def from_quantized(cls, weight_int8: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None = None,
                       compute_dtype: torch.dtype = torch.bfloat16) -> Int8Linear:
        """A layer over int8 rows already made (``quantize_rows``), e.g. shared with an ``Int8Embedding``."""
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.out_features, layer.in_features = weight_int8.shape
        layer.register_buffer("weight_int8", weight_int8, persistent=False)
        layer.register_buffer("scales", scales.to(compute_dtype), persistent=False)
        layer.register_buffer("bias", None if bias is None else bias.to(compute_dtype), persistent=False)
        return layer

    @classmethod
    def concatenated(cls, layers: list[Int8Linear]) -> Int8Linear | None:
        """One layer whose outputs are those of ``layers`` side by side, or None where they cannot be joined
        (different input widths or compute types, biases on some layers only)."""
        first = layers[0]
        if any(layer.in_features != first.in_features or layer.scales.dtype != first.scales.dtype
               for layer in layers):
            return None
        biases = [layer.bias for layer in layers]
        if any(bias is None for bias in biases) and any(bias is not None for bias in biases):
            return None
        bias = None if biases[0] is None else torch.cat([b for b in biases if b is not None])
        return cls.from_quantized(torch.cat([layer.weight_int8 for layer in layers]),
                                  torch.cat([layer.scales for layer in layers]), bias, first.scales.dtype)

    def forward_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """``[n, in]`` rows in the compute type to ``[n, out]``, without ``forward``'s reshapes and casts (the
        one-token decoding step's path)."""
        buffers = cast("dict[str, torch.Tensor]", self._buffers)  # nn.Module's attribute lookup costs more
        scales = buffers["scales"]
        if rows.dtype != scales.dtype:
            rows = rows.to(scales.dtype)
        y = torch._weight_int8pack_mm(rows, buffers["weight_int8"], scales)
        bias = buffers["bias"]
        return y if bias is None else y + bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).to(self.scales.dtype)
        y = torch._weight_int8pack_mm(rows, self.weight_int8, self.scales)
        if self.bias is not None:
            y = y + self.bias
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row: (codes ``[rows, width]`` int8, float32 scales ``[rows]``)."""
    weight = weight.float()
    scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
    return torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8), scales


class Int8Embedding(nn.Module):
    """A token embedding over int8 rows with a scale each; with a tied output layer (``Int8Linear.from_quantized``
    over the same buffers) the vocabulary matrix is held once, in a quarter of float32's bytes."""

    weight_int8: torch.Tensor
    scales: torch.Tensor

    def __init__(self, weight_int8: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = weight_int8.shape
        self.register_buffer("weight_int8", weight_int8, persistent=False)
        self.register_buffer("scales", scales.to(dtype), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.weight_int8[tokens].to(self.scales.dtype) * self.scales[tokens].unsqueeze(-1)


def quantize_linears(model: nn.Module, compute_dtype: torch.dtype = torch.bfloat16) -> int:
    """Replace the ``nn.Linear`` layers of ``model`` by ``Int8Linear``, in place, except those whose input width
    the kernel cannot take; returns how many were replaced."""
    replaced = 0
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear) and child.in_features % INNER_MULTIPLE == 0:
            setattr(model, name, Int8Linear(child, compute_dtype))
            replaced += 1
        else:
            replaced += quantize_linears(child, compute_dtype)
    return replaced


def int8_helps(model: nn.Module, model_type: str, device: torch.device, cpu_has_bf16: bool) -> bool:
    """The rule ``engine.load`` applies by default (see ``int8_helps_by_size``)."""
    return int8_helps_by_size(sum(p.numel() for p in model.parameters()), model_type, device, cpu_has_bf16)


def int8_helps_by_size(parameters: int, model_type: str, device: torch.device, cpu_has_bf16: bool) -> bool:
    """int8 on a CPU with native bfloat16, for the Linear-layer families, when the float32 weights would not
    stay in the cache anyway (small models are faster as they are)."""
    if device.type != "cpu" or not cpu_has_bf16 or model_type not in QUANTIZABLE_FAMILIES:
        return False
    if not hasattr(torch, "_weight_int8pack_mm"):
        return False
    return 4 * parameters > CACHE_RESIDENT_BYTES
