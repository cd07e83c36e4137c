"""The training data of the two token priors: shifted sequences and MaskGIT masks.

- The causal prior learns ``p(t_i | t_<i)`` from the sequence shifted right
  behind a BOS token (input) and the sequence itself (target).
- The MaskGIT prior learns to fill masked tokens: :func:`mask_tokens` replaces a
  cosine-distributed share of each sequence by MASK and weights the loss to the
  masked positions.

Introduced in notebooks/08_images_as_tokens.ipynb.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from course_lib import pipeline


def mask_tokens(tokens, mask_id: int, seed: int = 0):
    """Mask a random cosine-schedule share of each sequence, for MaskGIT training.

    For each row a ratio ``r ~ U(0, 1)`` is drawn and ``ceil(length *
    cos(pi/2 r))`` positions (at least one) are replaced by ``mask_id``.

    Args:
        tokens: int32 (batch, length).
        mask_id: The MASK input id.
        seed: Stateless seed pair source (an int or an int32 (2,) tensor).

    Returns:
        ``(inputs, targets, weights)``: the masked inputs, the original tokens,
        and float32 weights that are 1 at masked positions.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    pair = tf.cast(tf.broadcast_to(seed, [2]), tf.int32)
    batch, length = tf.shape(tokens)[0], tf.shape(tokens)[1]
    ratio = tf.random.stateless_uniform([batch, 1], pair)
    counts = tf.math.ceil(tf.cast(length, tf.float32) * tf.math.cos(np.pi / 2 * ratio))
    counts = tf.maximum(counts, 1.0)
    scores = tf.random.stateless_uniform([batch, length], pair + 1)
    ranks = tf.cast(tf.argsort(tf.argsort(scores, axis=1), axis=1), tf.float32)
    masked = ranks < counts
    inputs = tf.where(masked, mask_id, tokens)
    return inputs, tokens, tf.cast(masked, tf.float32)


def prior_dataset(sequences, recipe, causal: bool, shuffle: bool, seed: int = 0):
    """Return the ``tf.data`` pipeline that trains a prior on token sequences.

    Causal: batches of ``(inputs, targets)``, the inputs being the sequence
    shifted right behind BOS (id ``recipe.num_codes``). MaskGIT: batches of
    ``(masked inputs, targets, weights)`` from :func:`mask_tokens`, with fresh
    masks every epoch.

    Args:
        sequences: int32 tokens (n, length).
        recipe: Gives ``num_codes`` (the BOS or MASK id) and ``batch_size``.
        causal: Which prior.
        shuffle: Reshuffle every epoch.
        seed: Seed of the order and the masks.

    Returns:
        A ``tf.data.Dataset``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    sequences = tf.constant(sequences, tf.int32)
    dataset = tf.data.Dataset.from_tensor_slices(sequences).cache()
    if shuffle:
        dataset = dataset.shuffle(len(sequences), seed=seed)
    dataset = dataset.batch(recipe.batch_size)
    if causal:
        bos = recipe.num_codes

        def shift(batch):
            start = tf.fill([tf.shape(batch)[0], 1], bos)
            return tf.concat([start, batch[:, :-1]], axis=1), batch

        return pipeline.fixed_prefetch(dataset.map(shift))
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    seeds = seeds.batch(2).map(lambda pair: tf.cast(pair % (2**31 - 1), tf.int32))
    dataset = tf.data.Dataset.zip(dataset, seeds)
    return pipeline.fixed_prefetch(
        dataset.map(lambda batch, pair: mask_tokens(batch, recipe.num_codes, pair))
    )
