"""Small "LLM-style" and diffusion-style image samplers, built only to be timed.

The source article credits "LLMs" with fast image generation. Generating an
image the way a language model writes text means predicting its 784 pixels one
after another, each step waiting for the previous one. This module builds two
such samplers of the same size class as the course's DCGAN generator (about 2
million weights), with random, untrained weights (speed does not depend on the
weights' values):

- :class:`PixelTransformer`, a causal transformer over the 784 pixels of a
  binarised MNIST image, sampled without a cache (every step re-reads the whole
  prefix) or with a key/value cache (each step computes one new position);
- :func:`denoiser`, a small convolutional network applied ``T`` times by an
  iterative, diffusion-style sampler (:func:`denoising_sampler`).

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
from keras import layers

PIXELS = 28 * 28
START_TOKEN = 2


class PixelTransformer:
    """A causal transformer predicting each binary pixel from the earlier ones.

    Token ``i`` of the input is pixel ``i - 1`` (token 0 is a start token); the
    output at position ``i`` is the two logits of pixel ``i``.

    Args:
        d_model: Width of the model.
        num_layers: Transformer blocks.
        num_heads: Attention heads (``d_model`` must be divisible by it).
        seed: Seed of the random weights.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """

    def __init__(self, d_model=256, num_layers=2, num_heads=4, seed=0):
        if d_model % num_heads:
            raise ValueError(
                f"d_model={d_model} is not divisible by num_heads={num_heads}; "
                "pick num_heads among the divisors of d_model."
            )
        rng = np.random.default_rng(seed)

        def weight(rows, cols):
            values = rng.normal(0.0, 1.0 / np.sqrt(rows), (rows, cols))
            return tf.constant(values, tf.float32)

        self.d_model, self.num_layers, self.num_heads = d_model, num_layers, num_heads
        self.token_embedding = weight(3, d_model)
        self.position_embedding = tf.constant(
            rng.normal(0.0, 0.02, (PIXELS, d_model)), tf.float32
        )
        self.blocks = [
            {
                "qkv": weight(d_model, 3 * d_model),
                "out": weight(d_model, d_model),
                "up": weight(d_model, 4 * d_model),
                "down": weight(4 * d_model, d_model),
            }
            for _ in range(num_layers)
        ]
        self.head = weight(d_model, 2)

    def parameter_count(self) -> int:
        """Return the number of weights."""
        tensors = [self.token_embedding, self.position_embedding, self.head]
        tensors += [w for block in self.blocks for w in block.values()]
        return int(sum(np.prod(t.shape) for t in tensors))

    def flops_per_position(self, context: int = PIXELS) -> int:
        """Return 2 x multiply-adds of one position attending to ``context`` keys."""
        d = self.d_model
        projections = 2 * (3 * d * d + d * d + 8 * d * d)
        attention = 2 * 2 * context * d
        return self.num_layers * (projections + attention) + 2 * d * 2

    def _split(self, x):
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        head_dim = self.d_model // self.num_heads
        x = tf.reshape(x, [batch, length, self.num_heads, head_dim])
        return tf.transpose(x, [0, 2, 1, 3])

    def forward(self, tokens):
        """Return logits (batch, 784, 2) for int tokens (batch, 784), causally."""
        x = tf.gather(self.token_embedding, tokens) + self.position_embedding
        mask = tf.linalg.band_part(tf.ones((PIXELS, PIXELS)), -1, 0)
        for block in self.blocks:
            q, k, v = tf.split(tf.matmul(x, block["qkv"]), 3, axis=-1)
            q, k, v = self._split(q), self._split(k), self._split(v)
            scores = tf.matmul(q, k, transpose_b=True) / np.sqrt(q.shape[-1])
            scores += (1.0 - mask) * -1e9
            attended = tf.matmul(tf.nn.softmax(scores), v)
            attended = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), tf.shape(x))
            x = x + tf.matmul(attended, block["out"])
            x = x + tf.matmul(tf.nn.gelu(tf.matmul(x, block["up"])), block["down"])
        return tf.matmul(x, self.head)

    def step_without_cache(self, tokens, position, seed):
        """Sample pixel ``position`` by re-running the whole sequence.

        Args:
            tokens: int32 (batch, 784), the start token and pixels so far.
            position: Which pixel to sample (0..783), an int or int32 tensor.
            seed: A stateless-sampling seed, shape (2,).

        Returns:
            ``(tokens, pixel)``: tokens with the new pixel written at
            ``position + 1`` (when it exists) and the sampled pixel (batch,).
        """
        logits = tf.gather(self.forward(tokens), position, axis=1)
        pixel = tf.cast(
            tf.random.stateless_categorical(logits, 1, seed)[:, 0], tf.int32
        )
        # one_hot(784) is all zeros: the last pixel is not fed back.
        onehot = tf.one_hot(position + 1, PIXELS, dtype=tf.int32)
        tokens = tokens * (1 - onehot) + pixel[:, None] * onehot
        return tokens, pixel

    def step_with_cache(self, token, position, caches):
        """Compute the logits of pixel ``position`` from one new token and a cache.

        Args:
            token: int32 (batch,), the previous pixel (or the start token).
            position: Scalar int32 position.
            caches: A list of ``(keys, values)`` per layer, each float32
                (batch, heads, 784, head_dim); entries past ``position`` are
                ignored.

        Returns:
            ``(logits, caches)`` with logits (batch, 2) and updated caches.
        """
        x = tf.gather(self.token_embedding, token) + tf.gather(
            self.position_embedding, position
        )
        x = x[:, None, :]
        onehot = tf.one_hot(position, PIXELS)[None, None, :, None]
        visible = tf.cast(tf.range(PIXELS) <= position, tf.float32)
        new_caches = []
        for block, (keys, values) in zip(self.blocks, caches, strict=True):
            q, k, v = tf.split(tf.matmul(x, block["qkv"]), 3, axis=-1)
            q, k, v = self._split(q), self._split(k), self._split(v)
            keys = keys + onehot * k
            values = values + onehot * v
            new_caches.append((keys, values))
            scores = tf.matmul(q, keys, transpose_b=True) / np.sqrt(q.shape[-1])
            scores += (1.0 - visible) * -1e9
            attended = tf.matmul(tf.nn.softmax(scores), values)
            attended = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), tf.shape(x))
            x = x + tf.matmul(attended, block["out"])
            x = x + tf.matmul(tf.nn.gelu(tf.matmul(x, block["up"])), block["down"])
        return tf.matmul(x, self.head)[:, 0], new_caches

    def empty_caches(self, batch_size):
        """Return zero key/value caches for ``batch_size`` images."""
        head_dim = self.d_model // self.num_heads
        shape = (batch_size, self.num_heads, PIXELS, head_dim)
        return [(tf.zeros(shape), tf.zeros(shape)) for _ in range(self.num_layers)]

    def cached_sampler(self, steps: int = PIXELS):
        """Return a ``tf.function`` sampling ``steps`` pixels with the cache.

        Args:
            steps: Pixels to generate (784 for a whole image).

        Returns:
            ``sample(batch_size_tensor_of_zeros)``: given int32 zeros of shape
            (batch,), returns the sampled pixels, int32 (batch, steps).
        """

        def sample(start):
            batch = tf.shape(start)[0]
            token = start + START_TOKEN
            caches = self.empty_caches(batch)
            pixels = tf.TensorArray(tf.int32, size=steps)
            for position in tf.range(steps):
                logits, caches = self.step_with_cache(token, position, caches)
                token = tf.cast(
                    tf.random.stateless_categorical(logits, 1, tf.stack([position, 0]))[
                        :, 0
                    ],
                    tf.int32,
                )
                pixels = pixels.write(position, token)
            return tf.transpose(pixels.stack())

        return tf.function(sample)


def denoiser(base_channels: int = 64, name: str = "denoiser") -> keras.Model:
    """Build a small convolutional noise predictor for 28x28x1 images.

    Down 28 -> 14 -> 7 and back up with transposed convolutions, about 1.1
    million weights. Time conditioning is left out: it would add well under 1%
    of the work and this model is built only to be timed.

    Args:
        base_channels: Channels of the first layer (64 gives ~1.1 M weights).
        name: The model's name.

    Returns:
        A ``keras.Model`` mapping (batch, 28, 28, 1) to (batch, 28, 28, 1).

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    c = base_channels
    image = keras.Input((28, 28, 1))
    x = layers.Conv2D(c, 3, padding="same", activation="relu")(image)
    x = layers.Conv2D(2 * c, 4, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(4 * c, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(2 * c, 4, strides=2, padding="same", activation="relu")(
        x
    )
    x = layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="relu")(x)
    noise = layers.Conv2D(1, 3, padding="same", dtype="float32")(x)
    return keras.Model(image, noise, name=name)


def denoising_sampler(model: keras.Model, steps: int):
    """Return a ``tf.function`` running ``steps`` denoising updates from noise.

    Each step is ``x <- (x - beta * eps(x)) / sqrt(1 - beta) + sigma * noise``
    with a fixed ``beta``, the shape of a DDPM update (Ho et al., 2020); the
    schedule does not change the cost, which is ``steps`` network passes.

    Args:
        model: A noise predictor such as :func:`denoiser`.
        steps: Number of updates T.

    Returns:
        ``sample(x_T)`` mapping float32 noise (batch, 28, 28, 1) to images.
    """
    beta = 0.02

    def sample(x):
        for step in tf.range(steps):
            eps = tf.cast(model(x, training=False), tf.float32)
            x = (x - beta * eps) / np.sqrt(1.0 - beta)
            x += 0.1 * tf.random.stateless_normal(tf.shape(x), tf.stack([step, 1]))
        return x

    return tf.function(sample)
