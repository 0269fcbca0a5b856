"""An author's other books as memory, against "Learn from My Writing" (fine-tuning on them), and both together,
measured on a book of theirs that neither saw.

    python tools/measure_author_memory.py --model default --writing GE.txt OT.txt TTC.txt --text BH.txt \\
        --minutes 3 --bpb-chars 30000 --ksr-chars 2000

Rows: the model alone; with the memory of the document (the app's default); with the document and the author's
books as a remembered folder (Model > Memory > Add Folder...); the model fine-tuned on those books exactly as the
app's Learn from My Writing does (same job and defaults, in a temporary folder), with the document memory; and the
fine-tuned model with both memories. Bits/byte on the first --bpb-chars characters of --text (cut as ``inkling eval``
cuts), keystroke savings (``inkling eval``'s typist, suggestions of up to 3 words) on the first --ksr-chars.
The folder index and the fine-tuned model live in a temporary folder, never in the user's data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class _Context:
    def cancelled(self) -> bool:
        return False

    def progress(self, payload: dict) -> None:
        if "message" in payload:
            print(f"  {payload['message']}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--writing", nargs="+", required=True, help="the author's other books (files)")
    parser.add_argument("--text", required=True, help="the author's book that is measured")
    parser.add_argument("--minutes", type=float, default=3.0, help="fine-tuning time (the app's default: 3)")
    parser.add_argument("--bpb-chars", type=int, default=30000)
    parser.add_argument("--ksr-chars", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="inkling-author-"))
    os.environ["INKLING_USER_MODELS"] = str(scratch / "models")
    os.environ["INKLING_CACHE_DIR"] = str(scratch / "cache")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    import engine
    from engine.jobs.fine_tune import FineTunePlan, fine_tune_job, start_run
    from engine.loading.registry import resolve_model_path
    from engine.training.evaluation import evaluate_model, load_eval_texts

    books = scratch / "books"
    books.mkdir()
    for file in args.writing:
        shutil.copy(file, books / Path(file).name)
    bpb_texts = load_eval_texts([args.text], args.bpb_chars)
    ksr_texts = load_eval_texts([args.text], args.ksr_chars)

    def bits(lm, memory: bool) -> float:
        return lm.bits_per_byte(bpb_texts[0].text, memory=memory)

    def figures(lm, with_folder: bool) -> list[tuple[str, float, float]]:
        """(memory, bits/byte, KSR) rows for ``lm``: without memory and with the document's, or with the
        document's and the author's books."""
        if with_folder:
            lm.memory.set_library_root(scratch / "memory")
            lm.memory.add_folder(books)
            row = ("document + author's books", bits(lm, True), evaluate_model(lm, ksr_texts, memory="on").model.ksr)
            lm.memory.remove_folder(books)
            return [row]
        keys = evaluate_model(lm, ksr_texts, memory="both")
        return [("none", bits(lm, False), keys.model_alone.ksr), ("document", bits(lm, True), keys.model.ksr)]

    started = time.perf_counter()
    base = engine.load(args.model, device="cpu")
    rows = [("start model", *row) for row in figures(base, False) + figures(base, True)]
    plan = FineTunePlan(name="author", data=[str(books)], base_model=str(resolve_model_path(args.model)),
                        minutes=args.minutes)
    outcome = fine_tune_job(start_run(plan, scratch / "data"))(base, _Context())
    print(f"fine-tuned {outcome.steps} steps ({outcome.tokens_seen:,} tokens) on {outcome.device}; validation "
          f"bits/byte {outcome.validation_bpb_before:.3f} -> {outcome.validation_bpb_after:.3f}", file=sys.stderr)
    tuned = engine.load(str(outcome.model_path), device="cpu")
    rows += [("fine-tuned", *row) for row in figures(tuned, False)[1:] + figures(tuned, True)]

    print(f"{base.name}; measured on {Path(args.text).name}: bits/byte on {len(bpb_texts[0].text):,} characters, "
          f"KSR on {len(ksr_texts[0].text):,}; the author's books: "
          f"{', '.join(Path(f).name for f in args.writing)}; {time.perf_counter() - started:.0f} s")
    print("| model | memory | bits/byte | KSR |\n|---|---|---|---|")
    for model, memory, bits, ksr in rows:
        print(f"| {model} | {memory} | {bits:.3f} | {ksr:.1%} |")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
