"""Denoising files: where results go, and one file at a time with progress.

Results always go to an output folder of their own: a file never replaces an
input, and by default the folder is new (``<inputs>_pn2v``, numbered if taken).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import OutputError
from .io import list_images, read_image, write_image
from .noise_models import check_noise_model_range
from .prediction import Denoiser, iter_predict
from .progress import CancelToken, PredictProgress, drive

SUFFIX_MMSE = "_pn2v"
SUFFIX_STD = "_pn2v_uncertainty"
SUFFIX_PRIOR = "_pn2v_prior_mean"


@dataclass(frozen=True)
class DenoiseJob:
    """One input file and the paths its results will have."""

    source: Path
    output: Path
    uncertainty: Path
    prior_mean: Path


@dataclass(frozen=True)
class DenoiseOptions:
    uncertainty: bool = False
    prior_mean: bool = False
    dtype: Literal["float32", "input"] = "float32"
    tile_size: int | None = None
    #: 1, 2, 4 or 8 orientations averaged (:func:`~pn2v_engine.prediction.iter_predict`)
    orientations: int = 1
    allow_out_of_range: bool = False


def default_output_dir(inputs: Sequence[str | os.PathLike]) -> Path:
    """A new folder beside the first input: ``<folder or file stem>_pn2v`` (numbered if taken)."""
    first = Path(inputs[0]).resolve()
    base = first.parent / f"{first.stem if first.is_file() else first.name}{SUFFIX_MMSE}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}_{n}")
    return candidate


def plan_jobs(
    inputs: Sequence[str | os.PathLike], output_dir: str | os.PathLike
) -> list[DenoiseJob]:
    """Expand files and folders into jobs; folder structure is kept below ``output_dir``.

    Refuses an output folder that holds any input file directly (results would
    sit beside, or on, the user's files).
    """
    output_dir = Path(output_dir).resolve()
    jobs: list[DenoiseJob] = []
    taken: set[Path] = set()
    for item in inputs:
        root = Path(item).resolve()
        for source in list_images([root]):
            relative = source.relative_to(root).parent if root.is_dir() else Path()
            if source.parent == output_dir:
                raise OutputError(
                    f"The output folder {output_dir} holds the input {source.name}; results "
                    "would be written beside your originals.",
                    "Choose a new, separate output folder.",
                )
            stem = output_dir / relative / source.stem
            output = stem.with_name(stem.name + SUFFIX_MMSE + ".tif")
            n = 1
            while output in taken:
                n += 1
                output = stem.with_name(f"{stem.name}_{n}{SUFFIX_MMSE}.tif")
            taken.add(output)
            base = output.name[: -len(SUFFIX_MMSE + ".tif")]
            jobs.append(
                DenoiseJob(
                    source=source,
                    output=output,
                    uncertainty=output.with_name(base + SUFFIX_STD + ".tif"),
                    prior_mean=output.with_name(base + SUFFIX_PRIOR + ".tif"),
                )
            )
    return jobs


def iter_denoise_file(
    denoiser: Denoiser,
    job: DenoiseJob,
    options: DenoiseOptions = DenoiseOptions(),
    *,
    protect: Sequence[str | os.PathLike] = (),
    cancel: CancelToken | None = None,
) -> Generator[PredictProgress, None, list[Path]]:
    """Read, denoise and write one file; returns the paths written."""
    image = read_image(job.source)
    pixels = image.as_float32()
    if denoiser.noise_model is not None and not options.allow_out_of_range:
        check_noise_model_range([pixels], denoiser.noise_model)
    prediction = yield from iter_predict(
        denoiser,
        pixels,
        prior_mean=options.prior_mean,
        uncertainty=options.uncertainty,
        tile_size=options.tile_size,
        orientations=options.orientations,
        cancel=cancel,
    )
    shape = image.data.shape if image.frames > 1 else image.data.shape[1:]
    outputs = [(job.output, prediction.mmse, options.dtype)]
    if options.uncertainty and prediction.posterior_std is not None:
        outputs.append((job.uncertainty, prediction.posterior_std, "float32"))
    if options.prior_mean and prediction.prior_mean is not None:
        outputs.append((job.prior_mean, prediction.prior_mean, options.dtype))
    protected = [job.source, *protect]
    return [
        write_image(path, values.reshape(shape), image.metadata, dtype, protected)
        for path, values, dtype in outputs
    ]


def run_denoise_file(
    denoiser: Denoiser,
    job: DenoiseJob,
    options: DenoiseOptions = DenoiseOptions(),
    *,
    on_progress: Callable[[PredictProgress], Any] | None = None,
    **kwargs: Any,
) -> list[Path]:
    """Blocking :func:`iter_denoise_file`."""
    return drive(iter_denoise_file(denoiser, job, options, **kwargs), on_progress)
