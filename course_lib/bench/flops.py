"""FLOPs per image: layer by layer, per model (token transformers too), per step.

FLOPs are counted per image as 2 x multiply-adds of the Dense, Conv2D and
Conv2DTranspose layers (bias, normalisation and activations are element-wise,
memory-bound and under 1% of the work in the course's models; they are left out).

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras import layers

from course_lib import transformer

# How many times one training step runs each network's forward-pass work, in
# units of that network's forward FLOPs per image: (generator, discriminator).
# A forward pass costs F; a backward pass costs F for the gradient with respect
# to the layer inputs plus F for the gradient with respect to the weights, so 2F
# when both are needed and F when only the input gradient is (the gradient
# flows through a network that is not being updated). The input gradients
# nobody needs (of G's first layer, with respect to z, and of D's first layer in
# D's own update) are counted anyway: they are under 1% of a step.
STEP_PASSES = {
    # The TF tutorial's two-tape step, one generator pass:
    # G forward F_G, G backward 2 F_G; D forward on real and fake 2 F_D, D
    # backward for its own update 2 x 2 F_D; D backward to the fakes for G's
    # gradient F_D. Total 3 F_G + 7 F_D.
    "tutorial": (3, 7),
    # The course's train_step: the tutorial's D update (F_G + 2 F_D + 4 F_D),
    # then the *updated* D scores the same fakes again (F_D) and G's gradient
    # goes back through D (F_D) and G (2 F_G). Total 3 F_G + 8 F_D.
    "one_pass": (3, 8),
    # The course's earlier step, fresh noise for G's update: a second generator
    # forward pass (F_G) on top of the one-pass step. Total 4 F_G + 8 F_D.
    "two_pass": (4, 8),
}


def layer_flops(layer) -> int:
    """Return 2 x multiply-adds per example of one Dense/Conv layer (else 0).

    Args:
        layer: A built Keras layer.

    Returns:
        The FLOPs per example; 0 for layers that are not Dense, Conv2D or
        Conv2DTranspose.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    if isinstance(layer, layers.Dense):
        input_shape = layer.input.shape
        positions = 1
        for size in input_shape[1:-1]:
            positions *= int(size)
        return 2 * positions * int(input_shape[-1]) * layer.units
    if isinstance(layer, layers.Conv2DTranspose):
        _, height, width, channels = layer.input.shape
        kernel_height, kernel_width = layer.kernel_size
        return (
            2 * height * width * channels * kernel_height * kernel_width * layer.filters
        )
    if isinstance(layer, layers.Conv2D):
        _, height, width, _ = layer.output.shape
        channels = int(layer.input.shape[-1]) // layer.groups
        kernel_height, kernel_width = layer.kernel_size
        return (
            2 * height * width * layer.filters * kernel_height * kernel_width * channels
        )
    return 0


def count_flops(model) -> dict:
    """Count the FLOPs per example of a functional or Sequential Keras model.

    Conventions (the same as a matmul's ``2 n^3``): one multiply-add is 2 FLOPs.
    Dense: ``2 * inputs * units`` (times the positions, for inputs of rank > 2).
    Conv2D: ``2 * H_out * W_out * filters * k_h * k_w * C_in / groups``.
    Conv2DTranspose: ``2 * H_in * W_in * C_in * k_h * k_w * filters`` (every
    input pixel is spread over a k_h x k_w patch of every output channel;
    outputs cropped away by ``padding="same"`` are still counted, as the kernels
    compute them). Other layers count 0. Nested models are entered.

    Args:
        model: A built Keras model whose layers know their input shapes.

    Returns:
        A dict with ``total`` and ``layers`` (a list of ``(name, class, flops)``
        for each counted layer).

    Raises:
        ValueError: If a Dense or Conv layer's input shape is unknown.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    rows = []

    def visit(container) -> None:
        for layer in container.layers:
            if hasattr(layer, "layers") and layer.layers:
                visit(layer)
                continue
            try:
                flops = layer_flops(layer)
            except (AttributeError, ValueError) as error:
                raise ValueError(
                    f"Cannot count FLOPs of layer {layer.name!r}: its input shape is "
                    "unknown. Fix: build the model on a keras.Input first."
                ) from error
            if flops:
                rows.append((layer.name, type(layer).__name__, int(flops)))

    visit(model)
    return {"total": sum(row[2] for row in rows), "layers": rows}


def transformer_flops(model) -> int:
    """Count the forward FLOPs of one sequence through a token transformer.

    Per block: its Dense layers at each of the ``L`` positions, from their
    kernels' shapes, and the attention, ``2 * 2 * L^2 * width`` (scores and the
    weighted sum over all ``L`` keys, as the masked implementation computes
    them); the output head by :func:`count_flops`.

    Args:
        model: A model of ``transformer.build_transformer``.

    Returns:
        The FLOPs per sequence; a ValueError for a model without blocks.
    """
    found = transformer.blocks(model)
    if not found:
        raise ValueError(
            f"{model.name!r} has no TransformerBlock. Fix: pass a model built by "
            "transformer.build_transformer (or tokens.build_prior)."
        )
    length = int(model.input.shape[1])
    total = count_flops(model)["total"]
    for block in found:
        for dense in (block.qkv, block.merge, block.up, block.down):
            inputs, units = (int(size) for size in dense.kernel.shape)
            total += 2 * length * inputs * units
        total += 2 * 2 * length * length * int(block.width)
    return int(total)


def training_flops_per_image(generator, discriminator, step: str = "tutorial"):
    """Return the FLOPs per real image of one GAN training step.

    With ``F_G`` and ``F_D`` the forward FLOPs per image of the two networks
    (:func:`count_flops`), a step costs ``g F_G + d F_D`` where ``(g, d)`` is
    :data:`STEP_PASSES` ``[step]``: forward ``F``, backward ``2F`` when the
    weights' gradient is needed too, ``F`` when only the inputs' gradient is.

    Args:
        generator: The DCGAN generator.
        discriminator: The DCGAN discriminator.
        step: ``"tutorial"`` (TF tutorial, ``3 F_G + 7 F_D``), ``"one_pass"``
            (the course's ``train_step``, ``3 F_G + 8 F_D``) or ``"two_pass"``
            (its earlier version, ``4 F_G + 8 F_D``).

    Returns:
        The FLOPs per image, a float.

    Raises:
        ValueError: If ``step`` is not a key of :data:`STEP_PASSES`.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    if step not in STEP_PASSES:
        raise ValueError(
            f"step must be one of {sorted(STEP_PASSES)}, got {step!r}; use "
            "'tutorial' for the TF tutorial's loop, 'one_pass' for build_gan()."
        )
    generator_passes, discriminator_passes = STEP_PASSES[step]
    generator_flops = count_flops(generator)["total"]
    discriminator_flops = count_flops(discriminator)["total"]
    return float(
        generator_passes * generator_flops + discriminator_passes * discriminator_flops
    )
