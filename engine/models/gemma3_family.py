"""The Gemma 3 text model type (``gemma3_text``), listed by ``engine.loading.families``.

Our module names are the Hugging Face keys, so importing a checkpoint only drops what is not a weight here.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from engine.models import gemma3
from engine.models.family import ModelFamily, hf_config_of


def _import_state(raw: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    tied = cast(gemma3.Gemma3Config, model.config).tie_word_embeddings
    # Some tied checkpoints store the shared matrix twice; the output layer is the embedding here.
    return {key: tensor for key, tensor in raw.items() if not (key == "lm_head.weight" and tied)}


def _export_state(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: tensor.contiguous() for key, tensor in state.items()}


def _build(config: dict) -> nn.Module:
    return gemma3.Gemma3Transformer(gemma3.Gemma3Config.from_hf_dict(config))


FAMILIES = (
    ModelFamily(
        model_type=gemma3.MODEL_TYPE,
        architecture="Transformer (Gemma 3)",
        build=_build,
        config_to_dict=hf_config_of,
        import_state=_import_state,
        export_state=_export_state,
    ),
)
