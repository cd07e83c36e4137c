"""Checks of the build exercises of notebooks/06_vae_training.ipynb,
the learner's VAE: encoder, sample, decoder, loss and train_step.

Introduced in notebooks/06_vae_training.ipynb.
"""

from __future__ import annotations

__all__: list[str] = []
