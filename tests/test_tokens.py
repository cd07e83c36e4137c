"""Tests for course_lib.tokens: the generator's samplers and images, its seeds and bad
inputs, and the one-file float16 round trip."""

import dataclasses

import numpy as np
import pytest

from course_lib import tokens, transformer, vq

TINY = dataclasses.replace(
    tokens.RECIPE, num_codes=8, code_dim=4, width=16, depth=1, heads=2
)


@pytest.fixture(scope="module")
def generator():
    return tokens.build_generator(TINY)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"temperature": 0.5, "top_k": 3},
        {"use_cache": False},
        {"sampler": "maskgit", "steps": 4},
        {"sampler": "maskgit", "steps": 1, "temperature": 2.0},
    ],
)
def test_generate_returns_float32_images_in_range_and_repeats(generator, options):
    images = generator.generate(3, seed=5, **options)
    assert images.shape == (3, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, generator.generate(3, seed=5, **options))


def test_images_are_the_decoded_tokens(generator):
    codes = generator.sample_tokens(2, seed=1)
    assert codes.shape == (2, vq.TOKENS) and codes.max() < TINY.num_codes
    expected = 2.0 * generator.tokenizer.decode_tokens(codes.reshape(2, 7, 7)) - 1.0
    np.testing.assert_allclose(generator.generate(2, seed=1), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"sampler": "diffusion"}, "autoregressive, maskgit"),
        ({"sampler": "maskgit", "steps": 0}, "steps"),
        ({"sampler": "maskgit", "steps": 50}, "steps"),
        ({"temperature": 0.0}, "temperature"),
        ({"top_k": 9}, "top_k"),
    ],
)
def test_bad_options_are_refused_with_the_fix(generator, options, match):
    with pytest.raises(ValueError, match=match):
        generator.generate(2, **options)


def test_the_priors_are_causal_and_bidirectional(generator):
    assert transformer.is_causal(generator.autoregressive_prior)
    assert not transformer.is_causal(generator.maskgit_prior)


def test_float16_round_trip_and_a_mismatched_file(generator, tmp_path):
    path = tokens.save(generator, tmp_path / "tokens.weights.h5", TINY)
    loaded = tokens.load(path, TINY)
    assert len(loaded.weights) == len(generator.weights)
    for saved, restored in zip(generator.weights, loaded.weights, strict=True):
        np.testing.assert_allclose(
            np.asarray(restored), np.asarray(saved), rtol=2e-3, atol=1e-3
        )
    with pytest.raises(ValueError, match="Fix"):
        tokens.load(path, dataclasses.replace(TINY, depth=2))


def test_the_recipe_recorded_in_a_manifest_wins():
    entry = {"recipe": {"num_codes": 64, "width": 96, "not_a_field": 1}}
    recipe = tokens.recipe_from_manifest(entry)
    assert recipe.num_codes == 64 and recipe.width == 96
    assert recipe.depth == tokens.RECIPE.depth
