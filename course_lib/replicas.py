"""Building and running models under a dtype policy and a distribution strategy.

``build_scope`` builds models under a Keras dtype policy (the precision that
``course_lib.hardware`` picks) and, optionally, inside a ``tf.distribute``
strategy's scope, and restores the global policy afterwards. Under a
``MirroredStrategy``, ``replica_share`` gives each replica its own rows of a
random draw, and ``loss_share`` its share of a loss whose gradients the replicas
sum (tests/test_replicas.py checks two replicas on a CPU).

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf


@contextlib.contextmanager
def build_scope(precision: str, strategy=None):
    """Build models under a dtype policy and a distribution strategy, then restore.

    Args:
        precision: The Keras dtype policy for the layers built inside.
        strategy: A ``tf.distribute.Strategy`` whose scope to enter, or ``None``.

    Yields:
        Nothing; the global dtype policy is restored on exit.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    previous_policy = keras.config.dtype_policy()
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    try:
        keras.config.set_dtype_policy(precision)
        with scope:
            yield
    finally:
        keras.config.set_dtype_policy(previous_policy)


def replica_share(draw, rows):
    """Draw random rows for the whole global batch; return this replica's share.

    Under a ``MirroredStrategy`` every replica holds the same seed state, so a
    draw made inside ``train_step`` is the same on all of them, and the shares
    of a global batch would share their noise. Drawing the global batch's rows
    on each replica and keeping rows ``r * rows`` to ``(r + 1) * rows`` on
    replica ``r`` gives each replica its own rows: the ones a one-device step
    would have drawn for those images. Outside a strategy's replicas (one replica,
    or cross-replica code) it is ``draw(rows)``.

    Args:
        draw: ``draw(n)`` returns ``n`` random rows (a tensor with n first).
        rows: The rows this replica needs (its share of the batch).

    Returns:
        This replica's ``rows`` rows.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    context = tf.distribute.get_replica_context()  # None: in cross-replica code.
    if replicas == 1 or context is None:
        return draw(rows)
    replica = context.replica_id_in_sync_group
    return draw(rows * replicas)[replica * rows : (replica + 1) * rows]


def loss_share(loss):
    """Return this replica's share of a loss whose gradients the replicas sum.

    A strategy sums its replicas' gradients, so each replica's loss is divided
    by their number, as Keras's own ``train_step`` does; on one device it is
    the loss itself.
    """
    count = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / count if count > 1 else loss
