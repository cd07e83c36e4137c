"""The networks of the VAE build exercises of notebooks/07_vae_training.ipynb:
fixed inputs and weights, and the checks of the learner's encoder, sample and
decoder.

The fixed batch and weights are drawn with NumPy, so that a check never moves
the notebook's global random state. The networks are compared after copying the
reference's weights into the learner's, which works only when the layers match
``models.vae_encoder`` and ``models.vae_decoder`` one for one.
``course_lib.checks.vae_build`` re-exports the checks.

Introduced in notebooks/07_vae_training.ipynb.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from course_lib import models
from course_lib.checks.core import (
    call,
    call_builder,
    rel_error,
    report,
)

BATCH = 8
LATENT_DIM = 16
FIXTURE_SEED = 2016
NETWORK_TOLERANCE = 1e-5  # float32 networks: the same weights, the same layers.


# ------------------------------------------------------------------ fixtures


def fixed_images(count: int = BATCH, seed: int = FIXTURE_SEED) -> np.ndarray:
    """Return fixed binary images: a few bright discs each, digit-like, not noise.

    Args:
        count: How many images.
        seed: NumPy seed of the discs' centres.

    Returns:
        float32 array of shape (count, 28, 28, 1) with values 0 and 1.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:28, 0:28]
    images = np.zeros((count, 28, 28, 1), np.float32)
    for image in images:
        for _ in range(6):
            row, col = rng.uniform(6, 22, size=2)
            image[..., 0] += (rows - row) ** 2 + (cols - col) ** 2 < 9
    return np.minimum(images, 1.0)


def seeded_weights(model, seed: int = FIXTURE_SEED) -> list[np.ndarray]:
    """Return Glorot-uniform kernels and small biases for ``model``, from NumPy.

    Args:
        model: A Keras model; only the shapes of its weights are used.
        seed: NumPy seed (NumPy, so that a check never moves Keras's state).

    Returns:
        float32 arrays in the order of ``model.get_weights()``.
    """
    rng = np.random.default_rng(seed)
    weights = []
    for weight in model.get_weights():
        if weight.ndim > 1:
            receptive = int(np.prod(weight.shape[:-2])) if weight.ndim > 2 else 1
            fan_in, fan_out = weight.shape[-2] * receptive, weight.shape[-1] * receptive
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            weights.append(rng.uniform(-limit, limit, weight.shape))
        else:
            weights.append(rng.normal(0.0, 0.05, weight.shape))
    return [w.astype(np.float32) for w in weights]


@contextlib.contextmanager
def float32_policy():
    """Build models in float32 inside the block; restore the global policy after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def reference_networks(latent_dim: int = LATENT_DIM, seed: int = FIXTURE_SEED):
    """Return the library's encoder and decoder with fixed NumPy weights, float32.

    Args:
        latent_dim: Size of z.
        seed: Seed of the encoder's weights (the decoder's is ``seed + 1``).

    Returns:
        ``(encoder, decoder)``, built by ``models.vae_encoder`` and ``vae_decoder``.
    """
    with float32_policy():
        encoder = models.vae_encoder(latent_dim)
        decoder = models.vae_decoder(latent_dim)
    encoder.set_weights(seeded_weights(encoder, seed))
    decoder.set_weights(seeded_weights(decoder, seed + 1))
    return encoder, decoder


def loss_fixture(seed: int = FIXTURE_SEED) -> dict:
    """Return the fixed batch of the loss check: float64 x, logits, mean, logvar.

    The reference networks encode the fixed images; z is the reparameterised
    sample with NumPy noise of the given seed; the decoder gives the logits.

    Args:
        seed: Seed of the weights and of the noise.

    Returns:
        A dict of float64 arrays: ``x`` (8, 28, 28, 1), ``logits`` (the same
        shape), ``mean`` and ``logvar`` (8, 16).
    """
    encoder, decoder = reference_networks(seed=seed)
    x = fixed_images()
    rng = np.random.default_rng(seed)
    # A fresh encoder's q(z|x) is close to the prior; fixed shifts make the KL
    # term a sizeable part of the loss, so that forgetting it shows.
    mean, logvar = (np.asarray(t, np.float64) for t in encoder(x))
    mean = mean + rng.normal(0.0, 1.0, mean.shape)
    logvar = logvar + rng.normal(0.0, 0.7, logvar.shape)
    eps = rng.standard_normal(mean.shape)
    z = mean + np.exp(logvar / 2) * eps
    logits = np.asarray(decoder(z.astype(np.float32)), np.float64)
    return {"x": x.astype(np.float64), "logits": logits, "mean": mean, "logvar": logvar}


# ------------------------------------------------------------------ networks


def matches(function, args, expected, tolerance) -> bool:
    """Return whether ``function(*args)`` gives ``expected``, printing nothing.

    Args:
        function: The learner's function.
        args: Its test inputs.
        expected: The reference result.
        tolerance: The largest relative error that passes.

    Returns:
        ``True`` only for a finite result of the right shape and value.
    """
    result, problem = call(function, *args)
    expected = np.asarray(expected, np.float64)
    if problem is not None or result.shape != expected.shape:
        return False
    return (
        bool(np.all(np.isfinite(result))) and rel_error(result, expected) <= tolerance
    )


def _float32_build(build, latent_dim):
    """``call_builder`` under the float32 policy, whatever the notebook's policy."""
    with float32_policy():
        return call_builder(build, latent_dim)


def _weight_shapes(model) -> str:
    return ", ".join(str(tuple(w.shape)) for w in model.weights if w.trainable)


def _compare_layers(name, model, reference) -> str | None:
    """Return why the weights cannot be copied, or None when they can."""
    mine, theirs = model.count_params(), reference.count_params()
    shapes, reference_shapes = _weight_shapes(model), _weight_shapes(reference)
    if mine != theirs or shapes != reference_shapes:
        return (
            f"your {name} has {mine:,} weights, the reference {theirs:,}; its weight "
            f"shapes are [{shapes}], the reference's [{reference_shapes}]. Match "
            f"the layers of models.vae_{name} one for one"
        )
    return None


def _copy_weights(model, reference) -> str | None:
    try:
        model.set_weights(reference.get_weights())
    except ValueError as error:
        return f"the reference's weights do not fit yours ({error})"
    return None


def close(first, second, tolerance=NETWORK_TOLERANCE) -> bool:
    """Return whether two arrays agree to ``tolerance`` times max(1, max |second|)."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if first.shape != second.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(second))))
    return float(np.max(np.abs(first - second))) <= tolerance * scale


def check_vae_encoder(build_encoder) -> bool:
    """Check the learner's encoder against ``models.vae_encoder``.

    The check builds it for latent sizes 16 and 2, compares the outputs' number
    and shapes and the weight shapes, copies the reference's weights into it
    and compares ``[mean, logvar]`` on a fixed batch.

    Args:
        build_encoder: The learner's function ``latent_dim -> keras.Model``.

    Returns:
        Whether the encoder matches the reference.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    name = "check_vae_encoder"
    for latent_dim in (LATENT_DIM, 2):
        encoder, problem = _float32_build(build_encoder, latent_dim)
        if problem:
            return report(name, False, problem)
        outputs = encoder.outputs
        if len(outputs) == 1:
            width = outputs[0].shape[-1]
            extra = (
                f" (one tensor of width {width} = 2 x latent_dim: split it into two "
                "Dense heads)"
                if width == 2 * latent_dim
                else ""
            )
            return report(
                name,
                False,
                f"your encoder returns one tensor{extra}; return [mean, log_var], two "
                "Dense(latent_dim) heads on the 128-unit layer",
            )
        if len(outputs) != 2:
            return report(name, False, f"return [mean, log_var], not {len(outputs)}.")
        shapes = [tuple(output.shape) for output in outputs]
        if tuple(encoder.inputs[0].shape[1:]) != models.IMAGE_SHAPE:
            return report(name, False, "start with keras.Input(shape=(28, 28, 1)).")
        if any(shape != (None, latent_dim) for shape in shapes):
            return report(
                name,
                False,
                f"with latent_dim={latent_dim} the outputs have shapes {shapes}; "
                f"each must be (None, {latent_dim}): use latent_dim for both heads",
            )
        reference, _ = reference_networks(latent_dim)
        problem = _compare_layers("encoder", encoder, reference) or _copy_weights(
            encoder, reference
        )
        if problem:
            return report(name, False, problem)
        x = fixed_images()
        mean, logvar = (np.asarray(t) for t in encoder(x))
        reference_mean, reference_logvar = (np.asarray(t) for t in reference(x))
        if not close(mean, reference_mean) or not close(logvar, reference_logvar):
            wrong = "mean" if not close(mean, reference_mean) else "log-variance"
            hint = (
                " log sigma^2 can be negative: the heads are linear (no activation)"
                if wrong == "log-variance" and np.all(logvar >= 0)
                else " check the activations: ReLU after both convolutions and "
                "the dense layer, linear heads, strides 2 and padding 'same'"
            )
            return report(
                name, False, f"with the reference's weights your {wrong} differs;{hint}"
            )
    return report(
        name, True, f"{encoder.count_params():,} weights at latent_dim 2, outputs match"
    )


def check_vae_decoder(build_decoder) -> bool:
    """Check the learner's Bernoulli decoder against ``models.vae_decoder``.

    Args:
        build_decoder: The learner's function ``latent_dim -> keras.Model`` that
            maps z to (batch, 28, 28, 1) logits.

    Returns:
        Whether the decoder matches the reference.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    name = "check_vae_decoder"
    for latent_dim in (LATENT_DIM, 2):
        decoder, problem = _float32_build(build_decoder, latent_dim)
        if problem:
            return report(name, False, problem)
        if len(decoder.outputs) != 1:
            return report(name, False, "return one tensor: the logits of each pixel.")
        if tuple(decoder.inputs[0].shape) != (None, latent_dim):
            return report(
                name,
                False,
                f"the input has shape {tuple(decoder.inputs[0].shape)}; start with "
                f"keras.Input(shape=(latent_dim,)), here ({latent_dim},)",
            )
        shape = tuple(decoder.outputs[0].shape)
        if shape != (None, *models.IMAGE_SHAPE):
            detail = (
                "add the channel axis: end with Conv2D(1, 3, padding='same')"
                if shape == (None, 28, 28)
                else "reshape to images: Dense(7 * 7 * 32), Reshape((7, 7, 32)), two "
                "Conv2DTranspose with strides 2, then Conv2D(1, 3, padding='same')"
            )
            return report(
                name,
                False,
                f"your decoder's output has shape {shape}, the reference's "
                f"(None, 28, 28, 1); {detail}",
            )
        reference = reference_networks(latent_dim)[1]
        problem = _compare_layers("decoder", decoder, reference) or _copy_weights(
            decoder, reference
        )
        if problem:
            return report(name, False, problem)
        z = np.random.default_rng(FIXTURE_SEED).standard_normal((BATCH, latent_dim))
        z = z.astype(np.float32)
        logits, reference_logits = np.asarray(decoder(z)), np.asarray(reference(z))
        if not close(logits, reference_logits):
            probabilities = 1.0 / (1.0 + np.exp(-reference_logits.astype(np.float64)))
            if close(logits, probabilities):
                detail = (
                    "the decoder ends with a sigmoid: return logits (no activation on "
                    "the last layer); the loss takes logits"
                )
            elif close(logits, np.maximum(reference_logits, 0)):
                detail = (
                    "the last layer has a ReLU, so your logits differ: logits can be "
                    "negative; give the last Conv2D no activation"
                )
            else:
                detail = (
                    "with the reference's weights your logits differ; check the "
                    "activations: ReLU inside, none on the last Conv2D"
                )
            return report(name, False, detail)
    return report(
        name, True, f"{decoder.count_params():,} weights at latent_dim 2, logits match"
    )
