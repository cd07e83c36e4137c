"""Tests for course_lib.bench.record: the JSON schema, the targets and the table.

Nothing here is timed; results are built by hand.
"""

import copy
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest

from course_lib import config
from course_lib.bench import harness, record, sampling_speed


def _result(name, rate, batch, flops=1e8, **tags):
    result = harness.Result(
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
            "article", 20.0, 1, method=sampling_speed.SAMPLING_METHODS[0], batch_size=1
        ),
        _result("fast b1", 400.0, 1, method="tf.function", batch_size=1),
        _result("fast b256", 950.0, 256, method="tf.function", batch_size=256),
    ]
    training = [
        _result("ref", 100.0, 256, loop="reference fp32"),
        _result("ours", 150.0, 256, loop="build_gan"),
    ]
    targets = record.target_rows({"float32": peak}, sampling, training)
    made = {
        "schema_version": record.SCHEMA_VERSION,
        "created_utc": "2026-01-01T00:00:00+00:00",
        "profile": {"name": "quick"},
        "hardware": {"summary": "CPU: test (2 cores), no GPU", "cores": 2},
        "load": {"loadavg_before": [0.1, 0.1, 0.1], "loadavg_after": [0.2, 0.1, 0.1]},
        "peaks": [dict(peak.as_dict(), dtype="float32")],
        "sampling": [r.as_dict() for r in sampling],
        "training": [r.as_dict() for r in training],
        "generation_cost": [],
        "targets": targets,
        "warnings": [],
    }
    return record.json_ready(made)


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
    assert targets["build_gan_over_reference_fp32"]["target"] == 1.0


def test_training_target_states_the_ratio_per_flop():
    training = [
        _result("ref", 100.0, 256, flops=1e8, loop="reference fp32"),
        _result("ours", 150.0, 256, flops=1.1e8, loop="build_gan"),
    ]
    peak = _result("matmul", 1.0, 1, flops=100e9)
    (row,) = record.target_rows({"float32": peak}, [], training)
    assert row["measured"] == pytest.approx(1.5)
    # 150 * 1.1e8 FLOP/s against 100 * 1e8: 1.65x per FLOP.
    assert row["detail"].endswith("per FLOP 1.65x")


def test_training_target_states_fits_cost_over_a_bare_loop_of_its_step():
    training = [
        _result("ref", 100.0, 256, loop="reference fp32"),
        _result("ours", 150.0, 256, loop="build_gan"),
        _result("ours fp32", 90.0, 256, loop="build_gan fp32"),
        _result("bare loop", 100.0, 256, loop="build_gan fp32 step loop"),
    ]
    peak = _result("matmul", 1.0, 1, flops=100e9)
    (row,) = record.target_rows({"float32": peak}, [], training)
    assert row["detail"].endswith("fit runs its train_step at 0.90x a bare loop")
    (without,) = record.target_rows({"float32": peak}, [], training[:3])
    assert "bare loop" not in without["detail"]


def test_training_target_is_higher_where_bfloat16_was_picked():
    peak = _result("matmul", 1.0, 1, flops=100e9)
    training = [
        _result("ref", 100.0, 256, loop="reference fp32"),
        _result("ours", 120.0, 256, loop="build_gan"),
    ]
    plain = record.target_rows({"float32": peak}, [], training, "float32")
    bf16 = record.target_rows({"float32": peak}, [], training, "mixed_bfloat16")
    assert (plain[0]["target"], plain[0]["met"]) == (1.0, True)
    assert (bf16[0]["target"], bf16[0]["met"]) == (1.3, False)


def test_sampling_is_judged_at_the_largest_batch_only():
    peak = _result("matmul", 1.0, 1, flops=100e9)
    sampling = [
        _result("fast b256", 950.0, 256, method="tf.function", batch_size=256),
        _result("slow b1024", 500.0, 1024, method="tf.function", batch_size=1024),
    ]
    rows = record.target_rows({"float32": peak}, sampling, [])
    assert rows[0]["name"] == "sampling_fraction_of_fp32_peak"
    assert rows[0]["measured"] == pytest.approx(0.5)


def test_fraction_of_the_fp32_peak_counts_float32_sampling_only():
    peak = _result("matmul", 1.0, 1, flops=100e9)
    sampling = [
        _result("fp32", 800.0, 1024, method="tf.function", batch_size=1024),
        _result("bf16", 2000.0, 1024, method="tf.function, bfloat16", batch_size=1024),
    ]
    rows = record.target_rows({"float32": peak}, sampling, [])
    assert rows[0]["measured"] == pytest.approx(0.8)


def test_valid_record_survives_json_round_trip():
    loaded = json.loads(json.dumps(_record()))
    assert record.validate_record(loaded) is loaded


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("hardware", "summary"), None),
        (("schema_version",), 99),
        (("sampling", 0, "cpu_share"), "high"),
        (("targets", 0, "met"), "yes"),
    ],
)
def test_schema_rejects_broken_records(path, value):
    broken = copy.deepcopy(_record())
    holder = broken
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    with pytest.raises(ValueError):
        record.validate_record(broken)


def test_schema_rejects_missing_section_and_bad_statistics():
    broken = _record()
    del broken["training"]
    with pytest.raises(ValueError, match="training"):
        record.validate_record(broken)
    broken = _record()
    broken["sampling"][0]["images_per_second"]["median"] = 1e9
    with pytest.raises(ValueError, match="median"):
        record.validate_record(broken)


def test_version_1_records_name_their_machine_by_device():
    old = _record()
    old["schema_version"] = 1
    old["hardware"] = {"device": "CPU: old (2 cores)", "cores": 2}
    assert record.machine_line(record.validate_record(old)) == "CPU: old (2 cores)"
    # A version-1 record without its device line is rejected.
    old["hardware"] = {"summary": "CPU: old (2 cores)", "cores": 2}
    with pytest.raises(ValueError, match="device"):
        record.validate_record(old)


def test_stored_records_are_valid_and_name_their_machine():
    stored = sorted((config.data_dir() / "benchmarks").glob("*.json"))
    assert stored, "data/benchmarks/ should hold at least one real record"
    for path in stored:
        loaded = record.validate_record(json.loads(path.read_text()))
        assert record.machine_line(loaded).startswith(("CPU: ", "GPU: "))


def test_default_json_path_is_machine_and_profile(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "data_dir", lambda: tmp_path)
    path = record.default_json_path(_record())
    assert path == tmp_path / "benchmarks" / "cpu-test-2-cores-no-gpu_quick.json"
    assert path.parent.is_dir()


def test_format_table_names_the_machine_and_every_result():
    table = record.format_table(_record())
    lines = table.splitlines()
    assert lines[0] == "machine: CPU: test (2 cores), no GPU"
    for name in ("matmul", "article", "fast b256", "ref", "ours"):
        assert any(line.startswith(name) for line in lines)
    assert "batch1_latency_ms: 2.5 (target <= 3) met" in table


def test_json_ready_turns_tuples_and_numpy_numbers_into_json():
    converted = record.json_ready({"a": (1, np.float32(2.5)), 3: [np.int64(4)]})
    assert converted == {"a": [1, 2.5], "3": [4]}
    assert type(converted["a"][1]) is float and type(converted["3"][0]) is int


def test_suite_sizes_cover_both_profiles():
    assert set(record.SUITE_SIZES) == {"quick", "full"}
    for sizes in record.SUITE_SIZES.values():
        assert set(sizes) == set(record.SUITE_SIZES["full"])
