"""Reading a prompt without computing the vocabulary's logits at every one of its positions.

A prompt read into the cache needs the next-token logits of its last position only, but a model's ``forward``
returns them for every position: with a 49,152-token vocabulary and a 512-token prompt that output layer is most
of the work (3.4 of 6 s for the 135M SmolLM2 on one thread). Inside ``last_position_logits`` the output layer
(``lm_head``) sees only the last position's hidden state, so ``forward`` returns ``[batch, 1, vocab]``; anything
that records the hidden states themselves (the memory's continuous cache hooks the final norm) still sees them all.
Families whose output layer is not a module of its own (GPT-2, the attention-LSTM: their tied ``F.linear``) are read
as before: their vocabularies are small.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


def _last_position_only(_module: nn.Module, args: tuple) -> tuple:
    hidden = args[0]
    return (hidden[..., -1:, :], *args[1:])


@contextlib.contextmanager
def last_position_logits(model: nn.Module) -> Iterator[None]:
    """While inside, ``model``'s forward computes logits for the last position only (see the module docstring)."""
    head = getattr(model, "lm_head", None)
    if not isinstance(head, nn.Module):
        yield
        return
    handle = head.register_forward_pre_hook(_last_position_only)
    try:
        yield
    finally:
        handle.remove()


