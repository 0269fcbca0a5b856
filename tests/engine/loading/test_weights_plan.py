"""What ``inkling models`` says about a model's weights is what ``engine.load`` then does, read without loading."""

from __future__ import annotations

import pytest
import torch

import engine
import engine.language_model
import engine.loading.weights_plan
from engine.errors import ModelTooBigError
from engine.loading.checkpoint import save_checkpoint
from engine.loading.weights_plan import plan_weights
from engine.training.model_sizes import build_new_model


def _memory_bytes(model: torch.nn.Module) -> int:
    tensors = {t.data_ptr(): t.nbytes for t in [*model.parameters(), *model.buffers()] if t is not None}
    return sum(tensors.values())


@pytest.fixture
def big_enough_folder(tmp_path, tiny_tokenizer):
    torch.manual_seed(0)
    model = build_new_model("qwen3", "small", tiny_tokenizer.vocab_size, 0)  # ~20 MB in float32
    return save_checkpoint(tmp_path / "m", model, tiny_tokenizer)


@pytest.mark.skipif(not hasattr(torch, "_weight_int8pack_mm"), reason="torch without int8 kernels")
def test_the_plan_names_int8_and_the_memory_the_load_then_takes(big_enough_folder, monkeypatch):
    for module in (engine.language_model, engine.loading.weights_plan):
        monkeypatch.setattr(module, "cpu_has_bf16", lambda: True)
    config = engine.loading.checkpoint.read_config(big_enough_folder)
    plan = plan_weights(big_enough_folder, config, torch.device("cpu"))
    lm = engine.load(str(big_enough_folder), device="cpu")
    assert plan is not None and plan.storage == lm.weights == "int8"
    assert plan.parameters == lm.stored_parameters
    assert plan.memory_bytes == pytest.approx(_memory_bytes(lm.model), rel=0.03)
    assert plan.text.startswith("int8, ") and plan.text.endswith("MB")


def test_without_native_bf16_the_plan_keeps_float32(big_enough_folder, monkeypatch):
    for module in (engine.language_model, engine.loading.weights_plan):
        monkeypatch.setattr(module, "cpu_has_bf16", lambda: False)
    config = engine.loading.checkpoint.read_config(big_enough_folder)
    plan = plan_weights(big_enough_folder, config, torch.device("cpu"))
    lm = engine.load(str(big_enough_folder), device="cpu")
    assert plan is not None and plan.storage == lm.weights == "float32"
    assert plan.memory_bytes == _memory_bytes(lm.model)


def test_an_unreadable_checkpoint_has_no_plan(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    assert plan_weights(tmp_path, {"model_type": "qwen3"}, torch.device("cpu")) is None


def test_loading_refuses_a_model_bigger_than_the_free_memory_and_says_both(big_enough_folder, monkeypatch):
    monkeypatch.setattr(engine.loading.weights_plan, "available_memory_bytes", lambda: 5_000_000)
    with pytest.raises(ModelTooBigError, match=r"needs about \d+ MB to load .* only 5 MB is free"):
        engine.load(str(big_enough_folder), device="cpu")
    monkeypatch.setattr(engine.loading.weights_plan, "available_memory_bytes", lambda: None)  # unknown: not checked
    assert engine.load(str(big_enough_folder), device="cpu").stored_parameters > 0
