"""The Model menu's Ollama and LM Studio submenus: each model with its quantization and size, a click loads it,
one that cannot be loaded is greyed with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMenu

from engine.byte_sizes import format_bytes
from tests.support.gguf_files import tiny_config, write_model
from tests.support.gui import open_model_menu
from tests.support.local_stores import add_blob, add_manifest


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


def submenu(qtbot, window, name: str) -> QMenu:
    """The submenu once every header in it has been read (on a thread of the model controller's)."""
    def described() -> bool:
        menu = shown_submenu(window, name)
        return menu is not None and not any("reading its header" in a.text() for a in menu.actions())

    qtbot.waitUntil(described, timeout=20000)
    menu = shown_submenu(window, name)
    assert menu is not None
    return menu


def entry(menu: QMenu, name: str):
    return next(a for a in menu.actions() if a.text().startswith(f"{name}   "))


def test_ollama_models_have_a_submenu_with_quantization_and_size(qtbot, make_window, stores):
    window = make_window()
    ollama = submenu(qtbot, window, "ollamaMenu")
    assert ollama.title() == "Ollama"
    tiny = entry(ollama, "tiny:1m")
    assert tiny.text() == f"tiny:1m   (Transformer (Llama) F32, {format_bytes(stores['good'].stat().st_size)})"
    assert tiny.isEnabled() and tiny.isCheckable() and not tiny.isChecked()
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000) as loaded:
        tiny.trigger()
    assert loaded.args[0].name == "tiny:1m"
    assert window.status.model.text() == "Model: tiny:1m"
    assert entry(submenu(qtbot, window, "ollamaMenu"), "tiny:1m").isChecked()
    assert not [a for a in window.model_menu.actions() if a.isChecked()]  # the one check is in the submenu


def test_a_store_model_that_cannot_load_is_greyed_with_the_reason(qtbot, make_window, stores):
    window = make_window()
    ollama = submenu(qtbot, window, "ollamaMenu")
    snake = entry(ollama, "snake:latest")
    assert not snake.isEnabled()
    assert "'mamba' is not one Inkling computes" in snake.toolTip()
    assert snake.statusTip() == snake.toolTip() and snake.toolTip().startswith("Cannot load snake:latest: ")
    gone = entry(ollama, "gone:1b")
    assert not gone.isEnabled() and "run `ollama pull gone:1b` again" in gone.toolTip()
    assert ollama.toolTipsVisible()


def test_lmstudio_models_have_their_own_submenu_and_load(qtbot, make_window, stores):
    window = make_window()
    lmstudio = submenu(qtbot, window, "lmstudioMenu")
    assert lmstudio.title() == "LM Studio"
    tiny = entry(lmstudio, "pub/Tiny-GGUF/tiny-Q8_0.gguf")
    with qtbot.waitSignal(window.models.modelChanged, timeout=20000) as loaded:
        tiny.trigger()
    assert loaded.args[0].name == "pub/Tiny-GGUF/tiny-Q8_0.gguf"


def test_without_ollama_or_lm_studio_there_is_no_submenu(qtbot, make_window):
    window = make_window()
    assert shown_submenu(window, "ollamaMenu") is None and shown_submenu(window, "lmstudioMenu") is None


def test_the_menu_never_waits_for_a_header_and_says_it_is_reading_it(qtbot, make_window, stores, monkeypatch):
    """A header is read on a thread of its own (a second or two for a large vocabulary, each): meanwhile the entry
    says so, and an open menu shows what the file holds as soon as it is known."""
    import threading

    from engine.loading import gguf_descriptions

    window = make_window()
    submenu(qtbot, window, "ollamaMenu")
    qtbot.waitUntil(lambda: not window.models.is_describing(), timeout=20000)  # the first reading is over
    gguf_descriptions.cache_path().unlink()
    gguf_descriptions.forget_descriptions()  # as on the first start after pulling these models
    release = threading.Event()
    original = gguf_descriptions.describe_gguf

    def slow_describe(path):
        release.wait(20)
        return original(path)

    monkeypatch.setattr(gguf_descriptions, "describe_gguf", slow_describe)
    tiny = entry(shown_submenu(window, "ollamaMenu"), "tiny:1m")  # returned at once, though nothing was read
    assert tiny.text() == "tiny:1m   (reading its header…)"
    assert tiny.isEnabled()  # can be chosen already: loading reads the file anyway
    window.model_menu.popup(window.mapToGlobal(window.rect().center()))
    qtbot.waitUntil(window.model_menu.isVisible, timeout=5000)
    release.set()

    def shown_while_open() -> str:  # what the open menu shows now, without refilling it
        ollama = next(a.menu() for a in window.model_menu.actions() if a.menu() and a.menu().objectName() == "ollamaMenu")
        return entry(ollama, "tiny:1m").text()

    qtbot.waitUntil(lambda: shown_while_open().startswith("tiny:1m   (Transformer (Llama) F32"), timeout=20000)
    window.model_menu.hide()


def test_closing_the_window_stops_reading_headers_and_waits_for_the_thread(qtbot, make_window, stores, monkeypatch):
    """Nothing reads a file or writes the description cache after the window has closed."""
    from engine.loading import gguf_descriptions

    window = make_window()
    submenu(qtbot, window, "ollamaMenu")
    qtbot.waitUntil(lambda: not window.models.is_describing(), timeout=20000)
    gguf_descriptions.cache_path().unlink()
    gguf_descriptions.forget_descriptions()
    reads: list[Path] = []
    original = gguf_descriptions.describe_gguf

    def describe_until_closing(path):
        reads.append(Path(path))
        window.models._stopping.wait(20)  # still reading the first file when the window closes
        return original(path)

    monkeypatch.setattr(gguf_descriptions, "describe_gguf", describe_until_closing)
    shown_submenu(window, "ollamaMenu")  # two headers to read: the good blob and the mamba one
    qtbot.waitUntil(lambda: bool(reads), timeout=20000)
    with qtbot.assertNotEmitted(window.models.modelsDescribed, wait=50):
        window.shutdown()
    assert not window.models.is_describing() and len(reads) == 1


def test_a_gguf_in_the_user_folder_that_cannot_load_is_greyed_too(qtbot, make_window, tmp_path):
    user_models = tmp_path / "user-models"  # the app_dirs fixture's INKLING_USER_MODELS
    user_models.mkdir(exist_ok=True)
    write_model(user_models, tiny_config("llama"), name="odd.gguf", architecture="mamba")
    window = make_window()

    def odd():
        return next(a for a in open_model_menu(window) if a.text().startswith("odd.gguf   "))

    qtbot.waitUntil(lambda: "reading its header" not in odd().text(), timeout=20000)
    assert not odd().isEnabled() and "'mamba' is not one Inkling computes" in odd().toolTip()
    assert odd().text().startswith("odd.gguf   (mamba F32, ") and odd().text().endswith(", user)")
