"""Tests for course_lib.models: DCGAN shapes, sizes and input checks."""

import numpy as np
import pytest

from course_lib import models


def test_generator_shape_range_and_parameter_count():
    generator = models.dcgan_generator(latent_dim=100)
    images = np.asarray(generator(np.zeros((2, 100), np.float32)))
    assert images.shape == (2, 28, 28, 1)
    assert np.all(np.abs(images) <= 1.0)
    # Dense (no bias) + BN(4 per unit) + ConvT 256->128, 128->64, 64->1 (no bias)
    # + BN on 128 and 64 channels, counted by hand.
    expected = 100 * 12544 + 4 * 12544 + 25 * 256 * 128 + 4 * 128 + 25 * 128 * 64
    expected += 4 * 64 + 25 * 64
    assert generator.count_params() == expected


def test_discriminator_shape_and_parameter_count():
    discriminator = models.dcgan_discriminator()
    logits = np.asarray(discriminator(np.zeros((3, 28, 28, 1), np.float32)))
    assert logits.shape == (3, 1)
    expected = (25 * 64 + 64) + (25 * 64 * 128 + 128) + (7 * 7 * 128 + 1)
    assert discriminator.count_params() == expected


@pytest.mark.parametrize("latent_dim", [0, -1, 3.0, "100", None])
def test_bad_latent_dim_names_the_fix(latent_dim):
    with pytest.raises(ValueError, match="positive integer"):
        models.dcgan_generator(latent_dim=latent_dim)


def test_reexports_from_their_owning_modules():
    from course_lib import evaluation, training, vae

    assert models.mnist_classifier is evaluation.mnist_classifier
    assert models.vae_encoder is vae.vae_encoder
    assert models.vae_decoder is vae.vae_decoder
    assert training.VAE is vae.VAE and training.build_vae is vae.build_vae


def test_projection_discriminator_adds_the_embedding_dot_features():
    # logit(x, c) = w.h(x) + b + <E[c], h(x)>, rebuilt by hand from the weights.
    import keras

    discriminator = models.dcgan_discriminator(clusters=5)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    ids = np.array([0, 3, 4, 3])
    flatten = [x for x in discriminator.layers if isinstance(x, keras.layers.Flatten)]
    features_model = keras.Model(discriminator.inputs[0], flatten[0].output)
    h = np.asarray(features_model(images), np.float64)
    kernel, bias = discriminator.get_layer("logit").get_weights()
    table = discriminator.get_layer("cluster_embedding").get_weights()[0]
    expected = h @ kernel[:, 0] + bias[0] + np.sum(table[ids] * h, axis=1)
    logits = np.asarray(discriminator([images, ids], training=False))[:, 0]
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    # The plain head is the same network without the embedding.
    plain = models.dcgan_discriminator().count_params()
    assert discriminator.count_params() == plain + 5 * 7 * 7 * 128


@pytest.mark.parametrize("clusters", [1, -2, 100, 2.0, True])
def test_bad_cluster_count_names_the_fix(clusters):
    with pytest.raises(ValueError, match="clusters must be 0"):
        models.check_clusters(clusters, latent_dim=100)
