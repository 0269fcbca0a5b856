"""A Qwen2.5-0.5B-shaped model on the CPU: greedy tokens/s with float32, bfloat16 and int8 weights, against the
memory bandwidth measured in the same run.

The model (24 layers, 896 wide, GQA 14/2, MLP 4864, vocab 151936, tied; random weights) is built and saved by
``transformers`` itself and loaded with ``engine.load``, as a user's Hugging Face model would be. Each variant
decodes 32 tokens after a 64-token prompt, warm (prompt cached), medians of the repeats. A token reads every weight
once, so bytes per token / seconds per token is the achieved bandwidth; the floor is a torch copy of 1 GB.

    python benchmarks/big_model_cpu.py [--repeats 3] [--threads 2]
    python benchmarks/big_model_cpu.py --quick          # a 2-layer shape, to check the plumbing
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import copy_bandwidth_gb_s, machine_note, make_tokenizer, parse_args_with_threads

import engine
from engine.decoding.settings import DecodingSettings

QWEN_05B = {"num_hidden_layers": 24, "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
            "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 4096,
            "tie_word_embeddings": True}
QUICK = {**QWEN_05B, "num_hidden_layers": 2, "hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 4096}
NEW_TOKENS = 32


def save_model(folder: Path, shape: dict) -> Path:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**shape, bos_token_id=0, eos_token_id=0))
    model.save_pretrained(folder)
    make_tokenizer(4096).backend.save(str(folder / "tokenizer.json"))
    return folder


def weight_bytes(lm) -> int:
    return sum(t.numel() * t.element_size() for t in [*lm.model.parameters(), *lm.model.buffers()])


def tokens_per_second(lm, repeats: int) -> float:
    settings = DecodingSettings(strategy="greedy", max_new_tokens=NEW_TOKENS, token_healing=False,
                                min_word_probability=0.0, whole_words=False)
    prompt = "The history of the city begins in the year when the river changed its course, and " * 4
    lm.complete(prompt, settings)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = lm.complete(prompt, settings)
        times.append((time.perf_counter() - started) / max(1, len(result[0].token_ids)))
    return 1 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parse_args_with_threads(parser)
    print(machine_note())
    bandwidth = copy_bandwidth_gb_s(64 if args.quick else 1024)
    print(f"torch copy: {bandwidth:.1f} GB/s")
    variants = {"float32": {"dtype": torch.float32, "weights": "float"},
                "bfloat16": {"dtype": torch.bfloat16, "weights": "float"},
                "int8 (bf16 activations)": {"weights": "int8"}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_model(Path(tmp) / "qwen", QUICK if args.quick else QWEN_05B)
        base = None
        for name, options in variants.items():
            lm = engine.load(str(folder), device="cpu", **options)
            rate = tokens_per_second(lm, args.repeats)
            size = weight_bytes(lm)
            achieved = size * rate / 1e9
            base = base or rate
            print(f"{name:<26} {rate:7.2f} tokens/s  x{rate / base:.2f}   weights {size / 1e9:.2f} GB   "
                  f"{achieved:5.1f} GB/s ({achieved / bandwidth:.0%} of the copy)   floor {bandwidth / (size / 1e9):.1f} tokens/s")
            del lm


if __name__ == "__main__":
    main()
