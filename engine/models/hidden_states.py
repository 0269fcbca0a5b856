"""The final hidden states of a forward pass: what the continuous cache (``engine.memory.hidden_cache``) keeps.

Read through a hook, so no model's ``forward`` changes shape and every family gives the same thing, the vector the
logits are made from: the output of the final norm (GPT-2's ``ln_f``, Llama/Qwen's ``model.norm``), the input of
the attention-LSTM's down-projection.
A CUDA-graph replay runs no Python hooks, so its states would be stale: decoding leaves the cache out there.
"""

from __future__ import annotations

import torch
from torch import nn


def final_state_source(model: nn.Module) -> tuple[nn.Module, bool] | None:
    """The module the final hidden state passes, and whether it is that module's output (else its input)."""
    backbone = getattr(model, "model", None)
    for owner, name, is_output in ((model, "ln_f", True), (backbone, "norm", True), (model, "down", False)):
        module = getattr(owner, name, None) if owner is not None else None
        if isinstance(module, nn.Module):
            return module, is_output
    return None


class FinalHiddenStates:
    """Keeps the final hidden states ``[batch, time, width]`` of the latest forward of ``model``."""

    def __init__(self, model: nn.Module) -> None:
        self.latest: torch.Tensor | None = None
        source = final_state_source(model)
        self._handle = None
        if source is not None:
            module, is_output = source
            self._handle = (module.register_forward_hook(self._record_output) if is_output
                            else module.register_forward_pre_hook(self._record_input))

    @property
    def available(self) -> bool:
        return self._handle is not None

    def _record_input(self, _module: nn.Module, args: tuple) -> None:
        self.latest = args[0]

    def _record_output(self, _module: nn.Module, _args: tuple, output: torch.Tensor) -> None:
        self.latest = output

    def close(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.latest = None

    def __enter__(self) -> FinalHiddenStates:  # noqa: PYI034 (the package targets Pythons without typing.Self)
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
