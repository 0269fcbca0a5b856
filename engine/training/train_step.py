"""One optimizer step, on the fastest path the machine offers: ``torch.compile`` plus bfloat16 autocast with
float32 master weights, falling back to eager, and to float32, where those are unavailable
(benchmarks/train_throughput.py measures it against a plain eager float32 loop).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from engine.decoding.fim import IGNORE_INDEX
from engine.loading.devices import cpu_has_bf16


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bfloat16 where the device computes it natively, float16 on older GPUs, None (float32) otherwise."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return None


def language_model_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits, _ = model(inputs)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE_INDEX)


class TrainStep:
    """Forward, backward, clipping and the optimizer step for one batch; returns the loss as a tensor.

    ``compile``: None compiles where it pays (CPU and CUDA), False never. A compile failure (no C++ compiler,
    an unsupported model) is reported once through ``log`` and the step goes on eagerly.
    """

    def __init__(self, model: nn.Module, optimizer, device: torch.device, *, grad_clip: float,
                 compile: bool | None = None, bf16: bool | None = None, log: Callable[[str], None] | None = None,
                 trainable: nn.Module | None = None) -> None:
        self.model = model
        self.trainable = trainable if trainable is not None else model
        self.optimizer = optimizer
        self.device = device
        self.grad_clip = grad_clip
        self.log = log or (lambda message: None)
        dtype = autocast_dtype(device)
        self.amp_dtype = None if bf16 is False or (bf16 is None and dtype is None) else (dtype or torch.bfloat16)
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        want_compile = compile if compile is not None else device.type in ("cpu", "cuda")
        self._loss = language_model_loss
        self.compiled = False
        if want_compile and hasattr(torch, "compile"):
            self._loss = torch.compile(language_model_loss)
            self.compiled = True

    @property
    def description(self) -> str:
        names: dict[torch.dtype | None, str] = {torch.bfloat16: "bfloat16 autocast", torch.float16: "float16 autocast"}
        precision = names.get(self.amp_dtype, "float32")
        return f"{'compiled' if self.compiled else 'eager'}, {precision}"

    def _forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            return self._loss(self.trainable, inputs, targets)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self.model.train()
        try:
            loss = self._forward(inputs, targets)
        except Exception as exc:
            if not self.compiled or isinstance(exc, (torch.cuda.OutOfMemoryError, KeyboardInterrupt)):
                raise
            self.log(f"torch.compile is unavailable here ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                     "training eagerly")
            self._loss, self.compiled = language_model_loss, False
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._forward(inputs, targets)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.scaler.is_enabled():
            self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return loss.detach()
