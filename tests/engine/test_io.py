"""Tests for pn2v_engine.io: reading, streaming, writing and listing images."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from pn2v_engine.errors import InvalidImageError, OutputError
from pn2v_engine.io import (
    Image,
    ImageMetadata,
    list_images,
    read_frames,
    read_image,
    write_image,
)


def _ramp(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """A deterministic array whose values differ per pixel (modulo the dtype range)."""
    values = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    if np.dtype(dtype).kind == "f":
        return (values * 0.37 - 5.0).astype(dtype)
    return (values % (np.iinfo(dtype).max + 1)).astype(dtype)


def _imagej(path: Path, data: np.ndarray, axes: str, **kwargs: object) -> Path:
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": axes}, **kwargs)
    return path


# ----------------------------------------------------------------------------- reading TIFF


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_tiff_round_trip_keeps_values_and_dtype(tmp_path: Path, dtype: str) -> None:
    original = _ramp((3, 20, 24), dtype)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, original, photometric="minisblack")

    image = read_image(src)
    assert image.data.dtype == np.dtype(dtype)
    assert image.data.shape == (3, 20, 24)
    assert image.frames == 3
    assert image.metadata.source_dtype == dtype
    assert image.metadata.axes == "TYX"
    np.testing.assert_array_equal(image.data, original)

    out = write_image(tmp_path / "out" / "copy.tif", image.data, image.metadata, dtype="input")
    again = read_image(out)
    assert again.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(again.data, original)


def test_2d_image_has_one_frame_and_axes_yx(tmp_path: Path) -> None:
    original = _ramp((16, 32), "uint16")
    tifffile.imwrite(tmp_path / "a.tif", original)
    image = read_image(tmp_path / "a.tif")
    assert image.data.shape == (1, 16, 32)
    assert image.metadata.axes == "YX"
    assert image.metadata.path == str(tmp_path / "a.tif")
    floats = image.as_float32()
    assert floats.dtype == np.float32
    assert floats.shape == (1, 16, 32)
    floats += 1  # a copy: the image itself is unchanged
    np.testing.assert_array_equal(image.data[0], original)


def test_imagej_hyperstack_with_one_channel_reads_as_frames(tmp_path: Path) -> None:
    stack = _ramp((2, 3, 1, 16, 16), "uint16")  # T, Z, C=1, Y, X
    path = _imagej(
        tmp_path / "hyper.tif",
        stack,
        "TZCYX",
        resolution=(1 / 0.5, 1 / 0.25),
    )
    image = read_image(path)
    assert image.data.shape == (6, 16, 16)
    assert image.metadata.axes == "TYX"  # T x Z flattened, t-major
    np.testing.assert_array_equal(image.data[4], stack[1, 1, 0])
    assert image.metadata.pixel_size == pytest.approx((0.25, 0.5))


def test_z_stack_keeps_z_axis(tmp_path: Path) -> None:
    stack = _ramp((5, 16, 16), "uint8")
    image = read_image(_imagej(tmp_path / "z.tif", stack, "ZYX"))
    assert image.metadata.axes == "ZYX"
    np.testing.assert_array_equal(image.data, stack)


def test_multichannel_is_refused_naming_axes_and_shape(tmp_path: Path) -> None:
    path = _imagej(tmp_path / "cells.tif", _ramp((3, 16, 16), "uint16"), "CYX")
    with pytest.raises(InvalidImageError) as info:
        read_image(path)
    message = info.value.message
    assert "cells.tif has 3 channels" in message
    assert "axes CYX" in message
    assert "(3, 16, 16)" in message
    assert "channel=" in info.value.hint


def test_channel_selects_one_channel_of_a_hyperstack(tmp_path: Path) -> None:
    stack = _ramp((2, 3, 16, 16), "uint16")  # T, C, Y, X
    path = _imagej(tmp_path / "tc.tif", stack, "TCYX")
    with pytest.raises(InvalidImageError, match="axes TCYX"):
        read_image(path)
    image = read_image(path, channel=1)
    assert image.data.shape == (2, 16, 16)
    assert image.metadata.axes == "TYX"
    np.testing.assert_array_equal(image.data, stack[:, 1])
    with pytest.raises(InvalidImageError, match=r"Channel 3 does not exist.*0 to 2"):
        read_image(path, channel=3)


def test_channel_on_single_channel_image(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "g.tif", _ramp((16, 16), "uint8"))
    assert read_image(tmp_path / "g.tif", channel=0).data.shape == (1, 16, 16)
    with pytest.raises(InvalidImageError, match="single channel"):
        read_image(tmp_path / "g.tif", channel=1)


def test_rgb_tiff_is_refused(tmp_path: Path) -> None:
    rgb = _ramp((16, 16, 3), "uint8")
    tifffile.imwrite(tmp_path / "photo.tif", rgb, photometric="rgb")
    with pytest.raises(InvalidImageError, match=r"photo\.tif is an RGB color image.*YXS"):
        read_image(tmp_path / "photo.tif")
    green = read_image(tmp_path / "photo.tif", channel=1)
    np.testing.assert_array_equal(green.data[0], rgb[..., 1])


def test_separate_tiff_pages_read_as_one_stack(tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as writer:
        for value in range(4):
            writer.write(np.full((16, 16), value, np.uint16))
    image = read_image(path)
    assert image.metadata.axes == "TYX"
    assert image.data[:, 0, 0].tolist() == [0, 1, 2, 3]


def test_unlabelled_4d_tiff_flattens_into_frames(tmp_path: Path) -> None:
    stack = _ramp((2, 3, 16, 16), "uint16")  # tifffile labels these axes QQYX
    tifffile.imwrite(tmp_path / "q.tif", stack, photometric="minisblack")
    image = read_image(tmp_path / "q.tif")
    assert image.metadata.axes == "TYX"
    np.testing.assert_array_equal(image.data, stack.reshape(6, 16, 16))
    np.testing.assert_array_equal(np.stack(list(read_frames([tmp_path / "q.tif"]))), image.data)


def test_ome_tiff_pixel_size(tmp_path: Path) -> None:
    path = tmp_path / "ome.ome.tif"
    metadata = {"axes": "TYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.4}
    tifffile.imwrite(path, _ramp((2, 16, 16), "uint16"), ome=True, metadata=metadata)
    image = read_image(path)
    assert image.data.shape == (2, 16, 16)
    assert image.metadata.pixel_size == pytest.approx((0.4, 0.3))
    assert image.metadata.unit == "micron"


def test_plain_tiff_without_calibration_has_no_pixel_size(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a.tif", _ramp((16, 16), "uint8"))
    meta = read_image(tmp_path / "a.tif").metadata
    assert meta.pixel_size is None
    assert meta.unit is None


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "uint32", "float64"])
def test_other_supported_dtypes_are_read(tmp_path: Path, dtype: str) -> None:
    original = _ramp((16, 16), dtype)
    tifffile.imwrite(tmp_path / "a.tif", original)
    image = read_image(tmp_path / "a.tif")
    assert image.metadata.source_dtype == dtype
    np.testing.assert_array_equal(image.data[0], original)


def test_complex_pixels_are_refused(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((16, 16), np.complex64))
    with pytest.raises(InvalidImageError, match="complex"):
        read_image(tmp_path / "c.tif")


# ----------------------------------------------------------------------------- reading PNG


def test_16bit_png_reads_as_uint16(tmp_path: Path) -> None:
    original = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 251).astype(np.uint16)
    PILImage.fromarray(original).save(tmp_path / "deep.png")
    image = read_image(tmp_path / "deep.png")
    assert image.data.dtype == np.uint16
    assert image.metadata.source_dtype == "uint16"
    assert image.metadata.pixel_size is None
    assert int(image.data.max()) > 255
    np.testing.assert_array_equal(image.data[0], original)


def test_8bit_png_reads_as_uint8(tmp_path: Path) -> None:
    original = _ramp((16, 20), "uint8")
    PILImage.fromarray(original).save(tmp_path / "a.PNG")
    image = read_image(tmp_path / "a.PNG")
    assert image.data.dtype == np.uint8
    assert image.metadata.axes == "YX"
    np.testing.assert_array_equal(image.data[0], original)


def test_rgb_png_is_refused_unless_a_channel_is_chosen(tmp_path: Path) -> None:
    rgb = _ramp((16, 16, 3), "uint8")
    PILImage.fromarray(rgb, mode="RGB").save(tmp_path / "color.png")
    with pytest.raises(InvalidImageError) as info:
        read_image(tmp_path / "color.png")
    assert "color.png is an RGB color image" in info.value.message
    assert "(16, 16, 3)" in info.value.message
    red = read_image(tmp_path / "color.png", channel=0)
    np.testing.assert_array_equal(red.data[0], rgb[..., 0])


def test_1bit_png_is_refused(tmp_path: Path) -> None:
    PILImage.new("1", (16, 16)).save(tmp_path / "mask.png")
    with pytest.raises(InvalidImageError, match="binary"):
        read_image(tmp_path / "mask.png")


# ----------------------------------------------------------------------------- bad files


def test_nan_and_inf_pixels_are_counted(tmp_path: Path) -> None:
    data = np.ones((2, 16, 16), np.float32)
    data[1, 1, 1] = np.nan
    data[1, 2, 2] = np.inf
    data[1, 3, 3] = -np.inf
    tifffile.imwrite(tmp_path / "bad.tif", data, photometric="minisblack")
    with pytest.raises(InvalidImageError) as info:
        read_image(tmp_path / "bad.tif")
    assert "bad.tif has 3 of 512 pixels that are not finite" in info.value.message
    assert "NaN" in info.value.hint

    frames = read_frames([tmp_path / "bad.tif"])
    np.testing.assert_array_equal(next(frames), data[0])
    with pytest.raises(InvalidImageError, match=r"Frame 1 of bad\.tif has 3 of 256"):
        next(frames)


def test_text_file_named_tif(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("these are not pixels\n")
    with pytest.raises(InvalidImageError, match=r"notes\.tif is not a TIFF or PNG image"):
        read_image(path)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InvalidImageError, match=r"empty\.png is empty \(0 bytes\)"):
        read_image(path)


def test_truncated_tiff_is_reported_as_damaged(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "full.tif", _ramp((64, 64), "uint16"))
    (tmp_path / "cut.tif").write_bytes((tmp_path / "full.tif").read_bytes()[:64])
    with pytest.raises(InvalidImageError, match=r"Cannot read cut\.tif"):
        read_image(tmp_path / "cut.tif")


def test_missing_file_folder_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError, match="file not found"):
        read_image(tmp_path / "nope.tif")
    with pytest.raises(InvalidImageError, match="is a folder"):
        read_image(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    with pytest.raises(InvalidImageError, match=r"photo\.jpg is not a TIFF or PNG.*\.jpg"):
        read_image(tmp_path / "photo.jpg")


def test_empty_and_tiny_images(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):  # tifffile warns about the nonconformant file
        tifffile.imwrite(tmp_path / "zero.tif", np.zeros((0, 16, 16), np.uint8))
    with pytest.raises(InvalidImageError, match="contains no pixels"):
        read_image(tmp_path / "zero.tif")
    tifffile.imwrite(tmp_path / "tiny.tif", np.zeros((7, 32), np.uint8))
    with pytest.raises(InvalidImageError, match=r"32×7 pixels.*at least 8×8"):
        read_image(tmp_path / "tiny.tif")
    tifffile.imwrite(tmp_path / "ok.tif", np.zeros((8, 8), np.uint8))
    assert read_image(tmp_path / "ok.tif").data.shape == (1, 8, 8)


def test_errors_always_carry_a_hint(tmp_path: Path) -> None:
    (tmp_path / "x.tif").write_text("nope")
    with pytest.raises(InvalidImageError) as info:
        read_image(tmp_path / "x.tif")
    assert info.value.hint
    assert str(info.value) == f"{info.value.message}\n{info.value.hint}"


# ----------------------------------------------------------------------------- read_frames


def test_read_frames_streams_stacks_and_single_images(tmp_path: Path) -> None:
    stack = _ramp((4, 16, 16), "uint16")
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    single = _ramp((16, 16), "uint16")[::-1].copy()
    PILImage.fromarray(single).save(tmp_path / "single.png")

    frames = read_frames([tmp_path / "stack.tif", tmp_path / "single.png"])
    first = next(frames)  # lazily, one at a time
    assert first.shape == (16, 16)
    assert first.dtype == np.uint16
    rest = list(frames)
    assert len(rest) == 4
    np.testing.assert_array_equal(np.stack([first, *rest[:3]]), stack)
    np.testing.assert_array_equal(rest[3], single)


def test_read_frames_reads_page_by_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = _ramp((2, 3, 1, 16, 16), "uint16")
    path = _imagej(tmp_path / "hyper.tif", stack, "TZCYX")

    def whole_series(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("the whole series was loaded")

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", whole_series)
    monkeypatch.setattr(tifffile.TiffFile, "asarray", whole_series)
    frames = list(read_frames([path]))
    np.testing.assert_array_equal(np.stack(frames), stack.reshape(6, 16, 16))


def test_read_frames_reads_contiguous_imagej_file_without_page_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ImageJ files over 4 GB store one IFD and contiguous data; truncate=True makes one.
    stack = _ramp((5, 16, 16), "float32")
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, stack, imagej=True, truncate=True, metadata={"axes": "TYX"})
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1

    def whole_series(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("the whole series was loaded")

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", whole_series)
    frames = list(read_frames([path]))
    assert all(f.dtype == np.float32 for f in frames)
    np.testing.assert_array_equal(np.stack(frames), stack)


def test_read_frames_mismatched_shapes_names_both(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((2, 16, 16), np.uint8))
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((20, 16), np.uint8))
    frames = read_frames([tmp_path / "a.tif", tmp_path / "b.tif"])
    with pytest.raises(InvalidImageError) as info:
        list(frames)
    message = info.value.message
    assert "b.tif" in message and "a.tif" in message
    assert "(20, 16)" in message and "(16, 16)" in message


def test_read_frames_checks_every_path_before_reading(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((16, 16), np.uint8))
    with pytest.raises(InvalidImageError, match="file not found"):
        read_frames([tmp_path / "a.tif", tmp_path / "missing.tif"])


def test_read_frames_refuses_multichannel(tmp_path: Path) -> None:
    path = _imagej(tmp_path / "c.tif", _ramp((2, 16, 16), "uint8"), "CYX")
    with pytest.raises(InvalidImageError, match="2 channels"):
        list(read_frames([path]))


# ----------------------------------------------------------------------------- writing


def test_write_default_is_float32(tmp_path: Path) -> None:
    data = _ramp((16, 16), "uint16")
    out = write_image(tmp_path / "f.tif", data)
    assert out == tmp_path / "f.tif"
    image = read_image(out)
    assert image.data.dtype == np.float32
    assert image.metadata.axes == "YX"
    np.testing.assert_array_equal(image.data[0], data.astype(np.float32))
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej


def test_write_input_dtype_rounds_and_clips(tmp_path: Path) -> None:
    data = np.zeros((16, 16), np.float32)
    data[0, :5] = [300.7, -3.0, 1.4, 1.6, 254.6]
    meta = ImageMetadata(axes="YX", source_dtype="uint8")
    out = write_image(tmp_path / "u8.tif", data, meta, dtype="input")
    image = read_image(out)
    assert image.data.dtype == np.uint8
    assert image.data[0, 0, :5].tolist() == [255, 0, 1, 2, 255]


def test_write_input_dtype_uint16_clips_negative_and_large(tmp_path: Path) -> None:
    data = np.zeros((8, 8), np.float64)
    data[0, :4] = [-0.4, 70000.0, 1234.5001, 65535.4]
    meta = ImageMetadata(axes="YX", source_dtype="uint16")
    image = read_image(write_image(tmp_path / "u16.tif", data, meta, dtype="input"))
    assert image.data.dtype == np.uint16
    assert image.data[0, 0, :4].tolist() == [0, 65535, 1235, 65535]


def test_pixel_size_unit_and_axes_round_trip(tmp_path: Path) -> None:
    meta = ImageMetadata(axes="ZYX", source_dtype="uint16", pixel_size=(0.2, 0.1), unit="µm")
    data = _ramp((3, 16, 24), "float32")
    image = read_image(write_image(tmp_path / "cal.tif", data, meta))
    assert image.metadata.axes == "ZYX"
    assert image.metadata.pixel_size == pytest.approx((0.2, 0.1), rel=1e-6)
    assert image.metadata.unit == "micron"
    np.testing.assert_array_equal(image.data, data)

    # Metadata read from a file is carried over to a result.
    result = read_image(write_image(tmp_path / "result.tif", image.data * 2, image.metadata))
    assert result.metadata.axes == "ZYX"
    assert result.metadata.pixel_size == pytest.approx((0.2, 0.1), rel=1e-6)
    assert result.metadata.unit == "micron"


def test_axes_fall_back_when_metadata_does_not_match(tmp_path: Path) -> None:
    meta = ImageMetadata(axes="YX", source_dtype="uint8")
    stack = read_image(write_image(tmp_path / "t.tif", np.zeros((2, 16, 16)), meta))
    assert stack.metadata.axes == "TYX"
    assert stack.frames == 2
    one = read_image(write_image(tmp_path / "one.tif", np.zeros((1, 16, 16)), meta))
    assert one.metadata.axes == "YX"


@pytest.mark.parametrize("dtype", ["int32", "uint32", "float64", "int8"])
def test_non_imagej_dtypes_are_written_as_plain_tiff(tmp_path: Path, dtype: str) -> None:
    meta = ImageMetadata(axes="TYX", source_dtype=dtype, pixel_size=(0.5, 0.5), unit="micron")
    data = np.full((2, 16, 16), -7.2)
    image = read_image(write_image(tmp_path / "x.tif", data, meta, dtype="input"))
    assert image.metadata.source_dtype == dtype
    assert image.metadata.axes == "TYX"
    assert image.metadata.pixel_size == pytest.approx((0.5, 0.5))
    assert image.metadata.unit == "micron"
    expected = -7.2 if dtype == "float64" else (0 if dtype.startswith("u") else -7)
    assert float(image.data[1, 3, 3]) == pytest.approx(expected)


def test_write_creates_parent_folders_and_replaces(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "c.tif"
    write_image(out, np.zeros((16, 16)))
    write_image(out, np.ones((16, 16)))
    assert read_image(out).data.max() == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["c.tif"]


def test_failed_write_leaves_destination_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "result.tif"
    write_image(out, np.full((16, 16), 5.0))
    before = out.read_bytes()

    def disk_full(target: object, *args: object, **kwargs: object) -> None:
        target.write(b"partial")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", disk_full)
    with pytest.raises(OutputError) as info:
        write_image(out, np.zeros((16, 16)))
    assert "disk is full" in info.value.message
    assert "result.tif" in info.value.message
    assert info.value.hint
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.tif"]


def test_permission_error_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tifffile, "imwrite", denied)
    with pytest.raises(OutputError, match=f"Cannot write to folder {tmp_path}"):
        write_image(tmp_path / "x.tif", np.zeros((16, 16)))
    assert list(tmp_path.iterdir()) == []


def test_read_only_file_system_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tifffile, "imwrite", read_only)
    with pytest.raises(OutputError, match="Cannot write to folder"):
        write_image(tmp_path / "x.tif", np.zeros((16, 16)))


def test_parent_that_is_a_file_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    for out in (blocker / "x.tif", blocker / "sub" / "x.tif"):
        with pytest.raises(OutputError, match="Cannot write to folder"):
            write_image(out, np.zeros((16, 16)))
    assert blocker.read_text() == "x"


def test_protect_refuses_to_overwrite_an_input(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, _ramp((16, 16), "uint16"))
    before = src.read_bytes()
    same = tmp_path / "sub" / ".." / "in.tif"
    with pytest.raises(OutputError) as info:
        write_image(same, np.zeros((16, 16)), protect=[src])
    assert "overwrite the input" in info.value.message
    assert "another output folder" in info.value.hint
    assert src.read_bytes() == before
    # Other paths are fine.
    write_image(tmp_path / "out.tif", np.zeros((16, 16)), protect=[str(src)])


def test_protect_follows_symlinks(tmp_path: Path) -> None:
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.zeros((16, 16), np.uint8))
    link = tmp_path / "link.tif"
    link.symlink_to(src)
    with pytest.raises(OutputError):
        write_image(link, np.zeros((16, 16)), protect=[src])


def test_write_refuses_non_tiff_names_and_folders(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"\.tif"):
        write_image(tmp_path / "out.png", np.zeros((16, 16)))
    (tmp_path / "dir.tif").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        write_image(tmp_path / "dir.tif", np.zeros((16, 16)))


def test_image_requires_three_dimensions() -> None:
    with pytest.raises(ValueError, match="frames, Y, X"):
        Image(np.zeros((16, 16)), ImageMetadata(axes="YX", source_dtype="uint8"))


# ----------------------------------------------------------------------------- list_images


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_list_images_nested_folders(tmp_path: Path) -> None:
    root = tmp_path / "data"
    expected = [
        _touch(root / "img2.tif"),
        _touch(root / "img10.TIFF"),
        _touch(root / "a" / "b" / "deep.png"),
        _touch(root / "a" / "mid.tif"),
    ]
    _touch(root / "notes.txt")
    _touch(root / "a" / "result.csv")
    _touch(root / "._img2.tif")  # macOS resource fork
    _touch(root / ".cache" / "hidden.tif")

    found = list_images([root])
    assert set(found) == set(expected)
    assert found == [
        root / "a" / "b" / "deep.png",
        root / "a" / "mid.tif",
        root / "img2.tif",
        root / "img10.TIFF",
    ]
    assert list_images([root], recursive=False) == [root / "img2.tif", root / "img10.TIFF"]


def test_list_images_deduplicates(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.tif")
    _touch(tmp_path / "b.png")
    found = list_images([a, tmp_path, str(tmp_path / "." / "a.tif")])
    assert found == [a, tmp_path / "b.png"]


def test_list_images_errors(tmp_path: Path) -> None:
    _touch(tmp_path / "photo.jpg")
    with pytest.raises(InvalidImageError, match=r"photo\.jpg is not a TIFF or PNG"):
        list_images([tmp_path / "photo.jpg"])
    (tmp_path / "empty").mkdir()
    _touch(tmp_path / "empty" / "readme.txt")
    with pytest.raises(InvalidImageError, match=r"contains no \.tif, \.tiff or \.png images"):
        list_images([tmp_path / "empty"])
    with pytest.raises(InvalidImageError, match="not found"):
        list_images([tmp_path / "missing"])
