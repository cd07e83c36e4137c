"""Writing the 49 tokens of a digit: one at a time (autoregressive) or K at a time.

- :func:`filter_logits`: temperature and top-k, the two knobs of LLM sampling.
- :func:`autoregressive_sample`: 49 sequential steps of a causal prior, with a
  KV cache (one new position per step) or without (the whole prefix re-read
  each step). With the same seed both draw the same tokens.
- :func:`cosine_schedule` and :func:`maskgit_sample`: MaskGIT's parallel
  decoding (Chang et al., 2022). All 49 tokens start masked; each of ``K`` steps
  predicts every masked token at once, keeps the most confident ones and
  re-masks the rest, so that ``floor(49 cos(pi/2 * k/K))`` stay masked after
  step ``k``.
- :func:`sequential_calls`: how many network calls one image waits for.

The training side (masks for MaskGIT, shifted inputs for the causal prior) is
``course_lib.token_data``.

Randomness is stateless (``tf.random.stateless_*`` with seeds built from the
caller's seed and the step), so the same seed gives the same tokens.

Introduced in notebooks/08_images_as_tokens.ipynb.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from course_lib import transformer

# Compiled samplers, by model: (model, tf.function), so a reused id is not trusted.
_compiled: dict = {}


def check_sampling(temperature, top_k, num_codes: int) -> tuple[float, int]:
    """Validate temperature and top-k; return them as ``(float, int)``.

    ``top_k=None`` keeps every code (``num_codes``).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    if not float(temperature) > 0:
        raise ValueError(
            f"temperature must be positive, got {temperature!r}. Fix: use 1.0 for "
            "the model's own distribution, below 1 for safer, less varied samples."
        )
    top_k = num_codes if top_k is None else top_k
    if not isinstance(top_k, int | np.integer) or not 1 <= top_k <= num_codes:
        raise ValueError(
            f"top_k must be an integer in [1, {num_codes}] or None, got {top_k!r}. "
            "Fix: pass None to keep every code."
        )
    return float(temperature), int(top_k)


def filter_logits(logits, temperature, top_k):
    """Divide logits by the temperature and keep only the ``top_k`` largest.

    Args:
        logits: float (batch, num_codes).
        temperature: Positive scalar (tensor or float).
        top_k: Scalar int (tensor or int), 1..num_codes.

    Returns:
        float32 logits; those outside the top k are ``-inf``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    logits = tf.cast(logits, tf.float32) / tf.cast(temperature, tf.float32)
    kth = tf.math.top_k(logits, k=tf.cast(top_k, tf.int32)).values[:, -1:]
    return tf.where(logits < kth, tf.fill(tf.shape(logits), -np.inf), logits)


def _draw(logits, seed, step):
    """One token per row from ``logits``, with the stateless seed (seed, step)."""
    pair = tf.stack([tf.cast(seed, tf.int32), tf.cast(step, tf.int32)])
    return tf.cast(tf.random.stateless_categorical(logits, 1, pair)[:, 0], tf.int32)


def _check_count(count):
    if not isinstance(count, int | np.integer) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}.")


# ------------------------------------------------------------ autoregressive


def _autoregressive_function(model, use_cache: bool):
    key = (id(model), "ar", use_cache)
    if key in _compiled and _compiled[key][0] is model:
        return _compiled[key][1]
    length = model.get_layer("embedding").length
    bos = model.get_layer("embedding").vocab_size - 1

    def with_cache(start, seed, temperature, top_k):
        token = start + bos
        cache = transformer.empty_cache(model, tf.shape(start)[0])
        written = tf.TensorArray(tf.int32, size=length)
        for position in tf.range(length):
            logits, cache = transformer.cached_step(model, token, position, cache)
            token = _draw(filter_logits(logits, temperature, top_k), seed, position)
            written = written.write(position, token)
        return tf.transpose(written.stack())

    def without_cache(start, seed, temperature, top_k):
        batch = tf.shape(start)[0]
        inputs = tf.fill([batch, length], bos)
        written = tf.TensorArray(tf.int32, size=length)
        for position in tf.range(length):
            logits = tf.gather(model(inputs, training=False), position, axis=1)
            token = _draw(filter_logits(logits, temperature, top_k), seed, position)
            written = written.write(position, token)
            # Token i is the input of position i + 1 (one_hot(length) is zero).
            place = tf.one_hot(position + 1, length, dtype=tf.int32)[None, :]
            inputs = inputs * (1 - place) + token[:, None] * place
        return tf.transpose(written.stack())

    function = tf.function(with_cache if use_cache else without_cache)
    _compiled[key] = (model, function)
    return function


def autoregressive_sample(
    model,
    count: int,
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """Sample token sequences from a causal prior, one position after another.

    The prior's input at position 0 is the BOS id (its last input id); the
    token drawn at position ``i`` is the input at ``i + 1``.

    Args:
        model: A causal model from ``transformer.build_transformer``.
        count: How many sequences.
        seed: Seed of the draws (the same seed gives the same tokens).
        temperature: Softmax temperature (positive).
        top_k: Keep only the k most likely codes at each step (None: all).
        use_cache: Use the KV cache (one position per step) or recompute.

    Returns:
        int32 tokens (count, length).

    Raises:
        ValueError: For a bad count, temperature or top-k, or a model that is
            not causal.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    _check_count(count)
    if not transformer.is_causal(model):
        raise ValueError(
            "autoregressive_sample needs a causal prior; this one is bidirectional. "
            "Fix: sample it with maskgit_sample, or build it with causal=True."
        )
    temperature, top_k = check_sampling(temperature, top_k, model.output_shape[-1])
    function = _autoregressive_function(model, bool(use_cache))
    tokens = function(
        tf.zeros([count], tf.int32),
        tf.constant(int(seed), tf.int32),
        tf.constant(temperature, tf.float32),
        tf.constant(top_k, tf.int32),
    )
    return tokens.numpy()


# ------------------------------------------------------------------ MaskGIT


def cosine_schedule(steps: int, length: int = 49) -> np.ndarray:
    """Return how many tokens stay masked after each of ``steps`` MaskGIT steps.

    ``floor(length * cos(pi/2 * k / steps))`` after step ``k = 1..steps``,
    adjusted so that every step reveals at least one token; the last entry is 0.

    Args:
        steps: K, between 1 and ``length``.
        length: Tokens per image.

    Returns:
        int64 array of shape (steps,), strictly decreasing to 0.

    Raises:
        ValueError: If ``steps`` is not an integer in ``[1, length]``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    if not isinstance(steps, int | np.integer) or not 1 <= steps <= length:
        raise ValueError(
            f"steps must be an integer from 1 to {length} (one token per step at "
            f"most {length} steps), got {steps!r}. Fix: pass, for example, steps=8."
        )
    masked, previous = [], length
    for step in range(1, steps + 1):
        target = math.floor(length * math.cos(math.pi / 2 * step / steps) + 1e-9)
        current = max(min(target, previous - 1), steps - step)
        masked.append(current)
        previous = current
    return np.asarray(masked, dtype=np.int64)


def _maskgit_function(model):
    key = (id(model), "maskgit")
    if key in _compiled and _compiled[key][0] is model:
        return _compiled[key][1]
    mask_id = model.get_layer("embedding").vocab_size - 1

    def sample(start, seed, schedule, temperature, top_k, choice_temperature):
        length = start.shape[1]
        tokens = start + mask_id
        steps = tf.shape(schedule)[0]
        for step in tf.range(steps):
            unknown = tf.equal(tokens, mask_id)
            logits = model(tokens, training=False)
            flat = tf.reshape(logits, [-1, tf.shape(logits)[-1]])
            flat = filter_logits(flat, temperature, top_k)
            drawn = tf.reshape(_draw(flat, seed, 2 * step), tf.shape(tokens))
            log_probs = tf.nn.log_softmax(tf.reshape(flat, tf.shape(logits)))
            confidence = tf.gather(log_probs, drawn, axis=2, batch_dims=2)
            # Annealed Gumbel noise on the confidences, as in MaskGIT.
            pair = tf.stack([tf.cast(seed, tf.int32), 2 * step + 1])
            uniform = tf.random.stateless_uniform(
                tf.shape(confidence), pair, minval=1e-6, maxval=1.0
            )
            fraction = 1.0 - tf.cast(step + 1, tf.float32) / tf.cast(steps, tf.float32)
            confidence += (
                choice_temperature * fraction * -tf.math.log(-tf.math.log(uniform))
            )
            confidence = tf.where(unknown, confidence, np.inf)
            ranks = tf.argsort(tf.argsort(confidence, axis=1), axis=1)
            still_masked = ranks < tf.cast(schedule[step], tf.int32)
            tokens = tf.where(unknown, drawn, tokens)
            tokens = tf.where(still_masked, mask_id, tokens)
            tokens.set_shape([None, length])
        return tokens

    function = tf.function(sample)
    _compiled[key] = (model, function)
    return function


def maskgit_sample(
    model,
    count: int,
    steps: int = 8,
    seed: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    choice_temperature: float = 4.5,
) -> np.ndarray:
    """Fill all tokens in ``steps`` parallel steps of a bidirectional prior.

    At each step every masked position draws a token; the drawn tokens' log
    probabilities, plus Gumbel noise scaled by ``choice_temperature * (1 -
    k/K)``, rank them, and the least confident are masked again so that
    :func:`cosine_schedule` tokens stay masked.

    Args:
        model: A bidirectional model from ``transformer.build_transformer``
            whose last input id is MASK.
        count: How many sequences.
        steps: K, 1..length.
        seed: Seed of the draws.
        temperature: Softmax temperature of the token draws.
        top_k: Keep only the k most likely codes (None: all).
        choice_temperature: Scale of the noise in the choice of what to keep.

    Returns:
        int32 tokens (count, length).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    _check_count(count)
    length = model.get_layer("embedding").length
    schedule = cosine_schedule(steps, length)
    temperature, top_k = check_sampling(temperature, top_k, model.output_shape[-1])
    if not float(choice_temperature) >= 0:
        raise ValueError(
            f"choice_temperature must be >= 0, got {choice_temperature!r}. Fix: "
            "0 keeps the most confident tokens, MaskGIT uses 4.5."
        )
    tokens = _maskgit_function(model)(
        tf.zeros([count, length], tf.int32),
        tf.constant(int(seed), tf.int32),
        tf.constant(schedule, tf.int64),
        tf.constant(temperature, tf.float32),
        tf.constant(top_k, tf.int32),
        tf.constant(float(choice_temperature), tf.float32),
    )
    return tokens.numpy()


# ------------------------------------------------------- what an image waits for


def sequential_calls(sampler: str, steps: int | None = None, length: int = 49) -> int:
    """Return the network calls one image waits for, one after another.

    The decoder's (or generator's) final call counts: a GAN or a VAE makes 1;
    the autoregressive prior ``length`` (with or without a cache: the cache
    makes each call cheaper, not fewer) plus the tokenizer's decoder; MaskGIT
    ``steps`` plus the decoder; latent diffusion ``steps`` denoiser calls plus
    the VAE decoder.

    Args:
        sampler: ``"gan"``, ``"vae"``, ``"autoregressive"``, ``"maskgit"`` or
            ``"latent_diffusion"``.
        steps: K or T, for MaskGIT and latent diffusion.
        length: Tokens per image.

    Returns:
        The count.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    if sampler in ("gan", "vae"):
        return 1
    if sampler == "autoregressive":
        return length + 1
    if sampler in ("maskgit", "latent_diffusion"):
        if not isinstance(steps, int | np.integer) or steps < 1:
            raise ValueError(
                f"{sampler} needs steps >= 1, got {steps!r}. Fix: pass steps=K."
            )
        return int(steps) + 1
    raise ValueError(
        f"Unknown sampler {sampler!r}. Fix: use gan, vae, autoregressive, maskgit "
        "or latent_diffusion."
    )
