"""Window statistics and the load warning: the pure arithmetic of the harness.

Both functions take numbers and return numbers or sentences, so they are tested
against NumPy and hand-made situations; :mod:`course_lib.bench.harness` feeds
them the measured times.

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

# A result whose process received less than this share of the CPU time that its
# threads could have used, while other processes were busy, carries a warning.
MIN_CPU_SHARE = 0.75
# Other processes using more than this share of all cores is contention.
MAX_OTHER_SHARE = 0.10


def window_statistics(values: Sequence[float]) -> dict:
    """Summarise the per-window measurements of one benchmark.

    Args:
        values: One number per timed window (for example images/s).

    Returns:
        A dict with ``median``, ``min``, ``max``, ``spread`` (``(max - min) /
        median``, the relative width of the range) and ``windows`` (the count).

    Raises:
        ValueError: If ``values`` is empty or holds a non-positive number.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
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

    Introduced in notebooks/09_speed_benchmarks.ipynb.
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


def system_busy_seconds() -> float | None:
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
