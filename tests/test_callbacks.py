"""Tests for course_lib.callbacks: atomic, exact resume; NaN guard; sample frames."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from gan_fixtures import LATENT_DIM, real_batch, tiny_gan

from course_lib import callbacks


def unshuffled(images, batch_size=8):
    # Exact resumption needs the same batch order in the resumed epochs.
    return tf.data.Dataset.from_tensor_slices(images).batch(batch_size)


def gan_variables(gan):
    arrays = [np.array(w) for w in gan.weights]
    for optimizer, _ in gan.optimizer_variable_groups():
        arrays += [np.array(v) for v in optimizer.variables]
    return arrays


def test_interrupted_then_resumed_run_matches_an_uninterrupted_one(tmp_path):
    images = real_batch(24)
    straight = tiny_gan(seed=5, dropout=True)
    straight.fit(unshuffled(images), epochs=3, verbose=0)

    first = tiny_gan(seed=5, dropout=True)
    first.fit(
        unshuffled(images),
        epochs=1,
        verbose=0,
        callbacks=[callbacks.AtomicCheckpoint(tmp_path)],
    )
    del first  # the "interrupted" process is gone

    resumed = tiny_gan(seed=99, dropout=True)  # other init: the checkpoint must win
    state = callbacks.load_checkpoint(resumed, tmp_path)
    assert state["epoch"] == 1 and len(state["history"]["d_loss"]) == 1
    resumed.fit(
        unshuffled(images),
        epochs=3,
        initial_epoch=state["epoch"],
        verbose=0,
        callbacks=[
            callbacks.AtomicCheckpoint(tmp_path, initial_history=state["history"])
        ],
    )
    for a, b in zip(gan_variables(straight), gan_variables(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    final = callbacks.read_checkpoint_state(tmp_path)
    assert final["epoch"] == 3 and len(final["history"]["g_loss"]) == 3


def test_plain_model_with_one_optimizer_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    model.fit(
        x, y, epochs=2, verbose=0, callbacks=[callbacks.AtomicCheckpoint(tmp_path)]
    )
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    callbacks.load_checkpoint(other, tmp_path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        model.optimizer.iterations, other.optimizer.iterations
    )


def test_checkpoint_from_another_architecture_is_refused(tmp_path):
    gan = tiny_gan()
    callbacks.save_checkpoint(gan, tmp_path, epoch=1)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="different architecture.*Fix"):
        callbacks.load_checkpoint(other, tmp_path)


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    gan = tiny_gan()
    callbacks.save_checkpoint(gan, tmp_path, epoch=1)
    saved = [np.array(w) for w in gan.weights]
    gan.fit(real_batch(8), batch_size=8, epochs=1, verbose=0)

    def crash(path):
        with open(path, "wb") as handle:
            handle.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(gan, "save_weights", crash)
    with pytest.raises(KeyboardInterrupt):
        callbacks.save_checkpoint(gan, tmp_path, epoch=2)
    assert not list(tmp_path.glob(".tmp-*"))  # no half-written files left
    assert json.loads((tmp_path / "checkpoint.json").read_text())["epoch"] == 1
    fresh = tiny_gan(seed=7)
    callbacks.load_checkpoint(fresh, tmp_path)
    for a, b in zip(saved, [np.array(w) for w in fresh.weights], strict=True):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    gan = tiny_gan()
    checkpoint = callbacks.AtomicCheckpoint(tmp_path)
    gan.fit(
        real_batch(8),
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[callbacks.NaNGuard(), checkpoint],
    )
    good = (tmp_path / "ckpt-0001.weights.h5").read_bytes()
    poisoned = real_batch(8)
    poisoned[0, 0, 0, 0] = np.nan
    with pytest.raises(callbacks.NonFiniteLossError, match="lower the learning rate"):
        gan.fit(
            poisoned,
            batch_size=8,
            epochs=3,
            initial_epoch=1,
            verbose=0,
            callbacks=[callbacks.NaNGuard(), checkpoint],
        )
    state = callbacks.read_checkpoint_state(tmp_path)
    assert state["epoch"] == 1
    assert (tmp_path / state["weights_file"]).read_bytes() == good


def test_nan_guard_can_stop_without_raising():
    gan = tiny_gan()
    guard = callbacks.NaNGuard(raise_error=False)
    poisoned = real_batch(16)
    poisoned[:] = np.inf
    history = gan.fit(poisoned, batch_size=8, epochs=5, verbose=0, callbacks=[guard])
    assert len(history.history["d_loss"]) == 1 and "non-finite" in guard.message


def test_sample_grid_records_one_frame_per_epoch_from_fixed_latents():
    gan = tiny_gan()
    latent = np.random.default_rng(0).normal(size=(6, LATENT_DIM)).astype(np.float32)
    grid = callbacks.SampleGrid(latent, columns=3)
    gan.fit(real_batch(8), batch_size=8, epochs=2, verbose=0, callbacks=[grid])
    assert grid.epochs == [1, 2]
    assert grid.frames[0].shape == (2 * 29 + 1, 3 * 29 + 1)
    expected = np.asarray(gan.generator(latent))
    top_left = grid.frames[-1][1:29, 1:29].astype(np.float64)
    np.testing.assert_allclose(
        top_left, np.round((expected[0, ..., 0] + 1) * 127.5), atol=1
    )
    with pytest.raises(ValueError, match="latent"):
        callbacks.SampleGrid(np.zeros(3))
