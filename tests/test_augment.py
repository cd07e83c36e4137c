"""Tests for course_lib.augment, against shifts and masks built in NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib import augment


def bright_batch(n=16, seed=0):
    # No pixel equals the background, so every shifted-in pixel is detectable.
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.9, 1.0, (n, 28, 28, 1)).astype(np.float32)


def numpy_shift(image, dy, dx):
    """Output (i, j) = input (i + dy, j + dx), background where that is outside."""
    out = np.full_like(image, augment.BACKGROUND)
    height, width = image.shape[:2]
    for i in range(height):
        for j in range(width):
            if 0 <= i + dy < height and 0 <= j + dx < width:
                out[i, j] = image[i + dy, j + dx]
    return out


def matching_shifts(image, result, max_shift):
    return [
        (dy, dx)
        for dy in range(-max_shift, max_shift + 1)
        for dx in range(-max_shift, max_shift + 1)
        if np.array_equal(numpy_shift(image, dy, dx), result)
    ]


def test_translate_is_a_whole_pixel_shift_within_the_limit():
    images = bright_batch()
    result = np.array(augment.translate(images, max_shift=3, seed=1))
    shifts = []
    for image, shifted in zip(images, result, strict=True):
        found = matching_shifts(image, shifted, 3)
        assert len(found) == 1
        shifts.append(found[0])
    # Sixteen draws from 49 offsets: more than one distinct shift must appear.
    assert len(set(shifts)) > 1


def test_translate_gradient_routes_back_to_the_source_pixel():
    images = bright_batch(4)
    weights = np.random.default_rng(2).normal(size=images.shape).astype(np.float32)
    x = tf.Variable(images)
    seed = 5
    with tf.GradientTape() as tape:
        result = augment.translate(x, max_shift=2, seed=seed)
        objective = tf.reduce_sum(result * weights)
    gradient = np.array(tape.gradient(objective, x))
    result = np.array(result)
    for k in range(len(images)):
        ((dy, dx),) = matching_shifts(images[k], result[k], 2)
        # d/d x[a, b] of sum_ij w[i, j] x[i + dy, j + dx] is w[a - dy, b - dx].
        expected = np.zeros_like(images[k])
        for a in range(28):
            for b in range(28):
                if 0 <= a - dy < 28 and 0 <= b - dx < 28:
                    expected[a, b] = weights[k, a - dy, b - dx]
        np.testing.assert_allclose(gradient[k], expected, rtol=1e-6)


def test_zero_shift_and_no_policy_return_the_input():
    images = bright_batch(2)
    np.testing.assert_array_equal(augment.translate(images, max_shift=0), images)
    assert augment.diff_augment(images, None) is images


def test_same_seed_gives_the_same_augmentation():
    images = bright_batch(8)
    first = augment.diff_augment(
        images, "translation", seed=keras.random.SeedGenerator(7)
    )
    second = augment.diff_augment(
        images, "translation", seed=keras.random.SeedGenerator(7)
    )
    np.testing.assert_array_equal(first, second)


def test_translation_policy_shifts_by_up_to_an_eighth_of_the_side():
    images = bright_batch(8)
    result = np.array(augment.diff_augment(images, "translation", seed=4))
    for image, shifted in zip(images, result, strict=True):
        # 28 // 8 = 3 pixels at most; exactly one whole-pixel shift fits.
        assert len(matching_shifts(image, shifted, 3)) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: augment.diff_augment(bright_batch(1), "colour"),
        lambda: augment.diff_augment(bright_batch(1), "translation,cutout"),
        lambda: augment.translate(bright_batch(1), max_shift=-1),
    ],
)
def test_bad_arguments_name_the_fix(call):
    with pytest.raises(ValueError):
        call()


def test_unknown_policy_lists_the_known_ones():
    assert augment.POLICIES == ("translation",)
    with pytest.raises(ValueError, match="Fix: use None.*'translation'"):
        augment.check_policy("cutout")
    assert augment.check_policy(None) is None
