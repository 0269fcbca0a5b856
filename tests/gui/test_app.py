"""``inkling`` with no arguments starts the app: ``gui.launcher`` hands over to ``gui.app.run_app``."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from gui.app import build_parser, display_problem, run_app
from gui.main_window import MainWindow

REPO = Path(__file__).resolve().parents[2]


def test_command_line_options():
    args = build_parser().parse_args(["notes.txt", "--model", "mine", "--device", "cpu"])
    assert (args.file, args.model, args.device) == ("notes.txt", "mine", "cpu")


def test_run_app_opens_the_file_with_the_model_and_returns_the_exit_code(qtbot, tmp_path, monkeypatch,
                                                                          tiny_gpt2_folder):
    monkeypatch.setenv("INKLING_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("INKLING_DATA_DIR", str(tmp_path / "data"))
    document = tmp_path / "notes.txt"
    document.write_text("Dear diary,", encoding="utf-8")
    seen = {}

    def inspect_then_quit():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows or not windows[-1].engine_ready():
            QTimer.singleShot(20, inspect_then_quit)
            return
        window = windows[-1]
        seen.update(text=window.editor.toPlainText(), title=window.windowTitle(), model=window.models.active.name)
        window.close()
        QApplication.instance().exit(7)

    QTimer.singleShot(0, inspect_then_quit)
    app = QApplication.instance()
    # Quitting because the last window closed would leave this shared test QApplication unusable afterwards.
    app.setQuitOnLastWindowClosed(False)
    try:
        assert run_app([str(document), "--model", str(tiny_gpt2_folder), "--device", "cpu"]) == 7
    finally:
        app.setQuitOnLastWindowClosed(True)
    assert seen == {"text": "Dear diary,", "title": "notes.txt — Inkling", "model": str(tiny_gpt2_folder)}


def test_the_inkling_command_without_arguments_starts_the_app(monkeypatch):
    import gui.app
    from gui import launcher

    calls = []
    monkeypatch.setattr(gui.app, "run_app", lambda argv: calls.append(argv) or 0)
    assert launcher.main([]) == 0
    assert calls == [[]]


def test_a_file_or_the_app_s_options_open_the_app_and_subcommands_do_not(monkeypatch, tmp_path):
    import gui.app
    from gui import launcher

    calls = []
    monkeypatch.setattr(gui.app, "run_app", lambda argv: calls.append(argv) or 0)
    document = tmp_path / "notes"
    document.write_text("x", encoding="utf-8")
    for argv in (["notes.txt"], [str(document)], ["--model", "mine"], ["gui", "notes.txt"], ["drafts/new"]):
        assert launcher.main(argv) == 0
    assert calls == [["notes.txt"], [str(document)], ["--model", "mine"], ["notes.txt"], ["drafts/new"]]
    assert launcher.main(["models"]) == 0 and len(calls) == 5  # a subcommand stays headless


def test_without_a_display_or_qt_s_x11_library_the_app_says_what_to_do():
    def finds(found: bool):
        return lambda name: f"lib{name}.so.0" if found else None

    x11 = {"DISPLAY": ":0"}
    assert display_problem(x11, "linux", finds(True), list) is None
    assert "libxcb-cursor0" in display_problem(x11, "linux", finds(False), lambda: None)  # no ldd here
    assert display_problem(x11, "linux", finds(True), lambda: None) is None
    assert "no display" in display_problem({}, "linux", finds(True))
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux", finds(False)) is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", finds(False)) is None
    assert display_problem({}, "win32", finds(False)) is None


def test_the_documented_shortcut_table_is_the_one_the_app_uses():

    from gui.shortcuts import markdown_table

    assert markdown_table() in (REPO / "docs" / "GUI.md").read_text("utf-8")


def test_every_library_qt_s_x11_plugin_lacks_is_named_with_its_apt_package():
    from gui.xcb_check import debian_package, missing_from_ldd

    ldd_output = ("\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x1)\n"
                  "\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x2)\n"
                  "\tlibxcb-icccm.so.4 => not found\n\tlibxcb-keysyms.so.1 => not found\n"
                  "\tlibxcb-icccm.so.4 => not found\n")
    missing = missing_from_ldd(ldd_output)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    message = display_problem({"DISPLAY": ":0"}, "linux", lambda name: "found", lambda: missing)
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in message
    assert [debian_package(s) for s in ("libxkbcommon-x11.so.0", "libX11-xcb.so.1", "libxcb.so.1")] == [
        "libxkbcommon-x11-0", "libx11-xcb1", "libxcb1"]


def test_the_real_plugin_is_checked_with_ldd_where_there_is_one():
    import shutil
    import sys

    from gui.xcb_check import missing_xcb_libraries, xcb_plugin

    if not sys.platform.startswith("linux") or xcb_plugin() is None or shutil.which("ldd") is None:
        pytest.skip("needs Linux, PySide6's xcb plugin and ldd")
    missing = missing_xcb_libraries()
    assert isinstance(missing, list) and all(".so" in name for name in missing)
