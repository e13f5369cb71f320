"""benchmarks/fmd.py runs end to end on the real FMD data (tiny networks, a few steps)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path("/work/shared/data/fmd_fov19")
#: ``--set`` changes that make the benchmarks' networks tiny (seconds, not minutes).
TINY = [
    "network.depth=2",
    "network.features=8",
    "network.n_samples=16",
    "training.patch_size=32",
    "training.batch_size=2",
    "training.val_patches=2",
]


PLAIN = "U-Net (PN2V, bootstrapped, smoothed, pairs as measured)"
SCRATCH = "U-Net (PN2V, bootstrapped, smoothed, from random weights)"
ROT4 = "U-Net (PN2V, bootstrapped, smoothed), 4 rotations averaged"
ALONE = "U-Net (PN2V, bootstrapped, smoothed), its MMSE alone"
SKIPLESS = "U-Net without top skip (N2V; the bootstrap's network)"


@pytest.mark.skipif(not DATA.is_dir(), reason="needs the shared FMD data")
def test_fmd_benchmark_writes_every_asked_row(tmp_path: Path) -> None:
    rows = ["input", "n2v", "n2v_boot", "pn2v", "pn2v_prior", "pn2v_mix", "pn2v_boot_hist"]
    rows += ["pn2v_boot", "pn2v_boot_rot4", "pn2v_boot_alone", "pn2v_boot_gmm"]
    rows += ["pn2v_boot_plain", "pn2v_boot_scratch", "trad"]
    command = [sys.executable, "benchmarks/fmd.py", "--types", "Confocal_MICE"]
    command += ["--steps", "3", "--in-process", "--out", str(tmp_path), "--methods", *rows]
    command += ["--set", *TINY]
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
        SKIPLESS,
        "U-Net (PN2V)",
        "U-Net (PN2V), prior mean",
        "U-Net (PN2V, calibration mixture alone, tabulated)",
        "U-Net (PN2V, bootstrapped histogram)",
        "U-Net (PN2V, bootstrapped, smoothed)",
        ROT4,
        ALONE,
        "U-Net (PN2V, bootstrapped GMM)",
        PLAIN,
        SCRATCH,
        "U-Net (trad.)",
    ):
        assert label in table, report
        psnr = table[label].split("|")[2].strip()
        assert "±" in psnr, f"{label} has no PSNR: {table[label]}"
        assert 15 < float(psnr.split("±")[0]) < 45
    assert "FAILED" not in report
    # Confocal_MICE's captures read as bright as its ground truth, within 1 %
    gains = re.findall(r"(\d\.\d{3}) gt [+-]", table["Input"])
    assert len(gains) == 4 and all(abs(float(g) - 1) < 0.01 for g in gains), table["Input"]
    # bootstrapped rows say how far their pairs were deflated: "bootstrapped (...): <model>"
    boot = r"bootstrapped( \(.+?\))?: "
    assert re.search(boot + "Gaussian-mixture", table["U-Net (PN2V, bootstrapped GMM)"])
    assert "tabulated on" in table["U-Net (PN2V, bootstrapped GMM)"]
    assert re.search(boot + "histogram", table["U-Net (PN2V, bootstrapped histogram)"])
    assert "smoothed: 3-component mixture" in table["U-Net (PN2V)"]
    assert "pseudo-counts" in table["U-Net (PN2V)"] or "alone" in table["U-Net (PN2V)"]
    assert "tabulated on 199 bins" in table["U-Net (PN2V, calibration mixture alone, tabulated)"]
    smoothed = table["U-Net (PN2V, bootstrapped, smoothed)"]
    assert re.search(boot + "histogram noise model smoothed", smoothed)
    assert "bootstrapped: histogram noise model smoothed" in table[PLAIN]
    # an N2V of 3 steps may leave nothing Gaussian-like to deflate: the row says either
    assert re.search(r"bootstrapped \((variance x \d\.\d\d-\d\.\d\d|not deflated)", smoothed)
    assert "variance x" not in table[PLAIN] and "not deflated" not in table[PLAIN]
    # bootstrapped PN2V starts from the skipless N2V row's network, unless the row says
    # otherwise, and its result averages the two networks as the cpu preset says
    for row in (smoothed, table[PLAIN], table["U-Net (PN2V, bootstrapped GMM)"]):
        assert "started from the Noise2Void network" in row
        assert "averaged with the bootstrap's N2V network, share 0.5" in row
    assert "started from" not in table[SCRATCH] and "started from" not in table["U-Net (PN2V)"]
    assert "averaged with" not in table[SCRATCH] + table["U-Net (PN2V)"]
    assert "same network" in table[ALONE] and "`n2v_share=0`" in table[ALONE]
    assert smoothed.split("|")[8] != table[ALONE].split("|")[8]  # two results, per capture
    # the same bootstrapped network, denoising in 4 rotations, its own seconds a frame
    assert "same network" in table[ROT4] and "`orientations=4`" in table[ROT4]
    assert float(table[ROT4].split("|")[6]) > 0
    assert "supervised on the other field of view's pair" in table["U-Net (trad.)"]
    assert "| 38.38 |" in table["U-Net (trad.)"]  # the paper's figure beside it
    stored = sorted(p.name for p in (tmp_path / "fmd_results").iterdir())
    assert stored == ["Confocal_MICE.json", "Confocal_MICE.npz"]
    # a later run of another type adds its section and keeps this one
    command = [sys.executable, "benchmarks/fmd.py", "--types", "TwoPhoton_MICE", "--in-process"]
    command += ["--out", str(tmp_path), "--methods", "input", "trad"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    merged = (tmp_path / "fmd_results.md").read_text(encoding="utf-8")
    assert merged.index("## Confocal_MICE") < merged.index("## TwoPhoton_MICE")
    two_photon = merged[merged.index("## TwoPhoton_MICE") :]
    trad = next(line for line in two_photon.splitlines() if line.startswith("| U-Net (trad.)"))
    assert trad.split("|")[2].strip() == "-" and "no noisy/clean pair" in trad
    assert table["U-Net (PN2V, bootstrapped GMM)"] in merged
    # --update reruns some rows of a type and keeps the others, noting where they come from
    command = [sys.executable, "benchmarks/fmd.py", "--types", "Confocal_MICE", "--in-process"]
    command += ["--out", str(tmp_path), "--methods", "input", "--update"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    updated = (tmp_path / "fmd_results.md").read_text(encoding="utf-8")
    section = updated[updated.index("## Confocal_MICE") : updated.index("## TwoPhoton_MICE")]
    lines = [line for line in section.splitlines() if line.startswith(("| Input", "| U-Net"))]
    assert sorted(line.split("|")[1].strip() for line in lines) == sorted(table), section
    # every row but Input is kept; the rerun's "not run" trad. row does not replace the real one
    kept = [line for line in lines if "from the run of" in line]
    assert len(kept) == len(table) - 1 and not lines[0].count("from the run of")
    assert "not run" not in section
    assert "--update" in section and "rows noted" in section and "--steps 3" in section
    labels = json.loads((tmp_path / "fmd_results" / "Confocal_MICE.json").read_text())
    assert [label.split()[0] for label in labels["panel_labels"]] == [
        "noisy",
        "N2V",
        "PN2V",
        "bootstrapped",
        "ground",
    ]


@pytest.mark.skipif(not DATA.is_dir(), reason="needs the shared FMD data")
def test_fmd_benchmark_keeps_the_networks_it_scored(tmp_path: Path) -> None:
    from pn2v_engine import load_project, psnr, read_image, run_predict

    kept = tmp_path / "projects"
    command = [sys.executable, "benchmarks/fmd.py", "--types", "Confocal_MICE", "--steps", "3"]
    command += ["--in-process", "--out", str(tmp_path), "--methods", "input", "n2v", "pn2v"]
    command += ["--keep-projects", str(kept), "--set", *TINY]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in kept.iterdir()) == [
        "Confocal_MICE_n2v.pn2v",
        "Confocal_MICE_pn2v.pn2v",
    ]
    report = (tmp_path / "fmd_results.md").read_text(encoding="utf-8")
    gt = read_image(DATA / "gt" / "Confocal_MICE_1.png").data[0]
    noisy = read_image(DATA / "raw" / "Confocal_MICE_1.png").data[0]
    for job, label in (("n2v", "U-Net (N2V)"), ("pn2v", "U-Net (PN2V)")):
        project = load_project(kept / f"Confocal_MICE_{job}.pn2v")
        assert project.settings.mode == job and project.settings.network.features == 8
        assert (project.noise_model is None) == (job == "n2v")
        row = next(line for line in report.splitlines() if line.startswith(f"| {label} |"))
        first_capture = float(row.split("|")[8].split("/")[0])
        prediction = run_predict(project.denoiser("cpu"), noisy).mmse
        assert psnr(gt, prediction, data_range=255.0) == pytest.approx(first_capture, abs=0.006)
    # a later run reuses the kept N2V network, and changes only the PN2V network's settings
    n2v_row = next(line for line in report.splitlines() if line.startswith("| U-Net (N2V) |"))
    again = tmp_path / "again"
    command = [sys.executable, "benchmarks/fmd.py", "--types", "Confocal_MICE", "--steps", "3"]
    command += ["--in-process", "--out", str(again), "--methods", "n2v", "pn2v_warm"]
    command += ["--reuse-n2v", str(kept), "--keep-projects", str(again), "--set", *TINY]
    command += ["--pn2v-set", "training.learning_rate=0.0005"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rerun = (again / "fmd_results.md").read_text(encoding="utf-8")
    reused = next(line for line in rerun.splitlines() if line.startswith("| U-Net (N2V) |"))
    same = [2, 3, 5, 8]  # PSNR, paper, steps, per capture (not the seconds and memory)
    assert [reused.split("|")[i] for i in same] == [n2v_row.split("|")[i] for i in same]
    assert f"reused {kept / 'Confocal_MICE_n2v.pn2v'}" in reused
    warm = load_project(again / "Confocal_MICE_pn2v_warm.pn2v")
    assert warm.training.settings.training.learning_rate == 0.0005
    # the calibrated model, started from the N2V network as bootstrapped PN2V starts
    assert warm.training.started_from is not None
    assert "bootstrap" not in warm.noise_model.metadata
    row = "| U-Net (PN2V, started from the N2V row's network) |"
    assert "started from the Noise2Void network" in next(
        line for line in rerun.splitlines() if line.startswith(row)
    )
    # ... but not one trained with other settings
    command[command.index("training.batch_size=2")] = "training.batch_size=4"
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    refused = (again / "fmd_results.md").read_text(encoding="utf-8")
    assert "was not trained with this run's N2V settings" in refused


@pytest.mark.skipif(not DATA.is_dir(), reason="needs the shared FMD data")
def test_calibration_fraction_benchmark_scores_each_fraction(tmp_path: Path) -> None:
    command = [sys.executable, "benchmarks/calibration_fraction.py", "--steps", "3"]
    command += ["--fractions", "1", "0.0001", "--in-process", "--out", str(tmp_path)]
    command += ["--set", *TINY]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (tmp_path / "calibration_fraction.md").read_text(encoding="utf-8")
    rows = [line.split("|") for line in report.splitlines() if line.startswith("| 100 %")]
    rows += [line.split("|") for line in report.splitlines() if line.startswith("| 0.01 %")]
    assert [row[2].strip() for row in rows] == ["smoothed", "measured"] * 2, report
    assert rows[0][3].strip() == "262144 pairs"
    assert rows[2][3].strip() == "26 pairs, too few to smooth: as measured"
    for row in rows:
        assert 15 < float(row[4]) < 45
    assert (tmp_path / "calibration_fraction.png").stat().st_size > 5_000


@pytest.mark.skipif(not DATA.is_dir(), reason="needs the shared FMD data")
def test_prediction_variants_scores_a_trained_project(tmp_path: Path) -> None:
    from pn2v_engine import (
        Project,
        histogram_from_pairs,
        preset,
        read_image,
        run_train,
        save_project,
    )

    other = DATA.parent / "fmd_confocal_other_fov"
    clean = read_image(other / "gt" / "mice.tif").data[0]
    noisy = read_image(other / "raw" / "mice.tif").data[0]
    model = histogram_from_pairs([clean], [noisy])
    frames = [read_image(DATA / "raw" / f"Confocal_MICE_{k}.png").data[0] for k in (1, 2)]
    settings = preset("cpu").with_changes(
        **{
            "network.depth": 2,
            "network.features": 8,
            "network.n_samples": 16,
            "training.patch_size": 32,
            "training.batch_size": 2,
            "training.epochs": 1,
            "training.steps_per_epoch": 3,
            "training.val_patches": 2,
        }
    )
    result = run_train(frames, model, settings, device="cpu")
    # as a bootstrapped model would, the model keeps a Noise2Void network
    from pn2v_engine import Denoiser
    from pn2v_engine.bootstrap import n2v_settings, source_network

    n2v = run_train(frames, None, n2v_settings(settings), device="cpu")
    model.source_network = source_network(n2v)
    project = save_project(
        Project(settings=result.settings, noise_model=model, training=result),
        tmp_path / "tiny.pn2v",
    )
    command = [sys.executable, "benchmarks/prediction_variants.py", str(project)]
    command += ["--captures", "1", "--alphas", "0.8", "--blends", "0.6"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {
        line.split("|")[1].strip(): float(line.split("|")[2])
        for line in done.stdout.splitlines()
        if line.startswith(("| MMSE", "| prior", "| the bootstrap's", "| 0.6 MMSE"))
    }
    assert len(rows) == 13, done.stdout
    assert all(15 < value < 45 for value in rows.values())
    # the engine's own prediction and this script's MMSE agree
    from pn2v_engine import load_project, psnr, run_predict

    gt = read_image(DATA / "gt" / "Confocal_MICE_1.png").data[0]
    alone = load_project(project).denoiser("cpu", n2v_share=0.0)
    engine = run_predict(alone, frames[0]).mmse
    assert (
        abs(psnr(gt, engine, data_range=255.0) - rows["MMSE (the engine's with n2v_share 0)"])
        < 0.01
    )
    rotated = run_predict(alone, frames[0], orientations=4).mmse
    assert abs(psnr(gt, rotated, data_range=255.0) - rows["MMSE, averaged over 4 rotations"]) < 0.01
    denoiser = Denoiser(n2v.settings, n2v.best_weights, n2v.normalisation, None, "cpu")
    engine_n2v = run_predict(denoiser, frames[0]).mmse
    n2v_psnr = psnr(gt, engine_n2v, data_range=255.0)
    assert abs(n2v_psnr - rows["the bootstrap's N2V network"]) < 0.01
    blend = psnr(gt, 0.6 * engine + 0.4 * engine_n2v, data_range=255.0)
    assert abs(blend - rows["0.6 MMSE + 0.4 N2V"]) < 0.01
    # which the engine gives with n2v_share 0.4
    shared = run_predict(load_project(project).denoiser("cpu", n2v_share=0.4), frames[0]).mmse
    assert psnr(gt, shared, data_range=255.0) == pytest.approx(blend, abs=0.01)
    # the same project, its noise model swapped at prediction for thinner calibrations
    command = [sys.executable, "benchmarks/calibration_fraction.py", "--predict-with"]
    command += [str(project), "--fractions", "1", "0.01", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (tmp_path / "calibration_fraction.md").read_text(encoding="utf-8")
    assert "each model used at prediction" in report
    scored = [line for line in report.splitlines() if line.startswith(("| 100 %", "| 1 %"))]
    assert len(scored) == 4 and all(15 < float(r.split("|")[4]) < 45 for r in scored)


def test_brightness_notes_give_each_captures_line_and_the_best_score_it_allows() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fmd

    truth = np.random.default_rng(0).uniform(0, 200, (64, 64))
    captures = np.stack([truth, 1.1 * truth - 2.0, truth + 5.0])
    lines, bounds = fmd.brightness_notes(captures, truth)
    assert lines == "captures read 1.000 gt +0.00 / 1.100 gt -2.00 / 1.000 gt +5.00"
    error = np.mean((0.1 * truth - 2.0) ** 2)
    expected = 10 * np.log10(255**2 / error)
    prefix = "the truth at each capture's brightness scores "
    assert bounds.startswith(prefix)
    exact, scaled, offset = (float(v) for v in bounds.removeprefix(prefix).split(" / "))
    assert exact > 100 and scaled == round(expected, 2) and offset == 34.15


def test_a_report_names_only_the_earlier_runs_its_rows_come_from() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fmd

    runs = "`fmd.py --methods n2v` (2026-12-01 10:00); `fmd.py --steps 9` (2026-12-02 11:00)"
    table = "| A | B |\n|---|---|\n| N2V | 30.1 | from the run of 2026-12-02 11:00; reused |"
    assert fmd.cited_runs(runs, table) == "`fmd.py --steps 9` (2026-12-02 11:00)"
    assert fmd.cited_runs(runs, table.replace("12-02", "12-03")) == ""


@pytest.mark.skipif(not DATA.is_dir(), reason="needs the shared FMD data")
def test_bm3d_fits_the_pair_on_the_noisy_scale_as_calibration_does() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fmd

    from pn2v_engine import run_calibrate_pairs

    for fmd_type, mapped in (("Confocal_FISH", True), ("Confocal_MICE", False)):
        noisy, _, pair = fmd.load_type(fmd_type, fmd.DATA, fmd.CALIBRATION)
        assert pair is not None
        task = fmd.Task(
            fmd_type, noisy, pair, {}, steps=None, prior_strength=10, minutes=0, warmup_steps=0
        )
        clean, _, note = fmd.scaled_calibration_pair(task)
        line = run_calibrate_pairs(*pair, smooth=False).summary.intensity_line
        assert line is not None and line["applied"] is mapped
        assert bool(note) is mapped
        expected = line["offset"] + line["gain"] * pair[0] if mapped else pair[0]
        np.testing.assert_allclose(clean, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not DATA.is_dir(), reason="needs the shared FMD data")
def test_bootstrap_diagnostics_print_their_tables() -> None:
    command = [sys.executable, "benchmarks/bootstrap_diagnostics.py", "--types", "Confocal_MICE"]
    command += ["--steps", "3", "--crop", "128", "--set", *TINY]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    levels = [line for line in lines if re.match(r"\| \d+\.\d \| ", line)]
    assert len(levels) == 12
    for line in levels:
        pairs, noise, error, measured, ratio, _, applied = (float(v) for v in line.split("|")[2:9])
        assert pairs > 0 and noise > 0 and error >= 0
        assert ratio == pytest.approx(pairs / noise, rel=0.05)
        assert 0.7 <= applied <= 1.0
        assert measured == pytest.approx((1 - applied) * pairs, abs=0.06 + 0.001 * pairs)
    models = [line.split("|")[1].strip() for line in lines if line.startswith("| bootstrapped")]
    assert models == ["bootstrapped, pairs as measured", "bootstrapped, deflated (the default)"]
    calibrated = next(line for line in lines if line.startswith("| calibrated"))
    assert -10 < float(calibrated.split("|")[2]) < 0
    alphas = [line.split("|")[1:5] for line in lines if re.match(r"\| [\d,]+ \||\| mixture", line)]
    # 1 to 100,000 pseudo-counts, the engine's floor (1, 3.16 and 10 times it) and the
    # mixture alone
    assert len(alphas) == 15
    for _, pairs_ll, true_ll, _ in alphas:
        assert -10 < float(pairs_ll) < 0 and -10 < float(true_ll) < 0
    marks = [(a.strip(), m) for a, _, _, m in alphas]
    whole_grid = {f"{10 ** (k / 2):,.0f}" for k in range(11)}
    engine = [a for a, m in marks if "engine's choice" in m]
    assert len(engine) == 1 and (engine[0] == "mixture alone" or engine[0] not in whole_grid)
    assert sum("whole grid's choice" in m for _, m in marks) == 1
    assert sum("best for the true pairs" in m for _, m in marks) == 1
