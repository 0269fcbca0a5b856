"""Decoding step cost of one model folder against another, in the same run: is a new default still instant?

Each model continues the same ~1,500-character passage of prose with greedy decoding (32 new tokens, no stop
rule, no repetition guards, no memory: the model step alone), warm: the prompt state is cached from the previous
repeat, as in the editor while the user pauses. Both models are loaded as the app loads them (int8 weights where
that decodes faster; ``--weights float`` for float32) and measured in turns. Prints the median milliseconds per new
token, the pause -> first token time of a one-character change, and the ratio of the candidate to the reference.

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

SETTINGS = DecodingSettings(strategy="greedy", max_new_tokens=32, token_healing=False, memory=False,
                            no_repeat_ngram_size=0, dry_multiplier=0.0, stop=None,
                            min_word_probability=0.0, whole_words=False)  # the model step alone


def one_repeat(lm, text: str, typed: str) -> tuple[float, float]:
    """(seconds per new token of a warm request, seconds to the first token after one more typed character)."""
    started = time.perf_counter()
    result = lm.complete(text, SETTINGS)
    per_token = (time.perf_counter() - started) / max(1, len(result[0].token_ids))
    started = time.perf_counter()
    stream = lm.stream(typed, SETTINGS)
    next(stream)
    first_token = time.perf_counter() - started
    stream.close()
    return per_token, first_token


def measure(folders: dict[str, str], text: str, repeats: int, weights: str) -> dict[str, tuple[float, float, str]]:
    """Per model: (ms per new token, ms to the first token after a keystroke, medians; the weights' storage).

    Loaded as the app loads them (weights="auto": int8 where that decodes faster; forcing float32 measured a step
    the app never takes), and measured in turns, one repeat of each model after the other, so a slower stretch of
    a shared machine falls on both."""
    models = {name: engine.load(folder, device="cpu", weights=weights) for name, folder in folders.items()}
    for lm in models.values():
        lm.complete(text, SETTINGS)  # warm: the prompt is cached from here on
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for i in range(repeats):
        typed = text + "abcdefghij"[i % 10]
        for name, lm in models.items():
            samples[name].append(one_repeat(lm, text, typed))
    return {name: (statistics.median(s[0] for s in rows) * 1000, statistics.median(s[1] for s in rows) * 1000,
                   models[name].weights) for name, rows in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", default="default")
    parser.add_argument("--candidate", required=True)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", choices=("auto", "int8", "float"), default="auto",
                        help="how both models store their weights (auto: as the app loads them)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = sample_text(200_000)[100_000:101_500]
    print(machine_note())
    rows = measure({"reference": args.reference, "candidate": args.candidate}, text, args.repeats, args.weights)
    for name, (step, first, storage) in rows.items():
        print(f"{name:<10} {getattr(args, name):<40} {storage:<8} {step:7.2f} ms/token   first token {first:7.1f} ms")
    ratio = rows["candidate"][0] / rows["reference"][0]
    print(f"candidate / reference per token: x{ratio:.2f}   first token: "
          f"x{rows['candidate'][1] / rows['reference'][1]:.2f}")


if __name__ == "__main__":
    main()
