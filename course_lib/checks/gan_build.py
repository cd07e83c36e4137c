"""Checks of the build exercises of notebooks/05_gan_training.ipynb,
the learner's DCGAN, its train_step and its upgrades.

Each check builds the library's twin (``course_lib.models``) and compares the
learner's networks with it layer by layer, then by their outputs once given the
twin's weights, and the FAIL line names the first difference. The checks of the
learner's ``train_step`` live in ``checks.gan_step`` and are re-exported here.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_lib import models
from course_lib.checks.core import (
    call_builder,
    check_function,
    rel_error,
    report,
)
from course_lib.checks.gan_step import (
    CHECK_CLUSTERS,
    CHECK_SEED,
    TOLERANCE,
    check_gan_train_step,
    check_upgraded_gan,
)

__all__ = [
    "check_dcgan_discriminator",
    "check_dcgan_generator",
    "check_ema_update",
    "check_gan_train_step",
    "check_projection_discriminator",
    "check_upgraded_gan",
]

# Fields of a layer's config that decide what it computes.
_FIELDS = (
    "units filters kernel_size strides padding use_bias activation negative_slope "
    "rate target_shape momentum epsilon input_dim output_dim"
).split()


def _seeded(build_fn, *args):
    """``call_builder`` with Keras's seed fixed, so initial weights are the same."""
    keras.utils.set_random_seed(CHECK_SEED)
    return call_builder(build_fn, *args)


def _layers(model):
    return [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]


def _describe(layer):
    return (
        f"{type(layer).__name__} with {layer.count_params():,} parameters, "
        f"output {tuple(layer.output.shape)}"
    )


def _layer_difference(yours, reference):
    """A sentence on the first layer where two stacks differ, or ``None``."""
    mine, theirs = _layers(yours), _layers(reference)
    for index, (layer, twin) in enumerate(zip(mine, theirs, strict=False)):
        where, kind = f"layer {index + 1}", type(layer).__name__
        if type(layer) is type(twin):
            for field in _FIELDS:
                a, b = layer.get_config().get(field), twin.get_config().get(field)
                if a != b and not (isinstance(a, list) and tuple(a) == tuple(b)):
                    return f"{where} ({kind}) has {field}={a!r}; the reference: {b!r}"
        if type(layer) is not type(twin) or layer.count_params() != twin.count_params():
            return (
                f"{where} is a {_describe(layer)}; the reference's: {_describe(twin)}"
            )
    if len(mine) != len(theirs):
        count = min(len(mine), len(theirs))
        extra = (mine if len(mine) > len(theirs) else theirs)[count]
        side = "you have an extra" if len(mine) > len(theirs) else "you are missing a"
        return f"{side} {type(extra).__name__} at layer {count + 1}"
    return None


def _same_outputs(name, yours, reference, inputs):
    """Copy the reference's weights into ``yours`` and compare outputs."""
    try:
        yours.set_weights(reference.get_weights())
    except ValueError as error:
        return report(name, False, f"the weights do not fit: {error}")
    error = rel_error(yours(inputs, training=False), reference(inputs, training=False))
    detail = f"outputs with the reference's weights: relative error {error:.1e}"
    if error > TOLERANCE:
        return report(name, False, f"{detail}; check the order of the layers")
    params = f"{yours.count_params():,} parameters, output {yours.output_shape}"
    return report(name, True, f"{params}; {detail}")


def _last_activation(model):
    return str(_layers(model)[-1].get_config().get("activation"))


def check_dcgan_generator(build_fn, latent_dim: int = 100) -> bool:
    """Check the learner's DCGAN generator against ``models.dcgan_generator``.

    Args:
        build_fn: ``build_fn(latent_dim) -> keras.Model``.
        latent_dim: The latent size to build it with.

    Returns:
        Whether it has the reference's layers, in order, and the same outputs
        once given the reference's weights.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    name = "check_dcgan_generator"
    generator, problem = _seeded(build_fn, latent_dim)
    if problem:
        return report(name, False, problem)
    reference = models.dcgan_generator(latent_dim)
    shape = tuple(generator.output_shape)
    if shape == (None, 28, 28):
        return report(
            name, False, f"your output has shape {shape}: add the channel axis"
        )
    if shape != reference.output_shape:
        return report(
            name,
            False,
            f"your output has shape {shape}, expected (None, 28, 28, 1): 7x7 -> "
            "stride 1 -> stride 2 (14x14) -> stride 2 (28x28)",
        )
    if _last_activation(generator) != "tanh":
        return report(
            name, False, "output range: end with tanh, the data are in [-1, 1]"
        )
    difference = _layer_difference(generator, reference)
    if difference:
        return report(name, False, difference)
    z = keras.random.normal((4, latent_dim), seed=CHECK_SEED)
    return _same_outputs(name, generator, reference, z)


def check_dcgan_discriminator(build_fn) -> bool:
    """Check the learner's DCGAN discriminator against ``models.dcgan_discriminator``.

    Args:
        build_fn: ``build_fn() -> keras.Model`` mapping images to logits.

    Returns:
        Whether it has the reference's layers, in order, and the same logits
        once given the reference's weights.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    name = "check_dcgan_discriminator"
    discriminator, problem = _seeded(build_fn)
    if problem:
        return report(name, False, problem)
    reference = models.dcgan_discriminator()
    shape = tuple(discriminator.output_shape)
    if shape != (None, 1):
        return report(
            name,
            False,
            f"output {shape}: expected (None, 1) logits; Flatten before Dense",
        )
    if _last_activation(discriminator) == "sigmoid":
        return report(
            name, False, "output (None, 1) logits, no sigmoid: the losses take logits"
        )
    difference = _layer_difference(discriminator, reference)
    if difference:
        return report(name, False, difference)
    images = keras.random.uniform((4, 28, 28, 1), -1.0, 1.0, seed=CHECK_SEED)
    return _same_outputs(name, discriminator, reference, images)


def check_projection_discriminator(add_fn, clusters: int = CHECK_CLUSTERS) -> bool:
    """Check ``add_projection(discriminator, clusters)``, the projection D.

    Args:
        add_fn: Takes a plain DCGAN discriminator and a number of clusters and
            returns a model of ``[images, cluster_ids]``.
        clusters: The number of clusters.

    Returns:
        Whether the result computes ``models.dcgan_discriminator(clusters=...)``.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    name = "check_projection_discriminator"
    plain = models.dcgan_discriminator()
    projected, problem = _seeded(add_fn, plain, clusters)
    if problem:
        return report(name, False, problem)
    if len(projected.inputs) != 2:
        return report(name, False, "take two inputs, [images, cluster_ids]")
    reference = models.dcgan_discriminator(clusters=clusters)
    missing = reference.count_params() - projected.count_params()
    if missing == reference.get_layer("logit").count_params():
        return report(name, False, "add D's own logit to the projection")
    if missing:
        return report(
            name,
            False,
            f"{projected.count_params():,} parameters, the reference has "
            f"{reference.count_params():,}: one embedding of size {clusters} x "
            f"{plain.layers[-2].output.shape[-1]} (the features' width), no more",
        )
    images = keras.random.uniform((6, 28, 28, 1), -1.0, 1.0, seed=CHECK_SEED)
    ids = tf.constant([0, 1, 2, 3, 4, clusters - 1], tf.int32)
    projected.set_weights(reference.get_weights())
    yours = np.asarray(projected([images, ids], training=False))
    expected = np.asarray(reference([images, ids], training=False))
    plain_logit = np.asarray(plain(images, training=False))
    error = rel_error(yours, expected)
    detail = f"relative error {error:.1e}"
    if error <= TOLERANCE:
        return report(name, True, detail)
    if rel_error(yours, expected - plain_logit) <= TOLERANCE:
        return report(name, False, f"add D's own logit to the projection ({detail})")
    return report(name, False, f"{detail}; the logit is w.h + b + <e_c, h>")


def _ema_reference(average, weight, ema_decay, steps):
    decay = min(ema_decay, (1.0 + steps) / (10.0 + steps))
    return decay * average + (1.0 - decay) * weight


def _over_steps(ema_fn):
    """Call ``ema_fn`` after 1, 10 and 5,000 generator steps; stack the results."""

    def run(average, weight):
        steps = (1.0, 10.0, 5000.0)
        return np.stack([np.asarray(ema_fn(average, weight, 0.995, n)) for n in steps])

    return run


def check_ema_update(ema_fn) -> bool:
    """Check ``ema_step(average, weight, ema_decay, steps)``, one EMA update.

    Args:
        ema_fn: Returns ``d * average + (1 - d) * weight`` with the warmed-up
            decay ``d = min(ema_decay, (1 + steps) / (10 + steps))``.

    Returns:
        Whether it matches at 1, 10 and 5,000 generator steps.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    average, weight = np.random.default_rng(CHECK_SEED).normal(size=(2, 3, 4))
    mistakes = [
        (
            lambda a, w, d, n: d * a + (1 - d) * w,
            "no warm-up: early on, the decay is min(ema_decay, (1 + n) / (10 + n))",
        ),
        (
            lambda a, w, d, n: _ema_reference(w, a, d, n),
            "the weights are swapped: the average keeps d of itself, (1 - d) of G's",
        ),
        (
            lambda a, w, d, n: _ema_reference(a, w, 1.0 - d, n),
            "the decay is the share the average keeps: 0.995, not 0.005",
        ),
    ]
    return check_function(
        "check_ema_update",
        _over_steps(ema_fn),
        (average, weight),
        _over_steps(_ema_reference)(average, weight),
        TOLERANCE,
        "The new average is d * average + (1 - d) * weight.",
        [(_over_steps(function), message) for function, message in mistakes],
    )
