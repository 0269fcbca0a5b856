"""KVCache: writing by position, and the surgery decoding asks of it (refilling beam rows, reshuffling them)."""

from __future__ import annotations

import torch

from engine.models.kv_cache import KVCache


def filled(rows: int, length: int, capacity: int = 8, seed: int = 0) -> KVCache:
    cache = KVCache(n_layer=2, batch_size=rows, n_kv_head=1, capacity=capacity, head_dim=3, device="cpu",
                    dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    for layer in range(2):
        k, v = (torch.randn(rows, 1, length, 3, generator=generator) for _ in range(2))
        keys, values = cache.update(layer, torch.arange(length), k, v, span=length)
        assert torch.equal(keys, k) and torch.equal(values, v)
    cache.advance(length)
    return cache


def test_update_writes_at_the_given_positions_and_returns_the_span():
    cache = filled(1, 2)
    k = torch.ones(1, 1, 1, 3)
    keys, _ = cache.update(0, torch.tensor([5]), k, k, span=6)
    assert keys.shape[2] == 6 and torch.equal(keys[:, :, 5], k[:, :, 0])
    assert cache.length == 2  # advancing is the forward's business, once for all layers


def test_fill_from_fans_row_zero_out_and_copies_only_positions_it_does_not_hold():
    prompt = filled(1, 5)
    beams = prompt.repeat_rows(3)
    assert torch.equal(beams.keys[:, 2, :, :5], prompt.keys[:, 0, :, :5])
    beams.keys[:, :, :, :2] = 7.0  # positions the beams keep (cropped to 2 below): not copied again
    beams.crop(2)
    beams.fill_from(prompt)
    assert beams.length == 5
    assert (beams.keys[:, :, :, :2] == 7.0).all()
    assert torch.equal(beams.keys[:, 1, :, 2:5], prompt.keys[:, 0, :, 2:5])


def test_reorder_moves_only_what_follows_the_shared_prompt():
    beams = filled(1, 3).repeat_rows(2)
    for layer in range(2):
        k = torch.tensor([1.0, 2.0]).view(2, 1, 1, 1).expand(2, 1, 1, 3)
        beams.update(layer, torch.tensor([3]), k, k, span=4)
    beams.advance(1)
    beams.keys[:, 1, :, 0] = -1.0  # marks the (shared, so equal in real use) prompt part of row 1
    beams.reorder(torch.tensor([1, 1]))
    assert (beams.keys[:, :, :, 3] == 2.0).all()
    assert (beams.keys[:, 0, :, 0] != -1.0).all()  # the shared prompt positions were not moved
    beams.reorder(torch.tensor([0, 1, 1]))  # a new batch size copies every position
    assert beams.batch_size == 3


def test_on_the_cpu_a_bf16_model_keeps_a_float32_cache_and_decodes_as_its_full_forward():
    from engine.models.kv_cache import cache_dtype
    from engine.models.llama import LlamaConfig, LlamaTransformer

    assert cache_dtype(torch.bfloat16, torch.device("cpu")) == torch.float32
    assert cache_dtype(torch.float32, torch.device("cpu")) == torch.float32
    assert cache_dtype(torch.bfloat16, torch.device("cuda")) == torch.bfloat16
    torch.manual_seed(0)
    config = LlamaConfig.from_hf_dict({"model_type": "qwen3", "vocab_size": 50, "hidden_size": 32,
                                       "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                                       "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 32})
    model = LlamaTransformer(config).to(torch.bfloat16).eval()
    tokens = torch.randint(0, 50, (1, 12))
    cache = model.new_cache(1, 32)
    assert cache.keys.dtype == torch.float32
    with torch.no_grad():
        full, _ = model(tokens)
        model(tokens[:, :8], cache)
        steps = [model(tokens[:, i : i + 1], cache)[0] for i in range(8, 12)]
    stepped = torch.cat(steps, dim=1)
    assert stepped.dtype == torch.bfloat16
    assert torch.allclose(stepped.float(), full[:, 8:].float(), atol=0.1)  # bf16 rounding, nothing more
