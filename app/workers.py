"""The only place that runs engine generators on a QThread (DESIGN.md rule 4).

A :class:`Job` owns one thread and one worker. The worker drives a generator
made by ``factory(cancel_token)`` and turns each report into a Qt signal with
plain data; it never touches a widget. Outcomes arrive on the GUI thread as
exactly one of ``succeeded(result)``, ``failed(ErrorInfo)`` or ``cancelled()``,
followed by ``finished()`` once the thread has stopped.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from app.paths import log_file

log = logging.getLogger(__name__)

#: How much lower (in nice steps) a worker runs than the GUI thread.
WORKER_NICE = 5

Factory = Callable[[Any], Generator[Any, None, Any]]


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong, what to do, and the technical details for the log."""

    message: str
    hint: str = ""
    details: str = ""

    @classmethod
    def from_exception(cls, error: BaseException) -> ErrorInfo:
        from pn2v_engine import PN2VError

        details = "".join(traceback.format_exception(error))
        if isinstance(error, PN2VError):
            return cls(error.message, error.hint, details)
        if isinstance(error, MemoryError):
            return cls(
                "The computer ran out of memory.",
                "Close other programs, or use smaller images, tiles or batches.",
                details,
            )
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return cls(
                f"The disk is full: {error.filename or ''}".strip(),
                "Free some space or choose another folder, then try again.",
                details,
            )
        if isinstance(error, OSError):
            return cls(
                f"A file could not be read or written: {error.strerror or error}"
                + (f" ({error.filename})" if error.filename else ""),
                "Check that the file exists and that you may read and write there.",
                details,
            )
        return cls(
            f"Something unexpected went wrong ({type(error).__name__}: {error}).",
            f"Your project is unchanged. Details are in the log file {log_file()}; "
            "please include it when you report this.",
            details,
        )


def _yield_cpu_to_the_gui() -> None:
    """Lower this thread's CPU priority so the GUI thread stays responsive.

    Training keeps every core busy; at equal priority a repaint of the GUI waits its
    turn and the window stutters. On Linux the nice value is per thread and the
    compute threads that torch starts from this thread inherit it; elsewhere Qt's
    ``LowPriority`` (set when the thread starts) does the same.
    """
    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICE)
        except OSError as error:
            log.debug("could not lower the worker's priority: %s", error)


class _Worker(QObject):
    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    done = Signal()

    def __init__(self, name: str, factory: Factory, token: Any) -> None:
        super().__init__()
        self._name = name
        self._factory = factory
        self._token = token

    @Slot()
    def run(self) -> None:
        from pn2v_engine import Cancelled, PN2VError

        _yield_cpu_to_the_gui()
        try:
            generator = self._factory(self._token)
            while True:
                try:
                    report = next(generator)
                except StopIteration as stop:
                    result = stop.value
                    break
                self.progress.emit(report)
        except Cancelled:
            log.info("%s: cancelled", self._name)
            self.cancelled.emit()
        except PN2VError as error:
            log.warning("%s: %s", self._name, error)
            self.failed.emit(ErrorInfo.from_exception(error))
        except BaseException as error:  # a worker must report, never die silently
            log.exception("%s failed", self._name)
            self.failed.emit(ErrorInfo.from_exception(error))
        else:
            if self._token.cancelled and result is None:
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self.done.emit()


class Job(QObject):
    """One engine operation on its own thread. Keep a reference until ``finished``."""

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()

    _running: ClassVar[set[Job]] = set()

    def __init__(self, name: str, factory: Factory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from pn2v_engine import CancelToken

        self.name = name
        self.token = CancelToken()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._worker = _Worker(name, factory, self.token)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.succeeded.connect(self.succeeded)
        self._worker.failed.connect(self.failed)
        self._worker.cancelled.connect(self.cancelled)
        # direct: quit() is thread-safe, and a GUI thread blocked in wait() must not be needed
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)

    @classmethod
    def running(cls) -> list[Job]:
        return list(cls._running)

    def start(self) -> None:
        log.info("%s: started", self.name)
        Job._running.add(self)
        self._thread.start(QThread.Priority.LowPriority)

    def cancel(self) -> None:
        """Ask the operation to stop at its next check; outcomes still arrive."""
        self.token.cancel()

    def is_running(self) -> bool:
        return self in Job._running

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread has stopped (used when the application closes)."""
        return self._thread.wait(timeout_ms)

    @Slot()
    def _on_thread_finished(self) -> None:
        Job._running.discard(self)
        self.finished.emit()


def call(function: Callable[[], Any]) -> Factory:
    """A job factory for a plain blocking call: no progress, not cancellable midway."""

    def factory(token: Any) -> Generator[Any, None, Any]:
        yield from ()
        return function()

    return factory


def stop_all(timeout_ms: int = 30_000) -> bool:
    """Cancel every running job and wait for each thread; False if one would not stop."""
    jobs = Job.running()
    for job in jobs:
        job.cancel()
    return all(job.wait(timeout_ms) for job in jobs)


# a script that ends without closing its windows must not destroy running threads
atexit.register(stop_all)
