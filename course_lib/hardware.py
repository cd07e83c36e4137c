"""What the machine can do, and the fastest safe settings for it.

``recommended_settings()`` is what ``training.build_gan(precision=None, ...)`` and
``build_vae`` use when the caller leaves a choice open. Its rules come from the
measurements in notebooks/06_speed_benchmarks.ipynb.

Introduced in notebooks/06_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def gpu_names() -> list[str]:
    """Return the names of the visible GPUs (empty on a CPU-only machine)."""
    import tensorflow as tf

    return [gpu.name for gpu in tf.config.list_physical_devices("GPU")]


def fastest_safe_policy() -> str:
    """Return the Keras dtype policy that is fastest and numerically safe here.

    Returns:
        ``"mixed_float16"`` on a GPU, ``"float32"`` otherwise (to be refined by
        measurement in notebooks/06_speed_benchmarks.ipynb).
    """
    return "mixed_float16" if gpu_names() else "float32"


def recommended_settings() -> dict:
    """Return the training settings that measured fastest and safe on this machine.

    Returns:
        A dict with ``precision`` (a Keras dtype policy name), ``jit_compile``
        (bool) and ``steps_per_execution`` (int).
    """
    return {
        "precision": fastest_safe_policy(),
        "jit_compile": False,
        "steps_per_execution": 1,
    }
