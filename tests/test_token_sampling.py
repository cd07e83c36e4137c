"""Tests for course_lib.token_sampling: temperature and top-k, the autoregressive
sampler (cache = recompute, greedy = argmax, seeds), the MaskGIT cosine schedule and
sampler and the sequential-call counts."""

import math

import numpy as np
import pytest

from course_lib import token_sampling, transformer

VOCAB, CODES, LENGTH = 9, 8, 6


@pytest.fixture(scope="module")
def causal():
    return transformer.build_transformer(
        VOCAB, CODES, LENGTH, width=16, depth=2, heads=2, causal=True, seed=0
    )


@pytest.fixture(scope="module")
def bidirectional():
    return transformer.build_transformer(
        VOCAB, CODES, LENGTH, width=16, depth=2, heads=2, causal=False, seed=1
    )


def test_cosine_schedule_counts_for_eight_steps():
    # floor(49 cos(pi/2 k/8)) for k = 1..8, worked out by hand.
    assert token_sampling.cosine_schedule(8).tolist() == [48, 45, 40, 34, 27, 18, 9, 0]


@pytest.mark.parametrize("steps", list(range(1, 50)))
def test_cosine_schedule_reveals_every_token_at_least_one_per_step(steps):
    masked = token_sampling.cosine_schedule(steps)
    revealed = -np.diff(np.concatenate([[49], masked]))
    assert len(masked) == steps and masked[-1] == 0
    assert revealed.min() >= 1 and revealed.sum() == 49
    for step, count in enumerate(masked, start=1):
        assert count <= math.floor(49 * math.cos(math.pi / 2 * step / steps)) or (
            count == steps - step
        )


@pytest.mark.parametrize("steps", [0, -1, 50, 2.5, None])
def test_cosine_schedule_refuses_bad_steps(steps):
    with pytest.raises(ValueError, match="Fix"):
        token_sampling.cosine_schedule(steps)


def test_filter_logits_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 8)).astype(np.float32)
    got = np.asarray(token_sampling.filter_logits(logits, 0.5, 3))
    expected = logits / 0.5
    third = np.sort(expected, axis=1)[:, -3][:, None]
    expected = np.where(expected >= third, expected, -np.inf)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert np.all(np.isfinite(got).sum(axis=1) == 3)


@pytest.mark.parametrize(
    ("temperature", "top_k"), [(0.0, None), (-1.0, None), (1.0, 0), (1.0, 9), (1, 2.0)]
)
def test_bad_temperature_or_top_k_is_refused(temperature, top_k):
    with pytest.raises(ValueError, match="Fix"):
        token_sampling.check_sampling(temperature, top_k, 8)


def test_autoregressive_same_seed_same_tokens_and_cache_equals_recompute(causal):
    first = token_sampling.autoregressive_sample(causal, 5, seed=3)
    again = token_sampling.autoregressive_sample(causal, 5, seed=3)
    other = token_sampling.autoregressive_sample(causal, 5, seed=4)
    uncached = token_sampling.autoregressive_sample(causal, 5, seed=3, use_cache=False)
    assert first.shape == (5, LENGTH) and first.dtype == np.int32
    assert first.min() >= 0 and first.max() < CODES
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, uncached)
    assert not np.array_equal(first, other)


def test_top_k_one_is_greedy_decoding(causal):
    tokens = token_sampling.autoregressive_sample(causal, 2, seed=0, top_k=1)
    inputs = np.full((2, LENGTH), VOCAB - 1, np.int32)
    for position in range(LENGTH):
        best = np.argmax(np.asarray(causal(inputs))[:, position], axis=1)
        np.testing.assert_array_equal(tokens[:, position], best)
        if position + 1 < LENGTH:
            inputs[:, position + 1] = best


def test_autoregressive_refuses_a_bidirectional_model_and_bad_counts(
    causal, bidirectional
):
    with pytest.raises(ValueError, match="maskgit_sample"):
        token_sampling.autoregressive_sample(bidirectional, 2)
    with pytest.raises(ValueError):
        token_sampling.autoregressive_sample(causal, 0)


def test_maskgit_fills_every_token_and_repeats_with_the_seed(bidirectional):
    first = token_sampling.maskgit_sample(bidirectional, 4, steps=3, seed=2)
    again = token_sampling.maskgit_sample(bidirectional, 4, steps=3, seed=2)
    assert first.shape == (4, LENGTH) and first.min() >= 0 and first.max() < CODES
    np.testing.assert_array_equal(first, again)
    one_step = token_sampling.maskgit_sample(
        bidirectional, 4, steps=1, seed=2, top_k=1, choice_temperature=0.0
    )
    # One step from all-MASK with top-k 1 is the argmax of one forward pass.
    logits = np.asarray(bidirectional(np.full((4, LENGTH), VOCAB - 1, np.int32)))
    np.testing.assert_array_equal(one_step, np.argmax(logits, axis=-1))


@pytest.mark.parametrize("steps", [0, LENGTH + 1])
def test_maskgit_refuses_bad_steps(bidirectional, steps):
    with pytest.raises(ValueError, match="steps"):
        token_sampling.maskgit_sample(bidirectional, 2, steps=steps)


def test_sequential_calls():
    assert token_sampling.sequential_calls("gan") == 1
    assert token_sampling.sequential_calls("vae") == 1
    assert token_sampling.sequential_calls("autoregressive") == 50
    assert token_sampling.sequential_calls("maskgit", 8) == 9
    assert token_sampling.sequential_calls("latent_diffusion", 1000) == 1001
    with pytest.raises(ValueError, match="steps"):
        token_sampling.sequential_calls("maskgit", 0)
    with pytest.raises(ValueError, match="Fix"):
        token_sampling.sequential_calls("pixelcnn")
