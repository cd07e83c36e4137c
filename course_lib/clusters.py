"""k-means clusters of images, found without labels, to condition the DCGAN on.

A generator fed only Gaussian noise must map one connected blob of latent space
onto ten separate digit shapes, so some of its samples land between shapes. The
course's GAN instead draws a cluster id c with the frequency its cluster has in
the training set, and G and D both see c (a simplified self-conditioned GAN,
Liu et al., 2020). The clusters come from k-means on the raw pixels; no labels
are used anywhere.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import numpy as np


def _check_features(features, k) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or not np.all(np.isfinite(features)):
        raise ValueError(
            f"features must be a finite 2-D array (points, dims), got shape "
            f"{features.shape}. Fix: flatten images with "
            "images.reshape(len(images), -1)."
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if k > len(features):
        raise ValueError(
            f"k = {k} clusters need at least {k} points, got {len(features)}. "
            "Fix: use fewer clusters or more images."
        )
    return features


def squared_distances(features, centres) -> np.ndarray:
    """Return the (points, k) matrix of squared Euclidean distances.

    Uses ``|x|^2 - 2 x.c + |c|^2``, so that memory stays (points, k) rather than
    (points, k, dims); tiny negatives from rounding are clipped to 0.
    """
    features = np.asarray(features, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    squared = (
        np.sum(features**2, axis=1)[:, None]
        - 2.0 * features @ centres.T
        + np.sum(centres**2, axis=1)[None, :]
    )
    return np.maximum(squared, 0.0)


def assign(features, centres) -> np.ndarray:
    """Return the index of each point's nearest centre, shape (points,)."""
    return np.argmin(squared_distances(features, centres), axis=1)


def kmeans(
    features, k: int, seed: int = 0, max_iterations: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding (Arthur and Vassilvitskii, 2007).

    Args:
        features: (points, dims) array.
        k: Number of clusters.
        seed: Seed of the k-means++ draws (the same seed gives the same clusters).
        max_iterations: Upper bound on assign / re-centre rounds.

    Returns:
        ``(labels, centres)``: (points,) ints in ``0 .. k-1`` and (k, dims).

    Raises:
        ValueError: For a non-2-D or non-finite array, or ``k`` outside
            ``1 .. points``.
    """
    features = _check_features(features, k)
    rng = np.random.default_rng(seed)
    centres = [features[rng.integers(len(features))]]
    nearest = squared_distances(features, np.array(centres))[:, 0]
    for _ in range(1, k):
        total = nearest.sum()
        # k-means++: a new centre with probability proportional to its squared
        # distance from the nearest chosen one (uniform if all points coincide).
        probabilities = nearest / total if total > 0 else None
        centres.append(features[rng.choice(len(features), p=probabilities)])
        nearest = np.minimum(
            nearest, squared_distances(features, centres[-1][None])[:, 0]
        )
    centres = np.array(centres)
    labels = assign(features, centres)
    for _ in range(max_iterations):
        for j in range(k):
            members = features[labels == j]
            if len(members):  # an emptied cluster keeps its old centre
                centres[j] = members.mean(axis=0)
        new_labels = assign(features, centres)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return labels, centres


def cluster_images(images, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cluster images by their pixels; return ids and each cluster's frequency.

    Args:
        images: (n, 28, 28, 1) or (n, 28, 28) array, any value range.
        k: Number of clusters.
        seed: The k-means seed.

    Returns:
        ``(cluster_ids, frequencies)``: (n,) int32, and (k,) float64 summing to 1.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(
            f"cluster_images expects a stack of images (n, 28, 28[, 1]), got shape "
            f"{images.shape}."
        )
    labels, _ = kmeans(images.reshape(len(images), -1), k, seed=seed)
    frequencies = np.bincount(labels, minlength=k) / len(labels)
    return labels.astype(np.int32), frequencies
