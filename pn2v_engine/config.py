"""Validated, versioned settings (pydantic v2) and the presets.

All settings of a run live in one :class:`Settings` object, stored in the
project manifest. Unknown keys are refused, so a typo in a settings file is an
error that names the key instead of a silently ignored option.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkConfig(_Strict):
    """The U-Net (paper section 5.3)."""

    depth: int = Field(3, ge=1, le=6, description="Resolution levels of the U-Net.")
    features: int = Field(64, ge=4, le=512, description="Feature channels of the first level.")
    n_samples: int = Field(
        800, ge=1, le=4096, description="K: prior samples predicted per pixel (1 for N2V)."
    )
    output_scale: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Factor on the network's outputs; the reference implementation uses 10 "
        "to spread the initial samples and speed up training.",
    )
    blind_spot: Literal["masking", "network"] = Field(
        "masking",
        description="masking: hide a share of each patch's pixels behind neighbours and "
        "train there (N2V, the paper); network: a U-Net that never sees the pixel it "
        "predicts (Laine et al. 2019), four passes per image, trained on unaltered patches.",
    )
    top_skip: bool = Field(
        True,
        description="Concatenate the first level's features into the last decoder level "
        "(the paper's U-Net). Off, as N2V2 (Höck et al. 2022): the output is built from "
        "the coarser levels only; plain Noise2Void gains 0.2-0.5 dB on FMD.",
    )
    precision: Literal["float32", "bfloat16", "auto"] = Field(
        "float32",
        description="Arithmetic of the U-Net's convolutions. bfloat16 trains 1.3-1.8x "
        "faster on a CPU that computes it natively (AVX-512 BF16 or AMX) and is emulated, "
        "slower, on others; auto: bfloat16 where the CPU or GPU (NVIDIA from Ampere on) "
        "computes it natively, else float32. The K samples, the loss, the noise model and "
        "the weights stay float32.",
    )

    def fits_weights_of(self, other: NetworkConfig) -> bool:
        """True where weights trained with ``other`` fit this network (whatever the arithmetic)."""
        return self.model_dump(exclude={"precision"}) == other.model_dump(exclude={"precision"})


class MaskingConfig(_Strict):
    """Blind-spot masking (N2V/PN2V)."""

    fraction: float = Field(
        0.0312,
        gt=0,
        le=1,
        description="Share of the pixels of each patch that are masked and trained on "
        "(below 0.5); with the blind spot in the network, the share trained on.",
    )
    radius: int = Field(2, ge=1, le=5, description="Replacement window radius (2 gives 5x5).")


class TrainingConfig(_Strict):
    """Optimisation settings."""

    patch_size: int = Field(100, ge=16, le=1024, description="Side of the square training patches.")
    batch_size: int = Field(80, ge=1, le=1024, description="Patches per optimisation step.")
    accumulate: int = Field(
        1, ge=1, le=256, description="Split each batch into this many passes (saves memory)."
    )
    epochs: int = Field(200, ge=1, le=100_000)
    steps_per_epoch: int = Field(50, ge=1, le=100_000)
    learning_rate: float = Field(1e-4, gt=0, le=1.0)
    schedule: Literal["plateau", "cosine"] = Field(
        "plateau",
        description="plateau: halve the rate when validation stalls (the paper); "
        "cosine: decay smoothly to zero over the run.",
    )
    n2v_warmup: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Share of the steps (PN2V only) that first fit the mean of the samples "
        "with the N2V loss before the PN2V loss shapes their spread.",
    )
    bright_patches: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of the patches drawn where the images are bright (by the "
        "square of the patch mean above the median); the rest anywhere. Bright structures "
        "hold most of the squared error.",
    )
    plateau_patience: int = Field(10, ge=1)
    plateau_factor: float = Field(0.5, gt=0, lt=1)
    val_fraction: float = Field(
        0.1, gt=0, lt=0.9, description="Share of the data held out to validate."
    )
    val_patches: int = Field(64, ge=1, le=10_000, description="Validation patches per check.")
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _batch_divides(self) -> TrainingConfig:
        if self.batch_size % self.accumulate:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of accumulate "
                f"({self.accumulate})"
            )
        return self


#: Orientations averaged at prediction -> the dihedral transforms used (``k % 4``
#: quarter turns, mirrored when ``k >= 4``); 2 is the image and its half turn.
ORIENTATIONS: dict[int, tuple[int, ...]] = {1: (0,), 2: (0, 2), 4: (0, 1, 2, 3), 8: tuple(range(8))}


class PredictionConfig(_Strict):
    """Tiled MMSE prediction."""

    tile_size: int = Field(
        256, ge=32, le=8192, description="Side of the tiles the image is cut into (memory)."
    )
    pixel_chunk: int = Field(
        # small enough that the (chunk, K) arrays stay in the CPU's caches: with 1024
        # pixels a 512x512 frame denoises about 2x faster on the CPU than with 16384
        # (benchmarks/speed.py)
        1024,
        ge=256,
        description="Pixels whose K samples are evaluated at once (memory).",
    )
    n2v_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Where the noise model was bootstrapped and keeps its Noise2Void "
        "network: that network's share in the result, PN2V's MMSE the rest. The two "
        "networks' errors differ, so their average has less of either (the cpu preset: "
        "0.5; measured on FMD in the README).",
    )


class Settings(_Strict):
    """Everything that defines a PN2V run."""

    preset: str = "custom"
    mode: Literal["pn2v", "n2v"] = Field(
        "pn2v", description="pn2v: K samples and a noise model; n2v: one value, MSE."
    )
    network: NetworkConfig = NetworkConfig()
    masking: MaskingConfig = MaskingConfig()
    training: TrainingConfig = TrainingConfig()
    prediction: PredictionConfig = PredictionConfig()

    @model_validator(mode="after")
    def _masking_leaves_context(self) -> Settings:
        if self.network.blind_spot == "masking" and self.masking.fraction >= 0.5:
            raise ValueError(
                f"masking.fraction ({self.masking.fraction}) must be below 0.5 when masking: "
                "the masked pixels' neighbours are their context"
            )
        return self

    @model_validator(mode="after")
    def _blind_spot_network_keeps_its_skips(self) -> Settings:
        if self.network.blind_spot == "network" and not self.network.top_skip:
            raise ValueError(
                "network.top_skip changes the masking U-Net; the blind-spot network keeps "
                "its skip connections"
            )
        return self

    @model_validator(mode="after")
    def _patch_fits_the_network(self) -> Settings:
        multiple = 2 ** (self.network.depth - 1)
        if self.training.patch_size % multiple:
            raise ValueError(
                f"training.patch_size ({self.training.patch_size}) must be a multiple of "
                f"{multiple} for a U-Net of depth {self.network.depth}"
            )
        return self

    def with_changes(self, **changes: object) -> Settings:
        """A copy with dotted-path changes, e.g. ``{"training.epochs": 5}``; validated."""
        data = self.model_dump()
        for path, value in changes.items():
            *parents, leaf = path.split(".")
            node = data
            for key in parents:
                node = node[key]
            if leaf not in node:
                raise ConfigError(f"Unknown setting {path!r}.")
            node[leaf] = value
        return parse_settings(data)


def parse_settings(data: dict) -> Settings:
    """Validate a settings dictionary, with an error that names the bad field."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"Invalid settings: {problems}.", "Correct the values named.") from exc


def _problem(error: dict) -> str:
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


PAPER = Settings(
    preset="paper",
    network=NetworkConfig(depth=3, features=64, n_samples=800),
    training=TrainingConfig(
        patch_size=100,
        batch_size=80,
        epochs=200,
        steps_per_epoch=50,
        learning_rate=1e-4,
        schedule="plateau",
    ),
)

# Chosen by measurement on FMD, 2 CPU cores (README, "Benchmarks"): 1300 steps fit the
# 10-minute budget (0.37-0.44 s a step here; 1500 steps gave Confocal_MICE 37.83 dB,
# 2000 steps 37.88 dB). Masking 10% instead of 3.1% gives each trunk pass 3x the loss
# pixels: +0.5 dB prior mean, +0.7 dB MMSE at 500 steps. Drawing 80% of the patches
# where the images are bright: +0.04 dB bootstrapped PN2V over 3 types x 3 seeds. With a
# bootstrapped model, its skipless N2V network's prediction half of the result: ahead of
# VST+BM3D by 0.13-0.17 dB on all 3 types over 3 seeds (bfloat16).
CPU = Settings(
    preset="cpu",
    network=NetworkConfig(depth=3, features=32, n_samples=400),
    masking=MaskingConfig(fraction=0.1),
    training=TrainingConfig(
        patch_size=64,
        batch_size=16,
        epochs=26,
        steps_per_epoch=50,
        learning_rate=1e-3,
        schedule="cosine",
        bright_patches=0.8,
        val_patches=32,
    ),
    prediction=PredictionConfig(n2v_share=0.5),
)

PRESETS: dict[str, Settings] = {"paper": PAPER, "cpu": CPU}


def preset(name: str) -> Settings:
    """The named preset (``paper`` or ``cpu``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"Unknown preset {name!r}.", f"Choose one of: {', '.join(PRESETS)}."
        ) from None
