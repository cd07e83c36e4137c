"""Honest speed measurements: a timing harness, FLOP counts and the peak to compare.

The harness follows three rules:

- Warm-up calls (tracing, XLA compilation, oneDNN kernel selection) run before
  the clock starts and are never timed.
- Several timed windows are run and their median is reported with the spread
  (min and max), so one disturbed window cannot decide a comparison.
- The CPU time the process actually received is recorded beside the wall time.
  On a shared machine other processes may take the cores; the result then carries
  a warning instead of silently reporting a slow number.

FLOPs are counted per image, layer by layer, as 2 x multiply-adds of the
Dense, Conv2D and Conv2DTranspose layers (bias, normalisation and activations are
element-wise, memory-bound and under 1% of the work in the course's models; they
are left out). The achieved GFLOP/s are compared with the matmul peak measured
by :func:`matmul_peak` in the same process.

The command ``python -m course_lib.bench`` lives in
:mod:`course_lib.bench_command`; the workloads it times are in
:mod:`course_lib.bench_suite`.

Introduced in notebooks/06_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Sequence

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# A result whose process received less than this share of the CPU time that its
# threads could have used, while other processes were busy, carries a warning.
MIN_CPU_SHARE = 0.75
# Other processes using more than this share of all cores is contention.
MAX_OTHER_SHARE = 0.10


# --------------------------------------------------------------------------
# Window statistics and the load warning (pure functions, unit tested).
# --------------------------------------------------------------------------


def window_statistics(values: Sequence[float]) -> dict:
    """Summarise the per-window measurements of one benchmark.

    Args:
        values: One number per timed window (for example images/s).

    Returns:
        A dict with ``median``, ``min``, ``max``, ``spread`` (``(max - min) /
        median``, the relative width of the range) and ``windows`` (the count).

    Raises:
        ValueError: If ``values`` is empty or holds a non-positive number.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    values = [float(value) for value in values]
    if not values:
        raise ValueError("window_statistics needs at least one window; run windows=3.")
    if min(values) <= 0:
        raise ValueError(
            f"window values must be positive rates or times, got {values}; "
            "a zero usually means the window was shorter than one call."
        )
    median = statistics.median(values)
    return {
        "median": median,
        "min": min(values),
        "max": max(values),
        "spread": (max(values) - min(values)) / median,
        "windows": len(values),
    }


def load_warning(
    cpu_seconds: float,
    wall_seconds: float,
    threads: int,
    other_cpu_seconds: float | None = None,
    cores: int | None = None,
) -> tuple[float, str | None]:
    """Decide whether a measurement was starved of CPU time.

    The process's share is ``cpu_seconds / (wall_seconds * threads)``: 1.0 means
    every thread it asked for ran all the time. A low share alone is ambiguous
    (a batch-1 call cannot keep two cores busy), so when the CPU time used by
    *other* processes is known (Linux ``/proc/stat``) the warning needs both a
    low share and busy neighbours. Without that information a share below half
    of ``MIN_CPU_SHARE`` is reported on its own.

    Args:
        cpu_seconds: CPU time the process used during the windows (all threads).
        wall_seconds: Wall-clock time of the windows.
        threads: Threads the computation asked for (TensorFlow's intra-op pool,
            normally the number of cores).
        other_cpu_seconds: CPU time all other processes used in the same span,
            or ``None`` when unknown.
        cores: Cores of the machine (defaults to ``threads``).

    Returns:
        ``(cpu_share, warning)`` where ``warning`` is ``None`` or a sentence.

    Raises:
        ValueError: If a time is negative, ``wall_seconds`` is not positive or
            ``threads`` is below 1.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    if wall_seconds <= 0 or cpu_seconds < 0 or threads < 1:
        raise ValueError(
            "load_warning needs wall_seconds > 0, cpu_seconds >= 0 and threads >= 1; "
            f"got {wall_seconds}, {cpu_seconds}, {threads}."
        )
    cores = threads if cores is None else cores
    share = cpu_seconds / (wall_seconds * threads)
    if other_cpu_seconds is None:
        if share < MIN_CPU_SHARE / 2:
            return share, (
                f"the process used only {share:.0%} of {threads} threads' CPU time; "
                "the machine may be shared, so treat this figure as a lower bound."
            )
        return share, None
    if other_cpu_seconds < 0:
        raise ValueError(f"other_cpu_seconds must be >= 0, got {other_cpu_seconds}.")
    other_share = other_cpu_seconds / (wall_seconds * cores)
    if share < MIN_CPU_SHARE and other_share > MAX_OTHER_SHARE:
        return share, (
            f"other processes used {other_share:.0%} of the {cores} cores while "
            f"this one got {share:.0%} of its {threads} threads' CPU time; "
            "rerun on a quiet machine before trusting absolute numbers."
        )
    return share, None


# --------------------------------------------------------------------------
# CPU accounting and the hardware line.
# --------------------------------------------------------------------------


def _system_busy_seconds() -> float | None:
    """Return the CPU seconds all processes have used since boot (Linux only)."""
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()[1:]
        ticks = [int(field) for field in fields]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...: idle and iowait are idle.
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_count() -> int:
    """Return the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def compute_threads() -> int:
    """Return the threads TensorFlow's intra-op pool uses for one operation."""
    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads()
    return configured if configured > 0 else cpu_count()


def device_description() -> str:
    """Return one line naming the GPU, or the CPU model and its core count.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    from course_lib import hardware

    gpus = hardware.gpu_details()
    if gpus:
        return "GPU: " + ", ".join(gpus)
    return f"CPU: {hardware.cpu_model()} ({cpu_count()} cores)"


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
        device: The hardware line of :func:`device_description`.
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
        return window_statistics([per_call / s for s in self.window_seconds])

    @property
    def ms_per_call(self) -> dict:
        """Window statistics of the time of one call, in milliseconds."""
        return window_statistics(
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

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    workload = Workload(name, function, items_per_call, flops_per_item)
    return measure_many([workload], window_seconds, windows, warmup_calls)[0]


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

    Introduced in notebooks/06_speed_benchmarks.ipynb.
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
            cpu_start, busy_start = time.process_time(), _system_busy_seconds()
            start = time.perf_counter()
            result = None
            for _ in range(calls[index]):
                result = workload.function()
            _finish(result)
            durations[index].append(time.perf_counter() - start)
            used = time.process_time() - cpu_start
            busy_end = _system_busy_seconds()
            cpu[index] += used
            if busy_start is None or busy_end is None:
                other_known = False
            else:
                other[index] += max(0.0, (busy_end - busy_start) - used)
    device = device_description()
    results = []
    for index, workload in enumerate(workloads):
        share, warning = load_warning(
            cpu[index],
            sum(durations[index]),
            compute_threads(),
            other_cpu_seconds=other[index] if other_known else None,
            cores=cpu_count(),
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
# FLOP counting and the matmul peak.
# --------------------------------------------------------------------------


def _layer_flops(layer) -> int:
    """Return 2 x multiply-adds per example of one Dense/Conv layer (else 0)."""
    from keras import layers

    if isinstance(layer, layers.Dense):
        input_shape = layer.input.shape
        positions = 1
        for size in input_shape[1:-1]:
            positions *= int(size)
        return 2 * positions * int(input_shape[-1]) * layer.units
    if isinstance(layer, layers.Conv2DTranspose):
        _, height, width, channels = layer.input.shape
        kernel_height, kernel_width = layer.kernel_size
        return (
            2 * height * width * channels * kernel_height * kernel_width * layer.filters
        )
    if isinstance(layer, layers.Conv2D):
        _, height, width, _ = layer.output.shape
        channels = int(layer.input.shape[-1]) // layer.groups
        kernel_height, kernel_width = layer.kernel_size
        return (
            2 * height * width * layer.filters * kernel_height * kernel_width * channels
        )
    return 0


def count_flops(model) -> dict:
    """Count the FLOPs per example of a functional or Sequential Keras model.

    Conventions (the same as a matmul's ``2 n^3``): one multiply-add is 2 FLOPs.
    Dense: ``2 * inputs * units`` (times the positions, for inputs of rank > 2).
    Conv2D: ``2 * H_out * W_out * filters * k_h * k_w * C_in / groups``.
    Conv2DTranspose: ``2 * H_in * W_in * C_in * k_h * k_w * filters`` (every
    input pixel is spread over a k_h x k_w patch of every output channel;
    outputs cropped away by ``padding="same"`` are still counted, as the kernels
    compute them). Other layers count 0. Nested models are entered.

    Args:
        model: A built Keras model whose layers know their input shapes.

    Returns:
        A dict with ``total`` and ``layers`` (a list of ``(name, class, flops)``
        for each counted layer).

    Raises:
        ValueError: If a Dense or Conv layer's input shape is unknown.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    rows = []

    def visit(container) -> None:
        for layer in container.layers:
            if hasattr(layer, "layers") and layer.layers:
                visit(layer)
                continue
            try:
                flops = _layer_flops(layer)
            except (AttributeError, ValueError) as error:
                raise ValueError(
                    f"Cannot count FLOPs of layer {layer.name!r}: its input shape is "
                    "unknown. Fix: build the model on a keras.Input first."
                ) from error
            if flops:
                rows.append((layer.name, type(layer).__name__, int(flops)))

    visit(model)
    return {"total": sum(row[2] for row in rows), "layers": rows}


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

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    import tensorflow as tf

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

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    return measure_many([matmul_workload(dtype, size)], window_seconds, windows)[0]


def fraction_of_peak(result: Result, peak: Result) -> float:
    """Return the achieved GFLOP/s of ``result`` as a fraction of ``peak``'s.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    if result.gflops is None or peak.gflops is None:
        raise ValueError(
            "Both results need flops_per_item; pass flops_per_item=count_flops(model)"
            "['total'] to measure()."
        )
    return result.gflops / peak.gflops


if __name__ == "__main__":
    from course_lib import bench_command

    raise SystemExit(bench_command.main())
