"""The per-user data folder: fine-tuning runs in progress, evaluation history (and the GUI's recovery files)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path


def user_data_dir() -> Path:
    """The platformdirs user data folder for Inkling; ``INKLING_DATA_DIR`` overrides it (tests, portable setups)."""
    override = os.environ.get("INKLING_DATA_DIR")
    return Path(override) if override else user_data_path("inkling", appauthor=False)
