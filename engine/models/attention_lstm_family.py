"""Attention-LSTM checkpoints (``model_type`` "inkling-attention-lstm"): ``engine.models.attention_lstm``.

The checkpoint stores our own module names unchanged; the output projection reuses ``wte.weight`` inside the
forward, so there is no separate tied tensor to drop or restore.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.models import attention_lstm
from engine.models.family import ModelFamily, hf_config_of


def _import_state(raw: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    return dict(raw)


def _export_state(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: tensor.contiguous() for key, tensor in state.items()}


def _build(config: dict) -> nn.Module:
    return attention_lstm.AttentionLSTM(attention_lstm.AttentionLSTMConfig.from_hf_dict(config))


FAMILIES = (
    ModelFamily(
        model_type=attention_lstm.MODEL_TYPE,
        architecture="Attention-LSTM",
        build=_build,
        config_to_dict=hf_config_of,
        import_state=_import_state,
        export_state=_export_state,
        layers_key="n_layer",
    ),
)
