"""A convolutional VAE with a Bernoulli decoder, trained by ``fit`` on binarised MNIST.

``VAE.train_step`` minimises ``losses.negative_elbo``: the Bernoulli negative
log-likelihood of the image under the decoder's logits plus the closed-form KL
divergence of the encoder's Gaussian from the standard normal prior. The latent
sample uses the reparameterisation ``z = mean + exp(logvar / 2) * eps`` with
``eps`` drawn from a ``keras.random.SeedGenerator``.

Held-out quality is measured in nats per image: the negative ELBO, and an
importance-weighted estimate of ``log p(x)`` (the IWAE bound of Burda et al.,
2016), which is never below the ELBO and approaches ``log p(x)`` as the number
of samples ``K`` grows.

The networks are ``models.vae_encoder`` and ``models.vae_decoder``; the shipped
recipe is ``recipes.VAE``.

Introduced in notebooks/07_vae_training.ipynb.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from course_lib import config, hardware, losses, models, pixels, replicas, training

# ------------------------------------------------------------------- the model


@keras.saving.register_keras_serializable(package="course_lib")
class VAE(keras.Model):
    """Encoder and decoder trained together on the negative ELBO by ``fit``.

    Args:
        encoder: Maps images to ``[mean, logvar]``.
        decoder: Maps z to Bernoulli logits of shape (batch, 28, 28, 1).
        latent_dim: Size of z (read from the decoder when ``None``).
        beta: Weight of the KL term (1 gives the ELBO; > 1 is the beta-VAE).
        seed: Seed of the reparameterisation noise.

    Introduced in notebooks/07_vae_training.ipynb.
    """

    def __init__(self, encoder, decoder, latent_dim=None, beta=1.0, seed=None, **kw):
        super().__init__(**kw)
        if latent_dim is None:
            latent_dim = int(decoder.inputs[0].shape[-1])
        self.latent_dim = models.check_latent_dim(latent_dim)
        if not float(beta) >= 0:
            raise ValueError(f"beta must be non-negative, got {beta!r}.")
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.seed = seed
        self.noise_seed = keras.random.SeedGenerator(seed, name="noise_seed")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def get_config(self):
        return {
            "name": self.name,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "latent_dim": self.latent_dim,
            "beta": self.beta,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    # ------------------------------------------------------------ the maths

    def encode(self, images, training=False):
        """Return ``(mean, logvar)`` of q(z|x), float32, each (batch, latent_dim)."""
        mean, logvar = self.encoder(images, training=training)
        return tf.cast(mean, "float32"), tf.cast(logvar, "float32")

    def reparameterise(self, mean, logvar):
        """Return ``mean + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``."""
        # Each replica of a MirroredStrategy keeps its own rows of one draw.
        eps = replicas.replica_share(
            lambda rows: keras.random.normal(
                tf.stack([rows, tf.shape(mean)[1]]), seed=self.noise_seed
            ),
            tf.shape(mean)[0],
        )
        return mean + tf.exp(0.5 * logvar) * eps

    def call(self, images, training=False):
        mean, logvar = self.encode(images, training=training)
        return self.decoder(self.reparameterise(mean, logvar), training=training)

    def compute_terms(self, images, training=False):
        """Return ``(negative_elbo, reconstruction, kl)`` batch means, one sample.

        Args:
            images: float (batch, 28, 28, 1) in [0, 1].
            training: Passed to the networks.

        Returns:
            Three scalar float32 tensors; ``negative_elbo`` comes from
            ``losses.negative_elbo`` with this model's ``beta``.
        """
        images = tf.cast(images, "float32")
        mean, logvar = self.encode(images, training=training)
        logits = tf.cast(
            self.decoder(self.reparameterise(mean, logvar), training=training),
            "float32",
        )
        loss = losses.negative_elbo(images, logits, mean, logvar, beta=self.beta)
        reconstruction = tf.reduce_mean(losses.bernoulli_nll(images, logits))
        kl = tf.reduce_mean(losses.gaussian_kl(mean, logvar))
        return loss, reconstruction, kl

    def _update_trackers(self, loss, reconstruction, kl):
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, batch):
        images = batch[0] if isinstance(batch, tuple | list) else batch
        pixels.check_batch(images, "VAE.fit", "0,1")
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self.compute_terms(images, training=True)
            scaled = self.optimizer.scale_loss(replicas.loss_share(loss))
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return self._update_trackers(loss, reconstruction, kl)

    def test_step(self, batch):
        images = batch[0] if isinstance(batch, tuple | list) else batch
        pixels.check_batch(images, "VAE.fit", "0,1")
        return self._update_trackers(*self.compute_terms(images, training=False))

    # ------------------------------------------------------ using the model

    def decode_means(self, latent, batch_size: int = 500) -> np.ndarray:
        """Return the decoder's Bernoulli means sigmoid(logits) for latent vectors.

        Args:
            latent: Array of shape (n, latent_dim).
            batch_size: Vectors per forward pass.

        Returns:
            float32 array of shape (n, 28, 28, 1) in [0, 1].
        """
        latent = np.asarray(latent, dtype=np.float32)
        if latent.ndim != 2 or latent.shape[1] != self.latent_dim:
            raise ValueError(
                f"latent must have shape (n, {self.latent_dim}), got {latent.shape}."
            )
        logits = self.decoder.predict(latent, batch_size=batch_size, verbose=0)
        return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        """Return ``count`` prior samples: decoder means at z ~ N(0, I).

        Args:
            count: How many samples.
            seed: NumPy seed of z (the same seed gives the same images).

        Returns:
            float32 array of shape (count, 28, 28, 1) in [0, 1].
        """
        rng = np.random.default_rng(seed)
        return self.decode_means(rng.standard_normal((count, self.latent_dim)))

    def generate(self, count: int, seed: int = 0) -> np.ndarray:
        """Return ``count`` prior samples in the course's common image format.

        The same decoder means as :meth:`sample`, mapped to [-1, 1] like every
        other generator's images (``2 * mean - 1``).

        Returns:
            float32 array of shape (count, 28, 28, 1) in [-1, 1].
        """
        return 2.0 * self.sample(count, seed=seed) - 1.0

    def encode_means(self, images, batch_size: int = 500) -> np.ndarray:
        """Return the encoder means of images in [0, 1], shape (n, latent_dim)."""
        mean, _ = self.encoder.predict(
            np.asarray(images, np.float32), batch_size=batch_size, verbose=0
        )
        return np.asarray(mean, dtype=np.float32)

    def reconstruct(self, images) -> np.ndarray:
        """Return reconstructions: the decoder's means at the encoder's mean of z.

        Args:
            images: float (n, 28, 28, 1) in [0, 1].

        Returns:
            float32 array of shape (n, 28, 28, 1) in [0, 1].
        """
        return self.decode_means(self.encode_means(images))


# -------------------------------------------------------------------- building


def uncompiled_vae(latent_dim: int = 16) -> VAE:
    """Return a fresh, uncompiled VAE of the course's architecture (for weights I/O).

    Introduced in notebooks/07_vae_training.ipynb.
    """
    return VAE(models.vae_encoder(latent_dim), models.vae_decoder(latent_dim))


def build_vae(
    latent_dim: int = 16,
    precision: str | None = None,
    strategy=None,
    jit_compile: bool | None = None,
    steps_per_execution: int | None = None,
    learning_rate: float = 1e-3,
    beta: float = 1.0,
    seed: int | None = config.DEFAULT_SEED,
) -> VAE:
    """Build and compile the VAE, ready for ``fit(dataset)`` on binarised digits.

    Args:
        latent_dim: Size of z (positive).
        precision: Keras dtype policy (``None``: the fastest safe one from
            ``hardware.recommended_settings()``). The global policy is restored.
        strategy: A ``tf.distribute.Strategy``; everything is built in its scope.
        jit_compile: XLA-compile the train step (``None``: recommended).
        steps_per_execution: Batches per compiled call (``None``: recommended).
        learning_rate: Adam's learning rate.
        beta: Weight of the KL term.
        seed: Seed of the reparameterisation noise.

    Returns:
        A compiled :class:`VAE`; ``vae.settings`` records the choices made.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    models.check_latent_dim(latent_dim)
    settings = hardware.resolve_settings(precision, jit_compile, steps_per_execution)
    with replicas.build_scope(settings["precision"], strategy):
        vae = VAE(
            models.vae_encoder(latent_dim),
            models.vae_decoder(latent_dim),
            latent_dim,
            beta=beta,
            seed=seed,
        )
        optimizer = training.adam(learning_rate, settings["precision"])
        vae.compile(
            optimizer=optimizer,
            jit_compile=settings["jit_compile"],
            steps_per_execution=settings["steps_per_execution"],
            auto_scale_loss=False,
        )
        optimizer.build(vae.trainable_variables)
    vae.settings = settings
    return vae


# ------------------------------------------------------------ held-out numbers


def _log_standard_normal(z: np.ndarray) -> np.ndarray:
    return -0.5 * np.sum(z**2 + math.log(2 * math.pi), axis=-1)


def held_out_bounds(
    vae: VAE, images, num_samples: int = 100, seed: int = 0, batch_size: int = 50
) -> dict:
    """Return the ELBO and the importance-weighted bound on log p(x), per image.

    For each image, ``K = num_samples`` latents ``z_k ~ q(z|x)`` give the log
    weights ``log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)``. Then

    - ``elbo = mean_k log w_k`` (an unbiased estimate of the ELBO), and
    - ``iwae = logsumexp_k log w_k - log K`` (the IWAE bound ``L_K``).

    By Jensen's inequality ``iwae >= elbo`` for every image and every draw, and
    ``L_K`` increases towards ``log p(x)`` as ``K`` grows (Burda et al., 2016).

    Args:
        vae: A trained :class:`VAE`.
        images: float images in [0, 1], (n, 28, 28[, 1]) (binarised digits).
        num_samples: ``K``, latent samples per image (positive).
        seed: NumPy seed of the noise.
        batch_size: Images per forward pass (each expands to ``K`` decodes).

    Returns:
        A dict of float64 arrays of shape (n,) in nats: ``elbo``, ``iwae``,
        and the means ``negative_elbo`` and ``iwae_log_px`` (floats), and ``K``.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    if np.asarray(images).dtype == np.uint8:
        raise ValueError(
            "held_out_bounds expects binarised float images in [0, 1], got uint8. "
            "Fix: binarise with pixels.binarize(images)."
        )
    images = pixels.to_unit_range(images, "0,1")
    if not isinstance(num_samples, int) or num_samples <= 0:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
    rng = np.random.default_rng(seed)
    elbo, iwae = [], []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        mean, logvar = vae.encoder.predict(chunk, batch_size=batch_size, verbose=0)
        mean, logvar = mean.astype(np.float64), logvar.astype(np.float64)
        eps = rng.standard_normal((len(chunk), num_samples, vae.latent_dim))
        z = mean[:, None] + np.exp(0.5 * logvar)[:, None] * eps
        flat_z = z.reshape(-1, vae.latent_dim).astype(np.float32)
        logits = vae.decoder.predict(flat_z, batch_size=2000, verbose=0)
        logits = logits.astype(np.float64).reshape(len(chunk), num_samples, -1)
        x = chunk.reshape(len(chunk), 1, -1).astype(np.float64)
        # log p(x|z) = -sum(softplus(l) - x l), the Bernoulli log-likelihood.
        log_px_given_z = -np.sum(np.logaddexp(0.0, logits) - x * logits, axis=-1)
        log_pz = _log_standard_normal(z)
        log_qz = -0.5 * np.sum(
            eps**2 + math.log(2 * math.pi) + logvar[:, None], axis=-1
        )
        log_w = log_px_given_z + log_pz - log_qz
        top = log_w.max(axis=1)
        iwae.append(top + np.log(np.mean(np.exp(log_w - top[:, None]), axis=1)))
        elbo.append(log_w.mean(axis=1))
    elbo, iwae = np.concatenate(elbo), np.concatenate(iwae)
    return {
        "elbo": elbo,
        "iwae": iwae,
        "negative_elbo": float(-elbo.mean()),
        "iwae_log_px": float(iwae.mean()),
        "K": num_samples,
    }
