"""Everything about ``data/weights/``: atomic writes, sha256, manifest, checked loads.

- :func:`atomic_write` writes any file through a temporary file in the same folder
  and ``os.replace``, so a reader never sees half a file; every checkpoint, weights
  file, history and the manifest is written this way.
- ``data/weights/MANIFEST.json`` records each shipped file's sha256 and
  provenance; :func:`verified_path` refuses a missing, corrupt or changed file.
- :func:`load_checked` turns Keras's deep errors for a file of another
  architecture into one ``ValueError`` that names the fix.
- :func:`save_float16` and :func:`load_float16` store any model's weights at half
  size, which keeps the shipped files small.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py  # Keras's own reader of .weights.h5 files.
import numpy as np

from course_lib import config, replicas

MANIFEST_FILE = "MANIFEST.json"


def sha256_of(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Write ``path`` through a temporary file in its folder, then ``os.replace``.

    Args:
        path: The final file.
        write: Called with the temporary file's name; it writes the content.

    Returns:
        ``path``, as a ``Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the full suffix (".weights.h5"): Keras checks it when saving.
    suffix = path.name.split(".", 1)[1] if "." in path.name else "tmp"
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=".tmp-", suffix="." + suffix
    )
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        # mkstemp creates owner-only files; give the result ordinary permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_json(path: str | os.PathLike, record, sort_keys: bool = False) -> Path:
    """Write a JSON file atomically (see :func:`atomic_write`).

    Args:
        path: The file.
        record: A JSON-serialisable object.
        sort_keys: Sort keys and indent by 2 (the manifest's layout) rather
            than keep their order, indented by 1 (the histories' layout).
    """

    def write(temporary):
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2 if sort_keys else 1, sort_keys=sort_keys)
            if sort_keys:
                handle.write("\n")

    return atomic_write(path, write)


def read_json(path: str | os.PathLike) -> dict:
    """Return the contents of a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


# ------------------------------------------------------------------ the manifest


def weights_dir() -> Path:
    """Return ``data/weights/``, where the shipped weights live (created if missing)."""
    path = config.data_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_manifest() -> dict:
    """Return ``data/weights/MANIFEST.json``: model name -> file, sha256, provenance."""
    path = weights_dir() / MANIFEST_FILE
    return read_json(path) if path.exists() else {}


def update_manifest(key: str, entry: dict) -> dict:
    """Replace one model's record in the manifest, leaving the others alone.

    The file is re-read right before writing and replaced atomically, so two
    training commands that finish at nearly the same time keep both records.

    Args:
        key: The model's name in the manifest, such as ``"vae"``.
        entry: A JSON-serialisable dict.

    Returns:
        The whole manifest as written.
    """
    manifest = read_manifest()
    manifest[key] = entry
    write_json(weights_dir() / MANIFEST_FILE, manifest, sort_keys=True)
    return manifest


def verified_path(key: str, command: str) -> Path:
    """Return the path of a shipped weights file after checking its sha256.

    Args:
        key: The model's name in the manifest.
        command: The command that recreates the file, quoted in errors.

    Returns:
        The path of the verified ``.weights.h5`` file.

    Raises:
        ValueError: If the manifest entry or the file is missing, or the sha256
            differs from the manifest's.
    """
    entry = read_manifest().get(key)
    if not entry:
        raise ValueError(
            f"data/weights/{MANIFEST_FILE} has no entry for {key!r}. Fix: run "
            f"`{command}` to train and register the weights."
        )
    path = weights_dir() / entry["file"]
    if not path.exists():
        raise ValueError(
            f"The {key} weights data/weights/{entry['file']} are missing. Fix: run "
            f"`{command}` (or restore the file with git)."
        )
    digest = sha256_of(path)
    if digest != entry["sha256"]:
        raise ValueError(
            f"The {key} weights data/weights/{entry['file']} are corrupt or were "
            f"changed: sha256 {digest[:12]}... differs from the manifest's "
            f"{entry['sha256'][:12]}.... Fix: run `{command}` to retrain them, or "
            "restore the file with git."
        )
    return path


# ------------------------------------------------------------- weights files


def save_inference_weights(model, builder: Callable, path) -> Path:
    """Save only a model's weights (no optimizer state), atomically.

    A compiled Keras 3 model also writes its optimizer's moments into
    ``.weights.h5``, tripling the file; a fresh copy from ``builder`` holds the
    weights alone.

    Args:
        model: The trained model.
        builder: A function with no arguments that returns the same architecture.
        path: Where to write the ``.weights.h5`` file.

    Returns:
        ``path``.
    """
    fresh = builder()
    fresh.set_weights(model.get_weights())
    return atomic_write(path, fresh.save_weights)


def load_checked(model, path, mismatch: str, fix: str):
    """Load a ``.weights.h5`` file into ``model``, or raise one clear ``ValueError``.

    Keras reports a file written by another architecture as a ``ValueError`` or
    a ``KeyError`` from deep inside its HDF5 reader; either becomes
    ``"<mismatch> (<Keras's first line>). Fix: <fix>"``. Keras also loads a file
    with *more* layers than the model without a word (the extra ones are
    skipped), so the number of weight arrays is compared first.

    Args:
        model: The model to fill.
        path: The ``.weights.h5`` file.
        mismatch: What does not fit, e.g. ``"The weights in x do not fit ..."``.
        fix: What to do about it.

    Returns:
        ``model``.
    """
    arrays = []

    def collect(name, item):
        if isinstance(item, h5py.Dataset) and not name.startswith("optimizer/"):
            arrays.append(name)

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(collect)
    except OSError as error:
        reason = f"not a readable .weights.h5 file: {str(error).splitlines()[0]}"
        raise ValueError(f"{mismatch} ({reason}). Fix: {fix}") from None
    if len(arrays) != len(model.weights):
        reason = (
            f"the file holds {len(arrays)} weight arrays, the model "
            f"{len(model.weights)}"
        )
        raise ValueError(f"{mismatch} ({reason}). Fix: {fix}")
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as error:
        reason = str(error).splitlines()[0]
        raise ValueError(f"{mismatch} ({reason}). Fix: {fix}") from None
    return model


def _build_float16(builder: Callable):
    """Build ``builder()``'s architecture with float16 variables, for storage."""
    with replicas.build_scope("float16"):
        return builder()


def save_float16(model, builder: Callable, path) -> Path:
    """Save any model's weights as float16 (half the size), atomically.

    Args:
        model: The trained model.
        builder: A function with no arguments that returns the same
            architecture; it is called under the float16 policy.
        path: A file ending in ``.weights.h5``.

    Returns:
        The path written.
    """
    half = _build_float16(builder)
    for source, target in zip(model.weights, half.weights, strict=True):
        target.assign(np.asarray(source).astype(np.float16))
    return atomic_write(path, half.save_weights)


def load_float16(model, builder: Callable, path, mismatch: str, fix: str):
    """Load weights written by :func:`save_float16` into ``model``, checked.

    Args:
        model: The model to fill, of the saved architecture (any dtype).
        builder: As for :func:`save_float16`.
        path: The ``.weights.h5`` file.
        mismatch: What does not fit, for the error (see :func:`load_checked`).
        fix: What to do about it.

    Returns:
        ``model``, with the weights cast to its own dtypes.
    """
    half = load_checked(_build_float16(builder), path, mismatch, fix)
    for source, target in zip(half.weights, model.weights, strict=True):
        target.assign(np.asarray(source).astype(target.dtype))
    return model
