"""The GAN: a generator and a discriminator trained against each other by ``fit``.

``GAN.train_step`` alternates one discriminator step and one generator step on
every batch, each with its own optimizer and the losses of ``course_lib.losses``,
sharing one generator pass. The two steps are also methods (``d_step`` and
``g_step``) so that tests can check that each one changes only its own network,
and that ``train_step`` does exactly their work. Three optional upgrades, each a
constructor argument: an exponential moving average of the generator
(``ema_decay``), DiffAugment on everything D sees (``augment_policy``), and
conditioning on cluster ids with a projection discriminator (``clusters``).

``build_gan`` returns a compiled ``GAN`` with the TF docs recipe by default; the
shipped recipe is ``recipes.GAN``. Open choices (precision, XLA, steps per
execution) come from ``hardware.recommended_settings()``.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_lib import (
    augment,
    config,
    hardware,
    latents,
    losses,
    models,
    pixels,
    replicas,
    training,
)


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
        ema_decay: When set (e.g. 0.995), keep ``ema_generator``, a moving
            average of G's weights, and sample from it (``sampler``); it smooths
            GAN training's oscillation (Yazici et al., 2019).
        augment_policy: ``None``, or a DiffAugment policy of ``course_lib.augment``
            applied to every image D sees in training, real and fake.
        clusters: 0, or the number of clusters G and D are conditioned on: the
            last ``clusters`` latent entries are then a one-hot id, D takes
            ``[images, cluster_ids]`` and ``fit`` needs ``(images, ids)`` batches.
        cluster_frequencies: How often each id is drawn (``None``: uniform).

    Introduced in notebooks/05_gan_training.ipynb.
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
        self.cluster_frequencies = latents.check_cluster_frequencies(
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
        """Attach one optimizer per network; ``kwargs`` go to ``Model.compile``."""
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
        trackers = ("d_loss", "g_loss", "real_score", "fake_score")
        return [getattr(self, f"{name}_tracker") for name in trackers]

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
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    # ------------------------------------------------------------- training

    def sample_latent(self, batch_size):
        """Draw latent vectors (noise, cluster one-hots); per replica, its own rows."""
        draw = lambda n: latents.sample_tensor(  # noqa: E731
            n, self.latent_dim, self.clusters, self.cluster_frequencies, self.noise_seed
        )
        return replicas.replica_share(draw, batch_size)

    def cluster_ids_of(self, z):
        """Return the cluster ids (batch,) held in latent vectors (``None``: none)."""
        return latents.cluster_ids_of(z, self.clusters)

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
                'batch_size, labels=ids)), or use shipped.train_or_load("gan").'
            )
        return batch[0], tf.cast(batch[1], tf.int32)

    @staticmethod
    def _scale_for_replicas(loss):
        # A method, so that tests/replica_check.py can build a copy without it.
        return replicas.loss_share(loss)

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
        # The scaling is recorded on G's tape too (re-entered here), or the
        # gradient of the scaled loss would be None under loss scaling.
        with tape:
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
        """One D update (only D's weights change); ``(d_loss, real, fake logits)``."""
        fake_images = self.generator(z, training=True)
        return self._discriminator_update(
            real_images, fake_images, real_ids, self.cluster_ids_of(z)
        )

    def g_step(self, z):
        """One G update (only G's weights change); ``(g_loss, fake_logits)``."""
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
        the same fakes and G is updated through them (``g_step``'s work): the
        alternating scheme of Goodfellow et al. (2014, Algorithm 1), one G pass.
        """
        real_images, real_ids = self._unpack_batch(batch)
        pixels.check_batch(real_images, "GAN.fit", "-1,1")
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
        """Return ``count`` images, float32 (count, 28, 28, 1) in [-1, 1].

        The latent layout (noise, plus cluster one-hots drawn with the cluster
        frequencies) is built here; the same ``seed`` gives the same images.
        """
        latent = latents.fixed_latents(
            count,
            self.latent_dim,
            seed,
            self.clusters,
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
    learning_rate: float = 2e-4,
    beta_1: float = 0.5,
    generator_loss_kind: str = "non_saturating",
    seed: int | None = config.DEFAULT_SEED,
    ema_decay: float | None = None,
    discriminator_learning_rate: float | None = None,
    augment_policy: str | None = None,
    clusters: int = 0,
    cluster_frequencies=None,
) -> GAN:
    """Build and compile the DCGAN: the TF docs recipe unless told otherwise.

    ``recipes.GAN.build_options()`` gives the shipped recipe.

    Args:
        latent_dim: Size of z (positive).
        precision, jit_compile, steps_per_execution: ``None`` picks
            ``hardware.recommended_settings()``; the global policy is restored.
        strategy: A ``tf.distribute.Strategy`` to build (and ``fit``) under.
        learning_rate: Adam's learning rate (DCGAN paper: 2e-4); also D's when
            ``discriminator_learning_rate`` is ``None``.
        beta_1: Adam's first-moment decay (DCGAN paper: 0.5).
        generator_loss_kind: ``"non_saturating"`` or ``"minimax"``.
        seed: Seed of the training noise.
        ema_decay, augment_policy, clusters, cluster_frequencies: The upgrades,
            as for :class:`GAN` (all off by default).
        discriminator_learning_rate: D's own Adam learning rate.

    Returns:
        A compiled :class:`GAN`; ``gan.settings`` records the choices made.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    models.check_clusters(clusters, latent_dim)
    settings = hardware.resolve_settings(precision, jit_compile, steps_per_execution)
    with replicas.build_scope(settings["precision"], strategy):
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
        d_rate = discriminator_learning_rate or learning_rate
        gan.compile(
            d_optimizer=training.adam(d_rate, settings["precision"], beta_1),
            g_optimizer=training.adam(learning_rate, settings["precision"], beta_1),
            jit_compile=settings["jit_compile"],
            steps_per_execution=settings["steps_per_execution"],
        )
        for optimizer, variables in gan.optimizer_variable_groups():
            optimizer.build(variables)
    gan.settings = settings
    return gan
