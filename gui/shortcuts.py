"""Every keyboard shortcut of the app in one table: the Help dialog and the README are made from it."""

from __future__ import annotations

EDITOR_SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Tab", "Accept the whole suggestion"),
    ("Ctrl+Right", "Accept the next word of the suggestion"),
    ("Esc", "Dismiss the suggestion"),
    ("Alt+]  /  Alt+[", "Next / previous alternative"),
    ("Ctrl+Space", "Suggest now"),
    ("Ctrl+1 … Ctrl+9", "Insert that alternative"),
    ("Ctrl+Shift+Space", "Suggestions on / off"),
    ("Alt+R", "Re-roll: a new suggestion here with another seed (always sampled)"),
    ("Alt+Shift+[  /  Alt+Shift+]", "Previous / next suggestion made here (Tab accepts the one shown)"),
)

APP_SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+N", "New document"),
    ("Ctrl+O", "Open…"),
    ("Ctrl+S", "Save"),
    ("Ctrl+Shift+S", "Save As…"),
    ("Ctrl+Q", "Quit"),
    ("Ctrl+Z  /  Ctrl+Shift+Z", "Undo / redo (an accepted suggestion is one step)"),
    ("Ctrl+X  /  Ctrl+C  /  Ctrl+V", "Cut / copy / paste (never the ghost text)"),
    ("Ctrl+A", "Select all"),
    ("Ctrl+F", "Find…"),
    ("F3  /  Shift+F3", "Find next / previous (wraps around)"),
    ("Ctrl+H", "Replace… (Replace All is one undo step)"),
    ("Ctrl+G", "Go to line…"),
    ("Ctrl++  /  Ctrl+-  /  Ctrl+0", "Bigger / smaller / default font"),
    ("Ctrl+Shift+A", "Show or hide the Alternatives panel"),
    ("Ctrl+,", "Decoding settings…"),
    ("F1", "Keyboard shortcuts"),
)


def markdown_table() -> str:
    rows = ["| Keys | Action |", "|---|---|"]
    for keys, action in EDITOR_SHORTCUTS + APP_SHORTCUTS:
        rows.append(f"| {keys} | {action} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
