"""Tests for course_lib.bench_command: the JSON schema and the targets.

Nothing here is timed; results are built by hand.
"""

import copy
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest

from course_lib import bench, bench_command, bench_suite


def _result(name, rate, batch, flops=1e8, **tags):
    result = bench.Result(
        name=name,
        items_per_call=batch,
        calls_per_window=2,
        window_seconds=[2 * batch / rate] * 3,
        cpu_share=0.95,
        warning=None,
        device="CPU: test (2 cores)",
        flops_per_item=flops,
    )
    for key, value in tags.items():
        setattr(result, key, value)
    return result


def _record():
    peak = _result("matmul", 1.0, 1, flops=100e9)  # 100 GFLOP/s
    sampling = [
        _result(
            "article", 20.0, 1, method=bench_suite.SAMPLING_METHODS[0], batch_size=1
        ),
        _result("fast b1", 400.0, 1, method="tf.function", batch_size=1),
        _result("fast b256", 950.0, 256, method="tf.function", batch_size=256),
    ]
    training = [
        _result("ref", 100.0, 256, loop="reference fp32"),
        _result("ours", 150.0, 256, loop="build_gan"),
    ]
    targets = bench_command.target_rows({"float32": peak}, sampling, training)
    record = {
        "schema_version": bench_command.SCHEMA_VERSION,
        "created_utc": "2026-01-01T00:00:00+00:00",
        "profile": {"name": "quick"},
        "hardware": {"device": "CPU: test (2 cores)", "cores": 2},
        "load": {"loadavg_before": [0.1, 0.1, 0.1], "loadavg_after": [0.2, 0.1, 0.1]},
        "peaks": [dict(peak.as_dict(), dtype="float32")],
        "sampling": [r.as_dict() for r in sampling],
        "training": [r.as_dict() for r in training],
        "generation_cost": [],
        "targets": targets,
        "warnings": [],
    }
    return bench_command.json_ready(record)


def test_targets_computed_from_hand_made_results():
    targets = {row["name"]: row for row in _record()["targets"]}
    # 950 images/s * 1e8 FLOPs = 95 GFLOP/s against a 100 GFLOP/s peak.
    assert targets["sampling_fraction_of_fp32_peak"]["measured"] == pytest.approx(0.95)
    assert targets["sampling_fraction_of_fp32_peak"]["met"]
    assert targets["batched_over_article_predict"]["measured"] == pytest.approx(47.5)
    assert not targets["batched_over_article_predict"]["met"]
    assert targets["batch1_latency_ms"]["measured"] == pytest.approx(2.5)
    assert targets["batch1_latency_ms"]["met"]
    assert targets["build_gan_over_reference_fp32"]["measured"] == pytest.approx(1.5)


def test_valid_record_survives_json_round_trip():
    record = json.loads(json.dumps(_record()))
    assert bench_command.validate_record(record) is record


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("hardware", "device"), None),
        (("schema_version",), 99),
        (("sampling", 0, "cpu_share"), "high"),
        (("targets", 0, "met"), "yes"),
    ],
)
def test_schema_rejects_broken_records(path, value):
    record = copy.deepcopy(_record())
    holder = record
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    with pytest.raises(ValueError):
        bench_command.validate_record(record)


def test_schema_rejects_missing_section_and_bad_statistics():
    record = _record()
    del record["training"]
    with pytest.raises(ValueError, match="training"):
        bench_command.validate_record(record)
    record = _record()
    record["sampling"][0]["images_per_second"]["median"] = 1e9
    with pytest.raises(ValueError, match="median"):
        bench_command.validate_record(record)
