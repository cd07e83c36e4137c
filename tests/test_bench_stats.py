"""Tests for course_lib.bench.stats: window statistics and the load warning.

The oracles are NumPy and hand-made situations; nothing here is timed.
"""

import numpy as np
import pytest

from course_lib.bench import stats


def test_window_statistics_against_numpy():
    values = [10.0, 12.0, 9.0, 30.0, 11.0]
    summary = stats.window_statistics(values)
    assert summary["median"] == pytest.approx(np.median(values))
    assert summary["min"] == 9.0 and summary["max"] == 30.0
    assert summary["spread"] == pytest.approx((30.0 - 9.0) / 11.0)
    assert summary["windows"] == 5


def test_window_statistics_even_count_and_outlier_robustness():
    summary = stats.window_statistics([1.0, 2.0, 3.0, 1000.0])
    assert summary["median"] == pytest.approx(2.5)


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [-2.0]])
def test_window_statistics_rejects_empty_and_non_positive(bad):
    with pytest.raises(ValueError):
        stats.window_statistics(bad)


def test_load_warning_quiet_machine_full_share():
    share, warning = stats.load_warning(
        cpu_seconds=3.9, wall_seconds=2.0, threads=2, other_cpu_seconds=0.05, cores=2
    )
    assert share == pytest.approx(3.9 / 4.0)
    assert warning is None


def test_load_warning_starved_by_neighbours():
    # Two threads for 2 s could use 4 CPU s; the process got 2, others took 1.8.
    share, warning = stats.load_warning(
        cpu_seconds=2.0, wall_seconds=2.0, threads=2, other_cpu_seconds=1.8, cores=2
    )
    assert share == pytest.approx(0.5)
    assert warning is not None and "45%" in warning


def test_load_warning_low_share_but_idle_neighbours_is_not_contention():
    # A batch-1 workload that keeps one of two cores busy on a quiet machine.
    share, warning = stats.load_warning(
        cpu_seconds=1.0, wall_seconds=1.0, threads=2, other_cpu_seconds=0.02, cores=2
    )
    assert share == pytest.approx(0.5)
    assert warning is None


def test_load_warning_busy_neighbours_but_full_share_is_fine():
    share, warning = stats.load_warning(
        cpu_seconds=1.9, wall_seconds=1.0, threads=2, other_cpu_seconds=1.0, cores=4
    )
    assert warning is None


def test_load_warning_without_system_counters_uses_share_alone():
    _, warning = stats.load_warning(cpu_seconds=0.5, wall_seconds=2.0, threads=2)
    assert warning is not None
    _, warning = stats.load_warning(cpu_seconds=3.0, wall_seconds=2.0, threads=2)
    assert warning is None


def test_load_warning_rejects_bad_input():
    with pytest.raises(ValueError):
        stats.load_warning(cpu_seconds=1.0, wall_seconds=0.0, threads=2)
    with pytest.raises(ValueError):
        stats.load_warning(cpu_seconds=1.0, wall_seconds=1.0, threads=0)
