"""View: Alternatives panel, suggestions on/off, confidence shading, font size, theme."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar

from gui.menus.actions import ActionRegistry
from gui.preferences import Preferences

THEME_LABELS = (("system", "Follow &System"), ("light", "&Light"), ("dark", "&Dark"))


def build_view_menu(menu_bar: QMenuBar, actions: ActionRegistry, preferences: Preferences,
                    alternatives: QDockWidget) -> QMenu:
    menu = menu_bar.addMenu("&View")
    settings = preferences.settings
    panel_action = alternatives.toggleViewAction()
    panel_action.setText("&Alternatives Panel")
    panel_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
    menu.addAction(panel_action)
    actions.register("view.alternatives", panel_action)
    suggestions = actions.add(menu, "view.suggestions", "&Suggestions", preferences.set_suggestions_enabled,
                              QKeySequence("Ctrl+Shift+Space"), checkable=True)
    suggestions.setChecked(settings.suggestions_enabled)
    shading = actions.add(menu, "view.confidence", "&Confidence Shading", preferences.set_confidence_shading,
                          checkable=True)
    shading.setChecked(settings.confidence_shading)
    shading.setStatusTip("Shade suggested words by how sure the model is: fainter means less likely")
    menu.addSeparator()
    actions.add(menu, "view.font_bigger", "&Bigger Text", lambda: preferences.change_font_size(+1),
                QKeySequence.StandardKey.ZoomIn)
    actions.add(menu, "view.font_smaller", "S&maller Text", lambda: preferences.change_font_size(-1),
                QKeySequence.StandardKey.ZoomOut)
    actions.add(menu, "view.font_reset", "&Default Text Size", lambda: preferences.change_font_size(0),
                QKeySequence("Ctrl+0"))
    menu.addSeparator()
    themes = menu.addMenu("&Theme")
    group = QActionGroup(themes)
    for key, label in THEME_LABELS:
        action = QAction(label, themes)
        action.setCheckable(True)
        action.setChecked(settings.theme == key)
        action.triggered.connect(lambda _checked=False, k=key: preferences.set_theme(k))
        group.addAction(action)
        themes.addAction(action)
        actions.register(f"view.theme.{key}", action)
    return menu
