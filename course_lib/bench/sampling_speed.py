"""Sampling speed of the DCGAN generator: the methods compared, BatchNorm folding.

Each method of :data:`SAMPLING_METHODS` becomes a
:class:`~course_lib.bench.harness.Workload` through :func:`sampling_workload`;
:func:`folded_sampler` is the inference-optimised one (BatchNorm merged into the
preceding layer, in float32 or bfloat16 arithmetic).

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from course_lib import models, replicas
from course_lib.bench import flops, harness

# The latent size of the course's DCGAN.
LATENT_DIM = 100


def generator_in_policy(generator: keras.Model, policy: str) -> keras.Model:
    """Return a copy of the DCGAN ``generator`` built under a dtype policy.

    Args:
        generator: A generator from :func:`course_lib.models.dcgan_generator`.
        policy: ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``.

    Returns:
        A new model with the same (float32) weights, computing in ``policy``.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    with replicas.build_scope(policy):
        copy = models.dcgan_generator(int(generator.inputs[0].shape[-1]))
    copy.set_weights(generator.get_weights())
    return copy


def latents(batch_size: int, latent_dim: int = LATENT_DIM, seed: int = 0):
    """Return a fixed batch of standard-normal latent vectors as a float32 tensor."""
    rng = np.random.default_rng(seed)
    return tf.constant(rng.standard_normal((batch_size, latent_dim), np.float32))


FOLDED_METHOD = "tf.function, bfloat16, BatchNorm folded"
FOLDED_FLOAT32_METHOD = "tf.function, BatchNorm folded"
SAMPLING_METHODS = (
    "predict, 1 image per call (article)",
    "predict, batched",
    "direct call",
    "tf.function",
    "tf.function + XLA",
    FOLDED_FLOAT32_METHOD,
    "tf.function, bfloat16",
    "tf.function, float16",
    FOLDED_METHOD,
)


def sampling_methods(batch_size: int, batch_sizes) -> list[str]:
    """Return the methods timed at ``batch_size`` in a sweep over ``batch_sizes``.

    The article's method runs once, separately. ``predict`` at batch 1 is the
    article's method, so it is skipped there; float16, slow on CPUs, runs at the
    largest batch size only.
    """
    methods = []
    for method in SAMPLING_METHODS[1:]:
        if method == "predict, batched" and batch_size == 1:
            continue
        if method == "tf.function, float16" and batch_size != max(batch_sizes):
            continue
        methods.append(method)
    return methods


def sampling_workload(generator: keras.Model, method: str, batch_size: int):
    """Return a :class:`~course_lib.bench.harness.Workload` generating images one way.

    Args:
        generator: The float32 DCGAN generator.
        method: One of :data:`SAMPLING_METHODS`.
        batch_size: Images per call (ignored by the article's method, which
            makes one image per call).

    Returns:
        The workload, with ``flops_per_item`` from :func:`flops.count_flops`.

    Raises:
        ValueError: If the generator does not compute in float32 (its rows would
            be mislabelled: the lower precisions are methods of their own).

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    if generator.dtype_policy.compute_dtype != "float32":
        raise ValueError(
            f"sampling_workload needs the float32 generator, got one computing in "
            f"{generator.dtype_policy.compute_dtype} (shipped.load builds in the "
            "recommended precision). Fix: generator = "
            'sampling_speed.generator_in_policy(generator, "float32").'
        )
    flops_per_image = flops.count_flops(generator)["total"]
    z = latents(batch_size)
    label = f"{method}, batch {batch_size}"
    if method == SAMPLING_METHODS[0]:
        one = z[:1]
        return harness.Workload(
            method, lambda: generator.predict(one, verbose=0), 1, flops_per_image
        )
    if method == "predict, batched":
        function = lambda: generator.predict(z, batch_size=batch_size, verbose=0)  # noqa: E731
    elif method == "direct call":
        function = lambda: generator(z, training=False)  # noqa: E731
    elif method in ("tf.function", "tf.function + XLA"):
        compiled = tf.function(
            lambda x: generator(x, training=False), jit_compile=method.endswith("XLA")
        )
        function = lambda: compiled(z)  # noqa: E731
    elif method in ("tf.function, bfloat16", "tf.function, float16"):
        policy = "mixed_bfloat16" if "bfloat16" in method else "mixed_float16"
        reduced = generator_in_policy(generator, policy)
        compiled = tf.function(lambda x: reduced(x, training=False))
        function = lambda: compiled(z)  # noqa: E731
    elif method in (FOLDED_METHOD, FOLDED_FLOAT32_METHOD):
        folded = folded_sampler(
            generator, "bfloat16" if method == FOLDED_METHOD else "float32"
        )
        function = lambda: folded(z)  # noqa: E731
    else:
        raise ValueError(f"Unknown method {method!r}; use one of {SAMPLING_METHODS}.")
    return harness.Workload(label, function, batch_size, flops_per_image)


# ------------------------------------------------- inference-optimised sampling


def fold_generator(generator: keras.Model) -> list[dict]:
    """Fold each BatchNorm of the DCGAN generator into the layer before it.

    In inference mode BatchNorm is the affine map ``gamma (x - mean) / sqrt(var +
    eps) + beta``, so it can be merged into the preceding Dense or transposed
    convolution: the weights are scaled per output channel and a bias appears.
    Inference compilers (TensorRT, TFLite, OpenVINO) do the same.

    Args:
        generator: A generator from :func:`course_lib.models.dcgan_generator`.

    Returns:
        A list of stages, each a dict with ``kind`` (``"dense"`` or
        ``"conv_transpose"``), ``kernel``, ``bias`` (NumPy float32), ``strides``,
        ``output_shape`` (per image) and ``activation`` (``"leaky_relu"``,
        ``"tanh"`` or ``None``), in order.

    Raises:
        ValueError: If the model is not laid out like the course's DCGAN
            generator.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    stages = []
    for layer in generator.layers:
        if isinstance(layer, layers.Dense | layers.Conv2DTranspose):
            kernel = np.asarray(layer.kernel.numpy(), np.float32)
            bias = (
                np.asarray(layer.bias.numpy(), np.float32)
                if layer.use_bias
                else np.zeros(
                    kernel.shape[-1 if isinstance(layer, layers.Dense) else 2]
                )
            )
            is_dense = isinstance(layer, layers.Dense)
            stages.append(
                {
                    "kind": "dense" if is_dense else "conv_transpose",
                    "kernel": kernel,
                    "bias": bias.astype(np.float32),
                    "strides": None if is_dense else tuple(layer.strides),
                    "output_shape": tuple(layer.output.shape[1:]),
                    "activation": None,
                }
            )
        elif isinstance(layer, layers.BatchNormalization):
            if not stages or stages[-1]["activation"] is not None:
                raise ValueError("BatchNorm must follow a Dense or Conv2DTranspose.")
            gamma, beta, mean, variance = (
                np.asarray(weight, np.float64) for weight in layer.get_weights()
            )
            scale = gamma / np.sqrt(variance + layer.epsilon)
            stage = stages[-1]
            axis = -1 if stage["kind"] == "dense" else 2
            shape = [1] * stage["kernel"].ndim
            shape[axis] = -1
            stage["kernel"] = (stage["kernel"] * scale.reshape(shape)).astype(
                np.float32
            )
            stage["bias"] = ((stage["bias"] - mean) * scale + beta).astype(np.float32)
        elif isinstance(layer, layers.LeakyReLU):
            stages[-1]["activation"] = ("leaky_relu", float(layer.negative_slope))
        elif isinstance(layer, layers.Activation):
            stages[-1]["activation"] = ("tanh", None)
        elif isinstance(layer, layers.Reshape | layers.InputLayer):
            continue
        else:
            raise ValueError(
                f"fold_generator does not know layer {layer.name!r} "
                f"({type(layer).__name__}); it handles the DCGAN generator only."
            )
    return stages


def folded_sampler(generator: keras.Model, dtype: str = "bfloat16", jit_compile=False):
    """Return a ``tf.function`` computing the generator with BatchNorm folded in.

    The matrix products and convolutions run in ``dtype``; the final tanh runs
    in float32, as in the Keras model.

    Args:
        generator: The trained (or fresh) DCGAN generator.
        dtype: ``"float32"`` or ``"bfloat16"`` (or ``"float16"``).
        jit_compile: Compile with XLA.

    Returns:
        A function ``sample(z)`` mapping float32 (batch, latent_dim) to float32
        (batch, 28, 28, 1) images.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    stages = fold_generator(generator)
    constants = [
        (stage, tf.constant(stage["kernel"], dtype), tf.constant(stage["bias"], dtype))
        for stage in stages
    ]

    def sample(z):
        x = tf.cast(z, dtype)
        batch = tf.shape(z)[0]
        for stage, kernel, bias in constants:
            if stage["kind"] == "dense":
                x = tf.matmul(x, kernel) + bias
                x = tf.reshape(x, [batch, 7, 7, x.shape[-1] // 49])
            else:
                height, width, channels = stage["output_shape"]
                x = tf.nn.conv2d_transpose(
                    x,
                    kernel,
                    tf.stack([batch, height, width, channels]),
                    strides=stage["strides"],
                    padding="SAME",
                )
                x = tf.nn.bias_add(x, bias)
            kind, slope = stage["activation"] or (None, None)
            if kind == "leaky_relu":
                x = tf.nn.leaky_relu(x, alpha=slope)
            elif kind == "tanh":
                x = tf.tanh(tf.cast(x, tf.float32))
        return tf.cast(x, tf.float32)

    return tf.function(sample, jit_compile=jit_compile)
