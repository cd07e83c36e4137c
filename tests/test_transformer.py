"""Tests for course_lib.transformer: the causal mask, attention against NumPy, and the
KV cache against a full recompute."""

import numpy as np
import pytest

from course_lib import transformer


def _tiny(causal=True, length=6, vocab=9):
    return transformer.build_transformer(
        vocab, vocab - 1, length, width=16, depth=2, heads=2, causal=causal, seed=0
    )


def _tokens(batch=3, length=6, vocab=9, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, (batch, length), np.int32)


def test_causal_mask_is_lower_triangular():
    mask = np.asarray(transformer.causal_mask(5))
    np.testing.assert_array_equal(mask, np.tril(np.ones((5, 5), bool)))


def test_attention_matches_numpy():
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=(2, 3, 4, 5)).astype(np.float32) for _ in range(3))
    mask = np.tril(np.ones((4, 4), bool))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(5)
    scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    expected = weights @ v
    got = np.asarray(transformer.attention(q, k, v, mask))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_kv_cache_equals_the_full_recompute():
    model = _tiny()
    tokens = _tokens()
    full = np.asarray(model(tokens, training=False))
    cache = transformer.empty_cache(model, 3)
    stepped = []
    for position in range(6):
        logits, cache = transformer.cached_step(
            model, tokens[:, position], position, cache
        )
        stepped.append(np.asarray(logits))
    np.testing.assert_allclose(np.stack(stepped, axis=1), full, atol=1e-5)


def test_a_causal_model_ignores_later_tokens_and_a_bidirectional_one_does_not():
    tokens = _tokens(batch=1)
    changed = tokens.copy()
    changed[0, 4] = (changed[0, 4] + 1) % 9
    causal, bidirectional = _tiny(True), _tiny(False)
    before, after = np.asarray(causal(tokens)), np.asarray(causal(changed))
    np.testing.assert_allclose(before[:, :4], after[:, :4], atol=1e-6)
    assert np.abs(before[:, 4:] - after[:, 4:]).max() > 1e-4
    before, after = (
        np.asarray(bidirectional(tokens)),
        np.asarray(bidirectional(changed)),
    )
    assert np.abs(before[:, :4] - after[:, :4]).max() > 1e-4


def test_a_cache_for_a_bidirectional_model_is_refused():
    with pytest.raises(ValueError, match="causal=True"):
        transformer.empty_cache(_tiny(False), 2)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="divisible"):
        transformer.build_transformer(9, 8, 6, width=10, heads=3)
    with pytest.raises(ValueError):
        transformer.build_transformer(1, 8, 6)


def test_output_shape_and_blocks():
    model = _tiny()
    assert model(_tokens()).shape == (3, 6, 8)
    assert len(transformer.blocks(model)) == 2 and transformer.is_causal(model)
