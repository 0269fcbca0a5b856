"""The first start offers a better model once, in the status bar, never as a modal; suggestions go on meanwhile."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from gui.statusbar.better_model_offer import DISMISS_LINK, GET_LINK
from tests.support.gui import type_and_wait_for_suggestion


def test_the_first_start_offers_it_in_the_status_bar_and_remembers(qtbot, make_window, app_dirs, prompts):
    window = make_window()
    offer = window.better_model_offer
    assert offer is not None and offer.isVisible()
    assert offer.parent() is window.status
    assert "Get a better model" in offer.label.text()
    assert offer.label.textInteractionFlags() & Qt.TextInteractionFlag.LinksAccessibleByKeyboard  # Tab reaches it
    assert json.loads((app_dirs["config_dir"] / "settings.json").read_text())["better_model_offered"] is True
    assert prompts.calls == []  # no question, no modal wall
    assert type_and_wait_for_suggestion(qtbot, window, "The quick brown")  # the bundled model keeps suggesting


def test_the_offer_never_widens_the_window_and_shows_whole_where_there_is_room(qtbot, make_window):
    window = make_window()
    offer = window.better_model_offer
    window.resize(700, 500)
    qtbot.waitUntil(lambda: window.width() == 700, timeout=5000)
    assert offer.isVisible()
    window.resize(1200, 500)
    qtbot.waitUntil(lambda: offer.width() >= offer.label.sizeHint().width(), timeout=5000)


def test_the_link_opens_get_models_and_the_offer_goes(qtbot, make_window):
    window = make_window()
    window.better_model_offer.label.linkActivated.emit(GET_LINK)
    dialog = window.model_dialogs.get_models
    assert dialog is not None and dialog.isVisible()
    assert not window.better_model_offer.isVisible()


def test_not_now_hides_it_without_opening_anything(qtbot, make_window):
    window = make_window()
    window.better_model_offer.label.linkActivated.emit(DISMISS_LINK)
    assert not window.better_model_offer.isVisible()
    assert window.model_dialogs.get_models is None


def test_it_is_offered_only_once(qtbot, make_window):
    first = make_window()
    assert first.better_model_offer is not None
    first.shutdown()
    second = make_window()
    assert second.better_model_offer is None
