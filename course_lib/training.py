"""Train the DCGAN with ``model.fit``: a ``keras.Model`` with a custom ``train_step``.

``GAN.train_step`` alternates one discriminator step and one generator step on
every batch, each with its own optimizer and the losses of ``course_lib.losses``,
sharing one generator pass. The two steps are also methods (``d_step`` and
``g_step``) so that tests can check that each one changes only its own network,
and that ``train_step`` does exactly their work. An optional DiffAugment policy
(``course_lib.augment``) shifts every image the discriminator sees.

``build_gan`` returns a compiled ``GAN``; open choices (precision, XLA, steps per
execution) come from ``hardware.recommended_settings()``. ``train_or_load`` trains
with resumable checkpoints, or loads the shipped generator in the full profile;
``train_gan_command`` is ``python -m course_lib.train gan``.

Introduced in notebooks/04_gan_training.ipynb.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_lib import augment, config, data, hardware, losses, models  # noqa: E402
from course_lib import callbacks as course_callbacks  # noqa: E402
from course_lib import clusters as clustering  # noqa: E402
from course_lib.callbacks import fit_with_checkpoints  # noqa: F401, E402  (used by nb 04)
from course_lib.vae import VAE, build_vae  # noqa: F401, E402  (re-export: issue 4 names training.VAE)

GAN_KEY = "gan"
GAN_WEIGHTS_FILE = "gan_generator.weights.h5"
GAN_HISTORY_FILE = "gan_history.json"
GAN_GIF_FILE = "gan_training.gif"
GRID_SEED = 2024
GAN_EMA_DECAY = 0.995
# Adam's learning rate for the generator (DCGAN paper: 2e-4, with beta_1 = 0.5).
GAN_LEARNING_RATE = 2e-4
# The discriminator learns twice as fast as the generator (two time-scale update
# rule, Heusel et al. 2017). On the 4,000-digit subset a run with equal rates
# reached the same quality (recognisable fraction 0.418 vs 0.415), so this is a
# conventional choice rather than a measured win.
GAN_D_LEARNING_RATE = 4e-4
# DiffAugment (Zhao et al., 2020): D sees real and fake digits shifted by up to 3
# pixels. Measured on the 4,000-digit subset (seed 42, 1,000 samples): 0.41 of
# samples recognisable after 5 epochs and 0.62 after 10 (2.3 min), where the
# earlier recipe without it needed 30 epochs (9.3 min) to reach 0.69. Both level
# off near 0.7. Adding cutout learned more slowly (0.54 after 10 epochs) and did
# not end higher.
GAN_AUGMENT_POLICY = "translation"
# Condition G and D on 20 k-means clusters of the training pixels (no labels;
# ``course_lib.clusters``). Every unconditional recipe above levelled off near 0.70
# recognisable; in script runs with the same data, seed and 1,000 samples, pixel
# clusters reached 0.866 after 10 epochs and 0.878 after 15 (FID 20 and 16), and
# clusters of the VAE's codes 0.877 and 0.881. The shipped run's record has the
# figures of this exact code.
GAN_CLUSTERS = 20
GAN_COMMAND = "python -m course_lib.train gan --profile full"
IMAGE_SHAPE = (28, 28, 1)


@keras.saving.register_keras_serializable(package="course_lib")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other by ``fit``.

    Args:
        generator: Maps (batch, latent_dim) noise to (batch, 28, 28, 1) images.
        discriminator: Maps images to (batch, 1) logits.
        latent_dim: Size of z (read from the generator when ``None``).
        generator_loss_kind: ``"non_saturating"`` or ``"minimax"``, as for
            ``losses.generator_loss``.
        seed: Seed of the latent noise drawn in ``train_step``.
        ema_decay: When set (e.g. 0.995), keep ``ema_generator``, an exponential
            moving average of the generator's weights updated after every
            generator step; samples are drawn from it (``sampler``). Averaging
            smooths the oscillation of GAN training and gives cleaner samples
            at no extra training cost (Yazici et al., 2019).
        augment_policy: ``None``, or a DiffAugment policy of
            ``course_lib.augment`` (e.g. ``"translation"``) applied to every
            image D sees, real and fake, in training.
        clusters: 0 for the plain GAN, or the number of clusters it is
            conditioned on. The last ``clusters`` entries of every latent vector
            are then a one-hot cluster id c, drawn with ``cluster_frequencies``;
            the discriminator must take ``[images, cluster_ids]``
            (``models.dcgan_discriminator(clusters=...)``), and ``fit`` needs
            ``(images, cluster_ids)`` batches.
        cluster_frequencies: How often each cluster id is drawn (``None``:
            uniform); normalised to sum to 1.

    Introduced in notebooks/04_gan_training.ipynb.
    """

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim=None,
        generator_loss_kind="non_saturating",
        seed=None,
        ema_decay=None,
        augment_policy=None,
        clusters=0,
        cluster_frequencies=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if latent_dim is None:
            latent_dim = int(generator.inputs[0].shape[-1])
        self.latent_dim = models.check_latent_dim(latent_dim)
        if generator_loss_kind not in losses.GENERATOR_LOSS_KINDS:
            raise ValueError(
                f"generator_loss_kind must be one of {losses.GENERATOR_LOSS_KINDS}, "
                f"got {generator_loss_kind!r}."
            )
        self.clusters = models.check_clusters(clusters, self.latent_dim)
        inputs = len(discriminator.inputs)
        if inputs != (2 if self.clusters else 1):
            raise ValueError(
                f"clusters={self.clusters} needs a discriminator with "
                f"{2 if self.clusters else 1} input(s), got one with {inputs}. Fix: "
                f"build it with models.dcgan_discriminator(clusters={self.clusters})."
            )
        self.cluster_frequencies = check_cluster_frequencies(
            cluster_frequencies, self.clusters
        )
        self.generator = generator
        self.discriminator = discriminator
        self.generator_loss_kind = generator_loss_kind
        self.seed = seed
        if ema_decay is not None and not 0.0 < float(ema_decay) < 1.0:
            raise ValueError(
                f"ema_decay must be in (0, 1) or None, got {ema_decay!r}; "
                "0.995 averages over roughly the last 200 generator steps."
            )
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.ema_generator = None
        if self.ema_decay is not None:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.name = f"{generator.name}_ema"
            self.ema_generator.set_weights(generator.get_weights())
        self.noise_seed = keras.random.SeedGenerator(seed, name="noise_seed")
        self.augment_policy = augment.check_policy(augment_policy)
        self.augment_seed = keras.random.SeedGenerator(
            None if seed is None else seed + 1, name="augment_seed"
        )
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="D(x)")
        self.fake_score_tracker = keras.metrics.Mean(name="D(G(z))")
        # Both networks are functional models, built on creation; so is the GAN.
        self.built = True

    # ----------------------------------------------------------------- set-up

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Attach one optimizer per network (plus ``fit`` options).

        Args:
            d_optimizer: The discriminator's optimizer.
            g_optimizer: The generator's optimizer.
            **kwargs: Passed to ``keras.Model.compile`` (``jit_compile``,
                ``steps_per_execution``).
        """
        kwargs.setdefault("auto_scale_loss", False)
        super().compile(optimizer=d_optimizer, **kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def optimizer_variable_groups(self):
        """Return ``(optimizer, variables)`` pairs, for checkpointing."""
        return [
            (self.d_optimizer, self.discriminator.trainable_variables),
            (self.g_optimizer, self.generator.trainable_variables),
        ]

    @property
    def metrics(self):
        return [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.real_score_tracker,
            self.fake_score_tracker,
        ]

    @property
    def sampler(self):
        """The network that draws samples: the EMA generator if kept, else G."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, z, training=False):
        return self.sampler(z, training=training)

    def get_config(self):
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "generator_loss_kind": self.generator_loss_kind,
            "seed": self.seed,
            "ema_decay": self.ema_decay,
            "augment_policy": self.augment_policy,
            "clusters": self.clusters,
            "cluster_frequencies": self.cluster_frequencies,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["discriminator"] = keras.saving.deserialize_keras_object(
            config["discriminator"]
        )
        return cls(**config)

    # ------------------------------------------------------------- training

    def sample_latent(self, batch_size):
        """Draw latent vectors from the model's seed generator.

        Standard normal; with clusters, the last ``clusters`` entries are instead
        a one-hot cluster id drawn with the cluster frequencies.
        """
        noise_dim = self.latent_dim - self.clusters
        noise = keras.random.normal((batch_size, noise_dim), seed=self.noise_seed)
        if not self.clusters:
            return noise
        log_frequencies = np.log(np.maximum(self.cluster_frequencies, 1e-30))
        ids = keras.random.categorical(
            tf.constant(log_frequencies[None], "float32"),
            batch_size,
            seed=self.noise_seed,
        )[0]
        one_hot = tf.one_hot(ids, self.clusters, dtype=noise.dtype)
        return tf.concat([noise, one_hot], axis=-1)

    def cluster_ids_of(self, z):
        """Return the cluster ids (batch,) held in latent vectors (``None``: none)."""
        if not self.clusters:
            return None
        return tf.argmax(z[:, -self.clusters :], axis=-1, output_type=tf.int32)

    def discriminate(self, images, cluster_ids=None):
        """D's logits for (augmented) images, given their cluster ids if it has them."""
        images = self.augment_images(images)
        if self.clusters:
            return self.discriminator([images, cluster_ids], training=True)
        return self.discriminator(images, training=True)

    def _unpack_batch(self, batch):
        """Split a batch into images and (with clusters) their cluster ids."""
        if not self.clusters:
            return (batch[0] if isinstance(batch, (tuple, list)) else batch), None
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(
                f"This GAN is conditioned on {self.clusters} clusters, so fit needs "
                "(images, cluster_ids) batches. Fix: ids, frequencies = "
                "clusters.cluster_images(images, k); fit(data.make_dataset(images, "
                "batch_size, labels=ids)), or use training.train_or_load."
            )
        return batch[0], tf.cast(batch[1], tf.int32)

    def _check_real_images(self, real_images):
        shape = tuple(real_images.shape)
        if len(shape) != 4 or shape[1:] != IMAGE_SHAPE:
            raise ValueError(
                f"GAN.fit expects images of shape (batch, 28, 28, 1), got {shape}. "
                "Fix: add the channel axis with data.scale_images(images) (which "
                "also scales to [-1, 1]), and pass the images alone: fit(dataset)."
            )
        if not real_images.dtype.is_floating:
            raise ValueError(
                f"GAN.fit expects float images in [-1, 1], got dtype "
                f"{real_images.dtype.name}. Fix: data.scale_images(images, '-1,1')."
            )

    @staticmethod
    def _scale_for_replicas(loss):
        # Gradients are summed over replicas, so each replica's loss is divided
        # by their number (as Keras's own train_step does).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return loss / replicas if replicas > 1 else loss

    def _discriminator_update(
        self, real_images, fake_images, real_ids=None, fake_ids=None
    ):
        """Update D on a real batch and a fake batch; G gets no gradient."""
        fake_images = tf.stop_gradient(fake_images)
        with tf.GradientTape() as tape:
            real_logits = self.discriminate(real_images, real_ids)
            fake_logits = self.discriminate(fake_images, fake_ids)
            d_loss = losses.discriminator_loss(
                tf.cast(real_logits, "float32"), tf.cast(fake_logits, "float32")
            )
            scaled = self.d_optimizer.scale_loss(self._scale_for_replicas(d_loss))
        variables = self.discriminator.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.d_optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return d_loss, real_logits, fake_logits

    def _generator_loss(self, fake_images, fake_ids=None):
        """The generator's loss on images that are still on G's tape."""
        fake_logits = self.discriminate(fake_images, fake_ids)
        g_loss = losses.generator_loss(
            tf.cast(fake_logits, "float32"), kind=self.generator_loss_kind
        )
        return g_loss, fake_logits

    def _generator_update(self, tape, g_loss):
        scaled = self.g_optimizer.scale_loss(self._scale_for_replicas(g_loss))
        variables = self.generator.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.g_optimizer.apply_gradients(zip(gradients, variables, strict=True))
        if self.ema_generator is not None:
            self.update_ema()

    def augment_images(self, images):
        """Apply the model's DiffAugment policy (identity when it has none)."""
        return augment.diff_augment(images, self.augment_policy, self.augment_seed)

    def d_step(self, real_images, z, real_ids=None):
        """One discriminator update on a real batch and fakes made from ``z``.

        Only the discriminator's weights change.

        Args:
            real_images: float (batch, 28, 28, 1) in [-1, 1].
            z: Latent vectors (batch, latent_dim).
            real_ids: The real images' cluster ids (batch,), with clusters.

        Returns:
            ``(d_loss, real_logits, fake_logits)``.
        """
        fake_images = self.generator(z, training=True)
        return self._discriminator_update(
            real_images, fake_images, real_ids, self.cluster_ids_of(z)
        )

    def g_step(self, z):
        """One generator update: make D call ``G(z)`` real. Only G's weights change.

        Args:
            z: Latent vectors (batch, latent_dim).

        Returns:
            ``(g_loss, fake_logits)``.
        """
        with tf.GradientTape() as tape:
            fake_images = self.generator(z, training=True)
            g_loss, fake_logits = self._generator_loss(
                fake_images, self.cluster_ids_of(z)
            )
        self._generator_update(tape, g_loss)
        return g_loss, fake_logits

    def update_ema(self):
        """Move each EMA weight towards the generator's: ``e <- d e + (1 - d) w``.

        The decay warms up as ``d = min(ema_decay, (1 + n) / (10 + n))`` after
        ``n`` generator steps, so that the random initial weights do not linger
        in the average of a short run. Batch-norm statistics are averaged too.
        """
        steps = tf.cast(self.g_optimizer.iterations, "float32")
        decay = tf.minimum(self.ema_decay, (1.0 + steps) / (10.0 + steps))
        for average, weight in zip(
            self.ema_generator.weights, self.generator.weights, strict=True
        ):
            value = tf.cast(weight, average.dtype)
            average.assign(decay * average + (1.0 - decay) * value)

    def train_step(self, batch):
        """One D update, then one G update, sharing a single generator pass.

        The fakes ``G(z)`` are made once, on G's tape. D is updated on them with
        the gradient to G stopped (``d_step``'s work); then the *updated* D scores
        the same fakes and G is updated through them (``g_step``'s work). This is
        the alternating scheme of Goodfellow et al. (2014, Algorithm 1) with one
        z per batch for both players, and it saves the second generator pass
        that calling ``d_step`` and then ``g_step`` would make.
        """
        real_images, real_ids = self._unpack_batch(batch)
        self._check_real_images(real_images)
        z = self.sample_latent(tf.shape(real_images)[0])
        fake_ids = self.cluster_ids_of(z)
        with tf.GradientTape() as g_tape:
            fake_images = self.generator(z, training=True)
            with g_tape.stop_recording():
                d_loss, real_logits, fake_logits = self._discriminator_update(
                    real_images, fake_images, real_ids, fake_ids
                )
            g_loss, _ = self._generator_loss(fake_images, fake_ids)
        self._generator_update(g_tape, g_loss)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.real_score_tracker.update_state(
            tf.sigmoid(tf.cast(real_logits, "float32"))
        )
        self.fake_score_tracker.update_state(
            tf.sigmoid(tf.cast(fake_logits, "float32"))
        )
        return {metric.name: metric.result() for metric in self.metrics}

    def generate(self, count, seed=0, batch_size=500):
        """Return ``count`` generated images as a float32 NumPy array in [-1, 1].

        Args:
            count: How many images.
            seed: Seed of the latent vectors (the same seed gives the same images).
            batch_size: Images per forward pass.

        Returns:
            float32 array of shape (count, 28, 28, 1).
        """
        latent = fixed_latents(
            count,
            self.latent_dim,
            seed,
            clusters=self.clusters,
            frequencies=self.cluster_frequencies,
        )
        images = self.sampler.predict(latent, batch_size=batch_size, verbose=0)
        return np.asarray(images, dtype=np.float32)


# ------------------------------------------------------------------- building


def build_gan(
    latent_dim: int = 100,
    precision: str | None = None,
    strategy=None,
    jit_compile: bool | None = None,
    steps_per_execution: int | None = None,
    learning_rate: float = GAN_LEARNING_RATE,
    beta_1: float = 0.5,
    generator_loss_kind: str = "non_saturating",
    seed: int | None = config.DEFAULT_SEED,
    ema_decay: float | None = None,
    discriminator_learning_rate: float | None = None,
    augment_policy: str | None = None,
    clusters: int = 0,
    cluster_frequencies=None,
) -> GAN:
    """Build and compile the DCGAN, ready for ``fit(dataset)``.

    Args:
        latent_dim: Size of z (positive).
        precision: Keras dtype policy for these models (``None``: the fastest
            safe one, from ``hardware.recommended_settings()``). The global
            policy is restored afterwards.
        strategy: A ``tf.distribute.Strategy``; the models and optimizers are
            built inside its scope, so ``fit`` runs on all its replicas.
        jit_compile: XLA-compile the train step (``None``: recommended).
        steps_per_execution: Batches per compiled call (``None``: recommended).
        learning_rate: Adam learning rate for both networks (DCGAN paper: 2e-4).
        beta_1: Adam's first-moment decay (DCGAN paper: 0.5).
        generator_loss_kind: ``"non_saturating"`` or ``"minimax"``.
        seed: Seed of the training noise.
        ema_decay: Keep an exponential moving average of the generator (e.g.
            0.995) and sample from it; ``None`` keeps none.
        discriminator_learning_rate: The discriminator's own Adam learning rate
            (``None``: the same as ``learning_rate``).
        augment_policy: DiffAugment policy for D's inputs (``None``: none, as
            in the TF docs recipe; see ``course_lib.augment``).
        clusters: Condition G and D on this many cluster ids (0: none, as in
            the TF docs recipe; see :class:`GAN`).
        cluster_frequencies: How often each id is drawn (``None``: uniform).

    Returns:
        A compiled :class:`GAN`; ``gan.settings`` records the choices made.

    Introduced in notebooks/04_gan_training.ipynb.
    """
    models.check_latent_dim(latent_dim)
    models.check_clusters(clusters, latent_dim)
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}.")
    settings = hardware.resolve_settings(precision, jit_compile, steps_per_execution)
    with hardware.build_scope(settings["precision"], strategy):
        generator = models.dcgan_generator(latent_dim)
        discriminator = models.dcgan_discriminator(clusters=clusters)
        gan = GAN(
            generator,
            discriminator,
            latent_dim,
            generator_loss_kind,
            seed,
            ema_decay=ema_decay,
            augment_policy=augment_policy,
            clusters=clusters,
            cluster_frequencies=cluster_frequencies,
        )
        optimizers = []
        d_rate = discriminator_learning_rate or learning_rate
        for rate in (d_rate, learning_rate):
            optimizer = keras.optimizers.Adam(rate, beta_1=beta_1)
            if settings["precision"] == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizers.append(optimizer)
        gan.compile(
            d_optimizer=optimizers[0],
            g_optimizer=optimizers[1],
            jit_compile=settings["jit_compile"],
            steps_per_execution=settings["steps_per_execution"],
        )
        for optimizer, variables in gan.optimizer_variable_groups():
            optimizer.build(variables)
    gan.settings = settings
    return gan


# --------------------------------------------------------------- latent space


def check_cluster_frequencies(frequencies, clusters: int):
    """Validate cluster frequencies; return them normalised, as a list (or ``None``).

    Args:
        frequencies: ``None`` (uniform) or ``clusters`` non-negative numbers with
            a positive sum.
        clusters: The number of clusters (0: none, and then ``frequencies``
            must be ``None``).

    Returns:
        A list of ``clusters`` floats summing to 1, or ``None`` without clusters.

    Raises:
        ValueError: On a wrong length, a negative or non-finite entry, or a zero sum.
    """
    if not clusters:
        if frequencies is not None:
            raise ValueError("cluster_frequencies need clusters > 0.")
        return None
    if frequencies is None:
        return [1.0 / clusters] * clusters
    values = np.asarray(frequencies, dtype=np.float64).reshape(-1)
    if (
        values.size != clusters
        or not np.all(np.isfinite(values))
        or np.any(values < 0)
        or values.sum() <= 0
    ):
        raise ValueError(
            f"cluster_frequencies must be {clusters} non-negative numbers with a "
            f"positive sum, got {np.asarray(frequencies).tolist()!r}. Fix: pass the "
            "frequencies that clusters.cluster_images returns."
        )
    return (values / values.sum()).tolist()


def attach_clusters(noise, clusters: int, cluster_ids) -> np.ndarray:
    """Append one-hot cluster ids to noise vectors: the conditioned GAN's latents.

    Args:
        noise: (count, latent_dim - clusters) noise vectors.
        clusters: The number of clusters.
        cluster_ids: One id per vector (or one id for all), in ``0 .. clusters-1``.

    Returns:
        float32 array of shape (count, latent_dim).
    """
    noise = np.asarray(noise, np.float32)
    ids = np.broadcast_to(np.asarray(cluster_ids), (len(noise),))
    if ids.size and (ids.min() < 0 or ids.max() >= clusters):
        raise ValueError(
            f"cluster ids must be integers in 0..{clusters - 1}, got {ids.tolist()}."
        )
    one_hot = np.eye(clusters, dtype=np.float32)[ids.astype(int)]
    return np.concatenate([noise, one_hot], axis=1)


def fixed_latents(
    count: int,
    latent_dim: int,
    seed: int = 0,
    clusters: int = 0,
    cluster_ids=None,
    frequencies=None,
) -> np.ndarray:
    """Return ``count`` latent vectors fixed by ``seed``.

    Standard normal; with ``clusters`` the last ``clusters`` entries are a
    one-hot cluster id instead, given by ``cluster_ids`` or drawn with
    ``frequencies`` (uniform when ``None``).

    Args:
        count: How many vectors.
        latent_dim: Their size.
        seed: NumPy seed (the same seed always gives the same vectors).
        clusters: Number of clusters of a conditioned GAN (0: none).
        cluster_ids: Optional id of each vector (an int or ``count`` ints).
        frequencies: How often each id is drawn when ``cluster_ids`` is ``None``.

    Returns:
        float32 array of shape (count, latent_dim).
    """
    models.check_latent_dim(latent_dim)
    clusters = models.check_clusters(clusters, latent_dim)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, latent_dim - clusters)).astype(np.float32)
    if not clusters:
        if cluster_ids is not None or frequencies is not None:
            raise ValueError("cluster_ids and frequencies need clusters > 0.")
        return noise
    if cluster_ids is None:
        probabilities = check_cluster_frequencies(frequencies, clusters)
        cluster_ids = rng.choice(clusters, size=count, p=probabilities)
    return attach_clusters(noise, clusters, cluster_ids)


def grid_latents(
    count: int = 16, latent_dim: int = 100, clusters: int = 0
) -> np.ndarray:
    """The fixed latents of the training sample grid (seed ``GRID_SEED``).

    With clusters, vector i asks for cluster ``i % clusters``, so that a grid
    shows as many different clusters as it has room for.
    """
    ids = np.arange(count) % clusters if clusters else None
    return fixed_latents(count, latent_dim, GRID_SEED, clusters, cluster_ids=ids)


def lerp(z0, z1, steps: int) -> np.ndarray:
    """Return ``(1 - t) z0 + t z1`` at ``steps`` evenly spaced t in [0, 1]."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1.0 - t) * z0 + t * z1).astype(np.float32)


def slerp(z0, z1, steps: int) -> np.ndarray:
    """Spherical interpolation along the great circle from ``z0`` to ``z1``.

    ``sin((1-t) theta)/sin(theta) z0 + sin(t theta)/sin(theta) z1`` where theta is
    the angle between them; it falls back to lerp when they are (anti)parallel.

    Args:
        z0: Start vector (latent_dim,).
        z1: End vector (latent_dim,).
        steps: Number of points, ends included.

    Returns:
        float32 array of shape (steps, latent_dim).

    Introduced in notebooks/04_gan_training.ipynb.
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    cosine = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
    theta = np.arccos(np.clip(cosine, -1.0, 1.0))
    if np.sin(theta) < 1e-6:
        return lerp(z0, z1, steps)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    path = (np.sin((1.0 - t) * theta) * z0 + np.sin(t * theta) * z1) / np.sin(theta)
    return path.astype(np.float32)


# ------------------------------------------------------------ shipped weights


def _float16_generator(latent_dim: int) -> keras.Model:
    """Build a DCGAN generator whose variables are float16, for compact storage."""
    with hardware.build_scope("float16"):
        return models.dcgan_generator(latent_dim)


def save_generator_float16(generator: keras.Model, path) -> Path:
    """Save the generator's weights as float16 (half the size), atomically.

    Args:
        generator: A ``models.dcgan_generator``.
        path: A file ending in ``.weights.h5``.

    Returns:
        The path written.
    """
    path = Path(path)
    latent_dim = int(generator.inputs[0].shape[-1])
    half = _float16_generator(latent_dim)
    half.set_weights(
        [np.asarray(w).astype(np.float16) for w in generator.get_weights()]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return course_callbacks.atomic_write(path.parent, path.name, half.save_weights)


def load_generator_weights(generator: keras.Model, path) -> keras.Model:
    """Load weights saved by :func:`save_generator_float16` into ``generator``.

    Args:
        generator: A ``models.dcgan_generator`` with the same latent size.
        path: The ``.weights.h5`` file.

    Returns:
        The same generator, with the weights cast to its own dtypes.

    Raises:
        ValueError: If the file belongs to another architecture.
    """
    from course_lib import evaluation

    latent_dim = int(generator.inputs[0].shape[-1])
    half = evaluation.load_weights_checked(
        _float16_generator(latent_dim),
        path,
        f"The weights in {Path(path).name} do not fit a DCGAN generator with "
        f"latent_dim={latent_dim}",
        "build the generator with the latent_dim it was trained with, or retrain "
        f"with `{GAN_COMMAND}`.",
    )
    generator.set_weights(
        [
            np.asarray(w).astype(v.dtype)
            for w, v in zip(half.get_weights(), generator.weights, strict=True)
        ]
    )
    return generator


# ------------------------------------------------------------ train or load


def gan_epochs(profile: config.Profile) -> int:
    """Return the GAN's epoch count for a profile (``gan_epochs`` if it has one)."""
    return int(getattr(profile, "gan_epochs", profile.epochs))


def gan_batch_size(profile: config.Profile) -> int:
    """Return the GAN's batch size for a profile (``gan_batch_size`` if it has one)."""
    return int(getattr(profile, "gan_batch_size", profile.batch_size))


class SampleQuality(keras.callbacks.Callback):
    """Measure the samples with the evaluation classifier every few epochs.

    Loss curves do not show sample quality; this records what does, so the
    history can show quality against training time.

    Args:
        every: Measure every this many epochs (and after the last one).
        count: Samples per measurement.
        seed: Seed of their latent vectors.

    Attributes:
        records: One dict per measurement: ``epoch``, ``recognisable_fraction``,
            ``largest_share``.

    Introduced in notebooks/04_gan_training.ipynb.
    """

    def __init__(self, every: int = 4, count: int = 500, seed: int = 1):
        super().__init__()
        self.every, self.count, self.seed = every, count, seed
        self.records: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        if completed % self.every and completed != self.params.get("epochs"):
            return
        from course_lib import evaluation

        samples = self.model.generate(self.count, seed=self.seed)
        counts = evaluation.class_histogram(samples, value_range="-1,1")
        record = {
            "epoch": completed,
            "recognisable_fraction": evaluation.recognisable_fraction(
                samples, value_range="-1,1"
            ),
            "largest_share": float(counts.max() / counts.sum()),
        }
        self.records.append(record)
        print(
            f"epoch {completed}: recognisable {record['recognisable_fraction']:.3f}, "
            f"largest class share {record['largest_share']:.1%}"
        )


def shipped_weights_path() -> Path:
    """Return ``data/weights/gan_generator.weights.h5`` (it may not exist)."""
    return config.data_dir() / "weights" / GAN_WEIGHTS_FILE


def load_shipped_gan(**build_kwargs) -> tuple[GAN, dict, dict]:
    """Build a GAN and load the shipped generator, checked against the manifest.

    Returns:
        ``(gan, history, manifest_entry)``.
    """
    from course_lib import evaluation

    path = evaluation.verified_weights_path(GAN_KEY, GAN_COMMAND)
    entry = evaluation.read_manifest()[GAN_KEY]
    # The weights fix the latent layout: the shipped clusters win.
    build_kwargs["clusters"] = entry.get("clusters", 0)
    build_kwargs["cluster_frequencies"] = entry.get("cluster_frequencies")
    gan = build_gan(latent_dim=entry["latent_dim"], **build_kwargs)
    load_generator_weights(gan.generator, path)
    if gan.ema_generator is not None:
        gan.ema_generator.set_weights(gan.generator.get_weights())
    history_path = path.parent / entry["history_file"]
    with open(history_path, encoding="utf-8") as handle:
        record = json.load(handle)
    entry = {
        **entry,
        "quality_during_training": record.get("quality_during_training"),
        "quality_during_training_note": record.get("quality_during_training_note", ""),
    }
    return gan, record["history"], entry


def train_or_load(
    profile: config.Profile | None = None,
    images=None,
    seed: int = config.DEFAULT_SEED,
    retrain: bool | None = None,
    checkpoint_directory=None,
    callbacks=(),
    verbose="auto",
    **build_kwargs,
) -> tuple[GAN, dict, dict]:
    """Train the DCGAN for the profile, or load the shipped one.

    Quick profile: always trains (so CI runs the real training path). Full
    profile: loads the shipped generator when present, unless ``retrain`` (or
    ``COURSE_RETRAIN=1``); training resumes an interrupted run from its
    checkpoints in ``data/checkpoints/gan_<profile>``.

    Args:
        profile: The run's profile (default: ``config.get_profile()``).
        images: float32 training images in [-1, 1] (default: the profile's share
            of MNIST).
        seed: Seed of the data order and the training noise.
        retrain: Force training (``None``: read ``COURSE_RETRAIN``).
        checkpoint_directory: Where checkpoints go.
        callbacks: Extra callbacks for ``fit`` (e.g. a ``SampleGrid``).
        verbose: Passed to ``fit``.
        **build_kwargs: Passed to :func:`build_gan`.

    Returns:
        ``(gan, history, info)``; ``info["source"]`` is ``"trained"`` or
        ``"shipped"`` and the rest is the provenance.

    Introduced in notebooks/04_gan_training.ipynb.
    """
    profile = profile or config.get_profile()
    build_kwargs.setdefault("ema_decay", GAN_EMA_DECAY)
    build_kwargs.setdefault("discriminator_learning_rate", GAN_D_LEARNING_RATE)
    build_kwargs.setdefault("augment_policy", GAN_AUGMENT_POLICY)
    build_kwargs.setdefault("clusters", GAN_CLUSTERS)
    retrain = config.retrain_requested() if retrain is None else retrain
    if not profile.is_quick and not retrain and shipped_weights_path().exists():
        gan, history, entry = load_shipped_gan(**build_kwargs)
        return gan, history, {"source": "shipped", **entry}
    if images is None:
        images = data.training_images(data.load_mnist(verbose=False), profile)
    images = data.check_images(images)
    if images.ndim != 4 or images.dtype != np.float32:
        raise ValueError(
            "train_or_load expects float32 images of shape (n, 28, 28, 1) in "
            "[-1, 1]. Fix: data.scale_images(uint8_images, '-1,1')."
        )
    cluster_ids = None
    if build_kwargs["clusters"]:
        cluster_ids, frequencies = clustering.cluster_images(
            images, build_kwargs["clusters"], seed=seed
        )
        build_kwargs.setdefault("cluster_frequencies", frequencies)
    gan = build_gan(seed=seed, **build_kwargs)
    dataset = data.make_dataset(
        images, gan_batch_size(profile), labels=cluster_ids, seed=seed
    )
    directory = checkpoint_directory or config.checkpoint_dir(f"gan_{profile.name}")
    epochs = gan_epochs(profile)
    history, info = fit_with_checkpoints(
        gan, dataset, epochs, directory, callbacks=callbacks, verbose=verbose
    )
    info.update(
        source="trained",
        epochs=epochs,
        batch_size=gan_batch_size(profile),
        ema_decay=gan.ema_decay,
        augment_policy=gan.augment_policy,
        clusters=gan.clusters,
        cluster_frequencies=gan.cluster_frequencies,
        train_images=len(images),
        settings=gan.settings,
    )
    return gan, history, info


def evaluate_generator(gan: GAN, mnist, count: int = 1000, seed: int = 1) -> dict:
    """Measure samples with the evaluation classifier: quality, coverage, FID.

    Args:
        gan: A trained GAN.
        mnist: The ``data.load_mnist()`` result (real digits for FID).
        count: How many samples (and real images per FID half).
        seed: Seed of the latent vectors.

    Returns:
        A dict with ``recognisable_fraction`` (and, as its ceiling, the same
        measure on ``count`` real test digits, ``real_recognisable_fraction``),
        ``class_counts``, ``largest_share``, ``all_digits_present``, ``fid`` and
        ``fid_floor``.
    """
    from course_lib import evaluation

    samples = gan.generate(count, seed=seed)
    counts = evaluation.class_histogram(samples, value_range="-1,1")
    coverage = evaluation.coverage_check(counts)
    real = mnist.x_test[:count]
    return {
        "samples": count,
        "recognisable_fraction": evaluation.recognisable_fraction(
            samples, value_range="-1,1"
        ),
        "class_counts": [int(c) for c in counts],
        "largest_share": coverage["largest_share"],
        "all_digits_present": coverage["all_digits_present"],
        "real_recognisable_fraction": evaluation.recognisable_fraction(real),
        "fid": evaluation.classifier_fid(real, samples, generated_value_range="-1,1"),
        "fid_floor": evaluation.fid_floor(mnist.x_train, sample_size=len(real)),
    }


def remeasure_shipped_gan(count: int = 1000, seed: int = 1) -> dict:
    """Re-measure the shipped generator with the current classifier; update records.

    The classifier can be retrained (it has its own command); sample figures are
    only comparable when they name the classifier that measured them. This
    replaces ``results`` in the ``gan`` manifest entry and in
    ``gan_history.json``, adding ``classifier_sha256``; the weights and the
    training provenance stay as they are.

    Args:
        count: How many samples (and real images per FID half).
        seed: Seed of the latent vectors.

    Returns:
        The new results.
    """
    from course_lib import evaluation

    gan, _, entry = load_shipped_gan()
    mnist = data.load_mnist(verbose=False)
    results = evaluate_generator(gan, mnist, count=count, seed=seed)
    results["classifier_sha256"] = evaluation.read_manifest()["classifier"]["sha256"]
    history_path = shipped_weights_path().parent / GAN_HISTORY_FILE
    with open(history_path, encoding="utf-8") as handle:
        record = json.load(handle)
    record["results"] = results

    def write_history(path):
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1)

    course_callbacks.atomic_write(history_path.parent, history_path.name, write_history)
    entry = dict(evaluation.read_manifest()[GAN_KEY])
    entry["results"] = results
    evaluation.update_manifest(GAN_KEY, entry)
    return results


def train_gan_command(profile: config.Profile, seed: int) -> dict:
    """Train the DCGAN from scratch and (full profile) ship its generator.

    Writes ``data/weights/gan_generator.weights.h5`` (float16), the history and
    provenance in ``data/weights/gan_history.json``, and the ``gan`` entry of
    ``data/weights/MANIFEST.json`` with the sha256. The quick profile trains and
    evaluates but ships nothing.

    Args:
        profile: The profile to train with.
        seed: The seed.

    Returns:
        A summary dict (time, quality figures, files written).
    """
    from course_lib import evaluation

    config.seed_everything(seed)
    mnist = data.load_mnist()
    images = data.training_images(mnist, profile)
    sample_grid = course_callbacks.SampleGrid(
        grid_latents(16, 100, GAN_CLUSTERS), columns=8
    )
    quality = SampleQuality(every=4, count=500)
    gan, history, info = train_or_load(
        profile,
        images,
        seed=seed,
        retrain=True,
        checkpoint_directory=config.checkpoint_dir(f"gan_{profile.name}_command"),
        callbacks=[sample_grid, quality],
        verbose=2,
    )
    results = evaluate_generator(gan, mnist, count=profile.eval_samples)
    results["classifier_sha256"] = evaluation.read_manifest()["classifier"]["sha256"]
    summary = {
        "training_seconds": round(info["total_seconds"], 1),
        "resumed_from_epoch": info["initial_epoch"],
        **{k: v for k, v in results.items()},
    }
    if profile.is_quick:
        summary["shipped"] = "nothing (quick profile)"
        return summary
    weights_path = save_generator_float16(gan.sampler, shipped_weights_path())
    provenance = {
        "command": GAN_COMMAND,
        "data_source": mnist.source,
        "train_images": len(images),
        "epochs": info["epochs"],
        "batch_size": info["batch_size"],
        "ema_decay": info["ema_decay"],
        "augment_policy": info["augment_policy"],
        "clusters": info["clusters"],
        "clustering": "k-means (k-means++ seeding) on the training pixels, no labels",
        "train_step": "one generator pass per batch: D update, then G update "
        "scored by the updated D on the same fakes",
        "shipped_network": "EMA generator"
        if gan.ema_generator is not None
        else "generator",
        "seed": seed,
        "settings": info["settings"],
        "learning_rate": GAN_LEARNING_RATE,
        "discriminator_learning_rate": GAN_D_LEARNING_RATE,
        "training_seconds": round(info["total_seconds"], 1),
        "resumed_from_epoch": info["initial_epoch"],
        "trained_on": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "machine": f"{os.cpu_count()} CPU cores, no GPU"
        if not hardware.gpu_names()
        else ", ".join(hardware.gpu_names()),
    }
    from course_lib import plotting

    plotting.write_gif(
        sample_grid.frames, weights_path.parent / GAN_GIF_FILE, duration_ms=300, scale=2
    )
    history_path = weights_path.parent / GAN_HISTORY_FILE
    record = {
        "history": history,
        "quality_during_training": quality.records,
        "provenance": provenance,
        "results": results,
    }

    def write_history(path):
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1)

    course_callbacks.atomic_write(history_path.parent, history_path.name, write_history)
    entry = {
        "file": GAN_WEIGHTS_FILE,
        "sha256": data.sha256_of(weights_path),
        "history_file": GAN_HISTORY_FILE,
        "gif_file": GAN_GIF_FILE,
        "gif_epochs": sample_grid.epochs,
        "latent_dim": gan.latent_dim,
        "clusters": gan.clusters,
        "cluster_frequencies": gan.cluster_frequencies,
        "storage_dtype": "float16",
        "provenance": provenance,
        "results": results,
    }
    evaluation.update_manifest(GAN_KEY, entry)
    summary["weights"] = f"data/weights/{GAN_WEIGHTS_FILE}"
    summary["weights_megabytes"] = round(weights_path.stat().st_size / 1e6, 2)
    return summary
