"""Tests for course_lib.bench.training_speed: the reference step and the dataset.

Nothing here is timed; the checks are weight updates, shapes and FLOP counts.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np

from course_lib import models
from course_lib.bench import flops, training_speed


def test_reference_step_updates_both_networks():
    generator = models.dcgan_generator(latent_dim=8)
    discriminator = models.dcgan_discriminator()
    before_g = generator.get_weights()[0].copy()
    before_d = discriminator.get_weights()[0].copy()
    step = training_speed.reference_train_step(generator, discriminator)
    images = np.zeros((4, 28, 28, 1), np.float32)
    gen_loss, disc_loss = step(images)
    assert np.isfinite(gen_loss.numpy()) and np.isfinite(disc_loss.numpy())
    assert not np.array_equal(before_g, generator.get_weights()[0])
    assert not np.array_equal(before_d, discriminator.get_weights()[0])


def test_image_dataset_scales_to_minus_one_one():
    images = np.array([[0] * 784, [255] * 784], np.uint8).reshape(2, 28, 28)
    for from_uint8 in (True, False):
        dataset = training_speed.image_dataset(images, 2, from_uint8=from_uint8)
        batch = next(iter(dataset)).numpy()
        assert batch.shape == (2, 28, 28, 1) and batch.dtype == np.float32
        assert sorted(np.unique(batch)) == [-1.0, 1.0]


def test_reference_workload_counts_images_and_tutorial_flops():
    images = np.zeros((8, 28, 28), np.uint8)
    workload = training_speed.reference_workload(images, 4, 2, "ref")
    assert workload.items_per_call == 8
    expected = flops.training_flops_per_image(
        models.dcgan_generator(), models.dcgan_discriminator(), "tutorial"
    )
    assert workload.flops_per_item == expected


def test_step_loop_runs_build_gans_own_step_and_counts_its_flops():
    images = np.zeros((8, 28, 28), np.uint8)
    workload = training_speed.step_loop_workload(
        images, 4, 2, "loop", precision="float32", seed=0
    )
    assert workload.items_per_call == 8
    assert workload.settings["precision"] == "float32"
    metrics = workload.function()  # two steps of GAN.train_step
    assert set(metrics) >= {"d_loss", "g_loss"}
    assert all(np.isfinite(float(value)) for value in metrics.values())
    expected = flops.training_flops_per_image(
        models.dcgan_generator(), models.dcgan_discriminator(), "one_pass"
    )
    assert workload.flops_per_item == expected
    assert training_speed.LOOPS[-1] == "build_gan fp32 step loop"
