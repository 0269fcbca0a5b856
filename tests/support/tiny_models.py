"""Random-weight models small enough to build in milliseconds: a GPT-2 folder of our own and an Attention-LSTM."""

from __future__ import annotations

from pathlib import Path

import torch


def make_gpt2_folder(path: Path, tokenizer, *, n_layer=2, n_embd=32, n_head=4, n_positions=128,
                     eos_token_id=0, seed=0) -> Path:
    """Save a random-weight GPT-2 model folder of our own with the given tokenizer."""
    from engine.loading.checkpoint import save_checkpoint
    from engine.models.gpt2 import GPT2Config, GPT2Transformer

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=tokenizer.vocab_size, n_positions=n_positions, n_embd=n_embd,
                        n_layer=n_layer, n_head=n_head, eos_token_id=eos_token_id, bos_token_id=eos_token_id)
    model = GPT2Transformer(config)
    # Random init gives near-uniform predictions; sharper logits make decoding tests meaningful.
    with torch.no_grad():
        model.wte.weight.mul_(25)
    return save_checkpoint(path, model, tokenizer)


def make_attention_lstm(kind: str = "additive", vocab: int = 60, seed: int = 0, **overrides):
    """A random-weight ``AttentionLSTM`` in eval mode, attention window 5, with sharpened embeddings."""
    from engine.models.attention_lstm import AttentionLSTM, AttentionLSTMConfig

    torch.manual_seed(seed)
    settings = {
        "vocab_size": vocab,
        "n_embd": 16,
        "hidden_size": 24,
        "n_layer": 2,
        "attention_window": 5,
        "attention_kind": kind,
        "eos_token_id": 0,
    }
    settings.update(overrides)
    model = AttentionLSTM(AttentionLSTMConfig(**settings)).eval()
    with torch.no_grad():  # sharper than the init, so a wrong state or window shows in the logits
        model.wte.weight.mul_(20)
    return model
