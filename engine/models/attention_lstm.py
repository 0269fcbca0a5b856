"""An LSTM language model that attends over a short window of its own past outputs.

After Daniluk et al. 2017, "Frustratingly Short Attention Spans in Neural Language Modeling": the top
LSTM layer's output ``h_t`` attends over the ``K`` outputs before it, ``r_t`` is their attention-weighted
sum, and the model predicts from ``h*_t = tanh(W_r r_t + W_x h_t)`` through the (tied) input embedding.
Attention is additive (``w . tanh(W_y y_i + W_h h_t)``, as in the paper) or scaled dot-product between
projections of ``h_t`` and ``y_i``.

Training runs ``nn.LSTM`` over whole sequences and the windowed attention as one vectorised operation;
decoding carries a ``RecurrentCache`` so one more token costs one step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.recurrent_cache import RecurrentCache

MODEL_TYPE = "inkling-attention-lstm"
ATTENTION_KINDS = ("additive", "dot")


@dataclass
class AttentionLSTMConfig:
    vocab_size: int = 8192
    n_embd: int = 256  # embedding width (input and tied output)
    hidden_size: int = 384  # LSTM width
    n_layer: int = 2
    attention_window: int = 8  # how many previous top-layer outputs each step attends over
    attention_kind: str = "additive"
    dropout: float = 0.0  # on embeddings, between LSTM layers and before the output projection
    eos_token_id: int | None = None
    bos_token_id: int | None = None
    extra: dict = field(default_factory=dict)  # unknown config.json keys, written back unchanged

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_embd", "hidden_size", "n_layer", "attention_window"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.attention_kind not in ATTENTION_KINDS:
            raise ValueError(
                f"attention_kind must be one of {', '.join(ATTENTION_KINDS)}, not {self.attention_kind!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout!r}")

    def to_hf_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "extra"}
        data = {**self.extra, **data}
        data.update(model_type=MODEL_TYPE, architectures=["InklingAttentionLSTM"], tie_word_embeddings=True)
        return data

    @classmethod
    def from_hf_dict(cls, data: dict) -> AttentionLSTMConfig:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values = {k: data[k] for k in known if k in data}
        extra = {k: v for k, v in data.items() if k not in known and k not in ("model_type", "architectures")}
        return cls(**values, extra=extra)


class WindowAttention(nn.Module):
    """Each position attends over the ``window`` memory entries just before it (zero-padded, masked)."""

    def __init__(self, config: AttentionLSTMConfig) -> None:
        super().__init__()
        width = config.hidden_size
        self.kind = config.attention_kind
        self.window = config.attention_window
        if self.kind == "additive":
            self.memory_proj = nn.Linear(width, width, bias=False)  # W_y
            self.query_proj = nn.Linear(width, width)  # W_h
            self.score = nn.Linear(width, 1, bias=False)  # w
        else:
            self.memory_proj = nn.Linear(width, width, bias=False)  # keys
            self.query_proj = nn.Linear(width, width, bias=False)  # queries
        self.mix_context = nn.Linear(width, width, bias=False)  # W_r
        self.mix_output = nn.Linear(width, width)  # W_x

    def forward(self, outputs: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """``h*`` for ``outputs`` [B, T, H], which follow ``history`` [B, P <= K, H]."""
        batch, time, width = outputs.shape
        k = self.window
        known = history.shape[1]
        pad = outputs.new_zeros(batch, k - known, width)
        # Step t of the chunk sees memory[t : t + k]; the last output is never memory for this chunk.
        memory = torch.cat([pad, history, outputs], dim=1)[:, : k + time - 1]
        keys = self.memory_proj(memory).unfold(1, k, 1)  # [B, T, H, K]
        values = memory.unfold(1, k, 1)  # [B, T, H, K]
        query = self.query_proj(outputs)  # [B, T, H]
        if self.kind == "additive":
            hidden = torch.tanh(keys + query.unsqueeze(-1)).transpose(-1, -2)  # [B, T, K, H]
            scores = self.score(hidden).squeeze(-1)  # [B, T, K]
        else:
            scores = torch.einsum("bthk,bth->btk", keys, query) / math.sqrt(width)
        # Slots before the first token hold zero padding; a step with nothing to look at gets r = 0.
        slot = torch.arange(k, device=outputs.device)
        step = torch.arange(time, device=outputs.device).unsqueeze(1)
        valid = (slot + step) >= (k - known)  # [T, K]
        scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        context = torch.einsum("bthk,btk->bth", values, weights)
        return torch.tanh(self.mix_context(context) + self.mix_output(outputs))


class AttentionLSTM(nn.Module):
    """Embedding -> stacked LSTM -> windowed self-attention -> (down-projection) -> tied output embedding."""

    model_type = MODEL_TYPE
    max_context = None  # recurrent: no hard limit on what it reads

    def __init__(self, config: AttentionLSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        widths = [config.n_embd] + [config.hidden_size] * config.n_layer
        # One nn.LSTM per layer: the cache needs each layer's state, and each call stays a fused kernel.
        self.lstm = nn.ModuleList(
            nn.LSTM(widths[i], config.hidden_size, batch_first=True) for i in range(config.n_layer)
        )
        self.attention = WindowAttention(config)
        self.down = (
            nn.Linear(config.hidden_size, config.n_embd, bias=False)
            if config.hidden_size != config.n_embd
            else nn.Identity()
        )
        self.output_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.drop = nn.Dropout(config.dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.normal_(self.wte.weight, mean=0.0, std=0.05)
        for lstm in self.lstm:
            bound = 1.0 / math.sqrt(self.config.hidden_size)
            for name, param in lstm.named_parameters():
                nn.init.uniform_(param, -bound, bound)
                if name.startswith("bias_ih"):
                    # A forget-gate bias of 1 lets gradients through long spans from the first step.
                    with torch.no_grad():
                        param[self.config.hidden_size : 2 * self.config.hidden_size].fill_(1.0)

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def new_cache(self, batch_size: int, capacity: int | None = None) -> RecurrentCache:
        param = self.wte.weight
        return RecurrentCache(
            self.config.n_layer,
            batch_size,
            self.config.hidden_size,
            self.config.attention_window,
            capacity or 64,
            param.device,
            param.dtype,
        )

    def forward(
        self,
        tokens: torch.Tensor,
        cache: RecurrentCache | None = None,
        positions: torch.Tensor | None = None,
        span: int | None = None,
    ) -> tuple[torch.Tensor, RecurrentCache | None]:
        """Logits ``[batch, time, vocab]`` for ``tokens`` ``[batch, time]`` after what ``cache`` holds.

        The cache, if given, is updated in place and returned. A recurrent step has no fixed-shape form, so
        ``positions`` and ``span`` are refused (its cache says ``fixed_shape = False``).
        """
        if positions is not None or span is not None:
            raise ValueError("the attention-LSTM has no fixed-shape step: call it without positions and span")
        x = self.drop(self.wte(tokens))
        if cache is None:
            outputs = self._run_layers(x)
            history = outputs.new_zeros(outputs.shape[0], 0, outputs.shape[2])
        else:
            history = cache.recent_outputs()
            outputs = self._run_cached(x, cache)
        mixed = self.attention(outputs, history)
        return self._logits(mixed), cache

    def _run_layers(self, x: torch.Tensor) -> torch.Tensor:
        """All layers over a whole sequence from zero state (training and the full forward)."""
        for index, lstm in enumerate(self.lstm):
            x, _ = lstm(x)
            if index < len(self.lstm) - 1:
                x = self.drop(x)
        return x

    def _run_cached(self, x: torch.Tensor, cache: RecurrentCache) -> torch.Tensor:
        """The LSTM stack segment by segment, handing the cache a snapshot at each boundary it asks for."""
        pieces = []
        start = cache.length
        offset = 0
        for end in cache.snapshot_points(start, x.shape[1]):
            segment = x[:, offset : end - start]
            h, c = cache.state()
            new_h, new_c = [], []
            run = _lstm_steps if segment.shape[1] <= _STEPWISE_MAX else _lstm_fused
            for index, lstm in enumerate(self.lstm):
                layer = cast(nn.LSTM, lstm)
                segment, (layer_h, layer_c) = run(layer, segment, h[index : index + 1], c[index : index + 1])
                new_h.append(layer_h)
                new_c.append(layer_c)
                if index < len(self.lstm) - 1:
                    segment = self.drop(segment)
            cache.advance(segment, torch.cat(new_h), torch.cat(new_c))
            pieces.append(segment)
            offset = end - start
        return torch.cat(pieces, dim=1)

    def _logits(self, mixed: torch.Tensor) -> torch.Tensor:
        return F.linear(self.drop(self.down(mixed)), self.wte.weight, self.output_bias)


# A fused nn.LSTM call has a fixed cost (on CPU oneDNN re-packs the weights, ~0.5-3 ms) that dwarfs one step's
# arithmetic; decoding steps and short tail segments are cheaper computed directly (same math, ~1e-7 apart).
_STEPWISE_MAX = 2


def _lstm_fused(lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
    return lstm(x, (h, c))


def _lstm_steps(lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
    """nn.LSTM's gate equations (gate order i, f, g, o) one step at a time."""
    # nn.LSTM sets its per-layer weights by name at run time, so its stubs type them as Tensor | Module.
    weight_ih, weight_hh = cast(torch.Tensor, lstm.weight_ih_l0), cast(torch.Tensor, lstm.weight_hh_l0)
    bias_ih, bias_hh = cast(torch.Tensor, lstm.bias_ih_l0), cast(torch.Tensor, lstm.bias_hh_l0)
    inputs = F.linear(x, weight_ih, bias_ih + bias_hh)
    h, c = h[0], c[0]
    outputs = []
    for t in range(x.shape[1]):
        gates = torch.addmm(inputs[:, t], h, weight_hh.t())
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h.unsqueeze(0), c.unsqueeze(0))
