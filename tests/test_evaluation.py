"""Tests for course_lib.evaluation: FID against closed forms, the classifier on
real digits versus noise, input validation and the weights' integrity checks."""

import json
import shutil

import numpy as np
import pytest
import scipy.linalg

from course_lib import data, evaluation


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist(verbose=False)


def _random_covariance(rng, dim):
    factor = rng.normal(size=(dim, dim))
    return factor @ factor.T / dim + 0.1 * np.eye(dim)


# ----------------------------------------------------------------------------- FID


def test_frechet_distance_one_dimensional_closed_form():
    # For 1-D Gaussians the distance is (m1 - m2)^2 + (s1 - s2)^2.
    value = evaluation.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]])
    assert value == pytest.approx((1 - -2) ** 2 + (2 - 3) ** 2, rel=1e-10)


def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    var1, var2 = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    value = evaluation.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert value == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_for_full_covariances():
    rng = np.random.default_rng(1)
    dim = 8
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    cov1, cov2 = _random_covariance(rng, dim), _random_covariance(rng, dim)
    root = scipy.linalg.sqrtm(cov1 @ cov2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * root)
    assert evaluation.frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(
        expected, rel=1e-8
    )


def test_frechet_distance_is_zero_for_identical_gaussians_even_if_singular():
    rng = np.random.default_rng(2)
    factor = rng.normal(size=(5, 2))
    singular = factor @ factor.T  # rank 2
    mu = rng.normal(size=5)
    assert evaluation.frechet_distance(mu, singular, mu, singular) < 1e-8


def test_fid_from_features_recovers_the_gaussians_distance():
    rng = np.random.default_rng(3)
    dim = 4
    mu1, mu2 = np.zeros(dim), np.full(dim, 0.5)
    cov1, cov2 = np.eye(dim), np.diag([0.25, 1.0, 2.0, 4.0])
    features1 = rng.multivariate_normal(mu1, cov1, size=200_000)
    features2 = rng.multivariate_normal(mu2, cov2, size=200_000)
    expected = dim * 0.25 + np.sum((1 - np.sqrt(np.diag(cov2))) ** 2)
    value = evaluation.fid_from_features(features1, features2)
    assert value == pytest.approx(expected, abs=0.03)


def test_fid_from_features_rejects_mismatched_features():
    with pytest.raises(ValueError, match="feature sizes differ"):
        evaluation.fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="shape"):
        evaluation.frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))


# ---------------------------------------------------------------------- the classifier


def test_classifier_shapes():
    model = evaluation.mnist_classifier()
    assert model.output_shape == (None, 10)
    assert model.get_layer(evaluation.FEATURE_LAYER).output.shape == (None, 128)


def test_shipped_classifier_is_accurate_on_the_test_split(mnist):
    probabilities = evaluation.class_probabilities(mnist.x_test)
    accuracy = np.mean(np.argmax(probabilities, axis=1) == mnist.y_test)
    assert accuracy >= 0.95
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert evaluation.classifier_info()["test_accuracy"] == pytest.approx(
        accuracy, abs=1e-3
    )


def test_evaluation_on_real_digits_versus_noise(mnist):
    real = mnist.x_test[:300]
    noise = np.random.default_rng(0).uniform(0, 1, size=(300, 28, 28)).astype("float32")
    assert evaluation.recognisable_fraction(real) >= 0.95
    assert evaluation.recognisable_fraction(noise, value_range="0,1") <= 0.2
    counts = evaluation.class_histogram(real)
    assert counts.shape == (10,) and counts.sum() == len(real)
    expected = np.bincount(mnist.y_test[:300], minlength=10)
    assert np.abs(counts - expected).sum() <= 0.1 * len(real)
    assert evaluation.coverage_check(counts)["passed"]
    noise_histogram = evaluation.class_histogram(noise, value_range="0,1")
    assert noise_histogram.sum() == len(noise)


def test_value_ranges_give_the_same_answer(mnist):
    images = mnist.x_test[:50]
    unit = images.astype("float32") / 255.0
    from_uint8 = evaluation.classifier_features(images)
    from_unit = evaluation.classifier_features(unit, value_range="0,1")
    from_tanh = evaluation.classifier_features(unit * 2 - 1, value_range="-1,1")
    assert np.allclose(from_uint8, from_unit, atol=1e-5)
    assert np.allclose(from_uint8, from_tanh, atol=1e-4)


def test_fid_real_versus_real_is_far_below_real_versus_noise(mnist):
    floor = evaluation.fid_floor(mnist.x_test, sample_size=300)
    noise = np.random.default_rng(1).uniform(-1, 1, size=(300, 28, 28, 1))
    noisy = evaluation.classifier_fid(
        mnist.x_test[:300], noise.astype("float32"), generated_value_range="-1,1"
    )
    assert 0 <= floor < noisy / 10


def test_coverage_check_flags_mode_collapse():
    collapsed = np.array([0, 50, 5, 5, 5, 5, 5, 5, 5, 15])
    result = evaluation.coverage_check(collapsed)
    assert not result["passed"] and not result["all_digits_present"]
    assert result["largest_digit"] == 1 and result["largest_share"] == 0.5


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "images, value_range, message",
    [
        (np.zeros((4, 28, 27), "uint8"), None, "shape"),
        (np.zeros((28, 28), "uint8"), None, "shape"),
        (np.zeros((4, 28, 28), "float32"), None, "value_range='0,1'"),
        (np.zeros((4, 28, 28), "int64"), None, "uint8"),
        (np.zeros((4, 28, 28), "uint8"), "0,1", "leave value_range=None"),
        (np.full((4, 28, 28), 3.0, "float32"), "0,1", "outside"),
        (np.full((4, 28, 28), -1.0, "float32"), "0,1", "outside"),
        (np.zeros((4, 28, 28), "float32"), "0,255", "value_range must be"),
        (np.zeros((0, 28, 28), "uint8"), None, "empty"),
    ],
)
def test_bad_images_raise_value_errors_that_name_the_fix(images, value_range, message):
    with pytest.raises(ValueError, match=message):
        evaluation.to_unit_range(images, value_range)


@pytest.fixture
def temporary_weights(tmp_path, monkeypatch):
    """Copy the shipped classifier into a scratch weights folder."""
    source = evaluation.weights_dir()
    target = tmp_path / "weights"
    target.mkdir()
    shutil.copy(source / evaluation.CLASSIFIER_FILE, target)
    manifest = {"classifier": evaluation.read_manifest()["classifier"]}
    (target / evaluation.MANIFEST_FILE).write_text(json.dumps(manifest))
    monkeypatch.setattr(evaluation, "weights_dir", lambda: target)
    monkeypatch.setattr(evaluation, "_loaded_classifiers", {})
    return target


def test_load_classifier_reports_missing_weights(temporary_weights):
    (temporary_weights / evaluation.CLASSIFIER_FILE).unlink()
    with pytest.raises(ValueError, match="python -m course_lib.train classifier"):
        evaluation.load_classifier()


def test_load_classifier_reports_corrupt_weights(temporary_weights):
    with open(temporary_weights / evaluation.CLASSIFIER_FILE, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ValueError, match="corrupt.*python -m course_lib.train"):
        evaluation.load_classifier()


def test_load_classifier_reports_a_different_architecture(temporary_weights):
    import keras

    image = keras.Input((28, 28, 1))
    other = keras.Model(image, keras.layers.Dense(10)(keras.layers.Flatten()(image)))
    path = temporary_weights / evaluation.CLASSIFIER_FILE
    other.save_weights(path)
    manifest = json.loads((temporary_weights / evaluation.MANIFEST_FILE).read_text())
    manifest["classifier"]["sha256"] = data.sha256_of(path)
    (temporary_weights / evaluation.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="architecture.*python -m course_lib.train"):
        evaluation.load_classifier()


def test_update_manifest_keeps_other_entries(temporary_weights):
    evaluation.update_manifest("other_model", {"file": "x.weights.h5"})
    manifest = evaluation.read_manifest()
    assert set(manifest) == {"classifier", "other_model"}


def test_load_weights_checked_turns_any_mismatch_into_one_value_error(tmp_path):
    import keras

    def dense_model(widths):
        x = image = keras.Input((4,))
        for width in widths:
            x = keras.layers.Dense(width)(x)
        return keras.Model(image, x)

    saved = dense_model([3, 2])
    path = tmp_path / "m.weights.h5"
    saved.save_weights(path)
    same = evaluation.load_weights_checked(dense_model([3, 2]), path, "-", "-")
    for a, b in zip(saved.get_weights(), same.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # Another width, more layers, fewer layers (which Keras alone loads silently).
    message = r"^m does not fit \(.*\)\. Fix: retrain\.$"
    for other in ([5, 2], [3, 2, 1], [3]):
        with pytest.raises(ValueError, match=message):
            evaluation.load_weights_checked(
                dense_model(other), path, "m does not fit", "retrain."
            )
    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match="not a readable .weights.h5 file.*retrain"):
        evaluation.load_weights_checked(dense_model([3, 2]), corrupt, "m", "retrain.")
