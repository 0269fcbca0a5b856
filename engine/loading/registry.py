"""Where models live and how a name becomes a folder: bundled, user-installed, Hugging Face cache, or a path."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path

from engine.byte_sizes import format_bytes
from engine.errors import CheckpointError, ModelNotFoundError
from engine.loading.checkpoint import is_model_folder, read_config
from engine.loading.families import FAMILIES
from engine.loading.gguf_descriptions import describe_gguf_cached, known_gguf_description
from engine.loading.gguf_file import ARCHITECTURE_MODEL_TYPES, is_gguf_file
from engine.loading.hub_cache import cached_snapshots

DEFAULT_MODEL = "default"


def bundled_models_dir() -> Path:
    """``resources/models`` of the source tree (a checkout, an editable install); a wheel puts the same folders
    under ``<prefix>/share/inkling/models`` (pyproject's data-files)."""
    return first_existing_folder([Path(__file__).resolve().parents[2] / "resources" / "models",
                                  Path(sys.prefix) / "share" / "inkling" / "models"])


def first_existing_folder(candidates: list[Path]) -> Path:
    """The first of ``candidates`` that is a folder, else the first (so a message names where it was expected)."""
    return next((folder for folder in candidates if folder.is_dir()), candidates[0])


def user_models_dir() -> Path:
    """Per-user models (fine-tuned ones land here); INKLING_USER_MODELS overrides it, e.g. in tests."""
    override = os.environ.get("INKLING_USER_MODELS")
    return Path(override) if override else user_data_path("inkling", appauthor=False) / "models"


@dataclass(frozen=True)
class ModelInfo:
    name: str  # what engine.load() accepts
    path: Path
    source: str  # "bundled", "user", "opened" (from the user's catalog), "ollama", "lmstudio", "huggingface"
    architecture: str
    size_bytes: int
    quantization: str = ""  # a GGUF file's ("Q4_K_M", ...); "" for a model folder
    problem: str | None = None  # why it cannot be loaded (listed anyway, so nothing is silently skipped)
    unread: bool = False  # a GGUF file whose header a quick listing did not wait for: architecture, problem unknown

    @property
    def size_text(self) -> str:
        return format_bytes(self.size_bytes)


def list_models(read_headers: bool = True) -> list[ModelInfo]:
    """Every loadable model: bundled first, then the user's, the folders and files they opened, Ollama's and LM
    Studio's, then the Hugging Face cache's. Broken model folders are skipped; a GGUF file is always listed, with
    its ``problem`` when it cannot be loaded. Without ``read_headers``, a GGUF file never described before is
    listed ``unread`` instead of waiting a second or two for its header (a menu on the GUI thread)."""
    models: list[ModelInfo] = []
    for source, folder in (("bundled", bundled_models_dir()), ("user", user_models_dir())):
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                if child.name.startswith("."):
                    continue  # hidden: a save in progress, or one a crash left behind (see checkpoint.save_checkpoint)
                info = describe_model_path(child, child.name, source, read_headers)
                if info is not None:
                    models.append(info)
    listed = {m.path.resolve() for m in models}
    models.extend(_opened_models(listed, read_headers))
    models.extend(store_model_infos(listed, read_headers))
    models.extend(hub_cache_models())
    return models


def _opened_models(listed: set[Path], read_headers: bool = True) -> list[ModelInfo]:
    """Folders and GGUF files the user opened from elsewhere (the catalog), by their path: that is what
    engine.load() takes. Adds each one's path to ``listed``."""
    from engine.loading.model_catalog import catalog_models

    opened = []
    for path in catalog_models():
        if path.resolve() in listed:
            continue
        info = describe_model_path(path, str(path), "opened", read_headers)
        if info is not None:
            listed.add(path.resolve())
            opened.append(info)
    return opened


def store_model_infos(listed: set[Path] | None = None, read_headers: bool = True) -> list[ModelInfo]:
    """Ollama's and LM Studio's models (``engine.loading.local_stores``), each by the name its app gives it; one
    whose store already says it cannot be loaded (a missing blob) is listed with that, unread. Files already in
    ``listed`` are left out."""
    from engine.loading.local_stores import store_models

    infos = []
    for found in store_models():
        if listed is not None and found.path.resolve() in listed:
            continue
        if found.problem is not None:
            infos.append(ModelInfo(found.name, found.path, found.source, "?", found.size_bytes, "", found.problem))
        else:
            infos.append(describe_gguf_file(found.path, found.name, found.source, read_headers))
    return infos


def describe_model_path(path: Path, name: str, source: str, read_headers: bool = True) -> ModelInfo | None:
    """A model folder or a GGUF file as the model lists show it; None for anything else."""
    if is_gguf_file(path):
        return describe_gguf_file(path, name, source, read_headers)
    return describe_folder(path, name, source)


def describe_gguf_file(path: Path, name: str, source: str, read_header: bool = True) -> ModelInfo:
    """A GGUF file, listed whether or not it loads (``problem`` says why not); ``unread`` when ``read_header`` is
    False and it was never described."""
    described = describe_gguf_cached(path) if read_header else known_gguf_description(path)
    if described is None:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        return ModelInfo(name, path, source, "?", size, unread=True)
    model_type = ARCHITECTURE_MODEL_TYPES.get(described.architecture)
    architecture = FAMILIES[model_type].architecture if model_type else described.architecture
    return ModelInfo(name, path, source, architecture, described.size_bytes, described.quantization,
                     described.problem)


def describe_folder(folder: Path, name: str, source: str) -> ModelInfo | None:
    if not is_model_folder(folder):
        return None
    try:
        config = read_config(folder)
    except CheckpointError:
        return None
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file() and f.suffix in (".safetensors", ".bin"))
    return ModelInfo(name, folder, source, FAMILIES[config["model_type"]].architecture, size)


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A bundled or user model name, a Hugging Face repo id already in the local cache, a folder path, a GGUF
    file's path, or the name Ollama or LM Studio gives a model they keep ("smollm2:135m",
    "publisher/repo/file.gguf")."""
    text = str(name_or_path)
    if not text.strip():
        raise ModelNotFoundError("no model name or path given")
    if _is_plain_name(text):
        for folder in (bundled_models_dir(), user_models_dir()):
            candidate = folder / text
            if candidate.is_dir() or is_gguf_file(candidate):
                return candidate
    path = Path(text).expanduser()
    if path.is_dir() or is_gguf_file(path):
        return path
    for info in hub_cache_models():
        if info.name == text:
            return info.path
    store_path = _store_model_path(text)
    if store_path is not None:
        return store_path
    if text == DEFAULT_MODEL:
        raise ModelNotFoundError(
            f"the bundled default model is missing from {bundled_models_dir()}; reinstall Inkling or pass a model path"
        )
    raise ModelNotFoundError(
        f"no model named {text!r}: not bundled, not in {user_models_dir()}, not in the Hugging Face cache, "
        "not an Ollama or LM Studio model, and not a model folder or GGUF file (run `inkling models` to list what "
        "is available)"
    )


def _store_model_path(name: str) -> Path | None:
    """The GGUF file of the Ollama or LM Studio model ``name``; one the store cannot give is refused saying why."""
    from engine.loading.local_stores import STORE_TITLES, find_store_model

    found = find_store_model(name)
    if found is None:
        return None
    if found.problem is not None:
        raise ModelNotFoundError(f"the {STORE_TITLES[found.source]} model {found.name}: {found.problem}")
    return found.path


def _is_plain_name(text: str) -> bool:
    """A folder name inside a models directory, not a path that could step out of it ("..", "a/b", "C:x")."""
    return Path(text).name == text and not text.startswith(".") and "\\" not in text


def hub_cache_models() -> list[ModelInfo]:
    """The models in the local Hugging Face hub cache, by repo id (which ones: ``engine.loading.hub_cache``)."""
    models = []
    for repo_id, snapshot in cached_snapshots():
        try:
            info = describe_folder(snapshot, repo_id, "huggingface")
        except OSError:  # a link broken since the cache was read must not hide the others
            info = None
        if info is not None:
            models.append(info)
    return models
