"""Keep an in-progress training run small enough to commit, so that a later run (perhaps on a fresh machine)
resumes it: float16 weights, the run's step, clock, history and settings, but not the optimizer's moments
(tens of MB; they re-warm within a few dozen steps, which costs less than a bloated history).

    python tools/keep_run.py runs/default checkpoints/default
    inkling train --out checkpoints/default --resume --time MINUTES   # later, same data paths

The destination is replaced as a whole (one in-progress folder per run, overwritten each time).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.training.trainer import STATE_FILE, read_training_state
from engine.training.training_state import has_training_state, write_training_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bundle_model import float16_copy


def keep(run: Path, destination: Path) -> Path:
    if not has_training_state(run):
        raise SystemExit(f"{run} holds no training run ({STATE_FILE} is missing)")
    state = read_training_state(run)
    slim = {key: value for key, value in state.items() if key != "optimizer"}

    def write_state(folder: Path) -> None:
        write_training_state(folder, slim)

    return float16_copy(run, destination, write_state)


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
