"""A training run's resume state, stored as data that cannot run code: JSON plus safetensors.

A model folder is something people download and share, and ``inkling eval``, ``inkling train --resume`` and the
app's Continue all read its resume state. A pickle (``torch.save``) would run whatever its author put in it the
moment it is read, so the state is written as

- ``training_state.json``: step, clock, history, settings, recipe and the optimizer's structure (its numbers too),
  every tensor replaced by a reference ``{"__inkling__": "tensor", "name": "t3"}``;
- ``training_state.safetensors``: those tensors (the optimizer's moments), absent when there are none.

Folders from before this format hold ``training_state.pt``: it is read only through ``torch.load(weights_only=True)``,
whose unpickler builds nothing but plain containers, numbers, strings and tensors (every state Inkling ever saved),
and refuses anything else, naming the file and what to do, before any of it runs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.errors import InklingError
from engine.owned_files import write_owned_text

STATE_FILE = "training_state.json"
TENSORS_FILE = "training_state.safetensors"
LEGACY_STATE_FILE = "training_state.pt"
STATE_FILES = (STATE_FILE, TENSORS_FILE, LEGACY_STATE_FILE)
FORMAT = "inkling-training-state"
VERSION = 1
_MARK = "__inkling__"


class TrainingStateError(InklingError):
    """A resume state that cannot be used; the message names the file and says what to do."""


def has_training_state(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return (folder / STATE_FILE).is_file() or (folder / LEGACY_STATE_FILE).is_file()


def state_path(folder: str | os.PathLike) -> Path:
    """The file that holds the state in ``folder``: the JSON one, or an old folder's pickle when only that exists."""
    folder = Path(folder)
    legacy = folder / LEGACY_STATE_FILE
    return legacy if not (folder / STATE_FILE).is_file() and legacy.is_file() else folder / STATE_FILE


def write_training_state(folder: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (plain data and tensors) into ``folder``: the JSON file, and the tensors beside it."""
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, tensors, "state")
    if tensors:
        save_file(tensors, str(folder / TENSORS_FILE))
    document = {"format": FORMAT, "version": VERSION, "tensors": TENSORS_FILE if tensors else None, "state": encoded}
    write_owned_text(folder / STATE_FILE, json.dumps(document, indent=1) + "\n")


def read_training_state(folder: str | os.PathLike, *, with_tensors: bool = True) -> dict:
    """The resume state in ``folder``; ``TrainingStateError`` when it is missing, damaged or not plain data.

    ``with_tensors=False`` skips the optimizer (its tensors are never read): what ``inkling eval`` needs to know
    about the run is in the JSON alone."""
    folder = Path(folder)
    if (folder / STATE_FILE).is_file():
        state = _read_json_state(folder, with_tensors)
    elif (folder / LEGACY_STATE_FILE).is_file():
        state = _read_legacy_state(folder / LEGACY_STATE_FILE)
        if not with_tensors:
            state.pop("optimizer", None)
    else:
        raise TrainingStateError(f"{folder} holds no training state ({STATE_FILE} is missing)")
    if not isinstance(state, dict) or "step" not in state:
        raise TrainingStateError(f"{folder / STATE_FILE} is not an Inkling training state; start a new --out")
    return state


def _read_json_state(folder: Path, with_tensors: bool) -> dict:
    path = folder / STATE_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _unreadable(path, str(exc)) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TrainingStateError(f"{path} is not an Inkling training state; start a new --out")
    if document.get("version") != VERSION:
        raise TrainingStateError(f"{path} is version {document.get('version')!r}; this Inkling reads version "
                                 f"{VERSION}: resume it with the Inkling that saved it, or start a new --out")
    state = document.get("state")
    if not isinstance(state, dict):
        raise _unreadable(path, "it has no state")
    if not with_tensors:
        state.pop("optimizer", None)
    tensors: dict[str, torch.Tensor] = {}
    if document.get("tensors") and _mentions_tensors(state):
        tensors_path = folder / TENSORS_FILE
        try:
            tensors = load_file(str(tensors_path), device="cpu")
        except (OSError, SafetensorError) as exc:
            raise _unreadable(tensors_path, str(exc)) from exc
    try:
        return _decode(state, tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise _unreadable(path, str(exc)) from exc


def _read_legacy_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, corrupt or foreign files fail in many ways
        if "Weights only load failed" in str(exc):
            raise TrainingStateError(
                f"{path} is a pickle that holds more than plain data and tensors, and reading it could run code "
                "put in it, so it was not read. If you saved it yourself with an older Inkling, delete it and "
                "start a new run from the model beside it (`inkling train --init FOLDER`); if it came with a "
                "downloaded or shared folder, delete the file, and do not trust the folder's author.") from None
        raise _unreadable(path, type(exc).__name__) from exc


def _unreadable(path: Path, why: str) -> TrainingStateError:
    return TrainingStateError(f"{path} is unreadable ({why}); the model next to it is intact: start a new run from "
                              "it with --init, or start afresh in a new --out")


def _encode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().to("cpu").contiguous().clone()  # safetensors refuses shared storage
        return {_MARK: "tensor", "name": name}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_MARK: "float", "repr": repr(value)}  # JSON has no nan/inf
    if isinstance(value, tuple):
        return {_MARK: "tuple", "items": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and k != _MARK for k in value):
            return {k: _encode(v, tensors, f"{where}.{k}") for k, v in value.items()}
        # Optimizer states are keyed by parameter number: kept as pairs so the keys come back as ints.
        return {_MARK: "dict", "items": [[_encode(k, tensors, where), _encode(v, tensors, f"{where}[{k!r}]")]
                                         for k, v in value.items()]}
    raise TypeError(f"the training state cannot store {type(value).__name__} (at {where})")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(_MARK)
    if kind is None:
        return {k: _decode(v, tensors) for k, v in value.items()}
    if kind == "tensor":
        name = value["name"]
        if name not in tensors:
            raise KeyError(f"tensor {name} is missing from {TENSORS_FILE}")
        return tensors[name]
    if kind == "float":
        if value["repr"] not in ("nan", "inf", "-inf"):
            raise ValueError(f"{value['repr']!r} is not a number")
        return float(value["repr"])
    if kind == "tuple":
        return tuple(_decode(v, tensors) for v in value["items"])
    if kind == "dict":
        return {_decode(k, tensors): _decode(v, tensors) for k, v in value["items"]}
    raise ValueError(f"unknown entry {kind!r}")


def _mentions_tensors(value: Any) -> bool:
    if isinstance(value, list):
        return any(_mentions_tensors(v) for v in value)
    if isinstance(value, dict):
        return value.get(_MARK) == "tensor" or any(_mentions_tensors(v) for v in value.values())
    return False


__all__ = ["LEGACY_STATE_FILE", "STATE_FILE", "STATE_FILES", "TENSORS_FILE", "TrainingStateError",
           "has_training_state", "read_training_state", "state_path", "write_training_state"]
