"""Tests for course_lib.checkpoints: exact, atomic save and load of any model."""

import json

import keras
import numpy as np
import pytest
from gan_fixtures import gan_variables, real_batch, tiny_gan, unshuffled

from course_lib import checkpoints


def test_saved_then_loaded_run_matches_an_uninterrupted_one(tmp_path):
    images = real_batch(24)
    straight = tiny_gan(seed=5, dropout=True)
    straight.fit(unshuffled(images), epochs=3, verbose=0)

    first = tiny_gan(seed=5, dropout=True)
    history = first.fit(unshuffled(images), epochs=1, verbose=0).history
    checkpoints.save_checkpoint(first, tmp_path, epoch=1, history=history)
    del first  # the "interrupted" process is gone

    resumed = tiny_gan(seed=99, dropout=True)  # other init: the checkpoint must win
    state = checkpoints.load_checkpoint(resumed, tmp_path)
    assert state["epoch"] == 1 and len(state["history"]["d_loss"]) == 1
    assert state["history"]["d_loss"] == pytest.approx(history["d_loss"])
    resumed.fit(unshuffled(images), epochs=3, initial_epoch=1, verbose=0)
    for a, b in zip(gan_variables(straight), gan_variables(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_plain_model_with_one_optimizer_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    checkpoints.save_checkpoint(model, tmp_path, epoch=2, seconds=1.5)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    state = checkpoints.load_checkpoint(other, tmp_path)
    assert state["epoch"] == 2 and state["seconds"] == 1.5
    assert state["format"] == checkpoints.FORMAT_VERSION
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        model.optimizer.iterations, other.optimizer.iterations
    )
    for a, b in zip(model.optimizer.variables, other.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_optimizer_variable_groups_of_plain_gan_and_uncompiled_models():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert checkpoints.optimizer_variable_groups(model) == []
    model.compile(optimizer="sgd", loss="mse")
    ((optimizer, variables),) = checkpoints.optimizer_variable_groups(model)
    assert optimizer is model.optimizer
    assert [v.path for v in variables] == [v.path for v in model.trainable_variables]
    gan = tiny_gan()
    groups = checkpoints.optimizer_variable_groups(gan)
    assert [g[0] for g in groups] == [gan.d_optimizer, gan.g_optimizer]


def test_fingerprint_and_random_states():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    fingerprint = checkpoints.architecture_fingerprint(model)
    assert [shape for _, shape in fingerprint] == [[3, 2], [2]]
    gan = tiny_gan(dropout=True)
    states = checkpoints.random_state_variables(gan)
    weight_paths = {v.path for v in gan.weights}
    # The noise, augmentation and dropout seed generators, none of them a weight.
    assert len(states) >= 3 and not any(v.path in weight_paths for v in states)


def test_missing_checkpoint_reads_as_none(tmp_path):
    assert checkpoints.read_checkpoint_state(tmp_path) is None
    assert checkpoints.load_checkpoint(tiny_gan(), tmp_path) is None


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    gan = tiny_gan()
    for epoch in (1, 2, 3):
        checkpoints.save_checkpoint(gan, tmp_path, epoch=epoch, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        checkpoints.POINTER_FILE,
        "ckpt-0002.optimizer.npz",
        "ckpt-0002.weights.h5",
        "ckpt-0003.optimizer.npz",
        "ckpt-0003.weights.h5",
    ]
    assert checkpoints.read_checkpoint_state(tmp_path)["epoch"] == 3


def test_checkpoint_from_another_architecture_is_refused(tmp_path):
    gan = tiny_gan()
    checkpoints.save_checkpoint(gan, tmp_path, epoch=1)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="different architecture.*Fix"):
        checkpoints.load_checkpoint(other, tmp_path)


def test_checkpoint_from_another_optimizer_is_refused(tmp_path):
    gan = tiny_gan(optimizer="adam")
    checkpoints.save_checkpoint(gan, tmp_path, epoch=1)
    with pytest.raises(ValueError, match="same optimizer class.*Fix"):
        checkpoints.load_checkpoint(tiny_gan(optimizer="sgd"), tmp_path)


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    gan = tiny_gan()
    checkpoints.save_checkpoint(gan, tmp_path, epoch=1)
    saved = [np.array(w) for w in gan.weights]
    gan.fit(real_batch(8), batch_size=8, epochs=1, verbose=0)

    def crash(path):
        with open(path, "wb") as handle:
            handle.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(gan, "save_weights", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save_checkpoint(gan, tmp_path, epoch=2)
    assert not list(tmp_path.glob(".tmp-*"))  # no half-written files left
    pointer = tmp_path / checkpoints.POINTER_FILE
    assert json.loads(pointer.read_text())["epoch"] == 1
    fresh = tiny_gan(seed=7)
    checkpoints.load_checkpoint(fresh, tmp_path)
    for a, b in zip(saved, [np.array(w) for w in fresh.weights], strict=True):
        np.testing.assert_array_equal(a, b)
