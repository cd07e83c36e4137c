"""Interactive explorers (ipywidgets) that also leave a static figure behind.

A widget only works in a live kernel: on GitHub, or in a notebook opened without
its kernel, it shows nothing. So every explorer here also draws a static
matplotlib figure of the same kind of sweep, which the committed notebook shows.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import io

import ipywidgets
import numpy as np
from PIL import Image

from course_lib import latents, plotting

IMAGE_SCALE = 6


def base_latent(
    latent_dim: int, seed: int, clusters: int = 0, cluster: int = 0
) -> np.ndarray:
    """Return the latent vector fixed by ``seed``, shape (latent_dim,).

    The first vector of ``latents.fixed_latents`` for that seed: standard
    normal, or, for a GAN conditioned on ``clusters`` clusters, noise followed by
    the one-hot vector of ``cluster``.
    """
    ids = [cluster] if clusters else None
    return latents.fixed_latents(1, latent_dim, seed, clusters, cluster_ids=ids)[0]


def decode(generator, latent, value_range: str = "-1,1") -> np.ndarray:
    """Run a generator (or decoder) on latent vectors and return uint8 images.

    Args:
        generator: A Keras model mapping (n, latent_dim) to (n, 28, 28, 1).
        latent: Array of shape (n, latent_dim) or (latent_dim,).
        value_range: The model's output range, ``"-1,1"`` or ``"0,1"``.

    Returns:
        uint8 array of shape (n, 28, 28).
    """
    latent = np.asarray(latent, dtype=np.float32)
    if latent.ndim == 1:
        latent = latent[None]
    images = generator(latent, training=False)
    return plotting.to_uint8(np.asarray(images, dtype=np.float32), value_range)


def sweep_figure(
    generator,
    latent_dim,
    seeds=(0, 1, 2),
    dimension=0,
    values=(-2.0, -1.0, 0.0, 1.0, 2.0),
    value_range="-1,1",
    clusters=0,
    cluster=0,
):
    """Draw the static version of the explorer: one latent coordinate swept per seed.

    Each row starts from the latent vector of one seed and sets coordinate
    ``dimension`` to each of ``values`` (what moving one slider does).

    Args:
        generator: The generator (or decoder).
        latent_dim: Its latent size.
        seeds: One row per seed.
        dimension: The coordinate that is swept.
        values: The values it takes.
        value_range: The generator's output range.
        clusters: Number of clusters of a conditioned generator (0: none).
        cluster: The cluster id every row keeps.

    Returns:
        The matplotlib figure.
    """
    rows = {}
    for seed in seeds:
        start = base_latent(latent_dim, seed, clusters, cluster)
        latents = np.repeat(start[None], len(values), axis=0)
        latents[:, dimension] = values
        images = decode(generator, latents, value_range)
        rows[f"seed {seed}"] = images.astype(np.float32) / 255.0
    title = (
        f"z[{dimension}] = " + ", ".join(f"{v:g}" for v in values) + " (left to right)"
    )
    return plotting.interpolation_strips(rows, value_range="0,1", title=title)


def cluster_sweep_figure(
    generator, clusters, seeds=(0, 1, 2), latent_dim=None, value_range="-1,1"
):
    """Draw every cluster id of a conditioned generator, one row per noise seed.

    Each row keeps the noise of one seed and sets the cluster id to 0, 1, ...,
    ``clusters - 1`` (what moving the explorer's cluster slider does).

    Args:
        generator: A generator trained conditioned on clusters.
        clusters: Their number.
        seeds: One row per seed.
        latent_dim: Its latent size (read from the model when ``None``).
        value_range: The generator's output range.

    Returns:
        The matplotlib figure.
    """
    if latent_dim is None:
        latent_dim = int(generator.inputs[0].shape[-1])
    rows = {}
    for seed in seeds:
        latents = np.stack(
            [base_latent(latent_dim, seed, clusters, c) for c in range(clusters)]
        )
        rows[f"seed {seed}"] = decode(generator, latents, value_range) / 255.0
    title = f"cluster 0 .. {clusters - 1} (left to right), same noise in each row"
    return plotting.interpolation_strips(rows, value_range="0,1", title=title)


def _png(image: np.ndarray) -> bytes:
    picture = Image.fromarray(image, mode="L")
    picture = picture.resize(
        (image.shape[1] * IMAGE_SCALE, image.shape[0] * IMAGE_SCALE), Image.NEAREST
    )
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def latent_explorer(
    generator,
    latent_dim=None,
    sliders=4,
    seed=0,
    value_range="-1,1",
    show_static=True,
    clusters=0,
):
    """Build a seed + latent-slider explorer; optionally draw its static figure too.

    The seed picks a latent vector z; the sliders override its first
    ``sliders`` coordinates (range -3..3, i.e. +-3 prior standard deviations).
    For a generator conditioned on ``clusters`` clusters, a cluster slider picks
    the cluster id, and the static figure is :func:`cluster_sweep_figure`.

    Args:
        generator: The generator (or decoder).
        latent_dim: Its latent size (read from the model when ``None``).
        sliders: How many latent coordinates get a slider.
        seed: The initial seed.
        value_range: The generator's output range.
        show_static: Also draw :func:`sweep_figure` (for readers without a
            kernel, such as GitHub).
        clusters: Number of clusters of a conditioned generator (0: none).

    Returns:
        ``(widget, figure)``; ``figure`` is ``None`` when ``show_static`` is off.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    if latent_dim is None:
        latent_dim = int(generator.inputs[0].shape[-1])
    noise_dim = latent_dim - clusters
    if not isinstance(sliders, int) or not 1 <= sliders <= noise_dim:
        raise ValueError(
            f"sliders must be an integer in 1..{noise_dim}, got {sliders!r}."
        )
    seed_slider = ipywidgets.IntSlider(value=seed, min=0, max=999, description="seed")
    cluster_slider = ipywidgets.IntSlider(
        value=0, min=0, max=max(clusters - 1, 0), description="cluster"
    )
    coordinate_sliders = [
        ipywidgets.FloatSlider(
            value=0.0, min=-3.0, max=3.0, step=0.1, description=f"z[{index}]"
        )
        for index in range(sliders)
    ]
    picture = ipywidgets.Image(format="png")

    def current_latent():
        cluster = cluster_slider.value
        return base_latent(latent_dim, seed_slider.value, clusters, cluster)

    def refresh_sliders(change=None):
        latent = current_latent()
        for index, slider in enumerate(coordinate_sliders):
            slider.unobserve(redraw, names="value")
            slider.value = float(np.clip(np.round(latent[index], 1), -3.0, 3.0))
            slider.observe(redraw, names="value")
        redraw()

    def redraw(change=None):
        latent = current_latent()
        for index, slider in enumerate(coordinate_sliders):
            latent[index] = slider.value
        picture.value = _png(decode(generator, latent, value_range)[0])

    for slider in coordinate_sliders:
        slider.observe(redraw, names="value")
    seed_slider.observe(refresh_sliders, names="value")
    cluster_slider.observe(redraw, names="value")
    refresh_sliders()
    controls = [seed_slider, *([cluster_slider] if clusters else [])]
    controls += coordinate_sliders
    widget = ipywidgets.HBox([ipywidgets.VBox(controls), picture])
    if not show_static:
        figure = None
    elif clusters:
        figure = cluster_sweep_figure(
            generator, clusters, latent_dim=latent_dim, value_range=value_range
        )
    else:
        figure = sweep_figure(generator, latent_dim, value_range=value_range)
    return widget, figure


# ------------------------------------------------------ VAE explorer (nb 05)


def latent_2d_explorer(decode_means, limit: float = 3.0, show_static=True):
    """Build a two-slider explorer of a 2-D latent space; optionally its static figure.

    Moving the sliders moves a point z = (z[0], z[1]); the picture shows the
    decoder's Bernoulli means at z. The static figure is the manifold grid
    (``plotting.manifold_grid``), which shows the same map for readers without a
    kernel.

    Args:
        decode_means: A function from (n, 2) latents to images in [0, 1], such
            as ``vae.decode_means`` of a 2-D VAE.
        limit: Slider range +-limit (prior standard deviations).
        show_static: Also draw the manifold grid.

    Returns:
        ``(widget, figure)``; ``figure`` is ``None`` when ``show_static`` is off.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    if not limit > 0:
        raise ValueError(f"limit must be positive, got {limit!r}.")
    sliders = [
        ipywidgets.FloatSlider(
            value=0.0, min=-limit, max=limit, step=0.1, description=f"z[{index}]"
        )
        for index in range(2)
    ]
    picture = ipywidgets.Image(format="png")

    def redraw(change=None):
        latent = np.array([[sliders[0].value, sliders[1].value]], np.float32)
        images = np.asarray(decode_means(latent), np.float32)
        picture.value = _png(plotting.to_uint8(images, "0,1")[0])

    for slider in sliders:
        slider.observe(redraw, names="value")
    redraw()
    widget = ipywidgets.HBox([ipywidgets.VBox(sliders), picture])
    figure = (
        plotting.manifold_grid(
            decode_means, title="Static view: the decoder over the 2-D latent grid"
        )
        if show_static
        else None
    )
    return widget, figure
