"""Latent diffusion in miniature: a denoiser on the VAE's 16-D codes, then its decoder.

This is the layout of Stable Diffusion (Rombach et al., 2022) at MNIST scale: a
frozen autoencoder (notebook 07's shipped VAE) turns digits into small latent
codes; a diffusion model learns the distribution of those codes; a sample is
drawn by denoising Gaussian noise in ``T`` steps and decoding the result once.

- Training (DDPM, Ho et al., 2020): ``z_t = sqrt(a_t) z_0 + sqrt(1 - a_t) eps``
  with ``a_t`` the cumulative product of ``1 - beta_t`` over a linear schedule
  of 1,000 steps; the network predicts ``eps`` (mean squared error).
- Sampling (DDIM with eta = 0, Song et al., 2021): ``T`` of the 1,000 steps,
  evenly spaced, each ``z <- sqrt(a') x0_hat + sqrt(1 - a') eps_hat``, with
  ``x0_hat`` clipped to [-6, 6] and ``eps_hat`` recomputed from it. Fewer
  steps are faster and, below some T, worse: the frontier measures where.

Latents are standardised per dimension first (the role of Stable Diffusion's
scale factor); the mean and spread are weights of the model, so they ship.

Introduced in notebooks/08_images_as_tokens.ipynb.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from course_lib import recipes, store

TRAIN_STEPS = 1000


def alpha_bars(train_steps: int = TRAIN_STEPS, beta_start=1e-4, beta_end=0.02):
    """Return ``a_t = prod_{s <= t} (1 - beta_s)`` of the linear DDPM schedule.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    betas = np.linspace(beta_start, beta_end, train_steps, dtype=np.float64)
    return np.cumprod(1.0 - betas)


def sampling_timesteps(steps: int, train_steps: int = TRAIN_STEPS) -> np.ndarray:
    """Return the ``steps`` training timesteps a T-step sampler visits, descending.

    Raises:
        ValueError: If ``steps`` is not an integer in ``[1, train_steps]``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    if not isinstance(steps, int | np.integer) or not 1 <= steps <= train_steps:
        raise ValueError(
            f"steps must be an integer from 1 to {train_steps}, got {steps!r}. Fix: "
            "pass, for example, steps=50."
        )
    return np.linspace(train_steps - 1, 0, int(steps)).round().astype(np.int64)


@keras.saving.register_keras_serializable(package="course_lib")
class TimeFeatures(layers.Layer):
    """Sinusoidal features of the diffusion time ``t / train_steps`` in [0, 1].

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """

    def __init__(self, size: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, time):
        half = self.size // 2
        frequencies = ops.exp(
            ops.arange(half, dtype="float32") * (-math.log(1000.0) / max(half - 1, 1))
        )
        angles = ops.cast(time, "float32") * 1000.0 * frequencies[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def build_denoiser(
    latent_dim: int = 16, width: int = 256, depth: int = 3, name: str = "denoiser"
) -> keras.Model:
    """Build the noise predictor: ``[z_t (latent_dim,), t (1,)] -> eps``.

    An MLP with the time features added to every hidden layer.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    latent = keras.Input((latent_dim,), name="z_t")
    time = keras.Input((1,), name="t")
    features = TimeFeatures(64, name="time_features")(time)
    x = layers.Dense(width, activation="silu")(latent)
    for index in range(depth):
        step = layers.Dense(width, name=f"time_{index}")(features)
        x = layers.Add()([x, step])
        x = layers.Dense(width, activation="silu", name=f"hidden_{index}")(x)
    eps = layers.Dense(latent_dim, name="eps", dtype="float32")(x)
    return keras.Model([latent, time], eps, name=name)


class _Attached:
    """A holder Keras does not track (a plain object, not a layer)."""

    def __init__(self, network):
        self.network = network


@keras.saving.register_keras_serializable(package="course_lib")
class LatentDiffusion(keras.Model):
    """A DDPM-trained noise predictor on standardised latent codes.

    ``fit`` takes batches of raw latent codes (the VAE's encoder means); call
    :meth:`set_statistics` once before. :meth:`generate` decodes through the
    ``decoder`` given to :meth:`attach_decoder`.

    Args:
        latent_dim: Size of the codes.
        width: Hidden width of the denoiser.
        depth: Hidden layers of the denoiser.
        seed: Seed of the training noise.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """

    def __init__(self, latent_dim=16, width=256, depth=3, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.width, self.depth = latent_dim, width, depth
        self.denoiser = build_denoiser(latent_dim, width, depth)
        self.latent_mean = self.add_weight(
            shape=(latent_dim,), initializer="zeros", trainable=False, name="mean"
        )
        self.latent_std = self.add_weight(
            shape=(latent_dim,), initializer="ones", trainable=False, name="std"
        )
        self.noise_seed = keras.random.SeedGenerator(seed, name="noise_seed")
        self.alpha_bar = tf.constant(alpha_bars(), tf.float32)
        self._compiled_sampler = None
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._attached = _Attached(None)
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker]

    def get_config(self):
        return {
            "name": self.name,
            "latent_dim": self.latent_dim,
            "width": self.width,
            "depth": self.depth,
        }

    def set_statistics(self, latents) -> None:
        """Store the per-dimension mean and standard deviation of the codes."""
        latents = np.asarray(latents, np.float64)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ValueError(
                f"latents must have shape (n, {self.latent_dim}), got "
                f"{latents.shape}. Fix: pass the VAE's encode_means(images)."
            )
        self.latent_mean.assign(latents.mean(axis=0).astype(np.float32))
        self.latent_std.assign(latents.std(axis=0).astype(np.float32) + 1e-6)

    def train_step(self, batch):
        latents = batch[0] if isinstance(batch, tuple | list) else batch
        z0 = (ops.cast(latents, "float32") - self.latent_mean) / self.latent_std
        count = ops.shape(z0)[0]
        t = keras.random.randint((count,), 0, TRAIN_STEPS, seed=self.noise_seed)
        eps = keras.random.normal(ops.shape(z0), seed=self.noise_seed)
        a = ops.take(self.alpha_bar, t)[:, None]
        z_t = ops.sqrt(a) * z0 + ops.sqrt(1.0 - a) * eps
        time = ops.cast(t, "float32")[:, None] / TRAIN_STEPS
        with tf.GradientTape() as tape:
            predicted = self.denoiser([z_t, time], training=True)
            loss = ops.mean((predicted - eps) ** 2)
        variables = self.denoiser.trainable_variables
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def _sampler(self):
        if getattr(self, "_compiled_sampler", None) is None:

            def sample(z, times, alphas, previous_alphas):
                for index in tf.range(tf.shape(times)[0]):
                    a, previous = alphas[index], previous_alphas[index]
                    time = tf.fill([tf.shape(z)[0], 1], times[index])
                    eps = self.denoiser([z, time], training=False)
                    x0 = tf.clip_by_value(
                        (z - tf.sqrt(1.0 - a) * eps) / tf.sqrt(a), -6, 6
                    )
                    # The noise that the clipped x0 implies: without it, hundreds
                    # of steps near t = T iterate z <- eps(z) and can blow up.
                    eps = (z - tf.sqrt(a) * x0) / tf.sqrt(1.0 - a)
                    z = tf.sqrt(previous) * x0 + tf.sqrt(1.0 - previous) * eps
                return z * self.latent_std + self.latent_mean

            self._compiled_sampler = tf.function(sample)
        return self._compiled_sampler

    def sample_latents(self, count: int, steps: int = 50, seed: int = 0):
        """Denoise ``count`` Gaussian draws in ``steps`` DDIM steps.

        Args:
            count: How many codes.
            steps: T, from 1 to 1,000.
            seed: NumPy seed of the starting noise (same seed, same codes).

        Returns:
            float32 codes (count, latent_dim) on the VAE's scale.

        Introduced in notebooks/08_images_as_tokens.ipynb.
        """
        if not isinstance(count, int | np.integer) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}.")
        timesteps = sampling_timesteps(steps)
        alphas = alpha_bars()[timesteps]
        previous = np.append(alphas[1:], 1.0)
        noise = np.random.default_rng(seed).standard_normal((count, self.latent_dim))
        z = self._sampler()(
            *(
                tf.constant(array, tf.float32)
                for array in (noise, timesteps / TRAIN_STEPS, alphas, previous)
            )
        )
        return z.numpy()

    def attach_decoder(self, decoder) -> LatentDiffusion:
        """Use ``decoder`` (the VAE's, latent -> logits) in :meth:`generate`.

        It is held outside Keras's tracking, so its weights never join this
        model's (the shipped file holds the denoiser alone).
        """
        self._attached = _Attached(decoder)
        return self

    @property
    def decoder(self):
        """The attached VAE decoder, or ``None``."""
        return self._attached.network

    def generate(self, count: int, seed: int = 0, steps: int = 50) -> np.ndarray:
        """Return ``count`` digits: T-step latents through the VAE's decoder.

        Returns:
            float32 (count, 28, 28, 1) in [-1, 1] (``2 * mean - 1``).

        Raises:
            ValueError: If no decoder is attached.
        """
        if self.decoder is None:
            raise ValueError(
                "No decoder attached. Fix: model.attach_decoder(shipped.load('vae')"
                ".decoder) before generate()."
            )
        latents = self.sample_latents(count, steps, seed)
        logits = self.decoder.predict(latents, batch_size=500, verbose=0)
        means = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        return (2.0 * means - 1.0).astype(np.float32)


def build_latent_diffusion(
    latent_dim=16, width=256, depth=3, learning_rate=1e-3, seed=0
) -> LatentDiffusion:
    """Build and compile a :class:`LatentDiffusion` (float32), ready for ``fit``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    model = LatentDiffusion(latent_dim, width, depth, seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    model.optimizer.build(model.denoiser.trainable_variables)
    return model


def _same_architecture(model: LatentDiffusion) -> LatentDiffusion:
    return LatentDiffusion(model.latent_dim, model.width, model.depth)


def save(model: LatentDiffusion, path):
    """Write the denoiser and the latent statistics to a float16 file.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    return store.save_float16(model, lambda: _same_architecture(model), path)


def load(path, vae_model, command: str, width: int = 256, depth: int = 3):
    """Return the denoiser stored in ``path``, decoding with ``vae_model``.

    Args:
        path: A file written by :func:`save`.
        vae_model: The VAE whose codes it learned (the shipped ``vae``).
        command: The command that retrains it, quoted in errors.
        width: The denoiser's hidden width.
        depth: Its hidden layers.

    Raises:
        ValueError: For a missing, unreadable or mismatched file.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    model = LatentDiffusion(vae_model.latent_dim, width, depth)
    store.load_float16(
        model,
        lambda: _same_architecture(model),
        path,
        f"The weights in {path} do not fit the latent diffusion model",
        f"retrain them with `{command}`, or restore the file with git.",
    )
    return model.attach_decoder(vae_model.decoder)


def load_shipped(vae_model) -> LatentDiffusion:
    """Return the shipped denoiser (file checked), decoding with the shipped VAE.

    Args:
        vae_model: ``shipped.load("vae")``.

    Returns:
        A :class:`LatentDiffusion` with ``manifest``, its manifest entry.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    command = recipes.LATENT_DIFFUSION.command
    path = store.verified_path(recipes.LATENT_DIFFUSION.key, command)
    entry = store.read_manifest()["latent_diffusion"]
    recipe = entry.get("recipe", {})
    model = load(
        path,
        vae_model,
        entry.get("command", command),
        recipe.get("diffusion_width", 256),
        recipe.get("diffusion_depth", 3),
    )
    model.manifest = dict(entry)
    return model
