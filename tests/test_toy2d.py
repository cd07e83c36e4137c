"""Tests for course_lib.toy2d: the ring data, the networks, the objectives, ToyGAN
and the mode-coverage measures, against hand-computed cases and closed forms."""

import math

import keras
import numpy as np
import pytest

from course_lib import losses, toy2d


def test_ring_centers_lie_on_the_circle_45_degrees_apart():
    centers = toy2d.ring_centers()
    assert centers.shape == (8, 2) and centers.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2.0, rtol=1e-6)
    np.testing.assert_allclose(centers[0], [2.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(centers[2], [0.0, 2.0], atol=1e-6)
    angles = np.sort(np.mod(np.arctan2(centers[:, 1], centers[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(np.diff(angles), np.pi / 4, rtol=1e-5)


def test_sample_ring_has_the_mixtures_moments():
    points = toy2d.sample_ring(40_000, seed=1).astype(np.float64)
    assert points.shape == (40_000, 2)
    # The mean of 8 symmetric modes is 0; E|x|^2 = r^2 + 2 sigma^2.
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=0.03)
    assert np.mean(np.sum(points**2, axis=1)) == pytest.approx(4.0008, rel=2e-3)
    centers = toy2d.ring_centers().astype(np.float64)
    distances = np.linalg.norm(points[:, None] - centers[None], axis=-1)
    nearest = distances.argmin(axis=1)
    # Each mode has weight 1/8 (binomial standard error about 0.0017).
    np.testing.assert_allclose(np.bincount(nearest) / len(points), 1 / 8, atol=0.01)
    # Squared distance to the mode over sigma^2 is chi-squared with 2 dof: mean 2.
    offsets = points - centers[nearest]
    assert np.mean(np.sum(offsets**2, axis=1)) / 0.02**2 == pytest.approx(2.0, rel=0.03)


def test_sample_ring_is_seeded():
    np.testing.assert_array_equal(toy2d.sample_ring(10, 3), toy2d.sample_ring(10, 3))
    assert not np.array_equal(toy2d.sample_ring(10, 3), toy2d.sample_ring(10, 4))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: toy2d.sample_ring(0), "count"),
        (lambda: toy2d.sample_ring(5, std=0), "std"),
        (lambda: toy2d.ring_centers(modes=0), "modes"),
        (lambda: toy2d.ring_centers(radius=-1.0), "radius"),
        (lambda: toy2d.check_objective("wasserstein"), "hinge"),
        (lambda: toy2d.mode_coverage(np.zeros((5, 3))), r"\(n, 2\)"),
        (lambda: toy2d.mode_coverage(np.zeros((5, 2)), coverage_fraction=0), "0.2"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mode_coverage_on_a_hand_made_case():
    centers = toy2d.ring_centers().astype(np.float64)
    sigma = 0.02
    inside = centers[0] + [2.9 * sigma, 0.0]  # within 3 sigma: high quality
    outside = centers[1] + [0.0, 3.1 * sigma]  # just outside
    samples = np.concatenate(
        [
            np.repeat(centers[:3], 10, axis=0),  # modes 0, 1, 2: 10 each
            [centers[3]],  # mode 3: one sample only
            [inside, outside],
            np.zeros((6, 2)),  # the centre of the ring: far from every mode
        ]
    )
    n = len(samples)  # 39
    result = toy2d.mode_coverage(samples)
    assert result.counts == (11, 10, 10, 1, 0, 0, 0, 0)
    assert result.high_quality_share == pytest.approx(32 / n)
    assert result.min_count == pytest.approx(0.2 * n / 8)  # 0.975: one sample covers
    assert result.modes_covered == 4
    stricter = toy2d.mode_coverage(samples, coverage_fraction=0.5)  # needs 2.44
    assert stricter.modes_covered == 3


def test_mode_coverage_of_the_data_itself():
    result = toy2d.mode_coverage(toy2d.sample_ring(2500, seed=0))
    assert result.modes_covered == 8
    # P(chi-squared_2 <= 9) = 1 - exp(-4.5).
    assert result.high_quality_share == pytest.approx(1 - math.exp(-4.5), abs=0.01)


def test_mode_coverage_of_a_collapsed_generator_and_of_nan():
    collapsed = np.tile(toy2d.ring_centers()[5], (100, 1))
    result = toy2d.mode_coverage(collapsed)
    assert result.modes_covered == 1 and result.high_quality_share == 1.0
    broken = toy2d.mode_coverage(np.full((10, 2), np.nan))
    assert broken.modes_covered == 0 and broken.high_quality_share == 0.0


def test_networks_have_the_hand_counted_shapes_and_parameters():
    generator = toy2d.build_generator(2)
    discriminator = toy2d.build_discriminator()
    assert tuple(generator.output.shape) == (None, 2)
    assert tuple(discriminator.output.shape) == (None, 1)
    assert generator.count_params() == (2 * 128 + 128) + (128 * 128 + 128) + 258
    assert discriminator.count_params() == 384 + (128 * 128 + 128) + 129


def test_objectives_match_hand_computed_values():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((7, 1)).astype(np.float32) * 2
    fake = rng.standard_normal((5, 1)).astype(np.float32) * 2
    softplus = lambda x: np.logaddexp(0.0, x.astype(np.float64))  # noqa: E731
    bce = np.mean(softplus(-real)) + np.mean(softplus(fake))
    for kind in ("non_saturating", "minimax"):
        assert float(toy2d.objective_losses(real, fake, kind)) == pytest.approx(bce)
    hinge = np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake))
    assert float(toy2d.objective_losses(real, fake, "hinge")) == pytest.approx(hinge)
    assert float(toy2d.generator_objective(fake, "hinge")) == pytest.approx(
        -np.mean(fake)
    )
    assert float(toy2d.generator_objective(fake, "non_saturating")) == pytest.approx(
        np.mean(softplus(-fake))
    )
    assert float(toy2d.generator_objective(fake, "minimax")) == pytest.approx(
        float(losses.generator_loss(fake, "minimax"))
    )


def test_one_optimizer_for_both_players_is_refused():
    generator, discriminator = toy2d.build_generator(), toy2d.build_discriminator()
    model = toy2d.ToyGAN(generator, discriminator)
    optimizer = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="its own"):
        model.compile(d_optimizer=optimizer, g_optimizer=optimizer)
    with pytest.raises(ValueError, match="objective"):
        toy2d.ToyGAN(generator, discriminator, objective="wgan")


def test_a_short_fit_moves_the_samples_onto_the_ring_and_is_reproducible():
    runs = []
    for _ in range(2):
        model = toy2d.build_toy_gan("non_saturating", seed=3)
        history, snapshots = toy2d.train_toy_gan(
            model, steps=300, batch_size=128, seed=3, snapshot_steps=(0, 300)
        )
        runs.append(model.generate(500, seed=1))
    assert set(snapshots) == {0, 300} and snapshots[0].shape == (1000, 2)
    assert set(history) >= {"d_loss", "g_loss"} and len(history["d_loss"]) == 1
    np.testing.assert_array_equal(runs[0], runs[1])
    radius_before = np.linalg.norm(snapshots[0], axis=1).mean()
    radius_after = np.linalg.norm(runs[0], axis=1).mean()
    assert radius_before < 1.0 and abs(radius_after - 2.0) < 0.5
