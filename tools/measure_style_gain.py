"""What "Learn from My Writing" buys on a text it did not train on: the in-app evaluation before and after.

    python tools/measure_style_gain.py --model runs/default --writing MY_FOLDER --text HELD_OUT.md --minutes 3

Fine-tunes a copy of --model on --writing exactly as the app does (same job, same defaults; the model and its
tokenized data go to a temporary folder, never to your models), then measures both models on --text with the
app's evaluation (greedy, 8-token suggestions, no stop rule) and prints the figures side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


class _Context:
    def cancelled(self) -> bool:
        return False

    def progress(self, payload: dict) -> None:
        if "message" in payload:
            print(f"  {payload['message']}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model name or folder to start from")
    parser.add_argument("--writing", nargs="+", required=True, help="folders or files of 'your' writing")
    parser.add_argument("--text", required=True, help="a held-out document to evaluate on")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--max-chars", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="inkling-style-"))
    os.environ["INKLING_USER_MODELS"] = str(scratch / "models")
    os.environ["INKLING_CACHE_DIR"] = str(scratch / "cache")
    import torch

    torch.set_num_threads(args.threads)
    import engine
    from engine.decoding.settings import DecodingSettings
    from engine.jobs.document_eval import evaluate_texts
    from engine.jobs.fine_tune import FineTunePlan, fine_tune_job, start_run
    from engine.loading.registry import resolve_model_path
    from engine.training.evaluation import load_eval_texts

    settings = DecodingSettings(strategy="greedy", max_new_tokens=8, stop=None)
    texts = [t.text for t in load_eval_texts([args.text], args.max_chars)]
    base = engine.load(args.model, device="auto")
    plan = FineTunePlan(name="style", data=list(args.writing), base_model=str(resolve_model_path(args.model)),
                        minutes=args.minutes)
    started = time.perf_counter()
    outcome = fine_tune_job(start_run(plan, scratch / "data"))(base, _Context())
    print(f"fine-tuned {outcome.steps} steps ({outcome.tokens_seen:,} tokens) in {time.perf_counter() - started:.0f} s "
          f"on {outcome.device}; validation bits/byte {outcome.validation_bpb_before:.3f} -> "
          f"{outcome.validation_bpb_after:.3f}")
    tuned = engine.load(str(outcome.model_path), device=str(base.device))
    rows = [("start model", evaluate_texts(base, texts, settings)), ("fine-tuned", evaluate_texts(tuned, texts, settings))]
    print(f"\n{Path(args.text).name}, {rows[0][1].characters:,} characters, {settings.strategy} "
          f"{settings.max_new_tokens} tokens")
    print(f"{'':14}{'KSR':>8}{'EM@1':>8}{'EM@3':>8}{'EM@5':>8}{'bits/byte':>11}{'p50 ms':>9}{'p90 ms':>9}")
    for label, f in rows:
        print(f"{label:14}{f.ksr:>8.1%}{f.exact_match[1]:>8.1%}{f.exact_match[3]:>8.1%}{f.exact_match[5]:>8.1%}"
              f"{f.bits_per_byte:>11.3f}{f.latency_p50_s * 1000:>9.1f}{f.latency_p90_s * 1000:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
