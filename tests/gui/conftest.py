"""Fixtures of the GUI tests: a ``Prompts`` that answers at once and a window factory on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.decoding.settings import DecodingSettings
from tests.support.gui import FAST_GREEDY, TEST_DEBOUNCE_MS, FakePrompts


@pytest.fixture
def prompts() -> FakePrompts:
    return FakePrompts()


@pytest.fixture
def make_window(qtbot, app_dirs, prompts, tiny_gpt2_folder):
    """``make_window(**overrides)`` -> a shown MainWindow on the tiny model, engine ready, suggestions fast. The
    device is pinned to the CPU, so a machine with a GPU runs the same suite (``device=None``: the saved choice)."""
    from gui import MainWindow

    windows = []

    def make(model: str | Path | None = tiny_gpt2_folder, settings: DecodingSettings | None = FAST_GREEDY,
             wait_ready: bool = True, **kwargs):
        options = {**app_dirs, "prompts": prompts, "debounce_ms": TEST_DEBOUNCE_MS, "device": "cpu", **kwargs}
        window = MainWindow(str(model) if model is not None else None, **options)
        windows.append(window)
        qtbot.addWidget(window)
        window.show()
        if wait_ready:
            qtbot.waitUntil(window.engine_ready, timeout=20000)
        if settings is not None:
            window.suggestions.set_settings(settings)
        return window

    yield make
    for window in windows:
        window.shutdown()
