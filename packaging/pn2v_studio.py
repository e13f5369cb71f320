"""The standalone app's entry point (PyInstaller runs this as ``__main__``)."""

from __future__ import annotations

import sys

from app.main import main

if __name__ == "__main__":
    sys.exit(main())
