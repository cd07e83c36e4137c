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


def test_vae_encoder_and_decoder_shapes_and_parameter_counts():
    encoder, decoder = models.vae_encoder(16), models.vae_decoder(16)
    mean, logvar = encoder(np.zeros((5, 28, 28, 1), np.float32))
    assert mean.shape == (5, 16) and logvar.shape == (5, 16)
    logits = decoder(np.zeros((3, 16), np.float32))
    assert logits.shape == (3, 28, 28, 1)
    hidden = models.VAE_HIDDEN_UNITS
    # Conv 1->32 and 32->64 (3x3), Dense 7*7*64 -> hidden, two heads, counted by hand.
    expected = (9 * 32 + 32) + (9 * 32 * 64 + 64) + (7 * 7 * 64 * hidden + hidden)
    expected += 2 * (hidden * 16 + 16)
    assert encoder.count_params() == expected
    # Dense 16 -> hidden -> 7*7*32, ConvT 32->64 and 64->32, Conv 32->1 (3x3).
    expected = (16 * hidden + hidden) + (hidden * 7 * 7 * 32 + 7 * 7 * 32)
    expected += (9 * 32 * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 + 1)
    assert decoder.count_params() == expected


@pytest.mark.parametrize("build", [models.vae_encoder, models.vae_decoder])
@pytest.mark.parametrize("latent_dim", [0, 2.5, True, "16"])
def test_vae_networks_check_the_latent_dim(build, latent_dim):
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        build(latent_dim)


def test_classifier_gives_ten_logits_and_names_its_feature_layer():
    network = models.mnist_classifier()
    logits = network(np.zeros((2, 28, 28, 1), np.float32))
    assert logits.shape == (2, 10)
    assert network.get_layer(models.FEATURE_LAYER).output.shape[-1] == 128


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
