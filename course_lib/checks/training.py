"""Auto-checks for the exercises of notebooks 05 to 08: training and speed.

The references are computed here with NumPy and closed forms, independently of
``course_lib.losses``, ``course_lib.latents`` and ``course_lib.bench``.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import math

import numpy as np

from course_lib.checks.core import DEFAULT_TOLERANCE, check_function, compare, report

# Notebook 05: training a DCGAN.


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def check_midpoint_norm_ratio(student_answer) -> bool:
    """Check the large-d limit of ||(z0 + z1) / 2|| / ||z0|| for Gaussian latents.

    Args:
        student_answer: The ratio, a number.

    Returns:
        Whether it is 1/sqrt(2) to a relative error of 1e-3.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    return compare(
        "check_midpoint_norm_ratio",
        student_answer,
        1 / math.sqrt(2),
        1e-3,
        "The midpoint is Gaussian with variance 1/2 per coordinate.",
        [
            (0.5, "independent vectors do not add their norms: variances add"),
            (1.0, "the midpoint is shorter: its variance is 1/2 per coordinate"),
            (math.sqrt(2), "that is the inverse: ||z0|| / ||midpoint||"),
        ],
    )


def _slerp(z0, z1, t):
    cosine = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
    theta = math.acos(float(np.clip(cosine, -1.0, 1.0)))
    return (math.sin((1 - t) * theta) * z0 + math.sin(t * theta) * z1) / math.sin(theta)


def check_slerp(student_function) -> bool:
    """Check ``slerp(z0, z1, t)`` for one ``t`` on random 5-D vectors.

    Args:
        student_function: ``f(z0, z1, t) -> z`` on 1-D float64 arrays.

    Returns:
        Whether the result is right to a relative error of 1e-5.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    z0, z1 = np.random.default_rng(3).standard_normal((2, 5))
    t = 0.25
    expected = _slerp(z0, z1, t)
    return check_function(
        "check_slerp",
        student_function,
        (z0.copy(), z1.copy(), t),
        expected,
        1e-5,
        "Use theta = arccos(z0.z1 / (|z0||z1|)) and the formula of section 9.",
        [
            (lambda *a: (1 - t) * z0 + t * z1, "that is lerp, a straight line"),
            (
                lambda *a: _slerp(z0, z1, 1 - t),
                "the weights are swapped: sin((1 - t) theta) goes with z0",
            ),
            (
                lambda *a: expected * math.sin(math.acos(_cosine(z0, z1))),
                "the result is not divided by sin(theta)",
            ),
            (
                lambda *a: _slerp(z0 / np.linalg.norm(z0), z1 / np.linalg.norm(z1), t),
                "theta comes from the normalised vectors, but interpolate the "
                "original z0 and z1, not unit vectors",
            ),
        ],
    )


def _cosine(z0, z1) -> float:
    return float(np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1)))


def check_discriminator_loss_value(student_answer) -> bool:
    """Check softplus(-l_r) + softplus(l_f) at l_r = 2 and l_f = -2.

    Args:
        student_answer: The discriminator's loss, a number.

    Returns:
        Whether it is right to a relative error of 1e-4.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    return compare(
        "check_discriminator_loss_value",
        student_answer,
        _softplus(-2.0) + _softplus(-2.0),
        1e-4,
        "Evaluate softplus(x) = log(1 + exp(x)) at -l_r and at l_f, and add.",
        [
            (_softplus(-2.0), "that is one term: add the real and the fake term"),
            (2 * _softplus(2.0), "wrong signs: the real term is softplus(-l_r)"),
            (math.log(4), "log 4 is the loss of a D that outputs 1/2 everywhere"),
        ],
    )


def check_generator_logit_gradient_value(student_answer) -> bool:
    """Check d softplus(-l) / dl at a fake's logit l = -2.

    Args:
        student_answer: The derivative, a number.

    Returns:
        Whether it is -sigmoid(2) to a relative error of 1e-4.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    sigmoid_2 = 1 / (1 + math.exp(-2.0))
    return compare(
        "check_generator_logit_gradient_value",
        student_answer,
        -sigmoid_2,
        1e-4,
        "d softplus(-l) / dl = -sigmoid(-l); evaluate it at l = -2.",
        [
            (sigmoid_2, "wrong sign: the loss falls as the fake's logit rises"),
            (
                1 - sigmoid_2,
                "that is the saturating loss's gradient; use the non-saturating "
                "softplus(-l)",
            ),
            (-(1 - sigmoid_2), "that is -sigmoid(l); the derivative is -sigmoid(-l)"),
            (_softplus(2.0), "that is the loss itself; give its derivative"),
        ],
    )


# Notebook 07: training a VAE.


def check_iwae_bound(student_answer, log_weights) -> bool:
    """Check L_K = log(mean(w_k)) computed from the log-weights without underflow.

    Args:
        student_answer: The bound, a number.
        log_weights: The K log-weights of one image, a 1-D array.

    Returns:
        Whether it is right to a relative error of 1e-6.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    log_weights = np.asarray(log_weights, dtype=np.float64)
    top = float(np.max(log_weights))
    total = sum(math.exp(value - top) for value in log_weights)
    expected = top + math.log(total / len(log_weights))
    return compare(
        "check_iwae_bound",
        student_answer,
        expected,
        DEFAULT_TOLERANCE,
        "Subtract the largest log-weight before exponentiating (log-sum-exp).",
        [
            (
                float(np.mean(log_weights)),
                "that is the mean log-weight (the ELBO estimate): take the log "
                "of the mean weight",
            ),
            (expected + math.log(len(log_weights)), "divide by K: subtract log K"),
            (top, "the largest log-weight alone drops the other samples"),
        ],
    )


def check_bits_per_pixel(student_answer, log_px_nats, pixels: int = 784) -> bool:
    """Check the conversion of log p(x) in nats per image to bits per pixel.

    Args:
        student_answer: -log2 p(x) / pixels, a positive number.
        log_px_nats: log p(x) in nats per image (negative).
        pixels: The pixels per image.

    Returns:
        Whether it is right to a relative error of 1e-6.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    nats = float(log_px_nats)
    expected = -nats / (pixels * math.log(2))
    return compare(
        "check_bits_per_pixel",
        student_answer,
        expected,
        DEFAULT_TOLERANCE,
        "Bits per pixel = -log p(x) / (pixels * ln 2).",
        [
            (-expected, "wrong sign: -log p(x) is positive"),
            (-nats / pixels, "that is nats per pixel: divide by ln 2 for bits"),
            (-nats / math.log(2), "that is bits per image: divide by the pixels"),
            (-nats * math.log(2) / pixels, "you multiplied by ln 2; divide by it"),
        ],
    )


def check_elbo_gap(student_answer, iwae, elbo) -> bool:
    """Check the estimated lower bound on the mean KL(q(z|x) || p(z|x)).

    Args:
        student_answer: The mean of ``iwae - elbo`` over the images, in nats.
        iwae: The per-image IWAE bounds.
        elbo: The per-image ELBO estimates.

    Returns:
        Whether it is right to a relative error of 1e-6.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    gaps = np.asarray(iwae, dtype=np.float64) - np.asarray(elbo, dtype=np.float64)
    expected = sum(gaps.tolist()) / gaps.size
    return compare(
        "check_elbo_gap",
        student_answer,
        expected,
        DEFAULT_TOLERANCE,
        "Average the IWAE bound minus the ELBO over the test images.",
        [
            (-expected, "wrong sign: the IWAE bound lies above the ELBO"),
            (float(np.mean(iwae)), "that is the IWAE bound; subtract the ELBO"),
            (float(np.max(gaps)), "that is the largest gap; average over images"),
        ],
    )


# Notebook 09: speed.


def check_conv_flops(student_answer) -> bool:
    """Check the FLOPs of Conv2D(128, 5, strides=2, padding="same") on 14x14x64.

    Args:
        student_answer: FLOPs per image, counting a multiply-add as 2.

    Returns:
        Whether the count is exact (to 1e-9).

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    output_side = math.ceil(14 / 2)
    multiply_adds = output_side**2 * 128 * 5 * 5 * 64
    return compare(
        "check_conv_flops",
        student_answer,
        2 * multiply_adds,
        1e-9,
        "FLOPs = 2 x output pixels x filters x kernel area x input channels.",
        [
            (multiply_adds, "2 FLOPs per multiply-add: a multiply and an add"),
            (8 * multiply_adds, "stride 2 halves each side: the output is 7x7"),
            (2 * multiply_adds // 64, "each output sums over all 64 input channels"),
        ],
    )


def check_kv_cache_factors(student_answer) -> bool:
    """Check the cache's FLOP factor and the 64x64 / 28x28 ratio of steps.

    Args:
        student_answer: The tuple ``(flop_reduction, step_ratio)``.

    Returns:
        Whether both are right to a relative error of 1e-6.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    name = "check_kv_cache_factors"
    if isinstance(student_answer, tuple) and None in student_answer:
        return report(name, False, "fill in both numbers of the tuple.")
    steps_64, steps_28 = 64 * 64, 28 * 28
    return compare(
        name,
        student_answer,
        (steps_64, steps_64 / steps_28),
        DEFAULT_TOLERANCE,
        "The cache removes one factor of N; steps are one per pixel.",
        [
            (
                (steps_64**2, steps_64 / steps_28),
                "the cache removes one factor of N (N^2 f becomes N f), not N^2",
            ),
            ((steps_64, steps_28 / steps_64), "the step ratio is inverted"),
            ((steps_64, 64 / 28), "count steps per pixel, not per side"),
        ],
    )
