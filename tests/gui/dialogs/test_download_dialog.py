"""Model ▸ Download Model…: a stand-in huggingface_hub fills a fake hub cache; the model then shows in the menu."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path

import pytest

from tests.support.gui import open_model_menu, type_and_wait_for_suggestion


def fake_hub_module(source: Path, hub: Path, before_each_file=None) -> types.ModuleType:
    """A ``huggingface_hub`` stand-in serving ``source``'s files and laying them out as the hub cache does."""

    class HfApi:
        def model_info(self, repo_id, revision=None, files_metadata=False):
            siblings = [types.SimpleNamespace(rfilename=f.name, size=f.stat().st_size) for f in source.iterdir()]
            return types.SimpleNamespace(siblings=siblings, sha="feedbeef")

    def hf_hub_download(repo_id, filename, *, revision=None):
        if before_each_file is not None:
            before_each_file(filename)
        repo = hub / ("models--" + repo_id.replace("/", "--"))
        snapshot = repo / "snapshots" / revision
        snapshot.mkdir(parents=True, exist_ok=True)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(revision)
        (snapshot / filename).write_bytes((source / filename).read_bytes())
        return str(snapshot / filename)

    module = types.ModuleType("huggingface_hub")
    module.HfApi, module.hf_hub_download = HfApi, hf_hub_download
    return module


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "hf-cache" / "hub"
    root.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


def model_entries(window) -> list[str]:
    return [a.text() for a in open_model_menu(window) if a.isCheckable()]


def start_a_held_download(qtbot, make_window, prompts, hub, monkeypatch, tiny_gpt2_folder):
    """A window whose download of org/tiny has started and waits, at its first file, for ``release.set()``."""
    started, release = threading.Event(), threading.Event()

    def hold_first_file(_name: str) -> None:
        started.set()
        assert release.wait(timeout=30)

    monkeypatch.setitem(sys.modules, "huggingface_hub", fake_hub_module(tiny_gpt2_folder, hub, hold_first_file))
    window = make_window()
    prompts.hub_repo_id_answer = "org/tiny"
    window.named_actions["model.download"].trigger()
    qtbot.waitUntil(started.is_set, timeout=10000)
    return window, window.model_dialogs.download, release


def test_download_shows_progress_and_the_model_appears_in_the_menu(qtbot, make_window, prompts, hub,
                                                                    monkeypatch, tiny_gpt2_folder):
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake_hub_module(tiny_gpt2_folder, hub))
    window = make_window()
    assert not any("org/tiny" in text for text in model_entries(window))
    action = window.named_actions["model.download"]
    assert action.isEnabled()
    prompts.hub_repo_id_answer = "org/tiny"

    action.trigger()
    dialog = window.model_dialogs.download
    reports: list[dict] = []
    dialog.runner.progressed.connect(reports.append)
    with qtbot.waitSignal(dialog.downloaded, timeout=10000) as done:
        pass

    assert Path(done.args[0]) == hub / "models--org--tiny" / "snapshots" / "feedbeef"
    files = {r["file"] for r in reports}
    assert {"config.json", "tokenizer.json", "model.safetensors"} <= files
    total = sum(f.stat().st_size for f in tiny_gpt2_folder.iterdir()
                if f.name in {"config.json", "tokenizer.json", "model.safetensors", "generation_config.json"})
    assert reports[-1]["done"] == reports[-1]["total"] == total
    assert "of" in dialog.status_label.text()
    assert any("org/tiny" in text for text in model_entries(window))
    assert "error" not in prompts.names()


def test_cancel_stops_the_download_between_files_without_an_error(qtbot, make_window, prompts, hub,
                                                                  monkeypatch, tiny_gpt2_folder):
    _window, dialog, release = start_a_held_download(qtbot, make_window, prompts, hub, monkeypatch, tiny_gpt2_folder)

    dialog.reject()  # the Cancel button
    assert dialog.isVisible() and dialog.status_label.text() == "Cancelling…"
    release.set()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10000)

    assert not dialog.is_running()
    assert "error" not in prompts.names()
    assert not (hub / "models--org--tiny" / "snapshots" / "feedbeef" / "model.safetensors").exists()


def test_suggestions_keep_coming_while_a_download_runs(qtbot, make_window, prompts, hub, monkeypatch,
                                                       tiny_gpt2_folder):
    window, dialog, release = start_a_held_download(qtbot, make_window, prompts, hub, monkeypatch, tiny_gpt2_folder)

    assert type_and_wait_for_suggestion(qtbot, window, "The quick brown fox")  # not queued behind the download
    assert dialog.is_running()
    release.set()
    with qtbot.waitSignal(dialog.downloaded, timeout=10000):
        pass


def test_closing_the_window_stops_a_running_download(qtbot, make_window, prompts, hub, monkeypatch,
                                                    tiny_gpt2_folder):
    window, dialog, release = start_a_held_download(qtbot, make_window, prompts, hub, monkeypatch, tiny_gpt2_folder)
    window.shutdown()
    assert dialog.runner.cancel_requested()
    release.set()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10000)
    assert not (hub / "models--org--tiny" / "snapshots" / "feedbeef" / "model.safetensors").exists()


def test_a_download_needs_no_loaded_model(qtbot, make_window, prompts, hub, monkeypatch, tiny_gpt2_folder,
                                          tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake_hub_module(tiny_gpt2_folder, hub))
    window = make_window(model=tmp_path / "no-model-here", wait_ready=False)
    qtbot.waitUntil(lambda: not window.bridge.is_loading(), timeout=10000)  # the load has failed
    assert not window.engine_ready()
    prompts.hub_repo_id_answer = "org/tiny"
    window.named_actions["model.download"].trigger()
    with qtbot.waitSignal(window.model_dialogs.download.downloaded, timeout=10000) as done:
        pass
    assert (Path(done.args[0]) / "model.safetensors").is_file()


def test_a_failed_download_says_why(qtbot, make_window, prompts, hub, monkeypatch, tiny_gpt2_folder):
    module = fake_hub_module(tiny_gpt2_folder, hub)

    class NoSuchRepo:
        def model_info(self, repo_id, revision=None, files_metadata=False):
            raise OSError(f"404: {repo_id} not found")

    module.HfApi = NoSuchRepo
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)
    window = make_window()
    prompts.hub_repo_id_answer = "org/missing"
    window.named_actions["model.download"].trigger()
    with qtbot.waitSignal(window.model_dialogs.download.failed, timeout=10000):
        pass

    (_name, title, message), = [c for c in prompts.calls if c[0] == "error"]
    assert title == "Download failed" and "org/missing" in message and "not found" in message
    assert not window.model_dialogs.download.isVisible()


def test_cancelling_the_repo_question_downloads_nothing(qtbot, make_window, prompts, hub, monkeypatch,
                                                        tiny_gpt2_folder):
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake_hub_module(tiny_gpt2_folder, hub))
    window = make_window()
    prompts.hub_repo_id_answer = None
    window.named_actions["model.download"].trigger()
    assert prompts.names()[-1] == "hub_repo_id"
    assert window.model_dialogs.download is None
    assert not any(hub.iterdir())


def test_download_is_disabled_with_an_install_hint_without_huggingface_hub(qtbot, make_window, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import now raises ImportError
    window = make_window()
    open_model_menu(window)
    action = window.named_actions["model.download"]
    assert not action.isEnabled()
    assert "pip install 'inkling[hub]'" in action.toolTip()
