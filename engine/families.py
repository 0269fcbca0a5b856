"""The model families the engine can build, keyed by ``config.json``'s ``model_type``.

Each family knows how to build a model from a config dict and how to translate state-dict keys between the
checkpoint on disk (Hugging Face naming) and our modules. New families register here, nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelFamily:
    model_type: str
    architecture: str  # human name for menus: "Transformer (GPT-2)", "Attention-LSTM", ...
    build: Callable[[dict], nn.Module]
    config_to_dict: Callable[[nn.Module], dict]
    #: checkpoint tensors -> our state dict (may drop or transpose entries)
    import_state: Callable[[dict[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]]
    #: our state dict -> checkpoint tensors
    export_state: Callable[[dict[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]]


FAMILIES: dict[str, ModelFamily] = {}


def register(family: ModelFamily) -> None:
    FAMILIES[family.model_type] = family


def family_of(model: nn.Module) -> ModelFamily:
    for family in FAMILIES.values():
        if family.model_type == getattr(model, "model_type", None):
            return family
    raise TypeError(f"{type(model).__name__} belongs to no registered model family")


# Each family module registers itself when imported; a new family adds one import here.
from engine.models import (
    attention_lstm_family,  # noqa: F401
    gpt2_family,  # noqa: F401
    llama_family,  # noqa: F401
)
