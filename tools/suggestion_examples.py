"""Everyday prompts and what each model suggests after them, as the app's default decoding gives them: a Markdown
table for the README, one column per model.

    python tools/suggestion_examples.py --model default --model /path/to/SmolLM2-135M-Instruct.Q4_1.gguf
"""

from __future__ import annotations

import argparse
from pathlib import Path

PROMPTS = (
    "I look forward to hearing from",
    "Could we move our meeting to",
    "Dear Sir, I am writing to",
    "Thank you so much for your",
    "Please send it to",
    "Once upon a time, there was a",
    "The results of the study suggest that",
    "The police said the suspect was arrested on",
    "To install the package, run",
    "She opened the letter and read",
)


def suggestion_table(models: list[str], prompts: tuple[str, ...] = PROMPTS) -> str:
    import engine

    loaded = [engine.load(name) for name in models]
    header = "| Prompt | " + " | ".join(Path(name).name for name in models) + " |"
    lines = [header, "|" + "---|" * (len(models) + 1)]
    for prompt in prompts:
        cells = []
        for lm in loaded:
            completions = lm.complete(prompt)
            cells.append(completions[0].text.replace("|", "\\|").replace("\n", "⏎") if completions else "(none)")
        lines.append(f"| {prompt} | " + " | ".join(f"`{cell}`" for cell in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, help="a model name or path (repeat)")
    args = parser.parse_args()
    print(suggestion_table(args.model))


if __name__ == "__main__":
    main()
