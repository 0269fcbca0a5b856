"""Model: every loadable model as a checkable list (Ollama's and LM Studio's in a submenu each), Open Model…, and
the Device submenu.

Refilled each time it opens, so models added meanwhile (downloaded, fine-tuned, copied into the user folder, pulled
with Ollama) show without anyone telling it. A model that cannot be loaded is shown greyed, its reason as the
tooltip and status tip, never left out.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from engine.byte_sizes import format_bytes
from engine.loading.devices import available_devices
from engine.loading.hub_download import hub_available
from engine.loading.local_stores import STORE_TITLES
from engine.loading.registry import ModelInfo
from gui.controllers.memory_controller import MemoryController
from gui.controllers.model_controller import ModelController
from gui.controllers.model_dialogs import ModelDialogs
from gui.dialogs.prompts import Prompts
from gui.menus.actions import ActionRegistry, clear_menu
from gui.menus.memory_menu import fill_memory_menu
from gui.preferences import Preferences


class ModelMenu(QMenu):
    def __init__(self, models: ModelController, memory: MemoryController, dialogs: ModelDialogs,
                 preferences: Preferences, actions: ActionRegistry, prompts: Prompts, parent: QWidget) -> None:
        """``prompts`` and ``parent``: for Memory ▸ Add Folder…'s question."""
        super().__init__("&Model", parent)
        self.setObjectName("modelMenu")
        self.models = models
        self.memory = memory
        self.dialogs = dialogs
        self.preferences = preferences
        self.actions_by_name = actions
        self.prompts = prompts
        self.dialog_parent = parent
        self.setToolTipsVisible(True)  # a model's path, or why it cannot be loaded
        self.aboutToShow.connect(self.refill)
        models.modelsDescribed.connect(self._models_described)
        self.refill()

    def refill(self) -> None:
        clear_menu(self)
        self._add_models()
        self._add_weights()
        self.addSeparator()
        actions = self.actions_by_name
        opener = actions.add_entry(self, "model.open", "&Open Model…", self.models.open_model)
        opener.setToolTip("A .gguf file, or a model folder (pick any of its files); dropping one on the window "
                          "opens it too")
        get_models = actions.add_entry(self, "model.get_models", "&Get Models…", self.dialogs.open_get_models)
        get_models.setToolTip("Better models for suggestions, downloaded in one click")
        download = actions.add_entry(self, "model.download", "&Download Model…", self.dialogs.open_download)
        download.setEnabled(hub_available())
        download.setToolTip("Fetch a model from the Hugging Face Hub by repo id" if download.isEnabled()
                            else "Needs the optional huggingface_hub package: pip install 'inkling[hub]'")
        self.addSeparator()
        actions.add_entry(self, "model.learn", "&Learn from My Writing…", self.dialogs.open_fine_tune)
        actions.add_entry(self, "model.evaluate", "&Evaluate on My Text…", self.dialogs.open_evaluation)
        memory = self.addMenu("&Memory")
        memory.setObjectName("memoryMenu")
        fill_memory_menu(memory, self.memory, actions, self.prompts, self.dialog_parent)
        self._add_devices()

    def _add_models(self) -> None:
        controller = self.models
        group = QActionGroup(self)
        group.setExclusive(True)
        listed = []
        in_stores: dict[str, list[ModelInfo]] = {}
        for info in controller.available_models():
            if info.source in STORE_TITLES:
                in_stores.setdefault(info.source, []).append(info)
            else:
                listed.append(self._add_model(self, info, group, show_source=True))
        stores = []
        for source, infos in in_stores.items():
            store = QMenu(STORE_TITLES[source], self)
            store.setObjectName(f"{source}Menu")
            store.setToolTipsVisible(True)
            listed += [self._add_model(store, info, group, show_source=False) for info in infos]
            stores.append(store)
        active = controller.active
        if active is not None and not any(a.isChecked() for a in listed):
            action = QAction(f"{Path(active.name).name}   ({active.architecture}, opened from disk)", self)
            action.setCheckable(True)
            action.setChecked(True)
            action.setToolTip(active.name)
            group.addAction(action)
            self.addAction(action)
        for store in stores:
            self.addMenu(store)
        if not self.actions():
            empty = self.addAction("No models found")
            empty.setEnabled(False)

    def _models_described(self) -> None:
        """Headers read in the background: an open menu shows what they hold (a closed one refills on opening)."""
        if self.isVisible():
            self.refill()

    def _add_model(self, menu: QMenu, info: ModelInfo, group: QActionGroup, show_source: bool) -> QAction:
        """One model's entry: checked when loaded; greyed, with the reason, when it cannot be loaded. One whose
        header is still being read can be chosen already (the load says why if it cannot)."""
        controller = self.models
        label = Path(info.name).name if info.source == "opened" else info.name  # its full path is the tooltip
        details = "reading its header…" if info.unread else model_details(info, show_source)
        action = QAction(f"{label}   ({details})", menu)
        tip = str(info.path) if info.problem is None else f"Cannot load {info.name}: {info.problem}"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        menu.addAction(action)
        if info.problem is not None:
            action.setEnabled(False)
            return action
        action.setCheckable(True)
        action.setChecked(controller.is_active(info.name) or controller.is_active(str(info.path)))
        action.triggered.connect(lambda _checked=False, name=info.name: controller.load(name))
        group.addAction(action)
        return action

    def _add_weights(self) -> None:
        """How the loaded model's weights are held for decoding, and their share of memory."""
        active = self.models.active
        if active is None:
            return
        entry = QAction(weights_text(active.weights, active.weight_bytes), self)
        entry.setEnabled(False)
        entry.setToolTip("int8: weight-only 8-bit layers, used on a CPU where they decode faster")
        self.addAction(entry)
        self.actions_by_name.register("model.weights", entry)

    def _add_devices(self) -> None:
        devices = self.addMenu("&Device")
        device_group = QActionGroup(devices)
        for device in available_devices():
            action = QAction(device_label(device), devices)
            action.setCheckable(True)
            action.setChecked(device == self.models.device)
            action.triggered.connect(lambda _checked=False, d=device: self.preferences.set_device(d))
            device_group.addAction(action)
            devices.addAction(action)
            self.actions_by_name.register(f"model.device.{device}", action)


def model_details(info: ModelInfo, show_source: bool) -> str:
    """"Transformer (Llama) Q4_K_M, 92 MB, ollama": what a model entry says after its name."""
    architecture = f"{info.architecture} {info.quantization}" if info.quantization else info.architecture
    details = [architecture, info.size_text] + ([info.source] if show_source else [])
    return ", ".join(details)


def weights_text(weights: str, weight_bytes: int) -> str:
    return f"Weights: {weights}, {format_bytes(weight_bytes)} in memory"


def device_label(device: str) -> str:
    if device == "auto":
        return "&Auto (best available)"
    if device == "cpu":
        return "&CPU"
    if device.startswith("cuda"):
        index = device.partition(":")[2] or "0"
        try:
            import torch

            return f"CUDA {index} ({torch.cuda.get_device_name(int(index))})"
        except (RuntimeError, AssertionError, ValueError):  # a name is only decoration
            return f"CUDA {index}"
    return device.upper()
