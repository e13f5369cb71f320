"""Start PN2V Studio: ``pn2v-studio`` or ``python -m app``."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
from collections.abc import Sequence

from app import APP_NAME, ORGANISATION

log = logging.getLogger("app")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pn2v-studio", description=f"{APP_NAME}")
    parser.add_argument("project", nargs="?", help="a .pn2v project to open")
    parser.add_argument("--demo", action="store_true", help="start the built-in demo at once")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()
    args = parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.logs import install_exception_hooks, setup_logging
    from app.style import apply_style
    from app.user_settings import load_settings

    setup_logging()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORGANISATION)
    apply_style(app)

    from app.main_window import MainWindow

    window = MainWindow(load_settings())
    install_exception_hooks(lambda kind, error, tb: _report_unhandled(window, error))
    window.show()
    log.info("%s started", APP_NAME)
    if args.project:
        from pathlib import Path

        QTimer.singleShot(0, lambda: window.open_project(Path(args.project)))
    elif args.demo:
        QTimer.singleShot(0, window.try_demo)
    return app.exec()


def _report_unhandled(window: object, error: BaseException) -> None:
    """Show an unhandled error (already logged) when it happened on the GUI thread."""
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    from app.dialogs import show_error
    from app.workers import ErrorInfo

    app = QApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return
    try:
        show_error(window, "Unexpected error", ErrorInfo.from_exception(error))  # type: ignore[arg-type]
    except Exception:  # the dialog itself failed; the log has the original error
        log.exception("could not show the error dialog")
