"""benchmarks/fmd.py runs end to end on the real FMD data (tiny networks, a few steps)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path("/work/shared/data/fmd_fov19")


@pytest.mark.skipif(not DATA.is_dir(), reason="needs the shared FMD data")
def test_fmd_benchmark_writes_every_asked_row(tmp_path: Path) -> None:
    rows = ["input", "n2v", "pn2v", "pn2v_prior", "pn2v_boot_hist", "pn2v_boot_gmm"]
    tiny = [
        "network.depth=2",
        "network.features=8",
        "network.n_samples=16",
        "training.patch_size=32",
        "training.batch_size=2",
        "training.val_patches=2",
    ]
    command = [sys.executable, "benchmarks/fmd.py", "--types", "Confocal_MICE"]
    command += ["--steps", "3", "--in-process", "--out", str(tmp_path), "--methods", *rows]
    command += ["--set", *tiny]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (tmp_path / "fmd_results.md").read_text(encoding="utf-8")
    assert (tmp_path / "fmd_figure.png").stat().st_size > 10_000
    table = {
        line.split("|")[1].strip(): line
        for line in report.splitlines()
        if line.startswith("| U-Net") or line.startswith("| Input")
    }
    for label in (
        "Input",
        "U-Net (N2V)",
        "U-Net (PN2V)",
        "U-Net (PN2V), prior mean",
        "U-Net (PN2V, bootstrapped histogram)",
        "U-Net (PN2V, bootstrapped GMM)",
    ):
        assert label in table, report
        psnr = table[label].split("|")[2].strip()
        assert "±" in psnr, f"{label} has no PSNR: {table[label]}"
        assert 15 < float(psnr.split("±")[0]) < 45
    assert "FAILED" not in report
    assert "bootstrapped: Gaussian-mixture" in table["U-Net (PN2V, bootstrapped GMM)"]
    assert "bootstrapped: histogram" in table["U-Net (PN2V, bootstrapped histogram)"]


@pytest.mark.skipif(not DATA.is_dir(), reason="needs the shared FMD data")
def test_calibration_fraction_benchmark_scores_each_fraction(tmp_path: Path) -> None:
    tiny = [
        "network.depth=2",
        "network.features=8",
        "network.n_samples=16",
        "training.patch_size=32",
        "training.batch_size=2",
        "training.val_patches=2",
    ]
    command = [sys.executable, "benchmarks/calibration_fraction.py", "--steps", "3"]
    command += ["--fractions", "1", "0.0001", "--in-process", "--out", str(tmp_path)]
    command += ["--set", *tiny]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (tmp_path / "calibration_fraction.md").read_text(encoding="utf-8")
    rows = [line for line in report.splitlines() if line.startswith("| 100 %")]
    rows += [line for line in report.splitlines() if line.startswith("| 0.01 %")]
    assert len(rows) == 2, report
    assert "262144 pairs" in rows[0] and "| 26 pairs" in rows[1]
    for row in rows:
        assert 15 < float(row.split("|")[3]) < 45
    assert (tmp_path / "calibration_fraction.png").stat().st_size > 5_000
