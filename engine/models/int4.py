"""Weight-only 4-bit linear layers for the CPU, taking llama.cpp's 4-bit blocks without re-quantizing them.

GGUF's Q4_0, Q4_1 and Q4_K store each run of 32 weights as 4-bit codes ``q`` (0..15) with one scale and one
offset: ``w = scale * q + low`` (Q4_0: ``low = -8 * scale``; Q4_K: a per-32 scale and minimum from its 6-bit
super-block tables). That is exactly the group-wise layout of torch's int4 CPU kernel
(``_weight_int4pack_mm_for_cpu``, groups of 32), which computes ``w = (q - 8) * scale + zero``; so a file's
blocks become the kernel's operands with ``zero = low + 8 * scale`` and nothing is re-quantized. The codes are
the file's; the scales and zeros are rounded to bfloat16, the kernel's type (a file's float16 scales keep 8 of
their 11 significant bits). Decoding reads a quarter of the bytes of bfloat16 weights, which is what matters once
a model outgrows the CPU's caches.
"""

from __future__ import annotations

import functools
from typing import cast

import torch
from torch import nn

#: Weights per scale/zero pair: the block size of llama.cpp's 4-bit formats.
GROUP_SIZE = 32
#: The kernel's packing of the inner dimension; 2 is what gpt-fast and torchao use for the CPU kernel.
_INNER_K_TILES = 2
#: From this many rows on (a prompt read at once, not one token per step) a bfloat16 copy of the weight made on
#: the fly and one ordinary matrix multiply beat the int4 kernel, whose time grows with every row it reads.
DEQUANTIZE_FROM_ROWS = 48
#: The CPU packing stores the rows in blocks of 64: the unpacking below reads that layout.
_PACKED_ROW_BLOCK = 64


#: Added to the "how the weights are held" text where ``int4_available`` is False and a file had 4-bit blocks.
INT4_MISSING_NOTE = " (4-bit blocks held as int8: no int4 kernel for this CPU)"


@functools.cache
def int4_available() -> bool:
    """Whether torch's int4 CPU kernel runs here and gives the right answer on a tiny layer. Builds or CPUs
    without it (the kernel is compiled per instruction set) hold 4-bit files as int8 instead."""
    if not (hasattr(torch, "_weight_int4pack_mm_for_cpu") and hasattr(torch, "_convert_weight_to_int4pack_for_cpu")):
        return False
    codes = torch.arange(_PACKED_ROW_BLOCK * GROUP_SIZE).remainder(16).view(_PACKED_ROW_BLOCK, GROUP_SIZE)
    scales = torch.full((_PACKED_ROW_BLOCK, 1), 0.5)
    lows = torch.full((_PACKED_ROW_BLOCK, 1), -1.0)
    x = torch.linspace(-1, 1, GROUP_SIZE).unsqueeze(0)
    try:
        got = Int4Linear(codes, scales, lows)(x).float()
    except (RuntimeError, NotImplementedError):
        return False
    return torch.allclose(got, x @ dequantized_int4(codes, scales, lows).t(), rtol=0.02, atol=0.05)


class Int4Linear(nn.Module):
    """A linear layer over 4-bit codes with a bfloat16 (scale, zero) pair per 32 inputs of each row."""

    packed: torch.Tensor  # buffers, registered in __init__
    scales_and_zeros: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, codes: torch.Tensor, scales: torch.Tensor, lows: torch.Tensor,
                 bias: torch.Tensor | None = None) -> None:
        """``codes``: ``[out, in]`` integers 0..15; ``scales`` and ``lows``: ``[out, in // 32]`` float, with
        ``weight = scales * codes + lows`` group by group."""
        super().__init__()
        out_features, in_features = codes.shape
        if in_features % GROUP_SIZE or scales.shape != (out_features, in_features // GROUP_SIZE):
            raise ValueError(f"int4 weights need {GROUP_SIZE}-wide groups: codes {tuple(codes.shape)}, "
                             f"scales {tuple(scales.shape)}")
        self.in_features, self.out_features = in_features, out_features
        zeros = lows.float() + 8 * scales.float()
        # The kernel wants [groups, out, 2].
        pairs = torch.stack((scales.float().t(), zeros.t()), dim=-1).contiguous().to(torch.bfloat16)
        self.register_buffer("packed", torch._convert_weight_to_int4pack_for_cpu(codes.to(torch.int32).contiguous(),
                                                                                 _INNER_K_TILES), persistent=False)
        self.register_buffer("scales_and_zeros", pairs, persistent=False)
        self.register_buffer("bias", None if bias is None else bias.to(torch.bfloat16), persistent=False)

    @classmethod
    def from_packed(cls, packed: torch.Tensor, scales_and_zeros: torch.Tensor, in_features: int, out_features: int,
                    bias: torch.Tensor | None = None) -> Int4Linear:
        """A layer over operands already packed for the kernel (a converted model read back from the cache)."""
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.in_features, layer.out_features = in_features, out_features
        layer.register_buffer("packed", packed, persistent=False)
        layer.register_buffer("scales_and_zeros", scales_and_zeros, persistent=False)
        layer.register_buffer("bias", bias, persistent=False)
        return layer

    @classmethod
    def concatenated(cls, layers: list[Int4Linear]) -> Int4Linear | None:
        """One layer whose outputs are those of ``layers`` side by side (one kernel call where there were several),
        or None where they cannot be joined: different input widths, a layer whose outputs do not fill whole
        64-row blocks of the packing, or biases on some layers only."""
        in_features = layers[0].in_features
        if any(layer.in_features != in_features or layer.out_features % _PACKED_ROW_BLOCK for layer in layers):
            return None
        biases = [layer.bias for layer in layers]
        if any(bias is None for bias in biases) and any(bias is not None for bias in biases):
            return None
        # Packed rows are [out, in / 2] in whole blocks of 64 rows, and the pairs [groups, out, 2]: both join by rows.
        packed = torch.cat([layer.packed for layer in layers])
        pairs = torch.cat([layer.scales_and_zeros for layer in layers], dim=1)
        bias = None if biases[0] is None else torch.cat([b for b in biases if b is not None])
        return cls.from_packed(packed, pairs, in_features, sum(layer.out_features for layer in layers), bias)

    def forward_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """``[n, in]`` bfloat16 rows to ``[n, out]`` bfloat16, without ``forward``'s reshapes and casts: the
        one-token decoding step calls it a few hundred times a token, where each skipped operation counts."""
        if rows.shape[0] >= DEQUANTIZE_FROM_ROWS:
            return self(rows)
        if rows.dtype != torch.bfloat16:
            rows = rows.to(torch.bfloat16)
        buffers = cast("dict[str, torch.Tensor]", self._buffers)  # nn.Module's attribute lookup costs more
        y = torch._weight_int4pack_mm_for_cpu(rows, buffers["packed"], GROUP_SIZE, buffers["scales_and_zeros"])
        bias = buffers["bias"]
        return y if bias is None else y + bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).to(torch.bfloat16)
        if rows.shape[0] >= DEQUANTIZE_FROM_ROWS and self.out_features % _PACKED_ROW_BLOCK == 0:
            y = rows @ self.dequantized_transpose()
        else:
            y = torch._weight_int4pack_mm_for_cpu(rows, self.packed, GROUP_SIZE, self.scales_and_zeros)
        if self.bias is not None:
            y = y + self.bias
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)

    def codes(self) -> torch.Tensor:
        """The 4-bit codes ``[out, in]`` (0..15) back out of the kernel's packing: per block of 64 rows, each input
        column holds 32 bytes whose low halves are rows 0..31 of the block and high halves rows 32..63."""
        blocks = self.packed.view(self.out_features // _PACKED_ROW_BLOCK, self.in_features, _PACKED_ROW_BLOCK // 2)
        codes = torch.cat((blocks & 0x0F, blocks >> 4), dim=-1)
        return codes.transpose(1, 2).reshape(self.out_features, self.in_features)

    def dequantized_transpose(self) -> torch.Tensor:
        """The bfloat16 weight, transposed (``[in, out]``), that the codes, scales and zeros stand for.

        Built in the packing's own order: a block's 64 rows lie side by side for each input column, and the
        (scale, zero) pairs are stored ``[groups, out]``, so the transpose needs no transposing of scales and only
        a block-wise reordering of the codes; the arithmetic runs in bfloat16 (a 4864 x 896 layer: 10 ms against
        23 ms for a float32 dequantization of the untransposed weight, two threads)."""
        blocks = self.packed.view(self.out_features // _PACKED_ROW_BLOCK, self.in_features, _PACKED_ROW_BLOCK // 2)
        codes = torch.cat((blocks & 0x0F, blocks >> 4), dim=-1).permute(1, 0, 2)
        groups = codes.reshape(self.in_features // GROUP_SIZE, GROUP_SIZE, self.out_features).to(torch.bfloat16)
        pairs = self.scales_and_zeros
        lows = (pairs[..., 1].float() - 8 * pairs[..., 0].float()).to(torch.bfloat16).unsqueeze(1)
        weight = torch.addcmul(lows, groups, pairs[..., 0].unsqueeze(1))
        return weight.view(self.in_features, self.out_features)

    def dequantized_weight(self) -> torch.Tensor:
        """The bfloat16 weight ``[out, in]`` the codes, scales and zeros stand for."""
        return self.dequantized_transpose().t()


def dequantized_int4(codes: torch.Tensor, scales: torch.Tensor, lows: torch.Tensor) -> torch.Tensor:
    """The float32 weight ``[out, in]`` that 4-bit ``codes`` with group ``scales`` and ``lows`` stand for."""
    groups = codes.shape[1] // GROUP_SIZE
    blocks = codes.float().view(codes.shape[0], groups, GROUP_SIZE)
    return (blocks * scales.float()[..., None] + lows.float()[..., None]).view(codes.shape)
