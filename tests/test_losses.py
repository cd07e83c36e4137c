"""Tests for course_lib.losses against independent NumPy computations.

References are written directly from the definitions (log of sigmoid, Bernoulli
and Gaussian densities) in float64, at moderate logits where the naive formulas
are accurate; at logits of +-1000 the references are the exact asymptotes.
"""

import numpy as np
import pytest
import tensorflow as tf

from course_lib import losses


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def to_numpy(value):
    return np.asarray(value, dtype=np.float64)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# GAN losses.


def test_discriminator_loss_matches_cross_entropy(rng):
    real = rng.normal(scale=3.0, size=17)
    fake = rng.normal(scale=3.0, size=11)
    expected = np.mean(np.log1p(np.exp(-real))) + np.mean(-np.log(1 - sigmoid(fake)))
    np.testing.assert_allclose(
        to_numpy(losses.discriminator_loss(real, fake)), expected, rtol=1e-12
    )


def test_discriminator_loss_at_extreme_logits():
    perfect = to_numpy(losses.discriminator_loss([1000.0, 1000.0], [-1000.0]))
    worst = to_numpy(losses.discriminator_loss([-1000.0], [1000.0, 1000.0]))
    assert perfect == pytest.approx(0.0, abs=1e-12)
    assert worst == pytest.approx(2000.0, rel=1e-12)


def test_discriminator_loss_is_log4_at_zero_logits():
    loss = to_numpy(losses.discriminator_loss(np.zeros(4), np.zeros(4)))
    assert loss == pytest.approx(np.log(4.0), rel=1e-7)


def test_generator_loss_non_saturating_and_minimax(rng):
    fake = rng.normal(scale=4.0, size=23)
    non_saturating = to_numpy(losses.generator_loss(fake))
    minimax = to_numpy(losses.generator_loss(fake, kind="minimax"))
    np.testing.assert_allclose(non_saturating, np.mean(-np.log(sigmoid(fake))))
    np.testing.assert_allclose(minimax, np.mean(np.log(1 - sigmoid(fake))))


@pytest.mark.parametrize(
    ("kind", "logit", "expected"),
    [
        ("non_saturating", -1000.0, 1000.0),
        ("non_saturating", 1000.0, 0.0),
        ("minimax", 1000.0, -1000.0),
        ("minimax", -1000.0, 0.0),
    ],
)
def test_generator_loss_at_extreme_logits(kind, logit, expected):
    value = to_numpy(losses.generator_loss(np.array([logit]), kind=kind))
    assert np.isfinite(value)
    assert value == pytest.approx(expected, abs=1e-9)


def test_generator_loss_unknown_kind_lists_valid_kinds():
    with pytest.raises(ValueError, match="non_saturating.*minimax"):
        losses.generator_loss(np.zeros(3), kind="wasserstein")


def _central_difference(function, x, step=1e-6):
    gradient = np.zeros_like(x)
    for index in range(x.size):
        shift = np.zeros_like(x)
        shift.flat[index] = step
        gradient.flat[index] = (function(x + shift) - function(x - shift)) / (2 * step)
    return gradient


def _tape_gradient(loss_function, x):
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = loss_function(variable)
    return tape.gradient(loss, variable).numpy()


@pytest.mark.parametrize("kind", ["non_saturating", "minimax"])
def test_generator_loss_gradient_matches_finite_differences(rng, kind):
    fake = rng.normal(scale=2.0, size=6)

    def numpy_loss(logits):
        if kind == "non_saturating":
            return np.mean(-np.log(sigmoid(logits)))
        return np.mean(np.log(1 - sigmoid(logits)))

    expected = _central_difference(numpy_loss, fake)
    actual = _tape_gradient(lambda v: losses.generator_loss(v, kind=kind), fake)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-9)


def test_discriminator_loss_gradient_matches_finite_differences(rng):
    logits = rng.normal(scale=2.0, size=8)

    def numpy_loss(values):
        real, fake = values[:4], values[4:]
        return np.mean(-np.log(sigmoid(real))) + np.mean(-np.log(1 - sigmoid(fake)))

    expected = _central_difference(numpy_loss, logits)
    actual = _tape_gradient(
        lambda v: losses.discriminator_loss(v[:4], v[4:]), logits.copy()
    )
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-9)


def test_gradients_are_finite_at_extreme_logits():
    logits = np.array([-1000.0, 1000.0])
    gradient = _tape_gradient(losses.generator_loss, logits)
    # d/df mean(softplus(-f)) = (sigmoid(f) - 1) / n.
    np.testing.assert_allclose(gradient, [-0.5, 0.0], atol=1e-12)
    gradient = _tape_gradient(lambda v: losses.discriminator_loss(v, v), logits)
    # d/dr softplus(-r) + d/df softplus(f) = (sigmoid(l) - 1 + sigmoid(l)) / n.
    np.testing.assert_allclose(gradient, [-0.5, 0.5], atol=1e-12)


def test_losses_work_inside_tf_function_in_float32():
    @tf.function
    def both(real, fake):
        return losses.discriminator_loss(real, fake), losses.generator_loss(fake)

    d_loss, g_loss = both(tf.constant([[2.0], [-1.0]]), tf.constant([[0.5], [3.0]]))
    assert d_loss.dtype == tf.float32
    expected = np.mean(np.log1p(np.exp([-2.0, 1.0]))) + np.mean(
        np.log1p(np.exp([0.5, 3.0]))
    )
    assert float(d_loss) == pytest.approx(expected, rel=1e-6)
    assert float(g_loss) == pytest.approx(np.mean(np.log1p(np.exp([-0.5, -3.0]))))


# VAE losses.


def test_gaussian_kl_matches_monte_carlo(rng):
    mean = np.array([[0.5, -1.0], [0.0, 2.0]])
    logvar = np.array([[0.0, -1.0], [1.0, -0.5]])
    samples = 200_000
    std = np.exp(0.5 * logvar)
    z = mean + std * rng.standard_normal(size=(samples, *mean.shape))
    log_q = -0.5 * (((z - mean) / std) ** 2 + np.log(2 * np.pi) + logvar)
    log_p = -0.5 * (z**2 + np.log(2 * np.pi))
    log_ratio = (log_q - log_p).sum(axis=2)
    estimate = log_ratio.mean(axis=0)
    standard_error = log_ratio.std(axis=0) / np.sqrt(samples)
    kl = to_numpy(losses.gaussian_kl(mean, logvar))
    assert kl.shape == (2,)
    # Tolerance: 5 Monte Carlo standard errors (a false failure has p < 1e-6).
    assert np.all(np.abs(kl - estimate) < 5 * standard_error)


def test_gaussian_kl_zero_only_at_prior(rng):
    assert np.allclose(
        to_numpy(losses.gaussian_kl(np.zeros((3, 4)), np.zeros((3, 4)))), 0
    )
    kl = to_numpy(losses.gaussian_kl(rng.normal(size=(5, 4)), rng.normal(size=(5, 4))))
    assert np.all(kl > 0)


def test_gaussian_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        losses.gaussian_kl(np.zeros((3, 4)), np.zeros((3, 5)))


def test_bernoulli_nll_matches_log_likelihood(rng):
    x = rng.uniform(size=(3, 4, 5))
    logits = rng.normal(scale=3.0, size=(3, 4, 5))
    p = sigmoid(logits)
    expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(3, -1).sum(axis=1)
    actual = to_numpy(losses.bernoulli_nll(x, logits))
    assert actual.shape == (3,)
    np.testing.assert_allclose(actual, expected, rtol=1e-10)


def test_bernoulli_nll_at_extreme_logits():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    logits = np.array([[1000.0, -1000.0], [1000.0, -1000.0]])
    # Right and confident costs 0; wrong and confident costs |logit| per pixel.
    np.testing.assert_allclose(to_numpy(losses.bernoulli_nll(x, logits)), [0, 2000])


def test_bernoulli_nll_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="reshape"):
        losses.bernoulli_nll(np.zeros((2, 784)), np.zeros((2, 28, 28)))


def test_negative_elbo_combines_terms(rng):
    x = (rng.uniform(size=(6, 10)) > 0.5).astype(np.float64)
    logits = rng.normal(size=(6, 10))
    mean, logvar = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    p = sigmoid(logits)
    reconstruction = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=1)
    kl = 0.5 * (np.exp(logvar) + mean**2 - 1 - logvar).sum(axis=1)
    for beta in (0.0, 1.0, 4.0):
        actual = to_numpy(losses.negative_elbo(x, logits, mean, logvar, beta=beta))
        assert actual == pytest.approx(np.mean(reconstruction + beta * kl), rel=1e-10)


def test_negative_elbo_rejects_batch_mismatch_and_negative_beta():
    with pytest.raises(ValueError, match="batch size"):
        losses.negative_elbo(
            np.zeros((4, 5)), np.zeros((4, 5)), np.zeros((3, 2)), np.zeros((3, 2))
        )
    with pytest.raises(ValueError, match="beta"):
        losses.negative_elbo(
            np.zeros((1, 5)),
            np.zeros((1, 5)),
            np.zeros((1, 2)),
            np.zeros((1, 2)),
            beta=-1.0,
        )


# The optimal discriminator.


def test_optimal_discriminator_maximises_pointwise_objective():
    p_data = np.array([0.1, 0.7, 2.0, 0.0, 1.0])
    p_model = np.array([0.3, 0.7, 0.5, 1.0, 0.0])
    grid = np.linspace(1e-6, 1 - 1e-6, 200_001)
    objective = p_data[:, None] * np.log(grid) + p_model[:, None] * np.log(1 - grid)
    best = grid[np.argmax(objective, axis=1)]
    actual = to_numpy(losses.optimal_discriminator(p_data, p_model))
    np.testing.assert_allclose(actual, best, atol=1e-5)


def test_optimal_discriminator_zero_over_zero_is_one_half():
    actual = to_numpy(losses.optimal_discriminator([0.0, 0.0], [0.0, 2.0]))
    np.testing.assert_array_equal(actual, [0.5, 0.0])


def test_optimal_discriminator_rejects_negative_densities():
    with pytest.raises(ValueError, match="densities"):
        losses.optimal_discriminator([0.5, -0.1], [0.5, 0.5])
