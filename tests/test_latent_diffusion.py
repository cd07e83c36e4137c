"""Tests for course_lib.latent_diffusion: the DDPM schedule, the visited timesteps,
the DDIM update against NumPy, seeds, training and the float16 round trip."""

import numpy as np
import pytest

from course_lib import latent_diffusion


class _FakeVae:
    """What the module needs of a VAE: the latent size and a decoder."""

    def __init__(self, latent_dim=4):
        import keras  # a test helper only

        self.latent_dim = latent_dim
        latent = keras.Input((latent_dim,))
        image = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784)(latent))
        self.decoder = keras.Model(latent, image)


def test_alpha_bars_are_the_cumulative_product_of_one_minus_beta():
    betas = np.linspace(1e-4, 0.02, 1000)
    expected = np.ones(1000)
    running = 1.0
    for index, beta in enumerate(betas):
        running *= 1.0 - beta
        expected[index] = running
    np.testing.assert_allclose(latent_diffusion.alpha_bars(), expected, rtol=1e-12)


def test_sampling_timesteps_descend_from_the_last_to_the_first():
    steps = latent_diffusion.sampling_timesteps(5)
    assert steps.tolist() == [999, 749, 500, 250, 0]
    assert latent_diffusion.sampling_timesteps(1000).tolist() == list(
        range(999, -1, -1)
    )
    for bad in (0, 1001, 2.5):
        with pytest.raises(ValueError, match="Fix"):
            latent_diffusion.sampling_timesteps(bad)


def _zero_model():
    model = latent_diffusion.LatentDiffusion(latent_dim=4, width=8, depth=1)
    model.denoiser.set_weights([np.zeros_like(w) for w in model.denoiser.get_weights()])
    return model


def test_ddim_with_a_zero_noise_prediction_matches_numpy():
    # With eps_hat = 0 the estimate x0 = z / sqrt(a) is clipped to [-6, 6], the
    # noise is recomputed from the clipped x0, and the last step (a' = 1) returns x0.
    model = _zero_model()
    model.latent_mean.assign(np.array([1.0, 2.0, 3.0, 4.0], np.float32))
    model.latent_std.assign(np.array([0.5, 0.5, 2.0, 2.0], np.float32))
    noise = np.random.default_rng(7).standard_normal((3, 4))
    alphas = latent_diffusion.alpha_bars()
    z = noise.copy()
    steps = latent_diffusion.sampling_timesteps(4)
    for index, t in enumerate(steps):
        a = alphas[t]
        previous = alphas[steps[index + 1]] if index + 1 < len(steps) else 1.0
        x0 = np.clip(z / np.sqrt(a), -6, 6)
        eps = (z - np.sqrt(a) * x0) / np.sqrt(1 - a)
        z = np.sqrt(previous) * x0 + np.sqrt(1 - previous) * eps
    expected = z * model.latent_std.numpy() + model.latent_mean.numpy()
    got = model.sample_latents(3, steps=4, seed=7)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_a_thousand_steps_stay_finite():
    model = latent_diffusion.LatentDiffusion(latent_dim=4, width=8, depth=1)
    assert np.isfinite(model.sample_latents(4, steps=1000, seed=0)).all()


def test_same_seed_same_latents_and_decoding_needs_a_decoder():
    model = latent_diffusion.LatentDiffusion(latent_dim=4, width=8, depth=1)
    np.testing.assert_array_equal(
        model.sample_latents(2, 3, seed=1), model.sample_latents(2, 3, seed=1)
    )
    with pytest.raises(ValueError, match="attach_decoder"):
        model.generate(2)
    with pytest.raises(ValueError, match="encode_means"):
        model.set_statistics(np.zeros((5, 3)))


def test_training_and_the_float16_round_trip(tmp_path):
    fake = _FakeVae()
    model = latent_diffusion.build_latent_diffusion(4, width=8, depth=1)
    latents = np.random.default_rng(0).normal(3.0, 2.0, (64, 4)).astype(np.float32)
    model.set_statistics(latents)
    np.testing.assert_allclose(model.latent_mean.numpy(), latents.mean(0), rtol=1e-5)
    history = model.fit(latents, batch_size=16, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    path = latent_diffusion.save(model, tmp_path / "ld.weights.h5")
    loaded = latent_diffusion.load(path, fake, "retrain", width=8, depth=1)
    for saved, restored in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_allclose(
            np.asarray(restored), np.asarray(saved), rtol=2e-3, atol=1e-3
        )
    images = loaded.generate(3, seed=0, steps=2)
    assert images.shape == (3, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    with pytest.raises(ValueError, match="Fix"):
        latent_diffusion.load(path, fake, "retrain", width=16, depth=1)
