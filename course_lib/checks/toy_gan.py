"""Checks of the build exercises of notebooks/04_gan_toy.ipynb,
the Keras primer and the GAN on a 2-D toy.

Introduced in notebooks/04_gan_toy.ipynb.
"""

from __future__ import annotations

__all__: list[str] = []
