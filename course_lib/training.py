"""Fit any ``keras.Model`` resumably: atomic checkpoints, exact resume, a NaN guard.

- :class:`AtomicCheckpoint` saves a resumable checkpoint (``course_lib.checkpoints``)
  after each epoch.
- :class:`NaNGuard` stops training at the first non-finite loss with a message
  that names the fix; the last good checkpoint is left untouched.
- :class:`SampleGrid` decodes fixed latent vectors after every epoch, so the
  frames show one set of samples improving (and can be written as a GIF).
- :func:`fit_steps` runs ``fit`` for a fixed number of optimizer steps,
  ``epochs x steps_per_epoch``, whatever the dataset's size (the recipes'
  budgets, ``course_lib.recipes``).
- :func:`fit_with_checkpoints` runs it with both callbacks, resuming an
  unfinished run; the GAN and the VAE train through it.
- :func:`adam` gives the optimizer for a precision (loss scaling for float16).

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from course_lib import checkpoints, plotting


class NonFiniteLossError(ValueError):
    """Raised by :class:`NaNGuard` when a loss becomes NaN or infinite."""


def _all_finite(logs: dict | None) -> bool:
    for value in (logs or {}).values():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            return False
    return True


class AtomicCheckpoint(keras.callbacks.Callback):
    """Save a resumable checkpoint after every ``every`` epochs, atomically.

    Pass ``initial_history`` (from ``checkpoints.load_checkpoint``) when resuming, so
    that the stored history covers the whole run. A checkpoint is never written
    when the epoch's logs hold a NaN or an infinity, so the last good one stays.

    Args:
        directory: The checkpoint folder.
        every: Save every this many epochs (the last epoch is always saved).
        keep: How many checkpoints to keep.
        initial_history: History of the epochs before this ``fit`` call.
        initial_seconds: Training time before this ``fit`` call, so that the
            stored ``seconds`` is the whole run's.

    Introduced in notebooks/05_gan_training.ipynb.
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
            checkpoints.save_checkpoint(
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

    Introduced in notebooks/05_gan_training.ipynb.
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

    Introduced in notebooks/05_gan_training.ipynb.
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
        images = np.asarray(keras.ops.convert_to_numpy(self._decode()), np.float32)
        grid = plotting.tile_images(images, self.columns, self.value_range)
        self.frames.append(grid)
        self.epochs.append(int(epoch_number))
        return grid

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.record(epoch + 1)


def batches_per_pass(dataset) -> int | None:
    """Return the batches of one pass over a ``tf.data`` dataset (``None``: unknown
    or infinite)."""
    count = int(dataset.cardinality())
    return count if count >= 0 else None


def fit_steps(
    model: keras.Model,
    dataset,
    epochs: int,
    steps_per_epoch: int | None = None,
    initial_epoch: int = 0,
    **fit_options,
):
    """Run ``model.fit`` for exactly ``epochs x steps_per_epoch`` optimizer steps.

    When one pass over ``dataset`` is ``steps_per_epoch`` batches (the recipes'
    budgets on the offline 4,000 digits), this is ``fit(dataset, epochs)``
    itself, the run that made the shipped weights, batch order included. On
    any other size (the 60,000 digits of the full MNIST) the dataset is
    repeated and each epoch is ``steps_per_epoch`` batches of that stream: a
    part of one pass, or more than one. A resumed run (``initial_epoch``) skips
    the batches its earlier epochs took, so it sees the uninterrupted stream.

    The two are kept apart because they are not the same run: Keras 3 starts
    each epoch of a finite dataset with a fresh iterator (and a fresh shuffle),
    and ``dataset.repeat()`` shuffles its passes in another order.

    Args:
        model: A compiled model.
        dataset: A ``tf.data.Dataset`` of batches (or, with ``steps_per_epoch``
            ``None``, anything ``fit`` takes).
        epochs: The epochs of the whole run.
        steps_per_epoch: Batches per epoch; ``None``: one pass, as ``fit`` does.
        initial_epoch: The epochs already done (when resuming).
        **fit_options: More ``fit`` arguments (``callbacks``, ``verbose``,
            ``validation_data``).

    Returns:
        The ``keras.callbacks.History`` of ``fit``.

    Raises:
        ValueError: If ``steps_per_epoch`` is not a positive integer, the data
            is not a ``tf.data.Dataset``, or the model's ``steps_per_execution``
            does not divide ``steps_per_epoch`` (Keras would then run more steps).

    Introduced in notebooks/05_gan_training.ipynb.
    """
    options = {"epochs": epochs, "initial_epoch": initial_epoch, **fit_options}
    if steps_per_epoch is None:
        return model.fit(dataset, **options)
    if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
        raise ValueError(
            f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}."
        )
    if not hasattr(dataset, "cardinality"):  # not a tf.data.Dataset
        raise ValueError(
            "A step budget needs a tf.data.Dataset of batches. Fix: pass "
            "data.make_dataset(images, batch_size), or steps_per_epoch=None."
        )
    if batches_per_pass(dataset) == steps_per_epoch:
        return model.fit(dataset, **options)
    per_call = int(getattr(model, "steps_per_execution", 1) or 1)
    if steps_per_epoch % per_call:
        raise ValueError(
            f"steps_per_execution={per_call} does not divide steps_per_epoch="
            f"{steps_per_epoch}, so an epoch would run more steps than its budget. "
            "Fix: build the model with a steps_per_execution that divides it "
            "(1 always does)."
        )
    stream = dataset.repeat().skip(initial_epoch * steps_per_epoch)
    return model.fit(stream, steps_per_epoch=steps_per_epoch, **options)


def fit_with_checkpoints(
    model: keras.Model,
    dataset,
    epochs: int,
    directory,
    resume: bool = True,
    callbacks=(),
    verbose="auto",
    steps_per_epoch: int | None = None,
    **fit_options,
) -> tuple[dict, dict]:
    """Run ``model.fit`` with atomic checkpoints and a NaN guard, resuming if possible.

    An unfinished run in ``directory`` (fewer than ``epochs`` epochs) is resumed:
    weights, optimizer state, noise seed, epoch counter and history. A finished
    run, or ``resume=False``, starts afresh. With ``steps_per_epoch`` the run
    is exactly ``epochs x steps_per_epoch`` optimizer steps whatever the
    dataset's size (:func:`fit_steps`); a checkpoint's epoch is then that many
    steps.

    Args:
        model: A compiled model (any ``keras.Model``).
        dataset: What ``fit`` trains on.
        epochs: The total number of epochs of the run.
        directory: The checkpoint folder.
        resume: Whether to continue an unfinished run.
        callbacks: More callbacks (e.g. ``SampleGrid``).
        verbose: Passed to ``fit``.
        steps_per_epoch: Batches per epoch (``None``: one pass over
            ``dataset``, as ``fit`` does).
        **fit_options: More ``fit`` arguments (e.g. ``validation_data``).

    Returns:
        ``(history, info)``: the whole run's per-epoch history, and a dict with
        ``initial_epoch``, ``seconds`` (this call's training time) and
        ``total_seconds`` (the whole run's, across interruptions).

    Introduced in notebooks/05_gan_training.ipynb.
    """
    directory = Path(directory)
    state = checkpoints.read_checkpoint_state(directory)
    initial_epoch, history, earlier_seconds = 0, {}, 0.0
    if state is not None and resume and state["epoch"] < epochs:
        state = checkpoints.load_checkpoint(model, directory)
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
    fit_steps(
        model,
        dataset,
        epochs,
        steps_per_epoch,
        initial_epoch,
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


@keras.saving.register_keras_serializable(package="course_lib")
class ReplicaSafeLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """A ``LossScaleOptimizer`` that skips the step when any replica overflowed.

    Keras 3's own checks only the local replica's gradients under
    ``MirroredStrategy``, so an overflow on another replica would be applied.
    """

    def check_finite(self, grads):
        finite = super().check_finite(grads)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return finite
        failures = context.all_reduce(
            tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), "int32")
        )
        return tf.equal(failures, 0)


def adam(learning_rate: float, precision: str, beta_1: float = 0.9):
    """Return an Adam optimizer for a model built under ``precision``.

    Under ``"mixed_float16"`` it is wrapped in a ``LossScaleOptimizer``, whose
    dynamic loss scale keeps small float16 gradients from flushing to zero; the
    course's ``train_step``s call ``optimizer.scale_loss`` for it. Other
    policies need no scaling (bfloat16 has float32's exponent range).

    Args:
        learning_rate: Adam's learning rate (positive).
        precision: The Keras dtype policy the model was built with.
        beta_1: Adam's first-moment decay.

    Returns:
        A ``keras.optimizers.Optimizer``.

    Raises:
        ValueError: If the learning rate is not positive.
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}.")
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1)
    if precision == "mixed_float16":
        optimizer = ReplicaSafeLossScaleOptimizer(optimizer)
    return optimizer
