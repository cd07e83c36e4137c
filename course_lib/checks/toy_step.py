"""The reference of the train_step check of notebooks/04_gan_toy.ipynb: fixed
networks and inputs, ``toy2d.ToyGAN``'s step, and typical wrong steps by hand.

Introduced in notebooks/04_gan_toy.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_lib import losses, toy2d

# Plain SGD, so that every change of the loss shows in the update (Adam's first
# step is nearly the sign of its gradient).
D_LEARNING_RATE = 0.05
G_LEARNING_RATE = 0.1
STEP_TOLERANCE = 1e-3


def fixed_networks():
    """Return a fresh generator and discriminator with the check's fixed weights."""
    generator = toy2d.build_generator()
    discriminator = toy2d.build_discriminator()
    rng = np.random.default_rng(7)
    for network in (generator, discriminator):
        network.set_weights(
            [
                (rng.standard_normal(w.shape) * 0.3).astype(np.float32)
                for w in network.get_weights()
            ]
        )
    return generator, discriminator


def step_inputs():
    """Return the check's fixed real batch and noise batch."""
    real = toy2d.sample_ring(32, seed=3)
    z = np.random.default_rng(5).standard_normal((32, toy2d.LATENT_DIM))
    return real, z.astype(np.float32)


def weights(generator, discriminator):
    """Return copies of G's and D's weights, as two lists."""
    return [w.copy() for w in generator.get_weights()], [
        w.copy() for w in discriminator.get_weights()
    ]


def simulate_step(
    order="dg",
    d_step_updates_g=False,
    g_step_updates_d=False,
    g_loss_kind="non_saturating",
    stale_discriminator=False,
):
    """Return G's and D's weights after one hand-made SGD step, right or wrong.

    The options make the typical mistakes: ``order="gd"`` (G first), D's or G's
    gradient applied to both networks, the minimax loss, or G's gradient taken
    through D before D's update (``stale_discriminator``).
    """
    generator, discriminator = fixed_networks()
    real, z = step_inputs()
    g_vars, d_vars = generator.trainable_variables, discriminator.trainable_variables

    def gradients(loss_of, variables):
        with tf.GradientTape() as tape:
            loss = loss_of()
        return tape.gradient(loss, variables)

    def d_loss():
        fakes = generator(z)
        return losses.discriminator_loss(discriminator(real), discriminator(fakes))

    def g_loss():
        return losses.generator_loss(discriminator(generator(z)), g_loss_kind)

    def apply(grads, variables, rate):
        for g, v in zip(grads, variables, strict=True):
            if g is not None:
                v.assign_sub(rate * g)

    def d_step():
        variables = d_vars + (g_vars if d_step_updates_g else [])
        apply(gradients(d_loss, variables), variables, D_LEARNING_RATE)

    def g_step(grads=None):
        variables = g_vars + (d_vars if g_step_updates_d else [])
        grads = gradients(g_loss, variables) if grads is None else grads
        apply(grads, variables, G_LEARNING_RATE)

    if stale_discriminator:
        early = gradients(g_loss, g_vars + (d_vars if g_step_updates_d else []))
        d_step()
        g_step(early)
    elif order == "dg":
        d_step()
        g_step()
    else:
        g_step()
        d_step()
    return weights(generator, discriminator)


ONLY = "gradient only for self.{}.trainable_variables"
D_ONLY, G_ONLY = ONLY.format("discriminator"), ONLY.format("generator")
STEP_MISTAKES = (
    ({"d_step_updates_g": True}, "D's step changed G's weights: take D's " + D_ONLY),
    ({"g_step_updates_d": True}, "G's step changed D's weights: take G's " + G_ONLY),
    ({"order": "gd"}, "G was updated before D: make D's step first, then G's"),
    (
        {"stale_discriminator": True},
        "G's gradient went through D from before its update: compute G's loss on "
        "a new tape after D's step",
    ),
    ({"g_loss_kind": "minimax"}, "you used the minimax generator loss, not the NS"),
)


def update_error(before, after_a, after_b):
    """Return the largest relative difference of two updates, over tensors."""
    worst = 0.0
    for w0, wa, wb in zip(before, after_a, after_b, strict=True):
        da, db = wa - w0, wb - w0
        norm = np.linalg.norm(da) + np.linalg.norm(db)
        if norm > 0:
            worst = max(worst, float(np.linalg.norm(da - db) / norm))
    return worst


def reference_step():
    """Return the weights after one ``toy2d.ToyGAN`` step on the fixed inputs."""
    generator, discriminator = fixed_networks()
    real, z = step_inputs()
    model = toy2d.ToyGAN(generator, discriminator)
    model.compile(
        d_optimizer=keras.optimizers.SGD(D_LEARNING_RATE),
        g_optimizer=keras.optimizers.SGD(G_LEARNING_RATE),
    )
    model.sample_latent = lambda batch_size: tf.constant(z)
    logs = model.train_step(tf.constant(real))
    return weights(generator, discriminator), logs
