"""Building a model's modules without memory: shapes only, on the meta device."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.overrides import TorchFunctionMode


class _SkipInitOnMeta(TorchFunctionMode):
    """Random init of a meta tensor is a no-op; skipping it also skips the slow first-time path PyTorch takes for
    ``normal_`` on meta tensors (it imports torch._dynamo, seconds on a small CPU)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", None) in _INIT_FUNCTIONS:
            tensor = args[0] if args else kwargs.get("tensor")
            if getattr(tensor, "is_meta", False):
                return tensor
        return func(*args, **kwargs)


_INIT_FUNCTIONS = frozenset({"normal_", "uniform_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_",
                             "xavier_uniform_", "xavier_normal_", "zeros_", "ones_", "zero_", "fill_",
                             "constant_", "orthogonal_"})


@contextlib.contextmanager
def shapes_only() -> Iterator[None]:
    """Build modules on the meta device, with no memory and no random init: for a model whose weights come from a
    file, or one only checked for building (so loading never holds two full copies)."""
    with torch.device("meta"), _SkipInitOnMeta():
        yield
