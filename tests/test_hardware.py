"""Tests for course_lib.hardware: the precision rules and the settings' format."""

import pytest

from course_lib import hardware


@pytest.mark.parametrize(
    ("device", "kind", "capability", "flags", "expected"),
    [
        ("Colab T4 (Turing)", "GPU", (7, 5), set(), "mixed_float16"),
        ("V100 (Volta)", "GPU", (7, 0), set(), "mixed_float16"),
        ("A100 (Ampere)", "GPU", (8, 0), set(), "mixed_bfloat16"),
        ("RTX 3090 (Ampere)", "gpu", "8.6", set(), "mixed_bfloat16"),
        ("H100 (Hopper)", "GPU", (9, 0), {"amx_bf16"}, "mixed_bfloat16"),
        ("P100 (Pascal, no tensor cores)", "GPU", (6, 0), set(), "float32"),
        ("a GPU of unknown capability", "GPU", None, {"amx_bf16"}, "float32"),
        ("AVX2 CPU", "CPU", None, {"avx2", "fma"}, "float32"),
        ("AVX-512 bf16 CPU, no AMX", "CPU", None, {"avx512_bf16"}, "float32"),
        ("AMX CPU", "CPU", None, {"amx_tile", "amx_bf16"}, "mixed_bfloat16"),
        ("AMX CPU (capability ignored)", "cpu", (7, 5), {"amx_bf16"}, "mixed_bfloat16"),
    ],
)
def test_recommend_precision_for_described_devices(
    device, kind, capability, flags, expected
):
    assert hardware.recommend_precision(kind, capability, flags) == expected, device


def test_recommend_precision_rejects_unreadable_descriptions():
    with pytest.raises(ValueError, match="device_kind"):
        hardware.recommend_precision("TPU", None, set())
    with pytest.raises(ValueError, match="compute_capability"):
        hardware.recommend_precision("GPU", "Turing", set())


@pytest.mark.parametrize(
    ("device", "flags", "speedup", "expected"),
    [
        (
            "AMD EPYC (bf16 measured 1.87x)",
            {"avx512f", "avx512_bf16"},
            1.87,
            "mixed_bfloat16",
        ),
        ("Intel Xeon, no AMX (0.58x)", {"avx512f", "avx512_bf16"}, 0.58, "float32"),
        ("just under the threshold", {"avx512_bf16"}, 1.29, "float32"),
        ("at the threshold", {"avx512_bf16"}, 1.3, "mixed_bfloat16"),
        ("unmeasured", {"avx512_bf16"}, None, "float32"),
        ("no bf16 instructions: a speedup is ignored", {"avx2"}, 5.0, "float32"),
        (
            "AMX: no measurement needed",
            {"amx_bf16", "avx512_bf16"},
            0.5,
            "mixed_bfloat16",
        ),
    ],
)
def test_recommend_precision_uses_the_measured_bfloat16_speedup(
    device, flags, speedup, expected
):
    assert hardware.MIN_BFLOAT16_SPEEDUP == 1.3
    got = hardware.recommend_precision("CPU", None, flags, bfloat16_speedup=speedup)
    assert got == expected, device


@pytest.mark.parametrize(
    ("flags", "speedup", "probed", "expected"),
    [
        ({"avx2", "fma"}, None, False, "float32"),
        (
            {"avx512f", "amx_tile", "amx_bf16", "avx512_bf16"},
            None,
            False,
            "mixed_bfloat16",
        ),
        ({"avx512f", "avx512_bf16"}, 1.9, True, "mixed_bfloat16"),
        ({"avx512f", "avx512_bf16"}, 0.6, True, "float32"),
    ],
)
def test_fastest_safe_policy_measures_only_where_the_flags_cannot_decide(
    monkeypatch, flags, speedup, probed, expected
):
    calls = []

    def probe():
        calls.append(1)
        return speedup

    monkeypatch.delenv("COURSE_PRECISION", raising=False)
    monkeypatch.setattr(hardware, "gpu_names", lambda: [])
    monkeypatch.setattr(hardware, "cpu_flags", lambda: set(flags))
    monkeypatch.setattr(hardware, "probed_bfloat16_speedup", probe)
    assert hardware.fastest_safe_policy() == expected
    assert bool(calls) == probed


def test_a_probe_that_cannot_run_keeps_float32_and_is_not_retried(monkeypatch):
    import tensorflow as tf

    calls = []

    def no_kernel():
        calls.append(1)
        raise tf.errors.NotFoundError(None, None, "no bfloat16 MatMul kernel")

    monkeypatch.delenv("COURSE_PRECISION", raising=False)
    monkeypatch.setattr(hardware, "gpu_names", lambda: [])
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(hardware, "bfloat16_speedup", no_kernel)
    hardware.probed_bfloat16_speedup.cache_clear()
    try:
        assert hardware.measured_bfloat16_speedup() is None
        assert hardware.fastest_safe_policy() == "float32"
        assert hardware.fastest_safe_policy() == "float32"
        assert calls == [1]  # one failed probe per process, not one per build
    finally:
        hardware.probed_bfloat16_speedup.cache_clear()


def test_no_cpu_probe_on_a_gpu(monkeypatch):
    def refuse():
        pytest.fail("probed on a GPU machine")

    monkeypatch.delenv("COURSE_PRECISION", raising=False)
    monkeypatch.setattr(hardware, "gpu_names", lambda: ["/physical_device:GPU:0"])
    monkeypatch.setattr(hardware, "gpu_compute_capability", lambda: (7, 5))
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(hardware, "probed_bfloat16_speedup", refuse)
    assert hardware.fastest_safe_policy() == "mixed_float16"
    assert hardware.measured_bfloat16_speedup() is None


def test_the_probe_agrees_with_the_bench_harness_matmul_rates():
    # An independent measurement of the same ratio: bench.harness's timed
    # windows of a 2,048-wide matmul (its own code, its own clock loop).
    from course_lib.bench import harness

    speedup = hardware.bfloat16_speedup()
    rates = {
        dtype: harness.matmul_peak(dtype, 2048, 0.3, 2).gflops
        for dtype in ("float32", "bfloat16")
    }
    assert 0.5 < speedup / (rates["bfloat16"] / rates["float32"]) < 2.0
    flags = hardware.cpu_flags()
    if "amx_bf16" in flags:  # 3.6x in this kind of machine's stored record
        assert speedup > 2.0
    probed = hardware.probed_bfloat16_speedup()
    assert probed == hardware.probed_bfloat16_speedup()  # measured once


def test_recommended_settings_pick_float16_on_a_t4(monkeypatch):
    monkeypatch.delenv("COURSE_PRECISION", raising=False)
    monkeypatch.setattr(hardware, "gpu_names", lambda: ["/physical_device:GPU:0"])
    monkeypatch.setattr(hardware, "gpu_compute_capability", lambda: (7, 5))
    settings = hardware.recommended_settings()
    assert settings["precision"] == "mixed_float16"
    assert settings["jit_compile"] is True


def test_has_bfloat16_matrix_units():
    assert hardware.has_bfloat16_matrix_units({"amx_bf16"})
    assert not hardware.has_bfloat16_matrix_units({"avx512_bf16"})
    assert not hardware.has_bfloat16_matrix_units(set())


def test_recommended_settings_format():
    settings = hardware.recommended_settings()
    assert set(settings) == {"precision", "jit_compile", "steps_per_execution"}
    assert settings["precision"] in ("float32", "mixed_bfloat16", "mixed_float16")
    assert isinstance(settings["jit_compile"], bool)
    assert isinstance(settings["steps_per_execution"], int)
    assert settings["steps_per_execution"] >= 1


def test_recommended_settings_follow_this_machine(monkeypatch):
    # Expectations from the flags alone where they decide, independent of the rule.
    monkeypatch.delenv("COURSE_PRECISION", raising=False)
    flags = hardware.cpu_flags()
    precision = hardware.recommended_settings()["precision"]
    if hardware.gpu_names():
        assert precision in ("float32", "mixed_float16", "mixed_bfloat16")
    elif "amx_bf16" in flags:
        assert precision == "mixed_bfloat16"
    elif "avx512_bf16" not in flags:
        assert precision == "float32"
    else:
        speedup = hardware.measured_bfloat16_speedup(flags)
        fast = speedup is not None and speedup >= 1.3
        assert precision == ("mixed_bfloat16" if fast else "float32")


def test_precision_override(monkeypatch):
    monkeypatch.setenv("COURSE_PRECISION", "float32")
    assert hardware.fastest_safe_policy() == "float32"
    monkeypatch.setenv("COURSE_PRECISION", "half")
    with pytest.raises(ValueError):
        hardware.fastest_safe_policy()


def test_cpu_model_is_text():
    assert isinstance(hardware.cpu_model(), str) and hardware.cpu_model()


def test_resolve_settings_fills_only_open_choices():
    recommended = hardware.recommended_settings()
    assert hardware.resolve_settings() == recommended
    chosen = hardware.resolve_settings("float32", True, 3)
    assert chosen == {
        "precision": "float32",
        "jit_compile": True,
        "steps_per_execution": 3,
    }
    with pytest.raises(ValueError, match="Fix"):
        hardware.resolve_settings("float8")


def test_machine_record_keys_types_and_summary():
    record = hardware.machine_record()
    expected_types = {
        "summary": str,
        "cpu_model": str,
        "cores": int,
        "cpu_flags": list,
        "gpus": list,
        "bfloat16_matrix_units": bool,
        "bfloat16_speedup": (float, type(None)),
        "recommended_settings": dict,
        "python": str,
        "tensorflow": str,
        "keras": str,
    }
    assert set(record) == set(expected_types)
    for key, kind in expected_types.items():
        assert isinstance(record[key], kind), key
    assert record["cores"] == hardware.cpu_count() >= 1
    assert set(record["cpu_flags"]) <= set(hardware.RECORDED_CPU_FLAGS)
    assert record["recommended_settings"] == hardware.recommended_settings()
    assert record["bfloat16_speedup"] == hardware.measured_bfloat16_speedup()
    if record["gpus"] or "avx512_bf16" not in hardware.cpu_flags():
        assert record["bfloat16_speedup"] is None
    if "amx_bf16" in hardware.cpu_flags():
        assert record["bfloat16_speedup"] is None  # AMX decides without measuring
    assert record["summary"] == hardware.machine_summary()
    if not record["gpus"]:
        assert hardware.cpu_model() in record["summary"]
        assert f"({hardware.cpu_count()} cores)" in record["summary"]


def test_machine_summary_names_the_gpus_when_present(monkeypatch):
    monkeypatch.setattr(hardware, "gpu_details", lambda: ["NVIDIA H100"])
    assert hardware.machine_summary() == "GPU: NVIDIA H100"
    monkeypatch.setattr(hardware, "gpu_details", lambda: [])
    monkeypatch.setattr(hardware, "cpu_model", lambda: "Test CPU")
    assert hardware.machine_summary().startswith("CPU: Test CPU (")
