"""Widen the MLP of a Llama-family checkpoint without changing what it computes, to keep training it larger.

The new hidden units get gate and up rows drawn at the spread of the trained rows and down-projection columns of
zero, so the grown model's logits equal the original's exactly and training starts from everything the original
learned (growing in width, as Net2Net; a wider MLP is the cheapest capacity for the CPU's decoding step, which is
bound by per-layer overhead, not by the MLP's multiplies). The optimizer state is not carried: start the run with
``inkling train --init GROWN --recipe modern``.

    python tools/grow_model.py runs/default runs/wide --intermediate-size 1536
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.errors import CheckpointError
from engine.loading.checkpoint import load_checkpoint, save_checkpoint
from engine.models.llama import LlamaTransformer


def grow_mlp(state: dict[str, torch.Tensor], intermediate_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """``state`` with every layer's MLP widened to ``intermediate_size`` hidden units, the function unchanged."""
    for key, weight in state.items():
        if key.endswith("mlp.down_proj.weight") and weight.shape[1] > intermediate_size:
            raise ValueError(f"{key} already has {weight.shape[1]} hidden units, more than {intermediate_size}")
    generator = torch.Generator().manual_seed(seed)
    grown = dict(state)
    for key, weight in state.items():
        if key.endswith(("mlp.gate_proj.weight", "mlp.up_proj.weight")):
            old, width = weight.shape
            new_rows = torch.randn(intermediate_size - old, width, generator=generator) * weight.float().std()
            grown[key] = torch.cat([weight, new_rows.to(weight.dtype)])
        elif key.endswith("mlp.down_proj.weight"):
            width, old = weight.shape
            grown[key] = torch.cat([weight, weight.new_zeros(width, intermediate_size - old)], dim=1)
    return grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a model folder (Llama-family layout with a gated MLP)")
    parser.add_argument("target", type=Path, help="the folder the grown model is written to")
    parser.add_argument("--intermediate-size", type=int, required=True)
    args = parser.parse_args()
    try:
        loaded = load_checkpoint(args.source)
    except CheckpointError as exc:
        sys.exit(str(exc))
    model = loaded.model
    if not isinstance(model, LlamaTransformer):
        sys.exit(f"{args.source}: a {loaded.config['model_type']} model has no intermediate_size to widen "
                 "(only Llama-family models can be widened)")
    state = model.state_dict()
    try:
        grown_state = grow_mlp(state, args.intermediate_size)
    except ValueError as exc:  # narrowing would drop what the model learned: say so, no traceback
        sys.exit(f"{args.source}: {exc}")
    grown = LlamaTransformer(dataclasses.replace(model.config, intermediate_size=args.intermediate_size))
    grown.load_state_dict(grown_state)
    grown.tie_weights()
    save_checkpoint(args.target, grown, loaded.tokenizer, generation_config=loaded.generation_config or None)
    before, after = sum(p.numel() for p in model.parameters()), sum(p.numel() for p in grown.parameters())
    print(f"{args.source} -> {args.target}: MLP {args.intermediate_size} hidden units, "
          f"{before / 1e6:.2f}M -> {after / 1e6:.2f}M parameters")


if __name__ == "__main__":
    main()
