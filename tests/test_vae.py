"""Tests for course_lib.vae: shapes, the ELBO and IWAE bounds against independent
computations, training, exact resumption under training.fit_with_checkpoints,
serialization and a MirroredStrategy build."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib import checkpoints, config, data, hardware, pixels, training, vae


@pytest.fixture(scope="module")
def digits():
    mnist = data.load_mnist(verbose=False)
    return pixels.binarize(mnist.x_train[:64]), pixels.binarize(mnist.x_test[:20])


def _small_vae(latent_dim=4, seed=0):
    config.seed_everything(seed)
    return vae.build_vae(latent_dim, precision="float32", seed=seed)


# ------------------------------------------------------------------------ shapes


def test_vae_shapes_samples_and_reconstructions(digits):
    train, _ = digits
    model = _small_vae(3)
    mean, logvar = model.encoder(train[:5])
    assert mean.shape == (5, 3) and logvar.shape == (5, 3)
    assert model.decoder(np.zeros((3, 3), "float32")).shape == (3, 28, 28, 1)
    assert model(train[:2]).shape == (2, 28, 28, 1)
    samples = model.sample(7, seed=1)
    assert samples.shape == (7, 28, 28, 1)
    assert samples.min() >= 0 and samples.max() <= 1
    assert model.reconstruct(train[:4]).shape == (4, 28, 28, 1)
    assert np.array_equal(model.sample(3, seed=5), model.sample(3, seed=5))


def test_generate_maps_the_decoder_means_to_minus_one_one(digits):
    model = _small_vae(3)
    # Independently: sigmoid of the decoder's logits at the same NumPy draws.
    z = np.random.default_rng(4).standard_normal((6, 3)).astype("float32")
    logits = np.asarray(model.decoder(z), np.float64)
    expected = 2.0 / (1.0 + np.exp(-logits)) - 1.0
    images = model.generate(6, seed=4)
    assert images.shape == (6, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    np.testing.assert_allclose(images, expected, atol=1e-5)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "16", None])
def test_bad_latent_dim_raises_value_error(bad):
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        vae.build_vae(bad)


def test_compute_terms_match_the_losses_written_out_in_numpy(digits):
    # With logvar forced to a huge negative value, z equals the mean, so the
    # one-sample loss is deterministic and can be recomputed in NumPy.
    train, _ = digits
    model = _small_vae()
    images = train[:8]
    mean, _ = model.encoder(images)
    mean = np.asarray(mean, np.float64)
    model.encode = lambda x, training=False: (
        tf.cast(mean, "float32"),
        tf.fill(tf.shape(mean), -60.0),
    )
    loss, reconstruction, kl = model.compute_terms(images)
    logits = np.asarray(model.decoder(mean.astype("float32")), np.float64)
    x = images.astype(np.float64)
    expected_reconstruction = np.mean(
        np.sum(np.logaddexp(0, logits) - x * logits, axis=(1, 2, 3))
    )
    logvar = -60.0
    expected_kl = np.mean(0.5 * np.sum(np.exp(logvar) + mean**2 - 1 - logvar, axis=1))
    assert float(reconstruction) == pytest.approx(expected_reconstruction, rel=1e-4)
    assert float(kl) == pytest.approx(expected_kl, rel=1e-4)
    assert float(loss) == pytest.approx(expected_reconstruction + expected_kl, rel=1e-4)


# ------------------------------------------------------------------------ bounds


def test_iwae_is_at_least_the_elbo_and_grows_with_k(digits):
    _, test = digits
    model = _small_vae()
    one = vae.held_out_bounds(model, test, num_samples=1, seed=3)
    assert np.allclose(one["iwae"], one["elbo"], atol=1e-9)
    many = vae.held_out_bounds(model, test, num_samples=64, seed=3)
    assert np.all(many["iwae"] >= many["elbo"] - 1e-9)
    assert many["iwae_log_px"] > one["iwae_log_px"]
    assert many["negative_elbo"] == pytest.approx(-many["elbo"].mean())


def test_elbo_estimate_matches_closed_form_kl_plus_reconstruction(digits):
    # The Monte Carlo ELBO E[log p(x|z) + log p(z) - log q(z|x)] must agree with
    # E[log p(x|z)] - KL(q || p), where the KL is the closed form. The encoder's
    # heads are shifted so that the KL is about 25 nats (an untrained encoder gives
    # 0.01): far beyond the Monte Carlo error, so that an ELBO without its KL
    # term, or with it the wrong way round, fails.
    _, test = digits
    model = _small_vae()
    model.encoder.get_layer("mean").bias.assign(np.full(4, 3.0, "float32"))
    model.encoder.get_layer("logvar").bias.assign(np.full(4, -4.0, "float32"))
    images, draws = test[:4], 500
    bounds = vae.held_out_bounds(model, images, num_samples=draws, seed=0)
    mean, logvar = (np.asarray(t, np.float64)[:, None] for t in model.encoder(images))
    kl = 0.5 * np.sum(np.exp(logvar) + mean**2 - 1 - logvar, axis=-1)[:, 0]
    eps = np.random.default_rng(1).standard_normal((4, draws, mean.shape[-1]))
    z = mean + np.exp(0.5 * logvar) * eps
    logits = np.asarray(model.decoder(z.reshape(-1, mean.shape[-1]).astype("float32")))
    logits = logits.reshape(4, draws, -1).astype(np.float64)
    x = images.reshape(4, 1, -1).astype(np.float64)
    log_likelihood = -np.sum(np.logaddexp(0, logits) - x * logits, axis=-1)
    # The Monte Carlo error of each side, from the per-draw values on these draws:
    # held_out_bounds averages the whole integrand, this test log p(x|z) alone.
    log_ratio = 0.5 * np.sum(eps**2 + logvar - z**2, axis=-1)  # log p(z) - log q
    errors = [
        np.std(values, axis=1) / np.sqrt(draws)
        for values in (log_likelihood + log_ratio, log_likelihood)
    ]
    tolerance = 5 * np.hypot(*errors)
    assert np.all(kl > 10 * tolerance), (kl, tolerance)
    difference = bounds["elbo"] - (log_likelihood.mean(axis=1) - kl)
    assert np.all(np.abs(difference) < tolerance), (difference, tolerance)


def test_held_out_bounds_rejects_bad_images():
    model = _small_vae()
    with pytest.raises(ValueError, match="shape"):
        vae.held_out_bounds(model, np.zeros((2, 27, 28), "float32"))
    with pytest.raises(ValueError, match="binarize"):
        vae.held_out_bounds(model, np.zeros((2, 28, 28), "uint8"))
    with pytest.raises(ValueError, match="num_samples"):
        vae.held_out_bounds(model, np.zeros((2, 28, 28), "float32"), num_samples=0)


# ---------------------------------------------------------------------- training


def test_train_step_reduces_the_loss_on_a_tiny_batch(digits):
    train, _ = digits
    images = train[:32]
    model = _small_vae()
    before = vae.held_out_bounds(model, images, num_samples=4, seed=0)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(32)
    history = model.fit(dataset, epochs=30, verbose=0).history
    after = vae.held_out_bounds(model, images, num_samples=4, seed=0)
    assert set(history) >= {"loss", "reconstruction", "kl"}
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert after["negative_elbo"] < 0.7 * before["negative_elbo"]
    # The loss tracker reports reconstruction + KL (beta = 1).
    assert history["loss"][-1] == pytest.approx(
        history["reconstruction"][-1] + history["kl"][-1], rel=1e-4
    )


def test_fit_rejects_uint8_and_unbatched_images():
    model = _small_vae()
    with pytest.raises(ValueError, match="binarize"):
        model.fit(np.zeros((4, 28, 28, 1), "uint8"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="shape"):
        model.fit(np.zeros((4, 28, 28), "float32"), epochs=1, verbose=0)


def test_checkpoint_resume_reproduces_an_uninterrupted_run(digits, tmp_path):
    # The VAE's noise SeedGenerator is part of the checkpoint, so an interrupted
    # run resumed from epoch 1 draws the same noise as a straight one.
    train, _ = digits

    def dataset():
        return data.make_dataset(train, 16, shuffle=False)

    fit = training.fit_with_checkpoints
    straight = _small_vae(seed=1)
    fit(straight, dataset(), 2, tmp_path / "straight", verbose=0)
    interrupted = _small_vae(seed=1)
    fit(interrupted, dataset(), 1, tmp_path / "resumed", verbose=0)
    resumed = _small_vae(seed=1)
    history, info = fit(resumed, dataset(), 2, tmp_path / "resumed", verbose=0)
    assert info["initial_epoch"] == 1 and len(history["loss"]) == 2
    for expected, actual in zip(
        straight.get_weights(), resumed.get_weights(), strict=True
    ):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    train, _ = digits
    model = _small_vae()
    directory = tmp_path / "run"
    training.fit_with_checkpoints(
        model, data.make_dataset(train, 32), 1, directory, verbose=0
    )
    good = checkpoints.read_checkpoint_state(directory)
    poisoned = train.copy()
    poisoned[:] = np.nan
    with pytest.raises(training.NonFiniteLossError, match="last good checkpoint"):
        training.fit_with_checkpoints(
            model, data.make_dataset(poisoned, 32), 3, directory, verbose=0
        )
    assert checkpoints.read_checkpoint_state(directory)["epoch"] == good["epoch"] == 1


def test_checkpoint_of_another_architecture_is_refused(digits, tmp_path):
    train, _ = digits
    training.fit_with_checkpoints(
        _small_vae(4), data.make_dataset(train, 32), 1, tmp_path / "run", verbose=0
    )
    with pytest.raises(ValueError, match="different architecture.*Fix"):
        training.fit_with_checkpoints(
            _small_vae(3), data.make_dataset(train, 32), 2, tmp_path / "run", verbose=0
        )


# --------------------------------------------------------------- building, saving


def test_vae_serializes_and_deserializes():
    model = _small_vae(3)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model)
    )
    assert isinstance(restored, vae.VAE)
    assert restored.latent_dim == 3 and restored.beta == model.beta


def test_build_inside_a_mirrored_strategy(digits):
    train, _ = digits
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    model = vae.build_vae(3, precision="float32", strategy=strategy)
    history = model.fit(data.make_dataset(train[:32], 16), epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][-1])
    assert model.settings["precision"] == "float32"


def test_recommended_precision_trains_to_finite_losses(digits):
    train, _ = digits
    model = vae.build_vae(3)
    history = model.fit(data.make_dataset(train[:32], 16), epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][-1])
    assert model.settings["precision"] in hardware.PRECISIONS
