"""Differentiable augmentation for GAN training on few images (DiffAugment).

With only 4,000 training digits the discriminator soon learns the training set
itself, and then stops teaching the generator anything general. DiffAugment
(Zhao et al., 2020) applies the *same* random transformation family to every
image the discriminator sees, real and generated alike, inside the training
step. Because the transformations are differentiable, the generator's gradient
flows back through them; because they are applied to both sides, the generator
is not pushed to produce shifted digits: the augmented real and
augmented fake distributions match exactly when the un-augmented ones do.

Images are in [-1, 1] with -1 as the background, so every pixel that an
augmentation exposes is filled with -1 (black), not 0 (grey).

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import keras
import tensorflow as tf

BACKGROUND = -1.0
POLICIES = ("translation",)


def check_policy(policy: str | None) -> str | None:
    """Validate an augmentation policy name and return it.

    Args:
        policy: ``None`` (no augmentation) or one of :data:`POLICIES`.

    Returns:
        The policy.

    Raises:
        ValueError: If the name is unknown; the message lists the known ones.
    """
    if policy is not None and policy not in POLICIES:
        raise ValueError(
            f"Unknown augmentation policy {policy!r}. Fix: use None (no "
            f"augmentation) or one of {POLICIES}."
        )
    return policy


def translate(images, max_shift: int = 3, seed=None):
    """Shift each image by its own random whole-pixel offset, filling with -1.

    Every image moves by ``(dy, dx)``, each drawn uniformly from
    ``-max_shift..max_shift``; a pixel that moves out is lost and a pixel that
    moves in is background. Output pixel ``(i, j)`` is input pixel
    ``(i + dy, j + dx)``, so the operation is a selection: its gradient routes
    each output's gradient back to the input pixel it came from.

    Args:
        images: float tensor (batch, height, width, channels).
        max_shift: The largest shift in pixels (non-negative).
        seed: A ``keras.random.SeedGenerator`` or int, for reproducible shifts.

    Returns:
        A tensor of the same shape and dtype.
    """
    if int(max_shift) < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift!r}.")
    if max_shift == 0:
        return images
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    padded = tf.pad(
        images,
        [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]],
        constant_values=tf.cast(BACKGROUND, images.dtype),
    )
    shifts = keras.random.randint(
        (batch, 2), -max_shift, max_shift + 1, dtype="int32", seed=seed
    )
    rows = tf.range(height)[None, :] + max_shift + shifts[:, :1]
    columns = tf.range(width)[None, :] + max_shift + shifts[:, 1:]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, columns, axis=2, batch_dims=1)


def diff_augment(images, policy: str | None, seed=None):
    """Apply a DiffAugment policy to a batch (``None``: return it unchanged).

    Args:
        images: float tensor (batch, 28, 28, 1) in [-1, 1].
        policy: ``None``, or ``"translation"`` (shifts of up to 1/8 of the
            side, 3 pixels here).
        seed: A ``keras.random.SeedGenerator`` or int.

    Returns:
        The augmented batch, same shape and dtype.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    policy = check_policy(policy)
    if policy is None:
        return images
    side = int(images.shape[1])
    return translate(images, max_shift=side // 8, seed=seed)
