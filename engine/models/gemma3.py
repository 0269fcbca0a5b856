"""Gemma 3's text decoder (``Gemma3ForCausalLM``, config ``model_type`` ``gemma3_text``) in plain PyTorch.

Built from the Llama module's parts (its attention with the shared KV cache, gated MLP and rotary embedding), with
what Gemma 3 does differently: the token embedding scaled by sqrt(hidden_size) in the compute dtype, RMSNorms that
scale by ``1 + weight``, a norm before and after both the attention and the MLP (sandwich norms), QK-norm, GELU-tanh,
attention scores scaled by ``query_pre_attn_scalar`` ** -0.5, and two kinds of layer: sliding-window layers with
their own rotary base (``rope_local_base_freq``) and full-attention layers (every sixth by default) with the global
base and its scaling. The numerics follow ``transformers``; module names match its checkpoint keys.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from engine.models import llama
from engine.models.kv_cache import KVCache
from engine.models.one_token_step import decode_one_gemma3_token
from engine.models.positions import Placement, attention_mask, place

MODEL_TYPE = "gemma3_text"
SLIDING, FULL = "sliding_attention", "full_attention"
#: Gemma 3's default layer pattern: five sliding-window layers, then one full-attention layer.
DEFAULT_SLIDING_WINDOW_PATTERN = 6
_KNOWN_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "query_pre_attn_scalar",
               "sliding_window", "attention_bias", "final_logit_softcapping", "tie_word_embeddings", "bos_token_id",
               "eos_token_id", "pad_token_id")
#: Keys read (or refused) by ``from_hf_dict`` besides ``_KNOWN_KEYS``; the rest is kept in ``extra``.
_READ_KEYS = ("model_type", "architectures", "hidden_activation", "hidden_act", "layer_types", "sliding_window_pattern",
              "_sliding_window_pattern", "rope_theta", "rope_local_base_freq", "rope_scaling", "rope_parameters",
              "attn_logit_softcapping", "use_bidirectional_attention")


@dataclass
class Gemma3Config:
    model_type: str = MODEL_TYPE
    vocab_size: int = 262144
    hidden_size: int = 640
    intermediate_size: int = 2048
    num_hidden_layers: int = 18
    num_attention_heads: int = 4
    num_key_value_heads: int = 1
    head_dim: int = 256
    max_position_embeddings: int = 32768
    rms_norm_eps: float = 1e-6
    hidden_activation: str = "gelu_pytorch_tanh"
    query_pre_attn_scalar: float = 256
    sliding_window: int = 512
    layer_types: list[str] | None = None  # None: Gemma 3's default pattern
    rope_theta: float = 1_000_000.0  # full-attention layers
    rope_local_base_freq: float = 10_000.0  # sliding-window layers
    rope_scaling: dict | None = None  # full-attention layers only (Gemma 3 4B and up: linear, factor 8)
    attention_bias: bool = False
    final_logit_softcapping: float | None = None
    tie_word_embeddings: bool = True
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    extra: dict = field(default_factory=dict)  # unknown config.json keys, written back unchanged

    def __post_init__(self) -> None:
        if self.model_type != MODEL_TYPE:
            raise ValueError(f"model_type {self.model_type!r} is not {MODEL_TYPE!r}")
        if self.layer_types is None:
            self.layer_types = default_layer_types(self.num_hidden_layers, DEFAULT_SLIDING_WINDOW_PATTERN)
        if len(self.layer_types) != self.num_hidden_layers:
            raise ValueError(f"{len(self.layer_types)} layer types for {self.num_hidden_layers} layers")
        unknown = sorted({kind for kind in self.layer_types if kind not in (SLIDING, FULL)})
        if unknown:
            raise ValueError(f"layer type(s) {', '.join(map(repr, unknown))} are not supported ({SLIDING}, {FULL})")
        if not (isinstance(self.query_pre_attn_scalar, (int, float)) and self.query_pre_attn_scalar > 0):
            raise ValueError(f"query_pre_attn_scalar must be a positive number, not {self.query_pre_attn_scalar!r}")
        if self.final_logit_softcapping is not None and not self.final_logit_softcapping > 0:
            raise ValueError(f"final_logit_softcapping must be positive, not {self.final_logit_softcapping!r}")
        # The Llama config checks the sizes, the activation and both rotary settings, and normalises the scaling.
        self.rope_scaling = self.llama_view(FULL).rope_scaling
        self.llama_view(SLIDING)

    @property
    def layer_windows(self) -> list[int | None]:
        """The attention window of each layer: ``sliding_window`` for sliding layers, None for full attention."""
        return [self.sliding_window if kind == SLIDING else None for kind in self.layer_types or ()]

    def llama_view(self, layer_type: str) -> llama.LlamaConfig:
        """The settings of one kind of layer as the Llama module's parts read them: the projections, the MLP and
        that kind's rotary embedding (the scaling applies to full-attention layers only)."""
        full = layer_type == FULL
        return llama.LlamaConfig(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size, intermediate_size=self.intermediate_size,
            num_hidden_layers=1, num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads, head_dim=self.head_dim,
            max_position_embeddings=self.max_position_embeddings, rms_norm_eps=self.rms_norm_eps,
            rope_theta=self.rope_theta if full else self.rope_local_base_freq,
            rope_scaling=self.rope_scaling if full else None, hidden_act=self.hidden_activation,
            qkv_bias=self.attention_bias, o_bias=self.attention_bias, qk_norm=True,
            layer_windows=[None if full else self.sliding_window],
        )

    @classmethod
    def from_hf_dict(cls, data: dict) -> Gemma3Config:
        """Read a Hugging Face ``Gemma3TextConfig`` (transformers 4.x or 5.x style)."""
        if data.get("attn_logit_softcapping") is not None:
            raise ValueError("attn_logit_softcapping is not supported (Gemma 3 has none; Gemma 2 does)")
        if data.get("use_bidirectional_attention"):
            raise ValueError("use_bidirectional_attention is not supported: Inkling runs causal decoders only")
        values = {key: data[key] for key in _KNOWN_KEYS if data.get(key) is not None}
        activation = data.get("hidden_activation") or data.get("hidden_act")
        if activation is not None:
            values["hidden_activation"] = activation
        layers = values.get("num_hidden_layers", cls.num_hidden_layers)
        layer_types = data.get("layer_types")
        if not isinstance(layer_types, list):
            pattern = data.get("sliding_window_pattern", data.get("_sliding_window_pattern"))
            layer_types = default_layer_types(layers, DEFAULT_SLIDING_WINDOW_PATTERN if pattern is None else pattern)
        theta, local_theta, scaling = _read_rope(data)
        extra = {key: value for key, value in data.items() if key not in (*_KNOWN_KEYS, *_READ_KEYS)}
        return cls(layer_types=list(layer_types), rope_theta=theta, rope_local_base_freq=local_theta,
                   rope_scaling=scaling, extra=extra, **values)

    def to_hf_dict(self) -> dict:
        """A config.json that this module and ``transformers`` read back as the same model (tested with 5.x; the
        keys are 4.x's, which 5.x converts, and ``layer_types`` spells the pattern out for both)."""
        data = {key: value for key, value in asdict(self).items() if key != "extra"}
        data = {**self.extra, **data}
        data["architectures"] = ["Gemma3ForCausalLM"]
        data["rope_scaling"] = dict(self.rope_scaling) if self.rope_scaling else None
        return data


def default_layer_types(layers: int, pattern: int) -> list[str]:
    """Every ``pattern``-th layer attends to everything, the others through the sliding window (as transformers)."""
    if isinstance(pattern, bool) or not isinstance(pattern, int) or pattern < 1:
        raise ValueError(f"sliding_window_pattern must be a positive integer, not {pattern!r}")
    return [SLIDING if (index + 1) % pattern else FULL for index in range(layers)]


def _read_rope(data: dict) -> tuple[float, float, dict | None]:
    """(global base, local base, global scaling) from transformers 5.x's ``rope_parameters`` per layer type and
    4.x's ``rope_theta``, ``rope_local_base_freq`` and ``rope_scaling``, combined as transformers 5 combines them."""
    per_type = data.get("rope_parameters")
    if per_type is None:
        full, local = {}, {}
    elif isinstance(per_type, dict) and (FULL in per_type or SLIDING in per_type):
        full, local = dict(per_type.get(FULL) or {}), dict(per_type.get(SLIDING) or {})
    else:
        raise ValueError(f"rope_parameters must name {FULL!r} and {SLIDING!r}, not {per_type!r}")
    scaling = data.get("rope_scaling")
    if scaling is not None:
        if not isinstance(scaling, dict):
            raise TypeError(f"rope_scaling must be a JSON object, not {scaling!r}")
        full.update(scaling)  # the scaling is the full-attention layers' only
    theta = full.pop("rope_theta", None) or data.get("rope_theta") or Gemma3Config.rope_theta
    local_theta = local.pop("rope_theta", None) or data.get("rope_local_base_freq") or Gemma3Config.rope_local_base_freq
    if (local.get("rope_type") or "default") != "default":
        raise ValueError(f"rope scaling of the sliding-window layers ({local['rope_type']!r}) is not supported")
    kind = full.get("rope_type") or full.get("type") or "default"
    return float(theta), float(local_theta), full if kind != "default" else None


class Gemma3RMSNorm(nn.Module):
    """RMSNorm scaling by ``1 + weight``, all in float32 and then cast (as transformers; Llama's casts first).

    ``scale`` multiplies the output too: the query norm carries the attention's ``query_pre_attn_scalar`` that way,
    so the attention itself stays the Llama module's (whose SDPA scales by 1 / sqrt(head_dim))."""

    def __init__(self, width: int, eps: float, scale: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(width))
        self.eps = eps
        self.scale = scale
        self.normalized_shape = (width,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.rms_norm(x.float(), self.normalized_shape, None, self.eps)
        # normed * (1 + weight) in one op: a decoding step runs 4 + 2 of these per layer, each a few tiny kernels.
        out = torch.addcmul(normed, normed, self.weight.float())
        if self.scale != 1.0:
            out = out * self.scale
        return out.to(x.dtype)


class Gemma3Attention(llama.Attention):
    """The Llama attention (projections, QK-norm, rotation, KV cache, GQA) with Gemma's norms of queries and keys."""

    def __init__(self, config: Gemma3Config, layer_type: str) -> None:
        view = config.llama_view(layer_type)
        super().__init__(view, view.layer_windows[0] if view.layer_windows else None)
        query_scale = math.sqrt(config.head_dim / config.query_pre_attn_scalar)
        # In place of the Llama norms the view asked for, so that the inherited forward applies them.
        self.q_norm = Gemma3RMSNorm(config.head_dim, config.rms_norm_eps, scale=query_scale)  # type: ignore[assignment]
        self.k_norm = Gemma3RMSNorm(config.head_dim, config.rms_norm_eps)  # type: ignore[assignment]


class Gemma3DecoderLayer(nn.Module):
    def __init__(self, config: Gemma3Config, layer_type: str) -> None:
        super().__init__()
        width, eps = config.hidden_size, config.rms_norm_eps
        self.input_layernorm = Gemma3RMSNorm(width, eps)
        self.self_attn = Gemma3Attention(config, layer_type)
        self.post_attention_layernorm = Gemma3RMSNorm(width, eps)
        self.pre_feedforward_layernorm = Gemma3RMSNorm(width, eps)
        self.mlp = llama.MLP(config.llama_view(layer_type))
        self.post_feedforward_layernorm = Gemma3RMSNorm(width, eps)

    def forward(
        self,
        x: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        cache: KVCache | None,
        layer: int,
        placement: Placement,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        attended = self.self_attn(self.input_layernorm(x), rotary, cache, layer, placement, mask)
        x = x + self.post_attention_layernorm(attended)
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))


class Gemma3Backbone(nn.Module):
    """What Hugging Face checkpoints call ``model``: embeddings, decoder layers, final norm."""

    def __init__(self, config: Gemma3Config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Gemma3DecoderLayer(config, kind) for kind in config.layer_types or ())
        self.norm = Gemma3RMSNorm(config.hidden_size, config.rms_norm_eps)


class Gemma3Transformer(llama.CachedDecoder):
    """Gemma 3 text decoder: the ``CausalLanguageModel`` interface over a ``KVCache``, like the Llama family."""

    def __init__(self, config: Gemma3Config) -> None:
        super().__init__()
        self.config = config
        self.model_type = config.model_type
        self.model = Gemma3Backbone(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.rotary_full = llama.RotaryEmbedding(config.llama_view(FULL))
        self.rotary_sliding = llama.RotaryEmbedding(config.llama_view(SLIDING))
        self._layer_windows = config.layer_windows
        self._windows = set(self._layer_windows)
        # The embedding scale rounded to each compute dtype, as transformers rounds its buffer to the weights'.
        self._embed_scales: dict[torch.dtype, float] = {}
        self.apply(self._init_weights)
        self.tie_weights()


    def _embed_scale(self, dtype: torch.dtype) -> float:
        scale = self._embed_scales.get(dtype)
        if scale is None:
            scale = float(torch.tensor(self.config.hidden_size**0.5).to(dtype))
            self._embed_scales[dtype] = scale
        return scale

    def one_token_logits(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        return decode_one_gemma3_token(self, tokens, cache)

    def forward_layers(
        self,
        tokens: torch.Tensor,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        span: int | None = None,
    ) -> tuple[torch.Tensor, KVCache | None]:
        """``forward`` for any chunk, through the layers' modules: training, prompts, the fixed-shape step."""
        placement = place(tokens, cache, self.max_context, positions, span)
        x = self.model.embed_tokens(tokens)
        x = x * self._embed_scale(x.dtype)
        # One window for every sliding layer: the window tells a layer's kind, its rotary table and its mask.
        rotaries = {window: (self.rotary_full if window is None else self.rotary_sliding)(placement.positions, x.dtype)
                    for window in self._windows}
        masks = {window: attention_mask(placement, window, cache is not None) for window in self._windows}
        for index, (layer, window) in enumerate(zip(self.model.layers, self._layer_windows)):
            x = layer(x, rotaries[window], cache, index, placement, masks[window])
        if cache is not None and not placement.fixed:
            cache.advance(tokens.shape[1])
        return self.soft_capped(self.lm_head(self.model.norm(x))), cache

    def soft_capped(self, logits: torch.Tensor) -> torch.Tensor:
        """The logits through the configured soft cap, ``tanh(logits / cap) * cap``, if any."""
        cap = self.config.final_logit_softcapping
        return logits if cap is None else torch.tanh(logits / cap) * cap
