"""Converting offsets between Python characters (code points) and Qt document positions (UTF-16 code units).

They differ only after characters outside the Basic Multilingual Plane (emoji, some scripts), which count twice in
Qt. Converting many offsets costs one pass over the text, not one per offset.
"""

from __future__ import annotations


def qt_offsets(text: str, offsets: list[int]) -> list[int]:
    """The Qt position of each Python offset into ``text`` (in the order given)."""
    return _convert(text, offsets, to_qt=True)


def python_offsets(text: str, positions: list[int]) -> list[int]:
    """The Python offset of each Qt position in ``text`` (in the order given)."""
    return _convert(text, positions, to_qt=False)


def _convert(text: str, values: list[int], to_qt: bool) -> list[int]:
    if text.isascii():
        return [max(0, min(v, len(text))) for v in values]
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0] * len(values)
    index = units = 0  # walk both scales together
    for slot in order:
        target = values[slot]
        while index < len(text) and (units if not to_qt else index) < target:
            units += 2 if ord(text[index]) > 0xFFFF else 1
            index += 1
        result[slot] = units if to_qt else index
    return result
