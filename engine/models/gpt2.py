"""A GPT-2-architecture decoder in plain PyTorch, with a preallocated KV cache for incremental decoding.

Module names match the keys of Hugging Face GPT-2 checkpoints (``wte``, ``h.0.attn.c_attn``, ``ln_f`` ...), so a
state dict maps across with only Conv1D's transposed weights to flip (see ``engine.loading.checkpoint``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.kv_cache import KVCache, cache_dtype
from engine.models.positions import Placement, attention_mask, place
from engine.models.shared_prefix import attend_with_shared_prefix, worth_sharing

MODEL_TYPE = "gpt2"

# GPT-2 config options this implementation does not compute; a checkpoint that sets them would load "fine" and
# then predict garbage, so it is refused instead. Each maps to the only value we implement.
_FIXED_HF_OPTIONS = {
    "scale_attn_weights": True,
    "scale_attn_by_inverse_layer_idx": False,
    "add_cross_attention": False,
    "tie_word_embeddings": True,
}
# All three are GPT-2's tanh approximation of GELU.
_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


@dataclass
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None  # feed-forward width; None means 4 * n_embd, as GPT-2
    layer_norm_epsilon: float = 1e-5
    eos_token_id: int | None = None
    bos_token_id: int | None = None
    extra: dict = field(default_factory=dict)  # unknown config.json keys, written back unchanged

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.n_inner is not None and (not isinstance(self.n_inner, int) or self.n_inner < 1):
            raise ValueError(f"n_inner must be a positive integer or null, not {self.n_inner!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")

    @property
    def ffn_width(self) -> int:
        return self.n_inner or 4 * self.n_embd

    def to_hf_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "extra"}
        data = {**self.extra, **data}
        data.update(
            model_type=MODEL_TYPE,
            architectures=["GPT2LMHeadModel"],
            n_ctx=self.n_positions,
            activation_function="gelu_new",
            tie_word_embeddings=True,
        )
        return data

    @classmethod
    def from_hf_dict(cls, data: dict) -> GPT2Config:
        """Read a Hugging Face GPT-2 config; ValueError for options this implementation would silently ignore."""
        activation = data.get("activation_function", "gelu_new")
        if activation not in _TANH_GELUS:
            raise ValueError(f"activation_function {activation!r} is not supported (only GPT-2's gelu_new)")
        for option, supported in _FIXED_HF_OPTIONS.items():
            if option in data and data[option] is not None and data[option] != supported:
                raise ValueError(f"{option}={data[option]!r} is not supported (only {supported})")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values = {k: data[k] for k in known if k in data}
        if "n_positions" not in values and "n_ctx" in data:
            values["n_positions"] = data["n_ctx"]
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd {config.n_embd} is not divisible by n_head {config.n_head}")
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None, layer: int, placement: Placement, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Attention of ``x`` over the cache's first ``placement.span`` slots once ``x`` is written there, or over
        ``x`` alone (causally) without a cache."""
        batch, time, width = x.shape
        q, k, v = self.c_attn(x).split(width, dim=2)
        q, k, v = (t.view(batch, time, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.update(layer, placement.positions, k, v, placement.span)
        # With a float32 cache under bf16 weights (``cache_dtype``) the attention runs in float32.
        if cache is not None and worth_sharing(batch, time, cache.shared, mask):
            y = attend_with_shared_prefix(q.to(k.dtype), k, v, cache.shared).to(x.dtype)
        else:
            y = F.scaled_dot_product_attention(q.to(k.dtype), k, v, attn_mask=mask,
                                               is_causal=cache is None and mask is None).to(x.dtype)
        return self.c_proj(y.transpose(1, 2).reshape(batch, time, width))


class MLP(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.ffn_width)
        self.c_proj = nn.Linear(config.ffn_width, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None, layer: int, placement: Placement, mask: torch.Tensor | None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer, placement, mask)
        return x + self.mlp(self.ln_2(x))


class GPT2Transformer(nn.Module):
    """GPT-2: learned positions, pre-LayerNorm blocks, tanh-GELU, output projection tied to ``wte``."""

    model_type = MODEL_TYPE

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.apply(self._init_weights)
        # GPT-2's scaled init of residual projections keeps the residual stream's variance flat with depth.
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def max_context(self) -> int:
        return self.config.n_positions

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def new_cache(self, batch_size: int, capacity: int | None = None) -> KVCache:
        capacity = min(capacity or self.config.n_positions, self.config.n_positions)
        param = self.wte.weight
        attn = cast(Block, self.h[0]).attn
        return KVCache(
            self.config.n_layer, batch_size, attn.n_head, capacity, attn.head_dim, param.device,
            cache_dtype(param.dtype, param.device),
        )

    def forward(
        self,
        tokens: torch.Tensor,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        span: int | None = None,
    ) -> tuple[torch.Tensor, KVCache | None]:
        """Logits ``[batch, time, vocab]`` for ``tokens`` ``[batch, time]`` read after what ``cache`` holds; with
        ``positions`` and ``span`` the fixed-shape step (see ``engine.models.positions``)."""
        placement = place(tokens, cache, self.config.n_positions, positions, span)
        mask = attention_mask(placement, None, cache is not None)
        x = self.wte(tokens) + self.wpe(placement.positions)
        for index, block in enumerate(self.h):
            x = block(x, cache, index, placement, mask)
        if cache is not None and not placement.fixed:
            cache.advance(tokens.shape[1])
        return F.linear(self.ln_f(x), self.wte.weight), cache
