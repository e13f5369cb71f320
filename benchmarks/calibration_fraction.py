"""Noise-model quality (paper section 5.4, Figure 4): PSNR against the share of calibration pairs.

Histogram noise models are built from 100 %, 10 %, 1 % and 0.001 % of the (clean,
noisy) pairs of the other-FOV confocal calibration image (pixels drawn at random,
seeded); PN2V is trained with each on the FMD FOV-19 captures (as ``fmd.py``) and
scored against the ground truth. N2V and the input are the reference lines.

    python benchmarks/calibration_fraction.py
    python benchmarks/calibration_fraction.py --steps 1000 --fractions 1 0.01 0.0001
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from common import log_x_plot, machine_info, markdown_table, parse_changes, run_isolated
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

FRACTIONS = (1.0, 0.1, 0.01, 0.00001)


def subsample(
    clean: np.ndarray, noisy: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``fraction`` of the pairs (at least one), drawn without replacement."""
    count = max(1, round(fraction * clean.size))
    chosen = np.random.default_rng(seed).choice(clean.size, size=count, replace=False)
    return clean.ravel()[chosen], noisy.ravel()[chosen]


def method_fraction(task: Task, fraction: float, seed: int) -> Outcome:
    """PN2V with a histogram of ``fraction`` of the calibration pairs."""
    from pn2v_engine import histogram_from_pairs

    assert task.calibration is not None
    full_clean, full_noisy = task.calibration
    clean, noisy = subsample(full_clean, full_noisy, fraction, seed)
    # the full pair's range for every share, so thin shares differ only in their counts
    value_range = (
        float(min(full_clean.min(), full_noisy.min())),
        float(max(full_clean.max(), full_noisy.max())),
    )
    model = histogram_from_pairs(
        [clean], [noisy], value_range=value_range, prior_strength=task.prior_strength
    )
    images, outcome = train_and_denoise(task, network_settings(task, "pn2v"), model)
    outcome.predictions = images["mmse"]
    outcome.notes.insert(0, f"{clean.size} pairs")
    return outcome


def plot(
    path: Path, fractions: list[float], pn2v: list[float], n2v: float, noisy: float, title: str
) -> None:
    """PSNR against the share of pairs (log axis), with the N2V and input lines."""
    log_x_plot(
        [("PN2V (histogram)", [100 * f for f in fractions], pn2v, (31, 119, 180))],
        [("N2V", n2v, (255, 127, 14)), ("input", noisy, (120, 120, 120))],
        "calibration pairs used (%)",
        "PSNR (dB)",
        title,
    ).save(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--type", default="Confocal_MICE", help="a confocal FMD type")
    parser.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per network")
    parser.add_argument("--steps", type=int, default=None, help="steps per network instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--in-process", action="store_true", help="do not spawn per network")
    args = parser.parse_args(argv)
    from pn2v_engine import preset
    from pn2v_engine.noise_models.histogram import DEFAULT_PRIOR_STRENGTH

    settings = preset(args.preset).with_changes(
        **{"training.seed": args.seed, **parse_changes(args.set)}
    )
    noisy, gt, pair = load_type(args.type, DATA, CALIBRATION)
    if pair is None:
        parser.error(f"{args.type} has no calibration pair; choose a confocal type")
    task = Task(
        name=args.type,
        noisy=noisy,
        calibration=pair,
        settings=settings.model_dump(),
        minutes=args.minutes,
        steps=args.steps,
        warmup_steps=10,
        prior_strength=DEFAULT_PRIOR_STRENGTH,
        bm3d_profile="np",
        device="cpu",
        weights="best",
    )
    command = "python benchmarks/calibration_fraction.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    print(command, flush=True)
    isolate = not args.in_process
    reference = {
        "input": run_isolated(method_input, task, isolate=False)["input"],
        "n2v": run_isolated(method_n2v, task, isolate=isolate)["n2v"],
    }
    means = {key: float(np.mean(score(gt, o.predictions))) for key, o in reference.items()}
    rows, pn2v = [], []
    for fraction in args.fractions:
        started = time.perf_counter()
        outcome = run_isolated(method_fraction, task, fraction, args.seed, isolate=isolate)
        values = score(gt, outcome.predictions)
        pn2v.append(float(np.mean(values)))
        print(f"{fraction:g}: {pn2v[-1]:.2f} dB in {time.perf_counter() - started:.0f} s")
        rows.append(
            [
                f"{100 * fraction:g} %",
                outcome.notes[0],
                f"{pn2v[-1]:.2f}",
                f"{pn2v[-1] - means['n2v']:+.2f}",
                f"{outcome.train_s:.0f}",
                " / ".join(f"{v:.2f}" for v in values),
            ]
        )
    table = markdown_table(
        ["Calibration pairs", "Pairs", "PN2V PSNR (dB)", "vs N2V", "Train s", "Per capture"],
        rows,
    )
    budget = f"{args.steps} steps" if args.steps else f"{args.minutes:g} min"
    info = machine_info()
    text = [
        "# Noise-model quality: PSNR against the share of calibration pairs",
        "",
        f"Command: `{command}`",
        "",
        markdown_table(["", ""], [[k, v] for k, v in info.items()]),
        "",
        f"{args.type}, FMD FOV 19, mean of the four captures; histogram models from a random "
        f"share of the {pair[0].size} pairs of the other field of view's calibration image "
        f"(prior strength {DEFAULT_PRIOR_STRENGTH:g}); training budget {budget} per network. "
        f"N2V: {means['n2v']:.2f} dB, input: {means['input']:.2f} dB.",
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
        pn2v,
        means["n2v"],
        means["input"],
        f"{args.type}: PN2V with thinner calibration ({budget} per network)",
    )
    print("\n" + table)
    print(f"wrote {args.out / 'calibration_fraction.md'}")
    return 0 if all(math.isfinite(v) for v in pn2v) else 1


if __name__ == "__main__":
    sys.exit(main())
