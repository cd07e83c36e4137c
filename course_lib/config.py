"""Profiles, seeds and paths: the settings every notebook reads first.

A *profile* fixes the sizes of a run (how many training images, how many samples
to evaluate; each shipped model's training steps are in its recipe). The quick
profile is what CI runs; the full profile is what a learner runs. A profile
changes sizes, never the code path.

Introduced in notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

# The one place that names the course's public repository. Notebook badges and the
# Colab bootstrap cell must use the same URL; tests/test_notebook_hygiene.py
# checks that they do.
REPO_URL = "https://github.com/open-ml-course/gans-and-vaes"
REPO_SLUG = "open-ml-course/gans-and-vaes"
REPO_BRANCH = "main"

PROFILE_ENV_VAR = "COURSE_PROFILE"
DEFAULT_PROFILE = "full"
DEFAULT_SEED = 42
# What an exercise check prints for a cell that still holds the student stub.
NOT_IMPLEMENTED = "not implemented yet: replace `raise NotImplementedError` with yours."


@dataclasses.dataclass(frozen=True)
class Profile:
    """The sizes of one kind of run.

    The training budgets (optimizer steps) and batch sizes of the shipped models
    belong to their recipes (``course_lib.recipes``), one value per profile.

    Args:
        name: The profile's name, ``"quick"`` or ``"full"``.
        train_images: How many training images the training notebooks use
            (``None`` means every image the data source provides).
        eval_samples: How many generated samples the evaluations use.
        mc_samples: Monte Carlo samples for the numerical checks of the math
            notebooks.
        bench_seconds: Length of one timed window in the speed benchmarks.
    """

    name: str
    train_images: int | None
    eval_samples: int
    mc_samples: int
    bench_seconds: float

    @property
    def is_quick(self) -> bool:
        """Whether this is the small profile that CI runs."""
        return self.name == "quick"


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        train_images=512,
        eval_samples=200,
        mc_samples=20_000,
        bench_seconds=0.1,
    ),
    "full": Profile(
        name="full",
        train_images=None,
        eval_samples=1_000,
        mc_samples=400_000,
        bench_seconds=2.0,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """Return the profile named by ``name`` or by the ``COURSE_PROFILE`` variable.

    Args:
        name: ``"quick"`` or ``"full"``. When ``None``, the environment variable
            ``COURSE_PROFILE`` is read, and ``"full"`` is used if it is unset.

    Returns:
        The frozen :class:`Profile`.

    Raises:
        ValueError: If the name is not a known profile.
    """
    if name is None:
        name = os.environ.get(PROFILE_ENV_VAR, "").strip() or DEFAULT_PROFILE
    key = str(name).strip().lower()
    if key not in PROFILES:
        valid = ", ".join(sorted(PROFILES))
        raise ValueError(
            f"Unknown profile {name!r}. Valid profiles are: {valid}. "
            f"Set {PROFILE_ENV_VAR}=quick (CI, a few hundred images) or "
            f"{PROFILE_ENV_VAR}=full (real training), or pass one of those names."
        )
    return PROFILES[key]


def seed_everything(seed: int = DEFAULT_SEED, deterministic: bool = True) -> int:
    """Seed Python, NumPy, TensorFlow and Keras: the one place where seeds are set.

    Args:
        seed: The seed. The same profile and seed give the same quick-profile
            numbers.
        deterministic: Also ask TensorFlow for deterministic kernels, which makes
            repeated runs bit-identical on the CPU at a small cost in speed.

    Returns:
        The seed, so that a notebook can print it.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        tf.config.experimental.disable_op_determinism()
    return seed


def repo_root() -> Path:
    """Return the root of the course repository.

    Works from ``notebooks/``, from ``tests/``, from an editable install and on
    Colab (where the bootstrap cell clones the repository). ``COURSE_ROOT``
    overrides the search.

    Returns:
        The folder that holds ``pyproject.toml`` and ``course_lib/``.
    """
    override = os.environ.get("COURSE_ROOT")
    if override:
        return Path(override).expanduser().resolve()
    here = Path(__file__).resolve().parent
    for candidate in (here.parent, Path.cwd(), *Path.cwd().parents):
        if (candidate / "pyproject.toml").is_file() and (
            candidate / "course_lib"
        ).is_dir():
            return candidate
    colab_clone = Path("/content") / REPO_SLUG.split("/")[-1]
    if colab_clone.is_dir():
        return colab_clone
    # An installed, non-editable package: keep data beside the working folder.
    return Path.cwd()


CHECKPOINTS_ENV_VAR = "COURSE_CHECKPOINTS"


def data_dir() -> Path:
    """Return ``data/`` in the repository (created if missing)."""
    path = repo_root() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoint_dir(name: str = "") -> Path:
    """Return ``data/checkpoints/<name>`` (created if missing).

    ``COURSE_CHECKPOINTS`` puts the checkpoints elsewhere: the browser test gives
    its kernels their own, since nbval trains the same quick models beside it.

    Args:
        name: A sub-folder, for example ``"gan_quick"``.

    Returns:
        The folder's path.
    """
    override = os.environ.get(CHECKPOINTS_ENV_VAR)
    path = Path(override).expanduser() if override else data_dir() / "checkpoints"
    if name:
        path = path / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def in_colab() -> bool:
    """Return whether the code runs inside Google Colab."""
    return "COLAB_RELEASE_TAG" in os.environ or "COLAB_GPU" in os.environ


def colab_url(notebook_path: str) -> str:
    """Return the *Open in Colab* address of a notebook in this repository.

    Args:
        notebook_path: The path inside the repository, such as
            ``"notebooks/00_start_here.ipynb"``.

    Returns:
        The Colab URL.
    """
    return (
        f"https://colab.research.google.com/github/{REPO_SLUG}/blob/"
        f"{REPO_BRANCH}/{notebook_path}"
    )


RETRAIN_ENV_VAR = "COURSE_RETRAIN"


def retrain_requested() -> bool:
    """Return whether ``COURSE_RETRAIN`` asks to train instead of loading weights.

    Any value other than empty or ``0`` counts as yes.
    """
    return os.environ.get(RETRAIN_ENV_VAR, "").strip() not in ("", "0")
