"""Model ▸ Learn from My Writing…: the dialog trains the tiny model for a few steps on the engine thread, shows
progress, stops and saves on request, continues an unfinished run, and the finished model joins the Model menu."""

from __future__ import annotations

import threading

import pytest
import torch

from engine.jobs import fine_tune
from engine.jobs.fine_tune import unfinished_runs
from tests.support.gui import open_model_menu
from tests.support.samples import make_writing_folder

TIMEOUT_MS = 60000


@pytest.fixture(autouse=True)
def _one_thread_and_a_private_cache(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("INKLING_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def writing(tmp_path):
    return make_writing_folder(tmp_path / "my-writing", "note-{}.md")


@pytest.fixture
def held_at_first_step(monkeypatch):
    """A fresh (not resumed) run waits after its first step until the test sets the returned Event.

    So the test can press Stop while training is certainly in progress, whatever the machine's speed."""
    release = threading.Event()
    real_train = fine_tune.train

    def train(settings, progress=None, should_stop=None, log=None):
        def held(report):
            progress(report)
            if "step" in report and not settings.resume:
                release.wait(30)

        return real_train(settings, progress=held, should_stop=should_stop, log=log)

    monkeypatch.setattr(fine_tune, "train", train)
    return release


def _open_dialog(window, prompts, writing, name: str, steps: int):
    prompts.training_folder_path = str(writing)
    window.named_actions["model.learn"].trigger()
    dialog = window.model_dialogs.fine_tune
    assert dialog.isVisible() and not dialog.start_button.isEnabled()  # no folder yet
    dialog.add_folder_button.click()
    assert dialog.folder_paths() == [str(writing)]
    dialog.name_edit.setText(name)
    dialog.budget_unit.setCurrentIndex(dialog.budget_unit.findData("steps"))
    dialog.budget.setValue(steps)
    return dialog


def _model_menu_texts(window) -> list[str]:
    return [action.text() for action in open_model_menu(window)]


def test_learning_from_my_writing_adds_a_model_to_the_menu(qtbot, make_window, prompts, writing, app_dirs):
    window = make_window()
    assert "&Learn from My Writing…" in _model_menu_texts(window)
    dialog = _open_dialog(window, prompts, writing, "my-style", steps=6)
    with qtbot.waitSignal(dialog.modelCreated, timeout=TIMEOUT_MS) as created:
        dialog.start_button.click()
        assert dialog.is_running() and not dialog.start_button.isEnabled() and dialog.stop_button.isEnabled()
    assert created.args == ["my-style"]
    assert "is now one of your models" in dialog.status_label.text()
    assert "validation bits/byte" in dialog.figures_label.text() and "→" in dialog.figures_label.text()
    assert dialog.reports and dialog.reports[0]["step"] == 1 and dialog.reports[0]["tokens_per_s"] > 0
    assert dialog.outcome.finished and dialog.outcome.steps == 6
    assert dialog.progress.value() == dialog.progress.maximum()
    assert (app_dirs["config_dir"].parent / "user-models" / "my-style" / "model.safetensors").is_file()
    assert any(text.startswith("my-style") for text in _model_menu_texts(window))

    assert dialog.use_button.isVisible()
    with qtbot.waitSignal(window.models.modelChanged, timeout=TIMEOUT_MS) as loaded:
        dialog.use_button.click()
    assert loaded.args[0].name == "my-style" and window.status.model.text() == "Model: my-style"


def test_stop_saves_a_run_that_continue_finishes(qtbot, make_window, prompts, writing, app_dirs,
                                                 held_at_first_step):
    window = make_window()
    dialog = _open_dialog(window, prompts, writing, "stopped-style", steps=40)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: bool(dialog.reports), timeout=TIMEOUT_MS)  # held after its first step
    assert dialog.status_label.text().startswith("Training: step 1 of 40")
    with qtbot.waitSignal(dialog.runner.cancelled, timeout=TIMEOUT_MS):
        dialog.stop_button.click()
        assert not dialog.stop_button.isEnabled() and "Stopping" in dialog.status_label.text()
        held_at_first_step.set()
    assert dialog.outcome is not None and not dialog.outcome.finished
    assert "Stopped at step 1 and saved" in dialog.status_label.text()
    assert not (app_dirs["config_dir"].parent / "user-models" / "stopped-style").exists()
    assert dialog.unfinished_box.isVisibleTo(dialog) and dialog.unfinished.count() == 1
    assert "stopped-style" in dialog.unfinished.currentText()
    assert not any(text.startswith("stopped-style") for text in _model_menu_texts(window))

    with qtbot.waitSignal(dialog.modelCreated, timeout=TIMEOUT_MS):
        dialog.continue_button.click()
    assert dialog.reports[0]["step"] > 1  # continued from the checkpoint
    assert dialog.outcome.finished and dialog.outcome.steps == 40
    assert dialog.unfinished.count() == 0 and not dialog.unfinished_box.isVisibleTo(dialog)
    assert any(text.startswith("stopped-style") for text in _model_menu_texts(window))


def test_closing_the_app_mid_run_keeps_it_to_continue(qtbot, make_window, prompts, writing, app_dirs,
                                                       held_at_first_step):
    window = make_window()
    dialog = _open_dialog(window, prompts, writing, "interrupted", steps=100000)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: bool(dialog.reports), timeout=TIMEOUT_MS)
    held_at_first_step.set()
    window.shutdown()  # the engine is told to stop; the trainer saves before the thread ends
    runs = unfinished_runs(app_dirs["data_dir"])
    assert [run.plan.name for run in runs] == ["interrupted"] and runs[0].resumable

    again = make_window()
    again.named_actions["model.learn"].trigger()
    listed = again.model_dialogs.fine_tune
    assert listed.unfinished.count() == 1 and "interrupted" in listed.unfinished.currentText()
    prompts.discard_run_answer = True
    listed.discard_button.click()
    assert listed.unfinished.count() == 0 and unfinished_runs(app_dirs["data_dir"]) == []


def test_escape_while_training_stops_saves_and_then_closes(qtbot, make_window, prompts, writing, app_dirs,
                                                           held_at_first_step):
    window = make_window()
    dialog = _open_dialog(window, prompts, writing, "closed-early", steps=100000)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: bool(dialog.reports), timeout=TIMEOUT_MS)
    dialog.reject()
    assert dialog.isVisible()  # not before the checkpoint is saved
    held_at_first_step.set()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT_MS)
    assert [run.plan.name for run in unfinished_runs(app_dirs["data_dir"])] == ["closed-early"]


def test_bad_choices_are_explained_in_the_dialog(qtbot, make_window, prompts, writing, app_dirs):
    window = make_window()
    dialog = _open_dialog(window, prompts, writing, "../outside", steps=3)
    dialog.start_button.click()
    assert "cannot name a model" in dialog.status_label.text() and not dialog.is_running()
    empty = app_dirs["data_dir"].parent / "empty-folder"
    empty.mkdir()
    dialog.folders.clear()
    prompts.training_folder_path = str(empty)
    dialog.add_folder_button.click()
    dialog.name_edit.setText("nothing-to-learn")
    with qtbot.waitSignal(dialog.runner.failed, timeout=TIMEOUT_MS):
        dialog.start_button.click()
    assert "No text found" in dialog.status_label.text()
    assert dialog.start_button.isEnabled() and dialog.unfinished.count() == 0
