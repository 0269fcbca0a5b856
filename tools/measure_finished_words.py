"""How suggestions treat the word the cursor is right after, on held-out text, at a few ``finished_word_odds``.

- After a finished word (the text goes on with a space, the cursor is before it) that begins a longer word of the
  text ("to": "today"): how often the suggestion glues letters or a hyphen onto it ("Could we move our meeting
  to" -> "day,", "-day,"). Lower is better.
- Inside a word (the cursor after its first letters): how often the suggestion completes the right word, ending
  where the word ends. Higher is better.

The app's default decoding with the memory off and suggestions of at most 4 tokens (only their first word is
judged); positions are drawn with a fixed seed, so runs compare.

    python tools/measure_finished_words.py [--model default] [--positions 150] [--odds 1 2 4] FILE...
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine
from engine.training.evaluation import load_eval_texts

CONTEXT_CHARS = 1500
_WORD = re.compile(r"[A-Za-z]+")


def finished_word_prompts(text: str, count: int, rng: random.Random) -> list[str]:
    """Texts that end with a whole word the original goes on after with a space and another word, where some
    longer word of the text starts with it ("to": "today", "together"): where gluing letters on is possible."""
    vocabulary = {m.group().lower() for m in _WORD.finditer(text)}
    prefixes = {word[:length] for word in vocabulary for length in range(1, len(word))}
    ends = [m.end() for m in _WORD.finditer(text)
            if m.start() > 200 and text[m.end():m.end() + 1] == " " and text[m.end() + 1:m.end() + 2].isalpha()
            and m.group().lower() in prefixes]
    return [text[max(0, end - CONTEXT_CHARS):end] for end in rng.sample(ends, min(count, len(ends)))]


def inside_word_prompts(text: str, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(text ending inside a word, the rest of that word), for words of four letters or more."""
    words = [m for m in _WORD.finditer(text) if m.start() > 200 and len(m.group()) >= 4]
    chosen = []
    for match in rng.sample(words, min(count, len(words))):
        cut = match.start() + rng.randint(1, len(match.group()) - 2)
        chosen.append((text[max(0, cut - CONTEXT_CHARS):cut], text[cut:match.end()]))
    return chosen


def glues(suggestion: str) -> bool:
    return suggestion[:1].isalnum() or suggestion[:1] == "-"


def completes(suggestion: str, rest: str) -> bool:
    return suggestion.startswith(rest) and not suggestion[len(rest):len(rest) + 1].isalnum()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--model", default="default")
    parser.add_argument("--positions", type=int, default=150, help="of each kind")
    parser.add_argument("--odds", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    parser.add_argument("--max-chars", type=int, default=60000)
    args = parser.parse_args()
    text = "\n\n".join(item.text for item in load_eval_texts(args.files, args.max_chars))
    rng = random.Random(0)
    after = finished_word_prompts(text, args.positions, rng)
    inside = inside_word_prompts(text, args.positions, rng)
    lm = engine.load(args.model)
    print(f"model {args.model}: {len(after)} positions after a finished word, {len(inside)} inside a word")
    for odds in args.odds:
        odds_setting = {"finished_word_odds": odds} if odds != 1 else {}
        settings = engine.DecodingSettings(max_new_tokens=4, memory=False, **odds_setting)
        first = [lm.complete(prompt, settings) for prompt in after]
        glued = sum(glues(c[0].text) for c in first if c)
        second = [(lm.complete(prompt, settings), rest) for prompt, rest in inside]
        right = sum(completes(c[0].text, rest) for c, rest in second if c)
        print(f"finished_word_odds {odds:g}: glued onto a finished word {glued / len(after):.1%}; "
              f"right word completed inside a word {right / len(inside):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
