"""The Llama-family decoder (Llama, Qwen2, Qwen3, Mistral) in plain PyTorch, with the shared preallocated KV cache.

Module names match the keys of Hugging Face checkpoints (``model.embed_tokens``,
``model.layers.0.self_attn.q_proj``, ``lm_head`` ...), so weights load without renaming. The numerics follow
``transformers``: RMSNorm computed in float32, rotary embeddings computed in float32 from the same inverse
frequencies (``rope_scaling`` types default, linear, dynamic, llama3 and yarn), grouped-query attention, a gated
MLP (SwiGLU, or gated ReLU^2 for Inkling's own models), and Qwen3's per-head RMSNorm of queries and keys (QK-norm).

One ``forward`` serves training, prefill, decoding, beams and the fixed-shape step that
``engine.decoding.cuda_graphs`` captures in a CUDA graph (positions given as a device tensor; see
``engine.models.positions``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.fused_projections import join_projections
from engine.models.kv_cache import KVCache, cache_dtype
from engine.models.one_token_step import decode_one_token
from engine.models.positions import Placement, attention_mask, place
from engine.models.shared_prefix import attend_with_shared_prefix, worth_sharing

ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                 "mistral": "MistralForCausalLM"}
ROPE_TYPES = ("default", "linear", "dynamic", "llama3", "yarn")
_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": F.silu,
    "swish": F.silu,
    "gelu": F.gelu,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "relu2": lambda x: F.relu(x).square(),  # transformers' ReLUSquaredActivation
}
# Keys of config.json this module reads; everything else is kept in ``extra`` and written back unchanged.
_ROPE_KEYS = ("rope_theta", "rope_scaling", "rope_parameters")
_SDPA_HAS_GQA = tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 5)


@dataclass
class LlamaConfig:
    model_type: str = "llama"
    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None  # None: as many as attention heads (no grouping)
    head_dim: int | None = None  # None: hidden_size // num_attention_heads
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None  # {"rope_type": "linear" | "dynamic" | "llama3" | "yarn", "factor": ...}
    tie_word_embeddings: bool = False
    hidden_act: str = "silu"
    qkv_bias: bool = False  # Qwen2 always; Llama when attention_bias
    o_bias: bool = False  # Llama when attention_bias
    mlp_bias: bool = False
    qk_norm: bool = False  # Qwen3: RMSNorm over each head's queries and keys before the rotation
    #: attention window of each layer (None = full causal attention); Mistral and Qwen2's sliding windows
    layer_windows: list[int | None] | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    extra: dict = field(default_factory=dict)  # unknown config.json keys, written back unchanged

    def __post_init__(self) -> None:
        if self.model_type not in ARCHITECTURES:
            raise ValueError(f"model_type {self.model_type!r} is not a Llama-family type ({', '.join(ARCHITECTURES)})")
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                     "max_position_embeddings"):
            _require_positive_int(name, getattr(self, name))
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        _require_positive_int("num_key_value_heads", self.num_key_value_heads)
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_attention_heads {self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads {self.num_key_value_heads}"
            )
        if self.head_dim is None:
            if self.hidden_size % self.num_attention_heads:
                raise ValueError(
                    f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
                )
            self.head_dim = self.hidden_size // self.num_attention_heads
        _require_positive_int("head_dim", self.head_dim)
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for rotary embeddings, not {self.head_dim}")
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"hidden_act {self.hidden_act!r} is not supported ({', '.join(_ACTIVATIONS)})")
        if not (isinstance(self.rope_theta, (int, float)) and self.rope_theta > 0):
            raise ValueError(f"rope_theta must be a positive number, not {self.rope_theta!r}")
        if self.layer_windows is None:
            self.layer_windows = [None] * self.num_hidden_layers
        if len(self.layer_windows) != self.num_hidden_layers:
            raise ValueError(f"{len(self.layer_windows)} layer windows for {self.num_hidden_layers} layers")
        for window in self.layer_windows:
            if window is not None:
                _require_positive_int("sliding_window", window)
        self.rope_scaling = _normalise_rope_scaling(self.rope_scaling, self.max_position_embeddings)

    @property
    def rope_type(self) -> str:
        return (self.rope_scaling or {}).get("rope_type", "default")

    @classmethod
    def from_hf_dict(cls, data: dict) -> LlamaConfig:
        """Read a Hugging Face Llama, Qwen2, Qwen3 or Mistral config (transformers 4.x or 5.x style)."""
        model_type = data.get("model_type", "llama")
        values = {
            key: data[key]
            for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings",
                        "rms_norm_eps", "tie_word_embeddings", "hidden_act", "bos_token_id", "eos_token_id",
                        "pad_token_id")
            if data.get(key) is not None
        }
        if data.get("partial_rotary_factor", 1.0) not in (None, 1, 1.0):
            raise ValueError(f"partial_rotary_factor {data['partial_rotary_factor']!r} is not supported")
        theta, scaling = _read_rope(data)
        if model_type == "llama":
            bias = bool(data.get("attention_bias", False))
            values.update(qkv_bias=bias, o_bias=bias, mlp_bias=bool(data.get("mlp_bias", False)))
        elif model_type == "qwen2":
            values.update(qkv_bias=True)
        elif model_type == "qwen3":
            bias = bool(data.get("attention_bias", False))
            values.update(qkv_bias=bias, o_bias=bias, qk_norm=True)
        known = set(values) | {"model_type", "architectures", "attention_bias", "mlp_bias", "partial_rotary_factor",
                               "sliding_window", "use_sliding_window", "max_window_layers", "layer_types",
                               *_ROPE_KEYS}
        extra = {k: v for k, v in data.items() if k not in known}
        windows = _layer_windows(model_type, data, values.get("num_hidden_layers", cls.num_hidden_layers))
        return cls(model_type=model_type, rope_theta=theta, rope_scaling=scaling, layer_windows=windows,
                   extra=extra, **values)

    def to_hf_dict(self) -> dict:
        """A config.json that both this module and ``transformers`` (4.x and 5.x) read back identically."""
        data = {k: v for k, v in asdict(self).items()
                if k not in ("extra", "qkv_bias", "o_bias", "mlp_bias", "qk_norm", "layer_windows", "rope_scaling")}
        data = {**self.extra, **data}
        data["architectures"] = [ARCHITECTURES[self.model_type]]
        # The legacy keys: transformers 5 converts them to rope_parameters itself, transformers 4 needs them.
        data["rope_scaling"] = dict(self.rope_scaling) if self.rope_scaling else None
        if self.model_type == "llama":
            data.update(attention_bias=self.o_bias, mlp_bias=self.mlp_bias)
        elif self.model_type == "qwen3":
            data.update(attention_bias=self.o_bias)
        layer_windows = cast("list[int | None]", self.layer_windows)  # filled in by __post_init__
        windows = {w for w in layer_windows if w is not None}
        if self.model_type == "mistral":
            data["sliding_window"] = windows.pop() if windows else None
        elif self.model_type in ("qwen2", "qwen3"):
            first_sliding = next((i for i, w in enumerate(layer_windows) if w is not None), None)
            data.update(
                use_sliding_window=first_sliding is not None,
                sliding_window=windows.pop() if windows else None,
                max_window_layers=first_sliding if first_sliding is not None else self.num_hidden_layers,
            )
        return data


def _require_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def _read_rope(data: dict) -> tuple[float, dict | None]:
    """(theta, scaling) from either ``rope_theta`` + ``rope_scaling`` (4.x) or ``rope_parameters`` (5.x)."""
    params = data.get("rope_parameters") or data.get("rope_scaling") or {}
    if not isinstance(params, dict):
        raise TypeError(f"rope settings must be a JSON object, not {params!r}")
    params = dict(params)
    theta = params.pop("rope_theta", None) or data.get("rope_theta") or 10000.0
    rope_type = params.pop("rope_type", None) or params.pop("type", None) or "default"
    params.pop("type", None)
    if rope_type == "default":
        return theta, None
    return theta, {"rope_type": rope_type, **params}


def _normalise_rope_scaling(scaling: dict | None, max_positions: int) -> dict | None:
    if not scaling:
        return None
    scaling = dict(scaling)
    rope_type = scaling.get("rope_type") or scaling.pop("type", None) or "default"
    if rope_type not in ROPE_TYPES:
        raise ValueError(f"rope_scaling type {rope_type!r} is not supported ({', '.join(ROPE_TYPES)})")
    if rope_type == "default":
        return None
    scaling["rope_type"] = rope_type
    if rope_type in ("linear", "dynamic", "llama3") and not isinstance(scaling.get("factor"), (int, float)):
        raise ValueError(f"rope_scaling {rope_type!r} needs a numeric factor, got {scaling.get('factor')!r}")
    if rope_type == "llama3":
        for key in ("low_freq_factor", "high_freq_factor"):
            if not isinstance(scaling.get(key), (int, float)):
                raise TypeError(f"rope_scaling 'llama3' needs a numeric {key}")
    if rope_type in ("llama3", "yarn"):
        scaling.setdefault("original_max_position_embeddings", max_positions)
    return scaling


def _layer_windows(model_type: str, data: dict, n_layers: int) -> list[int | None]:
    """Sliding-window size of each layer, or None for full attention, as transformers decides it."""
    window = data.get("sliding_window")
    if model_type == "mistral":
        return [window] * n_layers
    if model_type in ("qwen2", "qwen3"):
        if not data.get("use_sliding_window", False) or window is None:
            return [None] * n_layers
        layer_types = data.get("layer_types")
        if isinstance(layer_types, list) and len(layer_types) == n_layers:
            return [window if kind == "sliding_attention" else None for kind in layer_types]
        first = data.get("max_window_layers", n_layers)
        return [window if i >= first else None for i in range(n_layers)]
    return [None] * n_layers


def rope_inverse_frequencies(config: LlamaConfig) -> tuple[torch.Tensor, float]:
    """Inverse frequencies (float32) and the cos/sin scale, with transformers' formulas for each rope type."""
    dim, base = cast(int, config.head_dim), float(config.rope_theta)  # head_dim: filled in by __post_init__
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
    inv_freq = 1.0 / (base**exponents)
    scaling = config.rope_scaling or {}
    rope_type = config.rope_type
    if rope_type == "linear":
        return inv_freq / scaling["factor"], 1.0
    if rope_type == "dynamic":
        # Dynamic NTK only changes the frequencies past max_position_embeddings, which is also our context limit.
        return inv_freq, 1.0
    if rope_type == "llama3":
        return _llama3_frequencies(inv_freq, scaling), 1.0
    if rope_type == "yarn":
        return _yarn_frequencies(config, scaling)
    return inv_freq, 1.0


def _llama3_frequencies(inv_freq: torch.Tensor, scaling: dict) -> torch.Tensor:
    factor = scaling["factor"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_context / low, old_context / high
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, scaled)


def _yarn_frequencies(config: LlamaConfig, scaling: dict) -> tuple[torch.Tensor, float]:
    dim, base = cast(int, config.head_dim), float(config.rope_theta)  # head_dim: filled in by __post_init__
    original = scaling["original_max_position_embeddings"]
    factor = scaling.get("factor") or config.max_position_embeddings / original

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        if scaling.get("mscale") and scaling.get("mscale_all_dim"):
            attention_factor = mscale(factor, scaling["mscale"]) / mscale(factor, scaling["mscale_all_dim"])
        else:
            attention_factor = mscale(factor)
    beta_fast = scaling.get("beta_fast") or 32
    beta_slow = scaling.get("beta_slow") or 1

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # as transformers: avoids dividing by zero
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    keep = 1 - ramp
    return interpolation * (1 - keep) + extrapolation * keep, float(attention_factor)


class RotaryEmbedding(nn.Module):
    """cos/sin tables for given positions, computed on the fly in float32 (no table sized by the context)."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        with torch.device("cpu"):  # real numbers even when the model is built on the meta device to be loaded
            inv_freq, self.attention_scaling = rope_inverse_frequencies(config)
        # A plain attribute, not a buffer: model.to(bfloat16) must not round the frequencies.
        self._inv_freq = {inv_freq.device: inv_freq}

    def forward(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        inv_freq = self._inv_freq.get(positions.device)
        if inv_freq is None:
            inv_freq = next(iter(self._inv_freq.values())).to(positions.device)
            self._inv_freq[positions.device] = inv_freq
        freqs = positions.float().unsqueeze(-1) * inv_freq
        angles = torch.cat((freqs, freqs), dim=-1)
        return (angles.cos() * self.attention_scaling).to(dtype), (angles.sin() * self.attention_scaling).to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [batch, heads, time, head_dim] by the angles of its positions (cos/sin: [time, head_dim])."""
    return x * cos + _rotate_half(x) * sin


class RMSNorm(nn.RMSNorm):
    """``nn.RMSNorm`` computed in float32 whatever the weights' dtype, then scaled in theirs: as transformers, so
    bf16 results match too."""

    def __init__(self, width: int, eps: float) -> None:
        super().__init__(width, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * F.rms_norm(x.float(), self.normalized_shape, None, self.eps).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, config: LlamaConfig, window: int | None) -> None:
        super().__init__()
        self.n_head = config.num_attention_heads
        # Both filled in by LlamaConfig.__post_init__ (None there asks for the default).
        self.n_kv_head = cast(int, config.num_key_value_heads)
        self.head_dim = cast(int, config.head_dim)
        self.window = window
        width, q_width, kv_width = config.hidden_size, self.n_head * self.head_dim, self.n_kv_head * self.head_dim
        self.q_proj = nn.Linear(width, q_width, bias=config.qkv_bias)
        self.k_proj = nn.Linear(width, kv_width, bias=config.qkv_bias)
        self.v_proj = nn.Linear(width, kv_width, bias=config.qkv_bias)
        self.o_proj = nn.Linear(q_width, width, bias=config.o_bias)
        if config.qk_norm:
            self.q_norm = RMSNorm(self.head_dim, config.rms_norm_eps)
            self.k_norm = RMSNorm(self.head_dim, config.rms_norm_eps)
        self.qk_norm = config.qk_norm
        #: q_proj, k_proj and v_proj joined into one layer once ``fuse_projections`` has done so (quantized only).
        self.qkv_proj: nn.Module | None = None

    @property
    def projection_widths(self) -> tuple[int, int, int]:
        """The widths of the queries, keys and values, in ``qkv_proj``'s order."""
        return self.n_head * self.head_dim, self.n_kv_head * self.head_dim, self.n_kv_head * self.head_dim

    def fuse_projections(self) -> bool:
        """Join the query, key and value projections into ``qkv_proj`` where they are quantized alike."""
        return join_projections(self, ("q_proj", "k_proj", "v_proj"), "qkv_proj")

    def project_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of ``x`` (``[..., width]``), unshaped."""
        if self.qkv_proj is not None:
            q, k, v = self.qkv_proj(x).split(self.projection_widths, dim=-1)
            return q, k, v
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)

    def forward(
        self,
        x: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        cache: KVCache | None,
        layer: int,
        placement: Placement,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """Attention of ``x`` over the cache's first ``placement.span`` slots once ``x`` is written there, or over
        ``x`` alone without a cache."""
        batch, time, _ = x.shape
        q, k, v = self.project_qkv(x)
        q = q.view(batch, time, self.n_head, self.head_dim)
        k = k.view(batch, time, self.n_kv_head, self.head_dim)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = v.view(batch, time, self.n_kv_head, self.head_dim).transpose(1, 2)
        cos, sin = rotary
        # Rotated in float32 whatever the compute type, as the one-token step does: keys cached by a prompt and by
        # single tokens then agree, and no suggestion depends on which of the two read a word.
        q, k = apply_rotary(q.float(), cos, sin), apply_rotary(k.float(), cos, sin)
        if cache is not None:
            k, v = cache.update(layer, placement.positions, k, v, placement.span)
        else:
            q, k = q.to(v.dtype), k.to(v.dtype)
        # With a float32 cache under bf16 weights (``cache_dtype``) the attention runs in float32.
        if cache is not None and worth_sharing(batch, time, cache.shared, mask):
            y = attend_with_shared_prefix(q.to(k.dtype), k, v, cache.shared).to(x.dtype)
        else:
            y = self._attend(q.to(k.dtype), k, v, mask, causal=cache is None and mask is None).to(x.dtype)
        return self.o_proj(y.transpose(1, 2).reshape(batch, time, self.n_head * self.head_dim))

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool
    ) -> torch.Tensor:
        groups = self.n_head // self.n_kv_head
        batch, _, time, dim = q.shape
        if groups == 1:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        if time == 1:
            # One query per head: fold each kv head's group of query heads into the query axis, so grouped
            # attention reads the cache once instead of copying it per query head.
            folded = q.view(batch, self.n_kv_head, groups, dim)
            y = F.scaled_dot_product_attention(folded, k, v, attn_mask=mask)
            return y.reshape(batch, self.n_head, 1, dim)
        if _SDPA_HAS_GQA:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=True)
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)


class MLP(nn.Module):
    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        width, inner = config.hidden_size, config.intermediate_size
        self.gate_proj = nn.Linear(width, inner, bias=config.mlp_bias)
        self.up_proj = nn.Linear(width, inner, bias=config.mlp_bias)
        self.down_proj = nn.Linear(inner, width, bias=config.mlp_bias)
        self.act = _ACTIVATIONS[config.hidden_act]
        #: gate_proj and up_proj joined into one layer once ``fuse_projections`` has done so (quantized only).
        self.gate_up_proj: nn.Module | None = None

    def fuse_projections(self) -> bool:
        """Join the gate and up projections into ``gate_up_proj`` where they are quantized alike."""
        return join_projections(self, ("gate_proj", "up_proj"), "gate_up_proj")

    def gated(self, x: torch.Tensor) -> torch.Tensor:
        """The activated gate times the up projection: what ``down_proj`` reads."""
        if self.gate_up_proj is not None:
            gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
            return self.act(gate) * up
        return self.act(self.gate_proj(x)) * self.up_proj(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.gated(x))


class DecoderLayer(nn.Module):
    def __init__(self, config: LlamaConfig, window: int | None) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config, window)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        cache: KVCache | None,
        layer: int,
        placement: Placement,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        # ``x`` is the float32 residual stream; the layers' inputs are rounded to the compute type once.
        dtype = self.input_layernorm.weight.dtype
        x = x + self.self_attn(self.input_layernorm(x).to(dtype), rotary, cache, layer, placement, mask)
        return x + self.mlp(self.post_attention_layernorm(x).to(dtype))


class LlamaBackbone(nn.Module):
    """What Hugging Face checkpoints call ``model``: embeddings, decoder layers, final norm."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        windows = cast("list[int | None]", config.layer_windows)  # filled in by __post_init__
        self.layers = nn.ModuleList(DecoderLayer(config, window) for window in windows)
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class CachedDecoder(nn.Module):
    """What every decoder over the shared ``KVCache`` has alike (Llama-family, Gemma 3): its init, the tied output
    layer, the context and vocabulary sizes, and its cache. A subclass sets ``config`` (with the Hugging Face
    field names), ``model`` (``embed_tokens``, ``norm``) and ``lm_head``."""

    config: Any  # the family's config (LlamaConfig, Gemma3Config): nn.Module types attributes as Tensor | Module
    lm_head: nn.Module  # nn.Linear, or Int8Linear / Int4Linear once loaded quantized

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def tie_weights(self) -> None:
        """Share the output projection with the input embedding when the config says so (after loading too)."""
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.get_submodule("model.embed_tokens").weight

    @property
    def max_context(self) -> int:
        return self.config.max_position_embeddings

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def fuse_projections(self) -> int:
        """Join each layer's query, key and value projections, and its gate and up projections, where they are
        quantized alike (``engine.models.fused_projections``); returns how many joined layers were made."""
        joined = 0
        for layer in cast(nn.ModuleList, self.get_submodule("model.layers")):
            parts: Any = layer
            joined += parts.self_attn.fuse_projections() + parts.mlp.fuse_projections()
        return joined

    def forward(
        self,
        tokens: torch.Tensor,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        span: int | None = None,
    ) -> tuple[torch.Tensor, KVCache | None]:
        """Logits ``[batch, time, vocab]`` for ``tokens`` ``[batch, time]`` read after what ``cache`` holds; with
        ``positions`` and ``span`` the fixed-shape step (see ``engine.models.positions``). One token per row
        after a cache, outside training, takes the family's leaner one-token step (``one_token_logits``,
        ``engine.models.one_token_step``); everything else its ``forward_layers``."""
        if cache is not None and positions is None and tokens.shape[1] == 1 and not torch.is_grad_enabled():
            return self.one_token_logits(tokens, cache), cache
        return self.forward_layers(tokens, cache, positions, span)

    def one_token_logits(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits ``[batch, 1, vocab]`` of one token per row after ``cache``: ``forward_layers``'s arithmetic."""
        raise NotImplementedError

    def forward_layers(
        self,
        tokens: torch.Tensor,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        span: int | None = None,
    ) -> tuple[torch.Tensor, KVCache | None]:
        """``forward`` for any chunk, through the layers' modules: training, prompts, the fixed-shape step."""
        raise NotImplementedError

    def new_cache(self, batch_size: int, capacity: int | None = None) -> KVCache:
        capacity = min(capacity or self.max_context, self.max_context)
        # Always a float parameter, whatever holds the (maybe int8) embedding.
        param = cast(torch.Tensor, self.get_submodule("model.norm").weight)
        c = self.config
        return KVCache(c.num_hidden_layers, batch_size, c.num_key_value_heads, capacity, c.head_dim,
                       param.device, cache_dtype(param.dtype, param.device))


class LlamaTransformer(CachedDecoder):
    """Llama / Qwen2 / Qwen3 / Mistral decoder: RMSNorm, rotary positions, grouped-query attention, SwiGLU."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        self.model_type = config.model_type
        self.model = LlamaBackbone(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.rotary = RotaryEmbedding(config)
        self.apply(self._init_weights)
        self.tie_weights()


    def one_token_logits(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        return decode_one_token(self, tokens, cache)

    def forward_layers(
        self,
        tokens: torch.Tensor,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        span: int | None = None,
    ) -> tuple[torch.Tensor, KVCache | None]:
        """``forward`` for any chunk, through the layers' modules: training, prompts, the fixed-shape step."""
        placement = place(tokens, cache, self.max_context, positions, span)
        embedded = self.model.embed_tokens(tokens)
        rotary = self.rotary(placement.positions, torch.float32)
        masks = {window: attention_mask(placement, window, cache is not None)
                 for window in set(self.config.layer_windows)}
        x = embedded.float()  # the residual stream stays in float32 between layers, as llama.cpp keeps it
        for index, layer in enumerate(self.model.layers):
            x = layer(x, rotary, cache, index, placement, masks[cast(DecoderLayer, layer).self_attn.window])
        if cache is not None and not placement.fixed:
            cache.advance(tokens.shape[1])
        return self.lm_head(self.model.norm(x.to(embedded.dtype))), cache
