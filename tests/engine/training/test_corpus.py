"""Finding documents: the deterministic split, skipped files with their count, the no-text error, the token cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InklingError
from engine.text_files import ScanReport, files_fingerprint
from engine.training.corpus import (
    Document,
    NoTextFound,
    is_validation,
    iter_documents,
    read_documents,
)
from engine.training.evaluation import BaselineSource, baseline_key
from engine.training.token_data import build_token_data, cached_token_data

PROSE = "The river ran past the mill and under the old stone bridge, where the children played all summer. "


def _write_books(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"book{i:02d}.txt").write_text(f"Book {i}. " + PROSE * 3, encoding="utf-8")


def test_split_is_by_document_id_only_and_the_same_on_every_run(tmp_path):
    ids = [f"text:book{i}.txt:{i:010x}" for i in range(3000)]
    first = [is_validation(Document(i, "one text", "book")) for i in ids]
    again = [is_validation(Document(i, "another text entirely", "text")) for i in ids]
    assert first == again
    assert 0.015 < sum(first) / len(first) < 0.045  # the default 3 % held out
    assert any(first) and not all(first)


def test_a_document_keeps_its_split_wherever_its_file_lies(tmp_path):
    _write_books(tmp_path / "a", 40)
    _write_books(tmp_path / "b" / "nested", 40)
    split_a = {d.id: is_validation(d, 0.2) for d in iter_documents([tmp_path / "a"])}
    split_b = {d.id: is_validation(d, 0.2) for d in iter_documents([tmp_path / "b"])}
    assert split_a == split_b
    assert any(split_a.values())


def test_binary_unreadable_and_other_files_are_skipped_and_counted(tmp_path, monkeypatch):
    _write_books(tmp_path, 2)
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4 ...")
    (tmp_path / "locked.txt").write_text("secret " * 50, encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    real_read_bytes = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    report = ScanReport()
    docs = read_documents([tmp_path], report)
    assert len(docs) == 2
    assert report.files_read == 2
    reasons = {Path(p).name: why for p, why in report.skipped.items()}
    assert set(reasons) == {"image.txt", "scan.pdf", "locked.txt"}  # nothing from .git
    assert reasons["image.txt"].startswith("binary")
    assert reasons["locked.txt"].startswith("unreadable")
    assert "3 skipped" in report.summary() and "1 binary" in report.summary()


def test_windows_1252_and_utf16_files_are_read_not_skipped(tmp_path):
    (tmp_path / "old.txt").write_bytes("Caf\u00e9 na\u00efve \u2014 r\u00e9sum\u00e9.".encode("cp1252"))
    (tmp_path / "wide.txt").write_bytes("Wide text \u00e9t\u00e9.".encode("utf-16"))
    texts = sorted(d.text for d in iter_documents([tmp_path]))
    assert texts == ["Caf\u00e9 na\u00efve \u2014 r\u00e9sum\u00e9.", "Wide text \u00e9t\u00e9."]


def test_no_text_found_names_what_was_skipped(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\x00")
    (tmp_path / "empty.txt").write_text("   \n\n", encoding="utf-8")
    with pytest.raises(NoTextFound) as caught:
        read_documents([tmp_path])
    message = str(caught.value)
    assert isinstance(caught.value, InklingError)
    assert "no text found" in message and "2 skipped" in message and ".txt and .md" in message
    with pytest.raises(NoTextFound, match="no such file or folder"):
        read_documents([tmp_path / "missing"])


def test_token_cache_is_split_by_document_and_reused(tmp_path, tiny_tokenizer):
    _write_books(tmp_path / "data", 60)
    docs = read_documents([tmp_path / "data"])
    held_out = [d for d in docs if is_validation(d, 0.1)]
    assert 0 < len(held_out) < len(docs)
    data = build_token_data([tmp_path / "data"], tiny_tokenizer, tmp_path / "cache", 0, validation_fraction=0.1)
    assert data.validation.n_documents == len(held_out)
    assert data.train.n_documents == len(docs) - len(held_out)
    assert data.validation.n_bytes == sum(len(d.text.encode()) for d in held_out)
    assert int(np.count_nonzero(np.asarray(data.validation.tokens) == 0)) == len(held_out)  # one end-of-text each
    again = cached_token_data([tmp_path / "data"], tiny_tokenizer, tmp_path / "cache", 0.1)
    assert again is not None and np.array_equal(again.train.tokens, data.train.tokens)
    (tmp_path / "data" / "book00.txt").write_text("Changed. " + PROSE * 3, encoding="utf-8")
    assert cached_token_data([tmp_path / "data"], tiny_tokenizer, tmp_path / "cache", 0.1) is None


def test_caches_follow_the_corpus_contents_not_its_timestamps(tmp_path, tiny_tokenizer):
    """A corpus copied afresh (new timestamps, same bytes) keeps its token cache and its trigram baseline; an edit
    of the same size does not."""
    _write_books(tmp_path / "data", 6)
    source = BaselineSource([str(tmp_path / "data")], 0.1, "test")
    build_token_data([tmp_path / "data"], tiny_tokenizer, tmp_path / "cache", 0, validation_fraction=0.1)
    fingerprint, key = files_fingerprint([tmp_path / "data"]), baseline_key(source)
    for file in (tmp_path / "data").iterdir():
        os.utime(file, ns=(1, 1))
    assert files_fingerprint([tmp_path / "data"]) == fingerprint
    assert baseline_key(source) == key
    assert cached_token_data([tmp_path / "data"], tiny_tokenizer, tmp_path / "cache", 0.1) is not None
    book = tmp_path / "data" / "book00.txt"
    text = book.read_text(encoding="utf-8")
    book.write_text(text.replace("a", "e", 1), encoding="utf-8")  # same size, other bytes
    assert files_fingerprint([tmp_path / "data"]) != fingerprint
    assert baseline_key(source) != key
    assert cached_token_data([tmp_path / "data"], tiny_tokenizer, tmp_path / "cache", 0.1) is None


def test_a_single_document_is_split_inside_so_validation_is_never_empty(tmp_path, tiny_tokenizer):
    (tmp_path / "only.txt").write_text(PROSE * 20, encoding="utf-8")
    data = build_token_data([tmp_path], tiny_tokenizer, tmp_path / "cache", 0)
    total = len(data.train.tokens) + len(data.validation.tokens)
    assert 0 < len(data.validation.tokens) < total / 5
    assert data.train.n_bytes + data.validation.n_bytes == len((PROSE * 20).strip().encode())
