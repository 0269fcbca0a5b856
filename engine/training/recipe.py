"""What a training run optimises with, and how its learning rate moves.

Two recipes:

- ``modern`` (new Transformer models): Muon on the 2-D hidden matrices (attention and MLP projections) and AdamW
  on the embedding and the norm gains, zero-initialised output projections, and a warm-up / constant / linear-decay
  schedule. The rate stays constant until the last ``decay_share`` of the run, so a run resumed across sessions
  goes on at the rate it left off, and only its final stretch decays. Chosen by equal-wall-clock A/B runs on a
  2-core CPU (docs/TRAINING.md).
- ``classic`` (fine-tuning, GPT-2 and attention-LSTM models): AdamW with weight decay, warm-up and cosine decay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

RECIPES = ("modern", "classic")
MUON_MOMENTUM = 0.95
ADAM_BETAS = (0.9, 0.95)


class CombinedOptimizer:
    """Several optimizers stepped as one, with one ``param_groups`` list (so the schedule and clipping see all)."""

    def __init__(self, optimizers: Iterable[torch.optim.Optimizer]) -> None:
        self.optimizers = list(optimizers)

    @property
    def param_groups(self) -> list[dict]:
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    @property
    def state(self) -> dict:
        return {key: value for optimizer in self.optimizers for key, value in optimizer.state.items()}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None) -> None:
        for optimizer in self.optimizers:
            optimizer.step()

    def state_dict(self) -> dict:
        return {"kinds": [type(o).__name__ for o in self.optimizers],
                "states": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        kinds = [type(o).__name__ for o in self.optimizers]
        if state.get("kinds") != kinds:
            raise ValueError(f"the saved optimizer state is for {state.get('kinds')}, this run uses {kinds}")
        for optimizer, saved in zip(self.optimizers, state["states"]):
            optimizer.load_state_dict(saved)


def is_hidden_matrix(name: str, param: nn.Parameter) -> bool:
    """Muon's share: 2-D weights inside the layers. Embeddings and the output head stay with AdamW, since
    orthogonalising a lookup table or the logit projection has no reason to help (and Muon's authors exclude them)."""
    return param.dim() == 2 and "embed" not in name and "lm_head" not in name and "wte" not in name


def build_optimizer(model: nn.Module, recipe: str, learning_rate: float, weight_decay: float,
                    muon_lr: float) -> torch.optim.Optimizer | CombinedOptimizer:
    """The optimizer of ``recipe``; every group remembers its peak rate as ``peak_lr`` for the schedule."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if recipe == "modern":
        hidden = [p for n, p in named if is_hidden_matrix(n, p)]
        rest = [p for n, p in named if not is_hidden_matrix(n, p)]
        optimizers: list[torch.optim.Optimizer] = []
        if hidden:
            optimizers.append(torch.optim.Muon(hidden, lr=muon_lr, momentum=MUON_MOMENTUM, nesterov=True,
                                               weight_decay=0.0))
        if rest:
            optimizers.append(torch.optim.AdamW(rest, lr=learning_rate, betas=ADAM_BETAS, weight_decay=0.0))
        optimizer: torch.optim.Optimizer | CombinedOptimizer = CombinedOptimizer(optimizers)
    elif recipe == "classic":
        decay = [p for _, p in named if p.dim() >= 2]
        no_decay = [p for _, p in named if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=learning_rate, betas=ADAM_BETAS)
    else:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    for group in optimizer.param_groups:
        group["peak_lr"] = group["lr"]
    return optimizer


def lr_factor(recipe: str, step: int, progress: float, warmup: int, min_ratio: float, decay_share: float) -> float:
    """The share of the peak rate at ``step`` (``progress``: the run's fraction done, by steps or by time)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(max(progress, 0.0), 1.0)
    if recipe == "modern":
        decay_from = 1.0 - decay_share
        if decay_share <= 0 or progress <= decay_from:
            return 1.0
        return 1.0 - (1.0 - min_ratio) * (progress - decay_from) / decay_share
    return min_ratio + 0.5 * (1.0 - min_ratio) * (1 + math.cos(math.pi * progress))


def set_learning_rates(optimizer, factor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["peak_lr"] * factor


@torch.no_grad()
def initialise_modern(model: nn.Module) -> None:
    """Zero the projections that write into the residual stream (attention output, MLP down), so every layer
    starts as the identity and the embedding alone predicts at first: faster early learning in the A/B runs
    (modded-nanogpt does the same)."""
    for name, param in model.named_parameters():
        if name.endswith(("o_proj.weight", "down_proj.weight")):
            param.zero_()
