"""View: Alternatives panel, suggestions on/off, confidence shading, font size, theme."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from gui.main_window import MainWindow

THEME_LABELS = (("system", "Follow &System"), ("light", "&Light"), ("dark", "&Dark"))


def build_view_menu(window: MainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&View")
    panel_action = window.alternatives.toggleViewAction()
    panel_action.setText("&Alternatives Panel")
    panel_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
    menu.addAction(panel_action)
    window.actions["view.alternatives"] = panel_action
    suggestions = window.add_action(menu, "view.suggestions", "&Suggestions", window.set_suggestions_enabled,
                                    QKeySequence("Ctrl+Shift+Space"), checkable=True)
    suggestions.setChecked(window.app_settings.suggestions_enabled)
    shading = window.add_action(menu, "view.confidence", "&Confidence Shading", window.set_confidence_shading,
                                checkable=True)
    shading.setChecked(window.app_settings.confidence_shading)
    shading.setStatusTip("Shade suggested words by how sure the model is: fainter means less likely")
    menu.addSeparator()
    window.add_action(menu, "view.font_bigger", "&Bigger Text", lambda: window.change_font_size(+1),
                      QKeySequence.StandardKey.ZoomIn)
    window.add_action(menu, "view.font_smaller", "S&maller Text", lambda: window.change_font_size(-1),
                      QKeySequence.StandardKey.ZoomOut)
    window.add_action(menu, "view.font_reset", "&Default Text Size", lambda: window.change_font_size(0),
                      QKeySequence("Ctrl+0"))
    menu.addSeparator()
    themes = menu.addMenu("&Theme")
    group = QActionGroup(themes)
    for key, label in THEME_LABELS:
        action = QAction(label, themes)
        action.setCheckable(True)
        action.setChecked(window.app_settings.theme == key)
        action.triggered.connect(lambda _checked=False, k=key: window.set_theme(k))
        group.addAction(action)
        themes.addAction(action)
        window.actions[f"view.theme.{key}"] = action
    return menu
