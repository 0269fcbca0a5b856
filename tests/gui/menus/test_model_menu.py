"""The Model menu: switching models and devices on the engine thread, failures that keep the old model, and a
missing bundled model that leaves a working editor instead of a crash."""

from __future__ import annotations

import json
import threading

from engine.byte_sizes import format_bytes
from tests.support.gui import open_model_menu, type_text, wait_for_ghost
from tests.support.tiny_models import make_gpt2_folder


def _model_actions(window):
    return [a for a in open_model_menu(window) if a.isCheckable()]


def test_a_failed_load_keeps_the_previous_model_and_says_why(qtbot, make_window, prompts, tmp_path,
                                                           tiny_gpt2_folder):
    window = make_window()
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    prompts.model_path_answer = str(broken)
    with qtbot.waitSignal(window.models.loadFailed, timeout=10000):
        window.named_actions["model.open"].trigger()
    errors = [call for call in prompts.calls if call[0] == "error"]
    assert errors and "broken-model" in errors[-1][2] and "keeps using" in errors[-1][2]
    assert window.engine_ready()
    assert window.models.active.name == str(tiny_gpt2_folder)
    assert window.status.model.text() == "Model: tiny-gpt2"
    checked = [a for a in _model_actions(window) if a.isChecked()]
    assert len(checked) == 1 and "tiny-gpt2" in checked[0].text()
    type_text(qtbot, window.editor, "The quick brown fox")  # and it still suggests
    wait_for_ghost(qtbot, window.editor)


def test_model_menu_lists_user_models_and_switches_between_them(qtbot, make_window, app_dirs, tmp_path,
                                                               tiny_tokenizer, monkeypatch):
    user_models = tmp_path / "user-models"
    make_gpt2_folder(user_models / "second", tiny_tokenizer, seed=1)
    window = make_window()
    actions = _model_actions(window)
    second = next(a for a in actions if a.text().startswith("second"))
    assert not second.isChecked()
    with qtbot.waitSignal(window.models.modelChanged, timeout=10000) as loaded:
        second.trigger()
    assert loaded.args[0].name == "second"
    assert window.status.model.text() == "Model: second"
    assert next(a for a in _model_actions(window) if a.text().startswith("second")).isChecked()
    saved = json.loads((app_dirs["config_dir"] / "settings.json").read_text())
    assert saved["model"] == "second"
    window.shutdown()

    again = make_window(model=None)  # no model given: the one used last time
    assert again.models.active.name == "second"


def test_device_menu_moves_the_model_and_remembers_the_device(qtbot, make_window, app_dirs):
    window = make_window(device=None)  # the saved choice: "auto" at first
    assert {"model.device.auto", "model.device.cpu"} <= set(window.named_actions)
    with qtbot.waitSignal(window.models.modelChanged, timeout=10000) as loaded:
        window.named_actions["model.device.cpu"].trigger()
    assert loaded.args[0].device == "cpu"
    assert window.status.device.text() == "Device: CPU"
    assert json.loads((app_dirs["config_dir"] / "settings.json").read_text())["device"] == "cpu"
    window.shutdown()
    again = make_window(device=None)
    assert again.models.device == "cpu"


def test_without_any_model_the_editor_still_works_and_offers_a_model_folder(qtbot, make_window, prompts,
                                                                          monkeypatch, tmp_path,
                                                                          tiny_gpt2_folder):
    import engine.loading.registry

    monkeypatch.setattr(engine.loading.registry, "bundled_models_dir", lambda: tmp_path / "no-bundled-models")
    window = make_window(model=None, wait_ready=False)
    qtbot.waitUntil(lambda: "offer_model_folder" in prompts.names(), timeout=10000)
    offered = next(call for call in prompts.calls if call[0] == "offer_model_folder")
    assert "default model is missing" in offered[1]
    assert not window.engine_ready()
    assert window.status.model.text().startswith("No model")
    assert "missing" in window.status.model.toolTip()
    with qtbot.assertNotEmitted(window.suggestions.requestMade, wait=150):
        type_text(qtbot, window.editor, "Plain typing works")
    assert window.editor.toPlainText() == "Plain typing works"

    prompts.model_path_answer = str(tiny_gpt2_folder)  # Model ▸ Open Model… later on
    with qtbot.waitSignal(window.models.modelChanged, timeout=10000):
        window.named_actions["model.open"].trigger()
    assert window.engine_ready()


def test_loading_shows_a_busy_indicator_and_keeps_the_ui_running(qtbot, make_window, tiny_gpt2_folder):
    import engine
    from engine.worker.engine_worker import EngineWorker

    release = threading.Event()

    def slow_loader(name, device):
        release.wait(10)
        return engine.load(name, device="cpu")

    window = make_window(wait_ready=False, worker_factory=lambda on_event: EngineWorker(on_event, loader=slow_loader))
    qtbot.waitUntil(lambda: window.status.busy.is_busy("loading"), timeout=5000)
    assert window.status.busy.isVisible()
    assert window.status.model.text().startswith("Loading tiny-gpt2")
    type_text(qtbot, window.editor, "typing while it loads")  # the GUI thread is free
    assert window.editor.toPlainText() == "typing while it loads"
    release.set()
    qtbot.waitUntil(window.engine_ready, timeout=10000)
    assert not window.status.busy.isVisible()


def test_a_remembered_model_that_is_gone_falls_back_to_the_bundled_one(qtbot, make_window, app_dirs, prompts,
                                                                      monkeypatch, tmp_path, tiny_tokenizer):
    import shutil

    import engine.loading.registry

    bundled = tmp_path / "bundled"
    make_gpt2_folder(bundled / "default", tiny_tokenizer)
    monkeypatch.setattr(engine.loading.registry, "bundled_models_dir", lambda: bundled)
    remembered = make_gpt2_folder(tmp_path / "my-model", tiny_tokenizer, seed=2)
    window = make_window(model=remembered)
    window.shutdown()
    shutil.rmtree(remembered)  # deleted between two runs

    again = make_window(model=None)
    assert again.models.active.name == "default"
    assert "offer_model_folder" not in prompts.names() and "error" not in prompts.names()


def test_a_model_opened_from_a_folder_is_listed_by_inkling_models(qtbot, make_window, prompts, tmp_path,
                                                                  tiny_tokenizer, capsys):
    from engine.cli import main

    elsewhere = make_gpt2_folder(tmp_path / "somewhere" / "my-novel-model", tiny_tokenizer, seed=3)
    window = make_window()
    prompts.model_path_answer = str(elsewhere)
    with qtbot.waitSignal(window.models.modelChanged, timeout=10000):
        window.named_actions["model.open"].trigger()
    assert main(["models"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if "my-novel-model" in line]
    assert len(listed) == 1 and " opened " in listed[0]
    names = [a.text() for a in _model_actions(window)]
    assert sum("my-novel-model" in name for name in names) == 1  # one entry, not also "from a folder"


def test_refilling_the_model_menu_leaves_nothing_behind(qtbot, make_window):
    """The menu is rebuilt on every opening; its entries belong to it, not to the window (they used to pile up
    there: nine more actions on the window per opening)."""
    from PySide6.QtCore import QCoreApplication, QEvent, Qt
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMenu, QWidget

    window = make_window()

    def owned() -> tuple[int, int, int, int]:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the old submenus go on deleteLater
        return (len(window.findChildren(QAction, options=Qt.FindChildOption.FindDirectChildrenOnly)),
                len(QWidget.actions(window)), len(window.model_menu.findChildren(QMenu)),
                len(window.model_menu.actions()))

    open_model_menu(window)
    before = owned()
    for _ in range(3):
        open_model_menu(window)
    assert owned() == before
    assert window.named_actions["model.open"] in window.model_menu.actions()  # the name points at today's entry


def test_the_model_menu_says_how_the_loaded_weights_are_held_and_what_they_take(qtbot, make_window):
    window = make_window()
    active = window.models.active
    assert active.weights == "float32"  # the tiny model on the CPU; float32 takes four bytes a parameter
    assert active.weight_bytes == 4 * active.parameters
    shown = open_model_menu(window)
    entry = window.named_actions["model.weights"]
    assert entry in shown and not entry.isEnabled()
    size = format_bytes(4 * active.parameters)
    assert entry.text() == f"Weights: float32, {size} in memory"
