"""Copy a finished training run into resources/models/NAME as a bundled model: float16 weights, no resume state.

    python tools/bundle_model.py runs/default default
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from engine.loading.checkpoint import MODEL_CARD, load_checkpoint, save_checkpoint
from engine.loading.registry import bundled_models_dir

KEPT_FILES = ("training.json", "memory_weights.json")  # provenance `inkling eval` reads, the memory weights fitted
# for this model; training_state.pt stays behind


def bundle(run: Path, name: str) -> Path:
    return float16_copy(run, bundled_models_dir() / name)


def float16_copy(run: Path, destination: Path, extra_writer: Callable[[Path], None] | None = None) -> Path:
    """``run``'s model folder saved again at ``destination`` in float16, with its card and provenance;
    ``extra_writer(folder)`` adds files to the new folder before it replaces ``destination``."""
    loaded = load_checkpoint(run)
    card = (run / MODEL_CARD).read_text(encoding="utf-8") if (run / MODEL_CARD).is_file() else None

    def copy_provenance(folder: Path) -> None:
        for file in KEPT_FILES:
            if (run / file).is_file():
                shutil.copy2(run / file, folder / file)
        if extra_writer is not None:
            extra_writer(folder)

    return save_checkpoint(destination, loaded.model, loaded.tokenizer, model_card=card,
                           generation_config=loaded.generation_config or None, dtype=torch.float16,
                           extra_writer=copy_provenance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("name")
    args = parser.parse_args()
    out = bundle(args.run, args.name)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"{out}: {size:.1f} MB")


if __name__ == "__main__":
    main()
