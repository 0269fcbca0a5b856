"""Which system libraries Qt's X11 platform plugin needs and this machine lacks, before Qt is started.

Qt aborts with one terse line ("xcb-cursor0 or libxcb-cursor0 is needed") whatever is missing, even when
libxcb-cursor0 is installed and the real gaps are others. ``ldd`` on the plugin (``libqxcb.so``) lists every library
it would load and says "not found" for each one that is missing; nothing of Qt is loaded for that.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)
_SONAME = re.compile(r"^(lib[\w+.-]*?)\.so\.(\d+)")


def xcb_plugin() -> Path | None:
    """PySide6's X11 platform plugin, if this install has one."""
    try:
        import PySide6  # the package only, not Qt's libraries
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).resolve().parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_from_ldd(output: str) -> list[str]:
    """The libraries ``ldd`` could not find, each once, in its order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(output)))


def missing_xcb_libraries() -> list[str] | None:
    """Sonames the X11 plugin needs and cannot find ([] when none); None when that cannot be told here (no
    plugin, no ``ldd``), so the caller falls back to a simpler check."""
    plugin = xcb_plugin()
    ldd = shutil.which("ldd")
    if plugin is None or ldd is None:
        return None
    try:
        result = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return missing_from_ldd(result.stdout + result.stderr)


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships ``soname``, by Debian's naming rule: libxcb-icccm.so.4 ->
    libxcb-icccm4, libxkbcommon-x11.so.0 -> libxkbcommon-x11-0, libX11-xcb.so.1 -> libx11-xcb1."""
    match = _SONAME.match(soname)
    if match is None:
        return soname
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def missing_libraries_message(sonames: list[str]) -> str:
    packages = " ".join(dict.fromkeys(debian_package(s) for s in sonames))
    return (f"inkling: Qt needs system libraries to open a window on X11, and these are missing: "
            f"{', '.join(sonames)}. Install them (Debian/Ubuntu: sudo apt install {packages}) and start Inkling "
            "again.")
