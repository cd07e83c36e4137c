"""Tests for course_lib.latents: fixed draws, cluster one-hots and latent paths."""

import keras
import numpy as np
import pytest

from course_lib import latents


def test_slerp_matches_closed_form_and_keeps_the_norm():
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    path = latents.slerp(e1, e2, 5)
    np.testing.assert_allclose(path[2], (e1 + e2) / np.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-6)
    angles = np.arctan2(path[:, 1], path[:, 0])
    np.testing.assert_allclose(angles, np.linspace(0, np.pi / 2, 5), atol=1e-6)
    lerp = latents.lerp(e1, e2, 5)
    np.testing.assert_allclose(lerp[2], [0.5, 0.5, 0.0], atol=1e-7)
    assert np.linalg.norm(lerp[2]) < 0.71  # lerp cuts through the low-norm interior


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    z = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(latents.slerp(z, 3 * z, 4), latents.lerp(z, 3 * z, 4))
    np.testing.assert_allclose(latents.lerp(z, 3 * z, 3)[1], 2 * z, atol=1e-6)


def test_fixed_latents_are_reproducible():
    a = latents.fixed_latents(4, 10, seed=3)
    np.testing.assert_array_equal(a, latents.fixed_latents(4, 10, seed=3))
    assert a.shape == (4, 10) and a.dtype == np.float32
    # Without clusters they are NumPy's standard normals for that seed.
    expected = np.random.default_rng(3).standard_normal((4, 10)).astype(np.float32)
    np.testing.assert_array_equal(a, expected)


def test_fixed_latents_with_clusters():
    z = latents.fixed_latents(500, 10, seed=1, clusters=4, frequencies=[0, 0, 1, 3])
    assert z.shape == (500, 10)
    ids = z[:, -4:].argmax(axis=1)
    np.testing.assert_array_equal(z[:, -4:].sum(axis=1), 1.0)
    assert set(ids) == {2, 3} and 0.65 < np.mean(ids == 3) < 0.85
    given = latents.fixed_latents(3, 10, seed=1, clusters=4, cluster_ids=[0, 1, 3])
    np.testing.assert_array_equal(given[:, -4:].argmax(axis=1), [0, 1, 3])
    np.testing.assert_array_equal(given[:, :6], latents.fixed_latents(3, 6, seed=1))
    with pytest.raises(ValueError, match="cluster ids"):
        latents.fixed_latents(2, 10, clusters=4, cluster_ids=[0, 4])
    with pytest.raises(ValueError, match="need clusters"):
        latents.fixed_latents(2, 10, cluster_ids=[0, 1])


def test_grid_latents_cycle_through_the_clusters_with_a_fixed_seed():
    grid = latents.grid_latents(7, 10, clusters=3)
    np.testing.assert_array_equal(grid[:, -3:].argmax(axis=1), np.arange(7) % 3)
    np.testing.assert_array_equal(grid[:, -3:].sum(axis=1), 1.0)
    noise = np.random.default_rng(latents.GRID_SEED).standard_normal((7, 7))
    np.testing.assert_array_equal(grid[:, :7], noise.astype(np.float32))
    plain = latents.grid_latents(16, 100)
    assert plain.shape == (16, 100)
    np.testing.assert_array_equal(plain, latents.grid_latents(16, 100))


def test_attach_clusters_appends_one_hots_to_the_noise():
    noise = np.arange(6, dtype=np.float32).reshape(3, 2)
    z = latents.attach_clusters(noise, 4, [3, 0, 2])
    expected = np.array(
        [[0, 1, 0, 0, 0, 1], [2, 3, 1, 0, 0, 0], [4, 5, 0, 0, 1, 0]], np.float32
    )
    np.testing.assert_array_equal(z, expected)
    assert z.dtype == np.float32
    # One id is broadcast to every vector.
    np.testing.assert_array_equal(
        latents.attach_clusters(noise, 4, 1)[:, 2:], np.eye(4)[[1, 1, 1]]
    )
    with pytest.raises(ValueError, match="cluster ids"):
        latents.attach_clusters(noise, 4, [0, -1, 2])


def test_check_cluster_frequencies_normalises_and_accepts_none():
    assert latents.check_cluster_frequencies(None, 0) is None
    assert latents.check_cluster_frequencies(None, 4) == [0.25] * 4
    np.testing.assert_allclose(
        latents.check_cluster_frequencies([2, 1, 1], 3), [0.5, 0.25, 0.25]
    )
    with pytest.raises(ValueError, match="need clusters"):
        latents.check_cluster_frequencies([1.0], 0)


@pytest.mark.parametrize(
    "frequencies", [[0.5, 0.5], [1.0, -0.1, 0.1], [0.0, 0.0, 0.0], [np.nan, 1, 1]]
)
def test_bad_cluster_frequencies_name_the_fix(frequencies):
    with pytest.raises(ValueError, match="cluster_images"):
        latents.check_cluster_frequencies(frequencies, 3)


def test_sample_tensor_draws_the_layout_and_cluster_ids_of_inverts_it():
    frequencies = latents.check_cluster_frequencies([0.5, 0.0, 0.3, 0.2], 4)
    seed = keras.random.SeedGenerator(11)
    z = np.asarray(latents.sample_tensor(8000, 12, 4, frequencies, seed))
    assert z.shape == (8000, 12) and z.dtype == np.float32
    one_hot = z[:, -4:]
    assert set(np.unique(one_hot)) == {0.0, 1.0}
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)
    # 8000 draws: each share's standard error is at most sqrt(0.25 / 8000) = 0.0056,
    # so 0.025 is more than four of them.
    shares = one_hot.mean(axis=0)
    assert shares[1] == 0.0  # a cluster of frequency 0 is never drawn
    np.testing.assert_allclose(shares, [0.5, 0.0, 0.3, 0.2], atol=0.025)
    # The noise part is standard normal.
    noise = z[:, :-4]
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 1.0) < 0.02
    ids = np.asarray(latents.cluster_ids_of(z, 4))
    np.testing.assert_array_equal(ids, one_hot.argmax(axis=1))
    # cluster_ids_of inverts attach_clusters exactly, whatever the noise.
    given = np.array([3, 0, 2, 2, 1])
    attached = latents.attach_clusters(np.full((5, 8), 9.0), 4, given)
    np.testing.assert_array_equal(
        np.asarray(latents.cluster_ids_of(attached, 4)), given
    )


def test_sample_tensor_without_clusters_is_plain_noise():
    seed = keras.random.SeedGenerator(3)
    z = np.asarray(latents.sample_tensor(4000, 5, 0, None, seed))
    assert z.shape == (4000, 5)
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1.0) < 0.05
    assert latents.cluster_ids_of(z, 0) is None
    again = np.asarray(latents.sample_tensor(4000, 5, 0, None, seed))
    assert not np.array_equal(z, again)  # the seed generator moves on
