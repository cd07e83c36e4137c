"""Network architectures used across the course.

The DCGAN defaults follow the TensorFlow docs DCGAN tutorial, so that speed and
quality figures are comparable with it.

Introduced in notebooks/04_gan_training.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
from keras import layers

IMAGE_SHAPE = (28, 28, 1)


def check_latent_dim(latent_dim) -> int:
    """Validate a latent size and return it as an ``int``.

    Args:
        latent_dim: The size of the latent vector z.

    Returns:
        ``latent_dim`` as a Python ``int``.

    Raises:
        ValueError: If it is not a positive integer; the message names the fix.

    Introduced in notebooks/04_gan_training.ipynb.
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
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Reshape((7, 7, 256))(x)
    x = layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
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

    Introduced in notebooks/04_gan_training.ipynb.
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


# Re-exports, resolved on first use: the issue names these as part of ``models``;
# they are defined beside the code that trains them, which imports this module.
_REEXPORTS = {
    "mnist_classifier": "course_lib.evaluation",
    "vae_encoder": "course_lib.vae",
    "vae_decoder": "course_lib.vae",
}


def __getattr__(name: str):
    if name in _REEXPORTS:
        import importlib

        return getattr(importlib.import_module(_REEXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
