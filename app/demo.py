""" "Try the demo": the engine's simulated microscope, written where the app keeps data."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from app.paths import data_dir
from app.state import DemoInfo

DEMO_EPOCHS = 8


def new_demo_folder() -> Path:
    """A fresh, timestamped folder under the app's data folder."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = data_dir() / f"demo-{stamp}"
    n = 1
    while folder.exists():
        n += 1
        folder = data_dir() / f"demo-{stamp}-{n}"
    return folder


def create_demo(folder: Path, seed: int = 0) -> DemoInfo:
    """Write the calibration stack, noisy images and ground truth; return where they are."""
    from pn2v_engine import write_demo_data

    files = write_demo_data(folder, seed=seed)
    return DemoInfo(
        folder=files.folder,
        calibration_stack=files.calibration_stack,
        images=list(files.images),
        ground_truth=dict(zip(files.images, files.ground_truth, strict=True)),
    )


def demo_settings() -> Any:
    """The cpu preset, shortened so the demo trains in about two minutes on a laptop."""
    from pn2v_engine import preset

    return preset("cpu").with_changes(**{"training.epochs": DEMO_EPOCHS, "preset": "demo"})
