"""Tokenized corpora cached as memory-mapped arrays, so a second run skips reading and tokenizing.

The cache key covers the input files (paths, sizes, modification times), the tokenizer and the split, so a change
to any of them builds a fresh cache instead of silently reusing a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.tokenizer import TextTokenizer
from engine.training.corpus import Document, ScanReport, find_files, is_validation, iter_documents


@dataclass
class TokenSplit:
    tokens: np.ndarray  # uint16 or uint32 memmap; documents separated by the end-of-text id
    n_bytes: int  # UTF-8 bytes of the text these tokens encode, for bits/byte
    n_documents: int

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / max(1, len(self.tokens))


@dataclass
class TokenData:
    train: TokenSplit
    validation: TokenSplit
    report: ScanReport


def cache_key(paths: list[str | Path], tokenizer: TextTokenizer, validation_fraction: float) -> str:
    digest = hashlib.sha256()
    for file in find_files(paths):
        stat = file.stat()
        digest.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    digest.update(tokenizer.backend.to_str().encode())
    digest.update(f"{validation_fraction}".encode())
    return digest.hexdigest()[:16]


def build_token_data(
    paths: list[str | Path],
    tokenizer: TextTokenizer,
    cache_dir: str | Path,
    eot_id: int,
    validation_fraction: float = 0.03,
    documents: list[Document] | None = None,
) -> TokenData:
    """Tokenize every document once and keep the result under ``cache_dir/<key>/``."""
    folder = Path(cache_dir) / cache_key(paths, tokenizer, validation_fraction)
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        return _open_cached(folder, json.loads(meta_path.read_text()))
    report = ScanReport()
    docs = documents if documents is not None else list(iter_documents(paths, report))
    if not docs:
        raise ValueError(f"no text found in {', '.join(map(str, paths))} ({report.summary()})")
    dtype = np.uint16 if tokenizer.vocab_size <= 65535 else np.uint32
    splits: dict[str, list[np.ndarray]] = {"train": [], "validation": []}
    sizes = {"train": 0, "validation": 0}
    counts = {"train": 0, "validation": 0}
    encodings = tokenizer.backend.encode_batch([d.text for d in docs], add_special_tokens=False)
    for doc, encoding in zip(docs, encodings):
        split = "validation" if is_validation(doc, validation_fraction) else "train"
        splits[split].append(np.asarray(encoding.ids + [eot_id], dtype=dtype))
        sizes[split] += len(doc.text.encode("utf-8"))
        counts[split] += 1
    if not splits["validation"]:  # tiny corpora: hold out the last document so validation is never empty
        splits["validation"].append(splits["train"].pop())
        moved = docs[-1]
        sizes["validation"] += len(moved.text.encode("utf-8"))
        sizes["train"] -= len(moved.text.encode("utf-8"))
        counts["validation"], counts["train"] = 1, counts["train"] - 1
    if not splits["train"]:
        splits["train"] = list(splits["validation"])
        sizes["train"], counts["train"] = sizes["validation"], counts["validation"]
    staging = folder.with_name(folder.name + f".tmp{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=True)
    for split, arrays in splits.items():
        np.concatenate(arrays).tofile(staging / f"{split}.bin")
    meta = {"dtype": np.dtype(dtype).name, "bytes": sizes, "documents": counts,
            "files_read": report.files_read, "skipped": report.skipped}
    (staging / "meta.json").write_text(json.dumps(meta, indent=1))
    os.replace(staging, folder)
    data = _open_cached(folder, meta)
    data.report = report
    return data


def _open_cached(folder: Path, meta: dict) -> TokenData:
    dtype = np.dtype(meta["dtype"])
    splits = {}
    for split in ("train", "validation"):
        tokens = np.memmap(folder / f"{split}.bin", dtype=dtype, mode="r")
        splits[split] = TokenSplit(tokens, meta["bytes"][split], meta["documents"][split])
    report = ScanReport(files_read=meta.get("files_read", 0), skipped=meta.get("skipped", {}))
    return TokenData(splits["train"], splits["validation"], report)
