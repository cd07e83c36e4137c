"""Tests for course_lib.bench_suite: BN folding, the reference loop, FLOPs.

Nothing here is timed; results are built by hand.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np

from course_lib import bench_suite, models


def test_folded_generator_matches_keras_in_float32():
    generator = models.dcgan_generator(latent_dim=8)
    rng = np.random.default_rng(0)
    for layer in generator.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, size),
                    rng.normal(0, 0.1, size),
                    rng.normal(0, 0.1, size),
                    rng.uniform(0.5, 2.0, size),
                ]
            )
    z = rng.standard_normal((3, 8)).astype(np.float32)
    expected = generator(z, training=False).numpy()
    folded = bench_suite.folded_sampler(generator, "float32")(z).numpy()
    np.testing.assert_allclose(folded, expected, atol=1e-5)
    reduced = bench_suite.folded_sampler(generator, "bfloat16")(z).numpy()
    assert np.abs(reduced - expected).max() < 0.05


def test_generator_in_policy_copies_weights():
    generator = models.dcgan_generator(latent_dim=8)
    copy_bf16 = bench_suite.generator_in_policy(generator, "mixed_bfloat16")
    assert copy_bf16.layers[1].compute_dtype == "bfloat16"
    for a, b in zip(generator.get_weights(), copy_bf16.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_reference_step_updates_both_networks():
    generator = models.dcgan_generator(latent_dim=8)
    discriminator = models.dcgan_discriminator()
    before_g = generator.get_weights()[0].copy()
    before_d = discriminator.get_weights()[0].copy()
    step = bench_suite.reference_train_step(generator, discriminator)
    images = np.zeros((4, 28, 28, 1), np.float32)
    gen_loss, disc_loss = step(images)
    assert np.isfinite(gen_loss.numpy()) and np.isfinite(disc_loss.numpy())
    assert not np.array_equal(before_g, generator.get_weights()[0])
    assert not np.array_equal(before_d, discriminator.get_weights()[0])


def test_training_flops_formula_by_hand():
    generator = models.dcgan_generator(latent_dim=100)
    discriminator = models.dcgan_discriminator()
    g = 2 * (100 * 12544 + 49 * 256 * 25 * 128 + 49 * 128 * 25 * 64 + 196 * 64 * 25)
    d = 2 * (196 * 64 * 25 * 1 + 49 * 128 * 25 * 64 + 6272)
    assert bench_suite.training_flops_per_image(generator, discriminator) == 3 * (
        g + 2 * d
    )


def test_sampling_methods_skip_duplicates_and_slow_float16():
    batches = (1, 64, 256)
    at_one = bench_suite.sampling_methods(1, batches)
    at_top = bench_suite.sampling_methods(256, batches)
    assert "predict, batched" not in at_one
    assert "tf.function, float16" not in at_one
    assert "tf.function, float16" in at_top
    assert bench_suite.SAMPLING_METHODS[0] not in at_top
    assert bench_suite.FOLDED_METHOD in at_one and bench_suite.FOLDED_METHOD in at_top
