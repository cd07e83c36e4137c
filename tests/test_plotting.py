"""Tests for course_lib.plotting: pixel mapping, tiling, figure sizes, VAE figures."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

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


def _sigmoid_of_first_coordinate(latent):
    """A stand-in 2-D decoder: every pixel of image i is sigmoid(z_i[0])."""
    latent = np.asarray(latent, np.float64)
    means = 1.0 / (1.0 + np.exp(-latent[:, 0]))
    return np.broadcast_to(means[:, None, None, None], (len(latent), 28, 28, 1))


def test_normal_quantile_grid_matches_known_quantiles():
    values = plotting.normal_quantile_grid(3, 0.05, 0.95)
    # Phi^{-1}(0.05) = -1.6449, Phi^{-1}(0.5) = 0, Phi^{-1}(0.95) = 1.6449.
    np.testing.assert_allclose(values, [-1.644854, 0.0, 1.644854], atol=1e-5)


def test_vae_figures():
    import matplotlib.pyplot as plt

    figure = plotting.manifold_grid(_sigmoid_of_first_coordinate, steps=5)
    mosaic = figure.axes[0].images[0].get_array()
    assert mosaic.shape == (5 * 28, 5 * 28)
    # Column j shows z[0] = the j-th normal quantile, so its pixels are known.
    quantiles = plotting.normal_quantile_grid(5)
    expected = np.round(255 / (1 + np.exp(-quantiles)))
    np.testing.assert_allclose(mosaic[0, 14::28], expected, atol=1)
    latent = np.random.default_rng(0).normal(size=(30, 2))
    scatter = plotting.latent_scatter(latent, np.arange(30) % 10)
    assert len(scatter.axes[0].collections[0].get_offsets()) == 30
    with pytest.raises(ValueError, match="shape"):
        plotting.latent_scatter(np.zeros((5, 3)), np.zeros(5))
    images = np.random.default_rng(1).uniform(0, 1, (4, 28, 28, 1))
    rows = plotting.reconstructions_and_samples(images, images, images)
    assert len(rows.axes) == 12
    for made in (figure, scatter, rows):
        plt.close(made)
