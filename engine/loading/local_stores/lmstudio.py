"""The GGUF models LM Studio has downloaded, found in its models folder.

LM Studio keeps each model as ``<models>/<publisher>/<repo>/<file>.gguf`` and it is known by that relative name,
``lmstudio-community/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q4_K_M.gguf``. The models folder is, first found first:
``downloadsFolder`` of its settings.json (the user moved it), ``<home>/models`` where ``<home>`` is the folder named
by ``~/.lmstudio-home-pointer`` or ``~/.lmstudio`` (``%USERPROFILE%\\.lmstudio`` on Windows), and before version 0.3
``~/.cache/lm-studio/models``. ``INKLING_LMSTUDIO_MODELS`` replaces them all (tests, or a folder of one's own).

Only the first part of a model split across files is listed (it says why it cannot be loaded); a projector file
of a vision model (``mmproj-*.gguf``) is listed like any other file, with its own reason.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from engine.loading.gguf_file import GGUF_SUFFIX
from engine.loading.local_stores.found_model import FoundModel, existing_folders

SOURCE = "lmstudio"
OVERRIDE = "INKLING_LMSTUDIO_MODELS"
_LATER_SPLIT_PART = re.compile(r"-(\d{5})-of-\d{5}\.gguf$", re.IGNORECASE)
MAX_SETTINGS_BYTES = 1 << 20


def lmstudio_folders() -> list[Path]:
    """The models folders that exist, in the order above, each once."""
    override = os.environ.get(OVERRIDE)
    if override:
        return existing_folders([Path(override).expanduser()])
    home = Path.home()
    lmstudio_home = _home_from_pointer(home / ".lmstudio-home-pointer") or home / ".lmstudio"
    candidates = [folder for settings in settings_files(lmstudio_home)
                  if (folder := _downloads_folder(settings)) is not None]
    candidates += [lmstudio_home / "models", home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    return existing_folders(candidates)


def lmstudio_models() -> list[FoundModel]:
    """Every ``publisher/repo/file.gguf`` in the models folders, sorted by name (the first folder wins a name)."""
    found: dict[str, FoundModel] = {}
    for folder in lmstudio_folders():
        for path in sorted(folder.glob(f"*/*/*{GGUF_SUFFIX}")):
            if not path.is_file() or _is_later_split_part(path) or any(p.startswith(".") for p in _parts(folder, path)):
                continue
            name = "/".join(_parts(folder, path))
            found.setdefault(name.lower(), FoundModel(name, path, SOURCE))
    return sorted(found.values(), key=lambda model: model.name.lower())


def find_lmstudio_model(name: str) -> FoundModel | None:
    """The file LM Studio knows as ``publisher/repo/file.gguf``, else None."""
    parts = name.strip().split("/")
    if len(parts) != 3 or not parts[2].lower().endswith(GGUF_SUFFIX):
        return None
    if any(not part or part in (".", "..") or "\\" in part or ":" in part for part in parts):
        return None  # never a way out of the models folder
    for folder in lmstudio_folders():
        path = folder.joinpath(*parts)
        if path.is_file():
            return FoundModel("/".join(parts), path, SOURCE)
    return None


def _parts(folder: Path, path: Path) -> tuple[str, ...]:
    return path.relative_to(folder).parts


def _is_later_split_part(path: Path) -> bool:
    match = _LATER_SPLIT_PART.search(path.name)
    return match is not None and int(match.group(1)) > 1


def _home_from_pointer(pointer: Path) -> Path | None:
    try:
        text = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return Path(text).expanduser() if text else None


def settings_files(lmstudio_home: Path, platform: str = sys.platform) -> list[Path]:
    """settings.json in LM Studio's home (0.3 on), then where older versions kept it (the app's config folder on
    ``platform``)."""
    files = [lmstudio_home / "settings.json"]
    if platform == "win32":
        appdata = os.environ.get("APPDATA")
        if appdata:
            files.append(Path(appdata) / "LM Studio" / "settings.json")
    elif platform == "darwin":
        files.append(Path.home() / "Library" / "Application Support" / "LM Studio" / "settings.json")
    else:
        config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        files.append(Path(config) / "LM Studio" / "settings.json")
    return files


def _downloads_folder(settings: Path) -> Path | None:
    try:
        with open(settings, "rb") as handle:
            data = json.loads(handle.read(MAX_SETTINGS_BYTES))
    except (OSError, ValueError, UnicodeDecodeError):
        return None  # no settings, or ones we cannot read: the default folders are still looked at
    folder = data.get("downloadsFolder") if isinstance(data, dict) else None
    return Path(folder).expanduser() if isinstance(folder, str) and folder.strip() else None
