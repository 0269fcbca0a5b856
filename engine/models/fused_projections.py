"""Projections that read the same input, joined into one layer: a decoder's query, key and value projections,
and its MLP's gate and up projections.

Decoding one token of a small model is bound by the number of operations, not by arithmetic: SmolLM2-135M runs
210 weight-only matrix products a token, each ~10 µs of fixed cost before any weight is read. Joining the five
input projections of a layer into two saves three of its seven products. Only quantized layers are joined (int4
or int8, which are never trained or saved), so a float model keeps the module names of its checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from engine.models.int4 import Int4Linear
from engine.models.int8 import Int8Linear


def concatenated_linear(layers: Sequence[nn.Module]) -> nn.Module | None:
    """One quantized layer computing ``layers``' outputs side by side, or None where they are not all int4 or all
    int8, or cannot be joined (see ``Int4Linear.concatenated`` and ``Int8Linear.concatenated``)."""
    kinds = {type(layer) for layer in layers}
    if kinds == {Int4Linear}:
        return Int4Linear.concatenated([layer for layer in layers if isinstance(layer, Int4Linear)])
    if kinds == {Int8Linear}:
        return Int8Linear.concatenated([layer for layer in layers if isinstance(layer, Int8Linear)])
    return None


def join_projections(owner: nn.Module, parts: tuple[str, ...], joined: str) -> bool:
    """Replace ``owner``'s layers ``parts`` by one layer ``joined`` computing their outputs side by side, where
    they are quantized alike; True when ``joined`` is there afterwards. A model rebuilt from the converted-model
    cache has ``joined`` already: the placeholders of its parts go."""
    if getattr(owner, joined) is None:
        layer = concatenated_linear([getattr(owner, name) for name in parts])
        if layer is None:
            return False
        setattr(owner, joined, layer)
    for name in parts:
        if hasattr(owner, name):
            delattr(owner, name)
    return True


def fuse_model_projections(model: nn.Module) -> int:
    """Join the quantized projections of ``model`` where its family can (its ``fuse_projections``); returns how many
    joined layers were made. A model whose joined layers were installed from a cache gets rid of the unjoined
    placeholders."""
    fuse = getattr(model, "fuse_projections", None)
    return int(fuse()) if fuse is not None else 0
