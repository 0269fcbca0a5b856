"""CI (``.ci/run``) runs exactly the README's test command, and that command lints and type-checks too."""

from __future__ import annotations

from tests.support.paths import REPO


def test_ci_runs_the_readme_s_test_command_which_lints_and_type_checks():
    command = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert command in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert "ruff check ." in command and "&& mypy &&" in command and "python -m pytest -q" in command
