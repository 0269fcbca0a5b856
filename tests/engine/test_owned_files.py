"""The app's own files are written atomically and never through a link or onto something that is not a file."""

from __future__ import annotations

import os
import stat
import time

import pytest

from engine.errors import InklingError
from engine.memory.index_file import write_index
from engine.memory.suffix_index import SuffixIndex
from engine.owned_files import (
    NotOwnFileError,
    owned_file,
    read_owned,
    read_owned_text,
    remove_leftover_temporaries,
    remove_owned_file,
    write_owned_file,
)
from engine.training.evaluation import update_model_card

needs_posix = pytest.mark.skipif(os.name != "posix", reason="symbolic links and modes as POSIX has them")


@pytest.fixture
def precious(tmp_path):
    """A file elsewhere that a planted link points at: it must never change."""
    target = tmp_path / "elsewhere" / "thesis.txt"
    target.parent.mkdir()
    target.write_text("Chapter 1. Years of work.", encoding="utf-8")
    return target


@needs_posix
def test_a_link_at_the_target_is_refused_and_what_it_points_at_is_unchanged(tmp_path, precious):
    link = tmp_path / ".notes.txt.inkling.json"
    link.symlink_to(precious)
    with pytest.raises(NotOwnFileError, match="symbolic link.*thesis.txt"):
        write_owned_file(link, b'{"format": "inkling-sidecar"}')
    assert precious.read_text(encoding="utf-8") == "Chapter 1. Years of work."
    assert link.is_symlink()  # the link itself is left for its owner to look at
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt.inkling.json", "elsewhere"]


@needs_posix
def test_a_dangling_link_is_refused_too(tmp_path):
    link = tmp_path / "settings.json"
    link.symlink_to(tmp_path / "would-be-created")
    with pytest.raises(NotOwnFileError):
        write_owned_file(link, b"{}")
    assert not (tmp_path / "would-be-created").exists()


@needs_posix
def test_a_non_regular_file_is_refused(tmp_path):
    fifo = tmp_path / "index.bin"
    os.mkfifo(fifo)
    with pytest.raises(NotOwnFileError, match="not a regular file"):
        write_owned_file(fifo, b"data")  # opening a FIFO for writing would block forever
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(NotOwnFileError):
        write_owned_file(tmp_path / "folder.json", b"data")


@needs_posix
def test_reading_refuses_a_link(tmp_path, precious):
    link = tmp_path / "notes.json"
    link.symlink_to(precious)
    with pytest.raises(NotOwnFileError):
        read_owned_text(link)
    with pytest.raises(FileNotFoundError):
        read_owned_text(tmp_path / "absent.json")


@needs_posix
def test_a_file_read_is_deleted_only_while_it_is_still_the_same_regular_file(tmp_path, precious):
    notes = tmp_path / ".notes.txt.inkling.json"
    notes.write_bytes(b"{}")
    data, seen = read_owned(notes)
    assert data == b"{}"
    replaced = tmp_path / "replaced.json"
    replaced.write_bytes(b"{}")
    os.replace(replaced, notes)  # another file has taken the name since it was read
    assert not remove_owned_file(notes, seen) and notes.exists()
    notes.unlink()
    notes.symlink_to(precious)
    assert not remove_owned_file(notes, seen) and notes.is_symlink()
    with pytest.raises(NotOwnFileError):
        read_owned(notes)
    notes.unlink()
    assert not remove_owned_file(notes, seen)  # gone already

    notes.write_bytes(b"{}")
    _data, seen = read_owned(notes)
    assert remove_owned_file(notes, seen) and not notes.exists()
    assert precious.read_text(encoding="utf-8") == "Chapter 1. Years of work."


def test_a_failure_while_writing_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "cache.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), owned_file(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]


@needs_posix
def test_new_files_follow_the_umask_existing_ones_keep_their_mode_private_ones_are_0600(tmp_path):
    previous = os.umask(0o027)
    try:
        write_owned_file(tmp_path / "new.txt", b"x")
        write_owned_file(tmp_path / "private.json", b"x", private=True)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / "private.json").st_mode) == 0o600
    os.chmod(tmp_path / "new.txt", 0o604)
    write_owned_file(tmp_path / "new.txt", b"y")
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o604


@needs_posix
def test_only_our_own_old_leftovers_are_removed(tmp_path, precious):
    document = tmp_path / "notes.txt"
    document.write_text("text", encoding="utf-8")
    old = time.time() - 3600
    leftovers = [tmp_path / ".notes.txt.0a1b2c3d.tmp", tmp_path / ".notes.txt.k_9zq2x1.tmp"]  # ours, mkstemp's
    for leftover in leftovers:
        leftover.write_bytes(b"half a save")
        os.utime(leftover, (old, old))
    running = tmp_path / ".notes.txt.feedbeef.tmp"  # a save in progress right now
    running.write_bytes(b"being written")
    foreign = tmp_path / ".notes.txt.backup.tmp"  # not our name pattern
    foreign.write_bytes(b"someone's")
    os.utime(foreign, (old, old))
    planted = tmp_path / ".notes.txt.00000000.tmp"
    planted.symlink_to(precious)
    os.utime(planted, (old, old), follow_symlinks=False)
    other_document = tmp_path / ".other.txt.0a1b2c3d.tmp"
    other_document.write_bytes(b"another file's")
    os.utime(other_document, (old, old))

    removed = remove_leftover_temporaries(document)

    assert sorted(removed) == sorted(leftovers)
    assert all(not p.exists() for p in leftovers)
    assert running.exists() and foreign.exists() and planted.is_symlink() and other_document.exists()
    assert precious.read_text(encoding="utf-8") == "Chapter 1. Years of work."


@needs_posix
def test_a_memory_index_is_never_written_through_a_link(tmp_path, precious):
    path = tmp_path / "memory" / "abc.index"
    path.parent.mkdir()
    path.symlink_to(precious)
    index = SuffixIndex.build([[1, 2, 3, 1, 2]], 3)
    with pytest.raises(NotOwnFileError):
        write_index(path, index, {"tokenizer": "t"})
    assert precious.read_text(encoding="utf-8") == "Chapter 1. Years of work."


@needs_posix
def test_inkling_eval_never_writes_a_model_card_through_a_link(tmp_path, precious):
    folder = tmp_path / "downloaded-model"
    folder.mkdir()
    (folder / "README.md").symlink_to(precious)
    with pytest.raises(InklingError, match="model card was not updated.*symbolic link"):
        update_model_card(folder, "bits/byte 1.4")
    assert precious.read_text(encoding="utf-8") == "Chapter 1. Years of work."
