"""The model families the engine can build, keyed by ``config.json``'s ``model_type``.

Each family knows how to build a model from a config dict and how to translate state-dict keys between the
checkpoint on disk (Hugging Face naming) and our modules. A new family is one more module in ``_FAMILY_MODULES``.
"""

from __future__ import annotations

from torch import nn

from engine.models import attention_lstm_family, gemma3_family, gpt2_family, llama_family
from engine.models.family import ModelFamily

__all__ = ["FAMILIES", "ModelFamily", "family_of"]

_FAMILY_MODULES = (attention_lstm_family, gemma3_family, gpt2_family, llama_family)

FAMILIES: dict[str, ModelFamily] = {
    family.model_type: family for module in _FAMILY_MODULES for family in module.FAMILIES
}


def family_of(model: nn.Module) -> ModelFamily:
    for family in FAMILIES.values():
        if family.model_type == getattr(model, "model_type", None):
            return family
    raise TypeError(f"{type(model).__name__} belongs to no registered model family")
