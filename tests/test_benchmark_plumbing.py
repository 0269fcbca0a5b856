"""The training-throughput benchmark's plumbing: both sides train the same shape and report positive times. The
compiled path really compiles here (on a one-layer model), so a torch or compiler change that breaks it shows."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_train_throughput_measures_both_sides_on_the_same_shape():
    import train_throughput

    threads = torch.get_num_threads()
    try:
        report = train_throughput.run(layers=1, width=64, vocab=256, batch=2, block=16, steps=2, warmup=1, threads=1)
    finally:
        torch.set_num_threads(threads)
    names = list(report["times"])
    assert names[0].startswith("eager float32") and names[1].startswith("inkling train (compiled")
    assert all(len(times) == 2 and min(times) > 0 for times in report["times"].values())
    assert report["tokens_per_step"] == 32 and report["params"] > 0
