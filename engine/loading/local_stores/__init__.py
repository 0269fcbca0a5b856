"""Models other apps already keep on this machine: Ollama's store and LM Studio's models folder.

Each store module only finds files and names them as its app does (``FoundModel``); the registry reads each GGUF
header and lists the model with everything else, so a model found here loads like any GGUF file.
"""

from __future__ import annotations

from engine.loading.local_stores.found_model import FoundModel
from engine.loading.local_stores.lmstudio import find_lmstudio_model, lmstudio_folders, lmstudio_models
from engine.loading.local_stores.ollama import find_ollama_model, ollama_models, ollama_stores

#: What the model lists call each source.
STORE_TITLES = {"ollama": "Ollama", "lmstudio": "LM Studio"}

__all__ = ["STORE_TITLES", "FoundModel", "find_store_model", "lmstudio_folders", "ollama_stores", "store_models"]


def store_models() -> list[FoundModel]:
    """Ollama's models, then LM Studio's."""
    return ollama_models() + lmstudio_models()


def find_store_model(name: str) -> FoundModel | None:
    """The model Ollama or LM Studio knows as ``name`` (an LM Studio name ends in .gguf, so they never clash)."""
    return find_lmstudio_model(name) or find_ollama_model(name)
