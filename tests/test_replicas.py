"""Tests for course_lib.replicas: the build scope restores the dtype policy, and
two-replica training on a CPU: a ``MirroredStrategy`` step equals the one-device
step on the same global batch, and ``fit`` runs end to end under it.

TensorFlow fixes its logical devices when it first initialises them, and this
test process has long done so; so the two logical CPUs live in a fresh process,
``tests/replica_check.py``, which prints its measurements as JSON.

How the noise is fixed: each replica draws its own random numbers inside
``train_step`` (the same ones, see below), so the GAN is compared through
``d_step`` and ``g_step`` called with a given z, split between the replicas as
the batch is; the VAE's ``train_step`` runs as it is, on a copy of the model
whose reparameterisation noise is a fixed array (row i for image i). D's
dropout is off in both copies, since its masks are random too.

What is compared: one step with SGD in place of Adam, from the same seeded
initialisation, so that the step is the all-reduced gradient times a constant.
Adam's first step is nearly ``lr * sign(g)``: a loss counted twice would pass
unseen, and gradients at rounding level would become full steps.

Tolerance: the replicas' gradients are summed by an all-reduce, in another order
than one device sums its batch, so float32's rounding (u = 2**-24 ~ 6e-8) enters
differently, amplified by the cancellation in each gradient (a sum of terms of
both signs, as in tests/test_precision.py). We allow a relative difference of
1e-3 over the whole step. Measured at the fixed seed: ~2e-5 for the GAN, ~3e-6
for the VAE. Over seeds 0 to 17 the GAN ranged from 2e-5 to 1.2e-3: at some
initialisations G's gradient is itself the small difference of large terms
(D scores all fakes alike, and batch norm's backward pass subtracts the
batch mean), so the seed is fixed rather than left to chance. The broken copies
measure 1.0 (losses not divided by the replica count) and 0.24 (per-replica
batch statistics).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import replicas

SCRIPT = Path(__file__).with_name("replica_check.py")
TOLERANCE = 1e-3


def _run_checks(*names):
    arguments = [sys.executable, str(SCRIPT)]
    for name in names:
        arguments += ["--check", name]
    done = subprocess.run(
        arguments, capture_output=True, text=True, timeout=300, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    if done.returncode != 0 or not lines:
        pytest.fail(
            f"{SCRIPT.name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return json.loads(lines[-1].removeprefix("RESULTS "))


@pytest.fixture(scope="module")
def steps():
    # Every check in one process: TensorFlow's import and first trace are paid once.
    return _run_checks(
        "gan_step",
        "gan_step_per_replica_batch_norm",
        "gan_step_losses_not_scaled",
        "vae_step",
        "replica_noise",
        "overflow_on_one_replica",
        "replica_share",
        "fit_runs",
    )


def test_two_replica_gan_step_equals_the_one_device_step(steps):
    result = steps["gan_step"]
    assert result["replicas"] == 2
    # G's batch norm normalises with the whole global batch, as on one device.
    assert result["synchronized_batch_norm"]
    assert result["relative_difference"] < TOLERANCE


def test_the_comparison_catches_per_replica_batch_statistics(steps):
    result = steps["gan_step_per_replica_batch_norm"]
    assert not result["synchronized_batch_norm"]
    assert result["relative_difference"] > 0.1


def test_the_comparison_catches_replica_losses_that_are_not_scaled(steps):
    # Each replica's gradient is summed by the all-reduce: twice the step.
    assert abs(steps["gan_step_losses_not_scaled"]["relative_difference"] - 1.0) < 0.1


def test_two_replica_vae_step_equals_the_one_device_step(steps):
    result = steps["vae_step"]
    assert result["replicas"] == 2
    assert result["relative_difference"] < TOLERANCE


def test_replicas_draw_different_gan_noise(steps):
    assert not steps["replica_noise"]["gan_same_noise"]


def test_replicas_draw_different_vae_noise(steps):
    assert not steps["replica_noise"]["vae_same_noise"]


def test_replica_share_gives_each_replica_its_rows_of_the_global_draw(steps):
    result = steps["replica_share"]
    assert result["distinct"] and result["rows_of_one_draw"]


def test_a_float16_overflow_on_one_replica_skips_the_step(steps):
    result = steps["overflow_on_one_replica"]
    assert result["finite_weights"] and result["unchanged"]
    assert result["scale_after"] == result["scale_before"] / 2


def test_fit_runs_end_to_end_on_two_replicas(steps):
    results = steps["fit_runs"]
    for name in ("gan", "vae"):
        result = results[name]
        assert result["replicas"] == 2, name
        assert result["steps"] == 2, name  # 32 images in global batches of 16
        assert result["finite_losses"] and result["finite_weights"], name
        assert result["changed"], name


def test_build_scope_restores_the_global_policy_even_after_an_error():
    import keras

    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError):
        with replicas.build_scope("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            assert keras.layers.Dense(2).dtype_policy.compute_dtype == "bfloat16"
            raise RuntimeError("interrupted build")
    assert keras.config.dtype_policy().name == before


def test_replica_share_outside_a_strategy_is_the_plain_draw():
    import numpy as np

    calls = []

    def draw(rows):
        calls.append(rows)
        return np.arange(rows)

    assert list(replicas.replica_share(draw, 5)) == [0, 1, 2, 3, 4]
    assert calls == [5]  # two replicas: the subprocess tests above
