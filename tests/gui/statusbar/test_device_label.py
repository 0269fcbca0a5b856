"""DeviceLabel: where the model runs."""

from __future__ import annotations

from gui.statusbar.device_label import DeviceLabel


def test_device_names_read_as_the_device_menu_spells_them(qtbot):
    label = DeviceLabel()
    qtbot.addWidget(label)
    assert label.text() == "Device: —"  # no model yet
    label.show_device("cpu")
    assert label.text() == "Device: CPU"
    label.show_device("mps")
    assert label.text() == "Device: MPS"
    label.show_device("cuda:0")
    assert label.text() == "Device: cuda:0"
    label.show_device(None)
    assert label.text() == "Device: —"
