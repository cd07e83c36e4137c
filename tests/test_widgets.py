"""Tests for course_lib.widgets: the explorer reacts to its sliders; static figure."""

import matplotlib

matplotlib.use("Agg")

import io

import keras
import numpy as np
import pytest
from PIL import Image

from course_lib import widgets


def linear_generator(latent_dim=3):
    """Image = tanh of a fixed linear map of z, so pixels can be predicted exactly."""
    z = keras.Input((latent_dim,))
    dense = keras.layers.Dense(28 * 28, activation="tanh", use_bias=False)
    x = keras.layers.Reshape((28, 28, 1))(dense(z))
    model = keras.Model(z, x)
    kernel = np.zeros((latent_dim, 28 * 28), np.float32)
    kernel[0, :] = 1.0  # every pixel equals tanh(z[0])
    dense.set_weights([kernel])
    return model


def png_pixels(value):
    return np.asarray(Image.open(io.BytesIO(value)).convert("L"))


def test_slider_moves_the_image_as_predicted():
    widget, figure = widgets.latent_explorer(linear_generator(), sliders=2, seed=4)
    sliders = widget.children[0].children
    picture = widget.children[1]
    sliders[1].value = 1.0
    expected = np.round((np.tanh(1.0) + 1) / 2 * 255)
    assert png_pixels(picture.value).shape == (28 * widgets.IMAGE_SCALE,) * 2
    assert abs(int(png_pixels(picture.value)[0, 0]) - expected) <= 1
    sliders[1].value = -2.0
    expected = np.round((np.tanh(-2.0) + 1) / 2 * 255)
    assert abs(int(png_pixels(picture.value)[0, 0]) - expected) <= 1
    assert figure is not None and figure.get_size_inches()[0] <= 10


def test_seed_slider_resets_coordinates_to_that_seeds_latent():
    widget, _ = widgets.latent_explorer(
        linear_generator(), sliders=1, show_static=False
    )
    seed_slider, coordinate = widget.children[0].children
    seed_slider.value = 7
    expected = np.round(widgets.base_latent(3, 7)[0], 1)
    assert coordinate.value == pytest.approx(float(np.clip(expected, -3, 3)))


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="sliders"):
        widgets.latent_explorer(linear_generator(), sliders=5)
    with pytest.raises(ValueError, match="latent_dim"):
        widgets.base_latent(0, 1)


def cluster_generator(latent_dim=5, clusters=2):
    """Every pixel = tanh(2 * one-hot[1] - 1): black for cluster 0, white for 1."""
    z = keras.Input((latent_dim,))
    dense = keras.layers.Dense(28 * 28, activation="tanh")
    x = keras.layers.Reshape((28, 28, 1))(dense(z))
    model = keras.Model(z, x)
    kernel = np.zeros((latent_dim, 28 * 28), np.float32)
    kernel[latent_dim - clusters + 1, :] = 2.0
    dense.set_weights([kernel, -np.ones(28 * 28, np.float32)])
    return model


def test_cluster_slider_sets_the_one_hot_part():
    widget, figure = widgets.latent_explorer(cluster_generator(), sliders=2, clusters=2)
    seed_slider, cluster_slider, *coordinates = widget.children[0].children
    picture = widget.children[1]
    assert len(coordinates) == 2
    expected_0 = np.round((np.tanh(-1.0) + 1) / 2 * 255)
    assert abs(int(png_pixels(picture.value)[0, 0]) - expected_0) <= 1
    cluster_slider.value = 1
    expected_1 = np.round((np.tanh(1.0) + 1) / 2 * 255)
    assert abs(int(png_pixels(picture.value)[0, 0]) - expected_1) <= 1
    latent = widgets.base_latent(5, 3, clusters=2, cluster=1)
    np.testing.assert_array_equal(latent[3:], [0.0, 1.0])
    np.testing.assert_array_equal(latent[:3], widgets.base_latent(3, 3))
    assert figure is not None  # the cluster sweep
    with pytest.raises(ValueError, match="sliders"):
        widgets.latent_explorer(cluster_generator(), sliders=4, clusters=2)


def test_2d_explorer_draws_the_decoder_means_at_the_sliders():
    def decode_means(latent):
        # Every pixel is sigmoid(z[0]), so the picture can be predicted.
        means = 1.0 / (1.0 + np.exp(-np.asarray(latent, np.float64)[:, 0]))
        return np.broadcast_to(means[:, None, None, None], (len(latent), 28, 28, 1))

    widget, static = widgets.latent_2d_explorer(decode_means)
    sliders, picture = widget.children[0].children, widget.children[1]
    before = picture.value
    assert abs(int(png_pixels(before)[0, 0]) - 128) <= 1  # sigmoid(0) = 0.5
    sliders[0].value = 2.5
    assert picture.value != before and static is not None
    expected = np.round(255 / (1 + np.exp(-2.5)))
    assert abs(int(png_pixels(picture.value)[0, 0]) - expected) <= 1
    with pytest.raises(ValueError, match="limit"):
        widgets.latent_2d_explorer(decode_means, limit=0)
