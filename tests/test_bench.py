"""Tests for course_lib.bench: statistics, the load warning and FLOP counts.

No test here times anything: timings are figures for the benchmark, not tests.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
from keras import layers

from course_lib import bench


def test_window_statistics_against_numpy():
    values = [10.0, 12.0, 9.0, 30.0, 11.0]
    stats = bench.window_statistics(values)
    assert stats["median"] == pytest.approx(np.median(values))
    assert stats["min"] == 9.0 and stats["max"] == 30.0
    assert stats["spread"] == pytest.approx((30.0 - 9.0) / 11.0)
    assert stats["windows"] == 5


def test_window_statistics_even_count_and_outlier_robustness():
    stats = bench.window_statistics([1.0, 2.0, 3.0, 1000.0])
    assert stats["median"] == pytest.approx(2.5)


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [-2.0]])
def test_window_statistics_rejects_empty_and_non_positive(bad):
    with pytest.raises(ValueError):
        bench.window_statistics(bad)


def test_load_warning_quiet_machine_full_share():
    share, warning = bench.load_warning(
        cpu_seconds=3.9, wall_seconds=2.0, threads=2, other_cpu_seconds=0.05, cores=2
    )
    assert share == pytest.approx(3.9 / 4.0)
    assert warning is None


def test_load_warning_starved_by_neighbours():
    # Two threads for 2 s could use 4 CPU s; the process got 2, others took 1.8.
    share, warning = bench.load_warning(
        cpu_seconds=2.0, wall_seconds=2.0, threads=2, other_cpu_seconds=1.8, cores=2
    )
    assert share == pytest.approx(0.5)
    assert warning is not None and "45%" in warning


def test_load_warning_low_share_but_idle_neighbours_is_not_contention():
    # A batch-1 workload that keeps one of two cores busy on a quiet machine.
    share, warning = bench.load_warning(
        cpu_seconds=1.0, wall_seconds=1.0, threads=2, other_cpu_seconds=0.02, cores=2
    )
    assert share == pytest.approx(0.5)
    assert warning is None


def test_load_warning_busy_neighbours_but_full_share_is_fine():
    share, warning = bench.load_warning(
        cpu_seconds=1.9, wall_seconds=1.0, threads=2, other_cpu_seconds=1.0, cores=4
    )
    assert warning is None


def test_load_warning_without_system_counters_uses_share_alone():
    _, warning = bench.load_warning(cpu_seconds=0.5, wall_seconds=2.0, threads=2)
    assert warning is not None
    _, warning = bench.load_warning(cpu_seconds=3.0, wall_seconds=2.0, threads=2)
    assert warning is None


def test_load_warning_rejects_bad_input():
    with pytest.raises(ValueError):
        bench.load_warning(cpu_seconds=1.0, wall_seconds=0.0, threads=2)
    with pytest.raises(ValueError):
        bench.load_warning(cpu_seconds=1.0, wall_seconds=1.0, threads=0)


def test_flops_dense_by_hand():
    model = keras.Sequential([keras.Input((10,)), layers.Dense(7), layers.Dense(3)])
    # 2 * (10*7 + 7*3) = 182.
    assert bench.count_flops(model)["total"] == 182


def test_flops_conv2d_by_hand():
    image = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same")(image)  # 8x8 output
    x = layers.Conv2D(5, 3, strides=2, padding="valid")(x)  # 3x3 output
    model = keras.Model(image, x)
    first = 2 * 8 * 8 * 4 * 3 * 3 * 3
    second = 2 * 3 * 3 * 5 * 3 * 3 * 4
    counted = bench.count_flops(model)
    assert counted["total"] == first + second
    assert [row[2] for row in counted["layers"]] == [first, second]


def test_flops_conv2d_transpose_by_hand():
    z = keras.Input((4, 4, 6))
    x = layers.Conv2DTranspose(2, 5, strides=2, padding="same")(z)  # 8x8x2
    model = keras.Model(z, x)
    assert model.output.shape[1:] == (8, 8, 2)
    assert bench.count_flops(model)["total"] == 2 * 4 * 4 * 6 * 5 * 5 * 2


def test_flops_conv2d_transpose_equals_brute_force_multiplications():
    # Independent check: scatter every input pixel through the kernel in NumPy
    # and count the multiplications done.
    z = keras.Input((3, 3, 2))
    model = keras.Model(z, layers.Conv2DTranspose(4, 3, strides=2)(z))
    kernel_h, kernel_w, out_channels, in_channels = 3, 3, 4, 2
    multiplications = 0
    for _ in np.ndindex(3, 3, in_channels):
        multiplications += kernel_h * kernel_w * out_channels
    assert bench.count_flops(model)["total"] == 2 * multiplications


def test_flops_skip_other_layers_and_enter_nested_models():
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    outer_in = keras.Input((4,))
    x = layers.BatchNormalization()(outer_in)
    x = inner(layers.ReLU()(x))
    model = keras.Model(outer_in, x)
    assert bench.count_flops(model)["total"] == 2 * 4 * 2


def test_flops_dcgan_generator_by_hand():
    from course_lib import models

    counted = bench.count_flops(models.dcgan_generator(latent_dim=100))
    dense = 2 * 100 * 7 * 7 * 256
    first = 2 * 7 * 7 * 256 * 5 * 5 * 128
    second = 2 * 7 * 7 * 128 * 5 * 5 * 64
    third = 2 * 14 * 14 * 64 * 5 * 5 * 1
    assert counted["total"] == dense + first + second + third


def test_result_rates_and_gflops():
    result = bench.Result(
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
    assert bench.fraction_of_peak(result, result) == pytest.approx(1.0)


def test_measure_counts_calls_and_excludes_warmup():
    calls = []
    result = bench.measure(
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
    workload = bench.matmul_workload("float32", size=8)
    assert workload.flops_per_item == 2 * 8**3
    assert workload.items_per_call == 1
    product = workload.function().numpy()
    assert product.shape == (8, 8)
