"""Bits per byte with and without the memory, on long texts: what the document memory gains.

    python tools/measure_memory_gain.py --model default --max-chars 30000 FILE...

The texts are read and cut as ``inkling eval`` reads them (normalised, cut at a word boundary); each is scored by
the model alone (``memory=False``) and with the online memory of the text before each token (``bits_per_byte``'s
default; the mixture weights learned from the text already scored unless ``--fixed-weights``). Only bits/byte: ``inkling eval --memory both`` adds keystroke savings, at many times the cost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine
from engine.training.evaluation import load_eval_texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--model", default="default")
    parser.add_argument("--max-chars", type=int, default=30000)
    parser.add_argument("--fixed-weights", action="store_true",
                        help="mix with the fitted table as it is, not learning the weights from each text")
    args = parser.parse_args()
    lm = engine.load(args.model, device="cpu")
    lm.memory.learning = not args.fixed_weights
    totals = {False: 0.0, True: 0.0}
    total_bytes = 0
    print(f"{lm.name} ({lm.architecture}); first {args.max_chars:,} characters of each text")
    for item in load_eval_texts(args.files, args.max_chars):
        n_bytes = len(item.text.encode("utf-8"))
        started = time.perf_counter()
        figures = {memory: lm.bits_per_byte(item.text, memory=memory) for memory in (False, True)}
        for memory, bits in figures.items():
            totals[memory] += bits * n_bytes
        total_bytes += n_bytes
        print(f"  {item.label:24s} model alone {figures[False]:.3f}   with memory {figures[True]:.3f}   "
              f"{figures[True] - figures[False]:+.3f}   ({time.perf_counter() - started:.0f} s)", flush=True)
    alone, mixed = totals[False] / total_bytes, totals[True] / total_bytes
    print(f"  {'all':24s} model alone {alone:.3f}   with memory {mixed:.3f}   {mixed - alone:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
