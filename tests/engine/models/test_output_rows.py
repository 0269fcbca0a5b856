"""Reading a prompt computes the vocabulary's logits for its last position only (engine.models.output_rows)."""

from __future__ import annotations

import torch

from engine.decoding.prefix_cache import PromptCache
from engine.models.llama import LlamaConfig, LlamaTransformer
from engine.models.output_rows import last_position_logits


def tiny_llama() -> LlamaTransformer:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=64)
    return LlamaTransformer(config).eval()


def test_the_last_positions_logits_are_the_same_and_the_others_are_never_computed():
    model = tiny_llama()
    tokens = torch.randint(0, 300, (1, 20))
    with torch.inference_mode():
        full, _ = model(tokens)
        rows_seen: list[int] = []
        model.lm_head.register_forward_hook(lambda _m, args, _out: rows_seen.append(args[0].shape[1]))
        with last_position_logits(model):
            last, _ = model(tokens)
    assert rows_seen == [1]
    torch.testing.assert_close(last[:, -1], full[:, -1])


def test_a_prompt_read_into_the_cache_gives_the_full_forwards_last_logits():
    model = tiny_llama()
    tokens = torch.randint(0, 300, (1, 20)).tolist()[0]
    with torch.inference_mode():
        expected = model(torch.tensor([tokens]))[0][:, -1]
        logits, reused, read = PromptCache(model, torch.device("cpu"), step_mode="eager").prefill(tokens, room=4)
    assert (reused, read) == (0, 20)
    torch.testing.assert_close(logits, expected)
