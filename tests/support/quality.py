"""A GPT-2 built for the confidence tests: sure of itself after one word, unsure after every other token.

Every block's output projection and the position embeddings are zero, so the last hidden state is the last token's
embedding and the logits are ``LayerNorm(wte[last]) . wte``. The confident word's embedding points along a direction
``e`` that every other embedding is orthogonal to: after that word the model predicts the word again with
probability above 0.99; after any other token it sees ``e`` nowhere and spreads its probability almost evenly over
the vocabulary (mean log-probability near -5).
"""

from __future__ import annotations

from pathlib import Path

import torch

CONFIDENT_WORD = " fox"


def make_confident_model(path: Path, tokenizer, word: str = CONFIDENT_WORD, n_embd: int = 32) -> Path:
    from engine.loading.checkpoint import save_checkpoint
    from engine.models.gpt2 import GPT2Config, GPT2Transformer

    ids = tokenizer.encode(word)
    assert len(ids) == 1, f"{word!r} must be one token of the test tokenizer, not {ids}"
    confident = ids[0]
    generator = torch.Generator().manual_seed(0)
    config = GPT2Config(vocab_size=tokenizer.vocab_size, n_positions=128, n_embd=n_embd, n_layer=2,
                        n_head=4, eos_token_id=0, bos_token_id=0)
    model = GPT2Transformer(config)
    with torch.no_grad():
        for block in model.h:
            for projection in (block.attn.c_proj, block.mlp.c_proj):
                projection.weight.zero_()
                projection.bias.zero_()
        model.wpe.weight.zero_()
        model.ln_f.weight.fill_(1.0)
        model.ln_f.bias.zero_()
        direction = torch.randn(n_embd, generator=generator)
        direction -= direction.mean()
        direction /= direction.norm()
        others = 0.05 * torch.randn(config.vocab_size, n_embd, generator=generator)
        others -= others @ direction.unsqueeze(1) * direction  # orthogonal to the confident direction
        others[confident] = 2.0 * direction
        model.wte.weight.copy_(others)
    return save_checkpoint(path, model, tokenizer)
