"""Logging to a file in the user's log folder; unhandled exceptions land there too."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable
from types import TracebackType

from app.paths import log_file

log = logging.getLogger("app")
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def setup_logging(level: int = logging.INFO) -> None:
    """Log to a rotating file, and to stderr when there is one (a windowed build has none)."""
    root = logging.getLogger()
    root.setLevel(level)
    path = log_file()
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    if sys.stderr is not None and not any(type(h) is logging.StreamHandler for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(logging.WARNING)
        stream.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(stream)


ExceptionHandler = Callable[[type[BaseException], BaseException, TracebackType | None], None]


def install_exception_hooks(on_error: ExceptionHandler | None = None) -> None:
    """Send unhandled exceptions, in any thread, to the log and then to ``on_error``."""

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        log.critical("unhandled exception", exc_info=(kind, error, tb))
        if on_error is not None:
            on_error(kind, error, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook
