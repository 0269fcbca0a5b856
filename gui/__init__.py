"""Inkling desktop app (PySide6)."""
