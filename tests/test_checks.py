"""Tests for course_lib.checks: each check accepts the reference answer and rejects
typical wrong ones, naming the mistake. The right answers are computed here from
first principles, independently of the checks."""

import math

import numpy as np
import pytest

from course_lib import checks

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_rel_error_values():
    assert checks.rel_error(1.0, 1.0) == 0.0
    assert checks.rel_error(1.0, 3.0) == pytest.approx(0.5)
    assert checks.rel_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 4.2)
    assert checks.rel_error(0.0, 0.0) == 0.0


def _sigmoid_stable(x):
    return np.exp(-np.logaddexp(0.0, -x))


def _kl(mean, logvar):
    return 0.5 * np.sum(np.exp(logvar) + mean**2 - 1 - logvar, axis=1)


def _gaussian_nll(x, x_hat, sigma):
    pixels = x[0].size
    squared = ((x - x_hat) ** 2).reshape(len(x), -1).sum(axis=1)
    return squared / (2 * sigma**2) + pixels * 0.5 * np.log(2 * np.pi * sigma**2)


def _slerp(z0, z1, t):
    omega = np.arccos(np.dot(z0, z1) / np.sqrt(np.dot(z0, z0) * np.dot(z1, z1)))
    return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


IMAGE = np.array([[0, 127, 128], [255, 200, 3]], dtype=np.uint8)  # 3 bright pixels
LOG_WEIGHTS = np.array([-101.3, -99.8, -100.4, -103.0, -100.1])
IWAE_5 = np.log(np.mean(np.exp(LOG_WEIGHTS + 100.0))) - 100.0
IWAE = np.array([-90.0, -100.0, -80.0])
ELBO = np.array([-101.0, -110.0, -95.0])
BITS = 100.0 / (784 * math.log(2))
CONV_FLOPS = 2 * (7 * 7) * 128 * (5 * 5 * 64)


def _named(function, name, *extra):
    """A one-argument checker calling ``function(answer, *extra)``, named."""

    def checker(answer):
        return function(answer, *extra)

    checker.__name__ = name
    return checker


# (checker, right answer, [(wrong answer, words the feedback must contain), ...])
CASES = [
    (
        _named(checks.check_bright_pixels, "check_bright_pixels", IMAGE),
        3,
        [(4, ">= 127"), (3, None), (0.5, "fraction"), (6, "every pixel")],
    ),
    (
        checks.check_autoregressive_steps,
        12288,
        [(4096, "3 colour values"), (192, "both sides"), (1, "GAN"), (12289.0, "")],
    ),
    (
        checks.check_token_count,
        1024,
        [(32, "one side"), (8192, "codebook"), (65536, "pixel count")],
    ),
    (
        checks.check_history_years,
        {"deep_belief_network": 2006, "alexnet": 2012, "elman_network": 1990},
        [
            (
                {"deep_belief_network": 2003, "alexnet": 2012, "elman_network": 1990},
                "deep_belief_network",
            ),
            (
                {"deep_belief_network": 2006, "alexnet": 2013, "elman_network": 1990},
                "alexnet",
            ),
            ({"deep_belief_network": 2006, "alexnet": 2012}, "missing keys"),
            (2006, "expected a dict"),
        ],
    ),
    (
        checks.check_optimal_discriminator_value,
        math.exp(-0) / (math.exp(0) + math.exp(-0.5)),
        [
            (0.5, "densities are equal"),
            (1 / (1 + math.exp(0.5)), "p_data on top"),
            (math.exp(-0.5) / math.sqrt(2 * math.pi), "density"),
            (0.62, ""),
        ],
    ),
    (
        checks.check_jsd,
        0.5 * math.log(2),
        [
            (math.log(2), "averages"),
            (0.5 * math.log2(2), "bits"),
            (-math.log(2), "V(G, D*)"),
            (0.0, ""),
        ],
    ),
    (
        checks.check_generator_logit_gradient,
        lambda f: _sigmoid_stable(f) - 1.0,
        [
            (lambda f: 1.0 - _sigmoid_stable(f), "wrong sign"),
            (lambda f: _sigmoid_stable(f), "softplus(-f)"),
            (lambda f: -1.0 / _sigmoid_stable(f), ""),  # the article's 1/D
            (lambda f: -np.exp(-f) / (1.0 + np.exp(-f)), "inf or NaN"),  # overflow
            (lambda f: undefined_name, "NameError"),  # noqa: F821
            (3.0, "expected a function"),
            (lambda f: None, "returned None"),
            (lambda f: "text", "not numbers"),
        ],
    ),
    (
        checks.check_gaussian_kl,
        _kl,
        [
            (lambda m, lv: 2 * _kl(m, lv), "factor 1/2"),
            (lambda m, lv: -_kl(m, lv), "wrong sign"),
            (
                lambda m, lv: 0.5 * np.sum(np.exp(lv / 2) + m**2 - 1 - lv, axis=1),
                "standard deviation",
            ),
            (lambda m, lv: _kl(m, lv).sum(), "shape"),
        ],
    ),
    (
        checks.check_linear_gaussian_posterior,
        (0.8, 0.2),
        [
            (((2.0 * 2.5) / 5, 0.2), "offset b"),
            ((0.8, 5.0), "precision"),
            ((4.0, 0.2), "multiply by it"),
            (0.8, "tuple"),
            ((0.8, 0.2, 0.0), "shape"),
        ],
    ),
    (
        checks.check_gaussian_nll,
        _gaussian_nll,
        [
            (
                lambda x, xh, s: (
                    ((x - xh) ** 2).reshape(len(x), -1).sum(axis=1) / (2 * s**2)
                ),
                "constant",
            ),
            (lambda x, xh, s: _gaussian_nll(x, xh, 1.0), "sigma is missing"),
            (
                lambda x, xh, s: (
                    _gaussian_nll(x, xh, s)
                    - (x[0].size - 1) * 0.5 * np.log(2 * np.pi * s**2)
                ),
                "once per image",
            ),
            (lambda x, xh, s: _gaussian_nll(x, xh, s).mean(), "shape"),
        ],
    ),
    (
        checks.check_midpoint_norm_ratio,
        math.sqrt(0.5),
        [(0.5, "variances add"), (1.0, "shorter"), (math.sqrt(2), "inverse")],
    ),
    (
        checks.check_slerp,
        _slerp,
        [
            (lambda a, b, t: (1 - t) * a + t * b, "lerp"),
            (lambda a, b, t: _slerp(a, b, 1 - t), "swapped"),
            (
                lambda a, b, t: (
                    _slerp(a, b, t)
                    * np.sin(
                        np.arccos(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
                    )
                ),
                "sin(theta)",
            ),
            (
                lambda a, b, t: _slerp(a / np.linalg.norm(a), b / np.linalg.norm(b), t),
                "unit vectors",
            ),
            (lambda a, b, t: _slerp(a, b, t)[:2], "shape"),
        ],
    ),
    (
        checks.check_discriminator_loss_value,
        2 * math.log1p(math.exp(-2)),
        [
            (math.log1p(math.exp(-2)), "one term"),
            (2 * math.log1p(math.exp(2)), "wrong signs"),
            (math.log(4), "log 4"),
        ],
    ),
    (
        checks.check_generator_logit_gradient_value,
        -1 / (1 + math.exp(-2)),
        [
            (1 / (1 + math.exp(-2)), "wrong sign"),
            (1 / (1 + math.exp(2)), "saturating"),
            (-1 / (1 + math.exp(2)), "-sigmoid(l)"),
            (math.log1p(math.exp(2)), "the loss itself"),
        ],
    ),
    (
        _named(checks.check_iwae_bound, "check_iwae_bound", LOG_WEIGHTS),
        IWAE_5,
        [
            (float(np.mean(LOG_WEIGHTS)), "mean log-weight"),
            (IWAE_5 + math.log(5), "subtract log K"),
            (-99.8, "largest log-weight"),
            (-np.inf, "inf or NaN"),
        ],
    ),
    (
        _named(checks.check_bits_per_pixel, "check_bits_per_pixel", -100.0),
        BITS,
        [
            (-BITS, "wrong sign"),
            (100.0 / 784, "nats per pixel"),
            (100.0 / math.log(2), "bits per image"),
            (100.0 * math.log(2) / 784, "multiplied by ln 2"),
        ],
    ),
    (
        _named(checks.check_elbo_gap, "check_elbo_gap", IWAE, ELBO),
        (11 + 10 + 15) / 3,
        [(-12.0, "wrong sign"), (-90.0, "IWAE bound"), (15.0, "largest gap")],
    ),
    (
        checks.check_conv_flops,
        CONV_FLOPS,
        [
            (CONV_FLOPS / 2, "2 FLOPs per multiply-add"),
            (CONV_FLOPS * 4, "stride 2"),
            (CONV_FLOPS / 64, "64 input channels"),
        ],
    ),
    (
        checks.check_kv_cache_factors,
        (4096, 4096 / 784),
        [
            ((4096**2, 4096 / 784), "not N^2"),
            ((4096, 784 / 4096), "inverted"),
            ((4096, 64 / 28), "per pixel, not per side"),
            ((4096, None), "both numbers"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("checker", "right", "wrong"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_check_accepts_right_and_names_the_mistakes(checker, right, wrong, capsys):
    assert checker(right) is True
    assert capsys.readouterr().out.startswith("PASS")
    named = 0
    for answer, words in [(None, "no answer yet"), *wrong]:
        if words is None:  # The right answer in another form: must pass too.
            assert checker(answer) is True
            capsys.readouterr()
            continue
        assert checker(answer) is False, answer
        out = capsys.readouterr().out
        assert out.startswith("FAIL"), out
        assert words in out, f"feedback {out!r} should say {words!r}"
        named += bool(words)
    assert named >= 3, "each check must name at least 3 typical mistakes"


def test_a_stub_is_reported_as_not_implemented(capsys):
    def stub(*args):
        raise NotImplementedError

    assert checks.check_gaussian_kl(stub) is False
    assert "not implemented" in capsys.readouterr().out


def test_every_check_is_tested():
    # The build checks have their own test files (tests/test_checks_<module>.py).
    build = {
        name
        for module in (checks.toy_gan, checks.gan_build, checks.vae_build)
        for name in module.__all__
    }
    names = {name for name in dir(checks) if name.startswith("check_")} - build
    assert names == {case[0].__name__ for case in CASES}
