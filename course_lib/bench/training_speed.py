"""Training speed: the TF tutorial's reference step and ``gan.build_gan()``.

:func:`reference_train_step` is the TensorFlow docs DCGAN tutorial's two-tape
step; :func:`reference_workload`, :func:`build_gan_workload` and
:func:`step_loop_workload` turn it, the course's ``fit`` and the course's
``train_step`` in a bare loop into :class:`~course_lib.bench.harness.Workload`
objects fed by the same :func:`image_dataset`, with FLOPs per image from
:func:`course_lib.bench.flops.training_flops_per_image`;
:func:`measure_training` times them side by side.

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

from course_lib import gan, models, pipeline, replicas
from course_lib.bench import flops, harness


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

    Introduced in notebooks/09_speed_benchmarks.ipynb.
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

    Introduced in notebooks/09_speed_benchmarks.ipynb.
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
    return pipeline.fixed_prefetch(dataset) if prefetch else pipeline.untuned(dataset)


def _repeat(step, iterator, steps):
    """A function running ``step`` on the next ``steps`` batches of ``iterator``."""

    def run():
        result = None
        for _ in range(steps):
            result = step(next(iterator))
        return result

    return run


def _course_workload(model, name, run, images_per_call):
    """The workload of a ``build_gan()`` model: its one-pass FLOPs and settings."""
    flops_per_image = flops.training_flops_per_image(
        model.generator, model.discriminator, "one_pass"
    )
    workload = harness.Workload(name, run, images_per_call, flops_per_image)
    workload.settings = dict(model.settings)
    return workload


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
        A :class:`~course_lib.bench.harness.Workload` with images per call
        ``steps * batch_size``.
    """
    policy = options.pop("policy", "float32")
    jit_compile = options.pop("jit_compile", False)
    eager = options.pop("eager", False)
    with replicas.build_scope(policy):
        generator = models.dcgan_generator()
        discriminator = models.dcgan_discriminator()
    step = reference_train_step(generator, discriminator, jit_compile, eager)
    run = _repeat(step, iter(image_dataset(images, batch_size, **options)), steps)

    flops_per_image = flops.training_flops_per_image(
        generator, discriminator, "tutorial"
    )
    return harness.Workload(name, run, steps * batch_size, flops_per_image)


def build_gan_workload(images, batch_size, steps, name, **build_options):
    """Return a workload of ``gan.fit`` over ``steps`` batches, for ``build_gan()``.

    Args:
        images: uint8 MNIST digits.
        batch_size: Images per batch.
        steps: Batches per ``fit`` call.
        name: The label.
        **build_options: Passed to ``gan.build_gan`` (``precision``,
            ``jit_compile``, ``steps_per_execution``); unset ones come from
            ``hardware.recommended_settings()``.

    Returns:
        A :class:`~course_lib.bench.harness.Workload`; ``workload.settings`` holds the
        settings ``build_gan`` resolved.
    """
    model = gan.build_gan(**build_options)
    dataset = image_dataset(images, batch_size)
    # Each fit call starts a new iterator. Run one full pass first, so that the
    # in-memory cache is complete and later iterators read from it instead of
    # re-scaling the images (the reference loop keeps one iterator throughout).
    for _ in dataset.take(len(images) // batch_size + 1):
        pass

    def run():
        return model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)

    return _course_workload(model, name, run, steps * batch_size)


def step_loop_workload(images, batch_size, steps, name, **build_options):
    """Return a workload of ``build_gan()``'s own ``train_step`` in a bare loop.

    The same step that ``fit`` runs, in a plain ``tf.function`` called ``steps``
    times per window, as the reference loop is: ``fit`` against this row is the
    cost of ``fit`` itself (its loop, callbacks, iterator per call), free of the
    difference between the two algorithms.

    Args:
        images: uint8 MNIST digits.
        batch_size: Images per batch.
        steps: Steps per call.
        name: The label.
        **build_options: Passed to ``gan.build_gan``.

    Returns:
        A :class:`~course_lib.bench.harness.Workload`.
    """
    model = gan.build_gan(**build_options)
    step = tf.function(model.train_step)
    run = _repeat(step, iter(image_dataset(images, batch_size)), steps)
    return _course_workload(model, name, run, steps * batch_size)


# The training rows of the bench, by ``loop`` tag.
LOOPS = ("reference fp32", "build_gan", "build_gan fp32", "build_gan fp32 step loop")


def measure_training(images, batch, steps, seconds, windows, log=print):
    """Time the four training workloads side by side, windows interleaved.

    Args:
        images: uint8 MNIST digits.
        batch: Images per step.
        steps: Steps per call (one ``fit`` call per window).
        seconds: The window length.
        windows: Windows per workload.
        log: Where progress lines go.

    Returns:
        The results, tagged with ``loop`` (one of :data:`LOOPS`) and ``settings``.
    """
    fp32 = {"precision": "float32"}
    train = [
        reference_workload(
            images, batch, steps, f"reference two-tape loop fp32, b{batch}"
        ),
        build_gan_workload(images, batch, steps, f"build_gan() + fit, b{batch}"),
        build_gan_workload(
            images,
            batch,
            steps,
            f"build_gan(precision='float32') + fit, b{batch}",
            **fp32,
        ),
        step_loop_workload(
            images,
            batch,
            steps,
            f"build_gan(precision='float32') step loop, b{batch}",
            **fp32,
        ),
    ]
    measured = harness.measure_many(train, seconds, windows, warmup_calls=1)
    training = [
        harness.tag(result, loop=loop, settings=getattr(workload, "settings", None))
        for result, loop, workload in zip(measured, LOOPS, train, strict=True)
    ]
    for result in training:
        log(f"  {result}")
    return training
