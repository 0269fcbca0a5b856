"""How many bytes, for a person: ``format_bytes(2_400_000) == "2.4 MB"``, one way everywhere the app or the command
line shows a size (model files, downloads, documents, memory folders, the memory a model needs)."""

from __future__ import annotations

_UNITS = ("kB", "MB", "GB", "TB", "PB")


def format_bytes(count: float) -> str:
    """Decimal units (1 kB = 1000 bytes, as the Hugging Face Hub and file managers count), one decimal below ten of
    a unit and none above: ``512 bytes``, ``1.5 kB``, ``45 kB``, ``2 MB``, ``497 MB``, ``4.8 TB``; up to the absurd
    sizes a damaged config asks for."""
    if count < 1000:
        whole = round(count)
        return "1 byte" if whole == 1 else f"{whole} bytes"
    value, unit = count / 1000, _UNITS[0]
    for bigger in _UNITS[1:]:
        if value < 999.5:  # would not round to 1000 of this unit
            break
        value, unit = value / 1000, bigger
    text = f"{value:.1f}".removesuffix(".0") if value < 9.95 else f"{value:,.0f}"
    return f"{text} {unit}"
