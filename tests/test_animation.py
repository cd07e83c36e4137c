"""Tests for course_lib.animation: training GIFs and their previews."""

import numpy as np
import pytest
from PIL import Image

from course_lib import animation


def test_write_gif_round_trip(tmp_path):
    frames = [np.full((5, 7), value, np.uint8) for value in (0, 120, 255)]
    path = animation.write_gif(frames, tmp_path / "training.gif", scale=2)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        assert gif.size == (14, 10)
        gif.seek(2)
        assert np.asarray(gif.convert("L")).max() == 255
    with pytest.raises(ValueError, match="uint8"):
        animation.write_gif([np.zeros((5, 7), np.float32)], tmp_path / "bad.gif")
    with pytest.raises(ValueError, match="at least one frame"):
        animation.write_gif([], tmp_path / "empty.gif")


def test_gif_preview_keeps_first_and_last_frames(tmp_path):
    frames = [np.full((4, 6), 10 * value, np.uint8) for value in range(20)]
    path = animation.write_gif(frames, tmp_path / "long.gif", scale=2)
    preview = tmp_path / "preview.gif"
    preview.write_bytes(animation.gif_preview(path, max_frames=5, shrink=2))
    with Image.open(preview) as gif:
        assert gif.n_frames == 5 and gif.size == (6, 4)
        assert np.asarray(gif.convert("L"))[0, 0] == 0
        gif.seek(4)
        assert np.asarray(gif.convert("L"))[0, 0] == 190
