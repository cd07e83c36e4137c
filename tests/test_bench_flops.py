"""Tests for course_lib.bench.flops: layer counts and training-step FLOPs by hand.

The oracles are hand counts of multiply-adds and a NumPy brute-force count.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
from keras import layers

from course_lib import models, transformer
from course_lib.bench import flops

# The DCGAN's forward FLOPs per image, by hand (2 x multiply-adds per layer).
GENERATOR_BY_HAND = 2 * (
    100 * 7 * 7 * 256 + 49 * 256 * 25 * 128 + 49 * 128 * 25 * 64 + 196 * 64 * 25
)
DISCRIMINATOR_BY_HAND = 2 * (196 * 64 * 25 * 1 + 49 * 128 * 25 * 64 + 6272)


def test_flops_dense_by_hand():
    model = keras.Sequential([keras.Input((10,)), layers.Dense(7), layers.Dense(3)])
    # 2 * (10*7 + 7*3) = 182.
    assert flops.count_flops(model)["total"] == 182


def test_flops_conv2d_by_hand():
    image = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same")(image)  # 8x8 output
    x = layers.Conv2D(5, 3, strides=2, padding="valid")(x)  # 3x3 output
    model = keras.Model(image, x)
    first = 2 * 8 * 8 * 4 * 3 * 3 * 3
    second = 2 * 3 * 3 * 5 * 3 * 3 * 4
    counted = flops.count_flops(model)
    assert counted["total"] == first + second
    assert [row[2] for row in counted["layers"]] == [first, second]


def test_flops_conv2d_transpose_by_hand():
    z = keras.Input((4, 4, 6))
    x = layers.Conv2DTranspose(2, 5, strides=2, padding="same")(z)  # 8x8x2
    model = keras.Model(z, x)
    assert model.output.shape[1:] == (8, 8, 2)
    assert flops.count_flops(model)["total"] == 2 * 4 * 4 * 6 * 5 * 5 * 2


def test_flops_conv2d_transpose_equals_brute_force_multiplications():
    # Independent check: scatter every input pixel through the kernel in NumPy
    # and count the multiplications done.
    z = keras.Input((3, 3, 2))
    model = keras.Model(z, layers.Conv2DTranspose(4, 3, strides=2)(z))
    kernel_h, kernel_w, out_channels, in_channels = 3, 3, 4, 2
    multiplications = 0
    for _ in np.ndindex(3, 3, in_channels):
        multiplications += kernel_h * kernel_w * out_channels
    assert flops.count_flops(model)["total"] == 2 * multiplications


def test_flops_skip_other_layers_and_enter_nested_models():
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    outer_in = keras.Input((4,))
    x = layers.BatchNormalization()(outer_in)
    x = inner(layers.ReLU()(x))
    model = keras.Model(outer_in, x)
    assert flops.count_flops(model)["total"] == 2 * 4 * 2


def test_flops_dcgan_generator_by_hand():
    counted = flops.count_flops(models.dcgan_generator(latent_dim=100))
    assert counted["total"] == GENERATOR_BY_HAND
    dense = 2 * 100 * 7 * 7 * 256
    first = 2 * 7 * 7 * 256 * 5 * 5 * 128
    second = 2 * 7 * 7 * 128 * 5 * 5 * 64
    third = 2 * 14 * 14 * 64 * 5 * 5 * 1
    assert counted["total"] == dense + first + second + third


def test_flops_dcgan_discriminator_by_hand():
    counted = flops.count_flops(models.dcgan_discriminator())
    assert counted["total"] == DISCRIMINATOR_BY_HAND


def test_layer_flops_is_zero_for_element_wise_layers():
    model = keras.Sequential([keras.Input((4,)), layers.ReLU()])
    assert flops.layer_flops(model.layers[0]) == 0


def _tally(events):
    """Sum hand-listed passes: (network FLOPs, F multiples) per event."""
    return sum(cost * multiple for cost, multiple in events)


@pytest.fixture(scope="module")
def dcgan():
    return models.dcgan_generator(latent_dim=100), models.dcgan_discriminator()


def test_training_flops_tutorial_step_by_hand(dcgan):
    g, d = GENERATOR_BY_HAND, DISCRIMINATOR_BY_HAND
    # Forward F; backward 2F with weight gradients, F with input gradients only.
    events = [
        (g, 1),  # G forward makes the fakes
        (d, 2),  # D forward on the real and the fake batch
        (d, 2 * 2),  # D backward on both batches, for D's update
        (d, 1),  # D backward to the fakes only, for G's gradient
        (g, 2),  # G backward, for G's update
    ]
    assert _tally(events) == 3 * g + 7 * d
    assert flops.training_flops_per_image(*dcgan) == _tally(events)
    assert flops.training_flops_per_image(*dcgan, step="tutorial") == _tally(events)


def test_training_flops_course_steps_by_hand(dcgan):
    g, d = GENERATOR_BY_HAND, DISCRIMINATOR_BY_HAND
    d_update = [(g, 1), (d, 2), (d, 4)]
    g_update = [(d, 1), (d, 1), (g, 2)]  # updated D forward, D and G backward
    one_pass = _tally(d_update + g_update)
    two_pass = one_pass + g  # a second G forward pass on fresh noise
    assert flops.training_flops_per_image(*dcgan, step="one_pass") == one_pass
    assert flops.training_flops_per_image(*dcgan, step="two_pass") == two_pass
    tutorial = flops.training_flops_per_image(*dcgan)
    # F_G is about 5 F_D for the DCGAN, so one pass is about 23/22 of the
    # tutorial's work and two passes about 28/22.
    assert g / d == pytest.approx(5, rel=1e-3)
    assert one_pass / tutorial == pytest.approx(23 / 22, rel=1e-3)
    assert two_pass / tutorial == pytest.approx(28 / 22, rel=1e-3)
    assert round(one_pass / tutorial, 2) == 1.05
    assert round(two_pass / tutorial, 2) == 1.27


def test_training_flops_rejects_unknown_step(dcgan):
    with pytest.raises(ValueError, match="one_pass"):
        flops.training_flops_per_image(*dcgan, step="fresh noise")


def test_a_tiny_transformer_counts_its_dense_layers_and_attention_by_hand():
    model = transformer.build_transformer(
        vocab_size=5, output_size=3, length=4, width=8, depth=1, heads=2
    )
    length, width = 4, 8
    dense = 2 * length * (width * 3 * width + width * width + 2 * width * 4 * width)
    attention = 2 * 2 * length * length * width
    head = 2 * length * width * 3
    assert dense + attention + head == 6848
    assert flops.transformer_flops(model) == 6848


def test_a_model_without_blocks_is_refused_with_the_fix():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="build_transformer"):
        flops.transformer_flops(model)
