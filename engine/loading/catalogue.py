"""The catalogue of models offered by Model ▸ Get Models…: GGUF files on the Hugging Face Hub, kept in one data
file (``catalogue.json`` beside this module, shipped as package data).

Whether an entry can be used is decided here, from the engine's own list of the architectures it computes
(``gguf_file.ARCHITECTURE_MODEL_TYPES``), so an entry for a family still being written shows as unavailable and
becomes available the day that family is added, with no change to the data file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InklingError
from engine.loading import gguf_file
from engine.loading.gguf_file import is_gguf_path
from engine.loading.registry import user_models_dir

CATALOGUE_FILE = Path(__file__).with_name("catalogue.json")
#: What the loader may hold resident for a GGUF file of a given size (issue 28: at most 1.5x the file).
MEMORY_PER_FILE_BYTE = 1.5
#: Decoding reads every weight once per token; on the reference 2-core CPU the engine's int4/int8 kernels get
#: through roughly this many bytes of weights a second. Only an estimate until a model's speed is measured.
ESTIMATED_WEIGHT_BYTES_PER_SECOND = 2.5e9
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED = ("id", "name", "repo_id", "file_name", "size_bytes", "architecture", "licence")


class CatalogueError(InklingError):
    """The catalogue file is missing or malformed (a packaging mistake, named with the file)."""


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    name: str
    repo_id: str
    file_name: str
    size_bytes: int  # as listed; the Hub's exact size is what a download checks
    architecture: str  # llama.cpp's general.architecture
    licence: str
    parameters: str = ""
    description: str = ""
    revision: str = "main"
    sha256: str | None = None  # the file's Git LFS sha256 when the catalogue records it
    measured_tokens_per_second: float | None = None
    # The doubt cut's bar measured for this model (``tools/measure_doubt_cut.py``); None: not measured.
    min_word_probability: float | None = None

    @property
    def available(self) -> bool:
        return self.architecture in gguf_file.ARCHITECTURE_MODEL_TYPES

    @property
    def unavailable_reason(self) -> str | None:
        if self.available:
            return None
        return (f"needs the {self.architecture} family, which this version of Inkling does not compute yet "
                f"(it computes {', '.join(gguf_file.ARCHITECTURE_MODEL_TYPES)})")

    @property
    def memory_bytes(self) -> int:
        return int(self.size_bytes * MEMORY_PER_FILE_BYTE)

    @property
    def tokens_per_second(self) -> float:
        if self.measured_tokens_per_second:
            return self.measured_tokens_per_second
        return ESTIMATED_WEIGHT_BYTES_PER_SECOND / self.size_bytes

    @property
    def speed_is_estimate(self) -> bool:
        return not self.measured_tokens_per_second

    def installed_path(self, folder: Path | None = None) -> Path:
        """Where the downloaded file lives: the user models folder, under the file's own name (that name is also
        what ``engine.load`` and the Model menu know it by)."""
        return (folder or user_models_dir()) / self.file_name

    def is_installed(self, folder: Path | None = None) -> bool:
        return self.installed_path(folder).is_file()


def load_catalogue(path: Path | None = None) -> list[CatalogueEntry]:
    """The entries of the catalogue file, in its order; CatalogueError naming the file and the bad entry."""
    path = path or CATALOGUE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"cannot read the model catalogue {path}: {exc}") from exc
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise CatalogueError(f"the model catalogue {path} has no \"models\" list")
    entries = [_entry(path, index, raw) for index, raw in enumerate(models)]
    ids = [entry.id for entry in entries]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"the model catalogue {path} names an id twice")
    return entries


def _entry(path: Path, index: int, raw: object) -> CatalogueEntry:
    where = f"the model catalogue {path}, entry {index + 1}"
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where} is not an object")
    missing = [key for key in _REQUIRED if not raw.get(key)]
    if missing:
        raise CatalogueError(f"{where} lacks {', '.join(missing)}")
    if not isinstance(raw["size_bytes"], int) or raw["size_bytes"] <= 0:
        raise CatalogueError(f"{where}: size_bytes must be a positive whole number")
    sha256 = raw.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.match(sha256)):
        raise CatalogueError(f"{where}: sha256 must be 64 lower-case hex digits or null")
    file_name = raw["file_name"]
    if not is_gguf_path(file_name) or Path(file_name).name != file_name or file_name.startswith("."):
        raise CatalogueError(f"{where}: file_name must be a plain .gguf file name, not {file_name!r}")
    speed = raw.get("measured_tokens_per_second")
    bar = raw.get("min_word_probability")
    if bar is not None and not (isinstance(bar, (int, float)) and not isinstance(bar, bool) and 0 <= bar < 1):
        raise CatalogueError(f"{where}: min_word_probability must be a number in [0, 1) or null")
    return CatalogueEntry(
        id=raw["id"], name=raw["name"], repo_id=raw["repo_id"], file_name=file_name, size_bytes=raw["size_bytes"],
        architecture=raw["architecture"], licence=raw["licence"], parameters=raw.get("parameters", ""),
        description=raw.get("description", ""), revision=raw.get("revision") or "main", sha256=sha256,
        measured_tokens_per_second=float(speed) if isinstance(speed, (int, float)) and speed > 0 else None,
        min_word_probability=None if bar is None else float(bar))


def catalogue_entry_of_file(path: Path, catalogue: list[CatalogueEntry] | None = None) -> CatalogueEntry | None:
    """The catalogue's entry for a GGUF file, by its file name (a download is kept under the entry's name);
    None for any other file, or when the catalogue cannot be read."""
    try:
        entries = catalogue if catalogue is not None else load_catalogue()
    except CatalogueError:
        return None
    return next((entry for entry in entries if entry.file_name == Path(path).name), None)
