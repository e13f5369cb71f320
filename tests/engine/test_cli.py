"""The pn2v command line: the whole flow on demo data, and its errors and exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from pn2v_engine.cli import main
from pn2v_engine.config import preset
from pn2v_engine.demo import make_demo_data

FAST = ["--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "4", "--patch-size", "32"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    data = make_demo_data(seed=3, size=96, n_calibration=20, n_images=2)
    tifffile.imwrite(
        folder / "calibration.tif", data.calibration, imagej=True, metadata={"axes": "TYX"}
    )
    (folder / "images" / "sub").mkdir(parents=True)
    tifffile.imwrite(folder / "images" / "a.tif", data.images[0])
    tifffile.imwrite(folder / "images" / "sub" / "b.tif", data.images[1])
    return folder


@pytest.fixture(scope="module")
def trained(demo: Path) -> Path:
    assert main(["calibrate", str(demo / "calibration.tif"), "-o", str(demo / "nm.npz")]) == 0
    assert (
        main(
            [
                "train",
                str(demo / "images"),
                "--noise-model",
                str(demo / "nm.npz"),
                "-o",
                str(demo / "p.pn2v"),
                *FAST,
            ]
        )
        == 0
    )
    return demo / "p.pn2v"


def test_calibrate_train_denoise(trained: Path, tmp_path: Path, capsys) -> None:
    demo = trained.parent
    before = {p: p.read_bytes() for p in (demo / "images").rglob("*.tif")}
    out = tmp_path / "out"
    code = main(
        [
            "denoise",
            str(trained),
            str(demo / "images"),
            "-o",
            str(out),
            "--uncertainty",
            "--prior-mean",
        ]
    )
    assert code == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.tif"))
    assert written == [
        "a_pn2v.tif",
        "a_pn2v_prior_mean.tif",
        "a_pn2v_uncertainty.tif",
        "sub/b_pn2v.tif",
        "sub/b_pn2v_prior_mean.tif",
        "sub/b_pn2v_uncertainty.tif",
    ]
    result = tifffile.imread(out / "a_pn2v.tif")
    assert result.dtype == np.float32 and result.shape == (96, 96)
    assert np.all(tifffile.imread(out / "a_pn2v_uncertainty.tif") >= 0)
    assert {p: p.read_bytes() for p in before} == before  # inputs untouched


def test_calibrate_smooths_unless_told_not_to(trained: Path, tmp_path: Path, capsys) -> None:
    from pn2v_engine.noise_models import load_noise_model

    smoothed = load_noise_model(trained.parent / "nm.npz")
    assert smoothed.metadata["smoothing"]["method"] == "gaussian mixture"
    stack = str(trained.parent / "calibration.tif")
    assert main(["calibrate", stack, "-o", str(tmp_path / "raw.npz"), "--no-smooth"]) == 0
    assert "smoothed" not in capsys.readouterr().out
    measured = load_noise_model(tmp_path / "raw.npz")
    assert "smoothing" not in measured.metadata
    np.testing.assert_array_equal(measured.counts, smoothed.counts)
    assert not np.array_equal(measured.density.numpy(), smoothed.density.numpy())


def test_calibrate_pairs_maps_an_off_scale_clean_image(demo: Path, tmp_path: Path, capsys) -> None:
    from pn2v_engine.noise_models import load_noise_model

    stack = tifffile.imread(demo / "calibration.tif")
    tifffile.imwrite(tmp_path / "clean.tif", (0.9 * stack.mean(axis=0)).astype(np.float32))
    pair = ["calibrate", "--signal", str(tmp_path / "clean.tif"), str(demo / "calibration.tif")]
    assert main([*pair, "-o", str(tmp_path / "mapped.npz")]) == 0
    assert "--keep-clean-scale" in capsys.readouterr().out
    line = load_noise_model(tmp_path / "mapped.npz").metadata["calibration"]["intensity_line"]
    assert line["applied"] and line["gain"] == pytest.approx(1 / 0.9, rel=0.01)
    assert main([*pair, "-o", str(tmp_path / "kept.npz"), "--keep-clean-scale"]) == 0
    assert "warning" not in capsys.readouterr().out
    kept = load_noise_model(tmp_path / "kept.npz").metadata["calibration"]
    assert "intensity_line" not in kept


def test_fit_gmm_pairs_maps_an_off_scale_clean_image(demo: Path, tmp_path: Path, capsys) -> None:
    import torch

    from pn2v_engine.noise_models import load_noise_model

    stack = tifffile.imread(demo / "calibration.tif")
    mean = stack.mean(axis=0)
    tifffile.imwrite(tmp_path / "on.tif", mean.astype(np.float32))
    tifffile.imwrite(tmp_path / "off.tif", (0.9 * mean).astype(np.float32))
    fit = ["noise-model", "fit-gmm", str(demo / "calibration.tif"), "--steps", "60"]
    models = {}
    for name, clean, extra in [
        ("on", "on.tif", []),
        ("mapped", "off.tif", []),
        ("kept", "off.tif", ["--keep-clean-scale"]),
    ]:
        out = tmp_path / f"{name}.npz"
        assert main([*fit, "--signal", str(tmp_path / clean), "-o", str(out), *extra]) == 0
        models[name] = (load_noise_model(out), capsys.readouterr().out)
    mapped, said = models["mapped"]
    assert "--keep-clean-scale" in said
    line = mapped.metadata["calibration"]["intensity_line"]
    assert line["applied"] and line["gain"] == pytest.approx(1 / 0.9, rel=0.01)
    assert not models["on"][0].metadata["calibration"]["intensity_line"]["applied"]
    assert "calibration" not in models["kept"][0].metadata
    assert "warning" not in models["kept"][1]
    s = torch.linspace(float(np.percentile(mean, 20)), float(np.percentile(mean, 80)), 5)
    on = models["on"][0].variance(s)
    assert torch.allclose(mapped.variance(s), on, rtol=0.1)
    assert not torch.allclose(models["kept"][0].variance(0.9 * s), on, rtol=0.1)


def test_denoise_input_dtype_and_default_folder(trained: Path, capsys) -> None:
    demo = trained.parent
    image = demo / "images" / "a.tif"
    assert main(["denoise", str(trained), str(image), "--dtype", "input"]) == 0
    out = demo / "images" / "a_pn2v"
    assert out.is_dir()
    assert tifffile.imread(out / "a_pn2v.tif").dtype == np.uint16


def test_denoise_averages_orientations(trained: Path, tmp_path: Path, capsys) -> None:
    from pn2v_engine import load_project, run_predict

    image = trained.parent / "images" / "a.tif"
    out = tmp_path / "four"
    assert main(["denoise", str(trained), str(image), "-o", str(out), "--orientations", "4"]) == 0
    written = tifffile.imread(out / "a_pn2v.tif")
    denoiser = load_project(trained).denoiser(device="cpu")
    pixels = tifffile.imread(image).astype(np.float32)
    expected = run_predict(denoiser, pixels, orientations=4).mmse
    np.testing.assert_allclose(written, expected, atol=1e-4)
    assert np.abs(written - run_predict(denoiser, pixels).mmse).max() > 1e-3
    with pytest.raises(SystemExit):
        main(["denoise", str(trained), str(image), "--orientations", "3"])
    assert "invalid choice" in capsys.readouterr().err


def test_denoise_sets_the_share_of_the_bootstraps_network(
    demo: Path, trained: Path, tmp_path: Path, capsys
) -> None:
    from pn2v_engine import load_project, run_predict

    model = tmp_path / "boot.npz"
    bootstrap = ["noise-model", "bootstrap", str(demo / "images"), "-o", str(model)]
    assert main([*bootstrap, *FAST, "--kind", "histogram"]) == 0
    project = tmp_path / "boot.pn2v"
    train = ["train", str(demo / "images"), "--noise-model", str(model), "-o", str(project)]
    assert main([*train, *FAST]) == 0
    image = demo / "images" / "a.tif"
    pixels = tifffile.imread(image).astype(np.float32)
    loaded = load_project(project)
    assert loaded.settings.prediction.n2v_share == 0.5  # the cpu preset's
    for share, folder in ((None, "default"), ("0", "alone")):
        extra = [] if share is None else ["--n2v-share", share]
        assert (
            main(["denoise", str(project), str(image), "-o", str(tmp_path / folder), *extra]) == 0
        )
    assert main(["info", str(project)]) == 0
    assert "averages the bootstrap's Noise2Void network in (share 0.5)" in capsys.readouterr().out
    alone = run_predict(loaded.denoiser("cpu", n2v_share=0.0), pixels).mmse
    both = run_predict(loaded.denoiser("cpu"), pixels).mmse
    assert np.abs(both - alone).max() > 0.1
    np.testing.assert_allclose(tifffile.imread(tmp_path / "alone" / "a_pn2v.tif"), alone, atol=1e-4)
    np.testing.assert_allclose(
        tifffile.imread(tmp_path / "default" / "a_pn2v.tif"), both, atol=1e-4
    )
    with pytest.raises(SystemExit):
        main(["denoise", str(project), str(image), "--n2v-share", "1.5"])
    assert "not a number from 0 to 1" in capsys.readouterr().err


def test_denoise_refuses_to_write_beside_inputs(trained: Path, capsys) -> None:
    demo = trained.parent
    code = main(["denoise", str(trained), str(demo / "images"), "-o", str(demo / "images")])
    assert code == 1
    assert "beside your originals" in capsys.readouterr().err


def test_bad_file_in_batch_is_reported_and_batch_goes_on(
    trained: Path, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.tif").write_text("this is not a TIFF")
    tifffile.imwrite(folder / "good.tif", tifffile.imread(trained.parent / "images" / "a.tif"))
    code = main(["denoise", str(trained), str(folder), "-o", str(tmp_path / "out")])
    assert code == 1
    text = capsys.readouterr().out
    assert "broken.tif" in text and "1 denoised, 1 failed" in text
    assert (tmp_path / "out" / "good_pn2v.tif").exists()


def test_resume_and_info(trained: Path, tmp_path: Path, capsys) -> None:
    demo = trained.parent
    copy = tmp_path / "copy.pn2v"
    copy.write_bytes(trained.read_bytes())
    assert main(["train", str(demo / "images"), "-o", str(copy), "--resume", "--epochs", "3"]) == 0
    capsys.readouterr()
    assert main(["info", str(copy)]) == 0
    assert "trained 3/3 epochs" in capsys.readouterr().out
    assert main(["info", str(demo / "nm.npz")]) == 0
    assert "histogram noise model" in capsys.readouterr().out


def test_train_draws_bright_patches_as_told(trained: Path, tmp_path: Path) -> None:
    from pn2v_engine import load_project

    demo = trained.parent
    out = tmp_path / "uniform.pn2v"
    args = ["train", str(demo / "images"), "--noise-model", str(demo / "nm.npz"), "-o", str(out)]
    assert main([*args, *FAST, "--bright-patches", "0"]) == 0
    assert load_project(out).settings.training.bright_patches == 0.0
    assert load_project(trained).settings.training.bright_patches == 0.8
    bad = tmp_path / "bad.pn2v"
    assert main([*args[:-1], str(bad), *FAST, "--bright-patches", "2"]) != 0
    assert not bad.exists()


def test_train_computes_in_the_precision_asked_for(trained: Path, tmp_path: Path) -> None:
    from pn2v_engine import load_project

    demo = trained.parent
    out = tmp_path / "bf16.pn2v"
    args = ["train", str(demo / "images"), "--noise-model", str(demo / "nm.npz"), "-o", str(out)]
    assert main([*args, *FAST, "--precision", "bfloat16"]) == 0
    assert load_project(out).settings.network.precision == "bfloat16"
    assert load_project(trained).settings.network.precision == preset("cpu").network.precision
    with pytest.raises(SystemExit):
        main([*args[:-1], str(tmp_path / "bad.pn2v"), *FAST, "--precision", "float16"])
    assert not (tmp_path / "bad.pn2v").exists()


def test_train_drops_the_top_skip_when_told(trained: Path, tmp_path: Path) -> None:
    from pn2v_engine import load_project

    demo = trained.parent
    out = tmp_path / "skipless.pn2v"
    assert (
        main(["train", str(demo / "images"), "-o", str(out), "--n2v", *FAST, "--no-top-skip"]) == 0
    )
    assert not load_project(out).settings.network.top_skip
    assert load_project(trained).settings.network.top_skip


def test_train_refuses_to_replace_a_project(trained: Path, capsys) -> None:
    demo = trained.parent
    code = main(
        [
            "train",
            str(demo / "images"),
            "--noise-model",
            str(demo / "nm.npz"),
            "-o",
            str(trained),
            *FAST,
        ]
    )
    assert code == 1
    assert "--resume" in capsys.readouterr().err


def test_estimate_noise_model(demo: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(["noise-model", "estimate", str(demo / "images"), "-o", str(tmp_path / "est.npz")])
        == 0
    )
    assert (tmp_path / "est.npz").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calibrate", "{text}", "-o", "{tmp}/nm.npz"], "not a TIFF or PNG"),
        (["calibrate", "{single}", "-o", "{tmp}/nm.npz"], "one frame"),
        (["calibrate", "{rgb}", "-o", "{tmp}/nm.npz"], "channels"),
        (["denoise", "{text}", "{single}", "-o", "{tmp}/o"], "not a PN2V project"),
        (["info", "{tmp}/missing.pn2v"], "not found"),
        (["train", "{single}", "-o", "{tmp}/p.pn2v"], "needs a noise model"),
    ],
)
def test_errors_are_messages_not_tracebacks(tmp_path: Path, capsys, args, message) -> None:
    files = {
        "text": tmp_path / "notes.tif",
        "single": tmp_path / "single.tif",
        "rgb": tmp_path / "rgb.tif",
        "tmp": tmp_path,
    }
    files["text"].write_text("hello")
    tifffile.imwrite(files["single"], np.zeros((64, 64), np.uint16))
    tifffile.imwrite(files["rgb"], np.zeros((64, 64, 3), np.uint8), photometric="rgb")
    code = main([a.format(**files) for a in args])
    err = capsys.readouterr().err
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_denoise_refuses_data_far_outside_the_noise_model(
    trained: Path, tmp_path: Path, capsys
) -> None:
    bright = tmp_path / "bright.tif"
    tifffile.imwrite(bright, np.full((64, 64), 60000, np.uint16))
    code = main(["denoise", str(trained), str(bright), "-o", str(tmp_path / "out")])
    assert code == 1
    assert "outside the noise model's calibrated range" in capsys.readouterr().out
    assert not (tmp_path / "out" / "bright_pn2v.tif").exists()
    code = main(
        ["denoise", str(trained), str(bright), "-o", str(tmp_path / "out"), "--allow-out-of-range"]
    )
    assert code == 0


def test_unwritable_output_folder(trained: Path, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    image = trained.parent / "images" / "a.tif"
    code = main(["denoise", str(trained), str(image), "-o", str(blocker / "out")])
    assert code == 1
    assert "Cannot write to folder" in capsys.readouterr().out


def test_out_of_memory_while_denoising_suggests_smaller_tiles(
    trained: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pn2v_engine import prediction

    def exhausted(*args, **kwargs):
        raise RuntimeError(
            "DefaultCPUAllocator: not enough memory: you tried to allocate; out of memory"
        )

    monkeypatch.setattr(prediction, "_predict_tile", exhausted)
    image = trained.parent / "images" / "a.tif"
    code = main(["denoise", str(trained), str(image), "-o", str(tmp_path / "out")])
    assert code == 1
    text = capsys.readouterr().out
    assert "Out of memory" in text and "--tile-size" in text
