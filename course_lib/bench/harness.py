"""Honest speed measurements: timing windows, the load warning and the peak.

The harness follows three rules:

- Warm-up calls (tracing, XLA compilation, oneDNN kernel selection) run before
  the clock starts and are never timed.
- Several timed windows are run and their median is reported with the spread
  (min and max), so one disturbed window cannot decide a comparison.
- The CPU time the process actually received is recorded beside the wall time.
  On a shared machine other processes may take the cores; the result then carries
  a warning instead of silently reporting a slow number.

The arithmetic of the second and third rules is in :mod:`course_lib.bench.stats`.
The achieved GFLOP/s are compared with the matmul peak measured by
:func:`matmul_peak` in the same process.

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf

from course_lib import hardware
from course_lib.bench import stats


def compute_threads() -> int:
    """Return the threads TensorFlow's intra-op pool uses for one operation."""
    configured = tf.config.threading.get_intra_op_parallelism_threads()
    return configured if configured > 0 else hardware.cpu_count()


# --------------------------------------------------------------------------
# The timing harness.
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """The outcome of timing one workload.

    Args:
        name: What was timed.
        items_per_call: Images (or other items) produced per call.
        calls_per_window: Calls in each timed window.
        window_seconds: Measured wall time of each window.
        cpu_share: CPU time received / (wall time x threads).
        warning: ``None`` or why the figure may be too low.
        device: The machine, as :func:`course_lib.hardware.machine_summary`
            names it.
        flops_per_item: FLOPs per item, when known.
    """

    name: str
    items_per_call: float
    calls_per_window: int
    window_seconds: list[float]
    cpu_share: float
    warning: str | None
    device: str
    flops_per_item: float | None = None

    @property
    def images_per_second(self) -> dict:
        """Window statistics of the throughput (items per second)."""
        per_call = self.items_per_call * self.calls_per_window
        return stats.window_statistics([per_call / s for s in self.window_seconds])

    @property
    def ms_per_call(self) -> dict:
        """Window statistics of the time of one call, in milliseconds."""
        return stats.window_statistics(
            [1000 * s / self.calls_per_window for s in self.window_seconds]
        )

    @property
    def gflops(self) -> float | None:
        """Achieved GFLOP/s at the median throughput (``None`` if FLOPs unknown)."""
        if self.flops_per_item is None:
            return None
        return self.flops_per_item * self.images_per_second["median"] / 1e9

    def as_dict(self) -> dict:
        """Return the JSON-ready record described in data/benchmarks/README.md."""
        return {
            "name": self.name,
            "items_per_call": self.items_per_call,
            "calls_per_window": self.calls_per_window,
            "window_seconds": self.window_seconds,
            "images_per_second": self.images_per_second,
            "ms_per_call": self.ms_per_call,
            "flops_per_item": self.flops_per_item,
            "gflops": self.gflops,
            "cpu_share": self.cpu_share,
            "warning": self.warning,
            "device": self.device,
        }

    def __str__(self) -> str:
        rate = self.images_per_second
        text = (
            f"{self.name}: {rate['median']:,.1f} images/s "
            f"(spread {rate['spread']:.0%}, {rate['windows']} windows), "
            f"{self.ms_per_call['median']:.2f} ms per call"
        )
        if self.warning:
            text += f"  [warning: {self.warning}]"
        return text


def tag(result: Result, **tags) -> Result:
    """Attach labels (``method``, ``batch_size``, ``loop``, ...) to a result.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    for key, value in tags.items():
        setattr(result, key, value)
    return result


def _finish(value) -> None:
    """Wait until ``value`` (a tensor, array or nested structure) is computed."""
    if value is None:
        return
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        for item in value:
            _finish(item)
        return
    numpy = getattr(value, "numpy", None)
    if callable(numpy):
        numpy()


@dataclasses.dataclass
class Workload:
    """One thing to time with :func:`measure_many`.

    Args:
        name: A label.
        function: A callable with no arguments doing one unit of work.
        items_per_call: Images per call (may be fractional).
        flops_per_item: FLOPs per image, or ``None``.
    """

    name: str
    function: Callable[[], object]
    items_per_call: float
    flops_per_item: float | None = None


def measure(
    function: Callable[[], object],
    name: str,
    items_per_call: float,
    window_seconds: float = 1.0,
    windows: int = 5,
    warmup_calls: int = 2,
    flops_per_item: float | None = None,
) -> Result:
    """Time ``function()`` in several windows after excluded warm-up calls.

    The number of calls per window is fixed once, from the time of one call
    after warm-up, so that every window does the same work. Each window ends by
    fetching the last result, so asynchronous work is included.

    Args:
        function: A callable with no arguments that does one unit of work.
        name: A label for the result.
        items_per_call: Images produced (or trained on) per call; a fraction
            when one call does part of an image's work.
        window_seconds: Target length of one window (the profile's
            ``bench_seconds``).
        windows: How many windows to time.
        warmup_calls: Untimed calls first (tracing and compilation).
        flops_per_item: FLOPs per image, to report GFLOP/s.

    Returns:
        A :class:`Result`.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    workload = Workload(name, function, items_per_call, flops_per_item)
    return measure_many([workload], window_seconds, windows, warmup_calls)[0]


def measure_many(
    workloads: Sequence[Workload],
    window_seconds: float = 1.0,
    windows: int = 5,
    warmup_calls: int = 2,
) -> list[Result]:
    """Time several workloads with their windows interleaved, round-robin.

    On a shared machine the load changes from second to second. Interleaving
    (window 1 of A, window 1 of B, window 2 of A, ...) exposes every workload to
    the same mix of quiet and busy moments, so their *ratios* stay fair even when
    absolute numbers drift.

    Args:
        workloads: The :class:`Workload` objects to compare.
        window_seconds: Target length of one window.
        windows: Windows per workload.
        warmup_calls: Untimed calls per workload before any timing.

    Returns:
        One :class:`Result` per workload, in order.

    Raises:
        ValueError: If ``windows`` or ``window_seconds`` is not positive, or a
            workload's ``items_per_call`` is not positive.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    if windows < 1 or window_seconds <= 0:
        raise ValueError("measure_many needs windows >= 1 and window_seconds > 0.")
    for workload in workloads:
        if workload.items_per_call <= 0:
            raise ValueError(f"{workload.name}: items_per_call must be positive.")
    calls = []
    for workload in workloads:
        for _ in range(max(1, warmup_calls)):
            _finish(workload.function())
        start = time.perf_counter()
        _finish(workload.function())
        one_call = max(time.perf_counter() - start, 1e-6)
        calls.append(max(1, int(window_seconds / one_call)))
    durations = [[] for _ in workloads]
    cpu = [0.0] * len(workloads)
    other = [0.0] * len(workloads)
    other_known = True
    for _ in range(windows):
        for index, workload in enumerate(workloads):
            cpu_start, busy_start = time.process_time(), stats.system_busy_seconds()
            start = time.perf_counter()
            result = None
            for _ in range(calls[index]):
                result = workload.function()
            _finish(result)
            durations[index].append(time.perf_counter() - start)
            used = time.process_time() - cpu_start
            busy_end = stats.system_busy_seconds()
            cpu[index] += used
            if busy_start is None or busy_end is None:
                other_known = False
            else:
                other[index] += max(0.0, (busy_end - busy_start) - used)
    device = hardware.machine_summary()
    results = []
    for index, workload in enumerate(workloads):
        share, warning = stats.load_warning(
            cpu[index],
            sum(durations[index]),
            compute_threads(),
            other_cpu_seconds=other[index] if other_known else None,
            cores=hardware.cpu_count(),
        )
        results.append(
            Result(
                name=workload.name,
                items_per_call=workload.items_per_call,
                calls_per_window=calls[index],
                window_seconds=durations[index],
                cpu_share=share,
                warning=warning,
                device=device,
                flops_per_item=workload.flops_per_item,
            )
        )
    return results


# --------------------------------------------------------------------------
# The matmul peak, the yardstick for FLOPs.
# --------------------------------------------------------------------------


def matmul_workload(dtype: str = "float32", size: int = 2048) -> Workload:
    """Return a :class:`Workload` of one ``size`` x ``size`` matmul in ``dtype``.

    Its ``flops_per_item`` is ``2 n^3``, so a measured result's ``gflops`` is the
    matmul rate. Put it in the same :func:`measure_many` call as the workloads
    it is compared with, so that both see the same load.

    Args:
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        size: The matrix size n.

    Returns:
        The workload, named ``"matmul <n>x<n> <dtype>"``.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    generator = tf.random.Generator.from_seed(0)
    left = tf.cast(generator.normal((size, size)), dtype)
    right = tf.cast(generator.normal((size, size)), dtype)
    multiply = tf.function(tf.matmul)
    return Workload(
        f"matmul {size}x{size} {dtype}",
        lambda: multiply(left, right),
        1,
        2.0 * size**3,
    )


def matmul_peak(
    dtype: str = "float32",
    size: int = 2048,
    window_seconds: float = 1.0,
    windows: int = 3,
) -> Result:
    """Measure the matrix-multiply rate of this machine, the yardstick for FLOPs.

    A large square matmul is the most efficient thing a CPU or GPU does, so its
    rate is a fair, measured "peak" for the same run.

    Args:
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        size: The matrix size n; one call is ``2 n^3`` FLOPs.
        window_seconds: Length of one timed window.
        windows: Number of windows.

    Returns:
        A :class:`Result` with ``items_per_call = 1`` (one matmul) and
        ``flops_per_item = 2 n^3``, so ``result.gflops`` is the peak.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    workload = matmul_workload(dtype, size)
    return measure(
        workload.function,
        workload.name,
        workload.items_per_call,
        window_seconds,
        windows,
        flops_per_item=workload.flops_per_item,
    )


def fraction_of_peak(result: Result, peak: Result) -> float:
    """Return the achieved GFLOP/s of ``result`` as a fraction of ``peak``'s.

    Args:
        result: A measured result with ``flops_per_item``.
        peak: A matmul result, from :func:`matmul_peak` or :func:`matmul_workload`.

    Returns:
        ``result.gflops / peak.gflops``.

    Raises:
        ValueError: If either result lacks ``flops_per_item``.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    if result.gflops is None or peak.gflops is None:
        raise ValueError(
            "Both results need flops_per_item; pass flops_per_item="
            "flops.count_flops(model)['total'] to measure()."
        )
    return result.gflops / peak.gflops
