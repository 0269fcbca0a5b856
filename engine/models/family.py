"""What a model family is: how ``config.json``'s ``model_type`` becomes a model, and how checkpoint keys translate.

Each ``*_family.py`` next to this file offers its families as ``FAMILIES``; ``engine.loading.families`` lists
those modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


def hf_config_of(model: nn.Module) -> dict:
    """The ``config.json`` of one of our models, each of which keeps its config (with ``to_hf_dict``) as
    ``model.config``."""
    config: Any = model.config  # the family's own config class; nn.Module types attributes as Tensor | Module
    return config.to_hf_dict()


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
    #: the config.json key that counts the repeated layers (the loader sizes a config by it before building)
    layers_key: str = "num_hidden_layers"
