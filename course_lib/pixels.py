"""Images in, images out: the one validator of digit batches, scaling and binarising.

Accepted everywhere in the course:

- ``uint8`` pixels ``0..255`` (what ``data.load_mnist()`` returns), with
  ``value_range=None``;
- floating-point images in the range they name: ``value_range="0,1"`` (VAE
  means, ``binarize`` output) or ``value_range="-1,1"`` (a tanh generator).
  Floats without a ``value_range`` are refused, because guessing the range
  silently turns a good generator into noise for the classifier.

Shapes ``(n, 28, 28)`` and ``(n, 28, 28, 1)`` are both accepted. Anything else
raises a ``ValueError`` that names the fix.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import numpy as np

IMAGE_SHAPE = (28, 28)
VALUE_RANGES = ("0,1", "-1,1")


def check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """Validate a batch of MNIST-like images and return it as an array.

    Args:
        images: An array of shape (n, 28, 28) or (n, 28, 28, 1).
        name: What to call the array in error messages.

    Returns:
        The same images as a NumPy array.

    Raises:
        ValueError: If the shape is not one of the two above.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1:] == (*IMAGE_SHAPE, 1):
        return images
    if images.ndim == 3 and images.shape[1:] == IMAGE_SHAPE:
        return images
    raise ValueError(
        f"{name} must have shape (n, 28, 28) or (n, 28, 28, 1), got {images.shape}. "
        "Fix: pass a batch of 28x28 greyscale images, e.g. `x[None]` for one image."
    )


def to_unit_range(images, value_range: str | None = None) -> np.ndarray:
    """Validate images and return them as float32 in [0, 1], shape (n, 28, 28, 1).

    Args:
        images: ``uint8`` pixels 0..255, or floats in the range named by
            ``value_range``; shape (n, 28, 28) or (n, 28, 28, 1), n >= 1.
        value_range: ``None`` for uint8 images; ``"0,1"`` or ``"-1,1"`` for
            floating-point images.

    Returns:
        float32 array of shape (n, 28, 28, 1) with values in [0, 1].

    Raises:
        ValueError: On a wrong shape, dtype, range name, or values outside the
            stated range; the message names the fix.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    if hasattr(images, "numpy"):
        images = images.numpy()
    images = check_images(images)
    if len(images) == 0:
        raise ValueError("images is empty; pass at least one image.")
    if value_range is not None and value_range not in VALUE_RANGES:
        raise ValueError(
            f"value_range must be None (uint8 0..255), '0,1' or '-1,1', got "
            f"{value_range!r}."
        )
    if images.dtype == np.uint8:
        if value_range is not None:
            raise ValueError(
                f"images are uint8 (0..255) but value_range={value_range!r} was "
                "given. Fix: leave value_range=None for uint8 images."
            )
        unit = images.astype(np.float32) / 255.0
    elif np.issubdtype(images.dtype, np.floating):
        if value_range is None:
            raise ValueError(
                f"images are {images.dtype} but no value_range was given. Fix: pass "
                "value_range='0,1' (VAE outputs, binarised digits) or "
                "value_range='-1,1' (a tanh generator)."
            )
        unit = images.astype(np.float32)
        if value_range == "-1,1":
            unit = (unit + 1.0) / 2.0
        if not np.all(np.isfinite(unit)):
            raise ValueError("images contain NaN or infinite values; fix the model.")
        low, high = float(unit.min()), float(unit.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(
                f"images are outside the stated range {value_range} (after mapping "
                f"to [0, 1] they span [{low:.3g}, {high:.3g}]). Fix: pass the right "
                "value_range, or clip/scale the images first."
            )
        unit = np.clip(unit, 0.0, 1.0)
    else:
        raise ValueError(
            f"images have dtype {images.dtype}; pass uint8 pixels 0..255 or float "
            "images with a value_range. Fix: images.astype('uint8') for 0..255 "
            "integers."
        )
    return unit.reshape(-1, 28, 28, 1)


def scale_images(images: np.ndarray, value_range: str = "-1,1") -> np.ndarray:
    """Scale uint8 images to float32 and add the channel axis.

    Args:
        images: uint8 array of shape (n, 28, 28) or (n, 28, 28, 1), values 0..255.
        value_range: ``"-1,1"`` (for a tanh generator) or ``"0,1"``.

    Returns:
        float32 array of shape (n, 28, 28, 1) in the requested range.
    """
    images = check_images(images)
    if images.dtype != np.uint8:
        raise ValueError(
            f"scale_images expects uint8 pixels 0..255, got dtype {images.dtype}. "
            "Fix: pass the arrays from load_mnist() before any scaling."
        )
    scaled = images.astype(np.float32).reshape(-1, *IMAGE_SHAPE, 1) / 255.0
    if value_range == "0,1":
        return scaled
    if value_range == "-1,1":
        return scaled * 2.0 - 1.0
    raise ValueError(f"value_range must be '-1,1' or '0,1', got {value_range!r}.")


def binarize(images: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Binarise images for the Bernoulli VAE, deterministically.

    Args:
        images: uint8 (0..255) or float (0..1) images of shape (n, 28, 28[, 1]).
        threshold: Pixels above this fraction of full brightness become 1.

    Returns:
        float32 array of shape (n, 28, 28, 1) holding only 0.0 and 1.0.
    """
    images = check_images(images)
    values = images.astype(np.float32)
    if images.dtype == np.uint8:
        values = values / 255.0
    return (values > threshold).astype(np.float32).reshape(-1, *IMAGE_SHAPE, 1)


_BATCH_FIXES = {
    "-1,1": "add the channel axis and scale to [-1, 1] with "
    "pixels.scale_images(images)",
    "0,1": "binarise with pixels.binarize(images), which also adds the channel axis",
}


def check_batch(images, where: str, value_range: str) -> None:
    """Check a batch tensor's static shape and dtype where a model receives it.

    ``fit`` traces ``train_step`` once, so this runs once per trace and costs
    nothing per step.

    Args:
        images: A tensor (or array) that should be float (batch, 28, 28, 1).
        where: Who receives it, for the message (``"GAN.fit"``).
        value_range: The range the model expects, ``"-1,1"`` or ``"0,1"``.

    Raises:
        ValueError: On another shape or a non-float dtype; the message names
            the fix.
    """
    fix = _BATCH_FIXES[value_range]
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[1:] != (*IMAGE_SHAPE, 1):
        raise ValueError(
            f"{where} expects images of shape (batch, 28, 28, 1), got {shape}. "
            f"Fix: {fix}, and pass the images alone: fit(dataset)."
        )
    dtype = getattr(images.dtype, "name", str(images.dtype))
    # NumPy does not count bfloat16 (an ml_dtypes extension) as floating.
    if dtype != "bfloat16" and not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(
            f"{where} expects float images in [{value_range.replace(',', ', ')}], "
            f"got dtype {dtype}. Fix: {fix}."
        )
