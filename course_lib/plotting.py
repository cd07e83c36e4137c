"""Figures shared by the training notebooks: image grids, loss curves, strips, bars.

Every figure is small (at most 10 x 4 inches, 80 dpi) so that committed notebooks
stay light.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

from statistics import NormalDist

import matplotlib.pyplot as plt
import numpy as np

FIGURE_DPI = 80
VALUE_RANGES = ("-1,1", "0,1")


def to_uint8(images, value_range: str = "-1,1") -> np.ndarray:
    """Convert float images to uint8 pixels, shape (n, 28, 28).

    Args:
        images: Float array of shape (n, H, W) or (n, H, W, 1).
        value_range: ``"-1,1"`` (tanh generator) or ``"0,1"`` (VAE means).

    Returns:
        uint8 array of shape (n, H, W).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(
            f"images must have shape (n, H, W) or (n, H, W, 1), got {images.shape}. "
            "Fix: pass a batch, e.g. image[None] for one image."
        )
    if value_range == "-1,1":
        images = (images + 1.0) / 2.0
    elif value_range != "0,1":
        raise ValueError(
            f"value_range must be one of {VALUE_RANGES}, got {value_range!r}."
        )
    return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


def tile_images(images, columns: int = 8, value_range: str = "-1,1", pad: int = 1):
    """Tile a batch of images into one uint8 mosaic.

    Args:
        images: Float images, shape (n, H, W[, 1]).
        columns: Images per row.
        value_range: As for :func:`to_uint8`.
        pad: Pixels of black border between images.

    Returns:
        uint8 array of shape (rows * (H + pad) + pad, columns * (W + pad) + pad).
    """
    pixels = to_uint8(images, value_range)
    count, height, width = pixels.shape
    columns = max(1, min(int(columns), count))
    rows = -(-count // columns)
    mosaic = np.zeros(
        (rows * (height + pad) + pad, columns * (width + pad) + pad), dtype=np.uint8
    )
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = pad + row * (height + pad), pad + column * (width + pad)
        mosaic[top : top + height, left : left + width] = pixels[index]
    return mosaic


def image_grid(
    images, columns=8, value_range="-1,1", title=None, labels=None, size=1.0
):
    """Show a batch of images as a grid in one small figure.

    Args:
        images: Float images, shape (n, H, W[, 1]).
        columns: Images per row.
        value_range: As for :func:`to_uint8`.
        title: Figure title.
        labels: Optional per-image captions (length n).
        size: Inches per image (the figure is capped at 10 x 4 inches).

    Returns:
        The matplotlib figure.
    """
    pixels = to_uint8(images, value_range)
    count = len(pixels)
    columns = max(1, min(int(columns), count))
    rows = -(-count // columns)
    figsize = (min(10.0, columns * size), min(4.0, rows * size + (0.3 if title else 0)))
    fig, axes = plt.subplots(
        rows, columns, figsize=figsize, dpi=FIGURE_DPI, squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < count:
            ax.imshow(pixels[index], cmap="gray", vmin=0, vmax=255)
            if labels is not None:
                ax.set_title(str(labels[index]), fontsize=7, pad=1)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.2)
    return fig


def loss_curves(
    history: dict,
    keys=None,
    title="Training curves",
    secondary=None,
    ylabel="epoch mean (nats per image for the losses)",
):
    """Plot per-epoch metrics from a Keras history dict.

    Args:
        history: Metric name to per-epoch values (``fit(...).history``).
        keys: The metrics on the left panel (default: every key with "loss").
        title: Figure title.
        secondary: Metrics for a right panel (e.g. ``["D(x)", "D(G(z))"]``).
        ylabel: The left panel's y-axis label (the right one is a probability).

    Returns:
        The matplotlib figure.
    """
    keys = keys or [k for k in history if "loss" in k]
    panels = 2 if secondary else 1
    fig, axes = plt.subplots(
        1, panels, figsize=(4.5 * panels, 3), dpi=FIGURE_DPI, squeeze=False
    )
    for ax, names in zip(axes[0], [keys, secondary or []], strict=False):
        for name in names:
            values = history[name]
            ax.plot(np.arange(1, len(values) + 1), values, label=name)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel, fontsize=8)
    if secondary:
        axes[0][1].set_ylabel("mean D output (probability)", fontsize=8)
    axes[0][0].set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def interpolation_strips(rows: dict, value_range="-1,1", title=None):
    """Show several interpolation strips, one labelled row each.

    Args:
        rows: Row label to images (n, H, W[, 1]), all rows of equal length.
        value_range: As for :func:`to_uint8`.
        title: Figure title.

    Returns:
        The matplotlib figure.
    """
    labels = list(rows)
    strips = [to_uint8(rows[label], value_range) for label in labels]
    steps = len(strips[0])
    fig, axes = plt.subplots(
        len(strips),
        steps,
        dpi=FIGURE_DPI,
        squeeze=False,
        figsize=(min(10.0, 0.8 * steps + 0.8), 0.9 * len(strips) + 0.3),
    )
    for row, (label, strip) in enumerate(zip(labels, strips, strict=True)):
        for column in range(steps):
            ax = axes[row][column]
            ax.imshow(strip[column], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row][0].set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.2)
    return fig


def class_bars(counts, title="Generated digits by predicted class", max_share=None):
    """Draw a class histogram as shares, with an optional limit line.

    Args:
        counts: Ten counts (``evaluation.class_histogram`` output).
        title: Figure title.
        max_share: Draw a horizontal line at this share (e.g. 0.2).

    Returns:
        The matplotlib figure.
    """
    counts = np.asarray(counts, dtype=np.float64)
    shares = counts / max(counts.sum(), 1.0)
    fig, ax = plt.subplots(figsize=(5, 2.5), dpi=FIGURE_DPI)
    ax.bar(np.arange(len(shares)), shares, color="tab:blue")
    ax.axhline(0.1, color="gray", lw=0.8, ls=":", label="uniform 10%")
    if max_share is not None:
        ax.axhline(
            max_share, color="tab:red", lw=0.8, ls="--", label=f"limit {max_share:.0%}"
        )
    ax.set_xticks(np.arange(len(shares)))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("share of samples")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------- VAE figures (nb 05)


def normal_quantile_grid(steps: int = 15, low: float = 0.05, high: float = 0.95):
    """Return ``steps`` standard-normal quantiles from ``low`` to ``high``.

    Spacing the manifold grid by quantiles (not evenly in z) gives each row and
    column the same prior probability mass, as in Kingma and Welling (2014).

    Args:
        steps: How many values.
        low: The first probability, in (0, 1).
        high: The last probability, in (0, 1).

    Returns:
        float32 array of shape (steps,).

    Introduced in notebooks/07_vae_training.ipynb.
    """
    if not 0 < low < high < 1:
        raise ValueError(f"need 0 < low < high < 1, got low={low}, high={high}.")
    normal = NormalDist()
    return np.array(
        [normal.inv_cdf(p) for p in np.linspace(low, high, steps)], np.float32
    )


def manifold_grid(decode_means, steps: int = 15, title=None):
    """Decode a grid of 2-D latent points and show the images as one mosaic.

    Args:
        decode_means: A function from (n, 2) latents to images in [0, 1], such as
            ``vae.decode_means`` of a 2-D VAE.
        steps: Grid points per axis (z0 left to right, z1 bottom to top).
        title: Figure title.

    Returns:
        The matplotlib figure.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    values = normal_quantile_grid(steps)
    z0, z1 = np.meshgrid(values, values[::-1])
    latent = np.stack([z0.ravel(), z1.ravel()], axis=1).astype(np.float32)
    images = np.asarray(decode_means(latent), np.float32)
    if images.shape[0] != steps * steps:
        raise ValueError("decode_means must return one image per latent point.")
    mosaic = tile_images(images, columns=steps, value_range="0,1", pad=0)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=FIGURE_DPI)
    extent = (values[0], values[-1], values[0], values[-1])
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, extent=extent)
    ax.set_xlabel("z[0] (normal quantiles 5%..95%)", fontsize=8)
    ax.set_ylabel("z[1]", fontsize=8)
    ax.set_title(title or "Decoder means over the 2-D latent grid", fontsize=9)
    fig.tight_layout()
    return fig


def latent_scatter(latent, labels, title=None, limit: float = 4.0):
    """Scatter 2-D latent codes (encoder means), coloured by their true digit.

    Args:
        latent: Array of shape (n, 2).
        labels: True digits, shape (n,).
        title: Figure title.
        limit: Axis limits +-limit (points outside are clipped to the frame).

    Returns:
        The matplotlib figure.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    latent = np.asarray(latent, np.float32)
    labels = np.asarray(labels)
    if latent.ndim != 2 or latent.shape[1] != 2 or len(labels) != len(latent):
        raise ValueError(
            f"latent must have shape (n, 2) with n labels; got {latent.shape} and "
            f"{labels.shape}. Fix: use the encoder means of a 2-D VAE."
        )
    fig, ax = plt.subplots(figsize=(5, 4), dpi=FIGURE_DPI)
    points = ax.scatter(
        np.clip(latent[:, 0], -limit, limit),
        np.clip(latent[:, 1], -limit, limit),
        c=labels,
        cmap="tab10",
        vmin=-0.5,
        vmax=9.5,
        s=6,
        alpha=0.8,
    )
    colorbar = fig.colorbar(points, ax=ax, ticks=range(10))
    colorbar.set_label("true digit", fontsize=8)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_xlabel("z[0]", fontsize=8)
    ax.set_ylabel("z[1]", fontsize=8)
    ax.set_title(title or "Encoder means of test digits", fontsize=9)
    fig.tight_layout()
    return fig


def reconstructions_and_samples(originals, reconstructions, samples, title=None):
    """Show inputs, their reconstructions and prior samples in labelled rows.

    The rows answer different questions: a reconstruction ``decode(encode(x))``
    shows how much of a given digit survives the latent bottleneck; a prior
    sample ``decode(z)``, ``z ~ N(0, I)``, shows what the model generates on its
    own. Mixing them up overstates a VAE's quality.

    Args:
        originals: Test digits in [0, 1], (n, 28, 28[, 1]).
        reconstructions: Their reconstructions, same shape.
        samples: Prior samples, (n, 28, 28[, 1]).
        title: Figure title.

    Returns:
        The matplotlib figure.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    rows = {
        "test digit x": originals,
        "reconstruction\ndecode(encode(x))": reconstructions,
        "prior sample\ndecode(z), z~N(0,I)": samples,
    }
    figure = interpolation_strips(rows, value_range="0,1", title=title)
    for ax in figure.axes:
        ax.yaxis.label.set_rotation(0)
        ax.yaxis.label.set_horizontalalignment("right")
        ax.yaxis.label.set_fontsize(7)
    figure.tight_layout(pad=0.2)
    return figure
