"""DESIGN.md rule 1: the engine never imports Qt or the app."""

import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "pn2v_engine"

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'PySide6', 'pyqtgraph', 'superqt', 'app'}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import pn2v_engine
for name in pn2v_engine.__all__:
    getattr(pn2v_engine, name)
import pn2v_engine.cli
print('ok')
"""


def test_engine_imports_with_qt_blocked() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_importing_the_engine_does_not_import_torch() -> None:
    code = "import sys, pn2v_engine; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_no_print_in_the_engine() -> None:
    offenders = [
        f"{path.name}:{number}"
        for path in ENGINE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.lstrip().startswith("print(")
    ]
    assert offenders == []
