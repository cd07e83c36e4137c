"""Checks of the build exercises of notebooks/05_gan_training.ipynb,
the learner's DCGAN, its train_step and its upgrades.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

__all__: list[str] = []
