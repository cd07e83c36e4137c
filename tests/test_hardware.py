"""Tests for course_lib.hardware: the precision rules and the settings' format."""

import pytest

from course_lib import hardware


@pytest.mark.parametrize(
    ("capability", "flags", "expected"),
    [
        (None, {"avx2", "fma"}, "float32"),
        (None, {"avx512f", "avx512_bf16"}, "float32"),  # no matrix units
        (None, {"avx512f", "amx_tile", "amx_bf16"}, "mixed_bfloat16"),
        ((7, 5), set(), "float32"),
        ((8, 0), set(), "mixed_bfloat16"),
        ((9, 0), {"amx_bf16"}, "mixed_bfloat16"),
    ],
)
def test_choose_policy_rules(capability, flags, expected):
    assert hardware.choose_policy(capability, flags) == expected


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


def test_recommended_settings_follow_this_machine():
    expected = hardware.choose_policy(
        hardware.gpu_compute_capability(), hardware.cpu_flags()
    )
    assert hardware.recommended_settings()["precision"] == expected


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


def test_build_scope_restores_the_global_policy_even_after_an_error():
    import keras

    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError):
        with hardware.build_scope("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            assert keras.layers.Dense(2).dtype_policy.compute_dtype == "bfloat16"
            raise RuntimeError("interrupted build")
    assert keras.config.dtype_policy().name == before


def test_machine_record_keys_types_and_summary():
    record = hardware.machine_record()
    expected_types = {
        "summary": str,
        "cpu_model": str,
        "cores": int,
        "cpu_flags": list,
        "gpus": list,
        "bfloat16_matrix_units": bool,
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
