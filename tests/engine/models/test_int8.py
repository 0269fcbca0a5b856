"""Weight-only int8 decoding on the CPU: close to float32, chosen by the load rule, refused where it cannot run."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import engine
from engine.loading.checkpoint import save_checkpoint
from engine.models.int8 import CACHE_RESIDENT_BYTES, Int8Linear, int8_helps, quantize_linears
from engine.training.model_sizes import build_new_model

needs_int8 = pytest.mark.skipif(not hasattr(torch, "_weight_int8pack_mm"), reason="torch without int8 kernels")


@needs_int8
def test_int8_linear_is_within_a_percent_of_the_float_layer():
    torch.manual_seed(0)
    linear = nn.Linear(256, 96)
    x = torch.randn(5, 3, 256)
    quantized = Int8Linear(linear)
    with torch.no_grad():
        expected, got = linear(x), quantized(x).float()
    assert got.shape == expected.shape
    assert (got - expected).norm() / expected.norm() < 0.01


@needs_int8
def test_a_quantised_model_predicts_what_the_float_one_does(tmp_path, tiny_tokenizer):
    torch.manual_seed(0)
    model = build_new_model("qwen3", "tiny", tiny_tokenizer.vocab_size, 0)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0, 0.1)  # away from the zero-initialised projections, so every layer matters
    folder = save_checkpoint(tmp_path / "m", model, tiny_tokenizer)
    float_lm = engine.load(str(folder), device="cpu", weights="float")
    int8_lm = engine.load(str(folder), device="cpu", weights="int8")
    assert float_lm.weights == "float32" and int8_lm.weights == "int8"
    assert int8_lm.parameter_count == float_lm.parameter_count
    tokens = torch.randint(0, tiny_tokenizer.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        p = torch.log_softmax(float_lm.model(tokens)[0].float(), -1)
        q = torch.log_softmax(int8_lm.model(tokens)[0].float(), -1)
    kl = (p.exp() * (p - q)).sum(-1).mean().item()
    assert kl < 2e-3  # the stated tolerance (docs/TRAINING.md): mean KL per token from float32
    assert (p.argmax(-1) == q.argmax(-1)).float().mean() >= 0.9  # random weights: flips only at near-ties
    assert int8_lm.complete("The dog", engine.DecodingSettings(max_new_tokens=5))[0].text


def test_the_load_rule_quantises_only_big_linear_models_on_a_bf16_cpu():
    big = nn.Linear(1, CACHE_RESIDENT_BYTES // 4 + 1, bias=False)
    small = nn.Linear(8, 8)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    helps = int8_helps(big, "qwen3", cpu, True)
    assert helps == hasattr(torch, "_weight_int8pack_mm")
    assert not int8_helps(small, "qwen3", cpu, True)
    assert not int8_helps(big, "qwen3", cpu, False)  # without native bf16 the activations would be emulated
    assert not int8_helps(big, "qwen3", gpu, True)
    assert not int8_helps(big, "inkling-attention-lstm", cpu, True)


def test_small_models_keep_float_weights_and_bad_choices_are_refused(tiny_gpt2_folder):
    assert engine.load(str(tiny_gpt2_folder), device="cpu").weights == "float32"
    with pytest.raises(ValueError, match="weights must be"):
        engine.load(str(tiny_gpt2_folder), device="cpu", weights="int4")


@needs_int8
def test_quantize_replaces_the_linear_layers_the_kernel_can_take():
    model = nn.Sequential(nn.Linear(32, 20), nn.ReLU(), nn.Sequential(nn.Linear(20, 48, bias=False)),
                          nn.Linear(48, 3)).to(torch.bfloat16)
    assert quantize_linears(model) == 2
    kinds = [type(m).__name__ for m in model.modules() if isinstance(m, (nn.Linear, Int8Linear))]
    assert kinds == ["Int8Linear", "Linear", "Int8Linear"]  # an inner width of 20 would crash the int8 kernel
    assert model(torch.randn(3, 32).to(torch.bfloat16)).shape == (3, 3)
