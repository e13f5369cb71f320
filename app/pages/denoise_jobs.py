"""What the Denoise page runs in workers, and which files its queue takes.

Qt-free: the batch job body (:func:`iter_denoise_batch`) with the small frozen
events it reports per row, PSNR scoring against a known ground truth, reading a
result beside its input for the viewer, and the expansion of dropped or chosen
paths into queue items (:func:`queue_items`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The endings of the result files' stems; the same strings as the ``SUFFIX_*``
#: constants of ``pn2v_engine/batch.py`` (not public), whose names are
#: ``<stem>[_<n>]<suffix>.tif``.
RESULT_SUFFIXES = ("_pn2v", "_pn2v_uncertainty", "_pn2v_prior_mean")


@dataclass(frozen=True)
class RowStarted:
    row: int


@dataclass(frozen=True)
class RowProgress:
    row: int
    fraction: float


@dataclass(frozen=True)
class RowDone:
    """``shape`` is (frames, Y, X); the PSNRs are ``None`` without a ground truth."""

    row: int
    paths: tuple[Path, ...]
    shape: tuple[int, int, int]
    psnr_before: float | None = None
    psnr_after: float | None = None

    @property
    def psnr(self) -> tuple[float, float] | None:
        """(before, after), or ``None`` without a ground truth."""
        if self.psnr_before is None or self.psnr_after is None:
            return None
        return self.psnr_before, self.psnr_after


@dataclass(frozen=True)
class RowFailed:
    row: int
    message: str
    hint: str = ""


@dataclass(frozen=True)
class BatchTask:
    """One row to denoise: its id, where its results go, and its ground truth if known."""

    row: int
    job: Any  # pn2v_engine.DenoiseJob
    ground_truth: Path | None = None


BatchEvent = RowStarted | RowProgress | RowDone | RowFailed


@dataclass
class BatchRun:
    """What the page keeps of one Start: its rows in order, where results go, since when.

    ``missing`` are the rows whose file was gone at Start (they count as failed);
    ``current`` is the row being denoised, if any.
    """

    rows: list[int]
    missing: list[int]
    folder: Path
    started: float = field(default_factory=time.monotonic)
    current: int | None = None

    def done_fraction(self, event: BatchEvent) -> float | None:
        """How much of the batch is done once ``event`` arrived; ``None`` if not its row."""
        if event.row not in self.rows:
            return None
        within = event.fraction if isinstance(event, RowProgress) else 0.0
        if isinstance(event, RowDone | RowFailed):
            within = 1.0
        return (self.rows.index(event.row) + within) / len(self.rows)

    def report(self, done: int, failed: int) -> str:
        """E.g. "Denoised 4 files (1 failed) into /data/in_pn2v in 12 s."."""
        text = f"Denoised {file_count(done)}"
        if failed:
            text += f" ({failed} failed)"
        return text + f" into {self.folder} in {time.monotonic() - self.started:.0f} s."


def file_count(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def iter_denoise_batch(
    make_denoiser: Callable[[], Any],
    tasks: Sequence[BatchTask],
    options: Any,
    *,
    protect: Sequence[Path] = (),
    cancel: Any = None,
) -> Generator[BatchEvent, None, int]:
    """Denoise ``tasks`` in order with one denoiser; return how many files were written.

    A :class:`pn2v_engine.PN2VError` about one file (unreadable, RGB, NaN, outside the
    noise model's range) yields :class:`RowFailed` and the batch goes on. Errors that
    would recur on every file (out of memory, output not writable, disk full) and
    :class:`pn2v_engine.Cancelled` end the batch by propagating.
    """
    from pn2v_engine import OutputError, PN2VError, ResourceError, iter_denoise_file

    denoiser = make_denoiser()
    written = 0
    for task in tasks:
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield RowStarted(task.row)
        reports = iter_denoise_file(denoiser, task.job, options, protect=protect, cancel=cancel)
        try:
            paths, frames = yield from _tagged(task.row, reports)
        except (OutputError, ResourceError):
            raise
        except PN2VError as error:
            yield RowFailed(task.row, error.message, error.hint)
            continue
        written += 1
        before, after = _scores(task, paths[0])
        yield RowDone(task.row, tuple(paths), (frames, *_frame_shape(paths[0])), before, after)
    return written


def _tagged(row: int, reports: Generator[Any, None, Any]) -> Generator[RowProgress, None, Any]:
    """Relay a file's progress as :class:`RowProgress`; return its result and frame count."""
    frames = 1
    while True:
        try:
            report = next(reports)
        except StopIteration as stop:
            return stop.value, frames
        frames = report.frames
        yield RowProgress(row, report.fraction)


def _frame_shape(path: Path) -> tuple[int, int]:
    """(Y, X) of the first frame of ``path``, read without loading the rest of a stack."""
    from pn2v_engine import read_frames

    frame = next(read_frames([path]))
    return int(frame.shape[0]), int(frame.shape[1])


def _scores(task: BatchTask, output: Path) -> tuple[float | None, float | None]:
    """PSNR of the input and of the result against the ground truth, as ``pn2v demo``.

    The data range is that of the ground truth (:func:`pn2v_engine.psnr`'s default).
    """
    if task.ground_truth is None:
        return None, None
    from pn2v_engine import PN2VError, psnr, read_image

    try:
        truth = read_image(task.ground_truth).as_float32()
        noisy = read_image(task.job.source).as_float32()
        denoised = read_image(output).as_float32()
        return psnr(truth, noisy), psnr(truth, denoised)
    except (PN2VError, ValueError) as error:
        log.warning("no PSNR for %s: %s", task.job.source, error)
        return None, None


def denoiser_factory(
    training: Any, noise_model: Any, device: str, n2v_share: float | None = None
) -> Callable[[], Any]:
    """Build the denoiser in the worker (it loads torch and moves weights to the device);
    ``n2v_share`` in place of the settings' (:class:`pn2v_engine.Denoiser`)."""

    def make() -> Any:
        from pn2v_engine import Denoiser

        return Denoiser(
            training.settings,
            training.best_weights,
            training.normalisation,
            noise_model,
            device,
            n2v_share,
        )

    return make


def default_folder(roots: Sequence[Path]) -> Path:
    """A new output folder beside the inputs (see :func:`pn2v_engine.default_output_dir`).

    A batch of several inputs that starts with a file is named after that file's
    folder (``<folder>_pn2v`` beside it) rather than after the file.
    """
    from pn2v_engine import default_output_dir

    if len(roots) > 1 and roots[0].is_file():
        return default_output_dir([roots[0].parent])
    return default_output_dir(list(roots))


def read_pair(source: Path, output: Path) -> tuple[Any, Any]:
    """An input and its result as float32 images, for the before-and-after viewer."""
    from pn2v_engine import read_image

    return read_image(source).as_float32(), read_image(output).as_float32()


# ----------------------------------------------------------------- the queue
def is_pn2v_result(path: Path) -> bool:
    """Whether ``path`` is named like a file PN2V Studio wrote (``cells_pn2v.tif``)."""
    return path.suffix.lower() == ".tif" and path.stem.endswith(RESULT_SUFFIXES)


@dataclass(frozen=True)
class QueueItems:
    """What some dropped or chosen paths add to the queue.

    ``items`` are ``(file, root)`` pairs, ``root`` being the path the file came
    from; ``skipped`` are earlier results found in folders, with their root;
    ``problems`` say why a path gave nothing.
    """

    items: list[tuple[Path, Path]] = field(default_factory=list)
    skipped: list[tuple[Path, Path]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def queue_items(paths: Iterable[Path]) -> QueueItems:
    """The image files named in ``paths`` and found in its folders (recursively).

    A folder may hold results of an earlier batch (for one file, they go into a
    folder beside it: ``data/a_pn2v``); those are skipped so they are not
    denoised again. A result named on its own is taken like any file.
    """
    from pn2v_engine import PN2VError, list_images

    found = QueueItems()
    for path in map(Path, paths):
        try:
            files = list_images([path])
        except PN2VError as error:
            found.problems.append(error.message)
            continue
        folder = path.is_dir()
        for file in files:
            earlier = folder and is_pn2v_result(file)
            (found.skipped if earlier else found.items).append((file, path))
    return found


def skipped_note(skipped: Sequence[tuple[Path, Path]]) -> str:
    """E.g. "Skipped 3 earlier PN2V results in data/a_pn2v." ("" if none)."""
    if not skipped:
        return ""
    folders = list(
        dict.fromkeys(str(file.parent.relative_to(root.parent)) for file, root in skipped)
    )
    where = (
        " and ".join(folders)
        if len(folders) <= 2
        else f"{folders[0]} and {len(folders) - 1} more folders"
    )
    results = "result" if len(skipped) == 1 else "results"
    return (
        f"Skipped {len(skipped)} earlier PN2V {results} in {where}. "
        "Add them with Add files… to denoise them anyway."
    )
