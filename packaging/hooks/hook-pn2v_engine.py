"""PyInstaller hook: the engine's public names load their modules lazily
(``importlib.import_module``), which the import analysis cannot see."""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("pn2v_engine")
