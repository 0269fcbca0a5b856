"""Edit ▸ Find / Replace: a window beside the text (not modal) that finds, replaces and replaces all."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.editor.text_search import Search, find, replace_all, replace_next


class FindReplaceDialog(QDialog):
    def __init__(self, editor: QPlainTextEdit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.setWindowTitle("Find and Replace")
        self.setObjectName("findReplaceDialog")
        self.setModal(False)
        self.find_field = QLineEdit()
        self.replace_field = QLineEdit()
        self.match_case = QCheckBox("Match &case")
        self.whole_words = QCheckBox("&Whole words")
        self.status = QLabel("")
        self.next_button = QPushButton("&Next")
        self.previous_button = QPushButton("&Previous")
        self.replace_button = QPushButton("&Replace")
        self.replace_all_button = QPushButton("Replace &All")
        close = QPushButton("Close")

        fields = QFormLayout()
        fields.addRow("Find", self.find_field)
        fields.addRow("Replace with", self.replace_field)
        options = QHBoxLayout()
        options.addWidget(self.match_case)
        options.addWidget(self.whole_words)
        options.addStretch(1)
        buttons = QHBoxLayout()
        for button in (self.previous_button, self.next_button, self.replace_button, self.replace_all_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        root = QVBoxLayout(self)
        root.addLayout(fields)
        root.addLayout(options)
        root.addWidget(self.status)
        root.addLayout(buttons)

        self.next_button.setDefault(True)  # Enter in either field finds the next match
        self.next_button.clicked.connect(lambda: self.find_next(backward=False))
        self.previous_button.clicked.connect(lambda: self.find_next(backward=True))
        self.replace_button.clicked.connect(self.replace)
        self.replace_all_button.clicked.connect(self.replace_all)
        close.clicked.connect(self.hide)
        self.find_field.textChanged.connect(lambda _text: self.status.setText(""))

    def search(self) -> Search:
        return Search(self.find_field.text(), self.match_case.isChecked(), self.whole_words.isChecked())

    def open_for(self, replacing: bool) -> None:
        """Show it with the selected text (one line of it) to find, the cursor in the field to type in next."""
        selected = self.editor.textCursor().selectedText()
        if selected and "\u2029" not in selected:  # Qt's paragraph separator: a selection across lines
            self.find_field.setText(selected)
        self.show()
        self.raise_()
        self.activateWindow()
        field = self.replace_field if replacing and self.find_field.text() else self.find_field
        field.setFocus(Qt.FocusReason.OtherFocusReason)
        field.selectAll()

    def find_next(self, backward: bool = False) -> bool:
        """The next (or previous) match of the last search, wrapping around; says so when there is none."""
        search = self.search()
        if not search.text:
            self.open_for(replacing=False)
            return False
        found = find(self.editor, search, backward)
        self.status.setText("" if found else f"“{search.text}” not found")
        return found

    def replace(self) -> bool:
        search = self.search()
        found = replace_next(self.editor, search, self.replace_field.text())
        self.status.setText("" if found else f"“{search.text}” not found")
        return found

    def replace_all(self) -> int:
        search = self.search()
        count = replace_all(self.editor, search, self.replace_field.text())
        self.status.setText(f"Replaced {count} match{'es' * (count != 1)} (one Undo takes them back)" if count
                            else f"“{search.text}” not found")
        return count
