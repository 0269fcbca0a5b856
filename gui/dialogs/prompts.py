"""Every question the app asks the user, in one replaceable object.

The main window never calls ``QMessageBox`` or ``QFileDialog`` directly; it asks its ``Prompts``. Tests pass a
subclass that answers at once, so no modal dialog ever blocks a test.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from engine.byte_sizes import format_bytes
from engine.decoding.settings import DEFAULT_MIN_WORD_PROBABILITY, DecodingSettings
from gui.documents.recovery import RecoveredDocument


def sentence(message: str) -> str:
    """Engine messages start in lower case (they read well after "inkling: "); a dialog wants a sentence."""
    message = message.strip()
    if not message:
        return message
    first_word = message.split(maxsplit=1)[0]
    # A message may start with a file name ("ls.bin looks like..."); its case is part of the name.
    if first_word.isalpha():
        message = message[:1].upper() + message[1:]
    return message + ("" if message[-1] in ".!?" else ".")


TEXT_FILE_FILTER = "Text files (*.txt *.md *.markdown *.rst *.text);;All files (*)"
MODEL_FILE_FILTER = ("Models (*.gguf config.json *.safetensors);;GGUF files (*.gguf);;"
                     "Model folders (config.json *.safetensors);;All files (*)")


class Prompts:
    def ask_save_changes(self, parent: QWidget | None, document_name: str) -> str:
        """"save", "discard" or "cancel"."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                          f"Save the changes to “{document_name}” before closing it?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, parent)
        box.setInformativeText("Your changes will be lost if you don’t save them.")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return "save"
        if answer == QMessageBox.StandardButton.Discard:
            return "discard"
        return "cancel"

    def open_file_path(self, parent: QWidget | None, folder: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(parent, "Open", folder, TEXT_FILE_FILTER)
        return path or None

    def save_file_path(self, parent: QWidget | None, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(parent, "Save As", suggested, TEXT_FILE_FILTER)
        return path or None

    def model_path(self, parent: QWidget | None, folder: str) -> str | None:
        """A GGUF file, or any file of a model folder (config.json, a .safetensors): the caller opens its folder.

        One file dialog for both, since a folder dialog cannot show files and a file dialog cannot pick a folder."""
        path, _ = QFileDialog.getOpenFileName(parent, "Open Model: a .gguf file, or a file in a model folder",
                                              folder, MODEL_FILE_FILTER)
        return path or None

    def error(self, parent: QWidget | None, title: str, message: str) -> None:
        QMessageBox.critical(parent, title, sentence(message))

    def offer_model_folder(self, parent: QWidget | None, message: str) -> bool:
        """No model could be loaded at start: offer to open a model (a file or a folder) now."""
        box = QMessageBox(QMessageBox.Icon.Information, "No language model",
                          "Inkling needs a language model to suggest text.", parent=parent)
        box.setInformativeText(f"{sentence(message)}\n\nYou can write without suggestions, or open a model: a "
                               ".gguf file, or a folder with config.json, tokenizer.json and model.safetensors.")
        open_button = box.addButton("Open Model…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Write Without Suggestions", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return box.clickedButton() is open_button

    def choose_encoding(self, parent: QWidget | None, file_name: str, problem: str,
                        encodings: Sequence[str]) -> str | None:
        encoding, ok = QInputDialog.getItem(
            parent, "Not UTF-8",
            f"{problem}\n\nOpen “{file_name}” with another encoding? Saving keeps that encoding.",
            list(encodings), 0, False)
        return encoding if ok else None

    def confirm_large_file(self, parent: QWidget | None, file_name: str, size_bytes: int) -> bool:
        answer = QMessageBox.question(
            parent, "Large file",
            f"“{file_name}” is {format_bytes(size_bytes)}. Opening it may take a moment; suggestions will use "
            "only the text near the cursor.\n\nOpen it?")
        return answer == QMessageBox.StandardButton.Yes

    def offer_restore(self, parent: QWidget | None, documents: Sequence[RecoveredDocument], note: str = "") -> bool:
        """True: restore the newest; False: discard them all. ``note`` compares the newest with its file on disk
        (which is newer)."""
        import time

        newest = documents[0]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(newest.saved_at))
        more = f"\n\n{len(documents) - 1} older unsaved document(s) will be kept for later." \
            if len(documents) > 1 else ""
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved work",
                          f"Inkling did not close properly. Restore the unsaved text of “{newest.title}” "
                          f"from {when}?{more}", parent=parent)
        if note:
            box.setInformativeText(note)
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(restore)
        box.exec()
        return box.clickedButton() is restore

    def file_changed_on_disk(self, parent: QWidget | None, file_name: str, deleted: bool) -> str:
        """The open file changed (or was deleted) on disk since it was read or saved here: "overwrite", "reload"
        (never offered for a deleted file), "save_as" or "cancel". Cancel is the default: a stray Enter must not
        destroy the other program's edit."""
        if deleted:
            box = QMessageBox(QMessageBox.Icon.Warning, "File deleted on disk",
                              f"“{file_name}” was deleted or moved since Inkling opened or saved it.", parent=parent)
            box.setInformativeText("Save your text there again, save it somewhere else, or cancel?")
            overwrite = box.addButton("Save Again There", QMessageBox.ButtonRole.AcceptRole)
            reload = None
        else:
            box = QMessageBox(QMessageBox.Icon.Warning, "File changed on disk",
                              f"“{file_name}” was changed by another program since Inkling opened or saved it.",
                              parent=parent)
            box.setInformativeText("Overwrite replaces the other program's changes with your text; Reload replaces "
                                   "your unsaved changes with the file's text; Save As keeps both.")
            overwrite = box.addButton("Overwrite", QMessageBox.ButtonRole.DestructiveRole)
            reload = box.addButton("Reload", QMessageBox.ButtonRole.ResetRole)
        save_as = box.addButton("Save As…", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        clicked = box.clickedButton()
        if clicked is overwrite:
            return "overwrite"
        if reload is not None and clicked is reload:
            return "reload"
        return "save_as" if clicked is save_as else "cancel"

    def offer_reload(self, parent: QWidget | None, file_name: str) -> bool:
        """The open file, unmodified here, was changed on disk: True to show the new text."""
        answer = QMessageBox.question(
            parent, "File changed on disk",
            f"“{file_name}” was changed by another program. You have no unsaved changes. Reload it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def confirm_replace_read_only(self, parent: QWidget | None, file_name: str) -> bool:
        answer = QMessageBox.question(
            parent, "Read-only file",
            f"“{file_name}” is read-only: someone marked it not to be changed. Replace it anyway? "
            "(It stays read-only.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def confirm_save_as_utf8(self, parent: QWidget | None, message: str) -> bool:
        answer = QMessageBox.question(parent, "Cannot save in this encoding", f"{message}\n\nSave as UTF-8?")
        return answer == QMessageBox.StandardButton.Yes

    def edit_decoding(self, parent: QWidget | None, settings: DecodingSettings, debounce_ms: int,
                      model_bar: float = DEFAULT_MIN_WORD_PROBABILITY) -> tuple[DecodingSettings, int] | None:
        """``model_bar``: the loaded model's doubt-cut bar, shown where the settings leave it to the model."""
        from gui.dialogs.decoding_dialog import edit_decoding

        return edit_decoding(parent, settings, debounce_ms, model_bar)

    def edit_never_suggest(self, parent: QWidget | None, words: tuple[str, ...]) -> tuple[str, ...] | None:
        """The never-suggest list as the user edited it, or None when cancelled."""
        from gui.dialogs.never_suggest_dialog import edit_never_suggest

        return edit_never_suggest(parent, words)

    def show_shortcuts(self, parent: QWidget | None) -> None:
        from gui.dialogs.shortcuts_dialog import ShortcutsDialog

        ShortcutsDialog(parent).exec()

    def show_about(self, parent: QWidget | None, model) -> None:
        from gui.dialogs.about_dialog import AboutDialog

        AboutDialog(model, parent).exec()

    def training_folder(self, parent: QWidget | None, folder: str) -> str | None:
        """A folder of the user's own writing to fine-tune on (Model ▸ Learn from My Writing…)."""
        path = QFileDialog.getExistingDirectory(parent, "Choose a Folder of Your Writing", folder)
        return path or None

    def memory_folder(self, parent: QWidget | None, folder: str) -> str | None:
        """A folder of the user's writing for the memory to remember (Model ▸ Memory ▸ Add Folder…)."""
        path = QFileDialog.getExistingDirectory(parent, "Choose a Folder for the Memory", folder)
        return path or None

    def evaluation_document(self, parent: QWidget | None, folder: str) -> str | None:
        """A document to measure the model on (Model ▸ Evaluate on My Text…)."""
        path, _ = QFileDialog.getOpenFileName(parent, "Choose a Document to Evaluate On", folder, TEXT_FILE_FILTER)
        return path or None

    def confirm_discard_run(self, parent: QWidget | None, description: str) -> bool:
        answer = QMessageBox.question(
            parent, "Discard unfinished training",
            f"Delete the unfinished run {description}? Its checkpoint is deleted and it cannot be continued.")
        return answer == QMessageBox.StandardButton.Yes

    def go_to_line(self, parent: QWidget | None, current: int, last: int) -> int | None:
        """A line number from 1 to ``last`` (``current`` offered), or None when cancelled."""
        line, ok = QInputDialog.getInt(parent, "Go to Line", f"Line (1–{last}):", current, 1, max(1, last))
        return line if ok else None

    def hub_repo_id(self, parent: QWidget | None) -> str | None:
        """A Hugging Face repo id to download (Model ▸ Download Model…), or None when cancelled."""
        repo_id, ok = QInputDialog.getText(
            parent, "Download Model",
            "Hugging Face repo id (for example HuggingFaceTB/SmolLM2-135M):")
        return (repo_id.strip() or None) if ok else None
