"""The first start's offer of a better model: a link in the status bar, never a modal dialog.

Shown once in the app's life (the settings remember it was offered, the moment it is shown, so a crash or a quit
does not bring it back); the bundled model keeps suggesting meanwhile. "Get a better model…" opens Model ▸ Get
Models…; "Not now" hides it. Either way it is gone for good: Get Models stays in the Model menu.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStatusBar, QWidget

from gui.settings.settings_store import AppSettings

GET_LINK, DISMISS_LINK = "get", "dismiss"


class BetterModelOffer(QWidget):
    accepted = Signal()  # the writer wants to see the models
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("betterModelOffer")
        self.label = QLabel(f'<a href="{GET_LINK}">Get a better model…</a> &nbsp; <a href="{DISMISS_LINK}">Not now</a>')
        self.label.setObjectName("betterModelOfferLink")
        self.label.setToolTip("Download a model that suggests far better than the bundled one (Model ▸ Get Models…)")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse
                                           | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        self.label.linkActivated.connect(self._on_link)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)

    def minimumSizeHint(self) -> QSize:
        """Full width where there is room, but never a reason for the window to be wider: the status bar's other
        widgets already ask for most of a small window."""
        return QSize(0, super().minimumSizeHint().height())

    def _on_link(self, link: str) -> None:
        self.hide()
        if link == GET_LINK:
            self.accepted.emit()
        else:
            self.dismissed.emit()


def offer_better_model_once(settings: AppSettings, save: Callable[[], None], status_bar: QStatusBar,
                            open_models: Callable[[], object]) -> BetterModelOffer | None:
    """Put the offer in ``status_bar`` unless it was made before; returns it (None when not offered)."""
    if settings.better_model_offered:
        return None
    settings.better_model_offered = True
    save()
    offer = BetterModelOffer(status_bar)
    offer.accepted.connect(open_models)
    status_bar.insertPermanentWidget(0, offer)
    return offer
