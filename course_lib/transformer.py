"""A small transformer over the 49 tokens of a digit: causal (the "LLM") or not.

- :func:`build_transformer` builds a pre-norm transformer from ``keras.Input``:
  token and position embeddings, ``depth`` blocks of multi-head self-attention
  and an MLP, and a head of logits over the codebook.
- With ``causal=True`` position ``i`` attends only to positions ``<= i``
  (:func:`causal_mask`), so the model can write a digit token after token. With
  ``causal=False`` every position sees every other, as MaskGIT needs.
- The KV cache: in a causal model the keys and values of earlier positions never
  change, so generating token ``i`` needs only the new position's query, key and
  value. :func:`empty_cache` and :func:`cached_step` run one position at a time
  against the stored keys and values; the result equals the full recompute.

Introduced in notebooks/08_images_as_tokens.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

# Added to the scores of hidden positions; small enough for float16 weights.
MASKED_SCORE = -1e4


def causal_mask(length: int):
    """Return the (length, length) boolean mask: ``mask[i, j] = j <= i``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    positions = ops.arange(length)
    return positions[None, :] <= positions[:, None]


def attention(queries, keys, values, mask=None):
    """Scaled dot-product attention, ``softmax(q k^T / sqrt(d)) v``.

    Args:
        queries: (batch, heads, q_length, head_dim).
        keys: (batch, heads, k_length, head_dim).
        values: (batch, heads, k_length, head_dim).
        mask: ``None`` or booleans broadcastable to (batch, heads, q_length,
            k_length); ``False`` hides a key.

    Returns:
        (batch, heads, q_length, head_dim).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    scale = 1.0 / float(np.sqrt(queries.shape[-1]))
    scores = ops.matmul(queries, ops.transpose(keys, (0, 1, 3, 2))) * scale
    if mask is not None:
        scores = ops.where(mask, scores, ops.cast(MASKED_SCORE, scores.dtype))
    return ops.matmul(ops.softmax(scores, axis=-1), values)


@keras.saving.register_keras_serializable(package="course_lib")
class TokenEmbedding(layers.Layer):
    """Token embedding plus a learned position embedding.

    Args:
        vocab_size: Number of input token ids (codes plus BOS or MASK).
        length: Sequence length.
        width: Embedding width.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """

    def __init__(self, vocab_size, length, width, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.length, self.width = vocab_size, length, width

    def build(self, input_shape):
        normal = keras.initializers.RandomNormal(stddev=0.02)
        self.token_table = self.add_weight(
            shape=(self.vocab_size, self.width), initializer=normal, name="tokens"
        )
        self.position_table = self.add_weight(
            shape=(self.length, self.width), initializer=normal, name="positions"
        )

    def call(self, tokens):
        return ops.take(self.token_table, tokens, axis=0) + self.position_table

    def at(self, token, position):
        """Embed one token per sequence, (batch,), at a scalar position."""
        return ops.take(self.token_table, token, axis=0) + ops.take(
            self.position_table, position, axis=0
        )

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "length": self.length,
            "width": self.width,
        }


@keras.saving.register_keras_serializable(package="course_lib")
class TransformerBlock(layers.Layer):
    """One pre-norm block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``.

    Args:
        width: Model width (divisible by ``heads``).
        heads: Attention heads.
        causal: Hide later positions (an autoregressive model).
        dropout: Dropout rate after the attention and the MLP.
        seed: Seed of the dropout masks.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """

    def __init__(self, width, heads, causal=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if width % heads:
            raise ValueError(
                f"width={width} is not divisible by heads={heads}. Fix: pick heads "
                "among the divisors of width."
            )
        self.width, self.heads, self.causal = width, heads, bool(causal)
        self.dropout, self.seed = float(dropout), seed
        self.norm_1 = layers.LayerNormalization(epsilon=1e-5, name="norm_1")
        self.qkv = layers.Dense(3 * width, name="qkv")
        self.merge = layers.Dense(width, name="merge")
        self.norm_2 = layers.LayerNormalization(epsilon=1e-5, name="norm_2")
        self.up = layers.Dense(4 * width, activation="gelu", name="up")
        self.down = layers.Dense(width, name="down")
        self.drop = layers.Dropout(self.dropout, seed=seed)

    def build(self, input_shape):
        for layer, shape in (
            (self.norm_1, input_shape),
            (self.qkv, input_shape),
            (self.merge, input_shape),
            (self.norm_2, input_shape),
            (self.up, input_shape),
            (self.down, (*input_shape[:-1], 4 * self.width)),
        ):
            layer.build(shape)

    def _split(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, length, self.heads, self.width // self.heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def _join(self, x):
        x = ops.transpose(x, (0, 2, 1, 3))
        return ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], self.width))

    def _mlp(self, x, training=None):
        return x + self.drop(self.down(self.up(self.norm_2(x))), training=training)

    def call(self, x, training=None):
        queries, keys, values = ops.split(self.qkv(self.norm_1(x)), 3, axis=-1)
        mask = causal_mask(x.shape[1]) if self.causal else None
        attended = attention(
            self._split(queries), self._split(keys), self._split(values), mask
        )
        x = x + self.drop(self.merge(self._join(attended)), training=training)
        return self._mlp(x, training)

    def step(self, x, keys, values, position):
        """Process one new position against cached keys and values.

        Args:
            x: (batch, 1, width), the new position's input.
            keys: (batch, heads, length, head_dim); entries after ``position``
                are ignored.
            values: The same shape.
            position: Scalar int, the new position.

        Returns:
            ``(output, keys, values)``: (batch, 1, width) and the caches with
            this position's key and value written in.
        """
        query, key, value = ops.split(self.qkv(self.norm_1(x)), 3, axis=-1)
        length = keys.shape[2]
        write = ops.cast(ops.one_hot(position, length), keys.dtype)[None, None, :, None]
        keys = keys * (1 - write) + write * self._split(key)
        values = values * (1 - write) + write * self._split(value)
        visible = (ops.arange(length) <= position)[None, None, None, :]
        attended = attention(self._split(query), keys, values, visible)
        x = x + self.merge(self._join(attended))
        return self._mlp(x), keys, values

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "heads": self.heads,
            "causal": self.causal,
            "dropout": self.dropout,
            "seed": self.seed,
        }


def build_transformer(
    vocab_size: int,
    output_size: int,
    length: int = 49,
    width: int = 128,
    depth: int = 4,
    heads: int = 4,
    causal: bool = True,
    dropout: float = 0.0,
    seed: int = 0,
    name: str = "transformer",
) -> keras.Model:
    """Build a token transformer: int tokens (batch, length) -> logits.

    Args:
        vocab_size: Input ids (the codebook plus one BOS or MASK id).
        output_size: Logits per position (the codebook size).
        length: Sequence length (49 for a 7 x 7 grid).
        width: Model width.
        depth: Number of blocks.
        heads: Attention heads per block.
        causal: A causal mask (the autoregressive prior) or none (MaskGIT).
        dropout: Dropout rate inside the blocks.
        seed: Seed of the dropout masks.
        name: The model's name.

    Returns:
        A functional ``keras.Model`` with float32 logits (batch, length,
        output_size).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    for label, value in (("vocab_size", vocab_size), ("output_size", output_size)):
        if int(value) < 2:
            raise ValueError(f"{label} must be at least 2, got {value}.")
    if int(depth) < 1 or int(length) < 1:
        raise ValueError(f"depth and length must be positive, got {depth}, {length}.")
    tokens = keras.Input((length,), dtype="int32", name="tokens")
    x = TokenEmbedding(vocab_size, length, width, name="embedding")(tokens)
    for index in range(depth):
        block = TransformerBlock(
            width, heads, causal, dropout, seed=seed + index, name=f"block_{index}"
        )
        x = block(x)
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = layers.Dense(output_size, name="head", dtype="float32")(x)
    return keras.Model(tokens, logits, name=name)


def blocks(model: keras.Model) -> list:
    """Return the model's :class:`TransformerBlock` layers, in order."""
    return [layer for layer in model.layers if isinstance(layer, TransformerBlock)]


def is_causal(model: keras.Model) -> bool:
    """Return whether every block of ``model`` uses the causal mask."""
    return all(block.causal for block in blocks(model))


def empty_cache(model: keras.Model, batch_size) -> list:
    """Return zero keys and values for every block: ``[(keys, values), ...]``.

    Each is float32 (batch, heads, length, head_dim).

    Raises:
        ValueError: For a bidirectional model, where later tokens change the
            keys of earlier ones and a cache would be wrong.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    if not is_causal(model):
        raise ValueError(
            "A KV cache is exact only for a causal model: in a bidirectional one "
            "every new token changes all earlier keys. Fix: build the model with "
            "causal=True, or recompute the whole sequence each step."
        )
    length = model.get_layer("embedding").length
    cache = []
    for block in blocks(model):
        shape = (batch_size, block.heads, length, block.width // block.heads)
        cache.append((ops.zeros(shape), ops.zeros(shape)))
    return cache


def cached_step(model: keras.Model, token, position, cache):
    """Return the logits at ``position`` from one new token and the cache.

    Args:
        model: A causal model from :func:`build_transformer`.
        token: int32 (batch,), the input token at ``position``.
        position: Scalar int position.
        cache: From :func:`empty_cache` or a previous step.

    Returns:
        ``(logits, cache)``: float32 (batch, output_size) and the new cache.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    x = model.get_layer("embedding").at(token, position)[:, None, :]
    new_cache = []
    for block, (keys, values) in zip(blocks(model), cache, strict=True):
        x, keys, values = block.step(x, keys, values, position)
        new_cache.append((keys, values))
    x = model.get_layer("final_norm")(x)
    return model.get_layer("head")(x)[:, 0], new_cache
