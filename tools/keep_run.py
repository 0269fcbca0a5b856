"""Keep an in-progress training run small enough to commit, so the next session (perhaps on a fresh machine)
resumes it: float16 weights, the run's step, clock, history and settings, but not the optimizer's moments
(tens of MB; they re-warm within a few dozen steps, which costs less than a bloated history).

    python tools/keep_run.py runs/default checkpoints/default
    inkling train --out checkpoints/default --resume --time MINUTES   # next session, same data paths

The destination is replaced as a whole (one in-progress folder, overwritten, never one per session).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from engine.checkpoint import MODEL_CARD, load_checkpoint, save_checkpoint
from engine.training.trainer import STATE_FILE, TRAINING_RECORD


def keep(run: Path, destination: Path) -> Path:
    state_path = run / STATE_FILE
    if not state_path.is_file():
        raise SystemExit(f"{run} holds no training run ({STATE_FILE} is missing)")
    state = torch.load(state_path, map_location="cpu", weights_only=False)
    slim = {key: value for key, value in state.items() if key != "optimizer"}
    loaded = load_checkpoint(run)
    card = (run / MODEL_CARD).read_text(encoding="utf-8") if (run / MODEL_CARD).is_file() else None

    def write_state(folder: Path) -> None:
        torch.save(slim, folder / STATE_FILE)
        if (run / TRAINING_RECORD).is_file():
            shutil.copy2(run / TRAINING_RECORD, folder / TRAINING_RECORD)

    return save_checkpoint(destination, loaded.model, loaded.tokenizer, model_card=card,
                           generation_config=loaded.generation_config or None, dtype=torch.float16,
                           extra_writer=write_state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("destination", type=Path)
    args = parser.parse_args()
    out = keep(args.run, args.destination)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"{out}: {size:.1f} MB, resumable with `inkling train --out {out} --resume`")


if __name__ == "__main__":
    main()
