"""Dialogs and the user questions the app asks (``Prompts``)."""

from gui.dialogs.prompts import Prompts

__all__ = ["Prompts"]
