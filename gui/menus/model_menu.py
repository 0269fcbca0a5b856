"""Model: every loadable model as a checkable list, Open Model Folder…, and the Device submenu.

Refilled each time it opens, so models added meanwhile (downloaded, fine-tuned, copied into the user folder) show
without anyone telling it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from engine.loading.devices import available_devices
from engine.loading.hub_download import hub_available
from gui.controllers.memory_controller import MemoryController, format_bytes
from gui.controllers.model_controller import ModelController
from gui.dialogs.model_dialogs import ModelDialogs
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
        self.aboutToShow.connect(self.refill)
        self.refill()

    def refill(self) -> None:
        clear_menu(self)
        self._add_models()
        self._add_weights()
        self.addSeparator()
        actions = self.actions_by_name
        actions.add_entry(self, "model.open_folder", "&Open Model Folder…", self.models.open_folder)
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
        for info in controller.available_models():
            label = Path(info.name).name if info.source == "opened" else info.name  # its full path is the tooltip
            action = QAction(f"{label}   ({info.architecture}, {info.size_text}, {info.source})", self)
            action.setToolTip(str(info.path))
            action.setCheckable(True)
            action.setChecked(controller.is_active(info.name) or controller.is_active(str(info.path)))
            action.triggered.connect(lambda _checked=False, name=info.name: controller.load(name))
            group.addAction(action)
            self.addAction(action)
            listed.append(action)
        active = controller.active
        if active is not None and not any(a.isChecked() for a in listed):
            action = QAction(f"{Path(active.name).name}   ({active.architecture}, from a folder)", self)
            action.setCheckable(True)
            action.setChecked(True)
            action.setToolTip(active.name)
            group.addAction(action)
            self.addAction(action)
        if not self.actions():
            empty = self.addAction("No models found")
            empty.setEnabled(False)

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
