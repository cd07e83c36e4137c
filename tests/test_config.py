"""Tests for course_lib.config: profiles, seeding and paths."""

import dataclasses
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib import config


def test_profiles_are_frozen_dataclasses_with_sizes():
    for profile in config.PROFILES.values():
        assert dataclasses.is_dataclass(profile)
        with pytest.raises(dataclasses.FrozenInstanceError):
            profile.eval_samples = 99  # type: ignore[misc]
        assert profile.eval_samples > 0 and profile.mc_samples > 0
        assert profile.bench_seconds > 0
        assert profile.is_quick == (profile.name == "quick")
    # The epochs and batch sizes belong to the recipes now.
    assert [field.name for field in dataclasses.fields(config.Profile)] == [
        "name",
        "train_images",
        "eval_samples",
        "mc_samples",
        "bench_seconds",
    ]


def test_quick_is_smaller_than_full():
    quick, full = config.PROFILES["quick"], config.PROFILES["full"]
    assert quick.train_images is not None and quick.train_images <= 1000
    assert full.train_images is None or full.train_images > quick.train_images
    assert quick.eval_samples < full.eval_samples
    assert quick.mc_samples < full.mc_samples
    assert quick.bench_seconds < full.bench_seconds


def test_get_profile_reads_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    assert config.get_profile().name == "quick"
    monkeypatch.setenv("COURSE_PROFILE", " FULL ")
    assert config.get_profile().name == "full"


def test_default_profile_is_full_for_learners(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert config.get_profile().name == "full"


def test_unknown_profile_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "turbo")
    with pytest.raises(ValueError) as error:
        config.get_profile()
    message = str(error.value)
    assert "turbo" in message and "quick" in message and "full" in message


def test_seed_everything_makes_numpy_python_and_tensorflow_repeat():
    import tensorflow as tf

    def draw():
        config.seed_everything(7)
        return (
            random.random(),
            np.random.rand(3).tolist(),
            tf.random.uniform((3,)).numpy().tolist(),
        )

    first, second = draw(), draw()
    assert first == second
    config.seed_everything(8)
    assert random.random() != first[0]


@pytest.mark.parametrize("bad", [-1, 1.5, "3"])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        config.seed_everything(bad)


def test_repo_root_found_from_notebooks_and_tests():
    expected = Path(__file__).resolve().parents[1]
    # One fresh process (importing course_lib starts TensorFlow, seconds), started
    # in notebooks/; repo_root() is asked again after moving to tests/.
    code = (
        "import os\n"
        "from course_lib import config\n"
        "print(config.repo_root())\n"
        "os.chdir('../tests')\n"
        "print(os.getcwd(), config.repo_root(), sep='\\n')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=expected / "notebooks",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    from_notebooks, cwd_after, from_tests = out[:3]
    assert Path(from_notebooks) == expected
    assert Path(cwd_after) == expected / "tests"
    assert Path(from_tests) == expected


def test_repo_root_override(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    monkeypatch.delenv("COURSE_CHECKPOINTS", raising=False)
    assert config.repo_root() == tmp_path.resolve()
    assert config.checkpoint_dir("gan").is_dir()
    assert config.checkpoint_dir("gan") == tmp_path / "data" / "checkpoints" / "gan"


def test_checkpoints_override(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path / "repo"))
    monkeypatch.setenv("COURSE_CHECKPOINTS", str(tmp_path / "elsewhere"))
    assert config.checkpoint_dir("gan") == tmp_path / "elsewhere" / "gan"
    assert config.checkpoint_dir("gan").is_dir()
    assert not (tmp_path / "repo" / "data" / "checkpoints").exists()


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delenv("COLAB_GPU", raising=False)
    assert not config.in_colab()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab")
    assert config.in_colab()


def test_colab_url_names_the_file():
    url = config.colab_url("notebooks/00_start_here.ipynb")
    assert url.startswith("https://colab.research.google.com/github/")
    assert url.endswith("/blob/main/notebooks/00_start_here.ipynb")
    assert config.REPO_URL.endswith(config.REPO_SLUG)
    assert os.path.basename(config.REPO_URL) in url
