"""Tests for course_lib.bench_suite: the JSON schema, targets and BN folding.

Nothing here is timed; results are built by hand.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import copy

import keras
import numpy as np
import pytest

from course_lib import bench, bench_suite, models


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
    targets = bench_suite.target_rows({"float32": peak}, sampling, training)
    record = {
        "schema_version": bench_suite.SCHEMA_VERSION,
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
    return bench_suite.json_ready(record)


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
    assert bench_suite.validate_record(record) is record


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
        bench_suite.validate_record(record)


def test_schema_rejects_missing_section_and_bad_statistics():
    record = _record()
    del record["training"]
    with pytest.raises(ValueError, match="training"):
        bench_suite.validate_record(record)
    record = _record()
    record["sampling"][0]["images_per_second"]["median"] = 1e9
    with pytest.raises(ValueError, match="median"):
        bench_suite.validate_record(record)


def test_folded_generator_matches_keras_in_float32():
    generator = models.dcgan_generator(latent_dim=8)
    rng = np.random.default_rng(0)
    for layer in generator.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, size),
                    rng.normal(0, 0.1, size),
                    rng.normal(0, 0.1, size),
                    rng.uniform(0.5, 2.0, size),
                ]
            )
    z = rng.standard_normal((3, 8)).astype(np.float32)
    expected = generator(z, training=False).numpy()
    folded = bench_suite.folded_sampler(generator, "float32")(z).numpy()
    np.testing.assert_allclose(folded, expected, atol=1e-5)
    reduced = bench_suite.folded_sampler(generator, "bfloat16")(z).numpy()
    assert np.abs(reduced - expected).max() < 0.05


def test_generator_in_policy_copies_weights():
    generator = models.dcgan_generator(latent_dim=8)
    copy_bf16 = bench_suite.generator_in_policy(generator, "mixed_bfloat16")
    assert copy_bf16.layers[1].compute_dtype == "bfloat16"
    for a, b in zip(generator.get_weights(), copy_bf16.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_reference_step_updates_both_networks():
    generator = models.dcgan_generator(latent_dim=8)
    discriminator = models.dcgan_discriminator()
    before_g = generator.get_weights()[0].copy()
    before_d = discriminator.get_weights()[0].copy()
    step = bench_suite.reference_train_step(generator, discriminator)
    images = np.zeros((4, 28, 28, 1), np.float32)
    gen_loss, disc_loss = step(images)
    assert np.isfinite(gen_loss.numpy()) and np.isfinite(disc_loss.numpy())
    assert not np.array_equal(before_g, generator.get_weights()[0])
    assert not np.array_equal(before_d, discriminator.get_weights()[0])


def test_training_flops_formula_by_hand():
    generator = models.dcgan_generator(latent_dim=100)
    discriminator = models.dcgan_discriminator()
    g = 2 * (100 * 12544 + 49 * 256 * 25 * 128 + 49 * 128 * 25 * 64 + 196 * 64 * 25)
    d = 2 * (196 * 64 * 25 * 1 + 49 * 128 * 25 * 64 + 6272)
    assert bench_suite.training_flops_per_image(generator, discriminator) == 3 * (
        g + 2 * d
    )


def test_sampling_methods_skip_duplicates_and_slow_float16():
    batches = (1, 64, 256)
    at_one = bench_suite.sampling_methods(1, batches)
    at_top = bench_suite.sampling_methods(256, batches)
    assert "predict, batched" not in at_one
    assert "tf.function, float16" not in at_one
    assert "tf.function, float16" in at_top
    assert bench_suite.SAMPLING_METHODS[0] not in at_top
    assert bench_suite.FOLDED_METHOD in at_one and bench_suite.FOLDED_METHOD in at_top
