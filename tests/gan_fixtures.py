"""A tiny linear GAN and the resume helpers shared by the GAN, checkpoint, training
and shipped-model tests."""

import keras
import numpy as np
import tensorflow as tf

from course_lib import gan as gan_module
from course_lib import models

LATENT_DIM = 4


def tiny_networks(latent_dim=LATENT_DIM, dropout=False):
    """A linear generator and a linear discriminator, small enough to run eagerly."""
    z = keras.Input((latent_dim,))
    x = keras.layers.Dense(28 * 28, activation="tanh")(z)
    generator = keras.Model(z, keras.layers.Reshape((28, 28, 1))(x))
    image = keras.Input((28, 28, 1))
    h = keras.layers.Flatten()(image)
    if dropout:
        h = keras.layers.Dropout(0.3)(h)
    discriminator = keras.Model(image, keras.layers.Dense(1)(h))
    return generator, discriminator


def tiny_gan(
    learning_rate=1e-2,
    optimizer="adam",
    seed=0,
    dropout=False,
    clusters=0,
    frequencies=None,
):
    """A tiny GAN; with ``clusters``, its D is the projection discriminator."""
    keras.utils.set_random_seed(seed)
    generator, discriminator = tiny_networks(dropout=dropout)
    if clusters:
        discriminator = models.dcgan_discriminator(clusters=clusters)
    gan = gan_module.GAN(
        generator,
        discriminator,
        seed=seed,
        clusters=clusters,
        cluster_frequencies=frequencies,
    )

    def make():
        if optimizer == "sgd":
            return keras.optimizers.SGD(learning_rate)
        return keras.optimizers.Adam(learning_rate)

    gan.compile(d_optimizer=make(), g_optimizer=make())
    if clusters:
        for optimizer_, variables in gan.optimizer_variable_groups():
            optimizer_.build(variables)  # as build_gan does: fit can run again
    return gan


def real_batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 28, 28, 1)).astype(np.float32)


def unshuffled(images, batch_size=8):
    """A dataset in a fixed batch order: exact resumption needs the same order."""
    return tf.data.Dataset.from_tensor_slices(images).batch(batch_size)


def gan_variables(gan):
    """Every weight and optimizer variable of a GAN, as NumPy arrays."""
    arrays = [np.array(w) for w in gan.weights]
    for optimizer, _ in gan.optimizer_variable_groups():
        arrays += [np.array(v) for v in optimizer.variables]
    return arrays


class Interrupt(keras.callbacks.Callback):
    """Stop the process (as a KeyboardInterrupt would) after some epochs."""

    def __init__(self, after_epochs):
        super().__init__()
        self.after_epochs = after_epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after_epochs:
            raise KeyboardInterrupt
