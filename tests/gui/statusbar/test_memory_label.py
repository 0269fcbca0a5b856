"""MemoryLabel: whether the memory is on and how large it is, or how far indexing has got."""

from __future__ import annotations

from engine.memory.jobs import FolderSummary, MemoryState
from gui.statusbar.memory_label import MemoryLabel


def _state(document: bool, *folders: FolderSummary) -> MemoryState:
    return MemoryState(document=document, document_tokens=1234, folders=tuple(folders))


def test_the_label_sums_up_the_memory_and_its_tooltip_lists_it(qtbot):
    label = MemoryLabel()
    qtbot.addWidget(label)
    assert label.text() == "Memory: doc"  # before the engine has reported
    label.show_state(_state(True, FolderSummary("/home/me/novel", files=3, skipped=0, text_bytes=2_500_000,
                                                 tokens=600_000)))
    assert label.text() == "Memory: doc + 1 folder, 2.5 MB"
    assert label.toolTip() == "This document: on (1,234 tokens)\n/home/me/novel: 3 files, 2.5 MB"
    label.show_state(_state(False))
    assert label.text() == "Memory: nothing"


def test_indexing_progress_and_memory_switched_off_in_the_decoding_settings(qtbot):
    label = MemoryLabel()
    qtbot.addWidget(label)
    label.show_indexing("/home/me/novel", 2, 5)
    assert label.text() == "Memory: indexing novel 2/5…"
    label.set_decoding_memory(False)
    assert label.text() == "Memory off" and "switched off" in label.toolTip()
    label.set_decoding_memory(True)
    assert label.text() == "Memory: doc"
