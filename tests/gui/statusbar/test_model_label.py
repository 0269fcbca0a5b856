"""ModelLabel: which model is loaded, or why none is."""

from __future__ import annotations

from gui.statusbar.model_label import ModelLabel, display_name, format_parameters


def test_parameter_counts_are_short():
    assert format_parameters(7_200_000) == "7.2M"
    assert format_parameters(124_000_000) == "124M"
    assert format_parameters(1_500_000_000) == "1.5B"
    assert format_parameters(43_000) == "43k"
    assert format_parameters(999) == "999"


def test_a_folder_shows_as_its_last_part_and_a_name_as_itself():
    assert display_name("/home/me/models/my-style") == "my-style"
    assert display_name("qwen3-inkling") == "qwen3-inkling"


def test_loading_loaded_and_missing(qtbot):
    label = ModelLabel()
    qtbot.addWidget(label)
    assert label.text().startswith("No model")
    label.show_loading("/models/tiny")
    assert label.text() == "Loading tiny…" and label.toolTip() == ""
    label.show_model("/models/tiny", "GPT-2", 43_000)
    assert label.text() == "Model: tiny"
    assert label.toolTip() == "/models/tiny\nGPT-2, 43k parameters"
    label.show_missing("the bundled default model is missing")
    assert label.text() == "No model — Model ▸ Open Model…"
    assert label.toolTip() == "the bundled default model is missing"
