"""Telling a device that ran out of memory from any other failure: the worker then moves the model to the CPU, the
trainer names the flag to lower."""

import pytest
import torch

from engine.loading.devices import is_out_of_memory


@pytest.mark.parametrize("exc, expected", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory"), True),
    (RuntimeError("MPS backend out of memory"), True),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8589934592 bytes"), True),
    (RuntimeError("shape mismatch"), False),
    (ValueError("out of memory"), False),
])
def test_out_of_memory_detection(exc, expected):
    assert is_out_of_memory(exc) is expected
