"""Tests for course_lib.evaluation: FID against closed forms and scipy, the
classifier's view of real digits versus noise, the one sample report and the
SampleQuality callback."""

import warnings

import keras
import numpy as np
import pytest
import scipy.linalg

from course_lib import classifier, data, evaluation, models, pixels, store


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


def test_shipped_classifier_is_accurate_on_the_test_split(mnist):
    probabilities = evaluation.class_probabilities(mnist.x_test)
    accuracy = np.mean(np.argmax(probabilities, axis=1) == mnist.y_test)
    assert accuracy >= 0.95
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    # The softmax of the shipped classifier's logits, computed here.
    logits = classifier.load().predict(mnist.x_test[..., None] / 255.0, verbose=0)
    logits = logits.astype(np.float64)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)


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


def test_recognisable_fraction_rejects_a_bad_threshold(mnist):
    with pytest.raises(ValueError, match="threshold"):
        evaluation.recognisable_fraction(mnist.x_test[:2], threshold=0)


# --------------------------------------------------------------- the sample report


def _features(images):
    """The classifier's 128-d features, read from its layer here, not by evaluation."""
    model = classifier.load()
    extractor = keras.Model(model.inputs, model.get_layer(models.FEATURE_LAYER).output)
    unit = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
    return extractor.predict(unit, verbose=0).astype(np.float64)


def _scipy_fid(features1, features2):
    mu1, mu2 = features1.mean(axis=0), features2.mean(axis=0)
    cov1, cov2 = np.cov(features1, rowvar=False), np.cov(features2, rowvar=False)
    with warnings.catch_warnings():
        # Features that are zero for every digit make the covariances singular.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov1 @ cov2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * root))


SAMPLES = 200


@pytest.fixture(scope="module")
def real_report(mnist):
    # Real test digits the reference does not hold, in a generator's [-1, 1].
    samples = mnist.x_test[-SAMPLES:].astype(np.float32) / 127.5 - 1.0
    return evaluation.sample_report(samples, "-1,1", mnist)


def test_sample_report_of_real_digits_is_recognisable_and_near_its_floor(
    mnist, real_report
):
    report = real_report
    assert report["samples"] == SAMPLES
    assert report["recognisable_fraction"] >= 0.9
    assert report["real_recognisable_fraction"] >= 0.9
    assert report["coverage_passed"] and report["all_digits_present"]
    assert sum(report["class_counts"]) == SAMPLES
    assert report["largest_share"] == max(report["class_counts"]) / SAMPLES
    assert report["fid"] < 2 * report["fid_floor"]
    assert "first 200 test digits" in report["reference"]
    assert report["classifier_sha256"] == store.read_manifest()["classifier"]["sha256"]
    # The recognisable fraction, recomputed from the classifier's own logits.
    samples = mnist.x_test[-SAMPLES:, ..., None] / 255.0
    logits = classifier.load().predict(samples, verbose=0).astype(np.float64)
    confidence = np.exp(logits - logits.max(axis=1, keepdims=True))
    confidence = (confidence / confidence.sum(axis=1, keepdims=True)).max(axis=1)
    assert report["recognisable_fraction"] == pytest.approx(np.mean(confidence >= 0.9))


def test_sample_report_fid_and_floor_match_an_independent_computation(
    mnist, real_report
):
    reference = _features(mnist.x_test[:SAMPLES] / 255.0)
    floor = _scipy_fid(reference, _features(mnist.x_train[:SAMPLES] / 255.0))
    fid = _scipy_fid(reference, _features(mnist.x_test[-SAMPLES:] / 255.0))
    assert real_report["fid_floor"] == pytest.approx(floor, rel=1e-3)
    assert real_report["fid"] == pytest.approx(fid, rel=1e-3)


def test_sample_report_with_binarised_digits_compares_with_binarised_digits(mnist):
    samples = pixels.binarize(mnist.x_test[-SAMPLES:])
    report = evaluation.sample_report(samples, "0,1", mnist, binarised=True)
    reference = _features(pixels.binarize(mnist.x_test[:SAMPLES]))
    floor = _scipy_fid(reference, _features(pixels.binarize(mnist.x_train[:SAMPLES])))
    assert report["fid_floor"] == pytest.approx(floor, rel=1e-3)
    assert report["fid"] == pytest.approx(
        _scipy_fid(reference, _features(samples)), rel=1e-3
    )
    assert "(binarised)" in report["reference"]
    # Against grey digits, the binarised samples would look farther away.
    grey = _features(mnist.x_test[:SAMPLES] / 255.0)
    assert report["fid"] < _scipy_fid(grey, _features(samples))


def test_sample_report_refuses_more_samples_than_the_data(mnist):
    too_many = np.zeros((len(mnist.x_test) + 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=f"Fix: pass at most {len(mnist.x_test)}"):
        evaluation.sample_report(too_many, "0,1", mnist)


class _RealDigitModel(keras.Model):
    """A trainable stand-in whose generate() returns real digits in [-1, 1]."""

    def __init__(self, digits):
        super().__init__(name="real_digits")
        self.digits = digits
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(x)

    def generate(self, count, seed=0):
        order = np.random.default_rng(seed).permutation(len(self.digits))[:count]
        return self.digits[order].astype(np.float32) / 127.5 - 1.0


def test_sample_quality_records_every_few_epochs_and_after_the_last(mnist):
    model = _RealDigitModel(mnist.x_test[:300])
    model.compile(optimizer="sgd", loss="mse")
    quality = evaluation.SampleQuality(every=2, count=100, seed=5)
    model.fit(
        np.zeros((4, 3)), np.zeros((4, 1)), epochs=5, verbose=0, callbacks=[quality]
    )
    assert [record["epoch"] for record in quality.records] == [2, 4, 5]
    samples = model.generate(100, seed=5)
    unit = ((samples + 1) / 2).reshape(-1, 28, 28, 1)
    logits = classifier.load().predict(unit, verbose=0)
    logits = logits.astype(np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    counts = np.bincount(probabilities.argmax(axis=1), minlength=10)
    for record in quality.records:
        assert record["recognisable_fraction"] == pytest.approx(
            np.mean(probabilities.max(axis=1) >= 0.9)
        )
        assert record["largest_share"] == pytest.approx(counts.max() / 100)
