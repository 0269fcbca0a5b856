"""What the quality guards cost per suggestion: DRY and the never-suggest mask against decoding without them.

A random-weight GPT-2 folder (6 layers, 384 wide, 4096 tokens; or ``--model`` for a trained one), a prompt of
``--prompt-tokens`` tokens (DRY scans the whole window for repeats, so long prompts are its worst case), the app's
default beam search (4 beams, 16 new tokens, no-repeat 3-grams) without a stop rule, so every call decodes the same
number of steps. Each repetition runs, in turn: no guard, DRY (0.8 / 1.75 / 2), a 20-word never-suggest list, and
both. The prefix cache is warm (the prompt is read once), as while typing. Medians are compared with the no-guard
run measured in the same loop. Also printed: the one-time cost of indexing the word list, and how long a coverage
calibration (32 pauses on the built-in sample) takes with these settings.

    python benchmarks/guard_overhead.py [--repeats 15] [--threads 2] [--model PATH] [--strategy beam|greedy]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note, make_tokenizer, median_ms, sample_text, save_random_gpt2

NEVER_SUGGEST = ("actually", "basically", "literally", "very", "really", "just", "thing", "things", "stuff",
                 "nice", "good", "bad", "great", "amazing", "totally", "quite", "rather", "somewhat", "maybe",
                 "perhaps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=900)
    parser.add_argument("--model", help="a model folder (default: a random GPT-2 built here)")
    parser.add_argument("--strategy", choices=("beam", "greedy"), default="beam")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import engine
    from engine.decoding.banned_words import BannedWordIndex
    from engine.quality.coverage import calibrate_coverage
    from engine.quality.coverage import sample_text as calibration_sample

    if args.model:
        lm = engine.load(args.model, device="cpu", dtype=torch.float32)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            folder = save_random_gpt2(Path(tmp) / "gpt2-random", make_tokenizer(4096))
            lm = engine.load(str(folder), device="cpu", dtype=torch.float32)
    context = min(args.prompt_tokens, (lm.max_context or 10**9) - 32)
    ids = lm.tokenizer.encode(sample_text(40_000))[:context]
    prompt = lm.tokenizer.decode(ids)

    base = engine.DecodingSettings(strategy=args.strategy, num_beams=4, num_alternatives=3, max_new_tokens=16,
                                   no_repeat_ngram_size=3, token_healing=False, dry_multiplier=0.0,
                                   stop=None, min_word_probability=0.0, whole_words=False)
    variants = {
        "no guard": base,
        "DRY": base.replace(dry_multiplier=0.8),
        "never-suggest (20 words)": base.replace(banned_words=NEVER_SUGGEST),
        "DRY + never-suggest": base.replace(dry_multiplier=0.8, banned_words=NEVER_SUGGEST),
    }
    started = time.perf_counter()
    BannedWordIndex(NEVER_SUGGEST, lm.generator.token_bytes)
    index_ms = (time.perf_counter() - started) * 1000
    for settings in variants.values():  # warm-up: the prompt is cached, the word index built
        lm.complete(prompt, settings)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, settings in variants.items():
            started = time.perf_counter()
            lm.complete(prompt, settings)
            times[name].append(time.perf_counter() - started)

    print(f"guard overhead: {lm.name}, {lm.parameter_count / 1e6:.1f}M parameters, vocab {lm.model.vocab_size}, "
          f"{len(ids)}-token prompt, {args.strategy} 16 tokens, {args.repeats} repeats; {machine_note()}")
    reference = median_ms(times["no guard"])
    for name, values in times.items():
        print(f"  {name:26s} {median_ms(values):8.1f} ms per suggestion   x{median_ms(values) / reference:.2f}")
    print(f"  indexing the 20-word list over the vocabulary (once per list): {index_ms:.0f} ms")
    settings = variants["DRY"].replace(stop="sentence")
    started = time.perf_counter()
    calibrate_coverage(lm, calibration_sample(), settings)
    print(f"  coverage calibration, 32 pauses, these settings with stop=sentence: "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
