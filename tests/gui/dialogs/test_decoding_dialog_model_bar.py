"""The doubt cut's bar in Decoding ▸ Settings: "the model's (N%)" where the settings leave it to the model, a
value the writer sets instead, and the loaded model's bar handed to the dialog."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QDialogButtonBox

from engine.decoding.settings import DecodingSettings
from gui.dialogs.decoding_dialog import DecodingDialog


def _dialog(qtbot, settings: DecodingSettings, model_bar: float) -> DecodingDialog:
    dialog = DecodingDialog(settings, 120, model_bar=model_bar)
    qtbot.addWidget(dialog)
    return dialog


def test_a_bar_left_to_the_model_shows_the_models(qtbot):
    dialog = _dialog(qtbot, DecodingSettings(), 0.05)
    assert dialog.model_word_probability.isChecked()
    assert dialog.model_word_probability.text() == "the model's (5%)"
    assert dialog.min_word_probability.value() == 0.05
    assert dialog.settings().min_word_probability is None


def test_a_bar_the_writer_set_is_shown_as_theirs(qtbot):
    dialog = _dialog(qtbot, DecodingSettings(min_word_probability=0.3), 0.05)
    assert not dialog.model_word_probability.isChecked()
    assert dialog.model_word_probability.text() == "the model's (5%)"
    assert dialog.min_word_probability.value() == 0.3
    assert dialog.settings().min_word_probability == 0.3


def test_setting_a_bar_makes_it_the_writers_and_ticking_the_box_gives_it_back(qtbot):
    dialog = _dialog(qtbot, DecodingSettings(), 0.05)
    dialog.min_word_probability.setValue(0.2)
    assert not dialog.model_word_probability.isChecked()
    assert dialog.settings().min_word_probability == 0.2
    dialog.min_word_probability.setValue(0.0)  # "off" is a choice of the writer's too
    assert dialog.settings().min_word_probability == 0.0
    dialog.model_word_probability.setChecked(True)
    assert dialog.min_word_probability.value() == 0.05
    assert dialog.settings().min_word_probability is None


def test_restore_defaults_leaves_the_bar_to_the_model(qtbot):
    dialog = _dialog(qtbot, DecodingSettings(min_word_probability=0.3), 0.2)
    dialog.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert dialog.model_word_probability.isChecked() and dialog.min_word_probability.value() == 0.2
    assert dialog.settings().min_word_probability is None


def test_the_box_is_greyed_with_the_bar_where_decoding_ignores_it(qtbot):
    dialog = _dialog(qtbot, DecodingSettings(), 0.05)
    assert dialog.model_word_probability.isEnabled()
    dialog.length.setCurrentIndex(dialog.length.findData("word"))
    assert not dialog.model_word_probability.isEnabled() and not dialog.min_word_probability.isEnabled()


def test_the_dialog_is_given_the_loaded_models_bar(qtbot, make_window, prompts, tiny_gpt2_folder):
    config = {"do_sample": False, "inkling": {"min_word_probability": 0.07}}
    (tiny_gpt2_folder / "generation_config.json").write_text(json.dumps(config), encoding="utf-8")
    window = make_window()
    assert window.models.active.doubt_cut_default == 0.07
    window.named_actions["decoding.settings"].trigger()
    name, _settings, _debounce, model_bar = prompts.calls[-1]
    assert (name, model_bar) == ("edit_decoding", 0.07)
