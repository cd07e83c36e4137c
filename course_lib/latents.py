"""Latent vectors: fixed draws, the cluster one-hots of a conditioned GAN, paths.

A plain generator takes standard-normal noise. The course's shipped GAN is
conditioned on clusters: the last ``clusters`` entries of each latent vector are a
one-hot cluster id (see ``course_lib.gan``). Every function here builds that
layout, so no caller ever has to write it by hand.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_lib import models

# The seed of the fixed latents of the training sample grid.
GRID_SEED = 2024


def check_cluster_frequencies(frequencies, clusters: int):
    """Validate cluster frequencies; return them normalised, as a list (or ``None``).

    Args:
        frequencies: ``None`` (uniform) or ``clusters`` non-negative numbers with
            a positive sum.
        clusters: The number of clusters (0: none, and then ``frequencies``
            must be ``None``).

    Returns:
        A list of ``clusters`` floats summing to 1, or ``None`` without clusters.

    Raises:
        ValueError: On a wrong length, a negative or non-finite entry, or a zero sum.
    """
    if not clusters:
        if frequencies is not None:
            raise ValueError("cluster_frequencies need clusters > 0.")
        return None
    if frequencies is None:
        return [1.0 / clusters] * clusters
    values = np.asarray(frequencies, dtype=np.float64).reshape(-1)
    if (
        values.size != clusters
        or not np.all(np.isfinite(values))
        or np.any(values < 0)
        or values.sum() <= 0
    ):
        raise ValueError(
            f"cluster_frequencies must be {clusters} non-negative numbers with a "
            f"positive sum, got {np.asarray(frequencies).tolist()!r}. Fix: pass the "
            "frequencies that clusters.cluster_images returns."
        )
    return (values / values.sum()).tolist()


def attach_clusters(noise, clusters: int, cluster_ids) -> np.ndarray:
    """Append one-hot cluster ids to noise vectors: the conditioned GAN's latents.

    Args:
        noise: (count, latent_dim - clusters) noise vectors.
        clusters: The number of clusters.
        cluster_ids: One id per vector (or one id for all), in ``0 .. clusters-1``.

    Returns:
        float32 array of shape (count, latent_dim).
    """
    noise = np.asarray(noise, np.float32)
    ids = np.broadcast_to(np.asarray(cluster_ids), (len(noise),))
    if ids.size and (ids.min() < 0 or ids.max() >= clusters):
        raise ValueError(
            f"cluster ids must be integers in 0..{clusters - 1}, got {ids.tolist()}."
        )
    one_hot = np.eye(clusters, dtype=np.float32)[ids.astype(int)]
    return np.concatenate([noise, one_hot], axis=1)


def fixed_latents(
    count: int,
    latent_dim: int,
    seed: int = 0,
    clusters: int = 0,
    cluster_ids=None,
    frequencies=None,
) -> np.ndarray:
    """Return ``count`` latent vectors fixed by ``seed``.

    Standard normal; with ``clusters`` the last ``clusters`` entries are a
    one-hot cluster id instead, given by ``cluster_ids`` or drawn with
    ``frequencies`` (uniform when ``None``).

    Args:
        count: How many vectors.
        latent_dim: Their size.
        seed: NumPy seed (the same seed always gives the same vectors).
        clusters: Number of clusters of a conditioned GAN (0: none).
        cluster_ids: Optional id of each vector (an int or ``count`` ints).
        frequencies: How often each id is drawn when ``cluster_ids`` is ``None``.

    Returns:
        float32 array of shape (count, latent_dim).
    """
    models.check_latent_dim(latent_dim)
    clusters = models.check_clusters(clusters, latent_dim)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, latent_dim - clusters)).astype(np.float32)
    if not clusters:
        if cluster_ids is not None or frequencies is not None:
            raise ValueError("cluster_ids and frequencies need clusters > 0.")
        return noise
    if cluster_ids is None:
        probabilities = check_cluster_frequencies(frequencies, clusters)
        cluster_ids = rng.choice(clusters, size=count, p=probabilities)
    return attach_clusters(noise, clusters, cluster_ids)


def grid_latents(
    count: int = 16, latent_dim: int = 100, clusters: int = 0
) -> np.ndarray:
    """The fixed latents of the training sample grid (seed ``GRID_SEED``).

    With clusters, vector i asks for cluster ``i % clusters``, so that a grid
    shows as many different clusters as it has room for.
    """
    ids = np.arange(count) % clusters if clusters else None
    return fixed_latents(count, latent_dim, GRID_SEED, clusters, cluster_ids=ids)


def lerp(z0, z1, steps: int) -> np.ndarray:
    """Return ``(1 - t) z0 + t z1`` at ``steps`` evenly spaced t in [0, 1]."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1.0 - t) * z0 + t * z1).astype(np.float32)


def slerp(z0, z1, steps: int) -> np.ndarray:
    """Spherical interpolation along the great circle from ``z0`` to ``z1``.

    ``sin((1-t) theta)/sin(theta) z0 + sin(t theta)/sin(theta) z1`` where theta is
    the angle between them; it falls back to lerp when they are (anti)parallel.

    Args:
        z0: Start vector (latent_dim,).
        z1: End vector (latent_dim,).
        steps: Number of points, ends included.

    Returns:
        float32 array of shape (steps, latent_dim).

    Introduced in notebooks/05_gan_training.ipynb.
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    cosine = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
    theta = np.arccos(np.clip(cosine, -1.0, 1.0))
    if np.sin(theta) < 1e-6:
        return lerp(z0, z1, steps)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    path = (np.sin((1.0 - t) * theta) * z0 + np.sin(t * theta) * z1) / np.sin(theta)
    return path.astype(np.float32)


def sample_tensor(batch_size, latent_dim: int, clusters: int, frequencies, seed):
    """Draw latent vectors inside a graph, in the same layout as :func:`fixed_latents`.

    Args:
        batch_size: How many vectors (a tensor is fine).
        latent_dim: Their size.
        clusters: Number of clusters (0: plain noise).
        frequencies: How often each id is drawn (from
            :func:`check_cluster_frequencies`).
        seed: A ``keras.random.SeedGenerator``.

    Returns:
        A float32 tensor of shape (batch_size, latent_dim).
    """
    noise = keras.random.normal((batch_size, latent_dim - clusters), seed=seed)
    if not clusters:
        return noise
    log_frequencies = np.log(np.maximum(frequencies, 1e-30))
    ids = keras.random.categorical(
        tf.constant(log_frequencies[None], "float32"), batch_size, seed=seed
    )[0]
    return tf.concat([noise, tf.one_hot(ids, clusters, dtype=noise.dtype)], axis=-1)


def cluster_ids_of(z, clusters: int):
    """Return the cluster ids (batch,) held in latent vectors (``None`` without)."""
    if not clusters:
        return None
    return tf.argmax(z[:, -clusters:], axis=-1, output_type=tf.int32)
