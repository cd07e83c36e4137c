"""The GAN and VAE losses, written from logits so that they never overflow.

Every function here accepts NumPy arrays or tensors and returns a tensor, so the
same code runs in the math notebooks (float64 NumPy checks) and inside a Keras
``train_step`` (float32 tensors). Each is computed with ``softplus``, which is
finite for logits of any size:

- ``-log sigmoid(l) = softplus(-l)``,
- ``-log(1 - sigmoid(l)) = softplus(l)``.

Introduced in notebooks/02_gan_loss_derivation.ipynb and
notebooks/03_vae_elbo.ipynb.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
from keras import ops  # noqa: E402

GENERATOR_LOSS_KINDS = ("non_saturating", "minimax")


def _as_float(value, dtype=None):
    """Convert ``value`` to a floating tensor (integers become ``floatx``)."""
    tensor = ops.convert_to_tensor(value)
    if dtype is not None:
        return ops.cast(tensor, dtype)
    if not keras.backend.is_float_dtype(tensor.dtype):
        tensor = ops.cast(tensor, keras.backend.floatx())
    return tensor


def _static_shape(tensor) -> tuple:
    """Return the shape as a tuple whose unknown dimensions are ``None``."""
    return tuple(tensor.shape)


def _check_same_shape(first, second, first_name: str, second_name: str) -> None:
    """Raise ``ValueError`` when two statically known shapes differ."""
    shape_a, shape_b = _static_shape(first), _static_shape(second)
    if len(shape_a) != len(shape_b) or any(
        a is not None and b is not None and a != b
        for a, b in zip(shape_a, shape_b, strict=False)
    ):
        raise ValueError(
            f"{first_name} has shape {shape_a} but {second_name} has shape "
            f"{shape_b}; pass arrays of the same shape (reshape one of them, for "
            f"example images.reshape(logits.shape))."
        )


def _check_batched(tensor, name: str) -> None:
    """Raise ``ValueError`` when ``tensor`` has no batch axis."""
    if len(_static_shape(tensor)) < 1:
        raise ValueError(
            f"{name} is a scalar; pass a batch with shape (batch, ...), for "
            f"example {name}[None] for a single example."
        )


def discriminator_loss(real_logits, fake_logits):
    """Return the discriminator's binary cross-entropy, computed from logits.

    The loss is ``mean(-log D(x)) + mean(-log(1 - D(G(z))))`` with
    ``D = sigmoid(logit)``, that is ``mean(softplus(-r)) + mean(softplus(f))``.
    The two batches may differ in size: each term is its own batch mean.

    Args:
        real_logits: Discriminator logits on real images, shape ``(batch,)`` or
            ``(batch, 1)``.
        fake_logits: Discriminator logits on generated images, same layout.

    Returns:
        A scalar tensor.

    Introduced in notebooks/02_gan_loss_derivation.ipynb.
    """
    real_logits = _as_float(real_logits)
    fake_logits = _as_float(fake_logits, real_logits.dtype)
    real_term = ops.mean(ops.softplus(-real_logits))
    fake_term = ops.mean(ops.softplus(fake_logits))
    return real_term + fake_term


def generator_loss(fake_logits, kind: str = "non_saturating"):
    """Return the generator's loss on the discriminator's logits for fakes.

    Args:
        fake_logits: Discriminator logits on generated images.
        kind: ``"non_saturating"`` (the default, what GANs are trained with):
            ``mean(-log D(G(z))) = mean(softplus(-f))``. ``"minimax"``: the
            generator's side of the value function, ``mean(log(1 - D(G(z))))
            = mean(-softplus(f))``, whose gradient vanishes when ``D(G(z))``
            is near 0.

    Returns:
        A scalar tensor, the quantity the generator minimises.

    Raises:
        ValueError: If ``kind`` is not one of ``GENERATOR_LOSS_KINDS``.

    Introduced in notebooks/02_gan_loss_derivation.ipynb.
    """
    if kind not in GENERATOR_LOSS_KINDS:
        valid = ", ".join(repr(name) for name in GENERATOR_LOSS_KINDS)
        raise ValueError(f"Unknown generator loss kind {kind!r}; use one of {valid}.")
    fake_logits = _as_float(fake_logits)
    if kind == "non_saturating":
        return ops.mean(ops.softplus(-fake_logits))
    return ops.mean(-ops.softplus(fake_logits))


def gaussian_kl(mean, logvar):
    """Return KL(N(mean, exp(logvar)) || N(0, I)) for each example.

    The closed form, summed over the latent dimensions, is
    ``0.5 * sum(exp(logvar) + mean**2 - 1 - logvar)``.

    Args:
        mean: Encoder means, shape ``(batch, latent_dim)``.
        logvar: Encoder log-variances, the same shape.

    Returns:
        A tensor of shape ``(batch,)``.

    Raises:
        ValueError: If the shapes differ or have no batch axis.

    Introduced in notebooks/03_vae_elbo.ipynb.
    """
    mean = _as_float(mean)
    logvar = _as_float(logvar, mean.dtype)
    _check_batched(mean, "mean")
    _check_same_shape(mean, logvar, "mean", "logvar")
    per_dim = 0.5 * (ops.exp(logvar) + ops.square(mean) - 1.0 - logvar)
    axes = tuple(range(1, len(per_dim.shape)))
    return ops.sum(per_dim, axis=axes) if axes else per_dim


def bernoulli_nll(x, logits):
    """Return the Bernoulli negative log-likelihood of ``x`` for each example.

    ``-log p(x | logits) = sum(softplus(l) - x * l)`` over every non-batch axis,
    which is finite for any logit and also accepts targets in [0, 1] (the
    continuous relaxation used for grey MNIST pixels).

    Args:
        x: Targets in [0, 1], shape ``(batch, ...)``.
        logits: Decoder logits, the same shape as ``x``.

    Returns:
        A tensor of shape ``(batch,)``.

    Raises:
        ValueError: If the shapes differ or have no batch axis.

    Introduced in notebooks/03_vae_elbo.ipynb.
    """
    logits = _as_float(logits)
    x = _as_float(x, logits.dtype)
    _check_batched(logits, "logits")
    _check_same_shape(x, logits, "x", "logits")
    per_element = ops.softplus(logits) - x * logits
    axes = tuple(range(1, len(per_element.shape)))
    return ops.sum(per_element, axis=axes) if axes else per_element


def negative_elbo(x, logits, mean, logvar, beta: float = 1.0):
    """Return the batch mean of ``bernoulli_nll + beta * gaussian_kl``.

    With ``beta = 1`` this is the negative evidence lower bound of a VAE with a
    Bernoulli decoder and a standard normal prior; ``beta > 1`` is the beta-VAE.

    Args:
        x: Targets in [0, 1], shape ``(batch, ...)``.
        logits: Decoder logits, the same shape as ``x``.
        mean: Encoder means, shape ``(batch, latent_dim)``.
        logvar: Encoder log-variances, the same shape as ``mean``.
        beta: The weight of the KL term, a non-negative number.

    Returns:
        A scalar tensor.

    Raises:
        ValueError: If a shape is inconsistent or ``beta`` is negative.

    Introduced in notebooks/03_vae_elbo.ipynb.
    """
    if isinstance(beta, int | float | np.floating) and beta < 0:
        raise ValueError(f"beta must be non-negative, got {beta}; use beta >= 0.")
    reconstruction = bernoulli_nll(x, logits)
    kl = gaussian_kl(mean, ops.cast(_as_float(logvar), reconstruction.dtype))
    batch_x, batch_z = reconstruction.shape[0], kl.shape[0]
    if batch_x is not None and batch_z is not None and batch_x != batch_z:
        raise ValueError(
            f"x has batch size {batch_x} but mean has batch size {batch_z}; pass "
            f"the encoder outputs of the same batch of images."
        )
    kl = ops.cast(kl, reconstruction.dtype)
    return ops.mean(reconstruction + beta * kl)


def optimal_discriminator(p_data, p_model):
    """Return the optimal discriminator ``p_data / (p_data + p_model)``.

    Where both densities are 0, no sample ever lands, the value function does not
    depend on D there, and this function returns 1/2 (the prediction of a
    discriminator that cannot tell the two apart).

    Args:
        p_data: Density (or probability) of the data at some points, >= 0.
        p_model: Density of the generator at the same points, >= 0.

    Returns:
        A tensor with the broadcast shape of the inputs, values in [0, 1].

    Raises:
        ValueError: If a concrete (NumPy or eager) input is negative.

    Introduced in notebooks/02_gan_loss_derivation.ipynb.
    """
    p_data = _as_float(p_data)
    p_model = _as_float(p_model, p_data.dtype)
    for name, value in (("p_data", p_data), ("p_model", p_model)):
        try:
            negative = bool(np.any(ops.convert_to_numpy(value) < 0))
        except Exception:  # noqa: BLE001 - symbolic tensors cannot be inspected.
            negative = False
        if negative:
            raise ValueError(
                f"{name} has negative entries; pass densities (>= 0), not "
                f"log-densities (exponentiate them first)."
            )
    total = p_data + p_model
    positive = total > 0
    safe_total = ops.where(positive, total, ops.ones_like(total))
    return ops.where(positive, p_data / safe_total, 0.5 * ops.ones_like(total))
