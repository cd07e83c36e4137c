"""Auto-checks for the exercises of the math notebooks (01, 02 and 03).

Each ``check_<exercise>(student_answer)`` prints one ``PASS`` or ``FAIL`` line
with the relative error of the answer, in the manner of CS231n's ``rel_error``,
and returns ``True`` or ``False``. An answer may be a number, an array, a tuple
or, where the exercise says so, a function that the checker calls on its own
test inputs. The reference answers are computed here with NumPy, independently
of ``course_lib.losses``.

Introduced in notebooks/01_background.ipynb.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_TOLERANCE = 1e-6


def rel_error(x, y) -> float:
    """Return the largest element-wise relative error between ``x`` and ``y``.

    ``max(|x - y| / max(1e-8, |x| + |y|))``, as in CS231n's assignments: about
    1e-16 for identical float64 results, and above 1e-3 for a real mistake.

    Args:
        x: A number or array.
        y: A number or array of a shape that broadcasts with ``x``.

    Returns:
        The relative error as a Python float.

    Introduced in notebooks/01_background.ipynb.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _report(name: str, passed: bool, detail: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'} {name}: {detail}")
    return passed


def _compare(name: str, answer, expected, tolerance: float, hint: str) -> bool:
    """Compare a numeric answer with the reference and print the verdict."""
    if answer is None:
        return _report(name, False, "no answer yet; replace None with yours.")
    try:
        answer_array = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return _report(name, False, f"expected a number or array, got {answer!r}.")
    expected_array = np.asarray(expected, dtype=np.float64)
    if answer_array.shape != expected_array.shape:
        return _report(
            name,
            False,
            f"expected shape {expected_array.shape}, got {answer_array.shape}.",
        )
    if not np.all(np.isfinite(answer_array)):
        return _report(name, False, f"the answer has inf or NaN entries. {hint}")
    error = rel_error(answer_array, expected_array)
    passed = error <= tolerance
    detail = f"relative error {error:.1e} (tolerance {tolerance:.0e})"
    return _report(name, passed, detail if passed else f"{detail}. {hint}")


def _call(name: str, function, *args):
    """Call a student's function; return ``(result, None)`` or ``(None, error)``."""
    if function is None:
        return None, "no answer yet; replace None with your function."
    if not callable(function):
        return None, f"expected a function, got {type(function).__name__}."
    try:
        result = function(*args)
    except Exception as error:  # noqa: BLE001 - report any failure of the answer.
        return None, f"your function raised {type(error).__name__}: {error}"
    if result is None:
        return None, "your function returned None; complete it and return a value."
    try:
        return np.asarray(result, dtype=np.float64), None
    except (TypeError, ValueError):
        return None, f"your function returned {type(result).__name__}, not numbers."


def _check_function(name, function, args, expected, tolerance, hint) -> bool:
    result, problem = _call(name, function, *args)
    if problem is not None:
        return _report(name, False, problem)
    return _compare(name, result, expected, tolerance, hint)


# Notebook 01: background and sampling cost.


def check_autoregressive_steps(student_answer) -> bool:
    """Check the sequential network calls to sample one 64x64 RGB image.

    A pixel-level autoregressive model (PixelCNN style) predicts one colour value
    at a time, so it needs 64 * 64 * 3 forward passes, one after the other.

    Args:
        student_answer: The number of sequential forward passes.

    Returns:
        Whether the answer is right.

    Introduced in notebooks/01_background.ipynb.
    """
    return _compare(
        "check_autoregressive_steps",
        student_answer,
        64 * 64 * 3,
        0.0,
        "Count one step per colour value: height x width x channels.",
    )


def check_token_count(student_answer) -> bool:
    """Check the number of tokens for a 256x256 image and a factor-8 tokenizer.

    A VQ tokenizer that downsamples each side by 8 turns the image into a
    32 x 32 grid, that is 1024 tokens, each one a sequential decoding step.

    Args:
        student_answer: The number of tokens (= sequential decoding steps).

    Returns:
        Whether the answer is right.

    Introduced in notebooks/01_background.ipynb.
    """
    return _compare(
        "check_token_count",
        student_answer,
        (256 // 8) ** 2,
        0.0,
        "Each side shrinks by the factor; the grid then has side**2 tokens.",
    )


HISTORY_YEARS = {"deep_belief_network": 2006, "alexnet": 2012, "elman_network": 1990}


def check_history_years(student_answer) -> bool:
    """Check the corrected publication years of three works the article misdates.

    Args:
        student_answer: A dict with the keys ``"deep_belief_network"`` (Hinton,
            Osindero and Teh), ``"alexnet"`` (Krizhevsky, Sutskever and Hinton)
            and ``"elman_network"`` (Elman, "Finding structure in time").

    Returns:
        Whether every year is right.

    Introduced in notebooks/01_background.ipynb.
    """
    name = "check_history_years"
    if student_answer is None:
        return _report(name, False, "no answer yet; replace None with a dict.")
    if not isinstance(student_answer, dict):
        return _report(name, False, f"expected a dict, got {student_answer!r}.")
    missing = sorted(set(HISTORY_YEARS) - set(student_answer))
    if missing:
        return _report(name, False, f"missing keys: {', '.join(missing)}.")
    wrong = [key for key, year in HISTORY_YEARS.items() if student_answer[key] != year]
    if wrong:
        return _report(
            name,
            False,
            f"{len(wrong)} of 3 years wrong ({', '.join(wrong)}); "
            "see the timeline's references.",
        )
    return _report(name, True, "all 3 years right (relative error 0.0e+00)")


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
    return _compare(
        "check_optimal_discriminator_value",
        student_answer,
        1.0 / (1.0 + math.exp(-0.5)),
        DEFAULT_TOLERANCE,
        "Write D* as a sigmoid of the log-density ratio.",
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
    return _compare(
        "check_jsd",
        student_answer,
        0.5 * kl_pm + 0.5 * kl_qm,
        DEFAULT_TOLERANCE,
        "JSD = KL(p||m)/2 + KL(q||m)/2 with m = (p+q)/2, and 0 log 0 = 0.",
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
    return _check_function(
        "check_generator_logit_gradient",
        student_function,
        (logits,),
        expected,
        DEFAULT_TOLERANCE,
        "Differentiate softplus(-f); evaluate the sigmoid without overflow.",
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
    return _check_function(
        "check_gaussian_kl",
        student_function,
        (mean.copy(), logvar.copy()),
        expected,
        DEFAULT_TOLERANCE,
        "Sum 0.5 * (exp(logvar) + mean**2 - 1 - logvar) over the latent axis.",
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
        return _report(
            "check_linear_gaussian_posterior",
            False,
            "expected a tuple (posterior_mean, posterior_variance).",
        )
    return _compare(
        "check_linear_gaussian_posterior",
        student_answer,
        expected,
        DEFAULT_TOLERANCE,
        "Precisions add: 1/var = 1 + w**2/s**2; mean = var * w * (x - b) / s**2.",
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
    return _check_function(
        "check_gaussian_nll",
        student_function,
        (x.copy(), x_hat.copy(), sigma),
        expected,
        DEFAULT_TOLERANCE,
        "Keep the log(2 pi sigma**2)/2 term once per pixel; sum non-batch axes.",
    )
