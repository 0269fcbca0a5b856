"""The user's model catalog: model folders and GGUF files opened from anywhere on disk (Model ▸ Open Model…, or
dropped on the window), remembered so every door lists them (the GUI's Model menu, ``inkling models``), most
recent first. One JSON file in the user data folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.owned_files import write_owned_text
from engine.user_data import user_data_dir

CATALOG_FILE = "model_catalog.json"
MAX_MODELS = 50
#: The list's key; catalogs written before files could be opened call it "folders".
_KEYS = ("models", "folders")


def catalog_path() -> Path:
    return user_data_dir() / CATALOG_FILE


def catalog_models() -> list[Path]:
    """The folders and files remembered, most recent first; a missing or damaged catalog is an empty one."""
    try:
        data = json.loads(catalog_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    entries: list = next((data[key] for key in _KEYS if isinstance(data.get(key), list)), [])
    return [Path(entry) for entry in entries if isinstance(entry, str)]


def remember_model(path: str | os.PathLike) -> None:
    """Put ``path`` (a model folder or a GGUF file, made absolute) at the front of the catalog; written atomically
    (a crash leaves the old)."""
    path = Path(path).expanduser().resolve()
    models = [path] + [entry for entry in catalog_models() if entry != path]
    target = catalog_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_owned_text(target, json.dumps({"version": 2, "models": [str(entry) for entry in models[:MAX_MODELS]]},
                                        indent=1))
