"""Tests for course_lib.bench.harness: results, the timing loop and the matmul.

No test here checks a timing: timings are figures for the benchmark, not tests.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest

from course_lib import hardware
from course_lib.bench import harness


def test_result_rates_and_gflops():
    result = harness.Result(
        name="x",
        items_per_call=4,
        calls_per_window=10,
        window_seconds=[2.0, 1.0, 4.0],
        cpu_share=1.0,
        warning=None,
        device="CPU",
        flops_per_item=1e9,
    )
    assert result.images_per_second["median"] == pytest.approx(20.0)
    assert result.ms_per_call["median"] == pytest.approx(200.0)
    assert result.gflops == pytest.approx(20.0)
    assert harness.fraction_of_peak(result, result) == pytest.approx(1.0)


def test_measure_counts_calls_and_excludes_warmup():
    calls = []
    result = harness.measure(
        lambda: calls.append(1),
        name="noop",
        items_per_call=3,
        window_seconds=0.01,
        windows=3,
        warmup_calls=2,
    )
    # 2 warm-up calls + 1 calibration call + the timed ones.
    assert len(calls) == 3 + 3 * result.calls_per_window
    assert len(result.window_seconds) == 3


def test_matmul_workload_counts_two_n_cubed():
    workload = harness.matmul_workload("float32", size=8)
    assert workload.flops_per_item == 2 * 8**3
    assert workload.items_per_call == 1
    product = workload.function().numpy()
    assert product.shape == (8, 8)


def test_result_names_this_machine_and_round_trips_as_dict():
    result = harness.measure(
        lambda: None, name="noop", items_per_call=1, window_seconds=0.005, windows=2
    )
    assert result.device == hardware.machine_summary()
    row = result.as_dict()
    assert row["device"] == result.device
    assert row["images_per_second"] == result.images_per_second
    assert row["gflops"] is None
    assert "noop:" in str(result)


def test_fraction_of_peak_needs_flops():
    known = harness.Result("a", 1, 1, [1.0], 1.0, None, "CPU", flops_per_item=4e9)
    peak = harness.Result("p", 1, 1, [1.0], 1.0, None, "CPU", flops_per_item=8e9)
    assert harness.fraction_of_peak(known, peak) == pytest.approx(0.5)
    unknown = harness.Result("b", 1, 1, [1.0], 1.0, None, "CPU")
    with pytest.raises(ValueError, match="flops_per_item"):
        harness.fraction_of_peak(unknown, peak)


def test_measure_many_rejects_bad_sizes():
    workload = harness.Workload("w", lambda: None, 1)
    with pytest.raises(ValueError):
        harness.measure_many([workload], windows=0)
    with pytest.raises(ValueError, match="items_per_call"):
        harness.measure_many([harness.Workload("w", lambda: None, 0)])


def test_tag_attaches_labels():
    result = harness.Result("a", 1, 1, [1.0], 1.0, None, "CPU")
    assert harness.tag(result, method="m", batch_size=4) is result
    assert (result.method, result.batch_size) == ("m", 4)
