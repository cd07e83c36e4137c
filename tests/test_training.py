"""Tests for course_lib.training: resumable fits, the NaN guard, sample frames."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from gan_fixtures import (
    LATENT_DIM,
    Interrupt,
    gan_variables,
    real_batch,
    tiny_gan,
    unshuffled,
)

from course_lib import checkpoints, data, training


def test_interrupted_then_resumed_run_matches_an_uninterrupted_one(tmp_path):
    images = real_batch(24)
    straight = tiny_gan(seed=5, dropout=True)
    straight.fit(unshuffled(images), epochs=3, verbose=0)

    first = tiny_gan(seed=5, dropout=True)
    first.fit(
        unshuffled(images),
        epochs=1,
        verbose=0,
        callbacks=[training.AtomicCheckpoint(tmp_path)],
    )
    del first  # the "interrupted" process is gone

    resumed = tiny_gan(seed=99, dropout=True)  # other init: the checkpoint must win
    state = checkpoints.load_checkpoint(resumed, tmp_path)
    assert state["epoch"] == 1 and len(state["history"]["d_loss"]) == 1
    resumed.fit(
        unshuffled(images),
        epochs=3,
        initial_epoch=state["epoch"],
        verbose=0,
        callbacks=[
            training.AtomicCheckpoint(tmp_path, initial_history=state["history"])
        ],
    )
    for a, b in zip(gan_variables(straight), gan_variables(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    final = checkpoints.read_checkpoint_state(tmp_path)
    assert final["epoch"] == 3 and len(final["history"]["g_loss"]) == 3


def test_atomic_checkpoint_saves_every_n_epochs_and_the_last(tmp_path):
    gan = tiny_gan()
    saved = []
    original = checkpoints.save_checkpoint

    def recording_save(model, directory, epoch, *args, **kwargs):
        saved.append(epoch)
        return original(model, directory, epoch, *args, **kwargs)

    checkpoint = training.AtomicCheckpoint(tmp_path, every=2, keep=5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoints, "save_checkpoint", recording_save)
        gan.fit(
            real_batch(8), batch_size=8, epochs=5, verbose=0, callbacks=[checkpoint]
        )
    assert saved == [2, 4, 5] and checkpoint.last_saved_epoch == 5
    state = checkpoints.read_checkpoint_state(tmp_path)
    assert state["epoch"] == 5 and len(state["history"]["d_loss"]) == 5
    assert state["seconds"] > 0
    with pytest.raises(ValueError, match="every"):
        training.AtomicCheckpoint(tmp_path, every=0)


def test_fit_with_checkpoints_resumes_an_interrupted_run_exactly(tmp_path):
    images = real_batch(24)
    straight = tiny_gan(seed=5, dropout=True)
    straight_history, straight_info = training.fit_with_checkpoints(
        straight, unshuffled(images), 3, tmp_path / "straight", verbose=0
    )
    assert straight_info["initial_epoch"] == 0 and len(straight_history["d_loss"]) == 3

    interrupted = tiny_gan(seed=5, dropout=True)
    with pytest.raises(KeyboardInterrupt):
        training.fit_with_checkpoints(
            interrupted,
            unshuffled(images),
            3,
            tmp_path / "run",
            callbacks=[Interrupt(after_epochs=2)],
            verbose=0,
        )
    assert checkpoints.read_checkpoint_state(tmp_path / "run")["epoch"] == 2
    resumed = tiny_gan(seed=99, dropout=True)
    history, info = training.fit_with_checkpoints(
        resumed, unshuffled(images), 3, tmp_path / "run", verbose=0
    )
    assert info["initial_epoch"] == 2 and len(history["d_loss"]) == 3
    assert info["total_seconds"] >= info["seconds"] > 0
    np.testing.assert_allclose(
        history["d_loss"], straight_history["d_loss"], rtol=1e-5, atol=1e-6
    )
    for a, b in zip(gan_variables(straight), gan_variables(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class CountBatches(keras.callbacks.Callback):
    """Count the optimizer steps of a run, batch by batch."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_a_step_budget_of_one_pass_per_epoch_is_the_epoch_run_bit_for_bit(tmp_path):
    # 40 shuffled images in batches of 16: 3 batches per pass, the last partial,
    # as the recipes' budgets are counted (steps_per_epoch = ceil(n / batch)).
    images = real_batch(40)
    old = tiny_gan(seed=5, dropout=True)
    old_history = old.fit(
        data.make_dataset(images, 16, seed=7), epochs=3, verbose=0
    ).history
    new = tiny_gan(seed=5, dropout=True)
    history, _ = training.fit_with_checkpoints(
        new,
        data.make_dataset(images, 16, seed=7),
        3,
        tmp_path,
        steps_per_epoch=3,
        verbose=0,
    )
    assert history == old_history  # every per-epoch float, exactly
    for a, b in zip(gan_variables(old), gan_variables(new), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("images", [40, 16], ids=["more data", "less data"])
def test_a_step_budget_runs_exactly_its_steps_whatever_the_data_size(tmp_path, images):
    # 5 or 2 batches per pass; the budget is 2 epochs of 3 steps either way.
    gan = tiny_gan()
    counter = CountBatches()
    history, _ = training.fit_with_checkpoints(
        gan,
        data.make_dataset(real_batch(images), 8),
        2,
        tmp_path,
        callbacks=[counter],
        steps_per_epoch=3,
        verbose=0,
    )
    assert counter.batches == 6 and len(history["d_loss"]) == 2
    assert int(gan.d_optimizer.iterations) == 6


def test_a_step_budget_resumes_on_the_uninterrupted_stream(tmp_path):
    # Shuffled data, 5 batches per pass, epochs of 3 steps: the resumed run
    # skips the 3 batches epoch 1 took, so it trains on the same batches.
    def dataset():
        # The shuffle order depends on the global seed too, as after
        # config.seed_everything in every real run: fix it after the model's.
        keras.utils.set_random_seed(11)
        return data.make_dataset(real_batch(40), 8, seed=3)

    straight = tiny_gan(seed=5, dropout=True)
    straight_history, _ = training.fit_with_checkpoints(
        straight, dataset(), 3, tmp_path / "straight", steps_per_epoch=3, verbose=0
    )
    with pytest.raises(KeyboardInterrupt):
        training.fit_with_checkpoints(
            tiny_gan(seed=5, dropout=True),
            dataset(),
            3,
            tmp_path / "run",
            callbacks=[Interrupt(after_epochs=1)],
            steps_per_epoch=3,
            verbose=0,
        )
    resumed = tiny_gan(seed=99, dropout=True)
    history, info = training.fit_with_checkpoints(
        resumed, dataset(), 3, tmp_path / "run", steps_per_epoch=3, verbose=0
    )
    assert info["initial_epoch"] == 1
    np.testing.assert_allclose(
        history["d_loss"], straight_history["d_loss"], rtol=1e-5, atol=1e-6
    )
    for a, b in zip(gan_variables(straight), gan_variables(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fit_steps_names_the_fix_for_bad_arguments():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=2)
    x = np.zeros((10, 2), np.float32)
    batches = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(2)  # 5
    with pytest.raises(ValueError, match="positive integer"):
        training.fit_steps(model, batches, 1, 0)
    with pytest.raises(ValueError, match="Fix: pass data.make_dataset"):
        training.fit_steps(model, x, 1, 3)
    with pytest.raises(ValueError, match="steps_per_execution=2 does not divide"):
        training.fit_steps(model, batches, 1, 3)
    assert training.batches_per_pass(batches) == 5
    assert training.batches_per_pass(batches.repeat()) is None


def test_fit_with_checkpoints_starts_afresh_after_a_finished_run(tmp_path):
    gan = tiny_gan()
    training.fit_with_checkpoints(gan, real_batch(8), 1, tmp_path, verbose=0)
    again = tiny_gan()
    history, info = training.fit_with_checkpoints(
        again, real_batch(8), 1, tmp_path, verbose=0
    )
    assert info["initial_epoch"] == 0 and len(history["d_loss"]) == 1
    unfinished = tiny_gan()
    checkpoints.save_checkpoint(unfinished, tmp_path, epoch=1)
    _, info = training.fit_with_checkpoints(
        tiny_gan(), real_batch(8), 2, tmp_path, resume=False, verbose=0
    )
    assert info["initial_epoch"] == 0


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    gan = tiny_gan()
    checkpoint = training.AtomicCheckpoint(tmp_path)
    gan.fit(
        real_batch(8),
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[training.NaNGuard(), checkpoint],
    )
    good = (tmp_path / "ckpt-0001.weights.h5").read_bytes()
    poisoned = real_batch(8)
    poisoned[0, 0, 0, 0] = np.nan
    with pytest.raises(training.NonFiniteLossError, match="lower the learning rate"):
        gan.fit(
            poisoned,
            batch_size=8,
            epochs=3,
            initial_epoch=1,
            verbose=0,
            callbacks=[training.NaNGuard(), checkpoint],
        )
    state = checkpoints.read_checkpoint_state(tmp_path)
    assert state["epoch"] == 1
    assert (tmp_path / state["weights_file"]).read_bytes() == good
    assert issubclass(training.NonFiniteLossError, ValueError)


def test_nan_guard_can_stop_without_raising():
    gan = tiny_gan()
    guard = training.NaNGuard(raise_error=False)
    poisoned = real_batch(16)
    poisoned[:] = np.inf
    history = gan.fit(poisoned, batch_size=8, epochs=5, verbose=0, callbacks=[guard])
    assert len(history.history["d_loss"]) == 1 and "non-finite" in guard.message


def test_sample_grid_records_one_frame_per_epoch_from_fixed_latents():
    gan = tiny_gan()
    latent = np.random.default_rng(0).normal(size=(6, LATENT_DIM)).astype(np.float32)
    grid = training.SampleGrid(latent, columns=3)
    gan.fit(real_batch(8), batch_size=8, epochs=2, verbose=0, callbacks=[grid])
    assert grid.epochs == [1, 2]
    assert grid.frames[0].shape == (2 * 29 + 1, 3 * 29 + 1)
    expected = np.asarray(gan.generator(latent))
    top_left = grid.frames[-1][1:29, 1:29].astype(np.float64)
    np.testing.assert_allclose(
        top_left, np.round((expected[0, ..., 0] + 1) * 127.5), atol=1
    )
    with pytest.raises(ValueError, match="latent"):
        training.SampleGrid(np.zeros(3))


def test_sample_grid_uses_a_decode_function_and_needs_a_network():
    latent = np.zeros((2, 3), np.float32)
    grid = training.SampleGrid(
        latent,
        decode=lambda model, z: np.zeros((len(z), 28, 28, 1), np.float32),
        value_range="0,1",
        columns=2,
    )
    frame = grid.record(7)
    assert grid.epochs == [7] and frame.shape == (29 + 1, 2 * 29 + 1)
    assert frame[1:29, 1:29].max() == 0  # black digits in [0, 1]
    bare = training.SampleGrid(latent)
    bare.set_model(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="decode"):
        bare.record(1)


def test_adam_wraps_float16_in_loss_scaling_and_checks_the_rate():
    plain = training.adam(1e-3, "float32", beta_1=0.5)
    assert isinstance(plain, keras.optimizers.Adam)
    assert float(plain.beta_1) == pytest.approx(0.5)
    half = training.adam(1e-3, "mixed_float16")
    assert isinstance(half, keras.optimizers.LossScaleOptimizer)
    assert not isinstance(
        training.adam(1e-3, "mixed_bfloat16"), keras.optimizers.LossScaleOptimizer
    )
    with pytest.raises(ValueError, match="learning_rate"):
        training.adam(0.0, "float32")
