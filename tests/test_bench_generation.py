"""Tests for course_lib.bench.generation: the family workloads' bookkeeping.

Nothing here is timed; the cost per image of each family is counted by hand from
the models' own FLOP counts.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest

from course_lib import models
from course_lib.bench import flops, generation, slow_samplers


@pytest.fixture(scope="module")
def families():
    workloads, parameters = generation.generation_cost_workloads(
        batch_size=4, denoising_steps=3, uncached_steps=2, cached_steps=7
    )
    return {workload.name: workload for workload in workloads}, parameters


def test_family_names_and_parameter_counts(families):
    by_name, parameters = families
    assert list(by_name) == [
        "GAN/VAE: one forward pass",
        "autoregressive, no cache",
        "autoregressive, KV cache",
        "denoiser, T=3",
        "autoregressive, KV cache, batch 1",
    ]
    assert set(parameters) == set(by_name)
    transformer = slow_samplers.PixelTransformer()
    assert parameters["autoregressive, KV cache"] == transformer.parameter_count()
    assert parameters["GAN/VAE: one forward pass"] == (
        models.dcgan_generator().count_params()
    )


def test_family_costs_per_image_by_hand(families):
    by_name, _ = families
    pixels = 28 * 28
    per_position = slow_samplers.PixelTransformer().flops_per_position()
    gan = by_name["GAN/VAE: one forward pass"]
    assert gan.items_per_call == 4
    assert gan.flops_per_item == flops.count_flops(models.dcgan_generator())["total"]
    uncached = by_name["autoregressive, no cache"]
    # Two of the 784 equal steps of 4 images: 4 * 2 / 784 images per call.
    assert uncached.items_per_call == pytest.approx(4 * 2 / pixels)
    assert uncached.flops_per_item == pixels * pixels * per_position
    cached = by_name["autoregressive, KV cache"]
    assert cached.items_per_call == pytest.approx(4 * 7 / pixels)
    assert cached.flops_per_item == pixels * per_position
    assert by_name["autoregressive, KV cache, batch 1"].items_per_call == (
        pytest.approx(7 / pixels)
    )
    denoiser = by_name["denoiser, T=3"]
    assert (
        denoiser.flops_per_item
        == 3 * flops.count_flops(slow_samplers.denoiser())["total"]
    )


def test_family_workloads_run(families):
    by_name, _ = families
    assert by_name["GAN/VAE: one forward pass"].function().shape == (4, 28, 28, 1)
    assert by_name["autoregressive, KV cache"].function().shape == (4, 7)
    assert by_name["denoiser, T=3"].function().shape == (4, 28, 28, 1)
