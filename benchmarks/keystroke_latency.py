"""Time to the first streamed token after the user types one more character, cold versus warm cache.

Documents of 1k, 10k and 100k characters (prose); for each, a run of keystrokes appends the next characters of
the text one at a time. Each keystroke is measured twice, interleaved: cold (the generator's cache emptied
first) and warm (the cache holds the state the previous keystroke's request left). The stream is closed after
its first token, as the editor does when the user types on. Model: a random-weight GPT-2 (6 layers, 384 wide,
4096 tokens, 1024 positions), or ``--model`` loaded as the app loads it; CPU, default decoding settings
(greedy, token healing on, the memory of the document on: each keystroke also updates it; ``--no-memory``
measures without). "Cold" empties the model's cache only: the document memory is updated from what changed
either way.

    python benchmarks/keystroke_latency.py [--keystrokes 15] [--threads 2] [--no-memory] [--model default]

Goal: warm latency flat across document sizes (warm 100k / 10k <= 1.5), and at most a quarter of the cold latency
at 10k characters.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    machine_note,
    make_tokenizer,
    median_ms,
    parse_args_with_threads,
    random_gpt2_folder,
    sample_text,
)

SIZES = (1_000, 10_000, 100_000)


def first_token_latency(generator, text: str, settings) -> tuple[float, dict]:
    """Seconds from the request to its first event, and the prompt statistics of that request."""
    started = time.perf_counter()
    stream = generator.stream(text, settings)
    next(stream)
    elapsed = time.perf_counter() - started
    stream.close()
    return elapsed, generator.last_prefill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keystrokes", type=int, default=15)
    parser.add_argument("--no-memory", action="store_true", help="decode with the model alone")
    parser.add_argument("--model", help="a model to load as the app does (default: the random GPT-2)")
    args = parse_args_with_threads(parser)

    import engine

    if args.model:
        lm = engine.load(args.model)
        lm.warm_up()
    else:
        tokenizer = make_tokenizer(4096)
        with random_gpt2_folder(tokenizer) as folder:
            lm = engine.load(str(folder), device="cpu", dtype=torch.float32)
    generator = lm.generator
    # Greedy without guards, as when the README's figures were measured: the benchmark is about the prefix cache.
    settings = engine.DecodingSettings(strategy="greedy", no_repeat_ngram_size=0, dry_multiplier=0.0, stop=None,
                                       memory=not args.no_memory, min_word_probability=0.0)
    source = sample_text(max(SIZES) + 10 * args.keystrokes)

    print(machine_note(), f"| {args.keystrokes} keystrokes per size, median first-token latency, memory "
          f"{'off' if args.no_memory else 'on'}")
    print(f"{'document':>10} {'cold ms':>9} {'warm ms':>9} {'warm/cold':>10} {'cold read':>10} {'warm read':>10}")
    results = {}
    for size in SIZES:
        cold, warm, cold_read, warm_read = [], [], [], []
        generator.forget()
        for k in range(args.keystrokes):
            text = source[: size + k]
            generator.forget()
            seconds, prefill = first_token_latency(generator, text, settings)
            cold.append(seconds)
            cold_read.append(prefill["prefill_tokens"])
            # The cache now holds this keystroke's state; the user types one more character.
            seconds, prefill = first_token_latency(generator, source[: size + k + 1], settings)
            warm.append(seconds)
            warm_read.append(prefill["prefill_tokens"])
        results[size] = (median_ms(cold), median_ms(warm))
        print(f"{size:>10,} {median_ms(cold):>9.1f} {median_ms(warm):>9.1f} "
              f"{median_ms(warm) / median_ms(cold):>10.3f} {statistics.median(cold_read):>10.0f} "
              f"{statistics.median(warm_read):>10.0f}")
    warm_values = [w for _, w in results.values()]
    cold_10k, warm_10k = results[10_000]
    print(f"warm spread across sizes: max/min = {max(warm_values) / min(warm_values):.2f} (goal: flat)")
    print(f"warm/cold at 10k: {warm_10k / cold_10k:.3f} (goal <= 0.25)")
    print(f"warm 100k / warm 10k: {results[100_000][1] / warm_10k:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
