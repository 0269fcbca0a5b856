# ruff: noqa: F811 - pytest fixtures are imported from gui_support and requested by name
"""The Model menu's Ollama and LM Studio submenus: each model with its quantization and size, a click loads it,
one that cannot be loaded is greyed with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_support import app_dirs, make_window, open_model_menu, prompts  # noqa: F401 - fixtures
from PySide6.QtWidgets import QMenu

from engine.loading.registry import size_text
from tests.test_gguf_loading import tiny_config, write_model
from tests.test_local_stores import add_blob, add_manifest


@pytest.fixture
def stores(tmp_path, monkeypatch) -> dict[str, Path]:
    """An Ollama store with a good model, an unsupported one and one whose blob is gone; an LM Studio folder with
    one good file."""
    good, _ = write_model(tmp_path, tiny_config("llama"), "Q8_0", name="good.gguf")
    odd, _ = write_model(tmp_path, tiny_config("llama"), name="odd.gguf", architecture="mamba")
    ollama = tmp_path / "ollama"
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama))
    add_manifest(ollama, "library/tiny/1m", add_blob(ollama, good.read_bytes()))
    add_manifest(ollama, "library/snake/latest", add_blob(ollama, odd.read_bytes()))
    add_manifest(ollama, "library/gone/1b", "sha256:" + "ab" * 32)
    lmstudio = tmp_path / "lmstudio"
    monkeypatch.setenv("INKLING_LMSTUDIO_MODELS", str(lmstudio))
    (lmstudio / "pub" / "Tiny-GGUF").mkdir(parents=True)
    (lmstudio / "pub" / "Tiny-GGUF" / "tiny-Q8_0.gguf").write_bytes(good.read_bytes())
    return {"ollama": ollama, "lmstudio": lmstudio, "good": good}


def shown_submenu(window, name: str) -> QMenu | None:
    """The submenu ``name`` of the Model menu as it is on opening (older ones wait for deleteLater)."""
    return next((a.menu() for a in open_model_menu(window) if a.menu() and a.menu().objectName() == name), None)


def submenu(window, name: str) -> QMenu:
    menu = shown_submenu(window, name)
    assert menu is not None
    return menu


def entry(menu: QMenu, name: str):
    return next(a for a in menu.actions() if a.text().startswith(f"{name}   "))


def test_ollama_models_have_a_submenu_with_quantization_and_size(qtbot, make_window, stores):
    window = make_window()
    ollama = submenu(window, "ollamaMenu")
    assert ollama.title() == "Ollama"
    tiny = entry(ollama, "tiny:1m")
    assert tiny.text() == f"tiny:1m   (Transformer (Llama) F32, {size_text(stores['good'].stat().st_size)})"
    assert tiny.isEnabled() and tiny.isCheckable() and not tiny.isChecked()
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000) as loaded:
        tiny.trigger()
    assert loaded.args[0].name == "tiny:1m"
    assert window.status.model.text() == "Model: tiny:1m"
    assert entry(submenu(window, "ollamaMenu"), "tiny:1m").isChecked()
    assert not [a for a in window.model_menu.actions() if a.isChecked()]  # the one check is in the submenu


def test_a_store_model_that_cannot_load_is_greyed_with_the_reason(qtbot, make_window, stores):
    window = make_window()
    ollama = submenu(window, "ollamaMenu")
    snake = entry(ollama, "snake:latest")
    assert not snake.isEnabled()
    assert "'mamba' is not one Inkling computes" in snake.toolTip()
    assert snake.statusTip() == snake.toolTip() and snake.toolTip().startswith("Cannot load snake:latest: ")
    gone = entry(ollama, "gone:1b")
    assert not gone.isEnabled() and "run `ollama pull gone:1b` again" in gone.toolTip()
    assert ollama.toolTipsVisible()


def test_lmstudio_models_have_their_own_submenu_and_load(qtbot, make_window, stores):
    window = make_window()
    lmstudio = submenu(window, "lmstudioMenu")
    assert lmstudio.title() == "LM Studio"
    tiny = entry(lmstudio, "pub/Tiny-GGUF/tiny-Q8_0.gguf")
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000) as loaded:
        tiny.trigger()
    assert loaded.args[0].name == "pub/Tiny-GGUF/tiny-Q8_0.gguf"


def test_without_ollama_or_lm_studio_there_is_no_submenu(qtbot, make_window):
    window = make_window()
    assert shown_submenu(window, "ollamaMenu") is None and shown_submenu(window, "lmstudioMenu") is None
