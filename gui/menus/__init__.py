"""The menu bar and toolbar, one module per menu. Each ``build_*`` adds its named actions to
``window.actions`` so tests and other code can trigger exactly what a user would click."""

from gui.menus.decoding_menu import build_decoding_menu
from gui.menus.file_menu import build_file_menu
from gui.menus.help_menu import build_help_menu
from gui.menus.model_menu import build_model_menu
from gui.menus.toolbar import build_toolbar
from gui.menus.view_menu import build_view_menu

__all__ = ["build_decoding_menu", "build_file_menu", "build_help_menu", "build_model_menu", "build_toolbar",
           "build_view_menu"]
