"""Resumable checkpoints of any ``keras.Model``, written atomically.

:func:`save_checkpoint` stores the model's weights, every optimizer's state, the
random-number states, the epoch counter and the history. Each file goes through
``store.atomic_write``; the small ``checkpoint.json`` pointer is replaced last,
so an interrupted run always finds a complete, consistent checkpoint and
:func:`load_checkpoint` resumes exactly where it stopped.

A model with several optimizers (such as ``gan.GAN``) lists them by defining
``optimizer_variable_groups()``, returning ``(optimizer, variables)`` pairs; a
plain compiled model needs nothing extra.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np

from course_lib import store

POINTER_FILE = "checkpoint.json"
FORMAT_VERSION = 1


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
    store.atomic_write(directory / weights_name, model.save_weights)

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

    store.atomic_write(directory / optimizer_name, write_arrays)
    state = {
        "format": FORMAT_VERSION,
        "epoch": int(epoch),
        "weights_file": weights_name,
        "optimizer_file": optimizer_name,
        "history": {k: [float(v) for v in vs] for k, vs in (history or {}).items()},
        "seconds": float(seconds),
        "fingerprint": architecture_fingerprint(model),
    }

    # The pointer goes last: until it is replaced, the previous checkpoint stays
    # the valid one, so an interruption at any moment leaves a consistent state.
    store.write_json(directory / POINTER_FILE, state)
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
