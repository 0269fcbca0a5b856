"""KSR of the word-trigram baseline when its suggestions end before a doubtful word, as the app's do
(``engine.decoding.doubt``): the fair peer for the default's KSR since suggestions are cut.

    python tools/measure_trigram_doubt_cut.py [--model default] [--max-chars 4000] [--bars 0 0.1 0.2] FILE...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.loading.registry import resolve_model_path
from engine.training.evaluation import baseline_source_for, load_eval_texts, train_baseline
from engine.training.keystrokes import simulate_typing
from engine.training.trigram import WordTrigramModel


def cut_suggestion(model: WordTrigramModel, prefix: str, bar: float) -> str:
    """The trigram's greedy suggestion, ended before its first doubtful word."""
    return model.suggest(prefix, min_word_probability=bar)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--model", default="default", help="whose training data the baseline is trained on")
    parser.add_argument("--max-chars", type=int, default=4000)
    parser.add_argument("--bars", type=float, nargs="+", default=[0.0, 0.1, 0.2])
    args = parser.parse_args()
    model, _ids = train_baseline(baseline_source_for(resolve_model_path(args.model), None), log=print)
    texts = load_eval_texts(args.files, args.max_chars)
    for bar in args.bars:
        keys = characters = 0
        for item in texts:
            report = simulate_typing(lambda prefix, bar=bar: cut_suggestion(model, prefix, bar), item.text)
            keys, characters = keys + report.keys, characters + report.characters
        print(f"word trigram, suggestions cut before a word under {bar:.0%}: KSR {1 - keys / characters:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
