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

This module never imports ``course_lib.training`` or ``course_lib.models``; they
re-export its names (``training.VAE``, ``training.build_vae``,
``models.vae_encoder``, ``models.vae_decoder``).

Introduced in notebooks/05_vae_training.ipynb.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from course_lib import config, hardware, losses, models  # noqa: E402

IMAGE_SHAPE = (28, 28, 1)
HIDDEN_UNITS = 128


def vae_encoder(latent_dim: int = 16, name: str = "encoder") -> keras.Model:
    """Build the encoder q(z|x): an image to the mean and log-variance of z.

    Conv 32 and 64 filters (3x3, stride 2, ReLU), a 128-unit dense layer, then two
    linear heads. The heads are float32 layers, so that ``exp(logvar)`` stays
    accurate under mixed precision.

    Args:
        latent_dim: Size of z (positive).
        name: The model's name.

    Returns:
        A ``keras.Model`` mapping (batch, 28, 28, 1) to ``[mean, logvar]``, each
        (batch, latent_dim).

    Introduced in notebooks/05_vae_training.ipynb.
    """
    latent_dim = models.check_latent_dim(latent_dim)
    image = keras.Input(shape=IMAGE_SHAPE, name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(HIDDEN_UNITS, activation="relu")(x)
    mean = layers.Dense(latent_dim, dtype="float32", name="mean")(x)
    logvar = layers.Dense(latent_dim, dtype="float32", name="logvar")(x)
    return keras.Model(image, [mean, logvar], name=name)


def vae_decoder(latent_dim: int = 16, name: str = "decoder") -> keras.Model:
    """Build the decoder p(x|z): a latent vector to Bernoulli logits per pixel.

    Dense 128 and 7*7*32 (ReLU), then transposed convolutions with 64 and 32
    filters (3x3, stride 2) and a 3x3 convolution to one channel of logits
    (float32, no sigmoid: the loss works on logits).

    Args:
        latent_dim: Size of z (positive).
        name: The model's name.

    Returns:
        A ``keras.Model`` mapping (batch, latent_dim) to (batch, 28, 28, 1) logits.

    Introduced in notebooks/05_vae_training.ipynb.
    """
    latent_dim = models.check_latent_dim(latent_dim)
    z = keras.Input(shape=(latent_dim,), name="z")
    x = layers.Dense(HIDDEN_UNITS, activation="relu")(z)
    x = layers.Dense(7 * 7 * 32, activation="relu")(x)
    x = layers.Reshape((7, 7, 32))(x)
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)
    logits = layers.Conv2D(1, 3, padding="same", dtype="float32", name="logits")(x)
    return keras.Model(z, logits, name=name)


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

    Introduced in notebooks/05_vae_training.ipynb.
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
        eps = keras.random.normal(tf.shape(mean), seed=self.noise_seed)
        return mean + tf.exp(0.5 * logvar) * eps

    def call(self, images, training=False):
        mean, logvar = self.encode(images, training=training)
        return self.decoder(self.reparameterise(mean, logvar), training=training)

    def _check_images(self, images):
        shape = tuple(images.shape)
        if len(shape) != 4 or shape[1:] != IMAGE_SHAPE:
            raise ValueError(
                f"VAE.fit expects images of shape (batch, 28, 28, 1), got {shape}. "
                "Fix: binarise with data.binarize(images) (which also adds the "
                "channel axis) and pass the images alone: fit(dataset)."
            )
        if not images.dtype.is_floating:
            raise ValueError(
                f"VAE.fit expects float images in [0, 1], got dtype "
                f"{images.dtype.name}. Fix: data.binarize(uint8_images)."
            )

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
        self._check_images(images)
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self.compute_terms(images, training=True)
            # Gradients are summed over replicas, so each replica's share is
            # divided by their number, as Keras's own train_step does.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / replicas)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return self._update_trackers(loss, reconstruction, kl)

    def test_step(self, batch):
        images = batch[0] if isinstance(batch, tuple | list) else batch
        self._check_images(images)
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

    Introduced in notebooks/05_vae_training.ipynb.
    """
    models.check_latent_dim(latent_dim)
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}.")
    settings = hardware.resolve_settings(precision, jit_compile, steps_per_execution)
    with hardware.build_scope(settings["precision"], strategy):
        vae = VAE(
            vae_encoder(latent_dim),
            vae_decoder(latent_dim),
            latent_dim,
            beta=beta,
            seed=seed,
        )
        optimizer = keras.optimizers.Adam(learning_rate)
        if settings["precision"] == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
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


def _check_unit_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"images must have shape (n, 28, 28) or (n, 28, 28, 1), got "
            f"{images.shape}. Fix: pass a batch, e.g. data.binarize(mnist.x_test)."
        )
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"images must be float in [0, 1], got {images.dtype}. Fix: "
            "data.binarize(uint8_images)."
        )
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must lie in [0, 1]. Fix: data.binarize(images).")
    return images.astype(np.float32)


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

    Introduced in notebooks/05_vae_training.ipynb.
    """
    images = _check_unit_images(images)
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


# ---------------------------------------------------------------- train or load

BATCH_SIZE = 32
LEARNING_RATE = 1e-3
SHIPPED_LATENT_DIMS = (16, 2)
VAE_COMMAND = "python -m course_lib.train vae --profile full"


def manifest_key(latent_dim: int) -> str:
    """Return the VAE's name in the manifest: ``"vae"`` (16-D) or ``"vae_2d"``."""
    latent_dim = models.check_latent_dim(latent_dim)
    return "vae" if latent_dim == 16 else f"vae_{latent_dim}d"


def _half_copy(latent_dim: int) -> VAE:
    with hardware.build_scope("float16"):
        return VAE(vae_encoder(latent_dim), vae_decoder(latent_dim), latent_dim)


def save_weights_float16(vae: VAE, path) -> Path:
    """Save the encoder's and decoder's weights as float16 (half the size), atomically.

    Args:
        vae: A trained :class:`VAE`.
        path: A file ending in ``.weights.h5``.

    Returns:
        The path written.
    """
    from course_lib import callbacks as course_callbacks

    path = Path(path)
    half = _half_copy(vae.latent_dim)
    for source, target in ((vae.encoder, half.encoder), (vae.decoder, half.decoder)):
        target.set_weights([np.asarray(w, np.float16) for w in source.get_weights()])
    path.parent.mkdir(parents=True, exist_ok=True)
    return course_callbacks.atomic_write(path.parent, path.name, half.save_weights)


def load_weights_float16(vae: VAE, path) -> VAE:
    """Load weights written by :func:`save_weights_float16` into ``vae``.

    Args:
        vae: A :class:`VAE` with the same latent size as the saved one.
        path: The ``.weights.h5`` file.

    Returns:
        The same VAE.

    Raises:
        ValueError: If the file holds another architecture; the message names
            the fix.
    """
    from course_lib import evaluation

    half = evaluation.load_weights_checked(
        _half_copy(vae.latent_dim),
        path,
        f"The weights in {Path(path).name} do not fit a VAE with latent_dim="
        f"{vae.latent_dim}",
        "build the VAE with the latent_dim it was trained with, or retrain with "
        f"`{VAE_COMMAND}`.",
    )
    for source, target in ((half.encoder, vae.encoder), (half.decoder, vae.decoder)):
        target.set_weights(
            [
                np.asarray(w).astype(v.dtype)
                for w, v in zip(source.get_weights(), target.weights, strict=True)
            ]
        )
    return vae


def fit_resumable(
    vae: VAE,
    dataset,
    epochs: int,
    directory,
    validation_data=None,
    resume: bool = True,
    callbacks=(),
    verbose="auto",
) -> tuple[dict, dict]:
    """Run ``fit`` with atomic checkpoints and a NaN guard, resuming if possible.

    Uses ``course_lib.callbacks``: an unfinished run in ``directory`` is
    resumed (weights, optimizer state, noise seed, epoch and history); a
    finished one, or ``resume=False``, starts afresh. A NaN loss stops
    training with ``callbacks.NonFiniteLossError`` and keeps the last good
    checkpoint.

    Args:
        vae: A compiled :class:`VAE`.
        dataset: Batches of binarised images.
        epochs: Total epochs of the run.
        directory: The checkpoint folder.
        validation_data: Optional held-out dataset (gives ``val_`` metrics).
        resume: Continue an unfinished run.
        callbacks: More callbacks.
        verbose: Passed to ``fit``.

    Returns:
        ``(history, info)`` as for ``callbacks.fit_with_checkpoints``: the
        run's per-epoch history and a dict with ``initial_epoch``, ``seconds``
        (this call's training time) and ``total_seconds``.

    Introduced in notebooks/05_vae_training.ipynb.
    """
    from course_lib import callbacks as course_callbacks

    return course_callbacks.fit_with_checkpoints(
        vae,
        dataset,
        epochs,
        directory,
        resume=resume,
        callbacks=callbacks,
        verbose=verbose,
        validation_data=validation_data,
    )


def shipped_weights_path(latent_dim: int = 16) -> Path:
    """Return ``data/weights/<key>.weights.h5`` (it may not exist)."""
    return config.data_dir() / "weights" / f"{manifest_key(latent_dim)}.weights.h5"


def load_shipped_vae(latent_dim: int = 16, **build_kwargs) -> tuple[VAE, dict, dict]:
    """Build a VAE and load the shipped weights, checked against the manifest.

    Args:
        latent_dim: 16 (the course's VAE) or 2 (the plottable variant).
        **build_kwargs: Passed to :func:`build_vae`.

    Returns:
        ``(vae, history, manifest_entry)``.

    Raises:
        ValueError: If the weights are missing, corrupt or of another
            architecture; the message names ``python -m course_lib.train vae``.
    """
    from course_lib import evaluation

    key = manifest_key(latent_dim)
    path = evaluation.verified_weights_path(key, VAE_COMMAND)
    entry = evaluation.read_manifest()[key]
    vae = build_vae(latent_dim=entry["latent_dim"], **build_kwargs)
    load_weights_float16(vae, path)
    with open(path.parent / entry["history_file"], encoding="utf-8") as handle:
        history = json.load(handle)["history"]
    return vae, history, entry


def train_or_load(
    profile: config.Profile | None = None,
    latent_dim: int = 16,
    seed: int = config.DEFAULT_SEED,
    retrain: bool | None = None,
    images=None,
    validation_images=None,
    checkpoint_directory=None,
    callbacks=(),
    verbose="auto",
    **build_kwargs,
) -> tuple[VAE, dict, dict]:
    """Train the VAE for the profile, or load the shipped one.

    Quick profile: always trains (so CI runs the real training path). Full
    profile: loads the shipped weights when present, unless ``retrain`` (or
    ``COURSE_RETRAIN=1``); training resumes an interrupted run from its
    checkpoints in ``data/checkpoints/vae<latent_dim>_<profile>``.

    Args:
        profile: The run's profile (default: ``config.get_profile()``).
        latent_dim: Size of z.
        seed: Seed of the data order and the reparameterisation noise.
        retrain: Force training (``None``: read ``COURSE_RETRAIN``).
        images: Binarised training images (default: the profile's share).
        validation_images: Binarised held-out images (default: the profile's
            ``eval_samples`` test images).
        checkpoint_directory: Where checkpoints go.
        callbacks: Extra callbacks for ``fit``.
        verbose: Passed to ``fit``.
        **build_kwargs: Passed to :func:`build_vae`.

    Returns:
        ``(vae, history, info)``; ``info["source"]`` is ``"trained"`` or
        ``"shipped"``, and the rest is the provenance.

    Introduced in notebooks/05_vae_training.ipynb.
    """
    from course_lib import data

    profile = profile or config.get_profile()
    latent_dim = models.check_latent_dim(latent_dim)
    retrain = config.retrain_requested() if retrain is None else retrain
    shipped = shipped_weights_path(latent_dim)
    if not profile.is_quick and not retrain and shipped.exists():
        vae, history, entry = load_shipped_vae(latent_dim, **build_kwargs)
        return vae, history, {"source": "shipped", **entry}
    if images is None or validation_images is None:
        mnist = data.load_mnist(verbose=False)
        if images is None:
            images = mnist.x_train[: profile.train_images]
        if validation_images is None:
            validation_images = mnist.x_test[: profile.eval_samples]
    images = _check_unit_images(_binarise_if_uint8(images))
    validation_images = _check_unit_images(_binarise_if_uint8(validation_images))
    vae = build_vae(latent_dim=latent_dim, seed=seed, **build_kwargs)
    dataset = data.make_dataset(images, BATCH_SIZE, seed=seed)
    validation = data.make_dataset(validation_images, 500, shuffle=False)
    directory = checkpoint_directory or config.checkpoint_dir(
        f"vae{latent_dim}_{profile.name}"
    )
    history, info = fit_resumable(
        vae,
        dataset,
        profile.epochs,
        directory,
        validation,
        callbacks=callbacks,
        verbose=verbose,
    )
    info.update(
        source="trained",
        latent_dim=latent_dim,
        epochs=profile.epochs,
        batch_size=BATCH_SIZE,
        learning_rate=LEARNING_RATE,
        train_images=len(images),
        settings=vae.settings,
    )
    return vae, history, info


def _binarise_if_uint8(images):
    from course_lib import data

    images = np.asarray(images)
    return data.binarize(images) if images.dtype == np.uint8 else images


def sample_results(vae: VAE, mnist, count: int = 1000) -> dict:
    """Measure a VAE's prior samples with the evaluation classifier.

    Args:
        vae: A trained VAE.
        mnist: ``data.load_mnist()`` (real digits for the FID and its floor).
        count: How many prior samples (seed 1) and real test digits.

    Returns:
        A JSON-ready dict: class counts, coverage, recognisable fraction,
        classifier-FID and its real-vs-real floor, and the classifier's sha256.

    Introduced in notebooks/05_vae_training.ipynb.
    """
    from course_lib import evaluation

    samples = vae.sample(count, seed=1)
    counts = evaluation.class_histogram(samples, value_range="0,1")
    coverage = evaluation.coverage_check(counts)
    real = mnist.x_test[:count]
    return {
        "samples": count,
        "class_counts": [int(c) for c in counts],
        "largest_share": round(coverage["largest_share"], 4),
        "all_digits_present": coverage["all_digits_present"],
        "coverage_passed": coverage["passed"],
        "recognisable_fraction": round(
            evaluation.recognisable_fraction(samples, value_range="0,1"), 4
        ),
        "fid": round(
            evaluation.classifier_fid(real, samples, generated_value_range="0,1"), 3
        ),
        "fid_floor": round(evaluation.fid_floor(mnist.x_train, len(real)), 3),
        "classifier_sha256": evaluation.read_manifest()["classifier"]["sha256"],
    }


def evaluate_vae(vae: VAE, mnist, count: int = 1000, num_samples: int = 100) -> dict:
    """Measure a VAE: held-out bounds in nats, and its prior samples' coverage.

    Args:
        vae: A trained VAE.
        mnist: ``data.load_mnist()`` (its binarised test split is held out).
        count: Prior samples for the classifier checks.
        num_samples: ``K`` of the importance-weighted bound.

    Returns:
        A dict of plain numbers and lists (JSON-ready).

    Introduced in notebooks/05_vae_training.ipynb.
    """
    from course_lib import data

    bounds = held_out_bounds(vae, data.binarize(mnist.x_test), num_samples)
    return {
        "test_images": len(mnist.x_test),
        "test_negative_elbo_nats": round(bounds["negative_elbo"], 2),
        "test_iwae_log_px_nats": round(bounds["iwae_log_px"], 2),
        "iwae_samples": num_samples,
        **sample_results(vae, mnist, count),
    }


def train_vae_command(profile: config.Profile, seed: int) -> dict:
    """Train the 16-D VAE and its 2-D variant from scratch; ship them (full profile).

    Writes ``data/weights/vae.weights.h5`` and ``vae_2d.weights.h5`` (float16),
    their histories and provenance (``vae_history.json``,
    ``vae_2d_history.json``) and their entries in ``MANIFEST.json``. The quick
    profile trains and evaluates but ships nothing.

    Args:
        profile: The profile to train with.
        seed: The seed.

    Returns:
        A summary dict (times, held-out nats, coverage, files written).

    Introduced in notebooks/05_vae_training.ipynb.
    """
    from course_lib import callbacks as course_callbacks
    from course_lib import data, evaluation

    summary = {}
    for latent_dim in SHIPPED_LATENT_DIMS:
        config.seed_everything(seed)
        mnist = data.load_mnist()
        key = manifest_key(latent_dim)
        vae, history, info = train_or_load(
            profile,
            latent_dim,
            seed=seed,
            retrain=True,
            checkpoint_directory=config.checkpoint_dir(
                f"vae{latent_dim}_{profile.name}_command"
            ),
            verbose=2,
        )
        if not profile.is_quick:
            weights_path = save_weights_float16(vae, shipped_weights_path(latent_dim))
            # Measure what is shipped: the float16 weights, loaded back.
            vae = load_weights_float16(build_vae(latent_dim), weights_path)
        results = evaluate_vae(
            vae,
            mnist,
            count=profile.eval_samples,
            num_samples=10 if profile.is_quick else 500,
        )
        summary[f"{key}_training_seconds"] = round(info["seconds"], 1)
        summary[f"{key}_results"] = results
        if profile.is_quick:
            continue
        provenance = {
            "command": VAE_COMMAND,
            "data_source": mnist.source,
            "binarisation": "data.binarize: pixel > 0.5 of full brightness",
            "train_images": info["train_images"],
            "epochs": info["epochs"],
            "batch_size": info["batch_size"],
            "learning_rate": info["learning_rate"],
            "seed": seed,
            "settings": info["settings"],
            "training_seconds": round(info["seconds"], 1),
            "machine": _machine(),
            "trained_on": datetime.date.today().isoformat(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        }
        history_name = f"{key}_history.json"
        record = {"history": history, "provenance": provenance, "results": results}

        def write_history(path, record=record):
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(record, handle, indent=1)

        course_callbacks.atomic_write(weights_path.parent, history_name, write_history)
        evaluation.update_manifest(
            key,
            {
                "file": weights_path.name,
                "sha256": data.sha256_of(weights_path),
                "bytes": weights_path.stat().st_size,
                "history_file": history_name,
                "latent_dim": latent_dim,
                "architecture": "course_lib.vae.vae_encoder / vae_decoder",
                "storage_dtype": "float16",
                "provenance": provenance,
                "results": results,
            },
        )
        summary[f"{key}_weights"] = f"data/weights/{weights_path.name}"
    return summary


def _machine() -> str:
    names = hardware.gpu_names()
    if names:
        return ", ".join(names)
    return f"{os.cpu_count()} CPU cores ({hardware.cpu_model()}), no GPU"
