"""Menus and the Decoding Settings dialog: choices change what the engine is asked, and persist across runs."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from engine.decoding.settings import MAX_BEAMS, MAX_NEW_TOKENS_LIMIT, DecodingSettings
from gui.dialogs.decoding_dialog import DecodingDialog
from gui.settings.presets import PRESETS, apply_preset
from gui.settings.settings_store import APP_DEFAULT_DECODING, AppSettings
from tests.support.gui import FAST_GREEDY, type_text


def _next_request_settings(qtbot, window, monkeypatch) -> DecodingSettings:
    """Ask for a suggestion and return the settings the engine was really given."""
    seen = []
    original = window.bridge.suggest
    monkeypatch.setattr(window.bridge, "suggest",
                        lambda text, settings, suffix: seen.append(settings) or original(text, settings, suffix))
    window.editor.replace_text("Once upon a time")
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=5000):
        window.editor.request_suggestion_now()
    return seen[-1]


def test_strategy_menu_changes_the_engine_settings_and_persists(qtbot, make_window, monkeypatch, app_dirs):
    window = make_window()
    window.named_actions["decoding.strategy.beam"].trigger()
    assert _next_request_settings(qtbot, window, monkeypatch).strategy == "beam"
    saved = json.loads((app_dirs["config_dir"] / "settings.json").read_text())
    assert saved["decoding"]["strategy"] == "beam"
    window.shutdown()

    again = make_window(settings=None)
    assert again.suggestions.settings.strategy == "beam"
    assert again.named_actions["decoding.strategy.beam"].isChecked()
    assert not again.named_actions["decoding.strategy.greedy"].isChecked()


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_apply_their_values_and_tick_themselves(qtbot, make_window, monkeypatch, name):
    window = make_window()
    window.named_actions[f"decoding.preset.{name}"].trigger()
    expected = apply_preset(FAST_GREEDY, name)
    assert _next_request_settings(qtbot, window, monkeypatch) == expected
    assert expected.max_new_tokens == FAST_GREEDY.max_new_tokens  # a preset keeps the suggestion length
    assert window.named_actions[f"decoding.preset.{name}"].isChecked()
    others = [n for n in PRESETS if n != name]
    assert not any(window.named_actions[f"decoding.preset.{n}"].isChecked() for n in others)


def test_suggestion_length_menu_sets_the_stop_rule(qtbot, make_window, monkeypatch):
    window = make_window()
    window.named_actions["decoding.stop.sentence"].trigger()
    assert _next_request_settings(qtbot, window, monkeypatch).stop == "sentence"
    window.named_actions["decoding.stop.None"].trigger()
    assert window.suggestions.settings.stop is None


def test_settings_dialog_result_is_applied_and_persisted(qtbot, make_window, prompts, monkeypatch):
    window = make_window()
    chosen = DecodingSettings(strategy="sample", temperature=0.8, top_k=20, top_p=0.9, min_p=0.05, seed=7,
                              max_new_tokens=9, stop="word", repetition_penalty=1.2, no_repeat_ngram_size=2)
    prompts.decoding_answer = (chosen, 250)
    window.named_actions["decoding.settings"].trigger()
    assert prompts.names()[-1] == "edit_decoding"
    assert window.editor.debounce_ms() == 250
    assert _next_request_settings(qtbot, window, monkeypatch) == chosen
    window.shutdown()
    again = make_window(settings=None, debounce_ms=None)
    assert again.suggestions.settings == chosen
    assert again.editor.debounce_ms() == 250


def test_dialog_covers_every_field_and_round_trips(qtbot):
    original = DecodingSettings(strategy="beam", max_new_tokens=33, num_beams=6, num_alternatives=5,
                                temperature=0.65, top_k=12, top_p=0.85, min_p=0.1, repetition_penalty=1.3,
                                no_repeat_ngram_size=4, length_penalty=0.7, seed=1234, token_healing=False,
                                stop="line", memory=False, branch_first_word=False, greedy_word_ends=False,
                                min_word_probability=0.25, special_tokens=False,
                                whole_words=False, finished_word_odds=3.5)
    dialog = DecodingDialog(original, 90)
    qtbot.addWidget(dialog)
    assert dialog.settings() == original
    assert dialog.debounce_ms() == 90


def test_restore_defaults_resets_every_field_and_the_suggest_after_delay(qtbot):
    dialog = DecodingDialog(DecodingSettings(strategy="sample", temperature=1.7, max_new_tokens=40), 0)
    qtbot.addWidget(dialog)
    dialog.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert dialog.settings() == APP_DEFAULT_DECODING
    assert dialog.debounce_ms() == AppSettings().debounce_ms


def test_dialog_widgets_enforce_the_valid_ranges(qtbot):
    dialog = DecodingDialog(DecodingSettings(), 120)
    qtbot.addWidget(dialog)
    dialog.max_new_tokens.setValue(10**6)
    dialog.num_beams.setValue(10**6)
    dialog.num_alternatives.setValue(10**6)
    dialog.temperature.setValue(-3)
    dialog.top_p.setValue(0)
    dialog.min_p.setValue(5)
    dialog.repetition_penalty.setValue(0)
    dialog.top_k.setValue(-1)
    settings = dialog.settings()  # constructing DecodingSettings validates everything
    assert settings.max_new_tokens == MAX_NEW_TOKENS_LIMIT
    assert settings.num_beams == MAX_BEAMS
    assert settings.num_alternatives == MAX_BEAMS  # never more than the beams
    assert settings.temperature == 0
    assert 0 < settings.top_p <= 1
    assert 0 <= settings.min_p < 1
    assert settings.repetition_penalty > 0
    assert settings.top_k == 0
    dialog.num_beams.setValue(2)
    assert dialog.num_alternatives.value() == 2
    assert dialog.settings().num_alternatives == 2


def test_dialog_shows_the_raw_preset(qtbot):
    dialog = DecodingDialog(apply_preset(DecodingSettings(), "Raw"), 120)
    qtbot.addWidget(dialog)
    assert dialog.preset.currentData() == "Raw"
    assert not dialog.whole_words.isChecked() and not dialog.special_tokens.isChecked()


def test_dialog_presets_fill_the_widgets_and_custom_shows_when_edited(qtbot):
    dialog = DecodingDialog(DecodingSettings(), 120)
    qtbot.addWidget(dialog)
    index = dialog.preset.findData("Creative")
    dialog.preset.setCurrentIndex(index)
    dialog.preset.activated.emit(index)
    assert dialog.settings() == apply_preset(DecodingSettings(), "Creative")
    assert dialog.preset.currentData() == "Creative"
    dialog.temperature.setValue(1.7)
    assert dialog.preset.currentIndex() == 0  # "Custom"
    assert not dialog.beam_group.isEnabled() and dialog.sampling_group.isEnabled()
    assert not dialog.greedy_word_ends.isEnabled()  # a greedy-only choice
    dialog.strategy.setCurrentIndex(dialog.strategy.findData("greedy"))
    assert dialog.greedy_word_ends.isEnabled() and not dialog.sampling_group.isEnabled()



def test_dialog_greys_the_doubt_cut_where_decoding_ignores_it(qtbot):
    dialog = DecodingDialog(DecodingSettings(), 120)
    qtbot.addWidget(dialog)
    assert dialog.min_word_probability.isEnabled()  # beam search to the end of the sentence
    dialog.length.setCurrentIndex(dialog.length.findData("line"))
    assert not dialog.min_word_probability.isEnabled()
    dialog.length.setCurrentIndex(dialog.length.findData("sentence"))
    dialog.strategy.setCurrentIndex(dialog.strategy.findData("sample"))
    assert not dialog.min_word_probability.isEnabled()
    assert dialog.settings().min_word_probability is None  # left to the model, kept for when it applies again


def test_view_settings_persist_across_windows(qtbot, make_window):
    window = make_window()
    size = window.editor.point_size()
    window.named_actions["view.font_bigger"].trigger()
    window.named_actions["view.font_bigger"].trigger()
    assert window.editor.point_size() == size + 2
    window.named_actions["view.confidence"].setChecked(True)
    assert window.editor.confidence_shading()
    window.named_actions["view.suggestions"].setChecked(False)
    window.named_actions["view.theme.dark"].trigger()
    assert window.theme.is_dark()
    window.resize(700, 500)
    window.shutdown()

    again = make_window(settings=None)
    assert again.editor.point_size() == size + 2
    assert again.editor.confidence_shading() and again.named_actions["view.confidence"].isChecked()
    assert not again.editor.suggestions_enabled() and not again.named_actions["view.suggestions"].isChecked()
    assert again.named_actions["view.theme.dark"].isChecked() and again.theme.is_dark()
    assert (again.width(), again.height()) == (700, 500)  # window geometry too
    again.named_actions["view.font_reset"].trigger()
    again.named_actions["view.theme.light"].trigger()
    assert not again.theme.is_dark()
    assert again.app_settings.font_size is None


def test_confidence_shading_fades_unlikely_tokens(qtbot, make_window):
    window = make_window()
    editor = window.editor
    assert editor.ghost_color(0.05).lightness() > editor.ghost_color(0.95).lightness()  # light theme: fainter
    type_text(qtbot, editor, "The quick brown fox")
    qtbot.waitUntil(lambda: editor.pending_request is None and editor.ghost_text() != "", timeout=10000)
    [plain] = editor.textCursor().block().layout().formats()  # unshaded: one grey range over the whole ghost text
    assert (plain.length, plain.format.foreground().color()) == (len(editor.ghost_text()), editor.ghost_color())
    window.named_actions["view.confidence"].setChecked(True)
    formats = editor.textCursor().block().layout().formats()
    segments = editor.suggestion.visible_segments()
    assert len(formats) == len(segments)
    for fmt, segment in zip(formats, segments):
        assert fmt.format.foreground().color() == editor.ghost_color(segment.probability)


def test_help_menu_opens_shortcuts_and_about(qtbot, make_window, prompts):
    from gui.dialogs.about_dialog import AboutDialog
    from gui.dialogs.shortcuts_dialog import ShortcutsDialog
    from gui.shortcuts import EDITOR_SHORTCUTS

    window = make_window()
    window.named_actions["help.shortcuts"].trigger()
    window.named_actions["help.about"].trigger()
    assert prompts.names()[-2:] == ["show_shortcuts", "show_about"]
    assert prompts.calls[-1][1] is window.models.active
    shortcuts = ShortcutsDialog(window)
    qtbot.addWidget(shortcuts)
    cells = {shortcuts.table.item(r, 0).text() for r in range(shortcuts.table.rowCount())}
    assert {keys for keys, _ in EDITOR_SHORTCUTS} <= cells
    about = AboutDialog(window.models.active, window)
    qtbot.addWidget(about)
    text = about.label.text()
    assert window.models.active.device in text and "PyTorch" in text and "tiny-gpt2" in text
