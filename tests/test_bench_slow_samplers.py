"""Tests for course_lib.bench.slow_samplers: the cache gives the uncached answer."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest
import tensorflow as tf

from course_lib.bench import flops, slow_samplers


@pytest.fixture(scope="module")
def small_model():
    return slow_samplers.PixelTransformer(d_model=16, num_layers=2, num_heads=2)


def test_cached_logits_equal_full_forward(small_model):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 2, (2, slow_samplers.PIXELS)).astype(np.int32)
    tokens[:, 0] = slow_samplers.START_TOKEN
    full = small_model.forward(tf.constant(tokens)).numpy()
    caches = small_model.empty_caches(2)
    for position in range(6):
        logits, caches = small_model.step_with_cache(
            tf.constant(tokens[:, position]), tf.constant(position), caches
        )
        np.testing.assert_allclose(logits.numpy(), full[:, position], atol=1e-4)


def test_forward_is_causal(small_model):
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 2, (1, slow_samplers.PIXELS)).astype(np.int32)
    changed = tokens.copy()
    changed[0, 100:] = 1 - changed[0, 100:]
    a = small_model.forward(tf.constant(tokens)).numpy()
    b = small_model.forward(tf.constant(changed)).numpy()
    np.testing.assert_allclose(a[0, :100], b[0, :100], atol=1e-5)
    assert np.abs(a[0, 100:] - b[0, 100:]).max() > 1e-4


def test_step_without_cache_writes_next_token(small_model):
    tokens = tf.fill((3, slow_samplers.PIXELS), slow_samplers.START_TOKEN)
    new_tokens, pixel = small_model.step_without_cache(tokens, 4, tf.constant([1, 2]))
    new_tokens = new_tokens.numpy()
    assert set(np.unique(pixel.numpy())) <= {0, 1}
    np.testing.assert_array_equal(new_tokens[:, 5], pixel.numpy())
    assert (np.delete(new_tokens, 5, axis=1) == slow_samplers.START_TOKEN).all()


def test_cached_sampler_shapes(small_model):
    pixels = small_model.cached_sampler(steps=5)(tf.zeros((2,), tf.int32))
    assert pixels.shape == (2, 5)


def test_parameter_count_by_hand():
    model = slow_samplers.PixelTransformer(d_model=8, num_layers=1, num_heads=2)
    by_hand = 3 * 8 + 784 * 8 + 8 * 2 + (8 * 24 + 8 * 8 + 8 * 32 + 32 * 8)
    assert model.parameter_count() == by_hand


def test_denoiser_shape_and_flops():
    model = slow_samplers.denoiser(base_channels=4)
    assert model.output.shape[1:] == (28, 28, 1)
    c = 4
    by_hand = 2 * (
        28 * 28 * c * 9 * 1
        + 14 * 14 * 2 * c * 16 * c
        + 7 * 7 * 4 * c * 9 * 2 * c
        + 7 * 7 * 4 * c * 16 * 2 * c
        + 14 * 14 * 2 * c * 16 * c
        + 28 * 28 * 1 * 9 * c
    )
    assert flops.count_flops(model)["total"] == by_hand
    sample = slow_samplers.denoising_sampler(model, steps=3)
    assert sample(tf.zeros((2, 28, 28, 1))).shape == (2, 28, 28, 1)


def test_bad_heads_raise():
    with pytest.raises(ValueError):
        slow_samplers.PixelTransformer(d_model=10, num_heads=3)
