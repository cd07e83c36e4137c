"""Checks of the ``train_step`` build exercises of notebooks/05_gan_training.ipynb.

The learner's GAN class takes one step from the same weights, batch and seeds as
its library twin, ``gan.GAN``; losses and every weight (the EMA generator's
included) must agree. A mismatch is diagnosed with probes (an optimizer with
learning rate 0 shows which step moved which network) and with the typical
wrong steps, so that the FAIL line names the mistake. ``checks.gan_build``
re-exports these checks.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_lib import gan, latents, models, recipes
from course_lib.checks.core import NOT_IMPLEMENTED, rel_error, report

__all__ = ["check_gan_train_step", "check_upgraded_gan"]

TOLERANCE = 1e-5
CHECK_SEED = 7
BATCH = 16
CHECK_CLUSTERS = 20


def _networks(clusters):
    keras.utils.set_random_seed(CHECK_SEED)
    generator = models.dcgan_generator(recipes.GAN.latent_dim)
    discriminator = models.dcgan_discriminator(clusters=clusters)
    return generator, discriminator


def _batch(clusters):
    rng = np.random.default_rng(CHECK_SEED)
    images = np.tanh(rng.normal(size=(BATCH, 28, 28, 1))).astype("float32")
    if not clusters:
        return tf.constant(images)
    ids = rng.integers(0, clusters, size=BATCH)
    return tf.constant(images), tf.constant(ids, tf.int32)


def _adams(d_rate, g_rate):
    beta_1 = recipes.GAN.beta_1
    return {
        "d_optimizer": keras.optimizers.Adam(d_rate, beta_1=beta_1),
        "g_optimizer": keras.optimizers.Adam(g_rate, beta_1=beta_1),
    }


def _step(model, batch, rates):
    """Compile ``model``, take one step; return its losses and every weight."""
    model.compile(**_adams(*rates))
    logs = model.train_step(batch)
    networks = [model.generator, model.discriminator]
    if getattr(model, "ema_generator", None) is not None:
        networks.append(model.ema_generator)
    weights = [[np.asarray(w) for w in network.weights] for network in networks]
    losses_ = [float(logs[key]) for key in ("d_loss", "g_loss")]
    return losses_, weights


def _run(model_class, options, rates, batch, wrap=None):
    """One step of a learner's class, or ``None`` and a problem."""
    generator, discriminator = _networks(options.get("clusters", 0))
    try:
        model = model_class(generator, discriminator, seed=CHECK_SEED, **options)
        if wrap is not None:
            wrap(model)
        return _step(model, batch, rates), None
    except NotImplementedError:
        return None, NOT_IMPLEMENTED
    except Exception as error:  # noqa: BLE001 - report any failure of the answer.
        return None, f"your class raised {type(error).__name__}: {error}"


def _weights_error(first, second):
    return max(
        rel_error(a, b)
        for network_a, network_b in zip(first, second, strict=True)
        for a, b in zip(network_a, network_b, strict=True)
    )


def _changed(before, after, index):
    return any(
        not np.array_equal(a, b)
        for a, b in zip(before[index], after[index], strict=True)
    )


def _reference(options, rates, batch, kind="non_saturating"):
    generator, discriminator = _networks(options.get("clusters", 0))
    model = gan.GAN(
        generator, discriminator, seed=CHECK_SEED, generator_loss_kind=kind, **options
    )
    return _step(model, batch, rates)


def _trainable(weights, networks):
    """Keep, network by network, the weights of trainable variables."""
    return [
        [w for w, v in zip(values, net.weights, strict=True) if v.trainable]
        for values, net in zip(weights, networks, strict=False)
    ]


def _diagnose(model_class, options, rates, batch, yours, reference):
    """Name what a wrong step did, or return ``None``."""
    networks = _networks(options.get("clusters", 0))
    before = _trainable(
        [[np.asarray(w) for w in n.weights] for n in networks], networks
    )
    # Probes: with one optimizer's learning rate at 0, its network must not move.
    probes = (
        (
            (rates[0], 0.0),
            0,
            "D's step changed G's weights (the fakes were not detached): stop the "
            "gradient at the fakes with tf.stop_gradient and take D's gradient only "
            "for discriminator.trainable_variables",
        ),
        (
            (0.0, rates[1]),
            1,
            "G's step changed D's weights: take G's gradient "
            "only for generator.trainable_variables, with g_optimizer",
        ),
    )
    for probe_rates, index, message in probes:
        probe, _ = _run(model_class, options, probe_rates, batch)
        if probe is not None and _changed(
            before, _trainable(probe[1], networks), index
        ):
            return message
    mine, theirs = _trainable(yours[1], networks), _trainable(reference[1], networks)
    if not _changed(before, mine, 0):
        return "G's weights did not change: apply G's gradients with g_optimizer"
    minimax = _reference(options, rates, batch, kind="minimax")
    if _weights_error(yours[1], minimax[1]) <= TOLERANCE:
        return "you used the minimax generator loss; use the non-saturating one"
    for key, message in (
        ("augment_policy", "DiffAugment is missing: augment every image D sees"),
        (
            "cluster_frequencies",
            "the cluster ids were drawn uniformly: pass the cluster frequencies "
            "to latents.sample_tensor",
        ),
    ):
        if key in options:
            other = _reference({**options, key: None}, rates, batch)
            if _weights_error(yours[1], other[1]) <= TOLERANCE:
                return message
    if _weights_error(mine[1:2], theirs[1:2]) > TOLERANCE:
        return (
            "D's update differs: update D first, on the real batch and the fakes "
            "of the current G (G updated before D?)"
        )
    if (
        len(yours[1]) == 3
        and _weights_error(yours[1][:2], reference[1][:2]) <= TOLERANCE
    ):
        return (
            "the EMA generator differs: after G's step, move every EMA weight "
            "(batch-norm statistics too) with ema_step, warm-up included"
        )
    if _weights_error(mine[:1], theirs[:1]) <= TOLERANCE:
        return (
            "G's batch-norm statistics moved twice: make the fakes once and "
            "share them between the two steps"
        )
    return "G's update differs: score the same fakes with the updated D"


def _compare_step(name, model_class, options, rates, batch) -> bool:
    result, problem = _run(model_class, options, rates, batch)
    if problem:
        return report(name, False, problem)
    reference = _reference(options, rates, batch)
    if len(result[1]) != len(reference[1]):
        return report(
            name, False, "keep an ema_generator, a copy of G, and sample from it"
        )
    loss_error = rel_error(result[0], reference[0])
    weight_error = _weights_error(result[1], reference[1])
    detail = (
        f"one step vs gan.GAN: losses {loss_error:.1e}, weights {weight_error:.1e} "
        f"(relative error, tolerance {TOLERANCE:.0e})"
    )
    if max(loss_error, weight_error) <= TOLERANCE:
        return report(name, True, detail)
    mistake = _diagnose(model_class, options, rates, batch, result, reference)
    return report(name, False, f"{mistake or 'the step differs'} ({detail})")


def check_gan_train_step(model_class) -> bool:
    """Check the learner's plain DCGAN ``train_step`` by one step against ``gan.GAN``.

    Args:
        model_class: A ``keras.Model`` subclass built as
            ``model_class(generator, discriminator, seed=...)``, compiled with
            ``compile(d_optimizer=..., g_optimizer=...)``, whose ``train_step``
            returns ``d_loss`` and ``g_loss``.

    Returns:
        Whether the losses and every weight after one step match the library's
        step from the same weights, batch and seeds.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    rate = recipes.GAN.learning_rate
    return _compare_step(
        "check_gan_train_step", model_class, {}, (rate, rate), _batch(0)
    )


def _upgrade_options(clusters):
    options = recipes.GAN.build_options()
    frequencies = np.arange(1, clusters + 1, dtype=np.float64)
    return {
        "ema_decay": options["ema_decay"],
        "augment_policy": options["augment_policy"],
        "clusters": clusters,
        "cluster_frequencies": list(frequencies / frequencies.sum()),
    }


def check_upgraded_gan(model_class) -> bool:
    """Check the learner's DCGAN with every upgrade against its library twin.

    The twin is ``gan.GAN`` with the shipped recipe's options
    (``recipes.GAN.build_options()``: EMA, DiffAugment, clusters): the same
    samples before training, the same losses and weights (EMA included) after
    one step, and the same samples after it.

    Args:
        model_class: Built as ``model_class(generator, discriminator, seed=...,
            ema_decay=..., augment_policy=..., clusters=...,
            cluster_frequencies=...)``; its ``call`` draws from the sampler.

    Returns:
        Whether everything matches to a relative error of 1e-5.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    name = "check_upgraded_gan"
    options = _upgrade_options(CHECK_CLUSTERS)
    recipe = recipes.GAN
    rates = (recipe.discriminator_learning_rate, recipe.learning_rate)
    z = latents.fixed_latents(
        8,
        recipe.latent_dim,
        CHECK_SEED,
        CHECK_CLUSTERS,
        frequencies=options["cluster_frequencies"],
    )
    samples = {}

    def sample(model):
        samples["yours"] = np.asarray(model(z, training=False))

    result, problem = _run(model_class, options, rates, _batch(CHECK_CLUSTERS), sample)
    if problem:
        return report(name, False, problem)
    generator, discriminator = _networks(CHECK_CLUSTERS)
    twin = gan.GAN(generator, discriminator, seed=CHECK_SEED, **options)
    error = rel_error(samples["yours"], twin(z, training=False))
    if error > TOLERANCE:
        return report(
            name,
            False,
            f"samples before training differ ({error:.1e}): sample from "
            "the EMA generator, a copy of G's weights at the start",
        )
    return _compare_step(name, model_class, options, rates, _batch(CHECK_CLUSTERS))
