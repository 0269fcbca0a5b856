"""The modern training recipe: Muon learns, the schedule is constant then decays and resumes where it was, and the
compiled bfloat16 step falls back cleanly."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from engine.training import recipe
from engine.training.model_sizes import new_model_config
from engine.training.train_step import TrainStep, autocast_dtype
from engine.training.trainer import TrainSettings, learning_rate_factor, resolved_recipe


def _toy_regression(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    inputs = torch.randn(256, 16)
    targets = inputs[:, :4] * 2 - inputs[:, 4:8]
    return model, inputs, targets


def test_muon_on_a_toy_problem_lowers_the_loss():
    model, inputs, targets = _toy_regression()
    optimizer = torch.optim.Muon([p for p in model.parameters() if p.dim() == 2], lr=0.02, momentum=0.95,
                                 weight_decay=0.0)
    start = nn.functional.mse_loss(model(inputs), targets).item()
    for _ in range(100):
        loss = nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < start * 0.3


def test_modern_optimizer_gives_hidden_matrices_to_muon_and_the_rest_to_adamw():
    from engine.training.model_sizes import build_new_model

    model = build_new_model("qwen3", "tiny", 300, 0)
    optimizer = recipe.build_optimizer(model, "modern", 1e-2, 0.1, 0.03)
    muon, adam = optimizer.optimizers
    names = {id(p): n for n, p in model.named_parameters()}
    muon_names = {names[id(p)] for g in muon.param_groups for p in g["params"]}
    adam_names = {names[id(p)] for g in adam.param_groups for p in g["params"]}
    assert "model.layers.0.self_attn.q_proj.weight" in muon_names and "model.layers.1.mlp.down_proj.weight" in muon_names
    assert "model.embed_tokens.weight" in adam_names and "model.norm.weight" in adam_names
    assert "model.layers.0.self_attn.q_norm.weight" in adam_names
    assert not muon_names & adam_names
    assert {g["peak_lr"] for g in optimizer.param_groups} == {0.03, 1e-2}
    state = optimizer.state_dict()
    classic = recipe.build_optimizer(model, "classic", 1e-3, 0.1, 0.03)
    with pytest.raises(ValueError, match="saved optimizer state"):
        recipe.CombinedOptimizer([classic]).load_state_dict(state)


def test_schedule_warms_up_holds_then_decays_linearly():
    factor = [recipe.lr_factor("modern", step, step / 100, warmup=10, min_ratio=0.1, decay_share=0.4)
              for step in range(101)]
    assert factor[0] == pytest.approx(0.1) and factor[9] == pytest.approx(1.0)
    assert all(f == 1.0 for f in factor[10:61])
    assert factor[80] == pytest.approx(1 - 0.9 * 0.5) and factor[100] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(factor[60:]))


def test_schedule_resumes_at_the_same_rate():
    """A run stopped and resumed (progress by wall-clock time, carried in the checkpoint) continues at the rate an
    unbroken run would have at that step."""
    settings = TrainSettings(data=["x"], out="y", minutes=100, warmup_steps=10)
    assert resolved_recipe(settings) == "modern"
    unbroken = [learning_rate_factor(settings, step, step / 1000) for step in range(1000)]
    resumed = [learning_rate_factor(settings, step, step / 1000) for step in range(500, 1000)]
    assert resumed == unbroken[500:]
    assert unbroken[599] == 1.0 and unbroken[999] < 0.2


def test_fine_tuning_and_other_families_keep_the_classic_recipe():
    assert resolved_recipe(TrainSettings(data=["x"], out="y", steps=1, init="default")) == "classic"
    assert resolved_recipe(TrainSettings(data=["x"], out="y", steps=1, arch="attention-lstm")) == "classic"
    assert resolved_recipe(TrainSettings(data=["x"], out="y", steps=1, arch="gpt2")) == "classic"


def test_the_old_arch_name_transformer_means_qwen3():
    assert new_model_config("transformer", "tiny", 300, 0) == new_model_config("qwen3", "tiny", 300, 0)
    assert new_model_config("qwen3", "tiny", 300, 0)["model_type"] == "qwen3"
    assert resolved_recipe(TrainSettings(data=["x"], out="y", steps=1, arch="transformer")) == "modern"


def test_train_step_falls_back_to_eager_when_compile_fails(monkeypatch):
    lm = _TinyLM()
    optimizer = torch.optim.AdamW(lm.parameters(), lr=1e-2)

    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    notes = []
    step = TrainStep(lm, optimizer, torch.device("cpu"), grad_clip=1.0, compile=True, bf16=False, log=notes.append)
    tokens = torch.randint(0, 50, (4, 9))
    first = step(tokens[:, :-1], tokens[:, 1:]).item()
    for _ in range(20):
        last = step(tokens[:, :-1], tokens[:, 1:]).item()
    assert not step.compiled and "training eagerly" in notes[0] and len(notes) == 1
    assert last < first


def test_bf16_autocast_is_used_only_where_the_cpu_has_it(monkeypatch):
    from engine.training import train_step

    monkeypatch.setattr(train_step, "cpu_has_bf16", lambda: False)  # as imported there from engine.loading.devices
    assert autocast_dtype(torch.device("cpu")) is None
    step = TrainStep(_TinyLM(), torch.optim.SGD(_TinyLM().parameters(), lr=0.1), torch.device("cpu"),
                     grad_clip=1.0, compile=False)
    assert step.description == "eager, float32"
    monkeypatch.setattr(train_step, "cpu_has_bf16", lambda: True)
    assert autocast_dtype(torch.device("cpu")) is torch.bfloat16


class _TinyLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(50, 16)
        self.head = nn.Linear(16, 50)

    def forward(self, tokens, cache=None):
        return self.head(self.embed(tokens)), cache
