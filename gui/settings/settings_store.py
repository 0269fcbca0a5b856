"""The app's persistent settings: one JSON file in the user config folder, written atomically.

``INKLING_CONFIG_DIR`` overrides the folder (tests use it so they never touch the real one). A file that cannot be
parsed is kept under another name (nothing is lost) and the defaults are used; ``SettingsStore.problem`` says so.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from platformdirs import user_config_path

from engine.decoding.settings import DecodingSettings
from engine.quality.suggestion_quality import QualitySettings
from gui.documents.document_io import DocumentError, atomic_write_bytes

SETTINGS_FILE = "settings.json"
MAX_RECENT_FILES = 10
MIN_FONT_SIZE, MAX_FONT_SIZE = 6, 72
THEMES = ("system", "light", "dark")
#: 2: a ``decoding.min_word_probability`` of None leaves the doubt cut's bar to the model. Files before it (no
#: "format") saved the then default, 0.1, whether or not the writer chose it, so there 0.1 is read as None; any
#: other bar was the writer's own and is kept.
SETTINGS_FORMAT = 2
_FORMAT_1_DEFAULT_MIN_WORD_PROBABILITY = 0.1

# The engine's defaults are the app's (one behaviour whichever door a user comes in by).
APP_DEFAULT_DECODING = DecodingSettings()
DEFAULT_QUALITY = QualitySettings()  # every quality guard on, suggestions at every pause


def config_dir() -> Path:
    override = os.environ.get("INKLING_CONFIG_DIR")
    return Path(override) if override else user_config_path("inkling", appauthor=False)


@dataclass
class AppSettings:
    model: str | None = None  # None: the bundled default
    device: str = "auto"
    decoding: DecodingSettings = APP_DEFAULT_DECODING
    quality: QualitySettings = DEFAULT_QUALITY  # coverage, quality guards, never-suggest list
    debounce_ms: int = 120
    suggestions_enabled: bool = True
    confidence_shading: bool = False
    alternatives_visible: bool = True
    font_size: int | None = None  # None: the platform's default size for the editor font
    theme: str = "system"
    memory_document: bool = True  # Model ▸ Memory ▸ This Document
    memory_folders: list[str] = field(default_factory=list)  # folders of the user's writing the memory holds
    recent_files: list[str] = field(default_factory=list)
    last_folder: str = ""  # where the model dialogs start; "" before any was used
    last_document_folder: str = ""  # where the last document was opened or saved; "" before any was
    better_model_offered: bool = False  # the first start's "Get a better model…" link was shown (once, ever)
    geometry: str = ""  # QMainWindow.saveGeometry(), base64
    window_state: str = ""  # QMainWindow.saveState(), base64
    format: int = SETTINGS_FORMAT  # of the file it was read from; always written as SETTINGS_FORMAT

    def to_json(self) -> dict:
        data = asdict(self)
        data["decoding"] = self.decoding.to_dict()
        data["quality"] = self.quality.to_dict()
        return data

    @classmethod
    def from_json(cls, data: dict) -> AppSettings:
        """Take what is valid, fall back to the default for each field that is missing or wrong."""
        defaults = cls()
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name not in data:
                continue
            value = data[spec.name]
            if spec.name == "decoding":
                try:
                    values["decoding"] = _decoding_of(value, data.get("format"))
                except (TypeError, ValueError, AttributeError):
                    pass
                continue
            if spec.name == "quality":
                if isinstance(value, dict):
                    values["quality"] = QualitySettings.from_dict(value)
                continue
            expected = type(getattr(defaults, spec.name))
            if getattr(defaults, spec.name) is None or isinstance(value, expected):
                values[spec.name] = value
        settings = cls(**values)
        settings.format = SETTINGS_FORMAT
        settings.recent_files = [p for p in settings.recent_files if isinstance(p, str)][:MAX_RECENT_FILES]
        if settings.theme not in THEMES:
            settings.theme = "system"
        if not isinstance(settings.debounce_ms, int) or not 0 <= settings.debounce_ms <= 5000:
            settings.debounce_ms = defaults.debounce_ms
        if settings.font_size is not None and (
            not isinstance(settings.font_size, int) or not MIN_FONT_SIZE <= settings.font_size <= MAX_FONT_SIZE
        ):
            settings.font_size = None
        if settings.model is not None and not isinstance(settings.model, str):
            settings.model = None
        return settings

    def add_recent_file(self, path: str) -> None:
        self.recent_files = [path] + [p for p in self.recent_files if p != path]
        del self.recent_files[MAX_RECENT_FILES:]


def _decoding_of(value: dict, file_format: object) -> DecodingSettings:
    decoding = DecodingSettings.from_dict(value)
    older = not isinstance(file_format, int) or file_format < SETTINGS_FORMAT
    if older and decoding.min_word_probability == _FORMAT_1_DEFAULT_MIN_WORD_PROBABILITY:
        return decoding.replace(min_word_probability=None)
    return decoding


class SettingsStore:
    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder) if folder is not None else config_dir()
        self.path = self.folder / SETTINGS_FILE
        self.problem: str | None = None  # set when the saved file could not be used

    def load(self) -> AppSettings:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return AppSettings()
        except OSError as exc:
            self.problem = f"Could not read the settings file {self.path}: {exc.strerror or exc}; using defaults."
            return AppSettings()
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")  # noqa: TRY004 - handled below like any bad JSON
        except ValueError as exc:
            kept = self.path.with_name(f"{SETTINGS_FILE}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(self.path, kept)
                where = f"it was kept as {kept.name}"
            except OSError:
                where = "it was left in place"
            self.problem = f"The settings file {self.path} was damaged ({exc}); {where} and defaults are in use."
            return AppSettings()
        return AppSettings.from_json(data)

    def save(self, settings: AppSettings) -> None:
        """Write atomically; raises ``DocumentError`` with a readable message when the folder is not writable."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DocumentError(f"Cannot create the settings folder {self.folder}: {exc.strerror or exc}") from exc
        data = json.dumps(settings.to_json(), indent=2, sort_keys=True).encode("utf-8")
        atomic_write_bytes(self.path, data, private=True)
