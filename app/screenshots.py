"""Screenshots of every page in a realistic state, after running the built-in demo.

    python -m app.screenshots docs/screenshots [--scale 1.5] [--epochs 8] [--only-calibrate]

Runs offscreen: the demo's calibration (and a bootstrapped model beside it), a short
training (saving one picture while it runs), denoising with PSNR, then the Start page
with the saved project listed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _wait(app: object, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.02)


def _points(curve: object) -> int:
    x = curve.getData()[0]  # type: ignore[attr-defined]
    return 0 if x is None else len(x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where the PNG files go")
    parser.add_argument("--scale", type=float, default=1.0, help="UI scale factor (e.g. 1.5)")
    parser.add_argument("--epochs", type=int, default=None, help="demo epochs (default 8)")
    parser.add_argument("--home", type=Path, default=None, help="settings/data folder to use")
    parser.add_argument(
        "--only-calibrate", action="store_true", help="stop after the Calibrate page's pictures"
    )
    args = parser.parse_args(argv)

    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["QT_SCALE_FACTOR"] = f"{args.scale:g}"
    if args.home is not None:
        os.environ["PN2V_STUDIO_HOME"] = str(args.home)
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.style import apply_style
    from app.user_settings import UserSettings

    app = QApplication(sys.argv[:1])
    apply_style(app)
    window = MainWindow(UserSettings())
    window.resize(1280, 840)
    window.show()
    folder = args.folder
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.scale == 1 else f"@{args.scale:g}x"

    def shot(name: str) -> None:
        app.processEvents()
        path = folder / f"{name}{suffix}.png"
        window.grab().save(str(path))
        print(f"wrote {path}")

    def idle() -> bool:
        return not window.context.busy

    _wait(app, lambda: bool(window.context.devices), 60, "the device probe")
    window.try_demo()
    _wait(app, lambda: window.state.demo is not None and idle(), 120, "the demo data")
    if args.epochs is not None:
        window.state.set_settings(
            window.state.settings.with_changes(**{"training.epochs": args.epochs})
        )
    window.calibrate_page.build()
    _wait(app, lambda: window.state.noise_model is not None and idle(), 300, "calibration")
    shot("2-calibrate")

    # a bootstrapped model beside the measured histogram (a short N2V run), then back
    state = window.state
    measured = (state.noise_model, state.calibration_files, state.calibration_signal)
    settings = state.settings
    state.set_settings(
        settings.with_changes(**{"training.epochs": 4, "training.steps_per_epoch": 25})
    )
    window.calibrate_page.bootstrap()
    _wait(app, lambda: "bootstrap" in state.noise_model.metadata and idle(), 600, "bootstrap")
    shot("2-calibrate-bootstrapped")
    state.set_settings(settings)
    state.set_noise_model(*measured)
    if args.only_calibrate:
        window.state.dirty = False
        window.close()
        return 0

    window.go_to_step(2)
    train = window.train_page
    _wait(app, train.start_button.isEnabled, 120, "the training images' check")
    train.start_button.click()
    epochs = window.state.settings.training.epochs
    _wait(
        app,
        lambda: _points(train.plots.val_curve) >= max(2, epochs // 2),
        1800,
        "half the training",
    )
    shot("3-train-running")
    _wait(app, lambda: window.state.training is not None and idle(), 1800, "training")
    shot("3-train-done")

    window.go_to_step(3)
    denoise = window.denoise_page
    denoise.results.uncertainty_check.setChecked(True)
    denoise.start_button.click()
    _wait(app, lambda: idle() and denoise.model.rows()[0].outputs != (), 600, "denoising")
    _wait(app, lambda: denoise.viewer.compare.before_view.image is not None, 60, "the viewer")
    shot("4-denoise")
    denoise.viewer.compare.set_mode("Split")
    shot("4-denoise-split")

    demo = window.state.demo
    assert demo is not None
    window._save_to(demo.folder / "demo.pn2v")
    window.go_to_step(0)
    shot("1-start")
    window.state.dirty = False
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
