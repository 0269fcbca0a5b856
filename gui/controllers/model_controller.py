"""``ModelController``: which model and device the engine uses, switching them, and what to say when it fails.

Loads run on the engine thread; the window stays responsive and shows a busy indicator. A failed load leaves the
previous model in place (the worker guarantees it) and says why in a dialog. Without any model — the bundled
default missing, say — the app still works as a plain editor and offers to open a model. A model opened from disk
(Model ▸ Open Model…, or dropped on the window: a GGUF file or a model folder) joins the user's catalog once it
loads, so the Model menu and `inkling models` list it from then on.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from engine.loading.gguf_descriptions import describe_gguf_cached
from engine.loading.gguf_file import is_gguf_file
from engine.loading.model_catalog import remember_model
from engine.loading.registry import DEFAULT_MODEL, ModelInfo, list_models
from engine.worker.events import ModelLoaded, ModelLoadFailed, ModelSnapshot
from gui.dialogs.prompts import Prompts
from gui.engine_bridge import EngineBridge
from gui.settings.last_folder import FolderMemory, home_folder

#: Files that stand for the model folder they are in (config.json, tokenizer.json, the weights).
MODEL_FOLDER_SUFFIXES = (".json", ".safetensors", ".bin")


class ModelController(QObject):
    modelChanged = Signal(object, int)  # the new ModelSnapshot, and the id of the request that loaded it
    loadStarted = Signal(str)  # name or folder, as soon as the load is asked for
    loadFailed = Signal(str)  # message
    noModel = Signal(str)  # why there is no model at all
    fallbackUsed = Signal(str, str)  # the model that failed, why
    catalogProblem = Signal(str)  # an opened model could not be remembered
    modelsDescribed = Signal()  # new GGUF headers were read in the background: the model lists can say more

    def __init__(self, bridge: EngineBridge, prompts: Prompts, dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self.bridge = bridge
        self.prompts = prompts
        self._parent = dialog_parent
        self.device = "auto"  # what the user chose; the model's actual device is in ``active.device``
        self.active: ModelSnapshot | None = None
        self.last_error: str | None = None
        self.folders: FolderMemory | None = None  # the main window's; without one the dialog starts at home
        self._requested: dict[int, tuple[str, str]] = {}  # load request id -> (name, device)
        self._fallbacks: dict[int, str] = {}  # load request id -> what to try if it fails and nothing is loaded
        self._offered_folder = False
        self._opened: set[int] = set()  # load request ids of models the user opened: catalogued once they load
        self._describing: threading.Thread | None = None  # the thread reading new GGUF headers, while it runs
        self._describe_again = False  # a listing met new files while that thread ran: it goes round once more
        self._describing_lock = threading.Lock()
        self._stopping = threading.Event()  # the window is closing: read no further header
        bridge.modelLoaded.connect(self._on_loaded)
        bridge.modelLoadFailed.connect(self._on_failed)

    # --- what the menus show ----------------------------------------------------------------------------

    def available_models(self) -> list[ModelInfo]:
        """Every model, at once: a GGUF file never described before is listed ``unread`` and its header is read on
        a thread of its own (a second or two each; a dozen Ollama models would freeze the menu), after which
        ``modelsDescribed`` is emitted."""
        try:
            models = list_models(read_headers=False)
        except OSError:
            return []
        if any(model.unread for model in models):
            self._describe_in_background()
        return models

    def _describe_in_background(self) -> None:
        with self._describing_lock:
            if self._describing is not None:
                self._describe_again = True
                return
            self._describing = threading.Thread(target=self._describe_all, name="gguf-headers", daemon=True)
            self._describing.start()

    def is_describing(self) -> bool:
        with self._describing_lock:
            return self._describing is not None

    def _describe_all(self) -> None:
        """On the background thread: touches no widget and no model; the signal reaches the GUI thread queued."""
        while True:
            try:
                for info in list_models(read_headers=False):
                    if self._stopping.is_set():
                        break
                    if info.unread:
                        describe_gguf_cached(info.path)  # remembered for every later listing
            except OSError:
                pass  # a folder that vanished meanwhile: the next listing shows what is there
            with self._describing_lock:
                if self._stopping.is_set() or not self._describe_again:
                    self._describing = None
                    break
                self._describe_again = False
        if not self._stopping.is_set():
            self.modelsDescribed.emit()

    def shutdown(self) -> None:
        """Stop reading headers (after the one being read, a second or two at most) and wait for the thread."""
        self._stopping.set()
        with self._describing_lock:
            thread = self._describing
        if thread is not None:
            thread.join()

    def is_active(self, name_or_path: str) -> bool:
        return self.active is not None and _same_model(self.active.name, name_or_path)

    def is_loading(self) -> bool:
        return bool(self._requested)

    # --- commands ---------------------------------------------------------------------------------------

    def load(self, name_or_path: str, device: str | None = None, fallback: str | None = None) -> int:
        """Load on the engine thread; ``fallback`` is tried instead if this fails while no model is loaded."""
        device = device or self.device
        request_id = self.bridge.load_model(name_or_path, device)
        self._requested[request_id] = (name_or_path, device)
        if fallback and fallback != name_or_path:
            self._fallbacks[request_id] = fallback
        self.loadStarted.emit(name_or_path)
        return request_id

    def set_device(self, device: str) -> None:
        """Move the current model to ``device`` (the choice is kept for the next model too)."""
        self.device = device
        if self.active is not None:
            self.load(self.active.name, device)

    def open_model(self) -> None:
        """Model ▸ Open Model…: a GGUF file, or a model folder picked by one of its files."""
        start = self.folders.start() if self.folders is not None else home_folder()
        if self.active is not None and Path(self.active.name).exists():
            start = str(Path(self.active.name).parent)
        picked = self.prompts.model_path(self._parent, start)
        if picked:
            self.open_path(model_to_open(Path(picked)))

    def open_path(self, path: str | os.PathLike) -> int:
        """Load a GGUF file or a model folder from disk; it joins the catalog once it has loaded."""
        if self.folders is not None:
            self.folders.used(Path(path).parent)  # the next model is likely a sibling of this one
        request_id = self.load(str(path))
        self._opened.add(request_id)
        return request_id

    # --- events -----------------------------------------------------------------------------------------

    def _on_loaded(self, event: ModelLoaded) -> None:
        requested = self._requested.pop(event.request_id, None)
        if requested is not None:
            self.device = requested[1]
        if event.request_id in self._opened:
            self._opened.discard(event.request_id)
            self._catalogue(event.model.name)
        self.active = event.model
        self.last_error = None
        self.modelChanged.emit(event.model, event.request_id)

    def _catalogue(self, path: str) -> None:
        """A model opened from disk that loaded joins the user's catalog, so `inkling models` (and the next start)
        lists it."""
        try:
            remember_model(path)
        except OSError as exc:
            self.catalogProblem.emit(f"Could not add {path} to your models: {exc.strerror or exc}")

    def _on_failed(self, event: ModelLoadFailed) -> None:
        self._requested.pop(event.request_id, None)
        self._opened.discard(event.request_id)
        fallback = self._fallbacks.pop(event.request_id, None)
        self.last_error = event.message
        if fallback is not None and self.active is None:
            self.fallbackUsed.emit(event.name, event.message)
            self.load(fallback)  # e.g. the model used last time was deleted: start with the bundled one
            return
        self.loadFailed.emit(event.message)
        if self.active is not None:
            self.prompts.error(self._parent, "Could not load the model",
                               f"{event.message}\n\nInkling keeps using {_short(self.active.name)}.")
            return
        self.noModel.emit(event.message)
        if not self._offered_folder and not self._requested:
            self._offered_folder = True  # ask once per session, not after every failed attempt
            if self.prompts.offer_model_folder(self._parent, event.message):
                self.open_model()
        elif not self._requested:
            self.prompts.error(self._parent, "Could not load the model", event.message)


def _short(name: str) -> str:
    return Path(name).name if os.sep in name or "/" in name else name


def _same_model(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return Path(a).resolve() == Path(b).resolve() and Path(a).exists()
    except OSError:
        return False


def model_to_open(picked: Path) -> Path:
    """What to load for a path the user picked or dropped: a GGUF file or a folder as it is; any other file stands
    for the model folder it is in (its config.json, its weights)."""
    if picked.is_dir() or is_gguf_file(picked):
        return picked
    return picked.parent if picked.suffix in MODEL_FOLDER_SUFFIXES else picked


def startup_model(saved: str | None) -> tuple[str, str | None]:
    """The model to load at start (the one used last time, else the bundled default) and what to fall back to."""
    return (saved, DEFAULT_MODEL) if saved else (DEFAULT_MODEL, None)
