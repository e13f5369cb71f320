"""The ``pn2v`` command line, over the same API as the app.

Exit codes: 0 success; 1 a problem with the input, settings or files (the
message says what to do), or some files of a batch failed; 2 wrong usage;
3 out of memory; 130 stopped by Ctrl-C (training keeps its weights).
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from . import __version__
from .config import ORIENTATIONS
from .errors import PN2VError
from .progress import Cancelled, CancelToken

if TYPE_CHECKING:
    import numpy as np

EXIT_FAILED = 1
EXIT_CANCELLED = 130
log = logging.getLogger("pn2v")


def _say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


@contextmanager
def _interrupt_cancels() -> Iterator[CancelToken]:
    """Ctrl-C sets a cancel token (a second Ctrl-C interrupts at once)."""
    token = CancelToken()

    def handler(signum: int, frame: object) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        sys.stderr.write("\nStopping after the current step (Ctrl-C again to abort)...\n")
        token.cancel()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def _bar(total: float, description: str) -> tqdm:
    return tqdm(
        total=total,
        desc=description,
        unit="",
        leave=True,
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
        dynamic_ncols=True,
    )


# -- commands ------------------------------------------------------------------------


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibration import iter_calibrate, iter_calibrate_pairs
    from .io import read_image

    value_range = tuple(args.range) if args.range else None
    options = {
        "bins": args.bins,
        "value_range": value_range,
        "prior_strength": args.prior_strength,
        "smooth": args.smooth,
    }
    with _interrupt_cancels() as token:
        if args.signal:
            observations = [read_image(p).data for p in args.inputs]
            generator = iter_calibrate_pairs(
                _clean_image(args.signal),
                observations,
                match_intensity=args.match_intensity,
                cancel=token,
                **options,
            )
        else:
            generator = iter_calibrate(args.inputs, cancel=token, **options)
        result = _drive_stages(generator)
    path = result.noise_model.save(args.output)
    s = result.summary
    _say(f"Calibrated from {s.frames} frames of {s.shape[1]}x{s.shape[0]} pixels ({s.dtype}).")
    _say(
        f"Signal range {s.signal_range[0]:g} to {s.signal_range[1]:g}; "
        f"{s.saturated_pixels} saturated pixels."
    )
    if result.measured is not None:
        alpha = result.noise_model.metadata["smoothing"]["pseudo_counts"]
        weight = "alone" if alpha is None else f"weighted as {alpha:.3g} pixels per signal bin"
        _say(
            "The histogram was smoothed where thin by a Gaussian mixture fitted to the same "
            f"pixels ({weight}, chosen by cross-validation)."
        )
    for warning in s.warnings:
        _say(f"warning: {warning}")
    _say(f"Noise model written to {path}")
    return 0


def _drive_stages(generator):  # type: ignore[no-untyped-def]
    bars: dict[str, tqdm] = {}
    try:
        while True:
            report = next(generator)
            bar = bars.get(report.stage)
            if bar is None:
                bar = bars[report.stage] = _bar(report.total, report.stage)
            bar.n = report.done
            bar.refresh()
    except StopIteration as stop:
        return stop.value
    finally:
        for bar in bars.values():
            bar.close()


def cmd_estimate(args: argparse.Namespace) -> int:
    from .io import read_image
    from .noise_models import estimate_poisson_gaussian

    images = [read_image(p).as_float32() for p in _expand(args.inputs)]
    model = estimate_poisson_gaussian(images)
    path = model.save(args.output)
    _say(model.describe())
    _say("A noise model measured from a calibration stack is better; use one when you can.")
    _say(f"Noise model written to {path}")
    return 0


def cmd_fit_gmm(args: argparse.Namespace) -> int:
    import numpy as np

    from .calibration import iter_fit_gmm_calibration
    from .io import read_image
    from .noise_models import iter_fit_gmm

    options = {**_gmm_options(args), "value_range": tuple(args.range) if args.range else None}
    with _interrupt_cancels() as token:
        if args.signal:
            clean = _clean_image(args.signal)
            observations = [read_image(p).data for p in args.inputs]
            for path, array in zip(args.inputs, observations, strict=True):
                if array.shape[-2:] != clean.shape:
                    raise PN2VError(
                        f"{path} is {array.shape[-1]}x{array.shape[-2]} pixels but --signal "
                        f"{args.signal} is {clean.shape[1]}x{clean.shape[0]}.",
                        "Pair the clean image with noisy images of the same size.",
                    )
            stack = np.concatenate([a.reshape(-1, *clean.shape) for a in observations])
            clean, matching = _clean_on_noisy_scale(clean, stack, args.match_intensity)
            generator = iter_fit_gmm(clean, stack, cancel=token, metadata=matching, **options)
        else:
            generator = iter_fit_gmm_calibration(args.inputs, cancel=token, **options)
        model = _drive_stages(generator)
    path = model.save(args.output)
    fit = model.metadata["fit"]
    _say(model.describe())
    _say(
        f"Fitted to {fit['pairs']} pairs in {fit['seconds']:.1f} s; held-out negative "
        f"log-likelihood {fit['held_out_nll'][str(fit['best_step'])]:.4f} "
        f"(step {fit['best_step']} of {fit['steps']})."
    )
    for warning in model.metadata.get("calibration", {}).get("warnings", []):
        _say(f"warning: {warning}")
    _say(f"Noise model written to {path}")
    return 0


def _clean_on_noisy_scale(
    clean: np.ndarray, stack: np.ndarray, match: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    """The clean image mapped onto the noisy stack's scale where needed (as ``pn2v
    calibrate --signal`` maps it), and the metadata that records it."""
    import numpy as np

    from .calibration.matching import match_signal_to_stack, matching_record

    if not match:
        return clean, {}
    on_scale, line, mapped = match_signal_to_stack(clean, stack)
    record, warnings = matching_record(line, mapped)
    if record is None:
        return clean, {}
    calibration = {"intensity_line": record, "warnings": warnings}
    return on_scale.astype(np.float32), {"calibration": calibration}


def _clean_image(path: str):  # type: ignore[no-untyped-def]
    from .io import read_image

    image = read_image(path).as_float32()
    if image.shape[0] != 1:
        raise PN2VError(
            f"--signal {path} holds {image.shape[0]} frames; it must be one clean image.",
            "Average your frames into one image first, or calibrate from the stack.",
        )
    return image[0]


def _gmm_options(args: argparse.Namespace) -> dict[str, int]:
    return {
        "n_components": args.components,
        "degree": args.degree,
        "steps": args.steps,
        "seed": args.seed or 0,
    }


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from .bootstrap import iter_bootstrap_noise_model, n2v_settings
    from .io import read_image
    from .progress import TrainProgress

    files = _expand(args.inputs)
    settings = n2v_settings(_train_settings(args))
    images = [read_image(p).as_float32() for p in files]
    t = settings.training
    _say(
        f"Training Noise2Void ({settings.preset} preset) on {len(files)} file(s): "
        f"{t.epochs} epochs x {t.steps_per_epoch} steps; its prediction is the clean signal."
    )
    options = {
        "histogram": {"bins": args.bins},
        "smoothed": {"bins": args.bins, **_gmm_options(args)},
        "gmm": _gmm_options(args),
    }[args.kind]
    with _interrupt_cancels() as token, _bar(t.epochs * t.steps_per_epoch, "training") as bar:
        generator = iter_bootstrap_noise_model(
            images,
            settings,
            kind=args.kind,
            deflate=args.deflate,
            cancel=token,
            device=args.device,
            **options,
        )
        stages: dict[str, tqdm] = {}
        try:
            while True:
                report = next(generator)
                if isinstance(report, TrainProgress):
                    bar.n = (report.epoch - 1) * report.steps_per_epoch + report.step
                    bar.set_postfix_str(f"epoch {report.epoch}/{report.epochs}")
                    continue
                stage = stages.get(report.stage)
                if stage is None:
                    stage = stages[report.stage] = _bar(report.total, report.stage)
                stage.n = report.done
                stage.refresh()
        except StopIteration as stop:
            model = stop.value
        finally:
            for stage in stages.values():
                stage.close()
    path = model.save(args.output)
    _say(model.describe())
    deflation = model.metadata["bootstrap"].get("deflation")
    if deflation and deflation["applied"]:
        low, high = deflation["variance_factor"]
        _say(
            f"Noise2Void's own error taken out of the pairs: their variance scaled by "
            f"{low:.2f} to {high:.2f}."
        )
    elif deflation:
        _say(f"Pairs kept as they are: {deflation['reason']}")
    _say("A noise model measured from a calibration stack is better; use one when you can.")
    _say(f"Noise model written to {path}")
    return 0


def _expand(inputs: Sequence[str]) -> list[Path]:
    from .io import list_images

    return list_images(inputs)


def _bright_patches_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bright-patches",
        type=float,
        metavar="SHARE",
        help="Share (0-1) of the training patches drawn where the images are bright, the "
        "rest anywhere (default: the preset's).",
    )


def _precision_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        choices=["float32", "bfloat16", "auto"],
        help="Arithmetic of the network's convolutions (default float32): bfloat16 trains "
        "1.3-1.8x faster on a CPU with AVX-512 BF16 or AMX, slower elsewhere; auto: "
        "bfloat16 where the processor computes it natively.",
    )


def _train_settings(args: argparse.Namespace, resume_settings=None):  # type: ignore[no-untyped-def]
    from .config import preset

    settings = resume_settings or preset(args.preset)
    changes = {
        "training.epochs": args.epochs,
        "training.steps_per_epoch": args.steps_per_epoch,
        "training.batch_size": args.batch_size,
        "training.learning_rate": args.learning_rate,
        "training.bright_patches": args.bright_patches,
        "network.precision": args.precision,
        "training.seed": args.seed,
        "training.patch_size": args.patch_size,
    }
    if getattr(args, "no_top_skip", False):
        changes["network.top_skip"] = False
    if args.n2v and resume_settings is None:
        changes["mode"] = "n2v"
        changes["network.n_samples"] = 1
    changes = {k: v for k, v in changes.items() if v is not None}
    return settings.with_changes(**changes) if changes else settings


def cmd_train(args: argparse.Namespace) -> int:
    from .io import read_image
    from .noise_models import load_noise_model
    from .project import DataReference, Project, load_project, save_project
    from .training import iter_train

    output = Path(args.output)
    if output.suffix != ".pn2v":
        output = output.with_name(output.name + ".pn2v")
    files = _expand(args.inputs)
    project = None
    if args.resume:
        project = load_project(output)
        if project.training is None:
            raise PN2VError(f"{output} has no training to resume.", "Train without --resume.")
    elif output.exists() and not args.force:
        raise PN2VError(
            f"{output} already exists.", "Use --resume to continue it, --force to replace it."
        )
    noise_model = load_noise_model(args.noise_model) if args.noise_model else None
    if project is not None and noise_model is None:
        noise_model = project.noise_model
    settings = _train_settings(
        args, project.training.settings if project and project.training else None
    )
    if settings.mode == "pn2v" and noise_model is None:
        raise PN2VError(
            "PN2V needs a noise model (--noise-model NM.npz).",
            "Make one with 'pn2v calibrate' or 'pn2v noise-model fit-gmm' (calibration frames), "
            "'pn2v noise-model bootstrap' (the noisy images alone), or use --n2v.",
        )
    images = [read_image(p).as_float32() for p in files]
    project = project or Project(settings=settings, name=output.stem)
    project.settings, project.noise_model = settings, noise_model
    project.training_images = [DataReference.to_file(p) for p in files]
    t = settings.training
    _say(
        f"Training {settings.mode.upper()} ({settings.preset} preset) on {len(files)} file(s): "
        f"{t.epochs} epochs x {t.steps_per_epoch} steps, batch {t.batch_size}."
    )
    total = t.epochs * t.steps_per_epoch
    with _interrupt_cancels() as token, _bar(total, "training") as bar:
        generator = iter_train(
            images,
            noise_model,
            settings,
            cancel=token,
            resume=project.training,
            device=args.device,
            allow_out_of_range=args.allow_out_of_range,
            warm_start=not args.from_scratch,
        )
        try:
            while True:
                p = next(generator)
                bar.n = (p.epoch - 1) * p.steps_per_epoch + p.step
                val = f"{p.val_loss:.4f}" if p.val_loss is not None else "-"
                bar.set_postfix_str(
                    f"epoch {p.epoch}/{p.epochs} loss {p.train_loss:.4f} "
                    f"val {val} lr {p.learning_rate:.1e} {p.steps_per_s:.2f} it/s"
                )
        except StopIteration as stop:
            result = stop.value
    project.training = result
    path = save_project(project, output)
    if result.started_from and not args.resume:
        _say(f"Started from {result.started_from}.")
    for warning in result.warnings:
        _say(f"warning: {warning}")
    if result.stopped:
        _say(
            f"Stopped after {result.epochs_done} epochs; weights saved to {path}. "
            "Continue with --resume."
        )
        return EXIT_CANCELLED
    _say(f"Best validation loss {result.best_val_loss:.4f}. Project written to {path}")
    return 0


def _share(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


def cmd_denoise(args: argparse.Namespace) -> int:
    from .batch import DenoiseOptions, default_output_dir, plan_jobs, run_denoise_file
    from .project import load_project

    project = load_project(args.project)
    denoiser = project.denoiser(device=args.device, n2v_share=args.n2v_share)
    output_dir = Path(args.output) if args.output else default_output_dir(args.inputs)
    jobs = plan_jobs(args.inputs, output_dir)
    options = DenoiseOptions(
        uncertainty=args.uncertainty,
        prior_mean=args.prior_mean,
        dtype=args.dtype,
        tile_size=args.tile_size,
        orientations=args.orientations,
        allow_out_of_range=args.allow_out_of_range,
    )
    inputs = [job.source for job in jobs]
    failed = 0
    _say(f"Denoising {len(jobs)} file(s) into {output_dir}")
    with _interrupt_cancels() as token:
        for number, job in enumerate(jobs, start=1):
            with _bar(1.0, f"[{number}/{len(jobs)}] {job.source.name}") as bar:

                def show(p, bar=bar):  # type: ignore[no-untyped-def]
                    bar.n = round(p.fraction, 3)
                    bar.refresh()

                try:
                    written = run_denoise_file(
                        denoiser, job, options, on_progress=show, protect=inputs, cancel=token
                    )
                except Cancelled:
                    _say(f"Stopped; {number - 1} of {len(jobs)} files were denoised.")
                    return EXIT_CANCELLED
                except PN2VError as exc:
                    failed += 1
                    _say(
                        f"error: {job.source}: {exc.message}" + (f" {exc.hint}" if exc.hint else "")
                    )
                    continue
            _say("  -> " + ", ".join(str(p) for p in written))
    _say(f"Done: {len(jobs) - failed} denoised, {failed} failed.")
    return EXIT_FAILED if failed else 0


def cmd_info(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if path.suffix == ".npz":
        from .noise_models import load_noise_model

        model = load_noise_model(path)
        _say(model.describe())
        for key, value in model.metadata.items():
            _say(f"  {key}: {value}")
        if model.source_network is not None:
            n = model.source_network.network
            _say(
                f"  keeps its Noise2Void network (depth {n.get('depth')}, "
                f"{n.get('features')} features): PN2V training starts from it, and denoising "
                "averages its prediction in as the project's prediction.n2v_share says"
            )
        return 0
    from .project import load_project

    project = load_project(path)
    s = project.settings
    _say(f"PN2V project {project.name!r} (created {project.created})")
    _say(
        f"  mode {s.mode}, preset {s.preset}; network depth {s.network.depth}, "
        f"{s.network.features} features, K={s.network.n_samples}"
    )
    _say(f"  noise model: {project.noise_model.describe() if project.noise_model else 'none'}")
    if project.training:
        t = project.training
        state = "stopped early" if t.stopped else "finished"
        _say(
            f"  trained {t.epochs_done}/{t.settings.training.epochs} epochs ({state}), "
            f"best validation loss {t.best_val_loss:.4f}"
        )
        if t.started_from:
            _say(f"  started from {t.started_from}")
        share = t.settings.prediction.n2v_share
        if share > 0 and project.noise_model and project.noise_model.source_network:
            _say(f"  denoising averages the bootstrap's Noise2Void network in (share {share:g})")
    else:
        _say("  not trained yet")
    for ref in project.training_images:
        _say(f"  training image: {ref.path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo_run import run_demo

    return run_demo(Path(args.folder), _say, epochs=args.epochs, seed=args.seed)


# -- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pn2v", description="Probabilistic Noise2Void denoising for microscopy images."
    )
    parser.add_argument("--version", action="version", version=f"pn2v {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log details.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "calibrate",
        help="Build a histogram noise model from calibration frames (or clean/noisy pairs).",
    )
    _calibration_arguments(p, "histogram")
    p.add_argument("--bins", type=int, default=256, help="Histogram bins (default 256).")
    p.add_argument(
        "--prior-strength",
        type=float,
        default=10.0,
        help="Pseudo-counts of the Poisson-Gaussian fit added to each histogram row "
        "(0 for the paper's plain histogram; with --no-smooth).",
    )
    p.add_argument(
        "--no-smooth",
        dest="smooth",
        action="store_false",
        help="Keep the histogram as measured instead of smoothing it with a Gaussian mixture "
        "fitted to the same pixels (smoothing is the default: ragged rows make PN2V worse).",
    )
    p.set_defaults(run=cmd_calibrate)

    nm = commands.add_parser(
        "noise-model", help="Other noise models: Gaussian mixtures, and without calibration data."
    )
    nm_commands = nm.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = nm_commands.add_parser(
        "estimate", help="Estimate a Poisson-Gaussian model from the noisy images themselves."
    )
    p.add_argument("inputs", nargs="+", help="Noisy images or folders.")
    p.add_argument("-o", "--output", required=True, help="Noise model file (.npz).")
    p.set_defaults(run=cmd_estimate)

    p = nm_commands.add_parser(
        "fit-gmm",
        help="Fit a Gaussian-mixture model to calibration frames (or clean/noisy pairs).",
    )
    _calibration_arguments(p, "model")
    _gmm_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_fit_gmm)

    p = nm_commands.add_parser(
        "bootstrap",
        help="Train Noise2Void on the noisy images and model the noise around its prediction.",
    )
    p.add_argument("inputs", nargs="+", help="Noisy images or folders.")
    p.add_argument("-o", "--output", required=True, help="Noise model file (.npz).")
    p.add_argument(
        "--kind",
        choices=["smoothed", "gmm", "histogram"],
        default="smoothed",
        help="smoothed (default): the 2-D histogram smoothed by a Gaussian mixture, as "
        "'pn2v calibrate' makes; gmm: the mixture itself (slower to train with); "
        "histogram: the paper's 2-D histogram as measured.",
    )
    p.add_argument(
        "--bins", type=int, default=256, help="Histogram bins (--kind smoothed or histogram)."
    )
    p.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="Keep the pairs' spread as measured, Noise2Void's own error included (by "
        "default its error, measured by noising its prediction again and predicting that, "
        "is taken out).",
    )
    _gmm_arguments(p)
    p.add_argument(
        "--preset",
        default="cpu",
        choices=["cpu", "paper"],
        help="Training settings of the Noise2Void run (default cpu).",
    )
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    _bright_patches_argument(p)
    _precision_argument(p)
    p.add_argument("--seed", type=int, help="Seeds the training and the fit.")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps.")
    p.set_defaults(run=cmd_bootstrap, n2v=True)

    p = commands.add_parser("train", help="Train PN2V on noisy images into a project file.")
    p.add_argument("inputs", nargs="+", help="Noisy images or folders.")
    p.add_argument("--noise-model", help="Noise model (.npz) from calibrate or noise-model.")
    p.add_argument("-o", "--output", required=True, help="Project file (.pn2v).")
    p.add_argument(
        "--preset",
        default="cpu",
        choices=["cpu", "paper"],
        help="cpu: minutes on a laptop; paper: the paper's settings (for a GPU).",
    )
    p.add_argument("--epochs", type=int, help="Total epochs (with --resume: train up to this).")
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    _bright_patches_argument(p)
    _precision_argument(p)
    p.add_argument(
        "--no-top-skip",
        action="store_true",
        help="The U-Net without its first level's skip connection, as N2V2: plain "
        'Noise2Void (--n2v) 0.2-0.5 dB better on FMD (README, "The U-Net without its top '
        'skip").',
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--n2v", action="store_true", help="Train plain Noise2Void (no noise model).")
    p.add_argument("--resume", action="store_true", help="Continue the training in OUTPUT.")
    p.add_argument("--force", action="store_true", help="Replace an existing OUTPUT.")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps.")
    p.add_argument(
        "--allow-out-of-range",
        action="store_true",
        help="Train even if many pixels lie outside the noise model's range.",
    )
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="Start from random weights, not from a bootstrapped noise model's Noise2Void "
        "network (the default when the noise model has one of the same size).",
    )
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("denoise", help="Denoise files and folders with a trained project.")
    p.add_argument("project", help="Trained project file (.pn2v).")
    p.add_argument("inputs", nargs="+", help="Images or folders (searched recursively).")
    p.add_argument(
        "-o", "--output", help="Output folder (default: a new folder beside the first input)."
    )
    p.add_argument(
        "--uncertainty", action="store_true", help="Also write the posterior standard deviation."
    )
    p.add_argument("--prior-mean", action="store_true", help="Also write the prior mean.")
    p.add_argument(
        "--dtype",
        choices=["float32", "input"],
        default="float32",
        help="float32 (default), or the input's type (rounded and clipped).",
    )
    p.add_argument("--tile-size", type=int, help="Tile side in pixels (smaller uses less memory).")
    p.add_argument(
        "--orientations",
        type=int,
        choices=sorted(ORIENTATIONS),
        default=1,
        help="Average the results of the image turned (and mirrored) this many ways: a little "
        "less noise (4: +0.04-0.07 dB on FMD) for that many times the time (default 1).",
    )
    p.add_argument(
        "--n2v-share",
        type=_share,
        help="With a bootstrapped noise model: the share of its Noise2Void network's "
        "prediction in the result, PN2V's MMSE the rest (default: the project's, 0.5 in the "
        "cpu preset; 0: PN2V alone).",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps.")
    p.add_argument(
        "--allow-out-of-range",
        action="store_true",
        help="Denoise even if many pixels lie outside the noise model's range.",
    )
    p.set_defaults(run=cmd_denoise)

    p = commands.add_parser("info", help="Describe a project (.pn2v) or noise model (.npz).")
    p.add_argument("file")
    p.set_defaults(run=cmd_info)

    p = commands.add_parser("demo", help="Run the whole flow on a simulated microscope.")
    p.add_argument(
        "--folder",
        default="pn2v-demo",
        help="Where to write the demo data and results (default ./pn2v-demo).",
    )
    p.add_argument("--epochs", type=int, default=8, help="Training epochs (default 8).")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_demo)
    return parser


def _calibration_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """Calibration inputs (frames, or noisy images with --signal), output and range."""
    p.add_argument(
        "inputs", nargs="+", help="Calibration stack(s) or frames; with --signal, the noisy images."
    )
    p.add_argument("-o", "--output", required=True, help="Noise model file (.npz).")
    p.add_argument("--signal", help="A clean image paired with the noisy INPUTS.")
    p.add_argument(
        "--keep-clean-scale",
        dest="match_intensity",
        action="store_false",
        help="With --signal: use the clean image as it is, even where the noisy images' mean "
        "is off its scale (by default it is mapped onto their scale, with a warning).",
    )
    p.add_argument(
        "--range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help=f"Intensity range of the {what} (default: that of the data).",
    )


def _gmm_arguments(p: argparse.ArgumentParser) -> None:
    """The Gaussian mixture's options (see pn2v_engine.noise_models.gmm_fit)."""
    p.add_argument("--components", type=int, default=3, help="Gaussians (default 3).")
    p.add_argument(
        "--degree", type=int, default=2, help="Polynomial degree in the signal (default 2)."
    )
    p.add_argument("--steps", type=int, default=400, help="Mixture fitting steps (default 400).")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s"
    )
    try:
        return args.run(args)
    except PN2VError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"  {exc.hint}\n")
        return exc.exit_code
    except Cancelled:
        sys.stderr.write("Stopped.\n")
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
