"""DESIGN.md: the app uses only the engine's public names, and paints without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pn2v_engine

APP = Path(__file__).resolve().parents[2] / "app"


def _engine_imports() -> list[tuple[str, int, str, list[str]]]:
    found = []
    for path in sorted(APP.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pn2v_engine"):
                names = [alias.name for alias in node.names]
                found.append((path.name, node.lineno, node.module or "", names))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("pn2v_engine."):
                        found.append((path.name, node.lineno, alias.name, []))
    return found


def test_app_imports_only_public_engine_names() -> None:
    imports = _engine_imports()
    assert imports, "the app should use the engine"
    private = [f"{f}:{n} {m}" for f, n, m, _ in imports if m != "pn2v_engine"]
    unknown = [
        f"{f}:{n} {name}"
        for f, n, m, names in imports
        if m == "pn2v_engine"
        for name in names
        if name not in pn2v_engine.__all__
    ]
    assert private == [], "import from pn2v_engine itself, not its modules"
    assert unknown == [], "not in pn2v_engine.__all__"


def test_first_window_paints_without_torch() -> None:
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from app.main_window import MainWindow\n"
        "from app.user_settings import UserSettings\n"
        "w = MainWindow(UserSettings()); w.show(); w.grab()\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
