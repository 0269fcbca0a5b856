"""Folders of the user's writing as memory: indexing with progress and cancel, persisted indexes that are loaded
when sound and rebuilt with a message when damaged, foreign or stale, forgetting, and their effect on
predictions, from Python and from ``inkling complete --memory``."""

from __future__ import annotations

import json

import pytest

import engine
from engine.cli import main
from engine.memory import IndexingCancelled, MemoryLibrary, MixtureWeights
from engine.memory.index_file import MAGIC
from tests.support.samples import SAMPLE_TEXT
from tests.support.settings import plain_settings

PASSAGE = "Mrs. Jellyby sat in the window, writing letters about Borrioboola-Gha to the whole of Africa. "


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("INKLING_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def writing(tmp_path):
    folder = tmp_path / "writing"
    (folder / "drafts").mkdir(parents=True)
    (folder / "chapter1.txt").write_text(PASSAGE * 3, encoding="utf-8")
    (folder / "drafts" / "notes.md").write_text(SAMPLE_TEXT, encoding="utf-8")
    (folder / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # not a text file
    (folder / "data.txt").write_bytes(b"\x00\x01\x02binary")  # named .txt, but binary
    return folder


@pytest.fixture
def library(tiny_tokenizer, data_dir):
    return MemoryLibrary(tiny_tokenizer)


def test_a_folder_is_indexed_with_progress_and_a_count_of_skipped_files(library, writing, data_dir):
    reports = []
    opened = library.open(writing, progress=lambda done, total: reports.append((done, total)))
    memory = opened.memory
    assert opened.message is None  # nothing to explain: there was no index before
    assert memory.files == 2 and memory.skipped == 2
    assert memory.text_bytes == len((PASSAGE * 3 + SAMPLE_TEXT).encode())
    assert reports[-1] == (3, 3) and [done for done, _ in reports] == sorted(done for done, _ in reports)
    assert memory.index_path.parent == data_dir / "memory"
    assert memory.index_path.stat().st_size <= 4 * memory.text_bytes + 4096
    [info] = library.folders()
    assert info.folder == writing.resolve() and info.files == 2 and info.index_bytes > 0


def test_a_sound_index_is_loaded_not_rebuilt(library, writing, monkeypatch):
    first = library.open(writing).memory
    monkeypatch.setattr(MemoryLibrary, "build", lambda *a, **k: pytest.fail("rebuilt a sound index"))
    again = library.open(writing)
    assert again.message is None
    assert again.memory.tokens == first.tokens
    tail = library.tokenizer.encode("Mrs. Jellyby sat in the")
    assert again.memory.longest(tail) == first.longest(tail)


def test_changed_files_are_indexed_again_with_a_message(library, writing):
    library.open(writing)
    (writing / "chapter2.txt").write_text("A new chapter. " * 5, encoding="utf-8")
    opened = library.open(writing)
    assert "changed" in opened.message
    assert opened.memory.files == 3


def _rewrite_header(path, change):
    data = path.read_bytes()
    end = data.index(b"\n", len(MAGIC))
    header = json.loads(data[len(MAGIC):end])
    change(header)
    path.write_bytes(MAGIC + json.dumps(header).encode() + data[end:])


@pytest.mark.parametrize("damage, reason", [
    (lambda p: p.write_bytes(p.read_bytes()[:-10]), "damaged"),
    (lambda p: p.write_bytes(p.read_bytes()[:-1] + bytes([p.read_bytes()[-1] ^ 1])), "checksum"),
    (lambda p: p.write_bytes(b"PK\x03\x04 a zip file, say"), "not an Inkling memory index"),
    (lambda p: p.write_bytes(MAGIC + b"{not json\n"), "damaged header"),
    (lambda p: _rewrite_header(p, lambda h: h.update(version=99)), "format version 99"),
    (lambda p: _rewrite_header(p, lambda h: h.update(tokenizer="0123456789abcdef")), "another tokenizer"),
], ids=["truncated", "flipped-byte", "foreign", "bad-header", "other-version", "other-tokenizer"])
def test_a_damaged_or_foreign_index_is_rebuilt_with_a_message(library, writing, damage, reason):
    path = library.open(writing).memory.index_path
    damage(path)
    opened = library.open(writing)
    assert reason in opened.message and "indexed again" in opened.message
    assert opened.memory.files == 2
    assert library.open(writing).message is None  # the rebuilt file is sound


def test_indexing_can_be_cancelled_and_writes_nothing(library, writing):
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(IndexingCancelled):
        library.open(writing, cancelled=cancelled)
    assert not library.index_path(writing).exists()
    assert library.folders() == []


def test_forget_deletes_the_index(library, writing):
    library.open(writing)
    assert library.forget(writing) is True
    assert not library.index_path(writing).exists() and library.folders() == []
    assert library.forget(writing) is False


def test_an_attached_folder_shapes_predictions_and_bits(tiny_gpt2, writing):
    tiny_gpt2.memory.weights = MixtureWeights.constant(0.97)
    alone = tiny_gpt2.bits_per_byte(PASSAGE, memory=False)
    without_folder = tiny_gpt2.bits_per_byte(PASSAGE)
    tiny_gpt2.memory.add_folder(writing)
    assert tiny_gpt2.bits_per_byte(PASSAGE) < without_folder - 1.0
    assert tiny_gpt2.bits_per_byte(PASSAGE, memory=False) == pytest.approx(alone)
    settings = plain_settings(max_new_tokens=10, token_healing=False, memory=True)
    [completion] = tiny_gpt2.complete("Mrs. Jellyby sat in the", settings)
    assert completion.text.startswith(" window, wr")
    tiny_gpt2.memory.remove_folder(writing, forget=True)
    assert tiny_gpt2.memory.folders == [] and tiny_gpt2.memory.library.folders() == []


def test_inkling_complete_remembers_a_folder(capsys, tmp_path, tiny_tokenizer, writing, data_dir):
    from tests.support.tiny_models import make_gpt2_folder

    model = str(make_gpt2_folder(tmp_path / "tiny", tiny_tokenizer))
    code = main(["complete", "--model", model, "--device", "cpu", "--max-new-tokens", "5", "--memory",
                 str(writing), "Mrs. Jellyby sat in the"])
    out = capsys.readouterr().out
    assert code == 0
    lm = engine.load(model, device="cpu")
    lm.memory.add_folder(writing)
    expected = lm.complete("Mrs. Jellyby sat in the", engine.DecodingSettings(max_new_tokens=5))  # the CLI's defaults
    assert json.dumps(expected[0].text) in out
    assert list((data_dir / "memory").glob("*.idx"))


def test_inkling_complete_refuses_a_missing_memory_folder(capsys, tmp_path, tiny_tokenizer):
    from tests.support.tiny_models import make_gpt2_folder

    model = str(make_gpt2_folder(tmp_path / "tiny", tiny_tokenizer))
    code = main(["complete", "--model", model, "--device", "cpu", "--memory", str(tmp_path / "nowhere"), "Hi"])
    assert code == 2
    assert "no such folder" in capsys.readouterr().err
