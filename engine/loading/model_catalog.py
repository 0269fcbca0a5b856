"""The user's model catalog: model folders opened from anywhere on disk (Model ▸ Open Model Folder…), remembered so
every door lists them (the GUI's Model menu, ``inkling models``). One JSON file in the user data folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.owned_files import write_owned_text
from engine.user_data import user_data_dir

CATALOG_FILE = "model_catalog.json"
MAX_FOLDERS = 50


def catalog_path() -> Path:
    return user_data_dir() / CATALOG_FILE


def catalog_folders() -> list[Path]:
    """The folders remembered, most recent first; a missing or damaged catalog is an empty one."""
    try:
        data = json.loads(catalog_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    folders = data.get("folders") if isinstance(data, dict) else None
    return [Path(f) for f in folders if isinstance(f, str)] if isinstance(folders, list) else []


def remember_folder(folder: str | os.PathLike) -> None:
    """Add ``folder`` (made absolute) at the front of the catalog; written atomically (a crash leaves the old)."""
    folder = Path(folder).expanduser().resolve()
    folders = [folder] + [f for f in catalog_folders() if f != folder]
    path = catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_owned_text(path, json.dumps({"version": 1, "folders": [str(f) for f in folders[:MAX_FOLDERS]]}, indent=1))
