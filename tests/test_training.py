"""Tests for course_lib.training: the GAN's steps, builder, latent paths, weights."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from gan_fixtures import LATENT_DIM, real_batch, tiny_gan, tiny_networks

from course_lib import config, models, training


def weights_of(model):
    return [np.array(w) for w in model.get_weights()]


def changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_d_step_updates_only_the_discriminator():
    gan = tiny_gan()
    g_before, d_before = weights_of(gan.generator), weights_of(gan.discriminator)
    gan.d_step(real_batch(), np.ones((8, LATENT_DIM), np.float32))
    assert not changed(g_before, weights_of(gan.generator))
    assert changed(d_before, weights_of(gan.discriminator))


def test_g_step_updates_only_the_generator():
    gan = tiny_gan()
    g_before, d_before = weights_of(gan.generator), weights_of(gan.discriminator)
    gan.g_step(np.ones((8, LATENT_DIM), np.float32))
    assert changed(g_before, weights_of(gan.generator))
    assert not changed(d_before, weights_of(gan.discriminator))


def test_d_step_bias_update_matches_closed_form_gradient():
    # For logits l = w.x + b, d/db [mean softplus(-r) + mean softplus(f)]
    # = mean(-sigmoid(-r)) + mean(sigmoid(f)); one SGD step subtracts lr * that.
    gan = tiny_gan(learning_rate=0.5, optimizer="sgd")
    real, z = real_batch(), np.random.default_rng(1).normal(size=(8, LATENT_DIM))
    z = z.astype(np.float32)
    kernel, bias = (np.array(w, np.float64) for w in gan.discriminator.get_weights())
    fakes = np.array(gan.generator(z), np.float64).reshape(8, -1)
    r = real.reshape(8, -1).astype(np.float64) @ kernel[:, 0] + bias[0]
    f = fakes @ kernel[:, 0] + bias[0]
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    gradient = np.mean(-sigmoid(-r)) + np.mean(sigmoid(f))
    gan.d_step(real, z)
    new_bias = gan.discriminator.get_weights()[1][0]
    assert abs(new_bias - (bias[0] - 0.5 * gradient)) < 1e-5


def test_fit_reports_all_four_trackers_and_trains_both_networks():
    gan = tiny_gan()
    g_before, d_before = weights_of(gan.generator), weights_of(gan.discriminator)
    history = gan.fit(real_batch(16), batch_size=8, epochs=1, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "D(x)", "D(G(z))"}
    assert 0.0 < history["D(x)"][0] < 1.0
    assert changed(g_before, weights_of(gan.generator))
    assert changed(d_before, weights_of(gan.discriminator))


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((8, 28, 28), np.float32), "channel axis"),
        (np.zeros((8, 28, 28, 1), np.uint8), "scale_images"),
        (np.zeros((8, 32, 32, 1), np.float32), "channel axis"),
    ],
)
def test_fit_rejects_bad_images_with_a_fix(images, message):
    gan = tiny_gan()
    with pytest.raises(ValueError, match=message):
        gan.fit(images, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize("latent_dim", [0, -3, 2.5, True])
def test_bad_latent_dim_raises(latent_dim):
    with pytest.raises(ValueError, match="latent_dim"):
        training.build_gan(latent_dim=latent_dim)


def test_build_gan_sets_policy_only_for_its_models_and_restores_it():
    before = keras.config.dtype_policy().name
    gan = training.build_gan(
        latent_dim=8,
        precision="mixed_bfloat16",
        jit_compile=False,
        steps_per_execution=1,
    )
    assert keras.config.dtype_policy().name == before
    conv = [layer for layer in gan.generator.layers if "conv" in layer.name][0]
    assert conv.dtype_policy.name == "mixed_bfloat16"
    assert gan.generator.output.dtype == "float32"  # the tanh layer stays float32
    assert gan.settings["precision"] == "mixed_bfloat16"
    with pytest.raises(ValueError, match="precision"):
        training.build_gan(precision="int8")


def test_build_gan_trains_under_mirrored_strategy_on_cpu():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    gan = training.build_gan(
        latent_dim=8,
        strategy=strategy,
        precision="float32",
        jit_compile=False,
        steps_per_execution=1,
    )
    assert gan.distribute_strategy is strategy
    dataset = tf.data.Dataset.from_tensor_slices(real_batch(8)).batch(8)
    g_before = weights_of(gan.generator)
    history = gan.fit(dataset, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
    assert changed(g_before, weights_of(gan.generator))


def test_slerp_matches_closed_form_and_keeps_the_norm():
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    path = training.slerp(e1, e2, 5)
    np.testing.assert_allclose(path[2], (e1 + e2) / np.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-6)
    angles = np.arctan2(path[:, 1], path[:, 0])
    np.testing.assert_allclose(angles, np.linspace(0, np.pi / 2, 5), atol=1e-6)
    lerp = training.lerp(e1, e2, 5)
    np.testing.assert_allclose(lerp[2], [0.5, 0.5, 0.0], atol=1e-7)
    assert np.linalg.norm(lerp[2]) < 0.71  # lerp cuts through the low-norm interior


def test_fixed_latents_are_reproducible():
    a = training.fixed_latents(4, 10, seed=3)
    np.testing.assert_array_equal(a, training.fixed_latents(4, 10, seed=3))
    assert a.shape == (4, 10) and a.dtype == np.float32


def test_float16_generator_round_trip_and_wrong_architecture(tmp_path):
    generator = models.dcgan_generator(latent_dim=100)
    path = training.save_generator_float16(generator, tmp_path / "g.weights.h5")
    assert path.stat().st_size < 5_000_000  # ~2.3 M parameters * 2 bytes
    restored = training.load_generator_weights(models.dcgan_generator(100), path)
    for original, loaded in zip(
        generator.get_weights(), restored.get_weights(), strict=True
    ):
        np.testing.assert_allclose(loaded, original.astype(np.float16), rtol=0, atol=0)
    with pytest.raises(ValueError, match="latent_dim"):
        training.load_generator_weights(models.dcgan_generator(latent_dim=50), path)


@pytest.mark.parametrize("clusters", [0, 4])
def test_train_or_load_quick_path_trains_and_resumes_nothing(tmp_path, clusters):
    profile = dataclasses.replace(
        config.get_profile("quick"), batch_size=16, gan_epochs=1
    )
    images = real_batch(32)
    gan, history, info = training.train_or_load(
        profile,
        images,
        retrain=True,
        checkpoint_directory=tmp_path,
        verbose=0,
        latent_dim=8,
        precision="float32",
        jit_compile=False,
        steps_per_execution=1,
        clusters=clusters,
    )
    assert info["source"] == "trained" and info["initial_epoch"] == 0
    assert len(history["d_loss"]) == 1
    assert gan.generate(3, seed=0).shape == (3, 28, 28, 1)
    assert info["clusters"] == clusters == gan.clusters
    if clusters:  # the frequencies are those of k-means on these images
        from course_lib import clusters as clustering

        _, expected = clustering.cluster_images(
            images, clusters, seed=config.DEFAULT_SEED
        )
        np.testing.assert_allclose(info["cluster_frequencies"], expected)


def test_ema_generator_follows_the_closed_form_average():
    keras.utils.set_random_seed(0)
    generator, discriminator = tiny_networks()
    gan = training.GAN(generator, discriminator, seed=0, ema_decay=0.75)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2)
    )
    assert gan.sampler is gan.ema_generator
    start = weights_of(gan.ema_generator)
    np.testing.assert_array_equal(start[0], weights_of(gan.generator)[0])
    gan.d_step(real_batch(), np.ones((8, LATENT_DIM), np.float32))
    assert not changed(start, weights_of(gan.ema_generator))  # only G's step moves it
    gan.g_step(np.ones((8, LATENT_DIM), np.float32))
    # After the first step the warm-up decay (1 + 1) / (10 + 1) is below 0.75.
    decay = min(0.75, 2 / 11)
    for average, old, new in zip(
        weights_of(gan.ema_generator), start, weights_of(gan.generator), strict=True
    ):
        np.testing.assert_allclose(average, decay * old + (1 - decay) * new, atol=1e-6)
    for _ in range(40):  # after many steps the decay is the requested 0.75
        gan.g_step(np.ones((8, LATENT_DIM), np.float32))
    old, new = weights_of(gan.ema_generator), None
    gan.g_step(np.ones((8, LATENT_DIM), np.float32))
    new = weights_of(gan.generator)
    np.testing.assert_allclose(
        weights_of(gan.ema_generator)[0], 0.75 * old[0] + 0.25 * new[0], atol=1e-6
    )
    with pytest.raises(ValueError, match="ema_decay"):
        training.GAN(*tiny_networks(), ema_decay=1.5)


def test_gan_config_round_trip_rebuilds_both_networks():
    gan = training.GAN(*tiny_networks(), seed=3, ema_decay=0.9)
    rebuilt = training.GAN.from_config(gan.get_config())
    assert rebuilt.latent_dim == LATENT_DIM and rebuilt.ema_decay == 0.9
    assert rebuilt.generator.count_params() == gan.generator.count_params()
    assert rebuilt.discriminator.count_params() == gan.discriminator.count_params()
    config = keras.saving.serialize_keras_object(gan)
    assert config["registered_name"] == "course_lib>GAN"


def test_train_step_is_d_step_then_g_step_on_one_batch_of_fakes():
    # train_step makes G(z) once; it must equal d_step(z) followed by g_step(z)
    # with the same z (G does not change in between, so the fakes are the same),
    # i.e. G's loss is scored by the *updated* discriminator.
    z = np.random.default_rng(4).normal(size=(8, LATENT_DIM)).astype(np.float32)
    fused = tiny_gan(learning_rate=0.3, optimizer="sgd")
    fused.sample_latent = lambda batch_size: tf.constant(z)
    fused.train_step(tf.constant(real_batch()))
    separate = tiny_gan(learning_rate=0.3, optimizer="sgd")
    separate.d_step(real_batch(), z)
    separate.g_step(z)
    for model in ("generator", "discriminator"):
        for a, b in zip(
            weights_of(getattr(fused, model)),
            weights_of(getattr(separate, model)),
            strict=True,
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Scoring the fakes with the discriminator from before its update differs.
    stale = tiny_gan(learning_rate=0.3, optimizer="sgd")
    stale.g_step(z)
    assert changed(weights_of(stale.generator), weights_of(separate.generator))


def test_augment_policy_reaches_the_discriminator_and_the_config():
    gan = training.GAN(*tiny_networks(), seed=3, augment_policy="translation")
    images = np.full((4, 28, 28, 1), -1.0, np.float32)
    images[:, 10:18, 10:18] = 1.0
    shifted = np.array(gan.augment_images(images))
    assert shifted.shape == images.shape
    assert not np.array_equal(shifted, images)  # some square moved
    assert all(np.sum(s == 1.0) <= 64 for s in shifted)
    rebuilt = training.GAN.from_config(gan.get_config())
    assert rebuilt.augment_policy == "translation"
    assert training.GAN(*tiny_networks()).augment_images(images) is images
    with pytest.raises(ValueError, match="augmentation policy"):
        training.build_gan(latent_dim=8, augment_policy="flip")


# ------------------------------------------------------- conditioned on clusters

CLUSTERS = 3


def tiny_conditioned_gan(frequencies=None, seed=0):
    """A tiny GAN whose last CLUSTERS latent entries are a one-hot cluster id."""
    return tiny_gan(seed=seed, clusters=CLUSTERS, frequencies=frequencies)


def conditioned_latents(n=8):
    noise = np.random.default_rng(2).normal(size=(n, LATENT_DIM - CLUSTERS))
    return training.attach_clusters(noise, CLUSTERS, np.arange(n) % CLUSTERS)


def test_conditioned_steps_update_only_their_own_network():
    gan = tiny_conditioned_gan()
    ids = np.arange(8) % CLUSTERS
    g_before, d_before = weights_of(gan.generator), weights_of(gan.discriminator)
    gan.d_step(real_batch(), conditioned_latents(), ids)
    assert not changed(g_before, weights_of(gan.generator))
    assert changed(d_before, weights_of(gan.discriminator))
    d_after = weights_of(gan.discriminator)
    gan.g_step(conditioned_latents())
    assert changed(g_before, weights_of(gan.generator))
    assert not changed(d_after, weights_of(gan.discriminator))


def test_conditioned_fit_needs_cluster_ids_and_trains_with_them():
    gan = tiny_conditioned_gan()
    with pytest.raises(ValueError, match="cluster_ids"):
        gan.fit(real_batch(16), batch_size=8, epochs=1, verbose=0)
    ids = np.arange(16) % CLUSTERS
    table = gan.discriminator.get_layer("cluster_embedding")
    before = np.array(table.get_weights()[0])
    history = gan.fit(real_batch(16), ids, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0])
    assert not np.array_equal(before, table.get_weights()[0])  # D learned per cluster


def test_sample_latent_draws_ids_with_the_given_frequencies():
    gan = tiny_conditioned_gan(frequencies=[0.7, 0.3, 0.0])
    z = np.asarray(gan.sample_latent(4000))
    one_hot = z[:, -CLUSTERS:]
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)
    shares = one_hot.mean(axis=0)
    assert shares[2] == 0.0  # a cluster of frequency 0 is never drawn
    assert abs(shares[0] - 0.7) < 0.03  # 4000 draws: standard error 0.007
    np.testing.assert_array_equal(
        np.asarray(gan.cluster_ids_of(z)), one_hot.argmax(axis=1)
    )


def test_fixed_latents_with_clusters():
    z = training.fixed_latents(500, 10, seed=1, clusters=4, frequencies=[0, 0, 1, 3])
    assert z.shape == (500, 10)
    ids = z[:, -4:].argmax(axis=1)
    np.testing.assert_array_equal(z[:, -4:].sum(axis=1), 1.0)
    assert set(ids) == {2, 3} and 0.65 < np.mean(ids == 3) < 0.85
    given = training.fixed_latents(3, 10, seed=1, clusters=4, cluster_ids=[0, 1, 3])
    np.testing.assert_array_equal(given[:, -4:].argmax(axis=1), [0, 1, 3])
    np.testing.assert_array_equal(given[:, :6], training.fixed_latents(3, 6, seed=1))
    with pytest.raises(ValueError, match="cluster ids"):
        training.fixed_latents(2, 10, clusters=4, cluster_ids=[0, 4])
    with pytest.raises(ValueError, match="need clusters"):
        training.fixed_latents(2, 10, cluster_ids=[0, 1])


@pytest.mark.parametrize(
    "frequencies", [[0.5, 0.5], [1.0, -0.1, 0.1], [0.0, 0.0, 0.0], [np.nan, 1, 1]]
)
def test_bad_cluster_frequencies_name_the_fix(frequencies):
    with pytest.raises(ValueError, match="cluster_images"):
        training.check_cluster_frequencies(frequencies, 3)


def test_gan_refuses_a_discriminator_that_ignores_the_clusters():
    generator, discriminator = tiny_networks()
    with pytest.raises(ValueError, match="dcgan_discriminator\\(clusters=3\\)"):
        training.GAN(generator, discriminator, clusters=3)
