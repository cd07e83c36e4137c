"""Tests for course_lib.pixels: the one image validator, scaling, binarising and
the batch check every train_step uses."""

import numpy as np
import pytest
import tensorflow as tf

from course_lib import pixels


def test_scale_images_ranges_and_shape():
    images = np.array([[[0] * 28] * 28, [[255] * 28] * 28], dtype=np.uint8)
    symmetric = pixels.scale_images(images)
    unit = pixels.scale_images(images, "0,1")
    assert symmetric.shape == (2, 28, 28, 1) and symmetric.dtype == np.float32
    assert symmetric.min() == -1.0 and symmetric.max() == 1.0
    assert unit.min() == 0.0 and unit.max() == 1.0
    with pytest.raises(ValueError, match="value_range"):
        pixels.scale_images(images, "0,255")
    with pytest.raises(ValueError, match="uint8"):
        pixels.scale_images(images.astype(np.float32))


def test_wrong_shapes_get_a_clear_error():
    with pytest.raises(ValueError, match="Fix"):
        pixels.check_images(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="\\(n, 28, 28\\)"):
        pixels.scale_images(np.zeros((4, 32, 32), dtype=np.uint8))


def test_binarize_gives_zeros_and_ones():
    images = np.array([[[0, 127, 128, 255] * 7] * 28], dtype=np.uint8)
    binary = pixels.binarize(images)
    assert binary.shape == (1, 28, 28, 1) and binary.dtype == np.float32
    assert set(np.unique(binary).tolist()) == {0.0, 1.0}
    assert binary[0, 0, :4, 0].tolist() == [0.0, 0.0, 1.0, 1.0]
    np.testing.assert_array_equal(pixels.binarize(images / 255.0), binary)


def test_scaling_matches_the_arithmetic_written_out():
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    expected = images.astype(np.float64)[..., None] / 127.5 - 1.0
    np.testing.assert_allclose(pixels.scale_images(images), expected, atol=1e-6)
    np.testing.assert_allclose(
        pixels.scale_images(images, "0,1"), expected / 2 + 0.5, atol=1e-6
    )
    np.testing.assert_array_equal(
        pixels.binarize(images), (images[..., None] > 127.5).astype(np.float32)
    )


@pytest.mark.parametrize(
    "images, value_range, message",
    [
        (np.zeros((4, 28, 27), "uint8"), None, "shape"),
        (np.zeros((28, 28), "uint8"), None, "shape"),
        (np.zeros((4, 28, 28), "float32"), None, "value_range='0,1'"),
        (np.zeros((4, 28, 28), "int64"), None, "uint8"),
        (np.zeros((4, 28, 28), "uint8"), "0,1", "leave value_range=None"),
        (np.full((4, 28, 28), 3.0, "float32"), "0,1", "outside"),
        (np.full((4, 28, 28), -1.0, "float32"), "0,1", "outside"),
        (np.full((4, 28, 28), np.nan, "float32"), "0,1", "NaN"),
        (np.zeros((4, 28, 28), "float32"), "0,255", "value_range must be"),
        (np.zeros((0, 28, 28), "uint8"), None, "empty"),
    ],
)
def test_bad_images_raise_value_errors_that_name_the_fix(images, value_range, message):
    with pytest.raises(ValueError, match=message):
        pixels.to_unit_range(images, value_range)


def test_to_unit_range_maps_every_accepted_form_to_the_same_pixels():
    images = np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    expected = images.astype(np.float64)[..., None] / 255.0
    unit = images.astype(np.float32) / 255.0
    for given, value_range in [
        (images, None),
        (images[..., None], None),
        (unit, "0,1"),
        (unit * 2 - 1, "-1,1"),
        (tf.constant(unit * 2 - 1), "-1,1"),
    ]:
        result = pixels.to_unit_range(given, value_range)
        assert result.shape == (3, 28, 28, 1) and result.dtype == np.float32
        np.testing.assert_allclose(result, expected, atol=1e-6)
    # Round-off just outside the range is tolerated and clipped.
    nudged = pixels.to_unit_range(np.full((1, 28, 28), 1.0005, "float32"), "0,1")
    assert nudged.max() == 1.0


@pytest.mark.parametrize("value_range", pixels.VALUE_RANGES)
def test_check_batch_accepts_float_batches_and_names_the_fix(value_range):
    fix = "binarize" if value_range == "0,1" else "scale_images"
    pixels.check_batch(np.zeros((2, 28, 28, 1), "float32"), "M.fit", value_range)
    pixels.check_batch(tf.zeros((2, 28, 28, 1), "bfloat16"), "M.fit", value_range)
    with pytest.raises(ValueError, match=rf"M\.fit expects images of shape.*{fix}"):
        pixels.check_batch(np.zeros((2, 28, 28), "float32"), "M.fit", value_range)
    with pytest.raises(ValueError, match="shape.*fit\\(dataset\\)"):
        pixels.check_batch(np.zeros((2, 28, 28, 3), "float32"), "M.fit", value_range)
    with pytest.raises(ValueError, match=rf"dtype uint8\. Fix: .*{fix}"):
        pixels.check_batch(tf.zeros((2, 28, 28, 1), "uint8"), "M.fit", value_range)
