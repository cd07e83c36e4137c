"""Where a training step's time goes: the TensorFlow profiler, read op by op.

:func:`op_milliseconds` runs a step under ``tf.profiler.experimental`` and sums
the time of every TensorFlow op on the executor's compute threads, per op type
and per call. :func:`by_category` groups those types into a few families a
reader can compare between two steps (convolutions, matrix products, random
numbers, everything else).

Op times are summed over threads, so on several cores they can add up to more
than the wall time of a step; they say where the work is, not how long a step
lasts (the timed windows of :mod:`course_lib.bench.harness` say that).

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import collections
import os
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf

# Events on these executor lines are the ops; "Process" and "ParallelFor" events
# wrap or split other ops' work and would count it twice.
COMPUTE_LINE_PREFIX = "tf_Compute"
WRAPPER_TYPES = frozenset({"Process", "ParallelFor"})
# Op-type families, first match wins; the rest is "other (element-wise, ...)".
CATEGORIES = (
    ("convolutions", ("Conv2D",)),
    ("matrix products", ("MatMul",)),
    ("random numbers", ("Random",)),
)
OTHER = "other (element-wise, normalisation, optimizer)"


def _xplane():
    """Return TensorFlow's XSpace protobuf module, or say how to get it."""
    try:  # Imported here: a private TF module, needed only when reading a trace.
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError as error:  # pragma: no cover - depends on the TF build
        raise ImportError(
            "This TensorFlow build does not ship the profiler's xplane_pb2. Fix: "
            "use the tensorflow version pinned in pyproject.toml."
        ) from error
    return xplane_pb2


def op_times_from_xspace(path) -> collections.Counter:
    """Sum op durations (milliseconds) per op type in one ``*.xplane.pb`` file.

    Args:
        path: A profiler trace file.

    Returns:
        ``Counter({op_type: milliseconds})`` over the whole trace.
    """
    space = _xplane().XSpace()
    space.ParseFromString(Path(path).read_bytes())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith(COMPUTE_LINE_PREFIX):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                op_type = name.rsplit(":", 1)[-1]
                if op_type not in WRAPPER_TYPES:
                    totals[op_type] += event.duration_ps / 1e9
    return totals


def op_milliseconds(step, batches, warmup: int = 1) -> dict[str, float]:
    """Profile ``step(batch)`` over ``batches``; return ms per call by op type.

    Args:
        step: A (``tf.function``) training step taking one batch.
        batches: The batches to profile, one call each (at least one more than
            ``warmup``); the first ``warmup`` ones trace and warm up, unprofiled.
        warmup: Calls before the profiler starts.

    Returns:
        ``{op_type: milliseconds per call}``, largest first.

    Raises:
        ValueError: If no batch is left to profile after the warm-up.
    """
    batches = list(batches)
    if len(batches) <= warmup:
        raise ValueError(
            f"op_milliseconds needs more batches than warm-up calls ({warmup}), got "
            f"{len(batches)}. Fix: pass e.g. dataset.take({warmup + 3})."
        )
    for batch in batches[:warmup]:
        _finish(step(batch))
    profiled = batches[warmup:]
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            for batch in profiled:
                _finish(step(batch))
        finally:
            tf.profiler.experimental.stop()
        traces = sorted(Path(logdir).rglob("*.xplane.pb"))
        totals = collections.Counter()
        for trace in traces:
            totals.update(op_times_from_xspace(trace))
    return {
        op_type: ms / len(profiled) for op_type, ms in totals.most_common() if ms > 0
    }


def _finish(result) -> None:
    """Wait for a step's outputs, so that its ops fall inside the profile."""
    for value in tf.nest.flatten(result):
        if hasattr(value, "numpy"):
            value.numpy()


def category_of(op_type: str) -> str:
    """Return the family of an op type (``"_MklNativeConv2D"``: convolutions)."""
    for category, markers in CATEGORIES:
        if any(marker in op_type for marker in markers):
            return category
    return OTHER


def by_category(milliseconds: dict[str, float]) -> dict[str, float]:
    """Group ``{op_type: ms}`` into :data:`CATEGORIES` plus :data:`OTHER`.

    Args:
        milliseconds: As returned by :func:`op_milliseconds`.

    Returns:
        ``{category: ms}`` with every category present, in a fixed order.
    """
    grouped = {category: 0.0 for category, _ in CATEGORIES}
    grouped[OTHER] = 0.0
    for op_type, ms in milliseconds.items():
        grouped[category_of(op_type)] += ms
    return grouped
