"""Tests for course_lib.clusters: k-means on points whose grouping is known."""

import itertools

import numpy as np
import pytest

from course_lib import clusters


def blobs(seed=0, per=50, spread=0.3):
    """Three tight Gaussian blobs far apart, with the blob each point came from."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 5.0]])
    truth = np.repeat(np.arange(3), per)
    points = centres[truth] + spread * rng.standard_normal((3 * per, 3))
    order = rng.permutation(len(points))
    return points[order], truth[order]


def test_kmeans_recovers_well_separated_blobs_up_to_relabelling():
    points, truth = blobs()
    labels, centres = clusters.kmeans(points, 3, seed=1)
    # Some permutation of the found ids must equal the true blobs exactly.
    assert any(
        np.array_equal(np.array(perm)[labels], truth)
        for perm in itertools.permutations(range(3))
    )
    assert centres.shape == (3, 3)


def test_kmeans_ends_at_a_lloyd_fixed_point():
    # Independent of the implementation: every point is nearest its own centre
    # (brute-force distances), and every centre is the mean of its members.
    points = np.random.default_rng(3).uniform(size=(120, 4))
    labels, centres = clusters.kmeans(points, 5, seed=0)
    brute = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, brute.argmin(axis=1))
    for j in range(5):
        np.testing.assert_allclose(centres[j], points[labels == j].mean(axis=0))


def test_squared_distances_match_brute_force():
    rng = np.random.default_rng(4)
    x, c = rng.normal(size=(30, 6)), rng.normal(size=(7, 6))
    brute = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(clusters.squared_distances(x, c), brute, atol=1e-10)
    assert np.all(clusters.squared_distances(x, x) >= 0)


def test_same_seed_same_clusters_and_images_are_flattened():
    images = np.random.default_rng(5).uniform(size=(60, 28, 28, 1))
    a, freq_a = clusters.cluster_images(images, 4, seed=9)
    b, _ = clusters.cluster_images(images, 4, seed=9)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int32 and a.shape == (60,)
    np.testing.assert_allclose(freq_a, np.bincount(a, minlength=4) / 60)
    assert abs(freq_a.sum() - 1.0) < 1e-12


@pytest.mark.parametrize(
    "features, k, message",
    [
        (np.zeros((5, 2)), 6, "at least 6 points"),
        (np.zeros((5, 2)), 0, "positive integer"),
        (np.zeros(5), 2, "2-D"),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), 1, "finite"),
    ],
)
def test_bad_input_names_the_fix(features, k, message):
    with pytest.raises(ValueError, match=message):
        clusters.kmeans(features, k)


def test_cluster_images_rejects_a_flat_array():
    with pytest.raises(ValueError, match="stack of images"):
        clusters.cluster_images(np.zeros((10, 784)), 2)
