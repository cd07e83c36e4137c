"""Tests for course_lib.tokens_ship: bad token inputs, tiny prior and tokenizer runs,
and the restoring of a finished stage."""

import dataclasses

import keras
import numpy as np
import pytest

from course_lib import config, recipes, token_data, tokens, tokens_ship

TINY = dataclasses.replace(
    tokens.RECIPE,
    num_codes=8,
    code_dim=4,
    width=16,
    depth=1,
    heads=2,
    batch_size=4,
    # 16 images or sequences in batches of 4: 4 steps per pass.
    training_steps={
        "tokenizer": {"quick": 8, "full": 8},
        "prior": {"quick": 4, "full": 4},
        "maskgit": {"quick": 4, "full": 4},
        "diffusion": {"quick": 4, "full": 4},
    },
    steps_per_epoch={
        stage: {"quick": 4, "full": 4}
        for stage in ("tokenizer", "prior", "maskgit", "diffusion")
    },
)
QUICK = config.get_profile("quick")


def _sequences(count=8, seed=0):
    return np.random.default_rng(seed).integers(0, 8, (count, 49)).astype(np.int32)


@pytest.mark.parametrize(
    ("sequences", "match"),
    [
        (np.zeros((4, 48), np.int32), "reshape"),
        (np.full((4, 49), 8, np.int32), r"\[0, 8\)"),
        (np.zeros((4, 49), np.float32), "integers"),
    ],
)
def test_train_prior_refuses_bad_tokens(sequences, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        tokens_ship.train_prior(sequences, sequences, TINY, QUICK, True, tmp_path)


def test_a_tiny_prior_trains_and_a_finished_run_restarts(tmp_path):
    sequences = _sequences(16)
    model, history, info = tokens_ship.train_prior(
        sequences, sequences[:8], TINY, QUICK, True, tmp_path / "ar", verbose=0
    )
    assert np.isfinite(history["loss"]).all() and "val_loss" in history
    assert info["initial_epoch"] == 0 and model.output_shape == (None, 49, 8)


def test_a_tiny_tokenizer_run_records_usage(tmp_path):
    images = (np.random.default_rng(1).random((16, 28, 28, 1)) > 0.7).astype("float32")
    model, history, usage, _ = tokens_ship.train_tokenizer(
        images, TINY, QUICK, tmp_path / "tok", verbose=0
    )
    assert [r["epoch"] for r in usage] == [1, 2]
    # Re-seeding happens after every epoch but the last.
    assert usage[-1]["reseeded"] == 0
    assert len(history["loss"]) == 2 and model.num_codes == 8


def test_a_finished_stage_is_restored_not_retrained(tmp_path):
    sequences = _sequences(8)
    first, _, _ = tokens_ship.train_prior(
        sequences, sequences, TINY, QUICK, True, tmp_path / "ar", verbose=0
    )
    again, _, info = tokens_ship.train_prior(
        sequences, sequences, TINY, QUICK, True, tmp_path / "ar", verbose=0
    )
    assert info["initial_epoch"] == 1 and info["seconds"] == 0.0
    for a, b in zip(first.weights, again.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_tokens_epochs_reads_a_stage_or_the_old_per_profile_dict():
    full = config.get_profile("full")
    assert tokens.epochs("prior", full) == recipes.epochs(tokens.RECIPE, full, "prior")
    assert tokens.epochs("tokenizer", QUICK, TINY) == 2
    assert tokens.epochs({"quick": 3, "full": 7}, full) == 7


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "maskgit"])
def test_a_prior_in_steps_is_the_old_epoch_run_bit_for_bit(tmp_path, causal):
    sequences = _sequences(16)
    recipe = dataclasses.replace(
        TINY,
        training_steps={**TINY.training_steps, "prior": {"quick": 8, "full": 8}},
    )
    recipe = dataclasses.replace(
        recipe,
        training_steps={**recipe.training_steps, "maskgit": {"quick": 8, "full": 8}},
    )
    keras.utils.set_random_seed(0)  # the initial weights, as ship() seeds them
    model, history, _ = tokens_ship.train_prior(
        sequences, sequences[:8], recipe, QUICK, causal, tmp_path, seed=2, verbose=0
    )
    # What train_prior did when the recipe counted epochs (2 of 4 batches).
    keras.utils.set_random_seed(0)
    old = tokens.build_prior(recipe, causal, 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        recipe.learning_rate, 2 * 4, alpha=0.05
    )
    old.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    old.optimizer.build(old.trainable_variables)
    old_history = old.fit(
        token_data.prior_dataset(sequences, recipe, causal, True, 2),
        epochs=2,
        verbose=0,
        validation_data=token_data.prior_dataset(
            sequences[:8], recipe, causal, False, 7
        ),
    ).history
    assert history == old_history
    for a, b in zip(old.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
