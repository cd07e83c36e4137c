"""The course's speed benchmarks: sampling, training and "LLM-style" generation.

Each ``*_workloads`` function returns :class:`course_lib.bench.Workload` objects
that :func:`course_lib.bench.measure_many` times side by side. The command
``python -m course_lib.bench [--quick] [--json FILE]`` (in
:mod:`course_lib.bench_command`) runs them all and stores the figures in
``data/benchmarks/``.

Introduced in notebooks/06_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

from course_lib import bench, hardware, models

LATENT_DIM = 100


# ------------------------------------------------------------------ sampling


def generator_in_policy(generator: keras.Model, policy: str) -> keras.Model:
    """Return a copy of the DCGAN ``generator`` built under a dtype policy.

    Args:
        generator: A generator from :func:`course_lib.models.dcgan_generator`.
        policy: ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``.

    Returns:
        A new model with the same (float32) weights, computing in ``policy``.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    with hardware.build_scope(policy):
        copy = models.dcgan_generator(int(generator.inputs[0].shape[-1]))
    copy.set_weights(generator.get_weights())
    return copy


def latents(batch_size: int, latent_dim: int = LATENT_DIM, seed: int = 0):
    """Return a fixed batch of standard-normal latent vectors as a float32 tensor."""
    rng = np.random.default_rng(seed)
    return tf.constant(rng.standard_normal((batch_size, latent_dim), np.float32))


FOLDED_METHOD = "tf.function, bfloat16, BatchNorm folded"
SAMPLING_METHODS = (
    "predict, 1 image per call (article)",
    "predict, batched",
    "direct call",
    "tf.function",
    "tf.function + XLA",
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
    """Return a :class:`~course_lib.bench.Workload` generating images one way.

    Args:
        generator: The float32 DCGAN generator.
        method: One of :data:`SAMPLING_METHODS`.
        batch_size: Images per call (ignored by the article's method, which
            makes one image per call).

    Returns:
        The workload, with ``flops_per_item`` from :func:`bench.count_flops`.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    flops = bench.count_flops(generator)["total"]
    z = latents(batch_size)
    label = f"{method}, batch {batch_size}"
    if method == SAMPLING_METHODS[0]:
        one = z[:1]
        return bench.Workload(
            method, lambda: generator.predict(one, verbose=0), 1, flops
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
    elif method == FOLDED_METHOD:
        folded = folded_sampler(generator, "bfloat16")
        function = lambda: folded(z)  # noqa: E731
    else:
        raise ValueError(f"Unknown method {method!r}; use one of {SAMPLING_METHODS}.")
    return bench.Workload(label, function, batch_size, flops)


# ------------------------------------------------------------------ training


def reference_train_step(generator, discriminator, jit_compile=False, eager=False):
    """Return the TensorFlow docs DCGAN tutorial's two-tape training step.

    One generator pass makes the fakes; the discriminator scores real and fake
    batches; two tapes give both networks' gradients from that single pass
    (both updates use the same, pre-update discriminator). Adam(1e-4) for each
    network, binary cross-entropy on logits, as in the tutorial.

    Args:
        generator: The DCGAN generator.
        discriminator: The DCGAN discriminator.
        jit_compile: Compile the step with XLA.
        eager: Return the plain Python function (no ``tf.function``).

    Returns:
        A function ``step(images)`` that updates both networks.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = keras.optimizers.Adam(1e-4)
    discriminator_optimizer = keras.optimizers.Adam(1e-4)
    latent_dim = int(generator.inputs[0].shape[-1])

    def step(images):
        noise = tf.random.normal([tf.shape(images)[0], latent_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = cross_entropy(
                tf.ones_like(real_output), real_output
            ) + cross_entropy(tf.zeros_like(fake_output), fake_output)
        gen_gradients = gen_tape.gradient(gen_loss, generator.trainable_variables)
        disc_gradients = disc_tape.gradient(
            disc_loss, discriminator.trainable_variables
        )
        generator_optimizer.apply_gradients(
            zip(gen_gradients, generator.trainable_variables, strict=True)
        )
        discriminator_optimizer.apply_gradients(
            zip(disc_gradients, discriminator.trainable_variables, strict=True)
        )
        return gen_loss, disc_loss

    if eager:
        return step
    return tf.function(step, jit_compile=jit_compile)


def image_dataset(images, batch_size, cache=True, prefetch=True, from_uint8=True):
    """Return an endless, shuffled dataset of training batches in [-1, 1].

    Args:
        images: uint8 (n, 28, 28) MNIST digits.
        batch_size: Images per batch.
        cache: Cache the scaled images after the first pass.
        prefetch: Prepare the next batch while the current one trains.
        from_uint8: Scale inside the pipeline (a ``map``), as a loader of raw
            files would; ``False`` scales once up front, as the TF tutorial does.

    Returns:
        A ``tf.data.Dataset`` of float32 (batch, 28, 28, 1) batches.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    images = np.asarray(images).reshape(-1, 28, 28, 1)
    if not from_uint8:
        images = (images.astype(np.float32) - 127.5) / 127.5
    dataset = tf.data.Dataset.from_tensor_slices(images)
    if from_uint8:
        dataset = dataset.map(
            lambda image: (tf.cast(image, tf.float32) - 127.5) / 127.5,
            num_parallel_calls=tf.data.AUTOTUNE if prefetch else None,
        )
    if cache:
        dataset = dataset.cache()
    dataset = dataset.shuffle(len(images), seed=0).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if prefetch:
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return dataset


def training_flops_per_image(generator, discriminator) -> float:
    """Return the FLOPs per image of one tutorial-style training step.

    Forward passes plus backward passes counted as twice the forward (gradients
    with respect to both activations and weights): ``3 x (G + 2 D)``.
    """
    generator_flops = bench.count_flops(generator)["total"]
    discriminator_flops = bench.count_flops(discriminator)["total"]
    return 3.0 * (generator_flops + 2 * discriminator_flops)


def reference_workload(images, batch_size, steps, name, **options):
    """Return a workload of ``steps`` reference-loop steps over ``image_dataset``.

    Args:
        images: uint8 MNIST digits.
        batch_size: Images per batch (the tutorial uses 256).
        steps: Training steps per call.
        name: The label.
        **options: ``policy`` (Keras dtype policy, default float32), ``jit_compile``,
            ``eager``, and the ``image_dataset`` options ``cache``, ``prefetch``
            and ``from_uint8``.

    Returns:
        A :class:`~course_lib.bench.Workload` with images per call
        ``steps * batch_size``.
    """
    policy = options.pop("policy", "float32")
    jit_compile = options.pop("jit_compile", False)
    eager = options.pop("eager", False)
    with hardware.build_scope(policy):
        generator = models.dcgan_generator(LATENT_DIM)
        discriminator = models.dcgan_discriminator()
    step = reference_train_step(generator, discriminator, jit_compile, eager)
    iterator = iter(image_dataset(images, batch_size, **options))

    def run():
        result = None
        for _ in range(steps):
            result = step(next(iterator))
        return result

    flops = training_flops_per_image(generator, discriminator)
    return bench.Workload(name, run, steps * batch_size, flops)


def build_gan_workload(images, batch_size, steps, name, **build_options):
    """Return a workload of ``gan.fit`` over ``steps`` batches, for ``build_gan()``.

    Args:
        images: uint8 MNIST digits.
        batch_size: Images per batch.
        steps: Batches per ``fit`` call.
        name: The label.
        **build_options: Passed to ``training.build_gan`` (``precision``,
            ``jit_compile``, ``steps_per_execution``); unset ones come from
            ``hardware.recommended_settings()``.

    Returns:
        A :class:`~course_lib.bench.Workload`; ``workload.settings`` holds the
        settings ``build_gan`` resolved.
    """
    from course_lib import training

    gan = training.build_gan(latent_dim=LATENT_DIM, **build_options)
    dataset = image_dataset(images, batch_size)
    # Each fit call starts a new iterator. Run one full pass first, so that the
    # in-memory cache is complete and later iterators read from it instead of
    # re-scaling the images (the reference loop keeps one iterator throughout).
    for _ in dataset.take(len(images) // batch_size + 1):
        pass

    def run():
        return gan.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)

    flops = training_flops_per_image(gan.generator, gan.discriminator)
    workload = bench.Workload(name, run, steps * batch_size, flops)
    workload.settings = dict(gan.settings)
    return workload


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

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    from keras import layers

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

    Introduced in notebooks/06_speed_benchmarks.ipynb.
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


# ---------------------------------------------------- generation cost by family


def generation_cost_workloads(
    batch_size, denoising_steps, uncached_steps=1, cached_steps=None
):
    """Return workloads for the cost per image of three generator families.

    All three run in float32 ``tf.function`` at the same batch size:

    - ``"GAN/VAE: one forward pass"``: the DCGAN generator;
    - ``"autoregressive, no cache"``: :class:`~course_lib.slow_samplers.
      PixelTransformer`, each step re-running all 784 positions. Every step does
      identical work, so ``uncached_steps`` steps are timed and one image is
      784 of them (``items_per_call = batch * uncached_steps / 784``);
    - ``"autoregressive, KV cache"``: ``cached_steps`` steps with the cache
      (all 784 by default; each step costs the same, because the cache has a
      fixed size and unused entries are masked);
    - ``"denoiser, T=<steps>"``: ``denoising_steps`` passes of
      :func:`~course_lib.slow_samplers.denoiser`;
    - ``"autoregressive, KV cache, batch 1"``: the latency of one image.

    Args:
        batch_size: Images generated side by side.
        denoising_steps: T of the iterative denoiser.
        uncached_steps: Steps of the uncached sampler per call.
        cached_steps: Steps of the cached sampler per call (``None``: 784).

    Returns:
        ``(workloads, parameter_counts)`` where ``parameter_counts`` maps each
        family's label to its model's weight count.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    from course_lib import slow_samplers

    generator = models.dcgan_generator(LATENT_DIM)
    sample_gan = tf.function(lambda z: generator(z, training=False))
    z = latents(batch_size)
    transformer = slow_samplers.PixelTransformer()
    step = tf.function(transformer.step_without_cache)
    tokens = tf.fill((batch_size, slow_samplers.PIXELS), slow_samplers.START_TOKEN)
    seed = tf.constant([0, 0])

    def uncached():
        result = tokens
        for position in range(uncached_steps):
            result, _ = step(result, tf.constant(position), seed)
        return result

    cached_steps = cached_steps or slow_samplers.PIXELS
    cached = transformer.cached_sampler(cached_steps)
    start = tf.zeros((batch_size,), tf.int32)
    noise_model = slow_samplers.denoiser()
    denoise = slow_samplers.denoising_sampler(noise_model, denoising_steps)
    noise = tf.random.stateless_normal((batch_size, 28, 28, 1), [0, 0])
    pixels = slow_samplers.PIXELS
    per_position = transformer.flops_per_position()
    labels = (
        "GAN/VAE: one forward pass",
        "autoregressive, no cache",
        "autoregressive, KV cache",
        f"denoiser, T={denoising_steps}",
    )
    workloads = [
        bench.Workload(
            labels[0],
            lambda: sample_gan(z),
            batch_size,
            bench.count_flops(generator)["total"],
        ),
        bench.Workload(
            labels[1],
            uncached,
            batch_size * uncached_steps / pixels,
            pixels * pixels * per_position,
        ),
        bench.Workload(
            labels[2],
            lambda: cached(start),
            batch_size * cached_steps / pixels,
            pixels * per_position,
        ),
        bench.Workload(
            labels[3],
            lambda: denoise(noise),
            batch_size,
            denoising_steps * bench.count_flops(noise_model)["total"],
        ),
    ]
    single = tf.zeros((1,), tf.int32)
    workloads.append(
        bench.Workload(
            "autoregressive, KV cache, batch 1",
            lambda: cached(single),
            cached_steps / pixels,
            pixels * per_position,
        )
    )
    parameters = {
        "autoregressive, KV cache, batch 1": transformer.parameter_count(),
        labels[0]: generator.count_params(),
        labels[1]: transformer.parameter_count(),
        labels[2]: transformer.parameter_count(),
        labels[3]: noise_model.count_params(),
    }
    return workloads, parameters


# ------------------------------------------------------------- suite sizes

SUITE_SIZES = {
    # profile -> sampling batch sizes, training batch, denoiser T, family batch.
    "quick": {
        "batches": (1, 64),
        "train_batch": 64,
        "train_steps": 1,
        "train_windows": 2,
        "steps_T": 10,
        "family": 8,
        "cached_steps": 49,
    },
    "full": {
        "batches": (1, 4, 16, 64, 256, 1024),
        "train_batch": 256,
        "train_steps": 4,
        "train_windows": 5,
        "steps_T": 50,
        "family": 16,
        "cached_steps": 196,
    },
}


def tag(result, **tags):
    """Attach labels (``method``, ``batch_size``, ``loop``, ...) to a result."""
    for key, value in tags.items():
        setattr(result, key, value)
    return result
