"""A GAN on a 2-D toy: eight Gaussians on a ring, the mode-collapse benchmark.

Eight equally likely Gaussians, centred on a circle of radius 2, standard
deviation 0.02, as in the unrolled-GAN (Metz et al., 2017) and VEEGAN (Srivastava
et al., 2017) papers. Here: the sampler, the two MLPs, ``ToyGAN`` and the measures.

Introduced in notebooks/04_gan_toy.ipynb.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

from course_lib import losses  # noqa: E402

RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.02
LATENT_DIM = 2
HIDDEN_UNITS = 128
# A sample is high quality within this many standard deviations of a mode.
QUALITY_STDS = 3.0
# A mode is covered when it holds at least this fraction of its fair share,
# n / modes, of the high-quality samples (in the spirit of PacGAN, Lin et al. 2018).
COVERAGE_FRACTION = 0.2
OBJECTIVES = ("non_saturating", "minimax", "hinge")


def _check_positive_int(value, name: str, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}; {example}")
    return int(value)


def check_objective(objective: str) -> str:
    """Return ``objective`` if it is one of ``OBJECTIVES``, else raise ValueError."""
    if objective not in OBJECTIVES:
        valid = ", ".join(repr(name) for name in OBJECTIVES)
        raise ValueError(f"Unknown objective {objective!r}; use one of {valid}.")
    return objective


def ring_centers(modes: int = RING_MODES, radius: float = RING_RADIUS) -> np.ndarray:
    """Return the mixture's means: ``modes`` points evenly spaced on a circle.

    Args:
        modes, radius: How many modes, and the circle's radius (both positive).

    Returns:
        A float32 array ``(modes, 2)``; the first mode is at ``(radius, 0)``.

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    modes = _check_positive_int(modes, "modes", "the benchmark uses 8")
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius!r}; the papers use 2.")
    angles = 2.0 * np.pi * np.arange(modes) / modes
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centers.astype(np.float32)


def sample_ring(count: int, seed: int = 0, std: float = RING_STD) -> np.ndarray:
    """Draw ``count`` points from the ring of Gaussians, each mode equally likely.

    Args:
        count: How many points (a positive integer).
        seed: Seed of NumPy's generator; the same seed gives the same points.
        std: Each Gaussian's standard deviation, the same in both coordinates.

    Returns:
        A float32 array of shape ``(count, 2)``.

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    count = _check_positive_int(count, "count", "for example 2500")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}; the papers use 0.02.")
    rng = np.random.default_rng(seed)
    which = rng.integers(0, RING_MODES, size=count)
    noise = rng.standard_normal((count, 2)) * std
    return (ring_centers()[which] + noise).astype(np.float32)


def _mlp(in_dim: int, out_dim: int, name: str) -> keras.Model:
    x = keras.Input((in_dim,))
    h = layers.Dense(HIDDEN_UNITS, activation="relu")(x)
    h = layers.Dense(HIDDEN_UNITS, activation="relu")(h)
    return keras.Model(x, layers.Dense(out_dim)(h), name=name)


def build_generator(latent_dim: int = LATENT_DIM) -> keras.Model:
    """Build the toy generator: z -> two ReLU layers of 128 units -> R^2 (linear).

    Args:
        latent_dim: The size of z.

    Returns:
        A functional ``keras.Model`` with output shape ``(None, 2)``.

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    latent_dim = _check_positive_int(latent_dim, "latent_dim", "the toy uses 2")
    return _mlp(latent_dim, 2, "generator")


def build_discriminator() -> keras.Model:
    """Build the toy discriminator: R^2 -> two ReLU layers of 128 -> one logit.

    Returns:
        A functional ``keras.Model`` with output shape ``(None, 1)``.

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    return _mlp(2, 1, "discriminator")


def objective_losses(real_logits, fake_logits, objective: str):
    """Return the discriminator's loss for one objective.

    ``"non_saturating"`` and ``"minimax"`` share ``losses.discriminator_loss``;
    ``"hinge"`` is ``mean(relu(1 - r)) + mean(relu(1 + f))`` (Lim and Ye, 2017).

    Args:
        real_logits, fake_logits: D's logits on real and on generated points.
        objective: One of ``OBJECTIVES``.

    Returns:
        A scalar tensor. Introduced in notebooks/04_gan_toy.ipynb.
    """
    if check_objective(objective) == "hinge":
        real_term = ops.mean(ops.relu(1.0 - real_logits))
        return real_term + ops.mean(ops.relu(1.0 + fake_logits))
    return losses.discriminator_loss(real_logits, fake_logits)


def generator_objective(fake_logits, objective: str):
    """Return the generator's loss for one objective.

    Args:
        fake_logits: D's logits on generated points.
        objective: As for ``losses.generator_loss``, or ``"hinge"``: ``-mean(f)``.

    Returns:
        A scalar tensor. Introduced in notebooks/04_gan_toy.ipynb.
    """
    if check_objective(objective) == "hinge":
        return -ops.mean(fake_logits)
    return losses.generator_loss(fake_logits, kind=objective)


class ToyGAN(keras.Model):
    """The reference toy GAN: each ``train_step`` makes one D update (its own
    variables, ``d_optimizer``), then one G update scored by the updated D.

    Args:
        generator: Maps ``(batch, latent_dim)`` noise to ``(batch, 2)`` points.
        discriminator: Maps ``(batch, 2)`` points to ``(batch, 1)`` logits.
        latent_dim: The size of z.
        objective: One of ``OBJECTIVES``.
        seed: Seed of the noise drawn in ``train_step``.

    Introduced in notebooks/04_gan_toy.ipynb.
    """

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim=2,
        objective="non_saturating",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = _check_positive_int(latent_dim, "latent_dim", "use 2")
        self.objective = check_objective(objective)
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Attach one optimizer per network; ``kwargs`` go to ``Model.compile``."""
        if d_optimizer is g_optimizer:
            raise ValueError(
                "d_optimizer and g_optimizer are one object; give each network its "
                "own, for example two keras.optimizers.Adam(...) calls."
            )
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def sample_latent(self, batch_size):
        """Return standard normal noise of shape ``(batch_size, latent_dim)``."""
        return keras.random.normal((batch_size, self.latent_dim), seed=self.noise_seed)

    def train_step(self, real_points):
        """One D step, then one G step, each on its own variables and optimizer."""
        batch_size = ops.shape(real_points)[0]
        z = self.sample_latent(batch_size)
        with tf.GradientTape() as tape:
            fake_points = self.generator(z, training=True)
            real_logits = self.discriminator(real_points, training=True)
            fake_logits = self.discriminator(fake_points, training=True)
            d_loss = objective_losses(real_logits, fake_logits, self.objective)
        d_variables = self.discriminator.trainable_variables
        d_gradients = tape.gradient(d_loss, d_variables)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_variables, strict=True))

        z = self.sample_latent(batch_size)
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(z, training=True))
            g_loss = generator_objective(fake_logits, self.objective)
        g_variables = self.generator.trainable_variables
        g_gradients = tape.gradient(g_loss, g_variables)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_variables, strict=True))

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {metric.name: metric.result() for metric in self.metrics}

    def generate(self, count: int, seed: int = 0) -> np.ndarray:
        """Return ``count`` generated points, float32 ``(count, 2)``, from seeded z."""
        z = np.random.default_rng(seed).standard_normal((count, self.latent_dim))
        points = self.generator.predict(z.astype(np.float32), verbose=0)
        return np.asarray(points, dtype=np.float32)


def build_toy_gan(
    objective: str = "non_saturating",
    seed: int = 0,
    learning_rate: float = 1e-3,
    beta_1: float = 0.5,
    latent_dim: int = LATENT_DIM,
) -> ToyGAN:
    """Build and compile a ``ToyGAN`` with fresh networks and two Adam optimizers.

    Args:
        objective: One of ``OBJECTIVES``.
        seed: Seeds the weights and the training noise: same seed, same run.
        learning_rate, beta_1: Adam's settings, the same for both players.
        latent_dim: The size of z.

    Returns:
        A compiled ``ToyGAN``.

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    keras.utils.set_random_seed(seed)
    generator, discriminator = build_generator(latent_dim), build_discriminator()
    model = ToyGAN(generator, discriminator, latent_dim, objective, seed=seed)
    model.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
        g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
    )
    return model


@dataclasses.dataclass(frozen=True)
class Coverage:
    """The benchmark's measures: modes covered, the share of high-quality samples
    (within ``QUALITY_STDS`` deviations of their nearest mode), the high-quality
    counts per mode, and the count a mode needs to be covered."""

    modes_covered: int
    high_quality_share: float
    counts: tuple
    min_count: float


def mode_coverage(
    samples,
    centers=None,
    std: float = RING_STD,
    quality_stds: float = QUALITY_STDS,
    coverage_fraction: float = COVERAGE_FRACTION,
) -> Coverage:
    """Count the modes a set of samples covers and the share of good samples.

    A sample is *high quality* when its distance to the nearest mode is at most
    ``quality_stds * std`` (VEEGAN's rule); it is then assigned to that mode. A
    mode is *covered* when it holds at least ``coverage_fraction * n / modes``
    high-quality samples, a fifth of its fair share by default.

    Args:
        samples: Points, shape ``(n, 2)``.
        centers: The modes, shape ``(modes, 2)``; default ``ring_centers()``.
        std: The modes' standard deviation.
        quality_stds: The radius of "high quality", in standard deviations.
        coverage_fraction: The fraction of a fair share that covers a mode.

    Returns:
        A :class:`Coverage`.

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) == 0:
        raise ValueError(
            f"samples must have shape (n, 2) with n >= 1, got {samples.shape}; "
            "pass the generator's points, e.g. model.generate(2500)."
        )
    centers = ring_centers() if centers is None else np.asarray(centers, np.float64)
    if centers.ndim != 2 or centers.shape[1] != 2 or not std > 0 < quality_stds:
        raise ValueError("pass centers of shape (modes, 2), std > 0, quality_stds > 0.")
    if not 0 < coverage_fraction <= 1:
        raise ValueError(
            f"coverage_fraction must be in (0, 1], got {coverage_fraction!r}; "
            "0.2 asks for a fifth of a mode's fair share."
        )
    if not np.all(np.isfinite(samples)):  # A diverged generator covers nothing.
        return Coverage(0, 0.0, (0,) * len(centers), 0.0)
    distances = np.linalg.norm(samples[:, None, :] - centers[None], axis=-1)
    nearest = np.argmin(distances, axis=1)
    good = distances[np.arange(len(samples)), nearest] <= quality_stds * std
    counts = np.bincount(nearest[good], minlength=len(centers))
    min_count = coverage_fraction * len(samples) / len(centers)
    covered = int(np.sum(counts >= min_count))
    return Coverage(covered, float(np.mean(good)), tuple(map(int, counts)), min_count)


class _Snapshots(keras.callbacks.Callback):
    """Keep the generator's points for a fixed z at chosen step counts."""

    def __init__(self, steps, z):
        super().__init__()
        self.steps = {int(step) for step in steps}
        self.z = z
        self.step = 0
        self.points = {}

    def on_train_begin(self, logs=None):
        if self.step in self.steps:
            self.points[self.step] = np.asarray(self.model.generator(self.z), "float32")

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.on_train_begin()


def train_toy_gan(
    model,
    steps,
    batch_size=256,
    seed=0,
    snapshot_steps=(),
    snapshot_count=1000,
    reports=1,
    verbose=0,
):
    """Train a toy GAN with ``fit`` for ``steps`` batches of fresh ring points.

    Args:
        model: A compiled ``ToyGAN`` (or the learner's twin).
        steps: How many training steps (batches); a multiple of ``reports``.
        batch_size: Points per batch.
        seed: Seed of the training points (and of the snapshots' fixed z).
        snapshot_steps, snapshot_count: When (0: before training) to keep G's
            points for a fixed z, and how many.
        reports: How many rounds (``fit``'s "epochs") to split the steps into.
        verbose: Passed to ``fit`` (0 silent, 2 one line per round).

    Returns:
        ``(history, snapshots)``: ``fit``'s history dict (one mean per round) and
        a dict from step to float32 ``(snapshot_count, 2)`` points.
    """
    steps = _check_positive_int(steps, "steps", "for example 2000")
    batch_size = _check_positive_int(batch_size, "batch_size", "for example 256")
    reports = _check_positive_int(reports, "reports", "for example 8")
    if steps % reports:
        good = reports * max(1, steps // reports)
        raise ValueError(
            f"steps={steps} is no multiple of reports={reports}: try {good}"
        )
    points = sample_ring(steps * batch_size, seed=seed)
    dataset = tf.data.Dataset.from_tensor_slices(points).batch(batch_size).repeat()
    z = np.random.default_rng(seed + 1).standard_normal(
        (snapshot_count, model.latent_dim)
    )
    snapshots = _Snapshots(snapshot_steps, z.astype(np.float32))
    rounds = {"epochs": reports, "steps_per_epoch": steps // reports, "shuffle": False}
    history = model.fit(dataset, **rounds, verbose=verbose, callbacks=[snapshots])
    return history.history, snapshots.points
