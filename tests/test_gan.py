"""Tests for course_lib.gan: the GAN's steps, upgrades, builder and config."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from gan_fixtures import LATENT_DIM, real_batch, tiny_gan, tiny_networks

from course_lib import gan, latents


def weights_of(model):
    return [np.array(w) for w in model.get_weights()]


def changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_d_step_updates_only_the_discriminator():
    model = tiny_gan()
    g_before, d_before = weights_of(model.generator), weights_of(model.discriminator)
    model.d_step(real_batch(), np.ones((8, LATENT_DIM), np.float32))
    assert not changed(g_before, weights_of(model.generator))
    assert changed(d_before, weights_of(model.discriminator))


def test_g_step_updates_only_the_generator():
    model = tiny_gan()
    g_before, d_before = weights_of(model.generator), weights_of(model.discriminator)
    model.g_step(np.ones((8, LATENT_DIM), np.float32))
    assert changed(g_before, weights_of(model.generator))
    assert not changed(d_before, weights_of(model.discriminator))


def test_d_step_bias_update_matches_closed_form_gradient():
    # For logits l = w.x + b, d/db [mean softplus(-r) + mean softplus(f)]
    # = mean(-sigmoid(-r)) + mean(sigmoid(f)); one SGD step subtracts lr * that.
    model = tiny_gan(learning_rate=0.5, optimizer="sgd")
    real, z = real_batch(), np.random.default_rng(1).normal(size=(8, LATENT_DIM))
    z = z.astype(np.float32)
    kernel, bias = (np.array(w, np.float64) for w in model.discriminator.get_weights())
    fakes = np.array(model.generator(z), np.float64).reshape(8, -1)
    r = real.reshape(8, -1).astype(np.float64) @ kernel[:, 0] + bias[0]
    f = fakes @ kernel[:, 0] + bias[0]
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    gradient = np.mean(-sigmoid(-r)) + np.mean(sigmoid(f))
    model.d_step(real, z)
    new_bias = model.discriminator.get_weights()[1][0]
    assert abs(new_bias - (bias[0] - 0.5 * gradient)) < 1e-5


def test_fit_reports_all_four_trackers_and_trains_both_networks():
    model = tiny_gan()
    g_before, d_before = weights_of(model.generator), weights_of(model.discriminator)
    history = model.fit(real_batch(16), batch_size=8, epochs=1, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "D(x)", "D(G(z))"}
    assert 0.0 < history["D(x)"][0] < 1.0
    assert changed(g_before, weights_of(model.generator))
    assert changed(d_before, weights_of(model.discriminator))


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((8, 28, 28), np.float32), "channel axis"),
        (np.zeros((8, 28, 28, 1), np.uint8), "scale_images"),
        (np.zeros((8, 32, 32, 1), np.float32), "channel axis"),
    ],
)
def test_fit_rejects_bad_images_with_a_fix(images, message):
    model = tiny_gan()
    with pytest.raises(ValueError, match=message):
        model.fit(images, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize("latent_dim", [0, -3, 2.5, True])
def test_bad_latent_dim_raises(latent_dim):
    with pytest.raises(ValueError, match="latent_dim"):
        gan.build_gan(latent_dim=latent_dim)


def test_bad_loss_kind_and_learning_rate_raise():
    with pytest.raises(ValueError, match="generator_loss_kind"):
        gan.GAN(*tiny_networks(), generator_loss_kind="wasserstein")
    with pytest.raises(ValueError, match="learning_rate"):
        gan.build_gan(latent_dim=8, learning_rate=0.0)


def test_build_gan_defaults_are_the_tf_docs_recipe():
    model = gan.build_gan(
        latent_dim=8, precision="float32", jit_compile=False, steps_per_execution=1
    )
    assert model.clusters == 0 and model.cluster_frequencies is None
    assert model.ema_generator is None and model.sampler is model.generator
    assert model.augment_policy is None
    assert model.generator_loss_kind == "non_saturating"
    for optimizer in (model.d_optimizer, model.g_optimizer):
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert float(optimizer.learning_rate) == pytest.approx(2e-4)
        assert float(optimizer.beta_1) == pytest.approx(0.5)
    separate = gan.build_gan(latent_dim=8, discriminator_learning_rate=4e-4)
    assert float(separate.d_optimizer.learning_rate) == pytest.approx(4e-4)
    assert float(separate.g_optimizer.learning_rate) == pytest.approx(2e-4)


def test_build_gan_sets_policy_only_for_its_models_and_restores_it():
    before = keras.config.dtype_policy().name
    model = gan.build_gan(
        latent_dim=8,
        precision="mixed_bfloat16",
        jit_compile=False,
        steps_per_execution=1,
    )
    assert keras.config.dtype_policy().name == before
    conv = [layer for layer in model.generator.layers if "conv" in layer.name][0]
    assert conv.dtype_policy.name == "mixed_bfloat16"
    assert model.generator.output.dtype == "float32"  # the tanh layer stays float32
    assert model.settings["precision"] == "mixed_bfloat16"
    with pytest.raises(ValueError, match="precision"):
        gan.build_gan(precision="int8")


def test_mixed_float16_wraps_both_optimizers_in_loss_scaling_and_trains():
    model = gan.build_gan(
        latent_dim=8,
        precision="mixed_float16",
        jit_compile=False,
        steps_per_execution=1,
    )
    for optimizer in (model.d_optimizer, model.g_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    g_before = weights_of(model.generator)
    # Two images: float16 convolutions are slow on a CPU, and one step proves it.
    history = model.fit(real_batch(2), batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
    assert changed(g_before, weights_of(model.generator))


def test_build_gan_trains_under_mirrored_strategy_on_cpu():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    model = gan.build_gan(
        latent_dim=8,
        strategy=strategy,
        precision="float32",
        jit_compile=False,
        steps_per_execution=1,
    )
    assert model.distribute_strategy is strategy
    dataset = tf.data.Dataset.from_tensor_slices(real_batch(8)).batch(8)
    g_before = weights_of(model.generator)
    history = model.fit(dataset, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
    assert changed(g_before, weights_of(model.generator))


def test_ema_generator_follows_the_closed_form_average():
    keras.utils.set_random_seed(0)
    generator, discriminator = tiny_networks()
    model = gan.GAN(generator, discriminator, seed=0, ema_decay=0.75)
    model.compile(
        d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2)
    )
    assert model.sampler is model.ema_generator
    start = weights_of(model.ema_generator)
    np.testing.assert_array_equal(start[0], weights_of(model.generator)[0])
    model.d_step(real_batch(), np.ones((8, LATENT_DIM), np.float32))
    assert not changed(start, weights_of(model.ema_generator))  # only G's step
    model.g_step(np.ones((8, LATENT_DIM), np.float32))
    # After the first step the warm-up decay (1 + 1) / (10 + 1) is below 0.75.
    decay = min(0.75, 2 / 11)
    for average, old, new in zip(
        weights_of(model.ema_generator), start, weights_of(model.generator), strict=True
    ):
        np.testing.assert_allclose(average, decay * old + (1 - decay) * new, atol=1e-6)
    for _ in range(40):  # after many steps the decay is the requested 0.75
        model.g_step(np.ones((8, LATENT_DIM), np.float32))
    old = weights_of(model.ema_generator)
    model.g_step(np.ones((8, LATENT_DIM), np.float32))
    new = weights_of(model.generator)
    np.testing.assert_allclose(
        weights_of(model.ema_generator)[0], 0.75 * old[0] + 0.25 * new[0], atol=1e-6
    )
    with pytest.raises(ValueError, match="ema_decay"):
        gan.GAN(*tiny_networks(), ema_decay=1.5)


def test_gan_config_round_trip_rebuilds_both_networks():
    model = gan.GAN(*tiny_networks(), seed=3, ema_decay=0.9)
    rebuilt = gan.GAN.from_config(model.get_config())
    assert rebuilt.latent_dim == LATENT_DIM and rebuilt.ema_decay == 0.9
    assert rebuilt.seed == 3 and rebuilt.generator_loss_kind == "non_saturating"
    assert rebuilt.generator.count_params() == model.generator.count_params()
    assert rebuilt.discriminator.count_params() == model.discriminator.count_params()
    config = keras.saving.serialize_keras_object(model)
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
    for network in ("generator", "discriminator"):
        for a, b in zip(
            weights_of(getattr(fused, network)),
            weights_of(getattr(separate, network)),
            strict=True,
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Scoring the fakes with the discriminator from before its update differs.
    stale = tiny_gan(learning_rate=0.3, optimizer="sgd")
    stale.g_step(z)
    assert changed(weights_of(stale.generator), weights_of(separate.generator))


def test_augment_policy_reaches_the_discriminator_and_the_config():
    model = gan.GAN(*tiny_networks(), seed=3, augment_policy="translation")
    images = np.full((4, 28, 28, 1), -1.0, np.float32)
    images[:, 10:18, 10:18] = 1.0
    shifted = np.array(model.augment_images(images))
    assert shifted.shape == images.shape
    assert not np.array_equal(shifted, images)  # some square moved
    assert all(np.sum(s == 1.0) <= 64 for s in shifted)
    rebuilt = gan.GAN.from_config(model.get_config())
    assert rebuilt.augment_policy == "translation"
    assert gan.GAN(*tiny_networks()).augment_images(images) is images
    with pytest.raises(ValueError, match="augmentation policy"):
        gan.build_gan(latent_dim=8, augment_policy="flip")


def test_generate_is_float32_in_range_and_fixed_by_its_seed():
    model = tiny_gan()
    images = model.generate(5, seed=3)
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, model.generate(5, seed=3))
    assert not np.array_equal(images, model.generate(5, seed=4))
    # The linear generator is tanh(W z + b): recompute it in NumPy from the seed.
    kernel, bias = (np.array(w, np.float64) for w in model.generator.get_weights())
    z = np.random.default_rng(3).standard_normal((5, LATENT_DIM))
    expected = np.tanh(z @ kernel + bias).reshape(5, 28, 28, 1)
    np.testing.assert_allclose(images, expected, atol=1e-5)


# ------------------------------------------------------- conditioned on clusters

CLUSTERS = 3


def tiny_conditioned_gan(frequencies=None, seed=0):
    """A tiny GAN whose last CLUSTERS latent entries are a one-hot cluster id."""
    return tiny_gan(seed=seed, clusters=CLUSTERS, frequencies=frequencies)


def conditioned_latents(n=8):
    noise = np.random.default_rng(2).normal(size=(n, LATENT_DIM - CLUSTERS))
    return latents.attach_clusters(noise, CLUSTERS, np.arange(n) % CLUSTERS)


def test_conditioned_steps_update_only_their_own_network():
    model = tiny_conditioned_gan()
    ids = np.arange(8) % CLUSTERS
    g_before, d_before = weights_of(model.generator), weights_of(model.discriminator)
    model.d_step(real_batch(), conditioned_latents(), ids)
    assert not changed(g_before, weights_of(model.generator))
    assert changed(d_before, weights_of(model.discriminator))
    d_after = weights_of(model.discriminator)
    model.g_step(conditioned_latents())
    assert changed(g_before, weights_of(model.generator))
    assert not changed(d_after, weights_of(model.discriminator))


def test_conditioned_fit_needs_cluster_ids_and_trains_with_them():
    model = tiny_conditioned_gan()
    with pytest.raises(ValueError, match="cluster_ids"):
        model.fit(real_batch(16), batch_size=8, epochs=1, verbose=0)
    ids = np.arange(16) % CLUSTERS
    table = model.discriminator.get_layer("cluster_embedding")
    before = np.array(table.get_weights()[0])
    history = model.fit(real_batch(16), ids, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0])
    assert not np.array_equal(before, table.get_weights()[0])  # D learned per cluster


def test_sample_latent_draws_ids_with_the_given_frequencies():
    model = tiny_conditioned_gan(frequencies=[0.7, 0.3, 0.0])
    z = np.asarray(model.sample_latent(4000))
    one_hot = z[:, -CLUSTERS:]
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)
    shares = one_hot.mean(axis=0)
    assert shares[2] == 0.0  # a cluster of frequency 0 is never drawn
    assert abs(shares[0] - 0.7) < 0.03  # 4000 draws: standard error 0.007
    np.testing.assert_array_equal(
        np.asarray(model.cluster_ids_of(z)), one_hot.argmax(axis=1)
    )


def test_generate_uses_the_models_cluster_frequencies():
    model = tiny_conditioned_gan(frequencies=[0.0, 0.0, 1.0])
    seen = []
    predict = model.sampler.predict

    def recording_predict(latent, **kwargs):
        seen.append(np.array(latent))
        return predict(latent, **kwargs)

    model.sampler.predict = recording_predict
    images = model.generate(50, seed=1)
    assert images.shape == (50, 28, 28, 1) and images.dtype == np.float32
    (latent,) = seen
    np.testing.assert_array_equal(latent[:, -CLUSTERS:], np.tile([0, 0, 1], (50, 1)))
    assert model.cluster_frequencies == [0.0, 0.0, 1.0]


def test_conditioned_config_round_trip_keeps_the_layout():
    model = tiny_conditioned_gan(frequencies=[2, 1, 1])
    rebuilt = gan.GAN.from_config(model.get_config())
    assert rebuilt.clusters == CLUSTERS
    np.testing.assert_allclose(rebuilt.cluster_frequencies, [0.5, 0.25, 0.25])
    assert len(rebuilt.discriminator.inputs) == 2


def test_gan_refuses_a_discriminator_that_ignores_the_clusters():
    generator, discriminator = tiny_networks()
    with pytest.raises(ValueError, match="dcgan_discriminator\\(clusters=3\\)"):
        gan.GAN(generator, discriminator, clusters=3)


def test_build_gan_refuses_too_many_clusters_for_the_latent_size():
    with pytest.raises(ValueError, match="clusters must be 0"):
        gan.build_gan(latent_dim=8, clusters=8)
