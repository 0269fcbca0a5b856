"""Gemma 3 GGUF files (llama.cpp architecture ``gemma3``), written as llama.cpp's converter writes them: the model
computes what the original ``Gemma3ForCausalLM`` computed, in float and with its blocks kept quantized."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine
from engine.decoding.settings import DecodingSettings
from engine.errors import CheckpointError
from engine.loading.gguf_checkpoint import load_gguf
from engine.loading.gguf_file import describe_gguf
from engine.loading.gguf_weights import model_key
from engine.models.gemma3 import FULL, SLIDING
from tests.support.gguf_files import logits_of as support_logits
from tests.support.gguf_files import mean_kl, write_gemma3_gguf
from tests.support.paths import BUNDLED_TOKENIZER

transformers = pytest.importorskip("transformers")

VOCAB = 8192
WINDOW = 4
TOKENS = torch.tensor([[5, 300, 41, 7000, 12, 8000, 99, 1234, 4321, 17, 256, 600]])  # three windows long
# A GGUF file carries no query_pre_attn_scalar: llama.cpp scales by 1/sqrt(head_dim), which the reference must too.
# Sliding layers take rope base 10000 (llama.cpp's, the file names only the global one).
BASE = {"vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "query_pre_attn_scalar": 32,
        "max_position_embeddings": 256, "sliding_window": WINDOW, "rope_theta": 100_000.0,
        "rope_local_base_freq": 10_000.0, "sliding_window_pattern": 6, "bos_token_id": 0, "eos_token_id": 0,
        "pad_token_id": 0}


def reference_model(seed: int = 0, **changes) -> torch.nn.Module:
    """A random Gemma3ForCausalLM; its norm weights (0 at init) random too, so the +1 of the file shows."""
    torch.manual_seed(seed)
    model = transformers.Gemma3ForCausalLM(transformers.Gemma3TextConfig(**{**BASE, **changes})).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.normal_(0, 0.3 if name.endswith(("norm.weight", "embed_tokens.weight")) else 0.1)
    return model


def write_model(tmp_path: Path, weight_type: str = "F32", name: str = "gemma.gguf", pattern=None,
                local_rope_base: float | None = None, **changes) -> tuple[Path, torch.nn.Module]:
    model = reference_model(**changes)
    path = write_gemma3_gguf(tmp_path / name, model.config.to_dict(), model.state_dict(), BUNDLED_TOKENIZER,
                             weight_type=weight_type, sliding_window_pattern=pattern, local_rope_base=local_rope_base)
    return path, model


def logits_of(model: torch.nn.Module, tokens: torch.Tensor = TOKENS) -> torch.Tensor:
    return support_logits(model, tokens)


def test_gemma3_tensor_names_map_to_the_four_norms_of_a_block():
    assert model_key("blk.3.post_attention_norm.weight", "gemma3_text") == "model.layers.3.post_attention_layernorm.weight"
    assert model_key("blk.3.ffn_norm.weight", "gemma3_text") == "model.layers.3.pre_feedforward_layernorm.weight"
    assert model_key("blk.3.post_ffw_norm.weight", "gemma3_text") == "model.layers.3.post_feedforward_layernorm.weight"
    assert model_key("blk.3.attn_q_norm.weight", "gemma3_text") == "model.layers.3.self_attn.q_norm.weight"
    assert model_key("blk.3.ffn_norm.weight") == "model.layers.3.post_attention_layernorm.weight"  # Llama's


@pytest.mark.parametrize("changes", [
    {"num_hidden_layers": 7},  # the default pattern: layer 6 attends to everything, layer 7 slides again
    {"num_hidden_layers": 6, "tie_word_embeddings": False,
     "rope_scaling": {"rope_type": "linear", "factor": 4.0}},  # the global layers only
])
def test_a_float_file_computes_what_the_original_model_computed(tmp_path, changes):
    path, reference = write_model(tmp_path, **changes)
    description = describe_gguf(path)
    assert description.loads and description.architecture == "gemma3"
    loaded = load_gguf(path, quantized=False)
    model = loaded.checkpoint.model
    assert model.config.layer_types == reference.config.layer_types
    assert FULL in model.config.layer_types and SLIDING in model.config.layer_types
    torch.testing.assert_close(logits_of(model), logits_of(reference), atol=2e-5, rtol=1e-4)


def test_a_file_loads_as_transformers_loads_it(tmp_path):
    """transformers' own GGUF loader takes the same 1 off the norms. It keeps query_pre_attn_scalar at 256 where
    llama.cpp scales by head_dim (the same number in every Gemma 3 but the 27B), so the heads here are 256 wide."""
    path, _ = write_model(tmp_path, "Q8_0", num_hidden_layers=6, head_dim=256, query_pre_attn_scalar=256)
    theirs = transformers.Gemma3ForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name).eval()
    ours = load_gguf(path, quantized=False).checkpoint.model
    assert ours.config.layer_types == theirs.config.layer_types
    torch.testing.assert_close(logits_of(ours), logits_of(theirs), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pattern, expected", [
    (2, [SLIDING, FULL, SLIDING, FULL]),
    ([True, False, False, True], [SLIDING, FULL, FULL, SLIDING]),  # a flag per layer: true where it slides
])
def test_the_files_layer_pattern_is_followed(tmp_path, pattern, expected):
    path, reference = write_model(tmp_path, pattern=pattern, layer_types=expected)
    model = load_gguf(path, quantized=False).checkpoint.model
    assert model.config.layer_types == expected
    torch.testing.assert_close(logits_of(model), logits_of(reference), atol=2e-5, rtol=1e-4)


def test_a_local_rope_base_in_the_file_is_used_for_the_sliding_layers(tmp_path):
    path, reference = write_model(tmp_path, local_rope_base=500.0, rope_local_base_freq=500.0, num_hidden_layers=6)
    model = load_gguf(path, quantized=False).checkpoint.model
    assert model.config.rope_local_base_freq == 500.0
    torch.testing.assert_close(logits_of(model), logits_of(reference), atol=2e-5, rtol=1e-4)


def test_the_27b_scales_attention_by_its_width_per_head_as_llama_cpp_does(tmp_path):
    """llama.cpp's rule, since the file has no query_pre_attn_scalar: 1/sqrt(head_dim), except in the 62-layer 27B
    (head_dim 128, hidden / heads 168), where transformers' config says query_pre_attn_scalar 168."""
    path, reference = write_model(tmp_path, num_hidden_layers=62, query_pre_attn_scalar=16)  # 64 wide, 4 heads
    model = load_gguf(path, quantized=False).checkpoint.model
    assert model.config.query_pre_attn_scalar == 16 != model.config.head_dim
    torch.testing.assert_close(logits_of(model), logits_of(reference), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("weight_type, storage", [("Q8_0", "int8"), ("Q4_0", "int4")])
def test_quantized_blocks_stay_small_and_close(tmp_path, weight_type, storage):
    path, _ = write_model(tmp_path, weight_type)
    quantized = load_gguf(path)
    exact = load_gguf(path, quantized=False)
    assert storage in quantized.storage
    assert type(quantized.checkpoint.model.model.embed_tokens).__name__ == "Int8Embedding"
    assert mean_kl(logits_of(exact.checkpoint.model), logits_of(quantized.checkpoint.model)) < 2e-3


def test_engine_load_takes_a_gemma3_file_and_decodes_like_transformers(tmp_path):
    path, reference = write_model(tmp_path)
    lm = engine.load(str(path), device="cpu", weights="float")
    assert lm.architecture == "Transformer (Gemma 3)"
    prompt = "It was a bright cold day in April, and the clocks were striking thirteen."
    ids = lm.tokenizer.encode(prompt)
    assert len(ids) > 2 * WINDOW
    with torch.no_grad():
        out = reference.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 do_sample=False, max_new_tokens=8, pad_token_id=0)
    expected = out[0, len(ids):].tolist()
    expected = expected[: expected.index(0)] if 0 in expected else expected
    [completion] = lm.complete(prompt, DecodingSettings.plain(max_new_tokens=8))
    assert list(completion.token_ids) == expected and expected


def test_a_file_without_its_sliding_window_is_refused_naming_the_key(tmp_path):
    path, _ = write_model(tmp_path)
    data = path.read_bytes()
    key = b"gemma3.attention.sliding_window"
    assert data.count(key) == 1
    path.write_bytes(data.replace(key, b"gemma3.attention.sliding_wixdow"))
    with pytest.raises(CheckpointError, match="gemma3.attention.sliding_window is missing"):
        load_gguf(path, quantized=False)
