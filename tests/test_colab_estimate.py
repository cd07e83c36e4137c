"""Tests for course_lib.colab_estimate: counted FLOPs, the formula, its rendering."""

import ast
import json
from pathlib import Path

import keras
import pytest

from course_lib import colab_estimate, runtimes
from course_lib.bench import flops

REPO = Path(__file__).resolve().parents[1]


def test_a_tiny_conv_model_counts_what_a_hand_count_gives():
    image = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, padding="same")(image)  # 6x6x3 outputs
    x = keras.layers.Conv2DTranspose(4, 2, strides=2)(x)  # each of 6x6x3 inputs
    model = keras.Model(image, x)
    by_hand = 2 * (6 * 6 * 3) * (3 * 3 * 2) + 2 * (6 * 6 * 3) * (2 * 2 * 4)
    assert flops.count_flops(model)["total"] == by_hand == 3888 + 3456


def test_the_course_networks_count_as_their_hand_counts():
    counted = colab_estimate.network_flops()
    hidden = 128  # toy2d's MLPs: 2 -> 128 -> 128 -> 2 (or 1)
    assert counted["toy_generator"] == 2 * (2 * hidden + hidden * hidden + hidden * 2)
    assert counted["toy_discriminator"] == 2 * (2 * hidden + hidden * hidden + hidden)
    # The VAE decoder: Dense 16->128->7*7*32, two stride-2 3x3 transposed convs
    # (32->64 on 7x7 inputs, 64->32 on 14x14), a 3x3 conv 32->1 on 28x28.
    decoder = (
        2 * 16 * 128
        + 2 * 128 * 7 * 7 * 32
        + 2 * 7 * 7 * 32 * 9 * 64
        + 2 * 14 * 14 * 64 * 9 * 32
        + 2 * 28 * 28 * 9 * 32
    )
    assert counted["vae_decoder"] == decoder
    assert counted["dcgan_generator"] == (
        2 * 100 * 12544
        + 2 * 7**2 * 256 * 25 * 128
        + 2 * 7**2 * 128 * 25 * 64
        + 2 * 14**2 * 64 * 25 * 1
    )


def test_the_estimates_arithmetic():
    work = [colab_estimate.Work("a", 1e9, 50)]  # W = 5e10 FLOPs
    parts = colab_estimate.estimate(100.0, work, cpu_rate=1e9, gpu_rate=1e10)
    assert parts["cpu_compute_seconds"] == pytest.approx(50.0)
    assert parts["other_seconds"] == pytest.approx(50.0)  # 100 - 50
    assert parts["t4_compute_seconds"] == pytest.approx(5.0)
    assert parts["seconds"] == pytest.approx(55.0)
    # Twice the work on the T4: twice its compute and twice the rest.
    twice = [colab_estimate.Work("a", 1e9, 50, t4_units=100)]
    parts = colab_estimate.estimate(100.0, twice, cpu_rate=1e9, gpu_rate=1e10)
    assert parts["seconds"] == pytest.approx(2 * 50.0 + 10.0)
    # A run faster than its counted work at R_cpu has no non-compute part.
    parts = colab_estimate.estimate(10.0, work, cpu_rate=1e9, gpu_rate=1e10)
    assert parts["other_seconds"] == 0.0 and parts["seconds"] == pytest.approx(5.0)
    # No counted work: the measured CPU time carries over.
    assert colab_estimate.estimate(7.0, [], 1e9, 1e10)["seconds"] == 7.0
    with pytest.raises(ValueError, match="rates"):
        colab_estimate.estimate(1.0, work, 0.0, 1e10)


def test_bench_rates_and_the_t4_rate():
    bench = {
        "training": [{"loop": "reference fp32", "gflops": 90.0}]
        + [{"loop": "build_gan", "gflops": 100.0}],
        "peaks": [{"dtype": "bfloat16", "gflops": 400.0}]
        + [{"dtype": "float32", "gflops": 200.0}],
    }
    rate, fraction = colab_estimate.bench_rates(bench)
    assert rate == pytest.approx(1e11) and fraction == pytest.approx(0.5)
    assert colab_estimate.t4_rate(0.5) == pytest.approx(4.05e12)
    with pytest.raises(ValueError, match="Fix"):
        colab_estimate.bench_rates({"training": [], "peaks": []})
    with pytest.raises(ValueError, match="fraction"):
        colab_estimate.t4_rate(1.5)


def _record(measured_gpu=None):
    entry = {"seconds": 300.0, "date": "2026-12-01", "machine": "CPU", "ok": True}
    notebooks = {"05_gan": {"full": entry}, "06_eval": {"full": dict(entry)}}
    if measured_gpu is not None:
        notebooks["05_gan"]["full-gpu"] = {**entry, "seconds": measured_gpu}
    estimate = {"seconds": 200.0, "label": colab_estimate.LABEL}
    estimates = {"05_gan": {"full-gpu": estimate}, "06_eval": {"full-gpu": estimate}}
    return {"notebooks": notebooks, "estimates": estimates}


def test_the_estimate_renders_labelled_and_a_measurement_replaces_it():
    estimated = runtimes.render("05", "full-gpu", _record())
    assert estimated == "~3.5 min (T4 estimate, not measured)"
    assert "estimate" in estimated and "estimate" in colab_estimate.LABEL
    assert runtimes.render("05", "full-gpu", _record(measured_gpu=90.0)) == "~1.5 min"
    # The longest notebook: 06 is still an estimate, so the label stays.
    assert runtimes.render("max", "full-gpu", _record(measured_gpu=90.0)) == (
        "~3.5 min (T4 estimate, not measured)"
    )
    # CPU kinds never take an estimate.
    assert runtimes.render("05", "full", _record()) == "~5 min"


def test_the_stored_estimates_are_current():
    record = runtimes.load_record()
    computed = colab_estimate.record_estimates(record, colab_estimate.load_bench())
    assert record.get("estimates") == computed, (
        "data/run_times.json's estimates are stale; run "
        "`python -m course_lib.colab_estimate --write`"
    )
    for entries in computed.values():
        assert entries["full-gpu"]["label"] == "T4 estimate, not measured"


def _full_value(notebook: str, name: str):
    """Return a hyperparameter's full-profile value from a notebook's code."""
    path = next((REPO / "notebooks").glob(f"{notebook}_*.ipynb"))
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for node in ast.parse("".join(cell["source"])).body:
            if (
                isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", "") == name
            ):
                value = (
                    node.value.orelse
                    if isinstance(node.value, ast.IfExp)
                    else node.value
                )
                if isinstance(value, ast.Tuple) and name == "COMPARE_SEEDS":
                    return len(value.elts)
                return ast.literal_eval(value)
    raise AssertionError(f"{name} not found in notebook {notebook}")


@pytest.mark.parametrize(
    ("notebook", "name"),
    [
        (number, name)
        for number, sizes in colab_estimate.NOTEBOOK_SIZES.items()
        for name in sizes
    ],
)
def test_the_sizes_are_the_notebooks_own(notebook, name):
    assert colab_estimate.NOTEBOOK_SIZES[notebook][name] == _full_value(notebook, name)


def test_notebook_04s_evaluation_points_are_the_notebooks_own():
    assert colab_estimate.TOY_EVAL_POINTS == _full_value("04", "EVAL_SAMPLES")


def test_notebook_06_does_more_work_on_a_t4_than_on_the_cpu():
    work = colab_estimate.notebook_work("06")
    assert sum(w.t4_flops for w in work) > sum(w.flops for w in work)
    assert colab_estimate.notebook_work("09") == []
