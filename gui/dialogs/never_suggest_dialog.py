"""The never-suggest list: words the suggestions must never contain, edited as plain text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from engine.quality.suggestion_quality import MAX_NEVER_SUGGEST, parse_word_list


class NeverSuggestDialog(QDialog):
    def __init__(self, words: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Never Suggest")
        self.setObjectName("neverSuggestDialog")
        intro = QLabel("Suggestions never contain these words (whole words, in any case). "
                       "One word per line, or separated by spaces or commas.")
        intro.setWordWrap(True)
        self.editor = QPlainTextEdit("\n".join(words))
        self.editor.setObjectName("neverSuggestWords")
        self.problem = QLabel()
        self.problem.setObjectName("neverSuggestProblem")
        self.problem.setWordWrap(True)
        self.problem.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.resize(360, 320)

    def words(self) -> tuple[str, ...]:
        return parse_word_list(self.editor.toPlainText())[0]

    def accept(self) -> None:
        """Only a list of single words is taken; otherwise the dialog stays open and says what is wrong."""
        words, rejected = parse_word_list(self.editor.toPlainText())
        if rejected:
            shown = ", ".join(f"“{entry}”" for entry in rejected[:5]) + (" …" if len(rejected) > 5 else "")
            self._complain(f"Only single words can be listed (letters and digits, no spaces or hyphens). "
                           f"Split or remove: {shown}.")
            return
        if len(words) > MAX_NEVER_SUGGEST:
            self._complain(f"The list can hold at most {MAX_NEVER_SUGGEST} words; it has {len(words)}.")
            return
        super().accept()

    def _complain(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.show()


def edit_never_suggest(parent: QWidget | None, words: tuple[str, ...]) -> tuple[str, ...] | None:
    dialog = NeverSuggestDialog(words, parent)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.words()
