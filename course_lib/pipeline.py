"""The one way every course ``tf.data`` pipeline ends: a fixed, untuned prefetch.

Each iterator of an autotuned pipeline owns a thread that retunes it at growing
intervals, and deleting the iterator waits for that thread's current sleep to
end. Keras makes a new iterator for every ``fit`` call (and for every epoch of a
finite dataset), so the wait lands at the end of a call. Measured on the
course's 2-core CPU (one process, calls alternating): with the autotuner on, 4
of 6 twenty-step ``fit`` calls of about 14 s ended 4 to 7 s late; with it off,
none did, and the step times were the same (median 14.2 s either way).

The batches come from an in-memory cache, so a small fixed buffer overlaps input
and training as well as a tuned one.

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import tensorflow as tf

PREFETCH_BATCHES = 2


def untuned(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Return ``dataset`` with tf.data's autotuner switched off."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def fixed_prefetch(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Prefetch ``PREFETCH_BATCHES`` batches, with the autotuner off."""
    return untuned(dataset.prefetch(PREFETCH_BATCHES))
