"""The cost per image of the generator families, as timed workloads.

A GAN generator or VAE decoder makes an image in one forward pass; an
autoregressive ("LLM-style") sampler takes one sequential step per pixel; an
iterative denoiser takes T passes. :func:`generation_cost_workloads` builds one
workload per family, at the same batch size and precision, with the models of
:mod:`course_lib.bench.slow_samplers`.

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf

from course_lib import models
from course_lib.bench import flops, harness, sampling_speed, slow_samplers


def generation_cost_workloads(
    batch_size, denoising_steps, uncached_steps=1, cached_steps=None
):
    """Return workloads for the cost per image of three generator families.

    All three run in float32 ``tf.function`` at the same batch size:

    - ``"GAN/VAE: one forward pass"``: the DCGAN generator;
    - ``"autoregressive, no cache"``: :class:`~course_lib.bench.slow_samplers.
      PixelTransformer`, each step re-running all 784 positions. Every step does
      identical work, so ``uncached_steps`` steps are timed and one image is
      784 of them (``items_per_call = batch * uncached_steps / 784``);
    - ``"autoregressive, KV cache"``: ``cached_steps`` steps with the cache
      (all 784 by default; each step costs the same, because the cache has a
      fixed size and unused entries are masked);
    - ``"denoiser, T=<steps>"``: ``denoising_steps`` passes of
      :func:`~course_lib.bench.slow_samplers.denoiser`;
    - ``"autoregressive, KV cache, batch 1"``: the latency of one image.

    Args:
        batch_size: Images generated side by side.
        denoising_steps: T of the iterative denoiser.
        uncached_steps: Steps of the uncached sampler per call.
        cached_steps: Steps of the cached sampler per call (``None``: 784).

    Returns:
        ``(workloads, parameter_counts)`` where ``parameter_counts`` maps each
        family's label to its model's weight count.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    generator = models.dcgan_generator(sampling_speed.LATENT_DIM)
    sample_gan = tf.function(lambda z: generator(z, training=False))
    z = sampling_speed.latents(batch_size)
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
        harness.Workload(
            labels[0],
            lambda: sample_gan(z),
            batch_size,
            flops.count_flops(generator)["total"],
        ),
        harness.Workload(
            labels[1],
            uncached,
            batch_size * uncached_steps / pixels,
            pixels * pixels * per_position,
        ),
        harness.Workload(
            labels[2],
            lambda: cached(start),
            batch_size * cached_steps / pixels,
            pixels * per_position,
        ),
        harness.Workload(
            labels[3],
            lambda: denoise(noise),
            batch_size,
            denoising_steps * flops.count_flops(noise_model)["total"],
        ),
    ]
    single = tf.zeros((1,), tf.int32)
    workloads.append(
        harness.Workload(
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
