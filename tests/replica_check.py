"""Run by tests/test_replicas.py in a fresh process: two-replica training on a CPU.

TensorFlow fixes its logical devices when it first initialises them, so the two
logical CPUs a ``MirroredStrategy`` needs must be set up before anything else
touches TensorFlow; hence a script of its own. It prints one JSON line of
measurements, which the test reads; ``--check NAME`` runs one check only.

Each replica draws its own random numbers inside ``train_step``, so a step on
two replicas cannot be compared with a one-device step through ``train_step``:
the comparison calls the GAN's ``d_step`` and ``g_step`` with a given z, split
between the replicas as the global batch is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _CPU, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from course_lib import gan, replicas, training, vae  # noqa: E402

GLOBAL_BATCH = 16
LATENT_DIM = 8
SGD_LEARNING_RATE = 1e-3
SEED = 0


_STRATEGIES = []


def _strategy():
    """The one two-replica strategy of this process, made on first use.

    A second ``MirroredStrategy`` in the same process would number its
    collective all-reduces from the start again, and they would collide with
    the first one's; so every check shares one.
    """
    if not _STRATEGIES:
        _STRATEGIES.append(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    return _STRATEGIES[0]


def _split(strategy, array):
    """Give replica r the r-th slice of ``array`` (the global batch)."""
    per_replica = len(array) // strategy.num_replicas_in_sync

    def value(context):
        start = context.replica_id_in_sync_group * per_replica
        return tf.constant(array[start : start + per_replica])

    return strategy.experimental_distribute_values_from_function(value)


def _relative_difference(single, mirrored, start):
    """``|step_mirrored - step_single| / |step_single|`` over all variables at once.

    One norm over the whole step, not the worst variable: a batch-norm scale's
    gradient is a sum over the batch that nearly cancels, so its own relative
    difference is rounding amplified (up to 2e-2 at some initialisations) while
    its share of the step is negligible.
    """
    step_single = np.concatenate(
        [
            (np.asarray(a, np.float64) - s).ravel()
            for a, s in zip(single, start, strict=True)
        ]
    )
    step_mirrored = np.concatenate(
        [
            (np.asarray(b, np.float64) - s).ravel()
            for b, s in zip(mirrored, start, strict=True)
        ]
    )
    scale = max(float(np.linalg.norm(step_single)), 1e-30)
    return float(np.linalg.norm(step_mirrored - step_single) / scale)


def _plain_sgd(strategy, variables):
    """A built SGD optimizer, made under ``strategy`` when it is given.

    The compared steps use SGD, whose step is the gradient times a constant, so
    that they compare the gradients the replicas all-reduce. Adam's first step,
    ``lr * g / (|g| + eps)``, is nearly ``lr * sign(g)``: it would hide a loss
    counted twice, and it turns rounding-level gradients into full steps.
    """
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        optimizer = keras.optimizers.SGD(SGD_LEARNING_RATE)
        optimizer.build(variables)
    return optimizer


def _without_dropout(model):
    """Switch D's dropout off: its masks are random, drawn on each replica."""
    for layer in model.discriminator.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0


def _gan_variables(model):
    return model.generator.trainable_variables + model.discriminator.trainable_variables


def _numpy(variables):
    return [np.array(v, np.float64) for v in variables]


def _gan_step(variant: str) -> dict:
    """One D step and one G step with a fixed z, on one device and on two replicas.

    Args:
        variant: ``"as_built"`` (``build_gan`` under the strategy), or one of two
            broken copies that the comparison must catch: ``"per_replica_batch_norm"``
            (G's batch norm normalises each replica's half on its own) and
            ``"losses_not_scaled"`` (the replicas' summed gradients count the
            batch twice).
    """
    strategy = _strategy()
    keras.utils.set_random_seed(SEED)
    options = dict(latent_dim=LATENT_DIM, precision="float32", jit_compile=False)
    single = gan.build_gan(**options)
    mirrored = gan.build_gan(strategy=strategy, **options)
    mirrored.set_weights(single.get_weights())
    for model, where in ((single, None), (mirrored, strategy)):
        _without_dropout(model)
        model.d_optimizer = _plain_sgd(where, model.discriminator.trainable_variables)
        model.g_optimizer = _plain_sgd(where, model.generator.trainable_variables)
    if variant == "per_replica_batch_norm":
        for layer in mirrored.generator.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = False
    elif variant == "losses_not_scaled":
        mirrored._scale_for_replicas = lambda loss: loss
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (GLOBAL_BATCH, 28, 28, 1)).astype("float32")
    z = rng.standard_normal((GLOBAL_BATCH, LATENT_DIM)).astype("float32")
    start = _numpy(_gan_variables(single))
    single.d_step(real, z)
    single.g_step(z)

    @tf.function
    def replica_steps(real_share, z_share):
        strategy.run(mirrored.d_step, args=(real_share, z_share))
        strategy.run(mirrored.g_step, args=(z_share,))

    replica_steps(_split(strategy, real), _split(strategy, z))
    return {
        "replicas": strategy.num_replicas_in_sync,
        "synchronized_batch_norm": all(
            layer.synchronized
            for layer in mirrored.generator.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ),
        "relative_difference": _relative_difference(
            _numpy(_gan_variables(single)), _numpy(_gan_variables(mirrored)), start
        ),
    }


def gan_step() -> dict:
    """The GAN step as ``build_gan`` builds it under the strategy."""
    return _gan_step("as_built")


def gan_step_per_replica_batch_norm() -> dict:
    """A broken copy: G's batch norm uses each replica's half of the batch."""
    return _gan_step("per_replica_batch_norm")


def gan_step_losses_not_scaled() -> dict:
    """A broken copy: each replica's loss is not divided by the replica count."""
    return _gan_step("losses_not_scaled")


class FixedNoiseVAE(vae.VAE):
    """The course's VAE, but its reparameterisation noise is a fixed array.

    Row ``i`` of ``fixed_noise`` is the noise of row ``i`` of the global batch:
    replica ``r`` of ``R`` takes rows ``r * n`` to ``(r + 1) * n`` of it, as the
    strategy gives it those rows of the batch. Everything else, ``train_step``
    included, is the course's code.
    """

    fixed_noise = None

    def reparameterise(self, mean, logvar):
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context is not None else 0
        rows = tf.shape(mean)[0]
        eps = tf.constant(self.fixed_noise)[replica * rows : (replica + 1) * rows]
        return mean + tf.exp(0.5 * logvar) * eps


def vae_step() -> dict:
    """One VAE ``train_step`` with fixed noise, on one device and on two replicas."""
    strategy = _strategy()
    keras.utils.set_random_seed(SEED)
    options = dict(latent_dim=4, precision="float32", jit_compile=False)
    single = vae.build_vae(**options)
    mirrored = vae.build_vae(strategy=strategy, **options)
    mirrored.set_weights(single.get_weights())
    for model, where in ((single, None), (mirrored, strategy)):
        model.optimizer = _plain_sgd(where, model.trainable_variables)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((GLOBAL_BATCH, 4)).astype("float32")
    for model in (single, mirrored):
        model.__class__ = FixedNoiseVAE  # the same model, with the noise fixed
        model.fixed_noise = noise
    images = np.round(rng.uniform(0, 1, (GLOBAL_BATCH, 28, 28, 1))).astype("float32")
    start = _numpy(single.trainable_variables)
    single.train_step(images)

    @tf.function
    def replica_step(image_share):
        return strategy.run(mirrored.train_step, args=(image_share,))

    replica_step(_split(strategy, images))
    return {
        "replicas": strategy.num_replicas_in_sync,
        "relative_difference": _relative_difference(
            _numpy(single.trainable_variables),
            _numpy(mirrored.trainable_variables),
            start,
        ),
    }


def replica_noise() -> dict:
    """Whether the replicas draw the same noise inside ``train_step``."""
    strategy = _strategy()
    gan_model = gan.build_gan(
        latent_dim=LATENT_DIM, precision="float32", jit_compile=False, strategy=strategy
    )
    vae_model = vae.build_vae(4, precision="float32", strategy=strategy)
    zeros = tf.zeros((4, 4))

    @tf.function
    def draw():
        return strategy.run(
            lambda: (
                gan_model.sample_latent(4),
                vae_model.reparameterise(zeros, zeros),
            )
        )

    gan_z, vae_eps = (strategy.experimental_local_results(x) for x in draw())
    return {
        "gan_same_noise": bool(np.array_equal(gan_z[0], gan_z[1])),
        "vae_same_noise": bool(np.array_equal(vae_eps[0], vae_eps[1])),
    }


def replica_share() -> dict:
    """Whether ``replicas.replica_share`` gives each replica its rows of one draw."""
    strategy = _strategy()
    with strategy.scope():
        seed = keras.random.SeedGenerator(0)

    def draw(rows, seed=seed):
        return keras.random.normal((rows, 3), seed=seed)

    @tf.function
    def shares():
        return strategy.run(lambda: replicas.replica_share(draw, 4))

    parts = [np.array(x) for x in strategy.experimental_local_results(shares())]
    whole = np.array(draw(8, keras.random.SeedGenerator(0)))  # one device, same seed
    return {
        "distinct": bool(not np.array_equal(parts[0], parts[1])),
        "rows_of_one_draw": bool(np.array_equal(np.concatenate(parts), whole)),
    }


def _fit(model, images) -> dict:
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(GLOBAL_BATCH)
    before = _numpy(model.trainable_variables)
    history = model.fit(dataset, epochs=1, verbose=0).history
    after = _numpy(model.trainable_variables)
    return {
        "replicas": model.distribute_strategy.num_replicas_in_sync,
        "steps": int(model.optimizer.iterations.numpy()),
        "finite_losses": bool(
            all(np.isfinite(values[-1]) for values in history.values())
        ),
        "finite_weights": bool(all(np.isfinite(w).all() for w in after)),
        "changed": bool(
            any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
        ),
    }


def fit_runs() -> dict:
    """``fit`` end to end on two replicas, two steps each: the GAN and the VAE."""
    rng = np.random.default_rng(0)
    count = 2 * GLOBAL_BATCH
    real = rng.uniform(-1, 1, (count, 28, 28, 1)).astype("float32")
    binary = np.round(rng.uniform(0, 1, (count, 28, 28, 1))).astype("float32")
    options = dict(precision="float32", jit_compile=False, strategy=_strategy())
    return {
        "gan": _fit(gan.build_gan(latent_dim=LATENT_DIM, **options), real),
        "vae": _fit(vae.build_vae(4, **options), binary),
    }


def overflow_on_one_replica() -> dict:
    """A float16 step whose gradient overflows on replica 1 only.

    The step must be skipped on every replica (the summed gradient is infinite)
    and the loss scale halved, whichever replica overflowed.
    """
    strategy = _strategy()
    with strategy.scope():
        weight = keras.Variable(np.zeros(3, "float32"), name="weight")
        optimizer = training.adam(0.1, "mixed_float16")
        optimizer.build([weight])
    scale = float(optimizer.dynamic_scale.numpy())

    @tf.function
    def step():
        def apply():
            context = tf.distribute.get_replica_context()
            replica = tf.cast(context.replica_id_in_sync_group, "float32")
            # 1 on replica 0, 1 / 0 = inf on replica 1.
            gradient = tf.ones(3) / (1.0 - replica)
            optimizer.apply_gradients([(gradient, weight)])

        strategy.run(apply)

    step()
    value = np.array(weight)
    return {
        "finite_weights": bool(np.isfinite(value).all()),
        "unchanged": bool(np.array_equal(value, np.zeros(3))),
        "scale_before": scale,
        "scale_after": float(optimizer.dynamic_scale.numpy()),
    }


CHECKS = {
    "gan_step": gan_step,
    "gan_step_per_replica_batch_norm": gan_step_per_replica_batch_norm,
    "gan_step_losses_not_scaled": gan_step_losses_not_scaled,
    "vae_step": vae_step,
    "replica_noise": replica_noise,
    "overflow_on_one_replica": overflow_on_one_replica,
    "replica_share": replica_share,
    "fit_runs": fit_runs,
}


def main(argv=None) -> int:
    """Run the named checks (all by default) and print their results as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="append", choices=sorted(CHECKS))
    args = parser.parse_args(argv)
    results = {name: CHECKS[name]() for name in (args.check or list(CHECKS))}
    print("RESULTS " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
