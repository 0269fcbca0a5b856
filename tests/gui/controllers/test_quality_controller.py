"""The coverage control and the quality guards in the app: what is shown, the menus, the persisted settings."""


from __future__ import annotations

import json
import re

import pytest
import torch

from engine.quality.coverage import CoverageCalibration
from engine.quality.suggestion_quality import QualitySettings
from tests.support.gui import FAST_GREEDY, type_text, wait_until_finished
from tests.support.quality import make_confident_model

torch.set_num_threads(1)
# Token healing off: the model built for these tests looks at the last token only, which must stay " fox".
# The model alone: these tests type the same line twice, which the document memory would then suggest again.
SETTINGS = FAST_GREEDY.replace(token_healing=False, memory=False)
# Quantiles evenly from -6 to 0: coverage c puts the threshold at -6c.
EVEN = CoverageCalibration(tuple(-6.0 + 0.3 * i for i in range(21)), samples=40)


@pytest.fixture
def confident_folder(tmp_path, tiny_tokenizer):
    return make_confident_model(tmp_path / "confident", tiny_tokenizer)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _record_ghosts(window) -> list[str]:
    shown: list[str] = []
    window.editor.ghostChanged.connect(lambda: shown.append(window.editor.ghost_text()))
    return shown


def _new_line(qtbot, window, text: str):
    """Type a new line and wait for its request to finish; returns (ghost texts seen meanwhile, withheld args)."""
    withheld = []
    window.suggestions.gating.withheld.connect(lambda rid, why: withheld.append((rid, why)))
    with qtbot.waitSignal(window.suggestions.requestMade, timeout=10000) as made:
        type_text(qtbot, window.editor, "\n" + text)
    request_id = made.args[0]
    seen = _record_ghosts(window)
    qtbot.waitUntil(lambda: window.editor.pending_request != request_id, timeout=10000)
    return seen, [why for rid, why in withheld if rid == request_id]


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_coverage_threshold_shows_confident_suggestions_and_hides_unsure_ones(qtbot, make_window, confident_folder,
                                                                              strategy):
    settings = SETTINGS.replace(strategy=strategy, num_beams=3, num_alternatives=3)
    window = make_window(confident_folder, settings=settings)
    window.named_actions["decoding.coverage.50"].trigger()
    window.quality.use_calibration(EVEN)  # instead of the one it started to measure on the built-in sample
    assert not window.quality.is_calibrating()
    assert window.quality.threshold == pytest.approx(-3.0)

    type_text(qtbot, window.editor, "The quick brown fox")
    wait_until_finished(qtbot, window)
    assert window.editor.ghost_text() == " fox" * 6  # about 99.5% sure of every token

    seen, withheld = _new_line(qtbot, window, "The lazy dog")
    assert withheld == ["not confident enough"]
    assert window.editor.ghost_text() == ""
    assert not any(seen)  # held back while it streamed: nothing flashed up

    window.named_actions["decoding.coverage.100"].trigger()  # every pause: the unsure one shows too
    assert window.quality.threshold is None
    seen, withheld = _new_line(qtbot, window, "The lazy dog")
    assert not withheld
    wait_until_finished(qtbot, window)
    assert window.editor.ghost_text()


def test_a_suggestion_that_repeats_the_line_is_not_shown_unless_the_guard_is_off(qtbot, make_window,
                                                                                 confident_folder):
    window = make_window(confident_folder, settings=SETTINGS)
    seen, withheld = _new_line(qtbot, window, "A fox fox fox said: the fox")
    assert withheld == ["repeats the line"]  # " fox fox fox ..." again
    assert not any(seen) and window.editor.ghost_text() == ""

    window.named_actions["decoding.guard.skip_line_repeats"].trigger()
    assert not window.quality.quality.skip_line_repeats
    seen, withheld = _new_line(qtbot, window, "A fox fox fox said: the fox")
    wait_until_finished(qtbot, window)
    assert window.editor.ghost_text().startswith(" fox fox fox")


def test_never_suggest_words_are_edited_in_a_dialog_masked_and_switchable(qtbot, make_window, prompts,
                                                                          confident_folder, app_dirs):
    # Token healing on: "fo" is finished as "fox" without the list. The model alone: the document memory would
    # remember the first line's unfinished " fo" (then a new line) for the second.
    window = make_window(confident_folder, settings=FAST_GREEDY.replace(memory=False))
    prompts.never_suggest_answer = ("Fox",)
    window.named_actions["decoding.never_suggest.edit"].trigger()
    assert prompts.calls[-1] == ("edit_never_suggest", ())
    assert window.quality.quality.never_suggest == ("Fox",)

    type_text(qtbot, window.editor, "The quick brown fo")
    wait_until_finished(qtbot, window)
    ghost = window.editor.ghost_text()
    assert "fox" not in _words("fo" + ghost)  # the model said something else instead
    assert _words(ghost)

    window.named_actions["decoding.guard.never_suggest_enabled"].trigger()  # list off: fox is back
    _new_line(qtbot, window, "The quick brown fo")
    wait_until_finished(qtbot, window)
    assert window.editor.ghost_text().startswith("x fox")
    saved = json.loads((app_dirs["config_dir"] / "settings.json").read_text())["quality"]
    assert saved["never_suggest"] == ["Fox"] and saved["never_suggest_enabled"] is False


def test_the_repetition_guard_switches_the_decoding_penalties(qtbot, make_window, app_dirs):
    window = make_window(settings=FAST_GREEDY)  # no n-gram ban, no DRY
    action = window.named_actions["decoding.guard.repetition"]
    assert not action.isChecked()
    action.trigger()
    settings = window.suggestions.settings
    assert (settings.no_repeat_ngram_size, settings.dry_multiplier) == (3, 0.8)
    saved = json.loads((app_dirs["config_dir"] / "settings.json").read_text())["decoding"]
    assert saved["dry_multiplier"] == 0.8
    window.suggestions.set_settings(settings.replace(no_repeat_ngram_size=0, dry_multiplier=0.0))
    assert not action.isChecked()  # the menu follows settings changed elsewhere (the dialog)


def test_quality_settings_persist_and_come_back_in_the_menus(qtbot, make_window, prompts, app_dirs):
    window = make_window()
    window.coverage_slider.slider.setValue(3)  # the third stop from "fewer but surer": 30%
    assert window.quality.quality.coverage == pytest.approx(0.3)
    assert window.named_actions["decoding.coverage.30"].isChecked()
    window.named_actions["decoding.guard.skip_blank"].trigger()
    prompts.never_suggest_answer = ("alpha", "beta")
    window.named_actions["decoding.never_suggest.edit"].trigger()
    window.shutdown()

    again = make_window()
    assert again.quality.quality == QualitySettings(coverage=0.3, skip_blank=False, never_suggest=("alpha", "beta"))
    assert again.suggestions.gating.quality == again.quality.quality
    assert again.named_actions["decoding.coverage.30"].isChecked()
    assert again.coverage_slider.slider.value() == 3
    assert not again.named_actions["decoding.guard.skip_blank"].isChecked()
    assert again.named_actions["decoding.guard.skip_line_repeats"].isChecked()
    assert prompts.never_suggest_answer == again.quality.quality.never_suggest


def test_a_coverage_below_every_pause_calibrates_the_model_once_and_then_uses_the_cache(qtbot, make_window,
                                                                                        app_dirs):
    window = make_window()
    with qtbot.waitSignal(window.quality.calibrationFinished, timeout=20000) as finished:
        window.named_actions["decoding.coverage.40"].trigger()
    calibration = finished.args[0]
    assert window.quality.threshold == pytest.approx(calibration.threshold_for(0.4))
    assert not window.quality.from_cache
    cache = app_dirs["data_dir"] / "coverage_calibration.json"
    assert len(json.loads(cache.read_text())["entries"]) == 1
    window.shutdown()

    again = make_window(wait_ready=False)
    with qtbot.waitSignal(again.quality.calibrationFinished, timeout=20000) as reused:
        pass
    assert reused.args[0] == calibration and again.quality.from_cache


def test_the_never_suggest_dialog_keeps_what_was_typed_until_it_is_a_list_of_words(qtbot):
    from PySide6.QtWidgets import QDialog

    from gui.dialogs.never_suggest_dialog import NeverSuggestDialog

    dialog = NeverSuggestDialog(("alpha", "beta"))
    qtbot.addWidget(dialog)
    assert dialog.editor.toPlainText() == "alpha\nbeta"
    dialog.editor.setPlainText("fox, ice-cream\nDog")
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted  # still open, nothing lost
    assert "ice-cream" in dialog.problem.text() and not dialog.problem.isHidden()
    assert dialog.editor.toPlainText() == "fox, ice-cream\nDog"
    dialog.editor.setPlainText("fox, ice cream\nDog fox")
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.words() == ("fox", "ice", "cream", "Dog")


def test_the_decoding_dialog_edits_the_dry_penalty(qtbot):
    from engine.decoding.settings import DecodingSettings
    from gui.dialogs.decoding_dialog import DecodingDialog

    settings = DecodingSettings(dry_multiplier=1.25, dry_base=2.0, dry_allowed_length=3)
    dialog = DecodingDialog(settings, 120)
    qtbot.addWidget(dialog)
    assert dialog.settings() == settings
    assert dialog.dry_base.isEnabled()
    dialog.dry_multiplier.setValue(0.0)
    assert dialog.settings().dry_multiplier == 0.0
    assert not dialog.dry_base.isEnabled() and not dialog.dry_allowed_length.isEnabled()
