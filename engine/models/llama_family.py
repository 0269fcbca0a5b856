"""The Llama-family model types (``llama``, ``qwen2``, ``qwen3``, ``mistral``), listed by
``engine.loading.families``.

Our module names are the Hugging Face keys, so importing a checkpoint only drops what is not a weight here.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from engine.models import llama
from engine.models.family import ModelFamily, hf_config_of

ARCHITECTURE_NAMES = {"llama": "Transformer (Llama)", "qwen2": "Transformer (Qwen2)", "qwen3": "Transformer (Qwen3)",
                      "mistral": "Transformer (Mistral)"}


def _import_state(raw: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    tied = cast(llama.LlamaConfig, model.config).tie_word_embeddings
    state = {}
    for key, tensor in raw.items():
        if key.endswith("rotary_emb.inv_freq"):
            continue  # older checkpoints saved the rotary buffer; we recompute it
        if key == "lm_head.weight" and tied:
            continue  # some tied checkpoints store the shared matrix twice
        state[key] = tensor
    return state


def _export_state(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: tensor.contiguous() for key, tensor in state.items()}


def _build(config: dict) -> nn.Module:
    return llama.LlamaTransformer(llama.LlamaConfig.from_hf_dict(config))


FAMILIES = tuple(
    ModelFamily(
        model_type=model_type,
        architecture=name,
        build=_build,
        config_to_dict=hf_config_of,
        import_state=_import_state,
        export_state=_export_state,
    )
    for model_type, name in ARCHITECTURE_NAMES.items()
)
