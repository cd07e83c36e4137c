"""Callbacks for any ``keras.Model``: atomic checkpoints, a NaN guard, sample grids.

- :class:`AtomicCheckpoint` saves the model's weights, every optimizer's state, the
  epoch counter and the history after each epoch. Each file is written to a
  temporary name in the same folder and moved into place with ``os.replace``; a
  small ``checkpoint.json`` pointer is replaced last, so an interrupted run always
  finds a complete, consistent checkpoint and resumes exactly where it stopped.
- :class:`NaNGuard` stops training at the first non-finite loss with a message
  that names the fix; the last good checkpoint is left untouched.
- :class:`SampleGrid` decodes fixed latent vectors after every epoch, so the
  frames show one set of samples improving (and can be written as a GIF).
- :func:`fit_with_checkpoints` runs ``fit`` with both, resuming an unfinished
  run; the GAN and the VAE train through it.

A model with several optimizers (such as ``training.GAN``) lists them by
defining ``optimizer_variable_groups()``, returning ``(optimizer, variables)``
pairs; a plain compiled model needs nothing extra.

Introduced in notebooks/04_gan_training.ipynb.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402

POINTER_FILE = "checkpoint.json"
FORMAT_VERSION = 1


class NonFiniteLossError(ValueError):
    """Raised by :class:`NaNGuard` when a loss becomes NaN or infinite."""


# --------------------------------------------------------------------- helpers


def optimizer_variable_groups(model: keras.Model) -> list:
    """Return ``(optimizer, variables)`` pairs for every optimizer of ``model``.

    Args:
        model: A compiled model. Models with several optimizers define
            ``optimizer_variable_groups()`` themselves.

    Returns:
        A list of ``(optimizer, list_of_trainable_variables)`` pairs.
    """
    if hasattr(model, "optimizer_variable_groups"):
        return list(model.optimizer_variable_groups())
    if getattr(model, "optimizer", None) is None:
        return []
    return [(model.optimizer, model.trainable_variables)]


def architecture_fingerprint(model: keras.Model) -> list:
    """Return the model's weight shapes, to recognise a checkpoint of another model.

    Args:
        model: A built model.

    Returns:
        A list of ``[path, shape]`` pairs, one per weight.
    """
    return [
        [getattr(variable, "path", variable.name), list(variable.shape)]
        for variable in model.weights
    ]


def atomic_write(directory: Path, final_name: str, write) -> Path:
    """Write a file via a temporary file in the same folder and ``os.replace``."""
    suffix = final_name.split(".", 1)[1] if "." in final_name else "tmp"
    handle, temporary = tempfile.mkstemp(
        dir=directory, prefix=".tmp-", suffix="." + suffix
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
        os.replace(temporary, directory / final_name)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return directory / final_name


def _all_finite(logs: dict | None) -> bool:
    for value in (logs or {}).values():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            return False
    return True


def random_state_variables(model: keras.Model) -> list:
    """Return the model's random-number states (seed generators), not in its weights.

    ``save_weights`` leaves them out; checkpoints store them so that a resumed
    run draws the same noise and dropout masks as an uninterrupted one.
    """
    weight_paths = {variable.path for variable in model.weights}
    return [v for v in model.variables if v.path not in weight_paths]


def read_checkpoint_state(directory: str | os.PathLike) -> dict | None:
    """Return the state recorded by the latest checkpoint in ``directory``.

    Args:
        directory: A folder written by :class:`AtomicCheckpoint`.

    Returns:
        A dict with ``epoch`` (completed epochs), ``history``, ``weights_file``,
        ``optimizer_file`` and ``fingerprint``, or ``None`` if there is none.
    """
    pointer = Path(directory) / POINTER_FILE
    if not pointer.exists():
        return None
    with open(pointer, encoding="utf-8") as handle:
        return json.load(handle)


def save_checkpoint(
    model: keras.Model,
    directory: str | os.PathLike,
    epoch: int,
    history: dict | None = None,
    keep: int = 2,
    seconds: float = 0.0,
) -> dict:
    """Save weights, optimizer state, epoch counter and history atomically.

    Args:
        model: The model to save (any ``keras.Model``).
        directory: The checkpoint folder (created if missing).
        epoch: The number of epochs completed.
        history: Metric name to list of per-epoch values, stored for resuming.
        keep: How many checkpoints to keep on disk (older ones are deleted).
        seconds: Training time of the run so far (all sessions together).

    Returns:
        The state written to ``checkpoint.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"ckpt-{int(epoch):04d}"
    weights_name = f"{stem}.weights.h5"
    optimizer_name = f"{stem}.optimizer.npz"
    atomic_write(directory, weights_name, model.save_weights)

    arrays = {}
    for group, (optimizer, variables) in enumerate(optimizer_variable_groups(model)):
        if not optimizer.built:
            optimizer.build(variables)
        for index, variable in enumerate(optimizer.variables):
            arrays[f"{group}/{index:04d}"] = np.asarray(
                keras.ops.convert_to_numpy(variable)
            )
    for index, variable in enumerate(random_state_variables(model)):
        arrays[f"rng/{index:04d}"] = np.asarray(keras.ops.convert_to_numpy(variable))

    def write_arrays(path):
        with open(path, "wb") as stream:
            np.savez(stream, **arrays)

    atomic_write(directory, optimizer_name, write_arrays)
    state = {
        "format": FORMAT_VERSION,
        "epoch": int(epoch),
        "weights_file": weights_name,
        "optimizer_file": optimizer_name,
        "history": {k: [float(v) for v in vs] for k, vs in (history or {}).items()},
        "seconds": float(seconds),
        "fingerprint": architecture_fingerprint(model),
    }

    def write_state(path):
        with open(path, "w", encoding="utf-8") as stream:
            json.dump(state, stream)

    # The pointer goes last: until it is replaced, the previous checkpoint stays
    # the valid one, so an interruption at any moment leaves a consistent state.
    atomic_write(directory, POINTER_FILE, write_state)
    stems = sorted({p.name.split(".")[0] for p in directory.glob("ckpt-*")})
    for old in stems[: max(0, len(stems) - keep)]:
        for path in directory.glob(f"{old}.*"):
            path.unlink()
    return state


def load_checkpoint(model: keras.Model, directory: str | os.PathLike) -> dict | None:
    """Restore the latest checkpoint of ``directory`` into ``model``.

    Args:
        model: A model of the same architecture, compiled with the same
            optimizers (their state is restored too).
        directory: A folder written by :func:`save_checkpoint`.

    Returns:
        The checkpoint's state (``epoch``, ``history``, ...), or ``None`` when
        the folder holds no checkpoint.

    Raises:
        ValueError: If the checkpoint belongs to a different architecture or
            its optimizer state does not match; the message names the fix.
    """
    directory = Path(directory)
    state = read_checkpoint_state(directory)
    if state is None:
        return None
    fix = (
        f"Fix: build the model with the same settings as the run that wrote it "
        f"(latent_dim, layers), or delete the folder {directory.name}/ to start "
        "a fresh run."
    )
    expected = [shape for _, shape in state["fingerprint"]]
    actual = [shape for _, shape in architecture_fingerprint(model)]
    if expected != actual:
        raise ValueError(
            f"The checkpoint in {directory.name}/ was written by a different "
            f"architecture ({len(expected)} weights, first shapes "
            f"{expected[:3]}) than this model ({len(actual)} weights, first shapes "
            f"{actual[:3]}). {fix}"
        )
    # Optimizers are built first, so that load_weights can fill their slots too.
    for optimizer, variables in optimizer_variable_groups(model):
        if not optimizer.built:
            optimizer.build(variables)
    try:
        model.load_weights(directory / state["weights_file"])
    except ValueError as error:
        raise ValueError(
            f"Could not load the checkpoint weights: {error}. {fix}"
        ) from None
    with np.load(directory / state["optimizer_file"]) as archive:
        stored = {key: archive[key] for key in archive.files}
    for group, (optimizer, variables) in enumerate(optimizer_variable_groups(model)):
        if not optimizer.built:
            optimizer.build(variables)
        keys = sorted(key for key in stored if key.startswith(f"{group}/"))
        if len(keys) != len(optimizer.variables):
            raise ValueError(
                f"The checkpoint holds {len(keys)} state variables for optimizer "
                f"{group} but this model's optimizer has {len(optimizer.variables)}. "
                f"Use the same optimizer class as the saved run. {fix}"
            )
        for key, variable in zip(keys, optimizer.variables, strict=True):
            if tuple(stored[key].shape) != tuple(variable.shape):
                raise ValueError(
                    f"Optimizer variable {variable.path} has shape {variable.shape} "
                    f"but the checkpoint has {stored[key].shape}. {fix}"
                )
            variable.assign(stored[key])
    random_states = random_state_variables(model)
    keys = sorted(key for key in stored if key.startswith("rng/"))
    if len(keys) == len(random_states):
        for key, variable in zip(keys, random_states, strict=True):
            variable.assign(stored[key])
    return state


# ------------------------------------------------------------------- callbacks


class AtomicCheckpoint(keras.callbacks.Callback):
    """Save a resumable checkpoint after every ``every`` epochs, atomically.

    Pass ``initial_history`` (from :func:`load_checkpoint`) when resuming, so
    that the stored history covers the whole run. A checkpoint is never written
    when the epoch's logs hold a NaN or an infinity, so the last good one stays.

    Args:
        directory: The checkpoint folder.
        every: Save every this many epochs (the last epoch is always saved).
        keep: How many checkpoints to keep.
        initial_history: History of the epochs before this ``fit`` call.
        initial_seconds: Training time before this ``fit`` call, so that the
            stored ``seconds`` is the whole run's.

    Introduced in notebooks/04_gan_training.ipynb.
    """

    def __init__(
        self,
        directory,
        every: int = 1,
        keep: int = 2,
        initial_history=None,
        initial_seconds: float = 0.0,
    ):
        super().__init__()
        if not isinstance(every, int) or every <= 0:
            raise ValueError(f"every must be a positive integer, got {every!r}.")
        self.directory = Path(directory)
        self.every = every
        self.keep = keep
        self.history = {k: list(v) for k, v in (initial_history or {}).items()}
        self.last_saved_epoch = None
        self.initial_seconds = float(initial_seconds)
        self.started = time.perf_counter()

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Training time of the whole run so far, all sessions together."""
        return self.initial_seconds + time.perf_counter() - self.started

    def on_epoch_end(self, epoch, logs=None):
        if not _all_finite(logs):
            return
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        completed = epoch + 1
        final = completed >= self.params.get("epochs", completed)
        if completed % self.every == 0 or final:
            save_checkpoint(
                self.model,
                self.directory,
                completed,
                self.history,
                self.keep,
                seconds=self.seconds,
            )
            self.last_saved_epoch = completed


class NaNGuard(keras.callbacks.Callback):
    """Stop training at the first NaN or infinite loss, with a message naming the fix.

    Args:
        raise_error: Raise :class:`NonFiniteLossError` (the default) rather than
            only setting ``model.stop_training``.

    Introduced in notebooks/04_gan_training.ipynb.
    """

    def __init__(self, raise_error: bool = True):
        super().__init__()
        self.raise_error = raise_error
        self.message = None

    def on_train_batch_end(self, batch, logs=None):
        if _all_finite(logs):
            return
        bad = {k: v for k, v in (logs or {}).items() if not _all_finite({k: v})}
        self.message = (
            f"Training stopped: non-finite values {bad} at batch {batch}. The last "
            "good checkpoint was kept. Fix: lower the learning rate (e.g. halve "
            "it), check that the inputs are scaled and finite, or train in "
            "float32 if you used float16; then resume from the checkpoint."
        )
        self.model.stop_training = True
        if self.raise_error:
            raise NonFiniteLossError(self.message)
        print(self.message)


class SampleGrid(keras.callbacks.Callback):
    """Decode fixed latent vectors after each epoch and keep the image grids.

    Args:
        latent: Fixed latent vectors, shape (n, latent_dim). The same vectors
            every epoch, so the frames show one set of samples improving.
        decode: ``decode(model, latent) -> images``. By default the model's
            ``sampler`` or ``generator`` (GAN), or ``decoder`` (VAE), is called.
        value_range: ``"-1,1"`` or ``"0,1"``, the decoder's output range.
        every: Record a frame every this many epochs.
        columns: Columns of the grid.

    Attributes:
        frames: A list of uint8 grids (H, W), one per recorded epoch.
        epochs: The epoch number (1-based) of each frame.

    Introduced in notebooks/04_gan_training.ipynb.
    """

    def __init__(self, latent, decode=None, value_range="-1,1", every=1, columns=8):
        super().__init__()
        self.latent = np.asarray(latent, dtype=np.float32)
        if self.latent.ndim != 2:
            raise ValueError(
                f"latent must have shape (n, latent_dim), got {self.latent.shape}."
            )
        self.decode = decode
        self.value_range = value_range
        self.every = every
        self.columns = columns
        self.frames: list[np.ndarray] = []
        self.epochs: list[int] = []

    def _decode(self):
        if self.decode is not None:
            return self.decode(self.model, self.latent)
        network = None
        for attribute in ("sampler", "generator", "decoder"):
            if network is None:
                network = getattr(self.model, attribute, None)
        if network is None:
            raise ValueError(
                "SampleGrid needs a model with a `generator` or `decoder`, or a "
                "decode(model, latent) function."
            )
        return network(self.latent, training=False)

    def record(self, epoch_number: int) -> np.ndarray:
        """Decode the fixed latents now and store the grid as a frame."""
        from course_lib import plotting

        images = np.asarray(keras.ops.convert_to_numpy(self._decode()), np.float32)
        grid = plotting.tile_images(images, self.columns, self.value_range)
        self.frames.append(grid)
        self.epochs.append(int(epoch_number))
        return grid

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.record(epoch + 1)


def fit_with_checkpoints(
    model: keras.Model,
    dataset,
    epochs: int,
    directory,
    resume: bool = True,
    callbacks=(),
    verbose="auto",
    **fit_options,
) -> tuple[dict, dict]:
    """Run ``model.fit`` with atomic checkpoints and a NaN guard, resuming if possible.

    An unfinished run in ``directory`` (fewer than ``epochs`` epochs) is resumed:
    weights, optimizer state, noise seed, epoch counter and history. A finished
    run, or ``resume=False``, starts afresh.

    Args:
        model: A compiled model (any ``keras.Model``).
        dataset: What ``fit`` trains on.
        epochs: The total number of epochs of the run.
        directory: The checkpoint folder.
        resume: Whether to continue an unfinished run.
        callbacks: More callbacks (e.g. ``SampleGrid``).
        verbose: Passed to ``fit``.
        **fit_options: More ``fit`` arguments (e.g. ``validation_data``).

    Returns:
        ``(history, info)``: the whole run's per-epoch history, and a dict with
        ``initial_epoch``, ``seconds`` (this call's training time) and
        ``total_seconds`` (the whole run's, across interruptions).

    Introduced in notebooks/04_gan_training.ipynb.
    """
    directory = Path(directory)
    state = read_checkpoint_state(directory)
    initial_epoch, history, earlier_seconds = 0, {}, 0.0
    if state is not None and resume and state["epoch"] < epochs:
        state = load_checkpoint(model, directory)
        initial_epoch, history = state["epoch"], state["history"]
        earlier_seconds = float(state.get("seconds", 0.0))
    elif state is not None:
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint = AtomicCheckpoint(
        directory, initial_history=history, initial_seconds=earlier_seconds
    )
    all_callbacks = [NaNGuard(), checkpoint, *callbacks]
    start = time.perf_counter()
    model.fit(
        dataset,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=all_callbacks,
        verbose=verbose,
        **fit_options,
    )
    seconds = time.perf_counter() - start
    return checkpoint.history, {
        "initial_epoch": initial_epoch,
        "seconds": seconds,
        "total_seconds": earlier_seconds + seconds,
    }
