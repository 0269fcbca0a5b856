"""Tokenized corpora cached as memory-mapped arrays, so a second run skips reading and tokenizing.

The cache key covers the input files (paths, sizes, modification times), the tokenizer, the split and the version
of the normaliser, so a change to any of them builds a fresh cache instead of silently reusing a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.loading.tokenizer import TextTokenizer
from engine.text_files import ScanReport, files_fingerprint
from engine.training.corpus import Document, is_validation, read_documents
from engine.training.normalize import NORMALIZER_VERSION

_ENCODE_BATCH_DOCS = 256  # tokenizers' Encoding objects are large: encode a few documents at a time
#: A corpus of one document is split inside it: this share of its tokens, at the end, is held out.
SINGLE_DOCUMENT_VALIDATION_SHARE = 0.1


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


def cache_key(paths: Sequence[str | Path], tokenizer: TextTokenizer, validation_fraction: float) -> str:
    digest = hashlib.sha256(f"normalizer {NORMALIZER_VERSION}\n".encode())
    digest.update(files_fingerprint(paths).encode())
    digest.update(tokenizer.backend.to_str().encode())
    digest.update(f"{validation_fraction}".encode())
    return digest.hexdigest()[:16]


def cached_token_data(paths: Sequence[str | Path], tokenizer: TextTokenizer, cache_dir: str | Path,
                      validation_fraction: float = 0.03) -> TokenData | None:
    """The cached token arrays for this input, or None when they have not been built yet."""
    return _cached_in(Path(cache_dir) / cache_key(paths, tokenizer, validation_fraction))


def _cached_in(folder: Path) -> TokenData | None:
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    return _open_cached(folder, json.loads(meta_path.read_text()))


def build_token_data(
    paths: Sequence[str | Path],
    tokenizer: TextTokenizer,
    cache_dir: str | Path,
    eot_id: int,
    validation_fraction: float = 0.03,
    documents: list[Document] | None = None,
    report: ScanReport | None = None,
) -> TokenData:
    """Tokenize every document once and keep the result under ``cache_dir/<key>/``.

    ``documents`` (with the ``report`` of reading them) saves reading the files again when the caller already has
    them. Raises ``NoTextFound`` when the paths hold no usable text. Several processes (DDP ranks) may build the same
    cache at once: each writes its own staging folder and the first to finish wins.
    """
    # The key reads every file's bytes: computed once here.
    folder = Path(cache_dir) / cache_key(paths, tokenizer, validation_fraction)
    cached = _cached_in(folder)
    if cached is not None:
        return cached
    report = report if report is not None else ScanReport()
    docs = documents if documents is not None else read_documents(paths, report)
    dtype = np.uint16 if tokenizer.vocab_size <= 65535 else np.uint32
    splits: dict[str, list[np.ndarray]] = {"train": [], "validation": []}
    sizes = {"train": 0, "validation": 0}
    counts = {"train": 0, "validation": 0}
    for start in range(0, len(docs), _ENCODE_BATCH_DOCS):
        batch = docs[start : start + _ENCODE_BATCH_DOCS]
        encodings = tokenizer.backend.encode_batch([d.text for d in batch], add_special_tokens=False)
        for doc, encoding in zip(batch, encodings):
            split = "validation" if is_validation(doc, validation_fraction) else "train"
            splits[split].append(np.asarray(encoding.ids + [eot_id], dtype=dtype))
            sizes[split] += len(doc.text.encode("utf-8"))
            counts[split] += 1
    if not splits["train"]:  # everything hashed to validation: train on it and hold out a part instead
        splits["train"], splits["validation"] = splits["validation"], []
        sizes["train"], counts["train"] = sizes["validation"], counts["validation"]
    if not splits["validation"]:
        _hold_out_something(splits, sizes, counts, tokenizer)
    staging = folder.with_name(folder.name + f".tmp{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=True)
    for split, arrays in splits.items():
        np.concatenate(arrays).tofile(staging / f"{split}.bin")
    meta = {"dtype": np.dtype(dtype).name, "bytes": sizes, "documents": counts,
            "files_read": report.files_read, "skipped": report.skipped}
    (staging / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        os.replace(staging, folder)
    except OSError:  # another process finished the same cache first; theirs is identical
        shutil.rmtree(staging, ignore_errors=True)
        if not (folder / "meta.json").is_file():
            raise
    data = _open_cached(folder, json.loads((folder / "meta.json").read_text()))
    data.report = report
    return data


def _hold_out_something(splits, sizes, counts, tokenizer: TextTokenizer) -> None:
    """Tiny corpora whose hash split held out nothing (or everything): validation must never be empty.

    With several documents the last one is held out; a single document is split inside, its tail held out.
    """
    train = splits["train"]
    if len(train) > 1:
        moved = train.pop()
        moved_bytes = len(tokenizer.token_bytes_of(moved[:-1].tolist()))
        splits["validation"].append(moved)
        sizes["validation"], sizes["train"] = moved_bytes, sizes["train"] - moved_bytes
        counts["validation"], counts["train"] = 1, counts["train"] - 1
        return
    tokens = train[0]
    cut = max(1, min(len(tokens) - 2, round(len(tokens) * (1 - SINGLE_DOCUMENT_VALIDATION_SHARE))))
    head, tail = tokens[:cut], tokens[cut:]
    tail_bytes = len(tokenizer.token_bytes_of(tail[:-1].tolist()))
    splits["train"], splits["validation"] = [head], [tail]
    sizes["validation"], sizes["train"] = tail_bytes, sizes["train"] - tail_bytes
    counts["validation"] = 1


def _open_cached(folder: Path, meta: dict) -> TokenData:
    dtype = np.dtype(meta["dtype"])
    splits = {}
    for split in ("train", "validation"):
        tokens = np.memmap(folder / f"{split}.bin", dtype=dtype, mode="r")
        splits[split] = TokenSplit(tokens, meta["bytes"][split], meta["documents"][split])
    report = ScanReport(files_read=meta.get("files_read", 0), skipped=meta.get("skipped", {}))
    return TokenData(splits["train"], splits["validation"], report)
