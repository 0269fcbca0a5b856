"""The lean one-token decoding step and the joined projections it reads, against the plain forward."""

from __future__ import annotations

import pytest
import torch

import engine
from engine.models import gemma3 as gemma3_module
from engine.models import llama as llama_module
from engine.models.fused_projections import concatenated_linear
from engine.models.gemma3 import FULL, SLIDING, Gemma3Config, Gemma3Transformer
from engine.models.hidden_states import FinalHiddenStates
from engine.models.int4 import Int4Linear, int4_available
from engine.models.int8 import Int8Linear, quantize_linears
from engine.models.llama import LlamaConfig, LlamaTransformer
from engine.models.one_token_step import decode_one_gemma3_token, decode_one_token
from engine.models.shared_prefix import MIN_SHARED
from tests.support.gguf_files import tiny_config, write_model

VOCAB = 300
LAYOUTS = {
    "grouped": {},
    "no-grouping-biases": {"num_key_value_heads": 4, "qkv_bias": True, "o_bias": True, "mlp_bias": True},
    "qk-norm-relu2": {"qk_norm": True, "hidden_act": "relu2", "head_dim": 8},
    "sliding-window": {"layer_windows": [6, None]},
    "yarn-rope": {"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16}},
}

needs_int4 = pytest.mark.skipif(not int4_available(), reason="no int4 kernel for this CPU")


def tiny_llama(seed: int = 0, **changes) -> LlamaTransformer:
    config = LlamaConfig(**{"vocab_size": VOCAB, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
                            **changes})
    torch.manual_seed(seed)
    model = LlamaTransformer(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1 + 0.2 * torch.randn_like(param))
            elif name.endswith(".bias"):
                param.normal_(0, 0.1)
            else:
                param.normal_(0, 0.3)
    return model


def ids(batch: int, time: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, time), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_one_token_at_a_time_gives_the_logits_of_the_whole_sequence(layout):
    model = tiny_llama(**LAYOUTS[layout])
    tokens = ids(2, 14)
    with torch.inference_mode():
        full, _ = model.forward_layers(tokens)
        cache = model.new_cache(2, 20)
        model.forward_layers(tokens[:, :3], cache)
        for t in range(3, 14):
            logits = decode_one_token(model, tokens[:, t : t + 1], cache)
            torch.testing.assert_close(logits[:, -1], full[:, t], atol=1e-4, rtol=1e-4)
    assert cache.length == 14


def test_a_model_outside_training_decodes_through_the_one_token_step(monkeypatch):
    model = tiny_llama()
    calls = []

    def spy(*args):
        calls.append(args[1].shape)
        return decode_one_token(*args)

    monkeypatch.setattr(llama_module, "decode_one_token", spy)
    cache = model.new_cache(1, 8)
    with torch.inference_mode():
        model(ids(1, 3), cache)  # a prompt: the plain forward
        model(ids(1, 1), cache)
    assert calls == [torch.Size([1, 1])]
    model(ids(1, 1), model.new_cache(1, 8))  # gradients wanted (training): the plain forward
    assert len(calls) == 1


def test_rows_sharing_a_long_prompt_read_it_once_and_get_each_rows_logits():
    model = tiny_llama(seed=3)
    prompt = ids(1, MIN_SHARED + 6, seed=4)
    branches = ids(3, 2, seed=5)
    with torch.inference_mode():
        single = model.new_cache(1, 80)
        model.forward_layers(prompt, single)
        cache = model.new_cache(3, 80)
        cache.fill_from(single)
        assert cache.shared == prompt.shape[1]
        for t in range(2):
            logits = decode_one_token(model, branches[:, t : t + 1], cache)
        whole = torch.cat((prompt.expand(3, -1), branches), dim=1)
        expected, _ = model.forward_layers(whole)
    torch.testing.assert_close(logits[:, -1], expected[:, -1], atol=1e-4, rtol=1e-4)


def test_hooks_on_the_final_norm_and_output_layer_see_the_one_token_step():
    model = tiny_llama()
    tokens = ids(2, 6)
    with torch.inference_mode(), FinalHiddenStates(model) as hidden:
        model.forward_layers(tokens)
        expected = hidden.latest[:, -1:]
        cache = model.new_cache(2, 8)
        model.forward_layers(tokens[:, :5], cache)
        model(tokens[:, 5:], cache)
        assert hidden.latest.shape == (2, 1, 32)
        torch.testing.assert_close(hidden.latest, expected, atol=1e-5, rtol=1e-5)


def test_a_bfloat16_model_reads_a_word_alike_in_a_prompt_and_one_token_at_a_time():
    """Keys and queries are rotated in float32 and the residual stream kept in float32 on both paths, so whether a
    word was read with the prompt or as a decoding step moves its logits by rounding only, not by bfloat16's
    steps (which flipped near-ties between two runs of the same suggestion)."""
    model = tiny_llama(seed=7, hidden_size=64, num_attention_heads=4, intermediate_size=128)
    model.to(torch.bfloat16)
    quantize_linears(model)
    tokens = ids(1, 40, seed=8)
    with torch.inference_mode():
        full, _ = model.forward_layers(tokens, model.new_cache(1, 40))  # a prompt is read into a cache
        cache = model.new_cache(1, 40)
        model.forward_layers(tokens[:, :20], cache)
        stepped = torch.cat([model(tokens[:, t : t + 1], cache)[0] for t in range(20, 40)], dim=1)
    difference = (stepped.float() - full[:, 20:].float()).abs().max()
    assert difference <= 2 * full.float().abs().max() / 256  # within two bfloat16 roundings of the largest logit
    assert torch.equal(stepped.float().argmax(-1), full[:, 20:].float().argmax(-1))


def int4_layer(out_features: int, in_features: int = 64, bias: bool = False, seed: int = 0) -> Int4Linear:
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 16, (out_features, in_features), generator=generator)
    scales = torch.rand(out_features, in_features // 32, generator=generator) * 0.1
    bias_values = torch.randn(out_features, generator=generator) if bias else None
    return Int4Linear(codes, scales, -8 * scales, bias_values)


@needs_int4
@pytest.mark.parametrize("bias", [False, True])
def test_joined_int4_layers_give_each_layers_outputs_side_by_side(bias):
    layers = [int4_layer(128, bias=bias, seed=1), int4_layer(64, bias=bias, seed=2), int4_layer(64, bias=bias, seed=3)]
    joined = concatenated_linear(layers)
    assert isinstance(joined, Int4Linear) and joined.out_features == 256
    rows = torch.randn(3, 64).to(torch.bfloat16)
    expected = torch.cat([layer(rows) for layer in layers], dim=-1)
    assert torch.equal(joined(rows), expected)
    assert torch.equal(joined.forward_rows(rows), expected)


@needs_int4
def test_int4_layers_that_do_not_fill_whole_row_blocks_or_mix_biases_stay_apart():
    assert concatenated_linear([int4_layer(64), int4_layer(32)]) is None  # the packing's 64-row blocks
    assert concatenated_linear([int4_layer(64), int4_layer(64, bias=True)]) is None
    assert concatenated_linear([int4_layer(64), int4_layer(64, in_features=96)]) is None


def test_joined_int8_layers_give_each_layers_outputs_side_by_side():
    torch.manual_seed(0)
    layers = [Int8Linear(torch.nn.Linear(32, width, bias=True)) for width in (48, 16, 16)]
    joined = concatenated_linear(layers)
    assert isinstance(joined, Int8Linear)
    rows = torch.randn(2, 32).to(torch.bfloat16)
    assert torch.equal(joined(rows), torch.cat([layer(rows) for layer in layers], dim=-1))
    assert concatenated_linear([layers[0], torch.nn.Linear(32, 8)]) is None  # float layers keep their names


@pytest.mark.parametrize("layout", ["grouped", "no-grouping-biases", "qk-norm-relu2"])
def test_an_int8_model_with_joined_projections_computes_what_it_did_apart(layout):
    model = tiny_llama(**LAYOUTS[layout]).to(torch.bfloat16)
    quantize_linears(model)
    tokens = ids(2, 9)
    with torch.inference_mode():
        apart, _ = model.forward_layers(tokens)
        cache = model.new_cache(2, 10)
        model.forward_layers(tokens[:, :8], cache)
        step_apart = model(tokens[:, 8:], cache)[0]
        assert model.fuse_projections() == 2 * 2  # attention and MLP of both layers
        attention = model.model.layers[0].self_attn
        assert attention.qkv_proj is not None and not hasattr(attention, "q_proj")
        joined, _ = model.forward_layers(tokens)
        cache.crop(8)
        step_joined = model(tokens[:, 8:], cache)[0]
    assert torch.equal(joined, apart)
    assert torch.equal(step_joined, step_apart)


def test_a_float_model_keeps_its_checkpoints_module_names():
    model = tiny_llama()
    assert model.fuse_projections() == 0
    assert "model.layers.0.self_attn.q_proj.weight" in model.state_dict()


@needs_int4
def test_a_4_bit_gguf_loads_joined_and_its_cached_copy_too(tmp_path, monkeypatch):
    from engine.loading import gguf_checkpoint

    path, _ = write_model(tmp_path, tiny_config("llama", hidden=256), "Q4_0")
    first = engine.load(str(path))
    layer = first.model.model.layers[0]
    assert isinstance(layer.self_attn.qkv_proj, Int4Linear) and isinstance(layer.mlp.gate_up_proj, Int4Linear)
    monkeypatch.setattr(gguf_checkpoint, "open_gguf", lambda *a, **k: pytest.fail("converted again"))
    second = engine.load(str(path))
    layer = second.model.model.layers[0]
    assert isinstance(layer.self_attn.qkv_proj, Int4Linear) and not hasattr(layer.self_attn, "q_proj")
    tokens = ids(1, 12)
    with torch.inference_mode():
        torch.testing.assert_close(second.model(tokens)[0], first.model(tokens)[0])
    settings = engine.DecodingSettings(strategy="greedy", max_new_tokens=6)
    assert second.complete("Once upon a time", settings)[0].text == first.complete("Once upon a time", settings)[0].text


# --- Gemma 3 ---------------------------------------------------------------------------------------------------


def tiny_gemma3(seed: int = 0, **changes) -> Gemma3Transformer:
    config = Gemma3Config(**{"vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
                             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                             "max_position_embeddings": 128, "query_pre_attn_scalar": 24, "sliding_window": 5,
                             "layer_types": [SLIDING, SLIDING, FULL, SLIDING], "rope_theta": 1000.0,
                             "rope_local_base_freq": 100.0, **changes})
    torch.manual_seed(seed)
    model = Gemma3Transformer(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.normal_(0, 0.3 if name.endswith(("norm.weight", "embed_tokens.weight")) else 0.15)
    return model


@pytest.mark.parametrize("changes", [{}, {"final_logit_softcapping": 3.0, "attention_bias": True,
                                          "tie_word_embeddings": False}])
def test_gemma3_one_token_at_a_time_gives_the_logits_of_the_whole_sequence(changes):
    model = tiny_gemma3(**changes)
    tokens = ids(2, 14)
    with torch.inference_mode():
        full, _ = model.forward_layers(tokens)
        cache = model.new_cache(2, 20)
        model.forward_layers(tokens[:, :3], cache)
        for t in range(3, 14):  # past the sliding window of 5
            logits = decode_one_gemma3_token(model, tokens[:, t : t + 1], cache)
            torch.testing.assert_close(logits[:, -1], full[:, t], atol=1e-4, rtol=1e-4)


def test_a_gemma3_model_outside_training_decodes_through_its_one_token_step(monkeypatch):
    model = tiny_gemma3()
    calls = []

    def spy(*args):
        calls.append(args[1].shape)
        return decode_one_gemma3_token(*args)

    monkeypatch.setattr(gemma3_module, "decode_one_gemma3_token", spy)
    cache = model.new_cache(1, 8)
    with torch.inference_mode():
        model(ids(1, 3), cache)
        model(ids(1, 1), cache)
    assert calls == [torch.Size([1, 1])]


def test_an_int8_gemma3_joins_its_projections_and_reads_a_word_alike_in_a_prompt_and_as_a_step():
    model = tiny_gemma3(seed=5).to(torch.bfloat16)
    quantize_linears(model)
    assert model.fuse_projections() == 2 * 4
    tokens = ids(1, 30, seed=6)
    with torch.inference_mode():
        full, _ = model.forward_layers(tokens, model.new_cache(1, 30))
        cache = model.new_cache(1, 30)
        model.forward_layers(tokens[:, :15], cache)
        stepped = torch.cat([model(tokens[:, t : t + 1], cache)[0] for t in range(15, 30)], dim=1)
    difference = (stepped.float() - full[:, 15:].float()).abs().max()
    assert difference <= 2 * full.float().abs().max() / 256
    assert torch.equal(stepped.float().argmax(-1), full[:, 15:].float().argmax(-1))
