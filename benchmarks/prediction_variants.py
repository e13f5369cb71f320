"""Prediction-time variants of one trained PN2V project, scored on FMD FOV 19.

What the same network gives when only the prediction changes: the MMSE and the prior
mean; the prior samples pooled over the 8 rotations and mirrors, or their 8 MMSE estimates
averaged; a true blind spot at
prediction (each pixel masked as in training, 9 passes); the prior samples' spread
around their mean scaled by ``alpha``; another noise model (a histogram over another
range, a Gaussian mixture of the same calibration pair); for a bootstrapped noise model,
the MMSE averaged with the prediction of the Noise2Void network the model keeps.

    pn2v calibrate --signal CLEAN.tif NOISY.tif -o nm.npz
    pn2v train .../Confocal_MICE_{1,2,3,4}.png --noise-model nm.npz -o mice.pn2v
    python benchmarks/prediction_variants.py mice.pn2v --type Confocal_MICE
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from common import markdown_table
from fmd import CALIBRATION, DATA, DATA_RANGE, load_type

#: Pixels whose statistics are computed at once (memory: pixels x samples x 8).
CHUNK = 8192


class Variants:
    """The trained trunk's features of a frame, and the MMSE under a variant."""

    def __init__(self, project_path: Path) -> None:
        from pn2v_engine import load_project
        from pn2v_engine.bootstrap import source_denoiser

        project = load_project(project_path)
        denoiser = project.denoiser("cpu")
        self.network = denoiser.network
        self.normalisation = denoiser.normalisation
        self.noise_model = denoiser.noise_model
        if not denoiser.probabilistic:
            raise SystemExit(f"{project_path} is not a PN2V project")
        self.generator = torch.Generator().manual_seed(0)
        # the project's model, not the denoiser's copy of it on the device, keeps the network
        source = getattr(project.noise_model, "source_network", None)
        self.n2v = None if source is None else source_denoiser(source)

    def source_prediction(self, observed: torch.Tensor) -> np.ndarray | None:
        """The bootstrap's Noise2Void prediction of ``observed``, if the model keeps one."""
        if self.n2v is None:
            return None
        from pn2v_engine import run_predict

        return run_predict(self.n2v, observed.numpy()).mmse

    def _trunk(self, image: torch.Tensor) -> torch.Tensor:
        """(C, Y, X) features of a normalised (Y, X) image."""
        with torch.inference_mode():
            return self.network.trunk(image.contiguous()[None, None])[0]

    @staticmethod
    def _flat(features: torch.Tensor) -> torch.Tensor:
        return features.permute(1, 2, 0).reshape(-1, features.shape[0]).clone()

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """(Y * X, C) features of a normalised (Y, X) image."""
        return self._flat(self._trunk(image))

    def dihedral_features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Features of the 8 rotations and mirrors, mapped back onto the image."""
        out = []
        for k in range(8):
            view = torch.rot90(image, k % 4, (0, 1))
            f = self._trunk(torch.flip(view, (1,)) if k >= 4 else view)
            f = torch.flip(f, (2,)) if k >= 4 else f
            out.append(self._flat(torch.rot90(f, -(k % 4), (1, 2))))
        return out

    def blind_spot_features(self, image: torch.Tensor, gap: int = 3) -> torch.Tensor:
        """Features with every pixel masked (replaced by a random 5x5 neighbour) once."""
        height, width = image.shape
        out = torch.empty(height * width, self.network.features)
        for dy in range(gap):
            for dx in range(gap):
                yy, xx = torch.meshgrid(
                    torch.arange(dy, height, gap), torch.arange(dx, width, gap), indexing="ij"
                )
                yy, xx = yy.reshape(-1), xx.reshape(-1)
                pick = torch.randint(0, 24, yy.shape, generator=self.generator)
                pick = pick + (pick >= 12).long()  # skip the centre of the 5x5 window
                oy, ox = pick // 5 - 2, pick % 5 - 2
                ny = torch.where((yy + oy < 0) | (yy + oy >= height), yy - oy, yy + oy)
                nx = torch.where((xx + ox < 0) | (xx + ox >= width), xx - ox, xx + ox)
                masked = image.clone()
                masked[yy, xx] = image[ny, nx]
                f = self.features(masked)
                flat = yy * width + xx
                out[flat] = f[flat]
        return out

    def mmse(
        self,
        features: Sequence[torch.Tensor],
        observed: torch.Tensor,
        alpha: float = 1.0,
        noise_model: object | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(MMSE, prior mean) with the samples of all ``features`` pooled, spread x ``alpha``."""
        model = noise_model if noise_model is not None else self.noise_model
        mmse, prior = [], []
        x = observed.reshape(-1)
        with torch.inference_mode():
            for start in range(0, x.numel(), CHUNK):
                stop = min(start + CHUNK, x.numel())
                samples = torch.cat(
                    [
                        self.normalisation.invert(self.network.apply_head(f[start:stop]))
                        for f in features
                    ],
                    dim=1,
                )
                samples = model.clamp_signal(samples)
                mean = samples.mean(dim=1, keepdim=True)
                if alpha != 1.0:
                    samples = model.clamp_signal(mean + alpha * (samples - mean))
                weights = model.posterior_weights(x[start:stop, None], samples)
                mmse.append((weights * samples).sum(dim=1))
                prior.append(mean[:, 0])
        shape = observed.shape
        return torch.cat(mmse).reshape(shape).numpy(), torch.cat(prior).reshape(shape).numpy()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path, help="a trained PN2V project (.pn2v)")
    parser.add_argument("--type", default="Confocal_MICE", help="FMD type it was trained on")
    parser.add_argument("--captures", type=int, default=4, help="captures to score (1-4)")
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.7, 0.85])
    parser.add_argument(
        "--blends",
        nargs="+",
        type=float,
        default=[0.5, 0.75],
        help="weights of the MMSE in its average with the bootstrap's N2V prediction",
    )
    args = parser.parse_args(argv)
    from pn2v_engine import histogram_from_pairs, psnr, run_fit_gmm

    torch.set_num_threads(max(1, torch.get_num_threads()))
    variants = Variants(args.project)
    noisy, gt, pair = load_type(args.type, DATA, CALIBRATION)
    models: dict[str, object] = {}
    if pair is not None:
        clean, raw = pair
        models["histogram 0-255"] = histogram_from_pairs([clean], [raw], value_range=(0, 255))
        models["histogram, the pair's range"] = histogram_from_pairs([clean], [raw])
        models["GMM of the pair"] = run_fit_gmm(clean.astype(np.float32), raw.astype(np.float32))

    scores: dict[str, list[float]] = {}

    def record(name: str, image: np.ndarray) -> None:
        scores.setdefault(name, []).append(psnr(gt, image, data_range=DATA_RANGE))

    for capture in noisy[: args.captures]:
        x = torch.from_numpy(capture.astype(np.float32))
        normalised = variants.normalisation.apply(x)
        plain = [variants.features(normalised)]
        mmse, prior = variants.mmse(plain, x)
        record("MMSE (the engine's with n2v_share 0)", mmse)
        record("prior mean", prior)
        for alpha in args.alphas:
            record(f"MMSE, prior spread x {alpha:g}", variants.mmse(plain, x, alpha)[0])
        eight = variants.dihedral_features(normalised)
        record("MMSE, samples pooled over 8 rotations/mirrors", variants.mmse(eight, x)[0])
        oriented = [variants.mmse([f], x)[0] for f in eight]
        half_turn = np.mean([oriented[0], oriented[2]], axis=0)
        record("MMSE, averaged over 2 orientations (0 and 180 degrees)", half_turn)
        record("MMSE, averaged over 4 rotations", np.mean(oriented[:4], axis=0))
        averaged = np.mean(oriented, axis=0)
        record("MMSE, averaged over 8 rotations/mirrors", averaged)
        blind = [variants.blind_spot_features(normalised)]
        record("MMSE, blind spot at prediction (9 passes)", variants.mmse(blind, x)[0])
        for name, model in models.items():
            record(f"MMSE, noise model: {name}", variants.mmse(plain, x, 1.0, model)[0])
        n2v = variants.source_prediction(x)
        if n2v is not None:
            record("the bootstrap's N2V network", n2v)
            for weight in args.blends:
                record(f"{weight:g} MMSE + {1 - weight:g} N2V", weight * mmse + (1 - weight) * n2v)
        print(f"capture done: {len(scores['prior mean'])}", flush=True)

    rows = [
        [name, f"{np.mean(values):.2f}", " / ".join(f"{v:.2f}" for v in values)]
        for name, values in scores.items()
    ]
    print(markdown_table(["Prediction", "PSNR (dB)", "Per capture"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
