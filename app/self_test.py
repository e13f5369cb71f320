"""``pn2v-studio --self-test``: prove that this installation works, without a screen.

Offscreen, it paints the main window once (Qt and its plugins, the bundled style
sheet and icon, a worker thread that imports torch and finds the device), then runs
a tiny calibrate, train and denoise cycle on simulated data in a temporary folder
and checks the results: the denoised files exist, are finite and have a higher PSNR
than the noisy input. A JSON report (default ``self-test.json`` in the log folder)
lists every step with its time and outcome; the exit code is 0 only if all passed.
It runs the same in the standalone app (also a windowed one, without stdout) and
from Python (``python -m app --self-test``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from app import APP_NAME
from app.logs import setup_logging
from app.paths import is_frozen, log_dir, log_file

log = logging.getLogger(__name__)
REPORT_NAME = "self-test.json"
#: Seconds the window may take to find the compute device (a cold torch import).
DEVICE_TIMEOUT_S = 180.0
#: The denoised images must beat the noisy input by at least this much (dB).
MIN_GAIN_DB = 1.0
#: A tiny network and run: seconds on a CPU, yet clearly better than the input.
TINY_TRAINING = {
    "network.depth": 2,
    "network.features": 16,
    "network.n_samples": 32,
    "training.patch_size": 32,
    "training.batch_size": 8,
    "training.epochs": 4,
    "training.steps_per_epoch": 25,
    "training.learning_rate": 3e-3,
    "training.val_patches": 8,
    "training.schedule": "cosine",
}


@dataclass
class StepResult:
    """One step's outcome: ``ok`` is None when it was skipped."""

    name: str
    ok: bool | None
    seconds: float
    detail: str


@dataclass
class _Checks:
    """The steps, in order; each returns a one-line detail or raises."""

    work: Path
    screenshot: Path
    facts: dict[str, Any] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)

    def steps(self) -> list[tuple[str, Callable[[], str], bool]]:
        """``(name, step, chained)``: a chained step is skipped after a chained failure."""
        return [
            ("environment", self.environment, False),
            ("window", self.window, False),
            ("data", self.data, True),
            ("calibrate", self.calibrate, True),
            ("train", self.train, True),
            ("project", self.project, True),
            ("denoise", self.denoise, True),
        ]

    def environment(self) -> str:
        from app.about import build_text
        from pn2v_engine import describe_device, select_device

        device = select_device("auto")
        self.facts["build"] = build_text()
        self.facts["device"] = f"{device.type}: {describe_device(device)}"
        return f"{self.facts['build']}; device {self.facts['device']}"

    def window(self) -> str:
        from PySide6.QtWidgets import QApplication

        from app.about import COMPONENTS, about_text, component_version
        from app.main_window import MainWindow
        from app.style import apply_style
        from app.user_settings import UserSettings
        from app.workers import stop_all

        app = QApplication.instance()
        if not isinstance(app, QApplication):
            raise RuntimeError("no QApplication: run the self-test through run_self_test()")
        apply_style(app)
        if not app.styleSheet():
            raise RuntimeError("the style sheet was not found among the resources")
        if app.windowIcon().isNull():
            raise RuntimeError("the icon was not found among the resources")
        missing = [name for name, _, dist in COMPONENTS if not component_version(dist)]
        if missing or APP_NAME not in about_text():
            raise RuntimeError(f"the About box is incomplete; versions missing: {missing}")

        window = MainWindow(UserSettings())  # defaults: the user's settings stay untouched
        try:
            window.show()
            deadline = time.monotonic() + DEVICE_TIMEOUT_S
            while "detecting" in window.device_label.text() and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.02)
            status = window.device_label.text()
            if not window.context.devices:
                raise RuntimeError(f"the device probe did not finish: {status!r}")
            for step in reversed(range(window.pages.count())):  # every page, plots included
                window.go_to_step(step)
                image = window.grab().toImage()
                colours = len(np.unique(_pixels(image))) if not image.isNull() else 0
                if colours < 8:
                    raise RuntimeError(f"page {step + 1} painted with only {colours} colours")
            if not image.save(str(self.screenshot)):
                raise RuntimeError(f"the window could not be saved to {self.screenshot}")
        finally:
            stop_all()
            window.hide()
            window.deleteLater()
            app.processEvents()
        self.facts["screenshot"] = str(self.screenshot)
        return (
            f"Qt platform {app.platformName()}, {window.pages.count()} pages painted "
            f"({image.width()}x{image.height()} px); status bar: {status}"
        )

    def data(self) -> str:
        from pn2v_engine import make_demo_data, write_demo_data

        data = make_demo_data(seed=0, size=128, n_calibration=20, n_images=2)
        files = write_demo_data(self.work / "data", data)
        self.shared["files"] = files
        return f"calibration stack of 20 frames and {len(files.images)} noisy 128x128 images"

    def calibrate(self) -> str:
        from pn2v_engine import load_noise_model, run_calibrate

        files = self.shared["files"]
        result = run_calibrate([files.calibration_stack])
        path = result.noise_model.save(self.work / "noise_model.npz")
        self.shared["noise_model"] = load_noise_model(path)
        low, high = result.summary.signal_range
        return f"{result.summary.frames} frames, signal {low:.0f} to {high:.0f} ADU"

    def train(self) -> str:
        from pn2v_engine import preset, read_image, run_train

        settings = preset("cpu").with_changes(**TINY_TRAINING)
        images = [read_image(p).as_float32() for p in self.shared["files"].images]
        started = time.monotonic()
        result = run_train(images, self.shared["noise_model"], settings, device="auto")
        losses = result.history.train_loss + result.history.val_loss
        if result.stopped or not np.all(np.isfinite(losses)):
            raise RuntimeError(f"training stopped or diverged: losses {losses}")
        self.shared["settings"], self.shared["training"] = settings, result
        steps = settings.training.epochs * settings.training.steps_per_epoch
        return (
            f"{steps} steps in {time.monotonic() - started:.1f} s; "
            f"validation loss {result.history.val_loss[0]:.3f} -> {result.history.val_loss[-1]:.3f}"
        )

    def project(self) -> str:
        from pn2v_engine import Project, load_project, save_project

        project = Project(
            settings=self.shared["settings"],
            noise_model=self.shared["noise_model"],
            training=self.shared["training"],
            name="self-test",
        )
        path = save_project(project, self.work / "self-test.pn2v")
        loaded = load_project(path)
        if (
            loaded.training is None
            or loaded.training.epochs_done != TINY_TRAINING["training.epochs"]
        ):
            raise RuntimeError("the saved project did not load back with its training")
        self.shared["project"] = loaded
        return f"saved and loaded {path.name} ({path.stat().st_size / 1e6:.1f} MB)"

    def denoise(self) -> str:
        from pn2v_engine import DenoiseOptions, plan_jobs, psnr, read_image, run_denoise_file

        files = self.shared["files"]
        denoiser = self.shared["project"].denoiser()
        gains = []
        for job, truth_path in zip(
            plan_jobs(files.images, self.work / "denoised"), files.ground_truth, strict=True
        ):
            run_denoise_file(denoiser, job, DenoiseOptions(uncertainty=True))
            for output in (job.output, job.uncertainty):
                pixels = read_image(output).as_float32()
                if not np.all(np.isfinite(pixels)):
                    raise RuntimeError(f"{output.name} holds values that are not finite")
            truth = read_image(truth_path).as_float32()[0]
            noisy = read_image(job.source).as_float32()[0]
            denoised = read_image(job.output).as_float32()[0]
            gains.append(psnr(truth, denoised) - psnr(truth, noisy))
        self.facts["psnr_gain_db"] = [round(float(g), 2) for g in gains]
        if min(gains) < MIN_GAIN_DB:
            raise RuntimeError(f"PSNR gains {gains} dB, less than {MIN_GAIN_DB} dB")
        return f"{len(gains)} images denoised; PSNR gain {', '.join(f'{g:+.2f}' for g in gains)} dB"


def _pixels(image: Any) -> np.ndarray:
    """A QImage's pixels as 32-bit values."""
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB32)
    data = np.frombuffer(image.constBits(), np.uint32, image.sizeInBytes() // 4)
    return data.copy()


def _say(line: str) -> None:
    """Log a line and print it where there is a console (a windowed build has none)."""
    log.info("self-test: %s", line)
    if sys.stdout is not None:
        with contextlib.suppress(OSError, ValueError):  # a broken stream: the log has it
            print(line, flush=True)


def run_checks(work: Path, screenshot: Path) -> tuple[list[StepResult], dict[str, Any]]:
    """Run every step in ``work`` (needs a QApplication); returns the results and facts."""
    checks = _Checks(work, screenshot)
    results: list[StepResult] = []
    chain_broken = False
    for name, step, chained in checks.steps():
        if chained and chain_broken:
            results.append(StepResult(name, None, 0.0, "skipped: an earlier step failed"))
            _say(f"[skip] {name}")
            continue
        started = time.monotonic()
        try:
            detail, ok = step(), True
        except Exception as error:  # reported, and the run goes on where it can
            log.exception("self-test step %s failed", name)
            detail, ok = f"{type(error).__name__}: {error}", False
            chain_broken |= chained
        results.append(StepResult(name, ok, round(time.monotonic() - started, 2), detail))
        _say(f"[{'ok' if ok else 'FAILED'}] {name} ({results[-1].seconds:.1f} s): {detail}")
    return results, checks.facts


def _write_json(path: Path, content: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(content, indent=2), encoding="utf-8")
    os.replace(partial, path)


def run_self_test(report: str | os.PathLike[str] | None = None) -> int:
    """Run the self-test offscreen and write its report; 0 if every step passed, else 1."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before the QApplication exists
    setup_logging()
    from PySide6.QtWidgets import QApplication

    from pn2v_engine import __version__

    report_path = Path(report).resolve() if report else log_dir() / REPORT_NAME
    report_path.parent.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    started, clock = datetime.now(UTC), time.monotonic()
    _say(f"{APP_NAME} {__version__} self-test ({'standalone' if is_frozen() else 'Python'})")
    with tempfile.TemporaryDirectory(prefix="pn2v-self-test-") as work:
        results, facts = run_checks(Path(work), report_path.with_suffix(".png"))
    passed = all(r.ok for r in results)
    _write_json(
        report_path,
        {
            "app": APP_NAME,
            "version": __version__,
            "passed": passed,
            "frozen": is_frozen(),
            "executable": sys.executable,
            "platform": platform.platform(),
            "started": started.isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - clock, 1),
            **facts,
            "log_file": str(log_file()),
            "steps": [asdict(r) for r in results],
        },
    )
    _say(f"self-test {'passed' if passed else 'FAILED'}; report: {report_path}")
    return 0 if passed else 1
