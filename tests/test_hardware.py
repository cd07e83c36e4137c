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
