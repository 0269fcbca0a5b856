"""One new token per row through a Llama-family or Gemma 3 decoder, in as few tensor operations as the step allows.

Decoding a 135M-parameter model on a CPU is bound by how many operations run, not by arithmetic: the plain
forward spends ~40 small operations a layer (module calls, reshapes, casts, the rotation's halves, the cache's
index copies) at a few microseconds each, as much time as the weights' products themselves. This is the same
arithmetic as ``LlamaTransformer.forward_layers`` for a chunk of one token, written the way gpt-fast's
``decode_one_token`` is, and leaner:

- the rotary embedding of queries and keys is one product with a ``[head_dim, head_dim]`` rotation matrix made
  once a step (every row is at the same position), not two halves, a negation, a concatenation and three
  products per tensor per layer;
- the residual stream stays in float32 between layers, as llama.cpp keeps it, so a norm reads it without a cast
  and adding a layer's bfloat16 output is one operation;
- quantized layers are called through ``forward_rows`` (no reshapes or casts) and, where
  ``engine.models.fused_projections`` joined them, once for queries, keys and values and once for gate and up;
- keys and values are written into the cache slot by plain assignment, and one-query attention reads exactly
  the slots it may see (no mask), with the grouped query heads folded as in the plain forward, or through
  ``engine.models.shared_prefix`` for rows that share a prompt.

The final norm and the output layer are called as modules, so their hooks (the memory's hidden states,
``last_position_logits``) see what they see in the plain forward. Gemma 3 (``decode_one_gemma3_token``) shares the
attention and MLP steps; its sandwich norms are called as modules and its residual stream keeps the compute type,
as its plain forward does.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.kv_cache import KVCache
from engine.models.positions import place
from engine.models.shared_prefix import attend_with_shared_prefix, worth_sharing


def decode_one_token(model: Any, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Logits ``[batch, 1, vocab]`` for one token per row ``tokens`` ``[batch, 1]`` read after what ``cache``
    holds (a ``LlamaTransformer``'s ``forward`` for that case); the cache gains the token's keys and values."""
    placement = place(tokens, cache, model.max_context)  # the same checks as the plain forward
    position = cache.length
    embedded = model.model.embed_tokens(tokens)
    compute_dtype = embedded.dtype
    batch = tokens.shape[0]
    x = embedded.view(batch, -1).float()
    cos, sin = model.rotary(placement.positions, torch.float32)
    step = _Step(
        position, _rotation_matrix(cos, sin),
        # Views of every layer's slot for this token and of the slots it attends over, made once a step.
        cache.keys.select(3, position), cache.values.select(3, position),
        cache.keys.narrow(3, 0, position + 1), cache.values.narrow(3, 0, position + 1),
    )
    for index, layer in enumerate(model.model.layers):
        # Children read from nn.Module's own tables: its attribute lookup costs more than a dictionary's, and this
        # loop makes ~400 such lookups a token.
        parts = layer._modules
        attention, mlp = parts["self_attn"], parts["mlp"]
        h = _normed(parts["input_layernorm"], x, compute_dtype)
        y = _attend(attention, h, step, cache, index, compute_dtype)
        x = x + _project(attention._modules["o_proj"], y)
        h = _normed(parts["post_attention_layernorm"], x, compute_dtype)
        x = x + _project(mlp._modules["down_proj"], _gated(mlp, h))
    cache.advance(1)
    return model.lm_head(model.model.norm(x.to(compute_dtype).unsqueeze(1)))


def decode_one_gemma3_token(model: Any, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """``decode_one_token`` for a ``Gemma3Transformer``: its sandwich norms (called as modules, as its plain
    forward calls them), its scaled embedding, a rotation per layer kind and the soft-capped logits. Its residual
    stream stays in the compute type, as in its plain forward."""
    placement = place(tokens, cache, model.max_context)
    position = cache.length
    embedded = model.model.embed_tokens(tokens)
    compute_dtype = embedded.dtype
    batch = tokens.shape[0]
    x = embedded.view(batch, -1) * model._embed_scale(compute_dtype)
    views = (cache.keys.select(3, position), cache.values.select(3, position),
             cache.keys.narrow(3, 0, position + 1), cache.values.narrow(3, 0, position + 1))
    steps = {}
    for window in model._windows:
        # The angles in the compute type, as the plain forward makes them, then rotated in float32 as it does.
        rotary = model.rotary_full if window is None else model.rotary_sliding
        cos, sin = (part.float() for part in rotary(placement.positions, compute_dtype))
        steps[window] = _Step(position, _rotation_matrix(cos, sin), *views)
    for index, (layer, window) in enumerate(zip(model.model.layers, model._layer_windows)):
        parts = layer._modules
        attention, mlp = parts["self_attn"], parts["mlp"]
        y = _attend(attention, parts["input_layernorm"](x), steps[window], cache, index, compute_dtype)
        x = x + parts["post_attention_layernorm"](_project(attention._modules["o_proj"], y))
        h = parts["pre_feedforward_layernorm"](x)
        x = x + parts["post_feedforward_layernorm"](_project(mlp._modules["down_proj"], _gated(mlp, h)))
    cache.advance(1)
    return model.soft_capped(model.lm_head(model.model.norm(x.unsqueeze(1))))


def _rotation_matrix(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``R`` with ``x @ R`` the rotary embedding of ``x`` at the angles of ``cos``/``sin`` ``[1, head_dim]``."""
    return torch.diag_embed(cos[0]) + _rotate_half_matrix(cos.shape[-1], cos.device) * sin


def _normed(norm: Any, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # The weight applied in float32 (the in-place product promotes it on the fly: no float32 copy of it is made,
    # which is ~3% of a SmolLM2 token), then one rounding to the compute type; the plain forward's order exactly.
    return F.rms_norm(x, norm.normalized_shape, None, norm.eps).mul_(norm._parameters["weight"]).to(dtype)


def _project(layer: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    forward_rows = getattr(layer, "forward_rows", None)
    return forward_rows(rows) if forward_rows is not None else layer(rows)


def _gated(mlp: Any, h: torch.Tensor) -> torch.Tensor:
    parts = mlp._modules
    joined = parts.get("gate_up_proj")
    if joined is not None:
        both = _project(joined, h)
        width = both.shape[-1] // 2
        return mlp.act(both.narrow(-1, 0, width)) * both.narrow(-1, width, width)
    return mlp.act(_project(parts["gate_proj"], h)) * _project(parts["up_proj"], h)


class _Step(NamedTuple):
    position: int
    rotation: torch.Tensor  # [head_dim, head_dim]: x @ rotation rotates x to this position
    new_keys: torch.Tensor  # [layers, batch, kv_heads, head_dim]: where this token's keys go
    new_values: torch.Tensor
    seen_keys: torch.Tensor  # [layers, batch, kv_heads, position + 1, head_dim]: what full attention reads
    seen_values: torch.Tensor


def _attend(attention: Any, h: torch.Tensor, step: _Step, cache: KVCache, index: int,
            compute_dtype: torch.dtype) -> torch.Tensor:
    """The attention output ``[batch, heads * head_dim]`` of one new token per row, its keys and values cached."""
    batch = h.shape[0]
    heads, kv_heads, dim = attention.n_head, attention.n_kv_head, attention.head_dim
    parts = attention._modules
    joined = parts.get("qkv_proj")
    if joined is not None:
        qkv = _project(joined, h)
        split = (heads + kv_heads) * dim
        qk, v = qkv[:, :split], qkv[:, split:]
    else:
        qk = torch.cat((_project(parts["q_proj"], h), _project(parts["k_proj"], h)), dim=-1)
        v = _project(parts["v_proj"], h)
    qk = qk.reshape(batch, heads + kv_heads, dim)  # queries' heads, then keys'
    if attention.qk_norm:
        qk = torch.cat((parts["q_norm"](qk[:, :heads]), parts["k_norm"](qk[:, heads:])), dim=1)
    qk = qk.float() @ step.rotation
    q, k = qk[:, :heads], qk[:, heads:]
    step.new_keys[index].copy_(k)
    step.new_values[index].copy_(v.view(batch, kv_heads, dim))
    keys, values = step.seen_keys[index], step.seen_values[index]
    start = 0 if attention.window is None else max(0, step.position + 1 - attention.window)
    if start:
        keys, values = keys.narrow(2, start, keys.shape[2] - start), values.narrow(2, start, values.shape[2] - start)
    if q.dtype != keys.dtype:  # a bfloat16 cache on a GPU
        q = q.to(keys.dtype)
    shared = max(0, cache.shared - start)
    if worth_sharing(batch, 1, shared, None):
        y = attend_with_shared_prefix(q.unsqueeze(2), keys, values, shared)
    else:
        # Each kv head's group of query heads folded into the query axis: the cache is read once per kv head.
        y = F.scaled_dot_product_attention(q.view(batch, kv_heads, heads // kv_heads, dim), keys, values)
    return y.reshape(batch, heads * dim).to(compute_dtype)


@functools.cache
def _rotate_half_matrix(dim: int, device: torch.device) -> torch.Tensor:
    """``P`` with ``x @ P == rotate_half(x)``: the second half negated into the first, the first into the second."""
    half = dim // 2
    matrix = torch.zeros(dim, dim, device=device)
    columns = torch.arange(half, device=device)
    matrix[columns + half, columns] = -1.0
    matrix[columns, columns + half] = 1.0
    return matrix
