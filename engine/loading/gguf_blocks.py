"""llama.cpp's 4-bit blocks as the int4 kernel's operands: codes 0..15 with a scale and a low value per 32 weights.

Byte layouts (ggml-common.h): Q4_0 is 18 bytes per 32 weights (float16 ``d``, 16 bytes of nibbles; ``w = d *
(q - 8)``); Q4_1 is 20 (``d``, ``m``; ``w = d * q + m``); Q4_K is 144 per 256 (float16 ``d`` and ``dmin``, 12
bytes of 6-bit sub-block scales and minimums, 128 of nibbles; ``w = d * sc * q - dmin * mn`` per 32). In each run of
32 bytes of nibbles the low halves are the first 32 weights and the high halves the next 32 (Q4_0 / Q4_1: 16
bytes, 16 + 16 weights).
"""

from __future__ import annotations

import numpy as np
import torch

_BLOCK_BYTES = {"Q4_0": 18, "Q4_1": 20, "Q4_K": 144}
_BLOCK_WEIGHTS = {"Q4_0": 32, "Q4_1": 32, "Q4_K": 256}


def int4_operands(rows: np.ndarray, kind: str, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(codes ``[n, width]`` uint8, scales ``[n, width // 32]`` float32, lows ``[n, width // 32]`` float32) for
    ``rows`` of raw ``kind`` blocks ``[n, bytes per row]``, with ``weight = scales * codes + lows`` per group."""
    n = rows.shape[0]
    blocks = np.ascontiguousarray(rows).reshape(n * (width // _BLOCK_WEIGHTS[kind]), _BLOCK_BYTES[kind])
    if kind == "Q4_K":
        codes, scales, lows = _q4_k(blocks)
    else:
        d = blocks[:, 0:2].view(np.float16).astype(np.float32)
        has_min = kind == "Q4_1"
        nibbles = blocks[:, 4 if has_min else 2:]
        codes = np.concatenate((nibbles & 0x0F, nibbles >> 4), axis=1)
        scales = d
        lows = blocks[:, 2:4].view(np.float16).astype(np.float32) if has_min else -8 * d
    groups = width // 32
    return (torch.from_numpy(np.ascontiguousarray(codes).reshape(n, width)),
            torch.from_numpy(np.ascontiguousarray(scales).reshape(n, groups)),
            torch.from_numpy(np.ascontiguousarray(lows).reshape(n, groups)))


def _q4_k(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from gguf.quants import Q4_K  # its unpacking of the 6-bit scale table, rather than a copy of ours

    count = blocks.shape[0]
    d = blocks[:, 0:2].view(np.float16).astype(np.float32)
    dmin = blocks[:, 2:4].view(np.float16).astype(np.float32)
    sub_scales, sub_mins = Q4_K.get_scale_min(blocks[:, 4:16])
    nibbles = blocks[:, 16:].reshape(count, 4, 1, 32)
    codes = np.concatenate((nibbles & 0x0F, nibbles >> 4), axis=2).reshape(count, 256)
    scales = d * sub_scales.astype(np.float32)
    lows = -(dmin * sub_mins.astype(np.float32))
    return codes, scales, lows
