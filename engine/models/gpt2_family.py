"""How GPT-2 checkpoints (Hugging Face naming, Conv1D weights) map onto ``engine.models.gpt2``."""

from __future__ import annotations

import torch
from torch import nn

from engine.models import gpt2
from engine.models.family import ModelFamily, hf_config_of

# GPT-2 checkpoints store these projections as Conv1D, i.e. [in, out]: the transpose of nn.Linear's weight.
_GPT2_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
_GPT2_SKIPPED = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers of older transformers versions


def _gpt2_import(raw: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    state = {}
    for key, tensor in raw.items():
        key = key.removeprefix("transformer.")
        if key == "lm_head.weight" or key.endswith(_GPT2_SKIPPED):
            continue  # lm_head is tied to wte
        if key.endswith(_GPT2_CONV1D) and tensor.dim() == 2:
            tensor = tensor.t()
        state[key] = tensor
    return state


def _gpt2_export(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    raw = {}
    for key, tensor in state.items():
        if key.endswith(_GPT2_CONV1D):
            tensor = tensor.t()
        raw["transformer." + key] = tensor.contiguous()
    return raw


def _gpt2_build(config: dict) -> nn.Module:
    return gpt2.GPT2Transformer(gpt2.GPT2Config.from_hf_dict(config))


FAMILIES = (
    ModelFamily(
        model_type=gpt2.MODEL_TYPE,
        architecture="Transformer (GPT-2)",
        build=_gpt2_build,
        config_to_dict=hf_config_of,
        import_state=_gpt2_import,
        export_state=_gpt2_export,
        layers_key="n_layer",
    ),
)
