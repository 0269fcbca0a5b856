"""GGUF model files: the model computes what the original model computed, quantized blocks stay small and close,
and every kind of file we cannot run is refused with a message that names it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFWriter

import engine
from engine.errors import CheckpointError
from engine.loading.gguf_checkpoint import load_gguf
from engine.loading.gguf_file import describe_gguf
from engine.loading.registry import list_models
from tests.support.gguf_files import logits_of as support_logits
from tests.support.gguf_files import mean_kl, reference_model, tiny_config, write_llama_gguf, write_model
from tests.support.paths import BUNDLED_TOKENIZER, SHARED_GGUF

TOKENS = torch.tensor([[5, 300, 41, 7000, 12, 8000, 99, 1234, 4321, 17, 256, 600]])


def logits_of(model: torch.nn.Module, tokens: torch.Tensor = TOKENS) -> torch.Tensor:
    return support_logits(model, tokens)


@pytest.mark.parametrize("model_type, changes", [
    ("llama", {}),  # query/key rows reordered by llama.cpp's converter: must be undone
    ("llama", {"tie_word_embeddings": True}),
    ("qwen2", {}),  # attention biases
    ("qwen3", {"tie_word_embeddings": True}),  # per-head norms of queries and keys
])
def test_a_float_file_computes_what_the_original_model_computed(tmp_path, model_type, changes):
    path, reference = write_model(tmp_path, tiny_config(model_type, **changes))
    loaded = load_gguf(path, quantized=False)
    torch.testing.assert_close(logits_of(loaded.checkpoint.model), logits_of(reference), atol=2e-5, rtol=1e-4)
    assert loaded.checkpoint.config["tie_word_embeddings"] == changes.get("tie_word_embeddings", False)


@pytest.mark.parametrize("weight_type, storage", [
    ("Q4_0", "int4"), ("Q4_1", "int4"), ("Q4_K", "int4"),
    ("Q8_0", "int8"), ("Q5_0", "int8"), ("Q5_1", "int8"), ("F16", "int8"), ("BF16", "int8"),
])
def test_quantized_blocks_stay_small_and_close_to_the_files_exact_values(tmp_path, weight_type, storage):
    config = tiny_config("llama", hidden=256, tie_word_embeddings=True)
    path, _ = write_model(tmp_path, config, weight_type)
    exact = load_gguf(path, quantized=False)  # the file's values dequantized to float32
    small = load_gguf(path, quantized=True)
    assert small.storage.split(" + ")[0] == storage
    kl = mean_kl(logits_of(exact.checkpoint.model), logits_of(small.checkpoint.model))
    assert kl < 2e-3, f"{weight_type}: mean KL {kl:.2e}"
    layers = small.checkpoint.model.model.layers
    held = sum(t.numel() * t.element_size() for t in [*layers.parameters(), *layers.buffers()])
    float32_bytes = 4 * sum(p.numel() for p in exact.checkpoint.model.model.layers.parameters())
    assert held < float32_bytes / (6 if storage == "int4" else 3)


def test_int4_layers_compute_the_files_4_bit_values_exactly(tmp_path):
    # Q4_1's blocks are w = d * q + m: the int4 kernel's operands, so no value is re-quantized.
    from engine.models.int4 import Int4Linear

    config = tiny_config("qwen3", hidden=256)
    path, _ = write_model(tmp_path, config, "Q4_1")
    exact = load_gguf(path, quantized=False).checkpoint.model
    small = load_gguf(path, quantized=True).checkpoint.model
    layer = small.model.layers[0].mlp.down_proj
    assert isinstance(layer, Int4Linear)
    x = torch.randn(3, layer.in_features)
    expected = x.to(torch.bfloat16).float() @ exact.model.layers[0].mlp.down_proj.weight.t()
    torch.testing.assert_close(layer(x.to(torch.bfloat16)).float(), expected, atol=0.05, rtol=0.02)


def test_engine_load_takes_a_gguf_file_and_completes_text(tmp_path):
    path, _ = write_model(tmp_path, tiny_config("llama", hidden=256), "Q4_0")
    lm = engine.load(str(path))
    assert lm.weights.startswith("int4")
    assert lm.tokenizer.decode(lm.tokenizer.encode("Once upon a time")) == "Once upon a time"
    completions = lm.complete("Once upon a time", engine.DecodingSettings(strategy="greedy", max_new_tokens=4))
    assert completions and completions[0].text
    # What the menus show is what is held: the int4/int8 buffers, not the few float parameters left.
    assert lm.weight_bytes > 0.5 * (lm.parameter_count / 2)


def test_a_document_starts_with_the_token_the_file_says_its_tokenizer_adds(tmp_path):
    config = tiny_config("llama")
    # The bundled vocabulary's <|endoftext|> (id 0) separated documents; id 1 stands in for a <s> / <|begin_of_text|>.
    plain, _ = write_model(tmp_path, config, name="plain.gguf", bos_id=1)
    adds_bos, _ = write_model(tmp_path, config, name="bos.gguf", bos_id=1,
                              metadata={"tokenizer.ggml.add_bos_token": True})
    assert engine.load(str(plain), weights="float").start_token_id == 0
    lm = engine.load(str(adds_bos), weights="float")
    assert lm.start_token_id == 1
    assert lm.generator.prepare("Once", engine.DecodingSettings()).tokens[0] == 1


def test_gguf_files_in_the_user_folder_are_listed_with_why_they_cannot_load(tmp_path, monkeypatch):
    monkeypatch.setenv("INKLING_USER_MODELS", str(tmp_path))
    write_model(tmp_path, tiny_config("qwen2"), name="good.gguf")
    write_model(tmp_path, tiny_config("llama"), name="odd.gguf", architecture="mamba")
    listed = {m.name: m for m in list_models() if m.source == "user"}
    assert listed["good.gguf"].problem is None
    assert listed["good.gguf"].architecture == "Transformer (Qwen2)"
    assert "mamba" in (listed["odd.gguf"].problem or "")
    assert engine.load("good.gguf", weights="float").architecture == "Transformer (Qwen2)"


def _bare_gguf(path: Path, arch: str = "llama", tensors: bool = True, **strings: object) -> Path:
    writer = GGUFWriter(str(path), arch)
    for key, value in strings.items():
        key = key.replace("__", ".")
        if isinstance(value, str):
            writer.add_string(key, value)
        else:
            writer.add_uint32(key, int(value))  # type: ignore[call-overload]
    if tensors:
        writer.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("make, expected", [
    (lambda p: _bare_gguf(p, general__type="adapter", adapter__type="lora"), "LoRA adapter"),
    (lambda p: _bare_gguf(p, split__count=3), "split across several files"),
    (lambda p: _bare_gguf(p, tensors=False), "vocab-only"),
    (lambda p: _bare_gguf(p, arch="rwkv6"), "'rwkv6' is not one Inkling computes (it runs: llama, qwen2, qwen3"),
    (lambda p: (p.write_bytes(b"PK\x03\x04 not a model"), p)[1], "not a GGUF file"),
])
def test_files_that_are_not_a_model_we_run_are_named_for_what_they_are(tmp_path, make, expected):
    path = make(tmp_path / "x.gguf")
    with pytest.raises(CheckpointError, match="x.gguf") as caught:
        engine.load(str(path))
    assert expected in str(caught.value)
    assert expected in (describe_gguf(path).problem or "")


def test_an_unsupported_quantization_type_is_named_with_the_supported_ones(tmp_path):
    path = tmp_path / "iq.gguf"
    writer = GGUFWriter(str(path), "llama")
    block_bytes = 66  # IQ2_XXS: 66 bytes per 256 weights
    writer.add_tensor("token_embd.weight", np.zeros((4, block_bytes), dtype=np.uint8),
                      raw_dtype=GGMLQuantizationType.IQ2_XXS)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    problem = describe_gguf(path).problem or ""
    assert "IQ2_XXS" in problem and "Q4_K" in problem


def test_a_truncated_file_is_refused_naming_it(tmp_path):
    path, _ = write_model(tmp_path, tiny_config("llama"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CheckpointError, match="model.gguf"):
        engine.load(str(path))


def test_nan_weights_are_refused_at_load(tmp_path):
    config = tiny_config("llama")
    model = reference_model(config)
    state = model.state_dict()
    state["model.layers.1.mlp.up_proj.weight"][3, 5] = math.nan
    path = write_llama_gguf(tmp_path / "nan.gguf", config, state, BUNDLED_TOKENIZER)
    for quantized in (False, True):
        with pytest.raises(CheckpointError, match="NaN"):
            load_gguf(path, quantized=quantized)


def test_loading_leaves_nothing_of_the_files_memory_map_in_the_model(tmp_path):
    # Another program rewriting the file while it is loaded must not reach the weights (or crash the app).
    path, _ = write_model(tmp_path, tiny_config("llama", hidden=256), "Q4_0")
    lm = engine.load(str(path))
    before = logits_of(lm.model)
    path.write_bytes(b"\0" * path.stat().st_size)
    torch.testing.assert_close(logits_of(lm.model), before)


@pytest.mark.parametrize("weight_type", ["Q4_K", "Q8_0"])
def test_the_second_load_reads_the_converted_model_from_the_cache(tmp_path, monkeypatch, weight_type):
    from engine.loading import gguf_checkpoint
    from engine.loading.gguf_cache import entry_folder
    from engine.models.int4 import Int4Linear

    path, _ = write_model(tmp_path, tiny_config("llama", hidden=256, tie_word_embeddings=True), weight_type)
    first = load_gguf(path)
    assert entry_folder(path) is not None and (entry_folder(path) / "weights.safetensors").is_file()

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again instead of read from the cache")

    monkeypatch.setattr(gguf_checkpoint, "open_gguf", no_conversion)
    second = load_gguf(path)
    torch.testing.assert_close(logits_of(second.checkpoint.model), logits_of(first.checkpoint.model))
    assert second.storage == first.storage and second.parameters == first.parameters
    assert second.checkpoint.tokenizer.encode("Once upon a time") == first.checkpoint.tokenizer.encode(
        "Once upon a time")
    model = second.checkpoint.model
    if weight_type == "Q4_K":  # the tied output layer reads the file's 4-bit blocks, the embedding looks up int8 rows
        assert isinstance(model.lm_head, Int4Linear)
    else:  # the tied output layer still shares the embedding's int8 rows: held once
        assert model.lm_head.weight_int8.data_ptr() == model.model.embed_tokens.weight_int8.data_ptr()
    # Aligned as torch allocates: tensors left at the cache file's offsets crashed the int8 kernel.
    assert all(t.data_ptr() % 64 == 0 for t in [*model.parameters(), *model.buffers()])


@pytest.mark.slow
def test_a_changed_file_or_a_damaged_cache_entry_is_converted_again(tmp_path):
    from engine.loading.gguf_cache import entry_folder

    path, _ = write_model(tmp_path, tiny_config("llama", hidden=256), "Q4_0")
    load_gguf(path)
    (entry_folder(path) / "weights.safetensors").write_bytes(b"damaged")
    reference = logits_of(load_gguf(path, quantized=False).checkpoint.model)
    again = load_gguf(path)  # the damaged entry is a miss, rewritten
    assert mean_kl(reference, logits_of(again.checkpoint.model)) < 2e-3
    write_model(tmp_path, tiny_config("llama", hidden=256), "Q8_0")  # the same name, another file
    reference = logits_of(load_gguf(path, quantized=False).checkpoint.model)
    changed = load_gguf(path)
    assert changed.storage.startswith("int8")
    assert mean_kl(reference, logits_of(changed.checkpoint.model)) < 2e-3


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_GGUF.is_file(), reason="the shared SmolLM2 GGUF is not on this machine")
def test_the_shared_smollm2_file_matches_transformers_load_of_it():
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(str(SHARED_GGUF.parent), gguf_file=SHARED_GGUF.name,
                                                     dtype=torch.float32).eval()
    exact = engine.load(str(SHARED_GGUF), weights="float")
    small = engine.load(str(SHARED_GGUF))
    text = ("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
            "foolishness. Dear Sir, I am writing to let you know that the meeting has moved to Thursday.")
    tokens = torch.tensor([exact.tokenizer.encode(text)])
    expected = logits_of(reference, tokens)
    torch.testing.assert_close(logits_of(exact.model, tokens), expected, atol=1e-3, rtol=1e-3)
    assert mean_kl(expected, logits_of(small.model, tokens)) < 3e-3
    for prompt in ("I look forward to hearing from", "Could we move our meeting to", "The capital of France is",
                   "def fibonacci(n):", "Once upon a time, there was a"):
        ids = torch.tensor([exact.tokenizer.encode(prompt)])
        with torch.inference_mode():
            ours = reference.generate(ids, max_new_tokens=8, do_sample=False)[0, ids.shape[1]:].tolist()
        assert _greedy(exact.model, ids, 8)[: len(ours)] == ours, prompt  # generate stops at end-of-text


def _greedy(model: torch.nn.Module, ids: torch.Tensor, steps: int) -> list[int]:
    out: list[int] = []
    with torch.inference_mode():
        for _ in range(steps):
            token = int(logits_of(model, ids)[0, -1].argmax())
            out.append(token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out


def test_int4_layers_read_a_long_prompt_through_the_same_weights():
    # Many rows at once go through a bfloat16 copy of the weight (faster for a prompt); it must be the kernel's.
    from engine.models.int4 import DEQUANTIZE_FROM_ROWS, Int4Linear

    torch.manual_seed(0)
    codes = torch.randint(0, 16, (192, 96), dtype=torch.uint8)
    scales, lows = torch.rand(192, 3) * 0.1, torch.randn(192, 3) * 0.1
    layer = Int4Linear(codes, scales, lows, bias=torch.randn(192))
    assert torch.equal(layer.codes(), codes)
    x = torch.randn(DEQUANTIZE_FROM_ROWS + 5, 96, dtype=torch.bfloat16)
    one_by_one = torch.cat([layer(row[None]) for row in x])
    torch.testing.assert_close(layer(x).float(), one_by_one.float(), atol=0.05, rtol=0.02)


def test_a_large_model_on_the_cpu_reads_the_shorter_window(tmp_path, monkeypatch):
    from engine.decoding import token_window

    monkeypatch.setattr(token_window, "LARGE_MODEL_PARAMETERS", 1)  # the tiny test model counts as large
    monkeypatch.setattr(token_window, "LARGE_MODEL_CPU_PROMPT_TOKENS", 24)
    path, _ = write_model(tmp_path, tiny_config("llama"))
    lm = engine.load(str(path), weights="float")
    prompt = lm.generator.prepare("The quick brown fox jumps over the lazy dog. " * 40, engine.DecodingSettings())
    assert 12 <= len(prompt.tokens) <= 24


@pytest.mark.parametrize("weight_type, tied", [("Q4_0", False), ("Q8_0", False), ("Q4_0", True)])
def test_the_menus_memory_figure_is_what_inkling_models_plans(tmp_path, weight_type, tied):
    # The Model menu shows LanguageModel.weight_bytes (what is held, int4/int8 buffers included); `inkling models`
    # shows the plan read from the headers before loading: one figure in both places.
    from engine.loading.weights_plan import plan_model_weights

    path, _ = write_model(tmp_path, tiny_config("llama", hidden=256, tie_word_embeddings=tied), weight_type)
    plan = plan_model_weights(path, torch.device("cpu"))
    lm = engine.load(str(path))
    assert plan is not None and plan.storage == lm.weights.replace("int8 + int4", "int4 + int8")
    assert abs(plan.memory_bytes - lm.weight_bytes) <= 0.02 * lm.weight_bytes


def test_the_bundled_defaults_menu_figure_is_what_inkling_models_plans():
    from engine.loading.registry import resolve_model_path
    from engine.loading.weights_plan import plan_model_weights

    lm = engine.load("default")
    plan = plan_model_weights(resolve_model_path("default"), lm.device)
    assert plan is not None and plan.storage == lm.weights
    assert abs(plan.memory_bytes - lm.weight_bytes) <= 0.02 * lm.weight_bytes


def test_without_a_working_int4_kernel_4_bit_files_load_as_int8_and_say_so(tmp_path, monkeypatch):
    # A torch build or CPU whose int4 kernel fails: found by trying it once, not by a crash at the first token.
    from engine.loading.weights_plan import plan_model_weights
    from engine.models import int4
    from engine.models.int8 import Int8Linear

    def broken(*args, **kwargs):
        raise RuntimeError("_weight_int4pack_mm_for_cpu: not implemented for this CPU")

    path, _ = write_model(tmp_path, tiny_config("llama", hidden=256), "Q4_0")
    exact = load_gguf(path, quantized=False).checkpoint.model
    int4.int4_available.cache_clear()
    monkeypatch.setattr(torch, "_weight_int4pack_mm_for_cpu", broken)
    try:
        assert not int4.int4_available()
        small = load_gguf(path, quantized=True)
        plan = plan_model_weights(path, torch.device("cpu"))
    finally:
        int4.int4_available.cache_clear()
    assert isinstance(small.checkpoint.model.model.layers[0].mlp.down_proj, Int8Linear)
    assert small.storage.startswith("int8") and small.storage.endswith(int4.INT4_MISSING_NOTE)
    assert plan is not None and plan.storage == "int8" + int4.INT4_MISSING_NOTE
    assert mean_kl(logits_of(exact), logits_of(small.checkpoint.model)) < 2e-3
