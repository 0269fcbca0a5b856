"""tools/suggestion_examples.py: the README's prompt -> suggestion table, one column per model."""

from __future__ import annotations

import importlib.util

from tests.support.paths import REPO

TOOL = REPO / "tools" / "suggestion_examples.py"


def test_the_table_has_a_row_per_prompt_and_a_column_per_model():
    spec = importlib.util.spec_from_file_location("suggestion_examples", TOOL)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    table = tool.suggestion_table(["default", "attention-lstm"], ("Once upon a time, there", "Dear Sir, I"))
    lines = table.splitlines()
    assert lines[0] == "| Prompt | default | attention-lstm |"
    assert len(lines) == 4
    assert lines[2].startswith("| Once upon a time, there | `") and lines[2].count("`") == 4
