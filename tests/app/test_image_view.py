"""ImageView and CompareView: contrast, stacks, read-out, linked zoom and compare modes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from app.widgets.image_view import CompareView, ImageView, percentile_levels


def _ramp(shape: tuple[int, ...], offset: float = 0.0) -> np.ndarray:
    return (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + offset) / 7.0


@pytest.fixture
def image_view(qtbot) -> ImageView:
    view = ImageView("Input")
    qtbot.addWidget(view)
    view.resize(320, 300)
    view.show()
    qtbot.waitExposed(view)
    return view


@pytest.fixture
def compare(qtbot) -> CompareView:
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(640, 320)
    view.show()
    qtbot.waitExposed(view)
    return view


def _shown(view: ImageView) -> np.ndarray:
    return view.image_item.image


def test_percentile_levels_ignore_outliers_and_non_finite_values():
    data = np.arange(1000, dtype=np.float64)
    data[0], data[1] = np.nan, np.inf
    low, high = percentile_levels(data)
    assert 5 < low < 10
    assert 990 < high < 995
    assert percentile_levels(np.full((4, 4), 3.0)) == (2.5, 3.5)


def test_image_is_shown_with_percentile_contrast_y_down_and_no_slider(image_view):
    image = _ramp((30, 40))
    image_view.set_image(image)

    np.testing.assert_array_equal(_shown(image_view), image)
    assert image_view.levels == pytest.approx(percentile_levels(image))
    assert image_view.image_item.getLevels() == pytest.approx(image_view.levels)
    rect = image_view.image_item.mapRectToView(image_view.image_item.boundingRect())
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == (0, 0, 40, 30)  # x = column
    assert image_view.view_box.yInverted()
    assert image_view.view_box.state["aspectLocked"]
    assert image_view.title_label.text() == "Input"
    assert not image_view.frame_slider.isVisible()

    image_view.set_image(image, levels=(1.0, 2.0))
    assert image_view.image_item.getLevels() == pytest.approx((1.0, 2.0))


def test_stack_shows_a_frame_slider(image_view, qtbot):
    stack = _ramp((3, 20, 25))
    image_view.set_image(stack)

    assert image_view.frame_slider.isVisible()
    assert image_view.n_frames == 3
    with qtbot.waitSignal(image_view.frameChanged) as signal:
        image_view.set_frame(2)
    assert signal.args == [2]
    np.testing.assert_array_equal(_shown(image_view), stack[2])
    # the contrast spans the whole stack, not one frame
    assert image_view.levels == pytest.approx(percentile_levels(stack))

    image_view.set_image(stack[0])
    assert not image_view.frame_slider.isVisible()


def test_mouse_read_out_shows_pixel_position_and_value(image_view):
    image = np.arange(12 * 16, dtype=np.uint16).reshape(12, 16)
    image_view.set_image(image)
    scene = image_view.graphics.scene()
    box = image_view.view_box

    scene.sigMouseMoved.emit(box.mapViewToScene(QPointF(5.5, 3.5)))
    assert image_view.readout_label.text().split() == ["x", "5", "y", "3", "value", "53"]

    scene.sigMouseMoved.emit(box.mapViewToScene(QPointF(-2.0, 3.5)))
    assert image_view.readout_label.text() == ""


def test_zoom_is_kept_for_an_image_of_the_same_size(image_view):
    image_view.set_image(_ramp((40, 40)))
    image_view.view_box.setRange(xRange=(10, 20), yRange=(10, 20), padding=0)
    zoomed = image_view.view_box.viewRange()

    image_view.set_image(_ramp((40, 40), offset=3.0))
    np.testing.assert_allclose(image_view.view_box.viewRange(), zoomed)

    image_view.set_image(_ramp((80, 80)))
    (x0, x1), (y0, y1) = image_view.view_box.viewRange()
    assert min(x1 - x0, y1 - y0) == pytest.approx(80, abs=1)


def test_image_view_rejects_bad_shapes_and_clears(image_view):
    with pytest.raises(ValueError, match="shape"):
        image_view.set_image(np.zeros(5))
    image_view.set_image(_ramp((3, 10, 10)))
    image_view.clear()
    assert image_view.image is None
    assert _shown(image_view) is None
    assert not image_view.frame_slider.isVisible()


def test_side_by_side_views_pan_and_zoom_together(compare):
    before, after = _ramp((50, 60)), _ramp((50, 60), offset=100.0)
    compare.set_images(before, after)
    assert compare.mode == "Side by side"
    np.testing.assert_array_equal(_shown(compare.before_view), before)
    np.testing.assert_array_equal(_shown(compare.after_view), after)
    assert compare.before_view.title == "Noisy"
    assert compare.after_view.title == "Denoised"

    compare.before_view.view_box.scaleBy((0.5, 0.5))
    compare.before_view.view_box.translateBy((7.0, 3.0))
    np.testing.assert_allclose(
        compare.after_view.view_box.viewRange(), compare.before_view.view_box.viewRange()
    )
    compare.after_view.view_box.translateBy((-4.0, 2.0))
    np.testing.assert_allclose(
        compare.before_view.view_box.viewRange(), compare.after_view.view_box.viewRange()
    )


def test_same_contrast_uses_the_before_levels_until_unticked(compare):
    before, after = _ramp((20, 20)), _ramp((20, 20), offset=500.0)
    compare.set_images(before, after)
    assert compare.same_contrast.isChecked()
    assert compare.after_view.levels == pytest.approx(percentile_levels(before))

    compare.same_contrast.setChecked(False)
    assert compare.before_view.levels == pytest.approx(percentile_levels(before))
    assert compare.after_view.levels == pytest.approx(percentile_levels(after))


def test_toggle_flips_with_space_and_the_button(compare, qtbot):
    before, after = _ramp((20, 30)), _ramp((20, 30), offset=50.0)
    compare.set_images(before, after, before_title="Raw", after_title="PN2V")
    compare.set_mode("Toggle")

    assert compare.pages.currentWidget() is compare.single_view
    assert compare.toggle_button.isVisible()
    np.testing.assert_array_equal(_shown(compare.single_view), before)
    assert compare.single_view.title.startswith("Raw")

    qtbot.keyClick(compare, Qt.Key.Key_Space)
    assert compare.showing_after
    np.testing.assert_array_equal(_shown(compare.single_view), after)
    assert compare.single_view.title.startswith("PN2V")
    assert compare.toggle_button.text() == "Show Raw"

    qtbot.mouseClick(compare.toggle_button, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(_shown(compare.single_view), before)


def test_split_composes_before_left_and_after_right_of_the_line(compare):
    before = np.zeros((16, 40), dtype=np.uint16)
    after = np.full((16, 40), 9.5, dtype=np.float32)
    compare.set_images(before, after)
    compare.set_mode("Split")
    assert compare.split_position == 20  # starts in the middle
    assert compare.split_line.isVisible()
    assert not compare.same_contrast.isEnabled()

    compare.set_split_position(12.3)
    shown = _shown(compare.single_view)
    assert compare.split_position == 12
    np.testing.assert_array_equal(shown[:, :12], before[:, :12])
    np.testing.assert_array_equal(shown[:, 12:], after[:, 12:])

    compare.set_split_position(500)
    np.testing.assert_array_equal(_shown(compare.single_view), before)


def test_stacks_share_one_frame_slider_across_modes(compare):
    before, after = _ramp((4, 10, 12)), _ramp((4, 10, 12), offset=9.0)
    compare.set_images(before, after)
    assert compare.frame_slider.isVisible()
    assert not compare.before_view.frame_slider.isVisible()

    compare.set_frame(2)
    np.testing.assert_array_equal(_shown(compare.before_view), before[2])
    np.testing.assert_array_equal(_shown(compare.after_view), after[2])
    compare.set_mode("Toggle")
    compare.flip()
    np.testing.assert_array_equal(_shown(compare.single_view), after[2])

    compare.set_images(before[0], after[0])
    assert not compare.frame_slider.isVisible()


def test_mode_switch_keeps_the_zoom(compare, qtbot):
    compare.set_images(_ramp((60, 60)), _ramp((60, 60)))
    box = compare.before_view.view_box
    box.setRange(xRange=(20, 30), yRange=(20, 30), padding=0)
    centre = box.viewRect().center()

    compare.set_mode("Split")
    qtbot.wait(10)
    rect = compare.single_view.view_box.viewRect()
    assert (rect.center().x(), rect.center().y()) == pytest.approx((centre.x(), centre.y()))
    assert rect.height() < 30


def test_compare_rejects_mismatched_images_and_unknown_modes(compare):
    with pytest.raises(ValueError, match="shape"):
        compare.set_images(np.zeros((10, 10)), np.zeros((10, 12)))
    with pytest.raises(ValueError, match="mode"):
        compare.set_mode("Overlay")


def test_compare_clear_empties_every_view(compare):
    compare.set_images(_ramp((10, 10)), _ramp((10, 10)))
    compare.clear()
    for view in (compare.before_view, compare.after_view, compare.single_view):
        assert view.image is None
        assert _shown(view) is None
