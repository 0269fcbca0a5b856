"""Llama-family decoders (Llama, Qwen2, Qwen3, Mistral) against transformers' own implementations."""

from __future__ import annotations

import json
import math

import pytest
import torch

import engine
from engine.errors import CheckpointError
from engine.loading.checkpoint import load_checkpoint, save_checkpoint
from engine.models.llama import LlamaConfig, LlamaTransformer
from tests.support.settings import plain_settings

transformers = pytest.importorskip("transformers")

VOCAB = 400
BASE = {"vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "max_position_embeddings": 64, "bos_token_id": 0, "eos_token_id": 0}
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}

CASES = {
    "llama-untied": ("llama", {"tie_word_embeddings": False}),
    "llama-tied-llama3-rope": ("llama", {"tie_word_embeddings": True, "rope_parameters": LLAMA3_ROPE}),
    "llama-linear-rope-biases": ("llama", {"attention_bias": True, "mlp_bias": True, "num_key_value_heads": 4,
                                               "rope_parameters": {"rope_type": "linear", "factor": 2.0,
                                                                "rope_theta": 1000.0}}),
    "llama-dynamic-rope": ("llama", {"rope_parameters": {"rope_type": "dynamic", "factor": 4.0,
                                                          "rope_theta": 10000.0}}),
    "llama-yarn-rope": ("llama", {"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0,
                                                       "original_max_position_embeddings": 16}}),
    "qwen2-tied": ("qwen2", {"tie_word_embeddings": True, "num_key_value_heads": 1}),
    "qwen2-sliding": ("qwen2", {"use_sliding_window": True, "sliding_window": 5, "max_window_layers": 1}),
    "mistral-sliding": ("mistral", {"sliding_window": 5, "tie_word_embeddings": False}),
    # The layout of Inkling's own default: QK-norm, tied embeddings, gated ReLU^2, head_dim set explicitly.
    "qwen3-tied-relu2": ("qwen3", {"tie_word_embeddings": True, "hidden_act": "relu2", "head_dim": 16}),
    "qwen3-biases-sliding": ("qwen3", {"attention_bias": True, "head_dim": 32, "use_sliding_window": True,
                                       "sliding_window": 5, "max_window_layers": 1}),
}


def hf_model(kind: str, seed: int = 0, **overrides):
    """A random transformers model with every weight (norms and biases too) away from its initial value."""
    config_class = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config,
                    "qwen3": transformers.Qwen3Config, "mistral": transformers.MistralConfig}[kind]
    model_class = {"llama": transformers.LlamaForCausalLM, "qwen2": transformers.Qwen2ForCausalLM,
                   "qwen3": transformers.Qwen3ForCausalLM, "mistral": transformers.MistralForCausalLM}[kind]
    torch.manual_seed(seed)
    model = model_class(config_class(**{**BASE, **overrides}))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1 + 0.2 * torch.randn_like(param))
            elif name.endswith("embed_tokens.weight"):
                param.normal_(0, 1.0)
            else:
                param.normal_(0, 0.15)
    return model.eval()


def save_hf_folder(model, folder, tokenizer, **save_kwargs):
    model.save_pretrained(folder, **save_kwargs)
    tokenizer.backend.save(str(folder / "tokenizer.json"))
    return folder


def tokens(batch: int = 2, time: int = 20, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, time), generator=torch.Generator().manual_seed(seed))


def hf_logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


def _saved_case(name, tmp_path, tokenizer):
    kind, overrides = CASES[name]
    reference = hf_model(kind, **overrides)
    return reference, save_hf_folder(reference, tmp_path / name, tokenizer)


@pytest.fixture(params=sorted(CASES))
def case(request, tmp_path, tiny_tokenizer):
    return _saved_case(request.param, tmp_path, tiny_tokenizer)


# Cache behaviour differs only by grouping (1, 2 or 4 query heads per kv head), windows and tying.
@pytest.fixture(params=["llama-tied-llama3-rope", "llama-linear-rope-biases", "qwen2-tied", "qwen2-sliding",
                        "mistral-sliding", "qwen3-tied-relu2", "qwen3-biases-sliding"])
def cache_case(request, tmp_path, tiny_tokenizer):
    return _saved_case(request.param, tmp_path, tiny_tokenizer)


def test_logits_match_transformers(case):
    reference, folder = case
    lm = engine.load(str(folder), device="cpu")
    ids = tokens()
    with torch.no_grad():
        ours, _ = lm.model(ids)
    expected = hf_logits(reference, ids)
    assert expected.abs().max() > 1  # a meaningful comparison, not two near-zero tensors
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def test_cached_incremental_matches_full_forward(cache_case):
    _, folder = cache_case
    model = load_checkpoint(folder).model
    ids = tokens(batch=3, time=19, seed=2)
    with torch.no_grad():
        full, _ = model(ids)
        cache = model.new_cache(3, 32)
        pieces = []
        for start, end in ((0, 7), (7, 8), (8, 11), (11, 12), (12, 19)):
            logits, cache = model(ids[:, start:end], cache)
            pieces.append(logits)
    assert cache.length == 19
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-4, rtol=1e-4)


def test_fixed_shape_decode_step_matches_forward(cache_case):
    """The fixed-shape step (the CUDA-graph path: positions as a tensor, a span of cache slots under a mask) gives
    the logits of the plain forward."""
    _, folder = cache_case
    model = load_checkpoint(folder).model
    ids = tokens(batch=2, time=16, seed=3)
    with torch.no_grad():
        full, _ = model(ids)
        cache = model.new_cache(2, 24)
        model(ids[:, :4], cache)
        for t in range(4, 16):
            logits, _ = model(ids[:, t : t + 1], cache, positions=torch.tensor([t]), span=t + 1 + t % 3)
            assert cache.length == t  # the caller advances the cache of a fixed-shape step
            cache.advance(1)
            torch.testing.assert_close(logits[:, -1], full[:, t], atol=1e-4, rtol=1e-4)


def test_sharded_checkpoint_loads(tmp_path, tiny_tokenizer):
    reference = hf_model("llama", tie_word_embeddings=False)
    folder = save_hf_folder(reference, tmp_path / "sharded", tiny_tokenizer, max_shard_size="40KB")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 2
    assert not (folder / "model.safetensors").exists()
    lm = engine.load(str(folder), device="cpu")
    ids = tokens()
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids)[0], hf_logits(reference, ids), atol=1e-4, rtol=1e-4)


def test_missing_shard_is_a_clear_error(tmp_path, tiny_tokenizer):
    folder = save_hf_folder(hf_model("llama"), tmp_path / "sharded", tiny_tokenizer, max_shard_size="40KB")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    (folder / max(set(index["weight_map"].values()))).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        engine.load(str(folder), device="cpu")


@pytest.mark.parametrize("name", ["llama-tied-llama3-rope", "qwen2-sliding", "mistral-sliding",
                                  "llama-linear-rope-biases", "qwen3-tied-relu2", "qwen3-biases-sliding"])
def test_saved_models_load_in_transformers(name, tmp_path, tiny_tokenizer):
    kind, overrides = CASES[name]
    source = save_hf_folder(hf_model(kind, **overrides), tmp_path / "source", tiny_tokenizer)
    loaded = load_checkpoint(source)
    ours = save_checkpoint(tmp_path / "ours", loaded.model, loaded.tokenizer)
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(ours).eval()
    assert type(reloaded).__name__ == type(hf_model(kind, **overrides)).__name__
    ids = tokens()
    with torch.no_grad():
        torch.testing.assert_close(hf_logits(reloaded, ids), loaded.model(ids)[0], atol=1e-4, rtol=1e-4)
    # and our own loader reads it back identically
    again = load_checkpoint(ours).model
    with torch.no_grad():
        torch.testing.assert_close(again(ids)[0], loaded.model(ids)[0])


def test_tied_model_shares_output_and_input_weights(tmp_path, tiny_tokenizer):
    kind, overrides = CASES["qwen2-tied"]
    model = load_checkpoint(save_hf_folder(hf_model(kind, **overrides), tmp_path / "m", tiny_tokenizer)).model
    assert model.lm_head.weight is model.model.embed_tokens.weight


def test_legacy_rope_keys_are_read(tmp_path, tiny_tokenizer):
    """transformers 4.x configs carry rope_theta and rope_scaling ("type" in the oldest) instead of rope_parameters."""
    config = LlamaConfig.from_hf_dict({**BASE, "model_type": "llama", "rope_theta": 1000.0,
                                       "rope_scaling": {"type": "linear", "factor": 2.0}})
    assert config.rope_theta == 1000.0
    assert config.rope_scaling == {"rope_type": "linear", "factor": 2.0}
    modern = LlamaConfig.from_hf_dict({**BASE, "model_type": "llama",
                                       "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000.0}})
    assert modern.rope_theta == config.rope_theta and modern.rope_scaling == config.rope_scaling


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rope_parameters": {"rope_type": "longrope", "rope_theta": 10000.0}}, "longrope"),
        ({"hidden_act": "relu"}, "hidden_act"),
        ({"num_key_value_heads": 3}, "multiple"),
        ({"partial_rotary_factor": 0.5}, "partial_rotary_factor"),
    ],
)
def test_unsupported_settings_are_refused_clearly(change, message, tmp_path, tiny_tokenizer):
    folder = save_hf_folder(hf_model("llama"), tmp_path / "m", tiny_tokenizer)
    config = json.loads((folder / "config.json").read_text())
    config.update(change)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)


def test_context_limit_and_cache_rows_are_checked():
    model = LlamaTransformer(LlamaConfig(**{**BASE, "max_position_embeddings": 8})).eval()
    with torch.no_grad(), pytest.raises(ValueError, match="context"):
        model(tokens(1, 9))
    with torch.no_grad(), pytest.raises(ValueError, match="rows"):
        model(tokens(1, 2), model.new_cache(2, 8))


def test_language_model_scores_text_with_a_llama(tmp_path, tiny_tokenizer):
    model = hf_model("llama")
    folder = save_hf_folder(model, tmp_path / "m", tiny_tokenizer)
    lm = engine.load(str(folder), device="cpu")
    assert lm.architecture == "Transformer (Llama)"
    assert lm.max_context == 64
    text = "The quick brown fox jumps over the lazy dog. " * 3
    # transformers' own log-probabilities of every token after the start token, in bits per byte of the text.
    ids = [lm.start_token_id, *tiny_tokenizer.encode(text)]
    assert lm.start_token_id == 0 and len(ids) <= lm.max_context
    logprobs = torch.log_softmax(hf_logits(model, torch.tensor([ids]))[0].double(), dim=-1)
    nats = -sum(logprobs[i, ids[i + 1]].item() for i in range(len(ids) - 1))
    expected = nats / math.log(2) / len(text.encode("utf-8"))
    assert lm.bits_per_byte(text, memory=False) == pytest.approx(expected, rel=1e-4)


def test_decoding_works_the_same_on_a_llama(tmp_path, tiny_tokenizer):
    """The engine's generator drives a Llama-family model like any other: greedy matches a plain argmax loop."""
    kind, overrides = CASES["qwen2-sliding"]
    lm = engine.load(str(save_hf_folder(hf_model(kind, **overrides), tmp_path / "m", tiny_tokenizer)), device="cpu")
    text = "The quick brown fox jumps over the"
    [greedy] = lm.complete(text, plain_settings(max_new_tokens=8, token_healing=False))
    ids = [lm.eos_token_id] + lm.tokenizer.encode(text)  # a document's start is marked with end-of-text
    with torch.no_grad():
        for _ in range(len(greedy.token_ids)):
            logits, _ = lm.model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    assert list(greedy.token_ids) == ids[-len(greedy.token_ids):] and len(greedy.token_ids) > 0
    beams = lm.complete(text, plain_settings(strategy="beam", num_beams=3, num_alternatives=3,
                                                      max_new_tokens=6, token_healing=False))
    assert 1 <= len(beams) <= 3 and beams[0].logprob >= beams[-1].logprob
