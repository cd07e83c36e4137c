"""Tests for course_lib.bench.sampling_speed: BN folding, policies, the methods.

Nothing here is timed; the oracle is the Keras generator itself.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest

from course_lib import models
from course_lib.bench import flops, sampling_speed


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
    folded = sampling_speed.folded_sampler(generator, "float32")(z).numpy()
    np.testing.assert_allclose(folded, expected, atol=1e-5)
    reduced = sampling_speed.folded_sampler(generator, "bfloat16")(z).numpy()
    assert np.abs(reduced - expected).max() < 0.05


def test_generator_in_policy_copies_weights():
    generator = models.dcgan_generator(latent_dim=8)
    copy_bf16 = sampling_speed.generator_in_policy(generator, "mixed_bfloat16")
    assert copy_bf16.layers[1].compute_dtype == "bfloat16"
    for a, b in zip(generator.get_weights(), copy_bf16.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_sampling_methods_skip_duplicates_and_slow_float16():
    batches = (1, 64, 256)
    at_one = sampling_speed.sampling_methods(1, batches)
    at_top = sampling_speed.sampling_methods(256, batches)
    assert "predict, batched" not in at_one
    assert "tf.function, float16" not in at_one
    assert "tf.function, float16" in at_top
    assert sampling_speed.SAMPLING_METHODS[0] not in at_top
    assert (
        sampling_speed.FOLDED_METHOD in at_one
        and sampling_speed.FOLDED_METHOD in at_top
    )


def test_fold_generator_stages_follow_the_layers():
    generator = models.dcgan_generator(latent_dim=8)
    stages = sampling_speed.fold_generator(generator)
    assert [stage["kind"] for stage in stages] == ["dense"] + ["conv_transpose"] * 3
    assert stages[-1]["activation"] == ("tanh", None)
    assert stages[0]["activation"][0] == "leaky_relu"
    assert stages[-1]["output_shape"] == (28, 28, 1)


def test_fold_generator_rejects_other_models():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.1)])
    with pytest.raises(ValueError, match="DCGAN"):
        sampling_speed.fold_generator(model)


def test_latents_are_fixed_standard_normal():
    z = sampling_speed.latents(4, latent_dim=3, seed=7).numpy()
    expected = np.random.default_rng(7).standard_normal((4, 3), np.float32)
    np.testing.assert_array_equal(z, expected)


@pytest.mark.parametrize("method", sampling_speed.SAMPLING_METHODS)
def test_sampling_workload_makes_images(method):
    generator = models.dcgan_generator(latent_dim=sampling_speed.LATENT_DIM)
    workload = sampling_speed.sampling_workload(generator, method, 2)
    expected_items = 1 if method == sampling_speed.SAMPLING_METHODS[0] else 2
    assert workload.items_per_call == expected_items
    assert workload.flops_per_item == flops.count_flops(generator)["total"]
    images = np.asarray(workload.function())
    assert images.shape == (expected_items, 28, 28, 1)


def test_sampling_workload_rejects_unknown_method():
    generator = models.dcgan_generator(latent_dim=sampling_speed.LATENT_DIM)
    with pytest.raises(ValueError, match="Unknown method"):
        sampling_speed.sampling_workload(generator, "pytorch", 2)


def test_sampling_workload_rejects_a_generator_not_in_float32():
    # What shipped.load returns on a CPU with AMX: its "float32" rows would run bf16.
    generator = models.dcgan_generator(latent_dim=sampling_speed.LATENT_DIM)
    in_bfloat16 = sampling_speed.generator_in_policy(generator, "mixed_bfloat16")
    with pytest.raises(ValueError, match="generator_in_policy"):
        sampling_speed.sampling_workload(in_bfloat16, "tf.function", 2)
    copy = sampling_speed.generator_in_policy(in_bfloat16, "float32")
    assert sampling_speed.sampling_workload(copy, "tf.function", 2).items_per_call == 2
