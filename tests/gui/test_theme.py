"""Dark theme: the toolbar's on/off toggles show whether they are on."""

from __future__ import annotations

from PySide6.QtGui import QImage, QPalette
from PySide6.QtWidgets import QToolButton


def _mean_rgb(image: QImage) -> tuple[float, float, float]:
    total = [0.0, 0.0, 0.0]
    count = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            color = image.pixelColor(x, y)
            total[0] += color.red()
            total[1] += color.green()
            total[2] += color.blue()
            count += 1
    return tuple(value / count for value in total)


def test_dark_theme_toolbar_toggles_look_different_when_on_and_off(qtbot, make_window):
    window = make_window(wait_ready=False, settings=None)
    window.named_actions["view.theme.dark"].trigger()
    qtbot.waitUntil(lambda: window.palette().color(QPalette.ColorRole.Button).lightness() < 128)
    for name in ("view.suggestions", "view.alternatives"):
        action = window.named_actions[name]
        button = next(b for b in window.findChildren(QToolButton) if b.defaultAction() is action)
        action.setChecked(True)
        on = _mean_rgb(button.grab().toImage())
        action.setChecked(False)
        off = _mean_rgb(button.grab().toImage())
        assert max(abs(a - b) for a, b in zip(on, off)) > 20, (name, on, off)
