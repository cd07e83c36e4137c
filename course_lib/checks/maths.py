"""Auto-checks for the exercises of notebooks 02 and 03: the maths.

The reference answers are computed here with NumPy, independently of
``course_lib.losses``.

Introduced in notebooks/02_gan_loss_derivation.ipynb.
"""

from __future__ import annotations

import math

import numpy as np

from course_lib.checks.core import DEFAULT_TOLERANCE, check_function, compare, report

# Notebook 02: the GAN loss.


def check_optimal_discriminator_value(student_answer) -> bool:
    """Check D*(0) for p_data = N(0, 1) and p_g = N(1, 1).

    ``D*(x) = p_data / (p_data + p_g) = sigmoid(log p_data - log p_g)``, and at
    ``x = 0`` the log-ratio is ``(0 - 1)**2 / 2 - 0 = 1/2``.

    Args:
        student_answer: The value D*(0), a number in (0, 1).

    Returns:
        Whether the answer is right to a relative error of 1e-6.

    Introduced in notebooks/02_gan_loss_derivation.ipynb.
    """
    return compare(
        "check_optimal_discriminator_value",
        student_answer,
        1.0 / (1.0 + math.exp(-0.5)),
        DEFAULT_TOLERANCE,
        "Write D* as a sigmoid of the log-density ratio.",
        [
            (0.5, "D* = 1/2 only where the densities are equal; here they differ"),
            (
                1.0 / (1.0 + math.exp(0.5)),
                "you gave p_g / (p_data + p_g); D* has p_data on top",
            ),
            (
                math.exp(-0.5) / math.sqrt(2 * math.pi),
                "that is the density p_g(0); D* is a ratio of densities",
            ),
        ],
    )


def check_jsd(student_answer) -> bool:
    """Check JSD(p || q) for p = [1/2, 1/2, 0] and q = [0, 1/2, 1/2] (in nats).

    Args:
        student_answer: The Jensen-Shannon divergence, natural logarithms.

    Returns:
        Whether the answer is right to a relative error of 1e-6.

    Introduced in notebooks/02_gan_loss_derivation.ipynb.
    """
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.0, 0.5, 0.5])
    m = 0.5 * (p + q)
    kl_pm = sum(pi * math.log(pi / mi) for pi, mi in zip(p, m, strict=True) if pi > 0)
    kl_qm = sum(qi * math.log(qi / mi) for qi, mi in zip(q, m, strict=True) if qi > 0)
    return compare(
        "check_jsd",
        student_answer,
        0.5 * kl_pm + 0.5 * kl_qm,
        DEFAULT_TOLERANCE,
        "JSD = KL(p||m)/2 + KL(q||m)/2 with m = (p+q)/2, and 0 log 0 = 0.",
        [
            (kl_pm + kl_qm, "you added the two KLs; JSD averages them (halve it)"),
            (0.5, "that is the JSD in bits; the exercise asks for nats (use ln)"),
            (
                -math.log(4) + 2 * (0.5 * kl_pm + 0.5 * kl_qm),
                "that is V(G, D*); the exercise asks for the JSD itself",
            ),
        ],
    )


GRADIENT_TEST_LOGITS = np.array([-1000.0, -30.0, -2.0, 0.0, 0.5, 3.0, 40.0, 1000.0])


def check_generator_logit_gradient(student_function) -> bool:
    """Check d/df of the non-saturating loss -log sigmoid(f), element-wise.

    The derivative of ``softplus(-f)`` is ``sigmoid(f) - 1 = -sigmoid(-f)``. The
    checker calls the function on float64 logits from -1000 to 1000, so the
    answer must stay finite there.

    Args:
        student_function: ``f(logits) -> gradient`` on a float64 NumPy array.

    Returns:
        Whether the answer is right to a relative error of 1e-6.

    Introduced in notebooks/02_gan_loss_derivation.ipynb.
    """
    logits = GRADIENT_TEST_LOGITS.copy()
    # -sigmoid(-f), written so that exp never overflows.
    expected = np.where(
        logits >= 0,
        -np.exp(-np.abs(logits)) / (1.0 + np.exp(-np.abs(logits))),
        -1.0 / (1.0 + np.exp(-np.abs(logits))),
    )
    return check_function(
        "check_generator_logit_gradient",
        student_function,
        (logits,),
        expected,
        DEFAULT_TOLERANCE,
        "Differentiate softplus(-f); evaluate the sigmoid without overflow.",
        [
            (lambda f: -expected, "wrong sign: the derivative of softplus(-f) is < 0"),
            (
                lambda f: expected + 1.0,
                "that is sigmoid(f), the derivative of softplus(f); "
                "differentiate softplus(-f): -sigmoid(-f)",
            ),
        ],
    )


# Notebook 03: the VAE and its ELBO.


def _kl_test_inputs():
    generator = np.random.default_rng(2024)
    mean = generator.normal(size=(5, 3))
    logvar = generator.normal(scale=1.5, size=(5, 3))
    return mean, logvar


def check_gaussian_kl(student_function) -> bool:
    """Check a closed-form KL(N(mean, exp(logvar)) || N(0, I)) per example.

    Args:
        student_function: ``f(mean, logvar) -> kl`` on float64 arrays of shape
            ``(batch, latent_dim)``, returning shape ``(batch,)``.

    Returns:
        Whether the answer is right to a relative error of 1e-6.

    Introduced in notebooks/03_vae_elbo.ipynb.
    """
    mean, logvar = _kl_test_inputs()
    variance = np.exp(logvar)
    expected = np.sum(
        np.log(1.0 / np.sqrt(variance)) + (variance + mean**2) / 2.0 - 0.5, axis=1
    )
    return check_function(
        "check_gaussian_kl",
        student_function,
        (mean.copy(), logvar.copy()),
        expected,
        DEFAULT_TOLERANCE,
        "Sum 0.5 * (exp(logvar) + mean**2 - 1 - logvar) over the latent axis.",
        [
            (lambda m, lv: 2 * expected, "twice the KL: keep the factor 1/2"),
            (
                lambda m, lv: -expected,
                "wrong sign: the KL is >= 0 (the ELBO subtracts it)",
            ),
            (
                lambda m, lv: 0.5 * np.sum(np.exp(lv / 2) + m**2 - 1 - lv, axis=1),
                "exp(logvar / 2) is the standard deviation; use the variance, "
                "exp(logvar)",
            ),
        ],
    )


LINEAR_GAUSSIAN = {"w": 2.0, "b": 0.5, "noise_std": 1.0, "x": 2.5}


def check_linear_gaussian_posterior(student_answer) -> bool:
    """Check the exact posterior p(z | x) of the 1-D linear-Gaussian model.

    The model is ``z ~ N(0, 1)`` and ``x | z ~ N(w z + b, noise_std**2)`` with
    ``w = 2``, ``b = 0.5``, ``noise_std = 1``, observed at ``x = 2.5``.

    Args:
        student_answer: The tuple ``(posterior_mean, posterior_variance)``.

    Returns:
        Whether both numbers are right to a relative error of 1e-6.

    Introduced in notebooks/03_vae_elbo.ipynb.
    """
    w, b, s, x = (LINEAR_GAUSSIAN[k] for k in ("w", "b", "noise_std", "x"))
    precision = 1.0 + w**2 / s**2
    expected = (w * (x - b) / s**2 / precision, 1.0 / precision)
    if student_answer is not None and np.ndim(student_answer) == 0:
        return report(
            "check_linear_gaussian_posterior",
            False,
            "expected a tuple (posterior_mean, posterior_variance).",
        )
    return compare(
        "check_linear_gaussian_posterior",
        student_answer,
        expected,
        DEFAULT_TOLERANCE,
        "Precisions add: 1/var = 1 + w**2/s**2; mean = var * w * (x - b) / s**2.",
        [
            (
                (w * x / s**2 / precision, 1.0 / precision),
                "the mean ignores the offset b: use x - b",
            ),
            (
                (expected[0], precision),
                "you gave the precision; the variance is its inverse",
            ),
            (
                (w * (x - b) / s**2, expected[1]),
                "the mean is the variance times w (x - b) / s^2: multiply by it",
            ),
        ],
    )


def check_gaussian_nll(student_function) -> bool:
    """Check a per-example Gaussian negative log-likelihood with fixed std.

    ``-log N(x; x_hat, sigma**2 I)`` summed over every non-batch axis, constants
    included: ``sum((x - x_hat)**2 / (2 sigma**2) + log(2 pi sigma**2) / 2)``.

    Args:
        student_function: ``f(x, x_hat, sigma) -> nll`` with ``x`` and ``x_hat``
            of shape ``(batch, height, width)`` and a float ``sigma``, returning
            shape ``(batch,)``.

    Returns:
        Whether the answer is right to a relative error of 1e-6.

    Introduced in notebooks/03_vae_elbo.ipynb.
    """
    generator = np.random.default_rng(7)
    x = generator.uniform(size=(4, 3, 2))
    x_hat = generator.uniform(size=(4, 3, 2))
    sigma = 0.3
    squared = ((x - x_hat) ** 2).reshape(4, -1).sum(axis=1)
    expected = squared / (2 * sigma**2) + 6 * 0.5 * math.log(2 * math.pi * sigma**2)
    return check_function(
        "check_gaussian_nll",
        student_function,
        (x.copy(), x_hat.copy(), sigma),
        expected,
        DEFAULT_TOLERANCE,
        "Keep the log(2 pi sigma**2)/2 term once per pixel; sum non-batch axes.",
        [
            (
                lambda *args: squared / (2 * sigma**2),
                "the constant log(2 pi sigma^2)/2 per pixel is missing",
            ),
            (
                lambda *args: squared / 2 + 3 * math.log(2 * math.pi),
                "sigma is missing: divide the squares by sigma^2",
            ),
            (
                lambda *args: (
                    squared / (2 * sigma**2) + 0.5 * math.log(2 * math.pi * sigma**2)
                ),
                "the constant is counted once per image; it belongs to every pixel",
            ),
        ],
    )
