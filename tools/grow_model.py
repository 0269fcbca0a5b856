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
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CARRIED_FILES = ("tokenizer.json", "generation_config.json")


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
    config = json.loads((args.source / "config.json").read_text())
    if "intermediate_size" not in config:
        sys.exit(f"{args.source}: its config has no intermediate_size (only Llama-family models can be widened)")
    state = load_file(args.source / "model.safetensors")
    try:
        grown = grow_mlp(state, args.intermediate_size)
    except ValueError as exc:  # narrowing would drop what the model learned: say so, no traceback
        sys.exit(f"{args.source}: {exc}")
    args.target.mkdir(parents=True, exist_ok=True)
    config["intermediate_size"] = args.intermediate_size
    (args.target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in CARRIED_FILES:
        if (args.source / name).is_file():
            shutil.copy2(args.source / name, args.target / name)
    save_file({k: v.contiguous() for k, v in grown.items()}, args.target / "model.safetensors", metadata={"format": "pt"})
    before, after = sum(v.numel() for v in state.values()), sum(v.numel() for v in grown.values())
    print(f"{args.source} -> {args.target}: MLP {config['intermediate_size']} hidden units, "
          f"{before / 1e6:.2f}M -> {after / 1e6:.2f}M parameters")


if __name__ == "__main__":
    main()
