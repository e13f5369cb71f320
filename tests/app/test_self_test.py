"""``pn2v-studio --self-test`` from Python: the whole check, and what a failure reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import app.self_test as self_test

STEPS = ["environment", "window", "data", "calibrate", "train", "project", "denoise"]


def test_self_test_passes_and_reports(tmp_path: Path) -> None:
    report_path = tmp_path / "out" / "report.json"
    env = {**os.environ, "PN2V_STUDIO_HOME": str(tmp_path / "home")}
    env.pop("QT_QPA_PLATFORM", None)  # it must go offscreen by itself
    run = subprocess.run(
        [sys.executable, "-m", "app", "--self-test", "--self-test-report", str(report_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"self-test passed; report: {report_path}" in run.stdout
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["passed"] is True and report["frozen"] is False
    assert [step["name"] for step in report["steps"]] == STEPS
    assert all(step["ok"] is True and step["detail"] for step in report["steps"])
    assert "PyTorch 2." in report["build"] and report["device"].startswith(("cpu", "cuda", "mps"))
    assert min(report["psnr_gain_db"]) >= self_test.MIN_GAIN_DB
    assert report_path.with_suffix(".png").stat().st_size > 1000
    assert report["log_file"] == str(tmp_path / "home" / "logs" / "pn2v-studio.log")


def test_a_failed_step_fails_the_run_and_skips_what_needs_it(
    tmp_path: Path, qapp: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 1; the report names the failure; no console (stdout None) is no problem."""

    def broken_calibration(self: object) -> str:
        raise RuntimeError("calibration broke")

    monkeypatch.setattr(self_test._Checks, "calibrate", broken_calibration)
    monkeypatch.setattr(self_test, "setup_logging", lambda: None)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr(sys, "stdout", None)
    report_path = tmp_path / "report.json"

    assert self_test.run_self_test(report_path) == 1

    report = json.loads(report_path.read_text(encoding="utf-8"))
    outcome = {step["name"]: step["ok"] for step in report["steps"]}
    assert report["passed"] is False
    assert outcome == {
        "environment": True,
        "window": True,
        "data": True,
        "calibrate": False,
        "train": None,
        "project": None,
        "denoise": None,
    }
    failed = next(step for step in report["steps"] if step["name"] == "calibrate")
    assert failed["detail"] == "RuntimeError: calibration broke"
