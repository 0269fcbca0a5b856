"""Helpers for the decoding tests: tiny models of every family, and wrappers that script or count a model.

A random tiny model predicts noise; tests that need a known continuation wrap it in ``ScriptedModel``, which adds
a large bonus to "the next token of a script" after each script token. The real model and its real cache still
run underneath, so caching, cropping and beam reshuffles are exercised exactly as without the script.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from torch import nn

import engine
from engine.decoding.generator import Generator
from tests.support.tiny_models import make_gpt2_folder

FAMILIES = ["gpt2", "attention-lstm"]


def make_attention_lstm_folder(path: Path, tokenizer, *, eos_token_id=0, seed=0) -> Path:
    from engine.loading.checkpoint import save_checkpoint
    from engine.models.attention_lstm import AttentionLSTM, AttentionLSTMConfig

    torch.manual_seed(seed)
    config = AttentionLSTMConfig(vocab_size=tokenizer.vocab_size, n_embd=32, hidden_size=32, n_layer=2,
                                 attention_window=4, eos_token_id=eos_token_id, bos_token_id=eos_token_id)
    model = AttentionLSTM(config)
    with torch.no_grad():  # sharper predictions than the near-uniform random init
        model.wte.weight.mul_(12)
    return save_checkpoint(path, model, tokenizer)


def load_tiny(family: str, folder: Path, tokenizer, *, eos_token_id: int | None = 0, seed: int = 0):
    if family == "gpt2":
        path = make_gpt2_folder(folder, tokenizer, eos_token_id=eos_token_id, seed=seed)
    elif family == "attention-lstm":
        path = make_attention_lstm_folder(folder, tokenizer, eos_token_id=eos_token_id, seed=seed)
    else:
        raise ValueError(family)
    return engine.load(str(path), device="cpu")


class ModelWrapper(nn.Module):
    """Delegates the model interface to ``inner``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.model_type = inner.model_type

    @property
    def max_context(self):
        return self.inner.max_context

    @property
    def vocab_size(self):
        return self.inner.vocab_size

    def new_cache(self, batch_size, capacity=None):
        return self.inner.new_cache(batch_size, capacity)

    def forward(self, tokens, cache=None):
        return self.inner(tokens, cache)


class ScriptedModel(ModelWrapper):
    """After token a of the script the model strongly prefers the token that follows a in the script."""

    def __init__(self, inner: nn.Module, script: list[int], bonus: float = 200.0) -> None:
        super().__init__(inner)
        table = torch.zeros(inner.vocab_size, inner.vocab_size)
        for current, following in itertools.pairwise(script):
            if table[current].any() and table[current, following] == 0:
                raise ValueError(f"script is ambiguous after token {current}")
            table[current, following] = bonus
        self.register_buffer("table", table)

    def forward(self, tokens, cache=None):
        logits, cache = self.inner(tokens, cache)
        return logits + self.table[tokens], cache


class CountingModel(ModelWrapper):
    """Records the shape of every forward call."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__(inner)
        self.calls: list[tuple[int, int]] = []

    def forward(self, tokens, cache=None):
        self.calls.append(tuple(tokens.shape))
        return self.inner(tokens, cache)


def generator_with(lm, wrapper_factory) -> tuple[Generator, nn.Module]:
    """A fresh ``Generator`` for ``lm`` whose model is wrapped by ``wrapper_factory(model)``."""
    lm.model = wrapper_factory(lm.model)
    lm._generator = None
    return lm.generator, lm.model


def scripted(lm, script_text: str, *, prefix: list[int] | None = None, bonus: float = 200.0):
    """A generator whose model continues ``script_text`` token by token (``prefix`` tokens lead into it), then
    ends with end-of-text if the model has one."""
    script = (prefix or []) + lm.tokenizer.encode(script_text)
    if lm.eos_token_id is not None:
        script.append(lm.eos_token_id)
    generator, _ = generator_with(lm, lambda model: ScriptedModel(model, script, bonus))
    return generator
