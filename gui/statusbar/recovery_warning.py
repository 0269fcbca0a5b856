"""A standing warning while crash recovery cannot write its snapshot (a full disk, a folder that cannot be
written): a message in the message line would be gone after a few seconds, long before the problem is."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from gui.documents.document_io import DocumentError


class RecoveryWarning(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recoveryWarning")
        self.setStyleSheet("QLabel#recoveryWarning { color: #c62828; font-weight: bold; }")
        self.show_problem(None)

    def show_problem(self, problem: DocumentError | None) -> None:
        """Show ``problem`` until it is called again with None (the next snapshot was written)."""
        if problem is None:
            self.setText("")
            self.setToolTip("")
        else:
            full = getattr(problem, "disk_full", False)
            self.setText("⚠ Disk full: unsaved text not backed up" if full else "⚠ Crash recovery not working")
            self.setToolTip(f"Crash recovery is not working: {problem}")
        self.setVisible(problem is not None)
