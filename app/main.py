"""Start PN2V Studio: ``pn2v-studio`` or ``python -m app``."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
from collections.abc import Sequence

from app import APP_NAME, ORGANISATION

log = logging.getLogger("app")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pn2v-studio", description=f"{APP_NAME}")
    parser.add_argument("project", nargs="?", help="a .pn2v project to open")
    parser.add_argument("--demo", action="store_true", help="start the built-in demo at once")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation offscreen (a tiny calibrate, train and denoise cycle "
        "and one painted window), write a report and exit: 0 if every step passed",
    )
    parser.add_argument(
        "--self-test-report",
        metavar="PATH",
        help="where --self-test writes its JSON report (default: in the log folder)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()
    _give_streams_a_sink()
    args = parse_args(argv)
    if args.self_test:
        from app.self_test import run_self_test

        return run_self_test(args.self_test_report)

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
    from app.workers import stop_all

    window = MainWindow(load_settings())
    install_exception_hooks(lambda kind, error, tb: _report_unhandled(window, error))
    window.context.devices_changed.connect(lambda: _log_devices(window.context.devices))
    # quitting without closing the window (logout, Ctrl-C) still stops the workers
    app.aboutToQuit.connect(lambda: stop_all())
    window.show()
    log.info("%s started", APP_NAME)
    if args.project:
        from pathlib import Path

        QTimer.singleShot(0, lambda: window.open_project(Path(args.project)))
    elif args.demo:
        QTimer.singleShot(0, window.try_demo)
    return app.exec()


def _give_streams_a_sink() -> None:
    """A windowed build (Windows, macOS) has no console: ``sys.stdout``/``stderr`` are None,
    and a library that writes there would crash. They get a sink; the log file keeps all."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def _log_devices(devices: list[tuple[str, str]]) -> None:
    """Record the compute devices found (the status bar shows the one that is used)."""
    from app.devices import torch_build

    log.info("%s; devices: %s", torch_build(), "; ".join(name for _, name in devices))


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
