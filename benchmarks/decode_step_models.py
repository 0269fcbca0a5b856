"""Decoding step cost of one model folder against another, in the same run: is a new default still instant?

Each model continues the same ~1,500-character passage of prose with greedy decoding (32 new tokens, no stop
rule, no repetition guards, no memory: the model step alone), warm: the prompt state is cached from the previous repeat, as in the editor while the user
pauses. Prints the median milliseconds per new token, the pause -> first token time of a one-character change,
and the ratio of the candidate to the reference.

    python benchmarks/decode_step_models.py --reference resources/models/default --candidate runs/default

Goal for a new bundled default: at most 1.5x the shipped default's step (docs/TRAINING.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note, sample_text

import engine
from engine.decoding.settings import DecodingSettings


def measure(folder: str, text: str, repeats: int) -> tuple[float, float]:
    """(ms per new token, ms to the first token after one more typed character), medians."""
    lm = engine.load(folder, device="cpu", dtype=torch.float32)
    settings = DecodingSettings(strategy="greedy", max_new_tokens=32, token_healing=False, memory=False,
                                no_repeat_ngram_size=0, dry_multiplier=0.0, stop=None)  # the model step alone
    per_token, first_token = [], []
    lm.complete(text, settings)  # warm: the prompt is cached from here on
    for i in range(repeats):
        started = time.perf_counter()
        result = lm.complete(text, settings)
        per_token.append((time.perf_counter() - started) / max(1, len(result[0].token_ids)))
        typed = text + "abcdefghij"[i % 10]
        started = time.perf_counter()
        stream = lm.stream(typed, settings)
        next(stream)
        first_token.append(time.perf_counter() - started)
        stream.close()
    return statistics.median(per_token) * 1000, statistics.median(first_token) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", default="default")
    parser.add_argument("--candidate", required=True)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = sample_text(200_000)[100_000:101_500]
    print(machine_note())
    rows = {name: measure(folder, text, args.repeats)
            for name, folder in (("reference", args.reference), ("candidate", args.candidate))}
    for name, (step, first) in rows.items():
        print(f"{name:<10} {getattr(args, name):<40} {step:7.2f} ms/token   first token {first:7.1f} ms")
    ratio = rows["candidate"][0] / rows["reference"][0]
    print(f"candidate / reference per token: x{ratio:.2f}   first token: "
          f"x{rows['candidate'][1] / rows['reference'][1]:.2f}")


if __name__ == "__main__":
    main()
