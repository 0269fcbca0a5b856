"""The ``inkling`` command (``gui.launcher``): the engine's one parser, headless subcommands, the app otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine import cli
from gui import launcher
from tests.support.paths import REPO


def test_a_subcommand_through_the_inkling_command_never_imports_qt(tmp_path):
    code = (
        "import sys\n"
        "from gui import launcher\n"
        "code = launcher.main(['models'])\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6'))\n"
        "print('QT:' + ','.join(qt))\n"
        "sys.exit(code)\n"
    )
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), INKLING_USER_MODELS=str(tmp_path / "models"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True,
                            cwd=REPO, env=env)
    assert result.stdout.strip().splitlines()[-1] == "QT:"


def test_the_engine_s_own_command_line_without_a_subcommand_prints_its_help(capsys, monkeypatch):
    import gui.app

    monkeypatch.setattr(gui.app, "run_app", lambda argv: pytest.fail("python -m engine must not open the app"))
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_the_inkling_help_lists_the_subcommands_and_says_how_to_open_the_app(capsys):
    with pytest.raises(SystemExit) as exit_:
        launcher.main(["--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert "A bare `inkling` opens the app" in help_text and "inkling FILE" in help_text
    assert all(command in help_text for command in ("complete", "models", "train", "eval"))


def test_the_inkling_console_script_is_the_launcher():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["inkling"] == "gui.launcher:main"
