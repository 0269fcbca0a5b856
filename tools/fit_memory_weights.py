"""Fit the memory's mixture weights on held-out text and write them as the package default (or a model's own).

    python tools/fit_memory_weights.py --model default --chars 30000 [--start 300000] [--no-cache] FILE...

First the n-gram table, then, mixed after it, the continuous cache's weights (per bucket of the best similarity
to an earlier position, at the best of a few kernel sharpnesses); ``--no-cache`` leaves the cache out.

The shipped table was fitted on the first 30,000 characters of books that are not the evaluation books (The
Moonstone, The Wind in the Willows, Bleak House): see the note stored in the JSON file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine
from engine.memory.fitting import fit_cache_on_texts, fit_on_texts
from engine.memory.weights import DEFAULT_PATH
from engine.training.corpus import read_documents


def passage(text: str, start: int, chars: int) -> str:
    return text[start : start + chars] if len(text) >= start + chars else text[:chars]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--chars", type=int, default=30000, help="characters read from each file")
    parser.add_argument("--start", type=int, default=0,
                        help="characters skipped first: fit on passages of held-out books that the evaluation, which "
                        "reads their start, does not read (a file shorter than that is read from its start)")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH,
                        help="where to write (default: the package's global default); a model folder's "
                        "memory_weights.json is used for that model instead")
    parser.add_argument("--no-cache", action="store_true", help="fit the n-gram table only (no continuous cache)")
    args = parser.parse_args()
    lm = engine.load(args.model, device="cpu")
    # Normalised as for training and evaluation (a book's hard line wraps undone, boilerplate dropped): fitted on
    # raw files, the weights learn to trust the memory for line breaks that decoding never sees.
    texts = [passage(doc.text, args.start, args.chars) for doc in read_documents([str(f) for f in args.files])]
    where = f"characters {args.start}-{args.start + args.chars}" if args.start else f"first {args.chars} characters"
    note = (f"fitted with tools/fit_memory_weights.py on model {args.model!r}, {where} of "
            + ", ".join(file.name for file in args.files))
    weights = fit_on_texts(lm, texts, note)
    print("n-gram weights, the largest per matched length:", weights.table.max(axis=(1, 2)))
    if not args.no_cache:
        lm.memory.weights = weights
        weights = weights.with_cache(fit_cache_on_texts(lm, texts))
        print(f"continuous cache: theta {weights.cache.theta}, weights by positions seen (rows, from {weights.cache.size_edges}) and best similarity {weights.cache.weights}")
    weights.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
