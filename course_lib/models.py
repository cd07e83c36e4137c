"""Every network of the course: the DCGAN's generator and discriminator, the VAE's
encoder and decoder, and the classifier that judges generated digits.

The DCGAN defaults follow the TensorFlow docs DCGAN tutorial, so that speed and
quality figures are comparable with it. The models that train these networks
live in ``gan``, ``vae`` and ``classifier``.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
from keras import layers

IMAGE_SHAPE = (28, 28, 1)
# Width of the VAE's dense layers.
VAE_HIDDEN_UNITS = 128
# The classifier layer whose outputs are the classifier-FID's feature space.
FEATURE_LAYER = "features"


def check_latent_dim(latent_dim) -> int:
    """Validate a latent size and return it as an ``int``.

    Args:
        latent_dim: The size of the latent vector z.

    Returns:
        ``latent_dim`` as a Python ``int``.

    Raises:
        ValueError: If it is not a positive integer; the message names the fix.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    if (
        isinstance(latent_dim, bool)
        or not isinstance(latent_dim, int | np.integer)
        or latent_dim <= 0
    ):
        raise ValueError(
            f"latent_dim must be a positive integer, got {latent_dim!r}. Fix: pass "
            "e.g. latent_dim=100 for the DCGAN, 16 for the VAE, or 2 to plot the "
            "VAE's latent space."
        )
    return int(latent_dim)


def _batch_norm() -> layers.BatchNormalization:
    """A batch-norm layer; on several replicas, with the global batch's statistics."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return layers.BatchNormalization(synchronized=replicas > 1)


def dcgan_generator(latent_dim: int = 100, name: str = "generator") -> keras.Model:
    """Build the DCGAN generator: a latent vector to a 28x28x1 image in [-1, 1].

    Dense 7*7*256 -> BatchNorm -> LeakyReLU, then transposed convolutions with
    128, 64 and 1 filters (5x5 kernels), ending in tanh.

    Args:
        latent_dim: Size of the latent vector z.
        name: The model's name.

    Returns:
        A ``keras.Model`` mapping (batch, latent_dim) to (batch, 28, 28, 1).
    """
    latent_dim = check_latent_dim(latent_dim)
    z = keras.Input(shape=(latent_dim,), name="z")
    x = layers.Dense(7 * 7 * 256, use_bias=False)(z)
    x = _batch_norm()(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Reshape((7, 7, 256))(x)
    x = layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False)(x)
    x = _batch_norm()(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False)(x)
    x = _batch_norm()(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False)(x)
    # The output layer stays float32 under mixed precision, for a stable tanh.
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(z, image, name=name)


def check_clusters(clusters, latent_dim: int) -> int:
    """Validate a number of clusters to condition on and return it as an ``int``.

    Args:
        clusters: 0 (no conditioning: the plain DCGAN) or the number of clusters;
            the last ``clusters`` entries of the latent vector are then a one-hot
            cluster id.
        latent_dim: The latent size the one-hot part belongs to.

    Returns:
        ``clusters`` as a Python ``int``.

    Raises:
        ValueError: If it is not 0 or an integer from 2 to ``latent_dim - 1``.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    if (
        isinstance(clusters, bool)
        or not isinstance(clusters, int | np.integer)
        or clusters < 0
        or clusters == 1
        or (clusters and clusters >= latent_dim)
    ):
        raise ValueError(
            f"clusters must be 0 (the plain DCGAN) or an integer from 2 to "
            f"latent_dim - 1 = {latent_dim - 1}, got {clusters!r}. Fix: pass e.g. "
            "clusters=20, or 0 for no conditioning."
        )
    return int(clusters)


def dcgan_discriminator(name: str = "discriminator", clusters: int = 0) -> keras.Model:
    """Build the DCGAN discriminator: a 28x28x1 image to one real/fake logit.

    Conv 64 and 128 filters (5x5, stride 2), each followed by LeakyReLU and
    Dropout 0.3, then a Dense layer giving one logit (no sigmoid: the losses work
    on logits for numerical stability).

    With ``clusters > 0`` it is a *projection discriminator* (Miyato and Koyama,
    2018): it also takes the cluster id c of each image and adds
    ``<embedding[c], features>`` to the logit, so that it judges "is this a real
    member of cluster c?" rather than only "is this real?".

    Args:
        name: The model's name.
        clusters: Number of cluster ids it is conditioned on (0: none).

    Returns:
        A ``keras.Model`` mapping (batch, 28, 28, 1) images, or
        ``[images, cluster_ids]`` with ids of shape (batch,), to (batch, 1) logits.
    """
    image = keras.Input(shape=IMAGE_SHAPE, name="image")
    x = layers.Conv2D(64, 5, strides=2, padding="same")(image)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(128, 5, strides=2, padding="same")(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    if not clusters:
        return keras.Model(image, logit, name=name)
    cluster_id = keras.Input(shape=(), dtype="int32", name="cluster_id")
    embedding = layers.Embedding(clusters, x.shape[-1], name="cluster_embedding")(
        cluster_id
    )
    projection = layers.Dot(axes=1, dtype="float32", name="projection")([x, embedding])
    logit = layers.Add(dtype="float32", name="conditional_logit")([logit, projection])
    return keras.Model([image, cluster_id], logit, name=name)


# ----------------------------------------------------------------- the VAE


def vae_encoder(latent_dim: int = 16, name: str = "encoder") -> keras.Model:
    """Build the encoder q(z|x): an image to the mean and log-variance of z.

    Conv 32 and 64 filters (3x3, stride 2, ReLU), a 128-unit dense layer, then two
    linear heads. The heads are float32 layers, so that ``exp(logvar)`` stays
    accurate under mixed precision.

    Args:
        latent_dim: Size of z (positive).
        name: The model's name.

    Returns:
        A ``keras.Model`` mapping (batch, 28, 28, 1) to ``[mean, logvar]``, each
        (batch, latent_dim).

    Introduced in notebooks/07_vae_training.ipynb.
    """
    latent_dim = check_latent_dim(latent_dim)
    image = keras.Input(shape=IMAGE_SHAPE, name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(VAE_HIDDEN_UNITS, activation="relu")(x)
    mean = layers.Dense(latent_dim, dtype="float32", name="mean")(x)
    logvar = layers.Dense(latent_dim, dtype="float32", name="logvar")(x)
    return keras.Model(image, [mean, logvar], name=name)


def vae_decoder(latent_dim: int = 16, name: str = "decoder") -> keras.Model:
    """Build the decoder p(x|z): a latent vector to Bernoulli logits per pixel.

    Dense 128 and 7*7*32 (ReLU), then transposed convolutions with 64 and 32
    filters (3x3, stride 2) and a 3x3 convolution to one channel of logits
    (float32, no sigmoid: the loss works on logits).

    Args:
        latent_dim: Size of z (positive).
        name: The model's name.

    Returns:
        A ``keras.Model`` mapping (batch, latent_dim) to (batch, 28, 28, 1) logits.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    latent_dim = check_latent_dim(latent_dim)
    z = keras.Input(shape=(latent_dim,), name="z")
    x = layers.Dense(VAE_HIDDEN_UNITS, activation="relu")(z)
    x = layers.Dense(7 * 7 * 32, activation="relu")(x)
    x = layers.Reshape((7, 7, 32))(x)
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)
    logits = layers.Conv2D(1, 3, padding="same", dtype="float32", name="logits")(x)
    return keras.Model(z, logits, name=name)


# ------------------------------------------------------- the evaluation classifier


def mnist_classifier(name: str = "mnist_classifier") -> keras.Model:
    """Build the small convnet that judges generated digits.

    Three 3x3 convolutions (32, 64, 64 filters), each followed by 2x2 max
    pooling, then a 128-unit ``features`` layer (the space in which
    :func:`classifier_fid` measures distances) and 10 logits.

    Args:
        name: The model's name.

    Returns:
        A ``keras.Model`` mapping float images in [0, 1] of shape
        (batch, 28, 28, 1) to (batch, 10) logits.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    image = keras.Input(shape=(28, 28, 1), name="image")
    x = image
    for index, filters in enumerate((32, 64, 64), start=1):
        x = layers.Conv2D(
            filters, 3, padding="same", activation="relu", name=f"conv{index}"
        )(x)
        x = layers.MaxPooling2D(name=f"pool{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    features = layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)
    x = layers.Dropout(0.3, name="dropout")(features)
    logits = layers.Dense(10, dtype="float32", name="logits")(x)
    return keras.Model(image, logits, name=name)
