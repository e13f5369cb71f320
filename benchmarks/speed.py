"""Speed and memory of PN2V training steps and of denoising, measured on this machine.

Usage::

    python benchmarks/speed.py           # the full benchmark (a few minutes on 2 CPU cores)
    python benchmarks/speed.py --quick   # a smoke check: smaller paper batch, fewer repeats

Prints Markdown tables on stdout (progress goes to stderr):

1. Seconds per training step (patch sampling, masking, forward, PN2V loss, backward,
   Adam step) for the ``paper`` and ``cpu`` presets' networks and batches, done three
   ways: (a) the engine's way, the trunk once and the K-sample head only at the masked
   pixels (:meth:`UNet.samples_at`); (b) a lean full output, ``forward()`` giving all K
   samples at every pixel and the loss taken at the masked pixels; (c) the reference
   implementation's way (juglab/pn2v's ``lossFunctionPN2V``, re-expressed with this
   engine's noise model): all K samples at every pixel, the likelihood of every pixel,
   masked afterwards, in its micro-batches of 4 patches. Where (b) would not fit in
   ``--full-output-gib`` it runs as gradient accumulation over micro-batches (the same
   total work), as the table says, and (a) is then timed both as its preset trains and
   in the same micro-batches. Each way's arithmetic (GFLOP in convolutions and matrix
   products) is counted, and set against a large matrix product's rate on this machine:
   the bound on how much faster than (b) any implementation doing (a)'s work could be.
2. Seconds and peak memory to denoise one 512x512 frame (MMSE, Eq. 11) with the
   default tiling and untiled.

Every measurement runs in a fresh subprocess of this script, so that the peak memory
(VmHWM after resetting it through ``/proc/self/clear_refs``, or RSS sampled every
5 ms where that is not available) belongs to that measurement alone and is reported
above the process's idle RSS (after imports, data, noise model and network).
Before each timed repeat the script waits (up to ``--quiet-wait`` seconds) for the
machine's CPUs to be idle, since other work on a small machine skews the timings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from pn2v_engine.config import PRESETS, PredictionConfig, Settings
from pn2v_engine.data import Normalisation, PatchSampler
from pn2v_engine.losses import pn2v_loss
from pn2v_engine.masking import replace_with_neighbours, stratified_pixels
from pn2v_engine.noise_models import HistogramNoiseModel, histogram_from_pairs
from pn2v_engine.prediction import Denoiser, run_predict
from pn2v_engine.training import build_network, passes_per_step

#: Simulated camera: x = GAIN * Poisson(s / GAIN) + N(0, READ_NOISE^2), rounded.
GAIN = 2.0
READ_NOISE = 10.0
FRAME = 512  # side of the simulated frames (training data and the frame to denoise)

#: The issue's targets and the reference implementation's figures.
TRAIN_TARGET_SPEEDUP = 4.0
#: The reference implementation's patches per micro-batch (its batchSize; virtualBatchSize
#: of them make a step).
REFERENCE_MICRO_BATCH = 4
PREDICT_TARGET_S = 4.0
PREDICT_TARGET_MB = 500.0
REFERENCE_PREDICT = "reference: ~21 s, ~2.5 GB tiled, ~11 GB untiled"

MIB = 2**20


# ----------------------------------------------------------------------------- data


def _blobs(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth clean image in camera units (~60 to ~1000): random Gaussian blobs."""
    height, width = shape
    image = np.full(shape, 60.0)
    yy, xx = np.arange(height), np.arange(width)
    for _ in range(60):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        sigma = rng.uniform(4, 40)
        amplitude = rng.uniform(50, 500)
        gy = np.exp(-0.5 * ((yy - cy) / sigma) ** 2)
        gx = np.exp(-0.5 * ((xx - cx) / sigma) ** 2)
        image += amplitude * np.outer(gy, gx)
    return np.minimum(image, 1000.0)


def _noisy(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson-Gaussian noise, rounded to whole grey levels like a camera's."""
    electrons = rng.poisson(clean / GAIN)
    return np.round(GAIN * electrons + rng.normal(0, READ_NOISE, clean.shape)).astype(np.float32)


def noise_model() -> HistogramNoiseModel:
    """A histogram noise model from simulated (clean, noisy) calibration pairs."""
    rng = np.random.default_rng(1)
    clean = [_blobs((FRAME, FRAME), rng) for _ in range(2)]
    signals = [c for c in clean for _ in range(4)]
    observations = [_noisy(s, rng) for s in signals]
    return histogram_from_pairs(signals, observations)


def noisy_frames(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [_noisy(_blobs((FRAME, FRAME), rng), rng) for _ in range(count)]


# --------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mib() -> float:
    kib = _status_kib("VmRSS")
    if kib is None:  # not Linux: the peak so far is the best there is
        return _maxrss_mib()
    return kib / 1024


def _maxrss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


class PeakMemory:
    """Peak RSS of this process from :meth:`start` on.

    Linux: reset the high-water mark (``echo 5 > /proc/self/clear_refs``) and read
    VmHWM. Elsewhere, or if that is refused, sample RSS every 5 ms in a thread.
    """

    def __init__(self) -> None:
        self.method = ""
        self._peak = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
            if _status_kib("VmHWM") is not None:
                self.method = "VmHWM"
                return
        except OSError:
            pass
        self.method = "RSS sampled every 5 ms"
        self._peak = rss_mib()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, rss_mib())

    def peak_mib(self) -> float:
        if self._thread is None:
            kib = _status_kib("VmHWM")
            return kib / 1024 if kib is not None else _maxrss_mib()
        self._stop.set()
        self._thread.join()
        return max(self._peak, rss_mib())


# ------------------------------------------------------------------------- machine


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return values[3] + values[4], sum(values)  # idle + iowait, total


def busy_fraction(interval: float = 0.25) -> float:
    """Share of all CPUs busy over ``interval`` seconds (0 where /proc/stat is missing)."""
    try:
        idle0, total0 = _cpu_times()
        time.sleep(interval)
        idle1, total1 = _cpu_times()
    except OSError:
        return 0.0
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(limit_s: float, threshold: float = 0.1) -> float:
    """Wait until the CPUs are idle (other work skews timings); returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s and busy_fraction() > threshold:
        pass
    return time.monotonic() - start


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# ------------------------------------------------------------------------ children


@dataclass
class Timing:
    seconds: list[float]
    waited_s: float
    other_load: list[float]  # share of the machine's CPU time used by other processes

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _other_load(run: Callable[[], Any]) -> tuple[float, float]:
    """Seconds ``run`` took, and the share of all CPUs that other processes used meanwhile."""
    try:
        idle0, total0 = _cpu_times()
    except OSError:
        idle0 = total0 = None
    own0, start = time.process_time(), time.perf_counter()
    run()
    elapsed, own = time.perf_counter() - start, time.process_time() - own0
    if idle0 is None or total0 is None:
        return elapsed, math.nan
    idle1, total1 = _cpu_times()
    busy_s = ((total1 - total0) - (idle1 - idle0)) / os.sysconf("SC_CLK_TCK")
    return elapsed, max(0.0, busy_s - own) / (elapsed * (os.cpu_count() or 1))


def timed(run: Callable[[], Any], warmup: int, repeats: int, quiet_wait: float) -> Timing:
    for _ in range(warmup):
        run()
    timing = Timing([], 0.0, [])
    for _ in range(repeats):
        timing.waited_s += wait_for_quiet(quiet_wait)
        elapsed, other = _other_load(run)
        timing.seconds.append(elapsed)
        timing.other_load.append(other)
    return timing


def train_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Time training steps of one preset done one way; spec from :func:`train_spec`."""
    settings: Settings = PRESETS[spec["preset"]]
    t, m = settings.training, settings.masking
    batch, accumulate, way = spec["batch"], spec["accumulate"], spec["way"]
    model = noise_model()
    frames = noisy_frames(4, seed=2)
    normalisation = Normalisation.of(frames)
    sampler = PatchSampler(frames, t.patch_size, seed=0)
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    network = build_network(settings).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=t.learning_rate)
    micro = batch // accumulate
    losses: list[float] = []

    def step() -> None:  # as pn2v_engine.training._Trainer.step, the loss done three ways
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(accumulate):
            raw = sampler.sample(micro)
            pixels = stratified_pixels(micro, t.patch_size, t.patch_size, m.fraction, generator)
            inputs = normalisation.apply(replace_with_neighbours(raw, pixels, generator, m.radius))
            if way == "reference":  # every pixel's likelihood, then the masked pixels'
                every = normalisation.invert(network(inputs))
                log_p = model.log_likelihood(raw, every)  # raw (B, 1, H, W) broadcasts
                log_mean = torch.logsumexp(log_p, dim=1) - math.log(every.shape[1])
                loss = -log_mean[pixels.batch, pixels.y, pixels.x].mean()
            else:
                if way == "full":  # all K samples at every pixel, then the masked pixels'
                    samples = network(inputs)[pixels.batch, :, pixels.y, pixels.x]
                else:  # the engine: trunk once, the head only at the masked pixels
                    samples = network.samples_at(inputs, pixels)
                loss = pn2v_loss(normalisation.invert(samples), pixels.values(raw), model)
            (loss / accumulate).backward()
            total += loss.item() / accumulate
        optimizer.step()
        losses.append(total)

    idle = rss_mib()
    peak = PeakMemory()
    peak.start()
    with FlopCounterMode(display=False) as flops:
        step()
    timing = timed(step, spec["warmup"], spec["steps"], spec["quiet_wait"])
    return _measurement(
        timing, idle, peak, first_loss=losses[0], gflop=flops.get_total_flops() / 1e9
    )


def matmul_child(spec: dict[str, Any]) -> dict[str, Any]:
    """GFLOP/s of a large float32 matrix product: what this machine's cores can do."""
    size = spec["size"]
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator) for _ in range(2))
    timing = timed(lambda: a @ b, spec["warmup"], spec["repeats"], spec["quiet_wait"])
    return {"gflop_per_s": 2 * size**3 / timing.median / 1e9, "seconds": timing.seconds}


def predict_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Time denoising one frame; spec from :func:`predict_spec`."""
    settings = PRESETS[spec["preset"]].with_changes(
        **{"prediction.tile_size": spec["tile"], "prediction.pixel_chunk": spec["chunk"]}
    )
    model = noise_model()
    image = noisy_frames(1, seed=3)[0][: spec["size"], : spec["size"]].copy()
    normalisation = Normalisation.of([image])
    torch.manual_seed(0)
    weights = build_network(settings).state_dict()
    denoiser = Denoiser(settings, weights, normalisation, model, device="cpu")
    idle = rss_mib()
    peak = PeakMemory()
    peak.start()
    results: list[np.ndarray] = []
    timing = timed(
        lambda: results.append(run_predict(denoiser, image).mmse),
        spec["warmup"],
        spec["repeats"],
        spec["quiet_wait"],
    )
    return _measurement(timing, idle, peak, finite=bool(np.isfinite(results[-1]).all()))


def _measurement(timing: Timing, idle: float, peak: PeakMemory, **extra: Any) -> dict[str, Any]:
    """One measurement's record: timings, memory above idle, and ``extra`` fields."""
    return {
        "seconds": timing.seconds,
        "median_s": timing.median,
        "waited_s": timing.waited_s,
        "other_load": timing.other_load,
        "idle_mib": idle,
        "peak_above_idle_mib": peak.peak_mib() - idle,
        "memory_method": peak.method,
        **extra,
    }


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh Python process (clean peak memory)."""
    command = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measurement {spec} failed with exit status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------- tables

OTHER_LOAD_NOTE = (
    "'other load': the largest share of the machine's CPU time that other processes used "
    "during a timed repeat (work of others on the same cores inflates the timings)."
)


def _percent(values: list[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    return f"{max(finite):.0%}" if finite else "n/a"


def full_output_accumulation(settings: Settings, batch: int, budget_gib: float) -> int:
    """Fewest micro-batches for which the full output and its gradient fit ``budget_gib``."""
    t = settings.training
    per_patch = 2 * settings.network.n_samples * t.patch_size**2 * 4  # output + its gradient
    for accumulate in range(1, batch + 1):
        if batch % accumulate == 0 and per_patch * batch / accumulate <= budget_gib * 2**30:
            return accumulate
    return batch


def header(args: argparse.Namespace) -> list[str]:
    prediction = PredictionConfig()
    return [
        "# PN2V Studio engine: speed benchmark",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; command: "
        f"`python benchmarks/speed.py{' --quick' if args.quick else ''}`",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores, torch CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}; no GPU used (device cpu)",
        f"- torch {torch.__version__} with {torch.get_num_threads()} threads; numpy "
        f"{np.__version__}; Python {platform.python_version()}",
        f"- Engine defaults: PredictionConfig.tile_size={prediction.tile_size}, "
        f"pixel_chunk={prediction.pixel_chunk}",
        f"- Data: simulated Poisson-Gaussian camera (gain {GAIN:g}, read noise {READ_NOISE:g}); "
        "histogram noise model (256 bins) from simulated clean/noisy pairs",
        f"- Load average at start: {load_average()}; before each timed repeat the script waits "
        f"up to {args.quiet_wait:g} s for idle CPUs",
    ]


def train_table(args: argparse.Namespace) -> list[str]:
    warmup, steps = (1, 1) if args.quick else (1, args.train_steps)
    matmul = run_child(
        {"kind": "matmul", "size": 2048, "warmup": 3, "repeats": 10, "quiet_wait": args.quiet_wait}
    )
    peak_rate = matmul["gflop_per_s"]
    rows = []
    speedups = {}
    for name in args.presets:
        settings = PRESETS[name]
        t, n = settings.training, settings.network
        batch = 16 if args.quick and name == "paper" else t.batch_size
        full_accumulate = full_output_accumulation(settings, batch, args.full_output_gib)
        as_trained = settings.with_changes(**{"training.batch_size": batch})
        engine_passes = passes_per_step(as_trained, torch.device("cpu"))
        ways = [("(a) engine: head at masked pixels", "engine", engine_passes)]
        ways.append(("(b) full output, loss at masked pixels", "full", full_accumulate))
        if full_accumulate != engine_passes and not args.quick:
            ways.append(("(a) engine, same micro-batches as (b)", "engine", full_accumulate))
        reference_accumulate = max(1, batch // REFERENCE_MICRO_BATCH)
        ways.append(
            ("(c) reference: every pixel's likelihood, masked", "reference", reference_accumulate)
        )
        results = {}
        for label, way, accumulate in ways:
            spec = {
                "kind": "train",
                "preset": name,
                "batch": batch,
                "accumulate": accumulate,
                "way": way,
                "warmup": warmup,
                "steps": steps,
                "quiet_wait": args.quiet_wait,
            }
            print(f"training: {name} {label} x{accumulate} ...", file=sys.stderr, flush=True)
            results[label] = result = run_child(spec)
            micro = batch // accumulate
            batching = f"{batch}" if accumulate == 1 else f"{batch} = {accumulate} x {micro}"
            rows.append(
                f"| {name} | d{n.depth} f{n.features} K={n.n_samples} | {batching} "
                f"x {t.patch_size}^2 | {label} | {result['median_s']:.3f} | "
                f"{' / '.join(f'{s:.2f}' for s in result['seconds'])} | "
                f"{_percent(result['other_load'])} | "
                f"{result['peak_above_idle_mib']:.0f} | {result['first_loss']:.3f} | "
                f"{result['gflop']:.0f} | {result['gflop'] / result['median_s']:.0f} |"
            )
        engine = results[ways[0][0]]
        engine_s, full_s = engine["median_s"], results[ways[1][0]]["median_s"]
        same = [label for label, way, acc in ways if way == "engine" and acc == full_accumulate]
        speedups[name] = (
            full_s / engine_s,
            full_s / results[same[0]]["median_s"] if same else None,
            results[ways[-1][0]]["median_s"] / engine_s,
            full_s / (engine["gflop"] / peak_rate),
        )
    lines = [
        "## 1. Training step (seconds per optimisation step)",
        "",
        f"Median of {steps} timed step(s) after {warmup} warm-up step(s). A step = sample "
        "patches, mask 3.12% of the pixels, forward, PN2V loss (Eq. 7), backward, Adam. "
        f"'a = b x c': gradient accumulation over b micro-batches of c patches (the same "
        f"total work), used where the full output and its gradient would exceed "
        f"{args.full_output_gib:g} GiB. Peak memory: RSS above the idle process. "
        "GFLOP: floating-point operations of one step in convolutions and matrix products "
        "(torch's FlopCounterMode), and their rate; a 2048x2048 float32 matrix product "
        f"runs at {peak_rate:.0f} GFLOP/s on this machine. " + OTHER_LOAD_NOTE,
        "",
        "| preset | network | batch x patch | implementation | s/step (median) | "
        "each step (s) | other load | peak MB | loss (1st step) | GFLOP | GFLOP/s |",
        "|---|---|---|---|---:|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "'bound': (b)'s time over (a)'s GFLOP at the matrix product's rate, the largest "
        "speed-up over (b) that any implementation doing (a)'s arithmetic could reach here.",
        "",
        "| preset | speed-up (b)/(a), (a) as the preset trains | "
        "speed-up (b)/(a), both in (b)'s micro-batches | "
        "speed-up (c)/(a): over the reference's way | target (over the reference's way) "
        "| bound over (b) |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for name, (as_configured, same_batches, over_reference, bound) in speedups.items():
        target = "-"
        if name == "paper":
            met = over_reference >= TRAIN_TARGET_SPEEDUP
            target = f">= {TRAIN_TARGET_SPEEDUP:g}x: {'met' if met else 'missed'}"
        same = "n/a" if same_batches is None else f"{same_batches:.2f}x"
        lines.append(
            f"| {name} | {as_configured:.2f}x | {same} | {over_reference:.2f}x | {target} "
            f"| {bound:.2f}x |"
        )
    if args.quick:
        lines += ["", "*Quick run: paper batch reduced to 16 patches, one timed step.*"]
    return lines


def predict_table(args: argparse.Namespace) -> list[str]:
    warmup, repeats = 1, (1 if args.quick else args.predict_repeats)
    default = PredictionConfig()
    rows = []
    for name in args.presets:
        n = PRESETS[name].network
        for tile, label in ((default.tile_size, "default"), (FRAME, "untiled")):
            spec = {
                "kind": "predict",
                "preset": name,
                "tile": tile,
                "chunk": default.pixel_chunk,
                "size": FRAME,
                "warmup": warmup,
                "repeats": repeats,
                "quiet_wait": args.quiet_wait,
            }
            print(f"denoising: {name} tile {tile} ...", file=sys.stderr, flush=True)
            result = run_child(spec)
            seconds, memory = result["median_s"], result["peak_above_idle_mib"]
            if name == "paper":
                met = seconds <= PREDICT_TARGET_S and memory <= PREDICT_TARGET_MB
                target = (
                    f"<= {PREDICT_TARGET_S:g} s, <= {PREDICT_TARGET_MB:g} MB: "
                    f"{'met' if met else 'missed'}"
                )
            else:
                target = "-"
            tiles = math.ceil(FRAME / tile) ** 2
            rows.append(
                f"| {name} | d{n.depth} f{n.features} K={n.n_samples} | {tile} ({label}, "
                f"{tiles} tile{'s' if tiles > 1 else ''}) | {default.pixel_chunk} | "
                f"{seconds:.2f} | {' / '.join(f'{s:.2f}' for s in result['seconds'])} | "
                f"{_percent(result['other_load'])} | {memory:.0f} | {result['idle_mib']:.0f} | "
                f"{target} |"
            )
            method = result["memory_method"]
    return [
        f"## 2. Denoising one {FRAME}x{FRAME} frame (MMSE, Eq. 11)",
        "",
        f"Median of {repeats} run(s) after {warmup} warm-up run(s), each measurement in a "
        f"fresh process; peak memory = peak RSS during warm-up and timed runs ({method}) "
        "minus the idle RSS after imports, data, noise model and network. "
        f"Targets (paper network, K=800): <= {PREDICT_TARGET_S:g} s and "
        f"<= {PREDICT_TARGET_MB:g} MB above idle ({REFERENCE_PREDICT}). " + OTHER_LOAD_NOTE,
        "",
        "| preset | network | tile_size | pixel_chunk | s/frame (median) | each run (s) | "
        "other load | peak MB above idle | idle MB | target |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---|",
        *rows,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller, fewer repeats: smoke check")
    parser.add_argument("--only", choices=("train", "predict"), help="run one section")
    parser.add_argument(
        "--presets", nargs="+", choices=tuple(PRESETS), default=tuple(PRESETS), help="networks"
    )
    parser.add_argument("--train-steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--predict-repeats", type=int, default=3, help="timed denoising runs")
    parser.add_argument(
        "--full-output-gib",
        type=float,
        default=2.0,
        help="memory for the full output and its gradient before micro-batching (GiB)",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=20.0, help="max seconds to wait for idle CPUs"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        children = {"train": train_child, "predict": predict_child, "matmul": matmul_child}
        print(json.dumps(children[spec["kind"]](spec)))
        return 0
    started = time.monotonic()
    lines = header(args)
    if args.only in (None, "train"):
        lines += ["", *train_table(args)]
    if args.only in (None, "predict"):
        lines += ["", *predict_table(args)]
    lines += [
        "",
        f"Load average at end: {load_average()}. "
        f"Total benchmark time: {time.monotonic() - started:.0f} s.",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
