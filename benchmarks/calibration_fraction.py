"""Noise-model quality (paper section 5.4, Figure 4): PSNR against the share of calibration pairs.

Noise models are built from a random share (seeded) of the (clean, noisy) pairs of the
other-FOV confocal calibration image, as ``pn2v calibrate --signal`` builds them: the
histogram smoothed by a Gaussian mixture (``smoothed``, the default) and the histogram as
measured (``measured``, ``--no-smooth``). Every share uses the full pair's value range, so
thin shares differ only in their counts. Scored on the FMD FOV-19 captures against the
ground truth, with N2V and the input as reference lines:

* default: PN2V is trained with each model (as ``fmd.py``), one network per share and kind;
* ``--predict-with PROJECT``: one trained PN2V network, each model swapped in at prediction
  only (minutes instead of hours: isolates how the noise model's own quality matters).

    python benchmarks/calibration_fraction.py
    python benchmarks/calibration_fraction.py --steps 1000 --fractions 1 0.01 0.0001
    python benchmarks/calibration_fraction.py --predict-with mice.pn2v --fractions 1 0.1 0.01
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from common import (
    budget_text,
    log_x_plot,
    machine_info,
    markdown_table,
    parse_changes,
    run_isolated,
)
from fmd import (
    CALIBRATION,
    DATA,
    Outcome,
    Task,
    load_type,
    method_input,
    method_n2v,
    network_settings,
    score,
    train_and_denoise,
)

if TYPE_CHECKING:
    from pn2v_engine import NoiseModel

FRACTIONS = (1.0, 0.1, 0.01, 0.00001)
KINDS = ("smoothed", "measured")


def subsample(
    clean: np.ndarray, noisy: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``fraction`` of the pairs (at least one), drawn without replacement."""
    count = max(1, round(fraction * clean.size))
    chosen = np.random.default_rng(seed).choice(clean.size, size=count, replace=False)
    return clean.ravel()[chosen], noisy.ravel()[chosen]


def fraction_model(task: Task, fraction: float, seed: int, kind: str) -> tuple[NoiseModel, str]:
    """The calibration model of ``fraction`` of the pairs, and a note on it."""
    from pn2v_engine import run_calibrate_pairs

    assert task.calibration is not None
    full_clean, full_noisy = task.calibration
    clean, noisy = subsample(full_clean, full_noisy, fraction, seed)
    value_range = (
        float(min(full_clean.min(), full_noisy.min())),
        float(max(full_clean.max(), full_noisy.max())),
    )
    result = run_calibrate_pairs(
        clean[None],
        noisy[None],
        value_range=value_range,
        prior_strength=task.prior_strength,
        smooth=kind == "smoothed",
        seed=seed,
    )
    note = f"{clean.size} pairs"
    if kind == "smoothed" and result.measured is None:
        note += ", too few to smooth: as measured"
    return result.noise_model, note


def method_fraction(task: Task, fraction: float, seed: int, kind: str) -> Outcome:
    """PN2V trained and denoising with the ``kind`` model of ``fraction`` of the pairs."""
    model, note = fraction_model(task, fraction, seed, kind)
    images, outcome = train_and_denoise(task, network_settings(task, "pn2v"), model)
    outcome.predictions = images["mmse"]
    outcome.notes.insert(0, note)
    return outcome


def predict_fraction(task: Task, project: Path, fraction: float, seed: int, kind: str) -> Outcome:
    """The trained ``project``'s network, denoising with the ``kind`` model of the share."""
    from pn2v_engine import Denoiser, load_project, run_predict

    model, note = fraction_model(task, fraction, seed, kind)
    r = load_project(project).training
    if r is None:
        raise SystemExit(f"{project} holds no trained network")
    denoiser = Denoiser(r.settings, r.best_weights, r.normalisation, model, task.device)
    started = time.perf_counter()
    predictions = np.stack([run_predict(denoiser, frame).mmse for frame in task.noisy])
    seconds = (time.perf_counter() - started) / len(task.noisy)
    return Outcome(predictions, s_per_frame=seconds, notes=[note])


def plot(
    path: Path,
    fractions: list[float],
    psnr: dict[str, list[float]],
    lines: dict[str, float],
    title: str,
) -> None:
    """PSNR against the share of pairs (log axis), one series per kind, reference lines."""
    colours = {"smoothed": (31, 119, 180), "measured": (214, 39, 40)}
    greys = [(255, 127, 14), (120, 120, 120)]
    log_x_plot(
        [
            (f"PN2V, {kind}", [100 * f for f in fractions], values, colours[kind])
            for kind, values in psnr.items()
        ],
        [(label, value, greys[i % 2]) for i, (label, value) in enumerate(lines.items())],
        "calibration pairs used (%)",
        "PSNR (dB)",
        title,
    ).save(path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--type", default="Confocal_MICE", help="a confocal FMD type")
    parser.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument(
        "--minutes",
        type=float,
        default=0.0,
        help="training budget per network, timed by a warm-up (default: the preset's epochs)",
    )
    parser.add_argument("--steps", type=int, default=None, help="steps per network instead")
    parser.add_argument(
        "--predict-with",
        type=Path,
        default=None,
        metavar="PROJECT",
        help="no training: swap each model into this trained PN2V project at prediction",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--in-process", action="store_true", help="do not spawn per network")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from pn2v_engine import preset
    from pn2v_engine.noise_models.histogram import DEFAULT_PRIOR_STRENGTH

    settings = preset(args.preset).with_changes(
        **{"training.seed": args.seed, **parse_changes(args.set)}
    )
    noisy, gt, pair = load_type(args.type, DATA, CALIBRATION)
    if pair is None:
        raise SystemExit(f"{args.type} has no calibration pair; choose a confocal type")
    task = Task(
        name=args.type,
        noisy=noisy,
        calibration=pair,
        settings=settings.model_dump(),
        steps=args.steps,
        prior_strength=DEFAULT_PRIOR_STRENGTH,
        minutes=args.minutes,
    )
    command = "python benchmarks/calibration_fraction.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    print(command, flush=True)
    isolate = not args.in_process
    reference = {"input": run_isolated(method_input, task, isolate=False)["input"]}
    if args.predict_with is None:
        reference["n2v"] = run_isolated(method_n2v, task, isolate=isolate)["n2v"]
    means = {key: float(np.mean(score(gt, o.predictions))) for key, o in reference.items()}
    psnr: dict[str, list[float]] = {kind: [] for kind in args.kinds}
    rows = []
    for fraction in args.fractions:
        for kind in args.kinds:
            started = time.perf_counter()
            if args.predict_with is None:
                outcome = run_isolated(
                    method_fraction, task, fraction, args.seed, kind, isolate=isolate
                )
            else:
                outcome = predict_fraction(task, args.predict_with, fraction, args.seed, kind)
            values = score(gt, outcome.predictions)
            psnr[kind].append(float(np.mean(values)))
            print(f"{fraction:g} {kind}: {psnr[kind][-1]:.2f} dB", flush=True)
            print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
            rows.append(
                [
                    f"{100 * fraction:g} %",
                    kind,
                    outcome.notes[0],
                    f"{psnr[kind][-1]:.2f}",
                    f"{psnr[kind][-1] - means['n2v']:+.2f}" if "n2v" in means else "-",
                    _seconds(outcome.train_s),
                    " / ".join(f"{v:.2f}" for v in values),
                ]
            )
    table = markdown_table(
        ["Share", "Model", "Pairs", "PN2V PSNR (dB)", "vs N2V", "Train s", "Per capture"], rows
    )
    if args.predict_with is None:
        budget = budget_text(args.steps, args.minutes)
        how = f"one PN2V network trained per model, training budget {budget}"
        lines = {"N2V": means["n2v"], "input": means["input"]}
    else:
        budget = "prediction only"
        how = f"one trained network ({args.predict_with.name}), each model used at prediction"
        lines = {"input": means["input"]}
    references = ", ".join(f"{k}: {v:.2f} dB" for k, v in means.items())
    text = [
        "# Noise-model quality: PSNR against the share of calibration pairs",
        "",
        f"Command: `{command}`",
        "",
        markdown_table(["", ""], [[k, v] for k, v in machine_info().items()]),
        "",
        f"{args.type}, FMD FOV 19, mean of the four captures; noise models from a random "
        f"share of the {pair[0].size} pairs of the other field of view's calibration image, "
        f"smoothed (the default) or as measured (prior strength {DEFAULT_PRIOR_STRENGTH:g}); "
        f"{how}. {references}.",
        "",
        table,
        "",
        "![PSNR against calibration pairs](calibration_fraction.png)",
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "calibration_fraction.md").write_text("\n".join(text), encoding="utf-8")
    plot(
        args.out / "calibration_fraction.png",
        args.fractions,
        psnr,
        lines,
        f"{args.type}: PN2V with thinner calibration ({budget})",
    )
    print("\n" + table)
    print(f"wrote {args.out / 'calibration_fraction.md'}")
    return 0 if all(math.isfinite(v) for values in psnr.values() for v in values) else 1


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    sys.exit(main())
