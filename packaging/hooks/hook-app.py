"""PyInstaller hook: every module of the app, also those imported only by name."""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("app")
