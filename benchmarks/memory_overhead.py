"""What the memory costs: a decoding step with the memory mixed in against one without, on the bundled default.

The prompt is the tail of a long document (``--doc-chars`` characters of held-out prose; the document memory holds
all of it), the prefix cache is warm as while typing, and each repetition runs the same request with
``memory=False`` and with ``memory=True`` in turn. Reported: median milliseconds per generated token for greedy,
for plain 4-beam search and for the app's default (4 beams with first-word branching), and the ratio (target
<= 1.25x). Also: one keystroke's document-memory update at the end of the document, the continuous cache's reading
of the document's states, and indexing ``--index-mb`` MB of text as a folder (time, load time, index size / text
size).

    python benchmarks/memory_overhead.py [--repeats 15] [--threads 2] [--doc-chars 30000] [--index-mb 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import CORPUS_DIRS, machine_note, median_ms, sample_text

HELD_OUT_BOOK = "gutenberg-clic/DNov/BH.txt"  # held out of the bundled models' training


def document(chars: int) -> str:
    for folder in filter(None, CORPUS_DIRS):
        book = Path(folder) / HELD_OUT_BOOK
        if book.is_file():
            return book.read_text(encoding="utf-8")[:chars]
    return sample_text(chars)[:chars]


def per_token_ms(lm, text: str, settings, repeats: int) -> tuple[dict[bool, list[float]], dict[bool, list[int]]]:
    """Milliseconds per generated token and the tokens generated, per repeat, without and with the memory."""
    times: dict[bool, list[float]] = {False: [], True: []}
    tokens: dict[bool, list[int]] = {False: [], True: []}
    for memory in (False, True):  # warm-up: the prompt cached, the document memory built
        lm.complete(text, settings.replace(memory=memory))
    while lm.generator.catch_up_states(lm.memory):  # the continuous cache (if any) holds the whole document
        pass
    for _ in range(repeats):
        for memory in (False, True):
            final = None
            for event in lm.stream(text, settings.replace(memory=memory)):
                final = event
            stats = final.stats
            steps = max(1, stats["generated_tokens"])
            times[memory].append(stats["total_s"] / steps)
            tokens[memory].append(stats["generated_tokens"])
    return times, tokens


def keystroke_update_ms(lm, text: str, repeats: int) -> float:
    memory = lm.memory
    memory.see_document(text)
    times = []
    for i in range(repeats):
        typed = text + " and" * (i + 1) + "."
        started = time.perf_counter()
        memory.see_document(typed)
        times.append(time.perf_counter() - started)
    return median_ms(times)


def cache_catch_up(lm, text: str) -> str:
    """The continuous cache: how many states the document gives, and what reading one window of them costs
    (done after a request's last event, never before its first token)."""
    memory = lm.memory
    if memory.weights.cache is None:
        return "no continuous cache in this model's memory weights"
    memory.see_document("")
    memory.see_document(text)
    times, added = [], 0
    while True:
        started = time.perf_counter()
        read = lm.generator.catch_up_states(memory)
        if not read:
            break
        times.append(time.perf_counter() - started)
        added += read
    return (f"continuous cache: {added:,} states ({memory.states.nbytes / 1e6:.1f} MB), read in windows of "
            f"{median_ms(times):.1f} ms (median)")


def index_folder(lm, megabytes: float) -> str:
    from engine.memory import MemoryLibrary

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "writing"
        folder.mkdir()
        text = sample_text(int(megabytes * 1_000_000))[: int(megabytes * 1_000_000)]
        step = 500_000
        for n, start in enumerate(range(0, len(text), step)):
            (folder / f"part{n:03}.txt").write_text(text[start : start + step], encoding="utf-8")
        library = MemoryLibrary(lm.tokenizer, root=Path(tmp) / "index")
        started = time.perf_counter()
        built = library.build(folder)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        opened = library.open(folder)
        load_s = time.perf_counter() - started
        assert opened.message is None
        size = built.index_path.stat().st_size
        return (f"indexing {built.text_bytes / 1e6:.1f} MB of text ({built.tokens:,} tokens): {build_s:.1f} s; "
                f"loading it: {load_s:.2f} s; index {size / 1e6:.1f} MB = {size / built.text_bytes:.2f}x the text")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--doc-chars", type=int, default=30_000)
    parser.add_argument("--model", default="default")
    parser.add_argument("--index-mb", type=float, default=10.0, help="0 skips the folder-indexing measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import engine

    lm = engine.load(args.model, device="cpu")
    text = document(args.doc_chars)
    print(f"memory overhead: {lm.name}, {lm.parameter_count / 1e6:.1f}M parameters, vocab {lm.model.vocab_size}, "
          f"a {len(text):,}-character document, 16 new tokens, {args.repeats} repeats; {machine_note()}")
    # DecodingSettings() alone is the app's default (4 beams with first-word branching), not greedy: say each.
    # No stop rule and no repetition guards (whose loop cut ends a suggestion too: alone, greedy's text here ends
    # after 7 tokens, "in the air" about to repeat): the memory changes the text, and a suggestion that stopped early
    # would spread the request's fixed cost over fewer tokens than one of 16, making its per-token time
    # incomparable. The guards cost the same with and without the memory. So does the cut before a doubtful word,
    # which ended the model-alone greedy text after 3 tokens.
    full = engine.DecodingSettings(max_new_tokens=16, stop=None, no_repeat_ngram_size=0, dry_multiplier=0.0,
                                   min_word_probability=0.0, whole_words=False)
    cases = {
        "greedy": full.replace(strategy="greedy"),
        "beam 4": full.replace(num_beams=4, num_alternatives=3, branch_first_word=False),
        "app default (beam 4, first-word branching)": full,
    }
    for name, settings in cases.items():
        times, tokens = per_token_ms(lm, text, settings, args.repeats)
        off, on = median_ms(times[False]), median_ms(times[True])
        print(f"  {name:44s} model alone {off:7.2f} ms/token   with memory {on:7.2f} ms/token   x{on / off:.2f}"
              f"   (tokens {min(tokens[False])}-{max(tokens[False])} / {min(tokens[True])}-{max(tokens[True])})")
    print(f"  one keystroke's document-memory update at {len(text):,} characters: "
          f"{keystroke_update_ms(lm, text, args.repeats):.2f} ms")
    print("  " + cache_catch_up(lm, text))
    if args.index_mb > 0:
        print("  " + index_folder(lm, args.index_mb))


if __name__ == "__main__":
    main()
