"""Jobs run engine generators on a QThread and report on the GUI thread."""

from __future__ import annotations

import errno
import os
import sys
import threading
import time

import pytest
from PySide6.QtCore import QThread

from app.workers import WORKER_NICE, ErrorInfo, Job, call, stop_all
from pn2v_engine import CalibrationError, Cancelled


def _run(qtbot, job: Job) -> dict:
    seen: dict = {"progress": [], "threads": set()}
    job.progress.connect(lambda p: seen["progress"].append(p))
    job.progress.connect(lambda p: seen["threads"].add(QThread.currentThread()))
    job.succeeded.connect(lambda r: seen.setdefault("result", r))
    job.failed.connect(lambda info: seen.setdefault("error", info))
    job.cancelled.connect(lambda: seen.setdefault("cancelled", True))
    with qtbot.waitSignal(job.finished, timeout=10_000):
        job.start()
    return seen


def test_progress_and_result_arrive_on_the_gui_thread(qtbot):
    worker_threads = []

    def factory(token):
        worker_threads.append(threading.current_thread())
        yield from range(3)
        return "done"

    seen = _run(qtbot, Job("count", factory))
    assert seen["progress"] == [0, 1, 2]
    assert seen["result"] == "done"
    assert seen["threads"] == {QThread.currentThread()}
    assert worker_threads[0] is not threading.main_thread()
    assert Job.running() == []


def test_an_engine_error_becomes_message_and_hint(qtbot):
    def factory(token):
        yield 0
        raise CalibrationError("Only one frame.", "Record more frames.")

    seen = _run(qtbot, Job("fail", factory))
    assert seen["error"].message == "Only one frame."
    assert seen["error"].hint == "Record more frames."
    assert "result" not in seen


def test_a_bug_is_reported_with_the_log_path_not_raised(qtbot):
    def factory(token):
        yield 0
        raise ZeroDivisionError("boom")

    seen = _run(qtbot, Job("bug", factory))
    assert "ZeroDivisionError" in seen["error"].message
    assert "log" in seen["error"].hint
    assert "Traceback" in seen["error"].details


def test_cancel_stops_at_the_next_check(qtbot):
    def factory(token):
        while True:
            token.raise_if_cancelled()
            time.sleep(0.01)
            yield None

    job = Job("forever", factory)
    job.progress.connect(lambda _: job.cancel())
    seen = _run(qtbot, job)
    assert seen.get("cancelled") is True
    assert "error" not in seen


def test_stop_all_waits_for_every_thread(qtbot):
    def factory(token):
        while not token.cancelled:
            time.sleep(0.01)
            yield None
        raise Cancelled

    jobs = [Job(f"job{i}", factory) for i in range(2)]
    for job in jobs:
        job.start()
    assert stop_all(5_000)
    qtbot.waitUntil(lambda: Job.running() == [], timeout=5_000)


def test_call_wraps_a_plain_function(qtbot):
    seen = _run(qtbot, Job("call", call(lambda: 42)))
    assert seen["result"] == 42
    assert seen["progress"] == []


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (MemoryError(), "out of memory"),
        (OSError(errno.ENOSPC, "No space left on device", "/x/out.tif"), "disk is full"),
        (PermissionError(errno.EACCES, "Permission denied", "/x"), "could not be read"),
    ],
)
def test_resource_errors_get_plain_words(error, words):
    assert words in ErrorInfo.from_exception(error).message


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_workers_run_at_a_lower_cpu_priority_than_the_gui(qtbot):
    def factory(token):
        tid = threading.get_native_id()
        yield os.getpriority(os.PRIO_PROCESS, tid)

    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = _run(qtbot, Job("nice", factory))
    assert seen["progress"] == [min(gui + WORKER_NICE, 19)]
