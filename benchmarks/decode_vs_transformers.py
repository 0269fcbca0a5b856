"""Per-token decoding time: ours against ``transformers``' ``generate``, interleaved in one run.

One random-weight GPT-2 folder saved by ``transformers`` (6 layers, 384 wide, 4096 tokens), a 256-token prompt,
32 new tokens, CPU, 2 threads. Each repetition runs, in turn: our greedy, theirs, our beam-4 (4 alternatives),
theirs (num_beams=4, num_return_sequences=4). Per-token time = wall time of the whole call (prompt included)
divided by 32; the medians are compared. Our engine runs token-by-token steps on one thread fewer than torch's
count (``engine.decoding.threads``); rows marked "all thr." force the steps onto every thread, for comparison.
Our prefix cache is emptied before every call, so both sides read the
prompt from scratch (the warm figure, prompt already cached, is printed for information).

    python benchmarks/decode_vs_transformers.py [--repeats 15] [--threads 2]

Goal: greedy at least 1.5x faster, beam-4 at least 2.5x faster.
"""

from __future__ import annotations

import argparse
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

PROMPT_TOKENS = 256
NEW_TOKENS = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parse_args_with_threads(parser)

    from transformers import GPT2LMHeadModel

    import engine

    tokenizer = make_tokenizer(4096)
    with random_gpt2_folder(tokenizer) as folder:
        theirs = GPT2LMHeadModel.from_pretrained(folder).eval()
        ours = engine.load(str(folder), device="cpu", dtype=torch.float32)

    ids = tokenizer.encode(sample_text(20_000))[:PROMPT_TOKENS]
    prompt_text = tokenizer.decode(ids)
    ids = tokenizer.encode(prompt_text)
    assert len(ids) == PROMPT_TOKENS, len(ids)
    input_ids = torch.tensor([ids])
    attention = torch.ones_like(input_ids)
    # Plain decoding (no repetition guards, no stop rule): what transformers' generate does.
    plain = engine.DecodingSettings(strategy="greedy", max_new_tokens=NEW_TOKENS, token_healing=False,
                                    no_repeat_ngram_size=0, dry_multiplier=0.0, stop=None)
    greedy = plain
    beam = plain.replace(strategy="beam", num_beams=4, num_alternatives=4)
    generator = ours.generator

    def ours_greedy():
        generator.forget()
        return generator.complete(prompt_text, greedy)

    def ours_beam():
        generator.forget()
        return generator.complete(prompt_text, beam)

    def all_threads(run):
        def wrapped():
            generator.step_threads = args.threads
            try:
                return run()
            finally:
                generator.step_threads = None
        return wrapped

    def theirs_greedy():
        with torch.inference_mode():
            return theirs.generate(input_ids, attention_mask=attention, do_sample=False,
                                   max_new_tokens=NEW_TOKENS, pad_token_id=0)

    def theirs_beam():
        with torch.inference_mode():
            return theirs.generate(input_ids, attention_mask=attention, do_sample=False, num_beams=4,
                                   num_return_sequences=4, max_new_tokens=NEW_TOKENS, pad_token_id=0)

    # Same answers first: the comparison is only fair if both do the same work.
    reference = theirs_greedy()[0, PROMPT_TOKENS:].tolist()
    mine = list(ours_greedy()[0].token_ids)
    print("greedy tokens identical to transformers:", mine == reference)
    their_beams = {tokenizer.decode(row[PROMPT_TOKENS:].tolist()) for row in theirs_beam()}
    my_beams = {c.text for c in ours_beam()}
    print(f"beam alternatives: ours {len(my_beams)}, theirs {len(their_beams)} distinct, "
          f"{len(my_beams & their_beams)} in common")

    runs = {"ours greedy": ours_greedy, "transformers greedy": theirs_greedy,
            "ours beam-4": ours_beam, "transformers beam-4": theirs_beam,
            "ours greedy, all thr.": all_threads(ours_greedy), "ours beam-4, all thr.": all_threads(ours_beam)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    warm: list[float] = []
    for _ in range(args.repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - started) / NEW_TOKENS)
        generator.complete(prompt_text, greedy)  # prompt now cached
        started = time.perf_counter()
        generator.complete(prompt_text, greedy)
        warm.append((time.perf_counter() - started) / NEW_TOKENS)

    print(machine_note(), f"| prompt {PROMPT_TOKENS} tokens, {NEW_TOKENS} new, {args.repeats} repeats")
    for name, values in times.items():
        print(f"{name:22s} {median_ms(values):7.2f} ms/token (median)")
    print(f"{'ours greedy, warm':22s} {median_ms(warm):7.2f} ms/token (prompt already cached)")
    greedy_ratio = median_ms(times["transformers greedy"]) / median_ms(times["ours greedy"])
    beam_ratio = median_ms(times["transformers beam-4"]) / median_ms(times["ours beam-4"])
    print(f"greedy: ours is {greedy_ratio:.2f}x faster (goal >= 1.5x)")
    print(f"beam-4: ours is {beam_ratio:.2f}x faster (goal >= 2.5x)")
    # The same with decoding steps forced onto every thread (no core left free), for comparison.
    greedy_all = median_ms(times["transformers greedy"]) / median_ms(times["ours greedy, all thr."])
    beam_all = median_ms(times["transformers beam-4"]) / median_ms(times["ours beam-4, all thr."])
    print(f"with steps on all {args.threads} threads: greedy {greedy_all:.2f}x, beam-4 {beam_all:.2f}x faster")


if __name__ == "__main__":
    main()
