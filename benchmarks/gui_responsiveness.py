"""How long the GUI's event loop stalls while the app trains and denoises.

    python benchmarks/gui_responsiveness.py [--train-seconds 60] [--size 512]

Runs the real main window offscreen on the built-in demo: calibrates, trains with
the cpu preset for a while, then denoises the demo images plus one larger image.
A 10 ms QTimer measures the event loop: a tick that comes late by more than its
interval is a stall. Prints the longest stall and the 99th percentile per phase;
the target is under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TICK_MS = 10


class StallMeter:
    """Records the gaps between the ticks of a fast timer on the GUI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.times: list[float] = []
        self._last = self._started = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000)
        self.times.append(self._last - self._started)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self.times.clear()
        self._last = self._started = time.perf_counter()
        self._timer.start()

    def stop(self) -> dict[str, float]:
        self._timer.stop()
        stalls = np.maximum(np.asarray(self.gaps) - TICK_MS, 0.0)
        return {
            "ticks": len(stalls),
            "max_ms": float(stalls.max()) if len(stalls) else float("nan"),
            "p99_ms": float(np.percentile(stalls, 99)) if len(stalls) else float("nan"),
            "at_s": self.times[int(np.argmax(stalls))] if len(stalls) else float("nan"),
        }


def wait(app: object, condition: Callable[[], bool], timeout_s: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not finish in time")
        QTimer.singleShot(50, loop.quit)
        loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-seconds", type=float, default=60.0)
    parser.add_argument("--size", type=int, default=512, help="side of the extra image")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="pn2v-gui-bench-"))
    os.environ["PN2V_STUDIO_HOME"] = str(home)
    import tifffile
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.style import apply_style
    from app.user_settings import UserSettings
    from pn2v_engine import make_demo_data, preset

    app = QApplication(sys.argv[:1])
    apply_style(app)
    window = MainWindow(UserSettings())
    window.resize(1280, 840)
    window.show()
    meter = StallMeter()
    rows: list[tuple[str, float, dict[str, float]]] = []

    def idle() -> bool:
        return not window.context.busy

    wait(app, lambda: bool(window.context.devices), 60)
    window.try_demo()
    wait(app, lambda: window.state.demo is not None and idle(), 120)
    window.state.set_settings(preset("cpu"))
    window.calibrate_page.build()
    wait(app, lambda: window.state.noise_model is not None and idle(), 300)

    window.go_to_step(2)
    train = window.train_page
    wait(app, train.start_button.isEnabled, 120)
    meter.start()
    started = time.monotonic()
    train.start_button.click()
    wait(
        app,
        lambda: (
            time.monotonic() - started > args.train_seconds
            and train.plots.val_curve.getData()[0] is not None
        ),  # at least one epoch kept
        args.train_seconds + 600,
    )
    train.stop_button.click()
    wait(app, idle, 300)
    rows.append(("training (cpu preset)", time.monotonic() - started, meter.stop()))

    demo = window.state.demo
    assert demo is not None
    big = demo.folder / "large"
    big.mkdir()
    data = make_demo_data(seed=9, size=args.size, n_calibration=2, n_images=1)
    tifffile.imwrite(big / f"cells_{args.size}.tif", data.images[0])
    window.go_to_step(3)
    denoise = window.denoise_page
    denoise.add_paths([big])
    denoise.results.uncertainty_check.setChecked(True)
    meter.start()
    started = time.monotonic()
    denoise.start_button.click()
    wait(app, lambda: idle() and all(r.outputs for r in denoise.model.rows()), 600)
    rows.append(
        (f"denoising {len(denoise.model.rows())} files", time.monotonic() - started, meter.stop())
    )

    print("| phase | seconds | timer ticks | longest stall (ms) | at (s) | 99th percentile (ms) |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, stats in rows:
        print(
            f"| {name} | {seconds:.0f} | {stats['ticks']:.0f} | {stats['max_ms']:.0f} "
            f"| {stats['at_s']:.1f} | {stats['p99_ms']:.0f} |"
        )
    window.state.dirty = False
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
