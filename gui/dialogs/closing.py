"""Closing a dialog that runs a job on the engine thread: the job is stopped first, never abandoned mid-way.

Esc, the Close button and the window's close button all go through ``reject``; while a job runs they ask it to
stop and remember that the dialog should close, and the dialog's job-ended handlers call ``_close_if_asked`` to
finish the close once the job has really ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QCloseEvent

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDialog

    _DialogBase = QDialog  # the checker sees the QDialog whose methods super() reaches
else:
    _DialogBase = object


class StopJobBeforeClosing(_DialogBase):
    """Mixin for a QDialog subclass (list it before QDialog) that provides ``is_running`` and
    ``_stop_job_for_closing`` and sets ``self._close_when_stopped = False`` in its ``__init__``."""

    _close_when_stopped: bool

    def is_running(self) -> bool:
        raise NotImplementedError

    def _stop_job_for_closing(self) -> None:
        raise NotImplementedError

    def reject(self) -> None:
        """Esc, Close or the window's close button: a running job is stopped first, never lost."""
        if self.is_running():
            self._close_when_stopped = True
            self._stop_job_for_closing()
            return
        super().reject()

    def _close_if_asked(self) -> None:
        if self._close_when_stopped:
            self._close_when_stopped = False
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.is_running():
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)
