"""Animated GIFs of training: write a ``training.SampleGrid``'s frames, preview them.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, ImageSequence


def write_gif(frames, path, duration_ms: int = 250, scale: int = 1):
    """Write uint8 frames as an animated GIF (loops forever).

    Args:
        frames: A list of uint8 arrays of equal shape (H, W).
        path: The output file.
        duration_ms: Display time of each frame.
        scale: Integer upscaling factor (nearest neighbour).

    Returns:
        The path written.
    """
    if len(frames) == 0:
        raise ValueError("write_gif needs at least one frame; record some first.")
    images = []
    for frame in frames:
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 2:
            raise ValueError(
                f"Each frame must be a uint8 (H, W) array, got {frame.dtype} "
                f"{frame.shape}. Fix: use plotting.tile_images()."
            )
        image = Image.fromarray(frame, mode="L")
        if scale > 1:
            image = image.resize(
                (frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST
            )
        images.append(image)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=0,
        optimize=True,
    )
    return path


def gif_preview(path, max_frames: int = 12, shrink: int = 1) -> bytes:
    """Return a lighter copy of a GIF for embedding in a notebook.

    Args:
        path: A GIF written by :func:`write_gif`.
        max_frames: Keep at most this many frames, evenly spaced, always
            including the first and the last.
        shrink: Integer downscaling factor (1 keeps the size).

    Returns:
        The bytes of the new GIF. Each kept frame is shown twice as long as in
        the original, since fewer frames are kept; it loops forever.
    """
    with Image.open(path) as gif:
        duration = gif.info.get("duration", 250)
        frames = [frame.convert("L") for frame in ImageSequence.Iterator(gif)]
    keep = np.unique(np.linspace(0, len(frames) - 1, min(max_frames, len(frames))))
    frames = [frames[int(index)] for index in keep]
    if shrink > 1:
        width, height = frames[0].size
        frames = [f.resize((width // shrink, height // shrink)) for f in frames]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=duration * 2,
        loop=0,
        optimize=True,
    )
    return buffer.getvalue()
