"""Model: every loadable model as a checkable list, Open Model Folder…, and the Device submenu."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from engine.loading.devices import available_devices
from engine.loading.hub_download import hub_available
from gui.menus.memory_menu import fill_memory_menu

if TYPE_CHECKING:
    from gui.main_window import MainWindow


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


def _style_and_measure():
    from gui import style_and_measure  # deferred: it refreshes this menu, so it imports this module

    return style_and_measure


def _download_dialog():
    from gui.dialogs import download_dialog  # deferred: it refreshes this menu, so it imports this module

    return download_dialog


def build_model_menu(window: MainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&Model")
    menu.setObjectName("modelMenu")
    window.model_menu = menu
    menu.aboutToShow.connect(lambda: fill_model_menu(window))
    fill_model_menu(window)
    return menu


def fill_model_menu(window: MainWindow) -> None:
    """Rebuilt each time it opens: models may have been added to the user folder meanwhile."""
    menu = window.model_menu
    menu.clear()
    controller = window.models
    group = QActionGroup(menu)
    group.setExclusive(True)
    listed = []
    for info in controller.available_models():
        label = Path(info.name).name if info.source == "opened" else info.name  # its full path is the tooltip
        action = QAction(f"{label}   ({info.architecture}, {info.size_text}, {info.source})", menu)
        action.setToolTip(str(info.path))
        action.setCheckable(True)
        action.setChecked(controller.is_active(info.name) or controller.is_active(str(info.path)))
        action.triggered.connect(lambda _checked=False, name=info.name: controller.load(name))
        group.addAction(action)
        menu.addAction(action)
        listed.append(action)
    active = controller.active
    if active is not None and not any(a.isChecked() for a in listed):
        action = QAction(f"{Path(active.name).name}   ({active.architecture}, from a folder)", menu)
        action.setCheckable(True)
        action.setChecked(True)
        action.setToolTip(active.name)
        group.addAction(action)
        menu.addAction(action)
    if not menu.actions():
        empty = menu.addAction("No models found")
        empty.setEnabled(False)
    menu.addSeparator()
    window.add_action(menu, "model.open_folder", "&Open Model Folder…", controller.open_folder)
    download = window.add_action(menu, "model.download", "&Download Model…",
                                 lambda: _download_dialog().open_download_dialog(window))
    download.setEnabled(hub_available())
    download.setToolTip("Fetch a model from the Hugging Face Hub by repo id" if download.isEnabled()
                        else "Needs the optional huggingface_hub package: pip install 'inkling[hub]'")
    menu.addSeparator()
    window.add_action(menu, "model.learn", "&Learn from My Writing…",
                      lambda: _style_and_measure().open_fine_tune_dialog(window))
    window.add_action(menu, "model.evaluate", "&Evaluate on My Text…",
                      lambda: _style_and_measure().open_evaluation_dialog(window))
    memory = menu.addMenu("&Memory")
    memory.setObjectName("memoryMenu")
    fill_memory_menu(window, memory)
    devices = menu.addMenu("&Device")
    device_group = QActionGroup(devices)
    for device in available_devices():
        action = QAction(device_label(device), devices)
        action.setCheckable(True)
        action.setChecked(device == controller.device)
        action.triggered.connect(lambda _checked=False, d=device: window.set_device(d))
        device_group.addAction(action)
        devices.addAction(action)
        window.actions[f"model.device.{device}"] = action
