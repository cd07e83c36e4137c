"""Tests for course_lib.checks: each checker accepts the right answer and rejects
wrong ones. The right answers are computed here from first principles."""

import math

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

from course_lib import checks


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


# (checker, right answer, wrong answers)
CASES = [
    (checks.check_autoregressive_steps, 12288, [4096, 64 * 64, 12289.0]),
    (checks.check_token_count, 1024, [256, 32, 65536]),
    (
        checks.check_history_years,
        {"deep_belief_network": 2006, "alexnet": 2012, "elman_network": 1990},
        [
            {"deep_belief_network": 2003, "alexnet": 2012, "elman_network": 1990},
            {"deep_belief_network": 2006, "alexnet": 2013, "elman_network": 1990},
            {"deep_belief_network": 2006, "alexnet": 2012},
            2006,
        ],
    ),
    (
        checks.check_optimal_discriminator_value,
        math.exp(-0) / (math.exp(0) + math.exp(-0.5)),
        [0.5, 1 / (1 + math.exp(0.5)), 0.62],
    ),
    (
        checks.check_jsd,
        0.5 * math.log(2),
        [math.log(2), 0.5 * math.log2(2), 0.0],
    ),
    (
        checks.check_generator_logit_gradient,
        lambda f: _sigmoid_stable(f) - 1.0,
        [
            lambda f: 1.0 - _sigmoid_stable(f),  # wrong sign
            lambda f: -1.0 / _sigmoid_stable(f),  # the article's 1/D, no chain rule
            lambda f: -np.exp(-f) / (1.0 + np.exp(-f)),  # inf / inf = NaN at f = -1000
            lambda f: undefined_name,  # noqa: F821 - a function that raises
            3.0,  # not a function
            lambda f: None,  # an unfinished stub
            lambda f: "text",
        ],
    ),
    (
        checks.check_gaussian_kl,
        _kl,
        [
            lambda m, lv: 2 * _kl(m, lv),
            lambda m, lv: 0.5 * np.sum(np.exp(lv) + m**2 - 1 - lv, axis=0),
            lambda m, lv: 0.5 * np.sum(lv**2 + m**2 - 1 - np.log(lv**2), axis=1),
        ],
    ),
    (
        checks.check_linear_gaussian_posterior,
        (0.8, 0.2),
        [(0.8, 0.5), (1.0, 0.2), 0.8, (0.8, 0.2, 0.0)],
    ),
    (
        checks.check_gaussian_nll,
        _gaussian_nll,
        [
            lambda x, xh, s: ((x - xh) ** 2).reshape(len(x), -1).sum(axis=1),
            lambda x, xh, s: _gaussian_nll(x, xh, s).mean(),
            lambda x, xh, s: _gaussian_nll(x, xh, 1.0),
        ],
    ),
]


@pytest.mark.parametrize(
    ("checker", "right", "wrong"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_checker_accepts_right_and_rejects_wrong(checker, right, wrong, capsys):
    assert checker(right) is True
    assert capsys.readouterr().out.startswith("PASS")
    for answer in [None, *wrong]:
        assert checker(answer) is False
        assert capsys.readouterr().out.startswith("FAIL")


def test_every_checker_is_tested():
    names = {name for name in dir(checks) if name.startswith("check_")}
    assert names == {case[0].__name__ for case in CASES}
