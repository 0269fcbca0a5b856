"""Model ▸ Get Models…: the catalogue table, a download on its own thread with progress and Cancel, failures shown
in the dialog, and the downloaded model used at once. The Hub is a local server (tests/support/hub_server.py)."""

from __future__ import annotations

import builtins
import hashlib
import threading
from pathlib import Path

import pytest

from engine.loading.catalogue import CatalogueEntry, CatalogueError
from engine.loading.gguf_download import DownloadCancelled
from engine.loading.registry import list_models
from gui.dialogs import get_models_dialog
from gui.dialogs.get_models_dialog import GetModelsDialog
from tests.support.gui import type_and_wait_for_suggestion
from tests.support.hub_server import FakeHub

pytest.importorskip("huggingface_hub")

REPO = "example/Tiny-GGUF"
CONTENT = b"GGUF" + bytes(range(256)) * 2000


def entry(id_: str = "tiny", architecture: str = "llama", file_name: str = "tiny.Q4_K_M.gguf",
          sha256: str | None = None) -> CatalogueEntry:
    return CatalogueEntry(id=id_, name=f"Tiny {id_}", repo_id=REPO, file_name=file_name, size_bytes=len(CONTENT),
                          architecture=architecture, licence="Apache-2.0", parameters="1M", sha256=sha256)


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        server.files.add(REPO, "tiny.Q4_K_M.gguf", CONTENT)
        yield server


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    models = tmp_path / "models"
    monkeypatch.setenv("INKLING_USER_MODELS", str(models))
    return models


@pytest.fixture
def dialog(qtbot, folder):
    made = GetModelsDialog(entries=[entry(), entry("mamba", architecture="mamba", file_name="mamba.gguf")])
    qtbot.addWidget(made)
    made.show()
    yield made
    if made.is_running():
        made.runner.cancel()
        qtbot.waitUntil(lambda: not made.is_running(), timeout=10000)


def test_the_table_shows_each_entry_and_greys_what_the_engine_cannot_run(dialog):
    assert dialog.table.rowCount() == 2
    assert dialog.status_of("tiny") == "Not installed"
    assert dialog.status_of("mamba") == "Not yet: needs mamba"
    headers = [dialog.table.horizontalHeaderItem(c).text() for c in range(dialog.table.columnCount())]
    assert headers == ["Model", "Download", "Memory", "Speed", "Licence", "Status"]
    assert "(estimate)" in dialog.table.item(0, headers.index("Speed")).text()
    assert dialog.table.item(0, headers.index("Licence")).text() == "Apache-2.0"
    dialog.select("mamba")
    assert not dialog.download_button.isEnabled()
    assert "mamba" in dialog.table.item(1, 0).toolTip()
    dialog.select("tiny")
    assert dialog.download_button.isEnabled() and not dialog.use_button.isEnabled()


def test_download_shows_progress_installs_and_offers_the_model(qtbot, dialog, hub, folder):
    progress: list[int] = []
    dialog.progress.valueChanged.connect(progress.append)
    dialog.select("tiny")
    with qtbot.waitSignal(dialog.installed, timeout=20000) as installed:
        dialog.download_button.click()
    assert installed.args == ["tiny.Q4_K_M.gguf"]
    assert progress and progress[-1] == get_models_dialog.PROGRESS_STEPS
    assert (folder / "tiny.Q4_K_M.gguf").read_bytes() == CONTENT
    assert dialog.status_of("tiny") == "Installed"
    assert "installed and checked" in dialog.status_label.text()
    assert dialog.use_button.isEnabled() and not dialog.download_button.isEnabled()
    with qtbot.waitSignal(dialog.useModelRequested) as used:
        dialog.use_button.click()
    assert used.args == ["tiny.Q4_K_M.gguf"]


def test_cancel_stops_the_download_and_the_dialog_stays_usable(qtbot, dialog, folder, monkeypatch):
    def download_until_cancelled(remote, *, folder=None, progress=None, cancelled=None, endpoint=None):
        done, pause = 0, threading.Event()
        while not cancelled():
            done += 1
            progress(done % 100, 100)
            pause.wait(0.005)  # a network's pace: a tight loop would flood the GUI thread with progress events
        raise DownloadCancelled("cancelled")

    monkeypatch.setattr(get_models_dialog, "download_gguf", download_until_cancelled)
    dialog.select("tiny")
    dialog.download_button.click()
    assert dialog.status_of("tiny") == "Downloading…"
    qtbot.waitUntil(lambda: dialog.progress.maximum() == get_models_dialog.PROGRESS_STEPS, timeout=10000)
    assert dialog.cancel_button.isEnabled() and not dialog.download_button.isEnabled()
    with qtbot.waitSignal(dialog.runner.cancelled, timeout=10000):
        dialog.cancel_button.click()
    assert "cancelled" in dialog.status_label.text()
    assert dialog.status_of("tiny") == "Not installed"
    assert dialog.download_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert not (folder / "tiny.Q4_K_M.gguf").exists()


def test_without_huggingface_hub_the_dialog_says_how_to_install_it(qtbot, folder, monkeypatch):
    real_import = builtins.__import__

    def no_hub(name, *args, **kwargs):
        if name == "huggingface_hub" or name.startswith("huggingface_hub."):
            raise ImportError("No module named 'huggingface_hub'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    dialog = GetModelsDialog(entries=[entry()])
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.runner.failed, timeout=10000):
        dialog.download_button.click()
    assert "pip install 'inkling[hub]'" in dialog.status_label.text()
    assert dialog.download_button.isEnabled()


def test_a_broken_catalogue_file_is_named_in_the_dialog(qtbot, folder, monkeypatch):
    def broken():
        raise CatalogueError("cannot read the model catalogue /x/catalogue.json: Expecting value")

    monkeypatch.setattr(get_models_dialog, "load_catalogue", broken)
    dialog = GetModelsDialog()
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 0
    assert "/x/catalogue.json" in dialog.status_label.text()
    assert not dialog.download_button.isEnabled()


def test_a_partly_downloaded_model_says_download_resumes(qtbot, folder):
    folder.mkdir(parents=True)
    (folder / f".tiny.Q4_K_M.gguf.{'ab' * 8}.part").write_bytes(b"x" * 42_000)
    dialog = GetModelsDialog(entries=[entry()])
    qtbot.addWidget(dialog)
    assert dialog.status_of("tiny") == "Not installed (42 kB fetched; Download resumes)"


def test_a_checksum_mismatch_is_shown_in_the_dialog_and_nothing_is_installed(qtbot, folder, hub):
    dialog = GetModelsDialog(entries=[entry(sha256=hashlib.sha256(b"another file").hexdigest())])
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.runner.failed, timeout=20000):
        dialog.download_button.click()
    assert "not the file the catalogue names" in dialog.status_label.text()
    assert dialog.status_of("tiny") == "Not installed"
    assert [m for m in list_models() if m.source == "user"] == []


def test_closing_while_downloading_stops_the_download_first(qtbot, dialog, monkeypatch):
    def download_until_cancelled(remote, *, folder=None, progress=None, cancelled=None, endpoint=None):
        pause = threading.Event()
        while not cancelled():
            progress(1, 2)
            pause.wait(0.005)  # a network's pace: a tight loop would flood the GUI thread with progress events
        raise DownloadCancelled("cancelled")

    monkeypatch.setattr(get_models_dialog, "download_gguf", download_until_cancelled)
    dialog.download_button.click()
    dialog.reject()
    assert dialog.isVisible()  # not closed under a running download
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10000)
    assert not dialog.is_running()


def test_the_model_menu_opens_it_and_a_downloaded_model_loads_at_once(qtbot, make_window, hub, tmp_path,
                                                                      monkeypatch):
    from tests.support.gguf_files import tiny_config, write_model

    path, _model = write_model(tmp_path, tiny_config("llama"), weight_type="Q8_0", name="real.gguf")
    hub.files.add(REPO, "real.gguf", path.read_bytes())
    monkeypatch.setattr(get_models_dialog, "load_catalogue", lambda: [entry("real", file_name="real.gguf")])
    window = make_window()
    window.named_actions["model.get_models"].trigger()
    dialog = window.model_dialogs.get_models
    assert dialog is not None and dialog.isVisible()
    with qtbot.waitSignal(dialog.installed, timeout=20000):
        dialog.download_button.click()
    assert any(m.name == "real.gguf" for m in window.models.available_models())
    dialog.use_button.click()
    qtbot.waitUntil(lambda: window.models.is_active("real.gguf"), timeout=30000)


def test_a_failed_download_leaves_the_model_in_use_working(qtbot, make_window, hub, monkeypatch):
    hub.files.advertised_sha256[f"{REPO}/tiny.Q4_K_M.gguf"] = "f" * 64
    monkeypatch.setattr(get_models_dialog, "load_catalogue", lambda: [entry()])
    window = make_window()
    active = window.models.active
    window.named_actions["model.get_models"].trigger()
    dialog = window.model_dialogs.get_models
    with qtbot.waitSignal(dialog.runner.failed, timeout=20000):
        dialog.download_button.click()
    assert "failed its checksum" in dialog.status_label.text() and "tiny.Q4_K_M.gguf" in dialog.status_label.text()
    assert window.models.active is active
    type_and_wait_for_suggestion(qtbot, window, "The quick brown")
    assert window.editor.ghost_text()
