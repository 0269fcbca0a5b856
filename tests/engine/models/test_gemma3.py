"""Gemma 3 (``gemma3_text``) computes what ``transformers``' ``Gemma3ForCausalLM`` computes: from a model folder, in
one forward and one token at a time after a cache, and in greedy decoding over prompts longer than its sliding
window."""

from __future__ import annotations

import json

import pytest
import torch

import engine
from engine.decoding.settings import DecodingSettings
from engine.errors import CheckpointError
from engine.loading.checkpoint import load_checkpoint, save_checkpoint
from engine.models.gemma3 import FULL, SLIDING, Gemma3Config, default_layer_types
from engine.models.int8 import int8_helps_by_size

transformers = pytest.importorskip("transformers")

EOS = 0
WINDOW = 5
# Four layers in a pattern of three: sliding, sliding, full, sliding. query_pre_attn_scalar differs from head_dim
# (16), so the attention's own scale shows; the two rotary bases differ, so a layer with the wrong one shows.
BASE = {"vocab_size": 400, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 128,
        "sliding_window": WINDOW, "sliding_window_pattern": 3, "query_pre_attn_scalar": 24, "rope_theta": 1000.0,
        "rope_local_base_freq": 100.0, "bos_token_id": EOS, "eos_token_id": EOS, "pad_token_id": EOS}
CASES = {
    "tied-pattern": {},
    # transformers 4.x's keys: rope_scaling (global layers only), attention biases, a final soft cap, 4:1 grouping.
    "untied-linear-rope-softcap": {"tie_word_embeddings": False, "rope_scaling": {"rope_type": "linear", "factor": 2.0},
                                   "attention_bias": True, "final_logit_softcapping": 3.0, "num_key_value_heads": 1},
    # Gemma 3's default pattern (every sixth layer global) and an explicit list of layer types.
    "default-pattern": {"num_hidden_layers": 7, "sliding_window_pattern": None},
    "layer-types": {"layer_types": [FULL, SLIDING, FULL, SLIDING]},
}


def hf_model(seed: int = 0, **overrides) -> torch.nn.Module:
    """A random Gemma3ForCausalLM with every weight away from its initial value (norms too: they start at 0)."""
    torch.manual_seed(seed)
    settings = {key: value for key, value in {**BASE, **overrides}.items() if value is not None}
    model = transformers.Gemma3ForCausalLM(transformers.Gemma3TextConfig(**settings))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("norm.weight", "embed_tokens.weight")):
                param.normal_(0, 0.3)
            else:
                param.normal_(0, 0.15)
    return model.eval()


def save_hf_folder(model: torch.nn.Module, folder, tokenizer):
    model.save_pretrained(folder)
    tokenizer.backend.save(str(folder / "tokenizer.json"))
    return folder


def tokens(batch: int = 2, time: int = 20, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, BASE["vocab_size"], (batch, time), generator=torch.Generator().manual_seed(seed))


def hf_logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


@pytest.fixture(params=sorted(CASES))
def case(request, tmp_path, tiny_tokenizer):
    reference = hf_model(**CASES[request.param])
    return reference, save_hf_folder(reference, tmp_path / request.param, tiny_tokenizer)


def test_both_kinds_of_layer_occur_in_the_test_models():
    assert hf_model().config.layer_types == [SLIDING, SLIDING, FULL, SLIDING]
    assert hf_model(**CASES["default-pattern"]).config.layer_types == [SLIDING] * 5 + [FULL, SLIDING]


def test_logits_match_transformers(case):
    reference, folder = case
    lm = engine.load(str(folder), device="cpu")
    assert lm.architecture == "Transformer (Gemma 3)"
    assert lm.model.config.layer_types == reference.config.layer_types
    ids = tokens()  # 20 tokens: four times the sliding window
    with torch.no_grad():
        ours, _ = lm.model(ids)
    expected = hf_logits(reference, ids)
    assert expected.abs().max() > 1  # a meaningful comparison, not two near-zero tensors
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def test_bfloat16_embeddings_are_scaled_as_transformers_scales_them(tmp_path, tiny_tokenizer):
    """sqrt(hidden_size) rounded to bfloat16 before it multiplies (sqrt(48) = 6.93 becomes 6.94), so what reaches
    the first layer is transformers' to the bit; the logits then agree to bfloat16's precision."""
    reference = hf_model(hidden_size=48, head_dim=12, query_pre_attn_scalar=12).to(torch.bfloat16)
    folder = save_hf_folder(reference, tmp_path / "m", tiny_tokenizer)
    model = load_checkpoint(folder, dtype=torch.bfloat16).model
    ids = tokens()
    seen = []
    for layer in (model.model.layers[0], reference.model.layers[0]):
        layer.register_forward_pre_hook(lambda _module, args, kwargs: seen.append(args[0] if args else
                                                                                  kwargs["hidden_states"]),
                                        with_kwargs=True)
    with torch.no_grad():
        ours, _ = model(ids)
    expected = hf_logits(reference, ids)
    assert seen[0].dtype == torch.bfloat16 and torch.equal(seen[0], seen[1])
    torch.testing.assert_close(ours.float(), expected.float(), atol=0.1, rtol=0.02)


@pytest.mark.parametrize("name", ["tied-pattern", "untied-linear-rope-softcap"])
def test_cached_incremental_matches_full_forward(name, tmp_path, tiny_tokenizer):
    folder = save_hf_folder(hf_model(**CASES[name]), tmp_path / name, tiny_tokenizer)
    model = load_checkpoint(folder).model
    ids = tokens(batch=3, time=19, seed=2)
    with torch.no_grad():
        full, _ = model(ids)
        cache = model.new_cache(3, 32)
        pieces = []
        # A prefill longer than the window, then single tokens and short chunks past it.
        for start, end in ((0, 7), (7, 8), (8, 11), (11, 12), *((t, t + 1) for t in range(12, 19))):
            logits, cache = model(ids[:, start:end], cache)
            pieces.append(logits)
    assert cache.length == 19
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-4, rtol=1e-4)


def test_fixed_shape_decode_step_matches_forward(tmp_path, tiny_tokenizer):
    """The CUDA-graph step (positions as a tensor, a span of cache slots under a mask) gives the forward's logits."""
    model = load_checkpoint(save_hf_folder(hf_model(), tmp_path / "m", tiny_tokenizer)).model
    ids = tokens(batch=2, time=16, seed=3)
    with torch.no_grad():
        full, _ = model(ids)
        cache = model.new_cache(2, 24)
        model(ids[:, :4], cache)
        for t in range(4, 16):
            logits, _ = model(ids[:, t : t + 1], cache, positions=torch.tensor([t]), span=t + 1 + t % 3)
            cache.advance(1)
            torch.testing.assert_close(logits[:, -1], full[:, t], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["tied-pattern", "untied-linear-rope-softcap"])
def test_greedy_decoding_matches_transformers_generate_past_the_window(name, tmp_path, tiny_tokenizer):
    reference = hf_model(**CASES[name])
    lm = engine.load(str(save_hf_folder(reference, tmp_path / name, tiny_tokenizer)), device="cpu",
                     weights="float")
    prompt = "It was a bright cold day in April, and the clocks were striking"
    ids = lm.tokenizer.encode(prompt)
    assert len(ids) > 2 * WINDOW
    with torch.no_grad():
        out = reference.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 do_sample=False, max_new_tokens=12, pad_token_id=EOS)
    expected = out[0, len(ids):].tolist()
    expected = expected[: expected.index(EOS)] if EOS in expected else expected
    [completion] = lm.complete(prompt, DecodingSettings.plain(max_new_tokens=12))
    assert list(completion.token_ids) == expected and len(expected) > WINDOW


def test_beam_search_finds_transformers_beams_past_the_window(tmp_path, tiny_tokenizer):
    """Beams share the prompt's cache rows (engine.models.shared_prefix) under sliding-window masks."""
    reference = hf_model()
    lm = engine.load(str(save_hf_folder(reference, tmp_path / "m", tiny_tokenizer)), device="cpu",
                     weights="float")
    prompt = "It was a bright cold day in April, and the clocks were striking"
    ids = lm.tokenizer.encode(prompt)
    with torch.no_grad():
        out = reference.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 do_sample=False, num_beams=4, num_return_sequences=4, max_new_tokens=8,
                                 pad_token_id=EOS)
    their_rows: list[list[int]] = []
    for row in out:
        generated = row[len(ids):].tolist()
        generated = generated[: generated.index(EOS)] if EOS in generated else generated
        if generated not in their_rows:
            their_rows.append(generated)
    settings = DecodingSettings.plain(strategy="beam", num_beams=4, num_alternatives=4, max_new_tokens=8)
    assert [list(c.token_ids) for c in lm.complete(prompt, settings)] == their_rows


def test_a_saved_model_loads_in_transformers_with_the_same_logits(tmp_path, tiny_tokenizer):
    reference = hf_model(**CASES["untied-linear-rope-softcap"])
    loaded = load_checkpoint(save_hf_folder(reference, tmp_path / "hf", tiny_tokenizer))
    save_checkpoint(tmp_path / "ours", loaded.model, loaded.tokenizer)
    again = transformers.Gemma3ForCausalLM.from_pretrained(tmp_path / "ours").eval()
    assert again.config.layer_types == reference.config.layer_types
    ids = tokens()
    torch.testing.assert_close(hf_logits(again, ids), hf_logits(reference, ids), atol=1e-5, rtol=1e-5)
    assert Gemma3Config.from_hf_dict(loaded.model.config.to_hf_dict()) == loaded.model.config


# config.json of google/gemma-3-270m and google/gemma-3-1b-pt (transformers 4.x keys), sizes only.
GEMMA3_270M = {"model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048, "num_hidden_layers": 18,
               "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 262144,
               "max_position_embeddings": 32768, "sliding_window": 512, "rope_theta": 1e6,
               "rope_local_base_freq": 1e4, "rope_scaling": None, "query_pre_attn_scalar": 256,
               "layer_types": ([SLIDING] * 5 + [FULL]) * 3}
GEMMA3_1B = {**{k: v for k, v in GEMMA3_270M.items() if k != "layer_types"}, "hidden_size": 1152,
             "intermediate_size": 6912, "num_hidden_layers": 26, "sliding_window_pattern": 6}


@pytest.mark.parametrize("config, parameters", [(GEMMA3_270M, 268_098_176), (GEMMA3_1B, 999_885_952)])
def test_the_published_models_have_transformers_shapes(config, parameters):
    """Real checkpoints load key for key: the same tensors and shapes as transformers builds for these configs."""
    from engine.loading.checkpoint import shapes_only
    from engine.loading.families import FAMILIES

    with shapes_only():
        ours = FAMILIES["gemma3_text"].build(config)
    with torch.device("meta"):
        theirs = transformers.Gemma3ForCausalLM(transformers.Gemma3TextConfig(**config))
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    assert sum(p.numel() for p in ours.parameters()) == parameters  # the tied output layer counted once
    assert ours.config.layer_types == theirs.config.layer_types


def test_transformers_4_config_keys_are_read():
    config = Gemma3Config.from_hf_dict({
        "model_type": "gemma3_text", "num_hidden_layers": 8, "hidden_act": "gelu_pytorch_tanh",
        "rope_theta": 1e6, "rope_local_base_freq": 1e4, "rope_scaling": {"type": "linear", "factor": 8.0},
        "sliding_window": 512, "sliding_window_pattern": 4, "some_future_key": 3})
    assert config.layer_types == default_layer_types(8, 4) == [SLIDING] * 3 + [FULL] + [SLIDING] * 3 + [FULL]
    assert (config.rope_theta, config.rope_local_base_freq) == (1e6, 1e4)
    assert config.rope_scaling == {"rope_type": "linear", "factor": 8.0}
    assert config.layer_windows == [512, 512, 512, None, 512, 512, 512, None]
    assert config.to_hf_dict()["some_future_key"] == 3


@pytest.mark.parametrize("change, message", [
    ({"attn_logit_softcapping": 50.0}, "attn_logit_softcapping"),
    ({"use_bidirectional_attention": True}, "use_bidirectional_attention"),
    ({"layer_types": ["chunked_attention"] * 4}, "chunked_attention"),
    ({"rope_scaling": {"rope_type": "longrope", "factor": 2.0}}, "longrope"),
    ({"sliding_window_pattern": 0}, "sliding_window_pattern"),
])
def test_unsupported_settings_are_refused_clearly(change, message, tmp_path, tiny_tokenizer):
    folder = save_hf_folder(hf_model(), tmp_path / "m", tiny_tokenizer)
    config = folder / "config.json"
    data = {key: value for key, value in json.loads(config.read_text()).items() if key != "layer_types"}
    config.write_text(json.dumps({**data, **change}))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)


def test_int8_weights_apply_to_gemma_as_to_llama(tmp_path, tiny_tokenizer):
    assert int8_helps_by_size(300_000_000, "gemma3_text", torch.device("cpu"), cpu_has_bf16=True)
    reference = hf_model()
    lm = engine.load(str(save_hf_folder(reference, tmp_path / "m", tiny_tokenizer)), device="cpu", weights="int8")
    ids = tokens()
    with torch.no_grad():
        ours, _ = lm.model(ids)
    expected = hf_logits(reference, ids)
    p = expected.log_softmax(-1)
    assert float((p.exp() * (p - ours.float().log_softmax(-1))).sum(-1).mean()) < 0.05
