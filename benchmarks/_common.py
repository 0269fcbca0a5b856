"""Shared set-up of the decoding benchmarks: a text source, a 4096-token BPE and a random GPT-2 folder.

Nothing is downloaded: the text comes from the project's training corpus when it is present (``$INKLING_CORPUS``
or /work/shared/corpus), otherwise from the Python standard library's own source files.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CORPUS_DIRS = [os.environ.get("INKLING_CORPUS", ""), "/work/shared/corpus"]


def sample_text(min_chars: int) -> str:
    """At least ``min_chars`` characters of English-like prose (deterministic)."""
    files: list[Path] = []
    for folder in filter(None, CORPUS_DIRS):
        root = Path(folder)
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in ("", ".txt"))
            if files:
                break
    if not files:  # fall back to docstrings and comments of the standard library
        files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    parts, total = [], 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="ignore").lstrip("\ufeff")
        parts.append(text)
        total += len(text)
        if total >= min_chars:
            break
    text = "\n".join(parts)
    if len(text) < min_chars:
        text = (text + "\n") * (min_chars // max(1, len(text)) + 1)
    return text


def make_tokenizer(vocab_size: int = 4096):
    from engine.training.bpe import train_bpe_tokenizer

    return train_bpe_tokenizer([sample_text(3_000_000)], vocab_size=vocab_size)


def save_random_gpt2(folder: Path, tokenizer, *, n_layer=6, n_embd=384, n_head=6, n_positions=1024, seed=0) -> Path:
    """A random-weight GPT-2 saved by ``transformers`` itself, plus our tokenizer: the folder both sides load."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=tokenizer.vocab_size, n_positions=n_positions, n_embd=n_embd,
                        n_layer=n_layer, n_head=n_head, bos_token_id=None, eos_token_id=None)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    tokenizer.backend.save(str(folder / "tokenizer.json"))
    return folder


@contextmanager
def random_gpt2_folder(tokenizer) -> Iterator[Path]:
    """``save_random_gpt2``'s default model in a temporary folder, removed on leaving the block."""
    with tempfile.TemporaryDirectory() as tmp:
        yield save_random_gpt2(Path(tmp) / "gpt2-random", tokenizer)


def save_random_qwen3(folder: Path, tokenizer, *, layers=6, width=384, heads=6, kv_heads=2, seed=0) -> Path:
    """A random-weight Qwen3 (QK-norm, grouped-query attention, SwiGLU) saved by ``transformers``, plus our
    tokenizer: the Llama/Qwen family's counterpart of ``save_random_gpt2``."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(vocab_size=tokenizer.vocab_size, hidden_size=width, intermediate_size=3 * width,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         head_dim=width // heads, max_position_embeddings=1024, tie_word_embeddings=True,
                         bos_token_id=None, eos_token_id=None)
    model = Qwen3ForCausalLM(config)
    with torch.no_grad():  # transformers initialises with std 0.02: spread the logits so the tokens vary
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0, 0.05)
    model.save_pretrained(folder)
    tokenizer.backend.save(str(folder / "tokenizer.json"))
    return folder


def parse_args_with_threads(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Adds ``--threads`` (default 2) last, parses the command line and gives torch that many threads."""
    import torch

    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def machine_note() -> str:
    import torch

    return f"python {sys.version.split()[0]}, torch {torch.__version__}, threads {torch.get_num_threads()}"


def copy_bandwidth_gb_s(megabytes: int = 1024) -> float:
    """GB/s a plain torch copy moves (bytes read + bytes written): the memory-bandwidth floor a decoding step,
    which reads every weight once, is compared with."""
    import time

    import torch

    source = torch.empty(megabytes * 1024 * 1024 // 4, dtype=torch.float32).uniform_()
    target = torch.empty_like(source)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        target.copy_(source)
        times.append(time.perf_counter() - started)
    return 2 * source.numel() * 4 / statistics.median(times) / 1e9


def run_events_until(condition, timeout_s: float) -> bool:
    """Run the Qt event loop until ``condition()`` holds (True) or ``timeout_s`` passes (False); a QApplication
    must exist. The benchmarks' GUI waits: a signal may fire before the wait begins, so they poll a condition."""
    import time

    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.perf_counter() + timeout_s
    loop = QEventLoop()
    while not condition():
        if time.perf_counter() > deadline:
            return False
        QTimer.singleShot(1, loop.quit)
        loop.exec()
    return True
