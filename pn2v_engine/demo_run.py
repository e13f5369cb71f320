"""``pn2v demo``: calibrate, train and denoise the simulated microscope, and score it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .batch import DenoiseOptions, plan_jobs, run_denoise_file
from .calibration import run_calibrate
from .config import preset
from .demo import write_demo_data
from .io import read_image
from .metrics import psnr
from .project import DataReference, Project, save_project
from .training import run_train


def run_demo(folder: Path, say: Callable[[str], None], epochs: int = 8, seed: int = 0) -> int:
    """Run the whole flow in ``folder``; returns 0. ``say`` receives each line of the report."""
    started = time.monotonic()
    files = write_demo_data(folder, seed=seed)
    say(f"1/4 Simulated microscope written to {files.folder}")
    say(f"    calibration stack: {files.calibration_stack.name}; {len(files.images)} noisy images")

    calibration = run_calibrate([files.calibration_stack])
    model_path = calibration.noise_model.save(files.folder / "noise_model.npz")
    s = calibration.summary
    say(
        f"2/4 Calibrated from {s.frames} frames: signal {s.signal_range[0]:.0f} to "
        f"{s.signal_range[1]:.0f} ADU -> {model_path.name}"
    )

    settings = preset("cpu").with_changes(**{"training.epochs": epochs, "training.seed": seed})
    images = [read_image(p).as_float32() for p in files.images]
    t0 = time.monotonic()
    result = run_train(images, calibration.noise_model, settings)
    project = Project(
        settings=settings,
        noise_model=calibration.noise_model,
        training=result,
        training_images=[DataReference.to_file(p) for p in files.images],
        calibration_files=[DataReference.to_file(files.calibration_stack)],
        name="demo",
    )
    project_path = save_project(project, files.folder / "demo.pn2v")
    say(
        f"3/4 Trained PN2V (cpu preset, {epochs} epochs) in {time.monotonic() - t0:.0f} s "
        f"-> {project_path.name}"
    )

    denoiser = project.denoiser()
    jobs = plan_jobs(files.images, files.folder / "denoised")
    gains = []
    for job, truth_path in zip(jobs, files.ground_truth, strict=True):
        run_denoise_file(denoiser, job, DenoiseOptions(uncertainty=True))
        truth = read_image(truth_path).as_float32()[0]
        noisy = read_image(job.source).as_float32()[0]
        denoised = read_image(job.output).as_float32()[0]
        before, after = psnr(truth, noisy), psnr(truth, denoised)
        gains.append(after - before)
        say(f"    {job.source.name}: PSNR {before:.2f} dB -> {after:.2f} dB")
    say(
        f"4/4 Denoised {len(jobs)} images into {jobs[0].output.parent}: mean gain "
        f"{np.mean(gains):+.2f} dB (total {time.monotonic() - started:.0f} s)"
    )
    return 0
