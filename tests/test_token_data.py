"""Tests for course_lib.token_data: MaskGIT training masks and the priors' datasets."""

import dataclasses

import numpy as np

from course_lib import token_data, tokens

TINY = dataclasses.replace(tokens.RECIPE, num_codes=8, batch_size=4)


def _sequences(count=8, seed=0):
    return np.random.default_rng(seed).integers(0, 8, (count, 49)).astype(np.int32)


def test_mask_tokens_masks_at_least_one_and_keeps_the_rest():
    tokens = np.random.default_rng(0).integers(0, 8, (64, 49), np.int32)
    inputs, targets, weights = (
        np.asarray(t) for t in token_data.mask_tokens(tokens, 8, seed=5)
    )
    masked = weights == 1
    assert masked.sum(axis=1).min() >= 1 and masked.sum(axis=1).max() <= 49
    np.testing.assert_array_equal(inputs[masked], 8)
    np.testing.assert_array_equal(inputs[~masked], tokens[~masked])
    np.testing.assert_array_equal(targets, tokens)
    # On average a cosine schedule masks 2/pi of the tokens.
    assert abs(masked.mean() - 2 / np.pi) < 0.1


def test_the_causal_dataset_shifts_the_sequence_behind_bos():
    sequences = _sequences()
    dataset = token_data.prior_dataset(sequences, TINY, True, False, 0)
    inputs, targets = next(iter(dataset))
    np.testing.assert_array_equal(targets, sequences[:4])
    np.testing.assert_array_equal(inputs[:, 0], TINY.num_codes)
    np.testing.assert_array_equal(inputs[:, 1:], sequences[:4, :-1])


def test_the_maskgit_dataset_masks_with_weights():
    sequences = _sequences()
    inputs, targets, weights = next(
        iter(token_data.prior_dataset(sequences, TINY, False, False, 0))
    )
    inputs, weights = np.asarray(inputs), np.asarray(weights)
    np.testing.assert_array_equal(targets, sequences[:4])
    np.testing.assert_array_equal(inputs[weights == 1], TINY.num_codes)
    assert weights.sum(axis=1).min() >= 1
