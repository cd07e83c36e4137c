"""Tests for course_lib.plotting: pixel mapping, tiling, GIFs and figure sizes."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from course_lib import plotting


def test_to_uint8_maps_both_ranges():
    images = np.array([-1.0, 0.0, 1.0]).reshape(1, 1, 3, 1)
    np.testing.assert_array_equal(
        plotting.to_uint8(images, "-1,1")[0, 0], [0, 128, 255]
    )
    unit = np.array([0.0, 0.5, 1.0, 1.7]).reshape(1, 1, 4)
    np.testing.assert_array_equal(
        plotting.to_uint8(unit, "0,1")[0, 0], [0, 128, 255, 255]
    )
    with pytest.raises(ValueError, match="value_range"):
        plotting.to_uint8(unit, "0,255")
    with pytest.raises(ValueError, match="shape"):
        plotting.to_uint8(np.zeros((28, 28, 1, 1, 1)))


def test_tile_images_places_each_image_in_its_cell():
    images = np.stack([np.full((2, 3), value) for value in (0.0, 0.25, 0.5, 1.0, 0.75)])
    mosaic = plotting.tile_images(images, columns=2, value_range="0,1", pad=1)
    assert mosaic.shape == (3 * 3 + 1, 2 * 4 + 1)
    for index, value in enumerate((0.0, 0.25, 0.5, 1.0, 0.75)):
        row, column = divmod(index, 2)
        cell = mosaic[1 + 3 * row : 3 + 3 * row, 1 + 4 * column : 4 + 4 * column]
        assert np.all(cell == round(value * 255))
    assert np.all(mosaic[0] == 0) and np.all(mosaic[7:, 5:] == 0)  # border, empty cell


def test_write_gif_round_trip(tmp_path):
    frames = [np.full((5, 7), value, np.uint8) for value in (0, 120, 255)]
    path = plotting.write_gif(frames, tmp_path / "training.gif", scale=2)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        assert gif.size == (14, 10)
        gif.seek(2)
        assert np.asarray(gif.convert("L")).max() == 255
    with pytest.raises(ValueError, match="uint8"):
        plotting.write_gif([np.zeros((5, 7), np.float32)], tmp_path / "bad.gif")
    with pytest.raises(ValueError, match="at least one frame"):
        plotting.write_gif([], tmp_path / "empty.gif")


def test_figures_are_small():
    import matplotlib.pyplot as plt

    figures = [
        plotting.image_grid(np.zeros((16, 28, 28, 1)), columns=8, title="t"),
        plotting.loss_curves(
            {"d_loss": [1, 2], "g_loss": [2, 1], "D(x)": [0.5, 0.6]}, secondary=["D(x)"]
        ),
        plotting.interpolation_strips(
            {"lerp": np.zeros((9, 28, 28)), "slerp": np.zeros((9, 28, 28))}
        ),
        plotting.class_bars(np.arange(10), max_share=0.2),
    ]
    for figure in figures:
        width, height = figure.get_size_inches()
        assert width <= 10 and height <= 4 and figure.dpi <= 100
        plt.close(figure)


def test_gif_preview_keeps_first_and_last_frames(tmp_path):
    frames = [np.full((4, 6), 10 * value, np.uint8) for value in range(20)]
    path = plotting.write_gif(frames, tmp_path / "long.gif", scale=2)
    preview = tmp_path / "preview.gif"
    preview.write_bytes(plotting.gif_preview(path, max_frames=5, shrink=2))
    with Image.open(preview) as gif:
        assert gif.n_frames == 5 and gif.size == (6, 4)
        assert np.asarray(gif.convert("L"))[0, 0] == 0
        gif.seek(4)
        assert np.asarray(gif.convert("L"))[0, 0] == 190
