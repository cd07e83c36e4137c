"""Measure generated digits with the course's classifier instead of eyeballing them.

- :func:`recognisable_fraction`: the share of images the classifier labels with
  confidence >= 0.9 (real test digits score about 0.97);
- :func:`class_histogram` and :func:`coverage_check`: are all ten digits there,
  and does none take more than 20%?
- :func:`classifier_fid`: the Fréchet distance between Gaussians fitted to the
  classifier's 128-d features of real and generated digits, next to its
  :func:`fid_floor`, the same distance between two sets of real digits;
- :func:`sample_report`: all of them for one set of samples, the one report
  used for every model; :class:`SampleQuality` records it during training.

Images are accepted as ``pixels.to_unit_range`` describes (uint8, or floats with
their ``value_range``).

Introduced in notebooks/05_gan_training.ipynb and notebooks/07_vae_training.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np

from course_lib import classifier, models, pixels, store

_feature_extractors: dict[int, keras.Model] = {}


# ------------------------------------------------------------ the classifier's view


def class_probabilities(images, value_range: str | None = None) -> np.ndarray:
    """Return the classifier's softmax probabilities, shape (n, 10).

    Args:
        images: See ``pixels.to_unit_range``.
        value_range: See ``pixels.to_unit_range``.

    Returns:
        float64 array of shape (n, 10) whose rows sum to 1.
    """
    unit = pixels.to_unit_range(images, value_range)
    logits = classifier.load().predict(unit, batch_size=256, verbose=0)
    logits = logits.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def classifier_features(images, value_range: str | None = None) -> np.ndarray:
    """Return the classifier's 128-dimensional penultimate features.

    Args:
        images: See ``pixels.to_unit_range``.
        value_range: See ``pixels.to_unit_range``.

    Returns:
        float64 array of shape (n, 128).

    Introduced in notebooks/05_gan_training.ipynb.
    """
    unit = pixels.to_unit_range(images, value_range)
    model = classifier.load()
    if id(model) not in _feature_extractors:
        _feature_extractors[id(model)] = keras.Model(
            model.inputs, model.get_layer(models.FEATURE_LAYER).output
        )
    extractor = _feature_extractors[id(model)]
    return extractor.predict(unit, batch_size=256, verbose=0).astype(np.float64)


def class_histogram(images, value_range: str | None = None) -> np.ndarray:
    """Count how many images the classifier assigns to each digit.

    Args:
        images: See ``pixels.to_unit_range``.
        value_range: See ``pixels.to_unit_range``.

    Returns:
        int64 array of shape (10,) that sums to the number of images.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    labels = np.argmax(class_probabilities(images, value_range), axis=1)
    return np.bincount(labels, minlength=10).astype(np.int64)


def recognisable_fraction(
    images, threshold: float = 0.9, value_range: str | None = None
) -> float:
    """Return the share of images the classifier labels with confidence >= threshold.

    Args:
        images: See ``pixels.to_unit_range``.
        threshold: The confidence a digit needs to count, in (0, 1].
        value_range: See ``pixels.to_unit_range``.

    Returns:
        A float in [0, 1].

    Introduced in notebooks/05_gan_training.ipynb.
    """
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}.")
    confidence = class_probabilities(images, value_range).max(axis=1)
    return float(np.mean(confidence >= threshold))


def coverage_check(counts, max_share: float = 0.2) -> dict:
    """Check a class histogram: every digit present, none above ``max_share``.

    Args:
        counts: The output of :func:`class_histogram`, shape (10,).
        max_share: The largest share one digit may have.

    Returns:
        A dict with ``passed`` (bool), ``all_digits_present`` (bool),
        ``largest_share`` (float), ``largest_digit`` (int) and ``shares``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (10,) or counts.sum() <= 0:
        raise ValueError("counts must be the (10,) output of class_histogram().")
    shares = counts / counts.sum()
    present = bool(np.all(counts > 0))
    largest = float(shares.max())
    return {
        "passed": present and largest <= max_share,
        "all_digits_present": present,
        "largest_share": largest,
        "largest_digit": int(np.argmax(shares)),
        "shares": shares,
    }


# ----------------------------------------------------------------------------- FID


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Return the symmetric PSD square root of a symmetric matrix (eigenvalues >= 0)."""
    matrix = (matrix + matrix.T) / 2.0
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    return (eigenvectors * np.sqrt(eigenvalues)) @ eigenvectors.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Return the Fréchet distance between N(mu1, cov1) and N(mu2, cov2).

    ``|mu1 - mu2|^2 + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^(1/2))``. The trace
    of the square root is computed as ``tr((s1 cov2 s1)^(1/2))`` with
    ``s1 = cov1^(1/2)``: both are symmetric, so eigen-decompositions suffice and
    no complex round-off appears.

    Args:
        mu1: Mean of the first Gaussian, shape (d,).
        cov1: Its covariance, shape (d, d), symmetric positive semi-definite.
        mu2: Mean of the second Gaussian, shape (d,).
        cov2: Its covariance, shape (d, d).

    Returns:
        The squared Fréchet (2-Wasserstein) distance, a float >= 0.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    mu1, mu2 = (
        np.atleast_1d(mu1).astype(np.float64),
        np.atleast_1d(mu2).astype(np.float64),
    )
    cov1, cov2 = (
        np.atleast_2d(cov1).astype(np.float64),
        np.atleast_2d(cov2).astype(np.float64),
    )
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,):
        raise ValueError(
            f"mu1 and mu2 must be vectors of the same length, got {mu1.shape} and "
            f"{mu2.shape}."
        )
    if cov1.shape != (dim, dim) or cov2.shape != (dim, dim):
        raise ValueError(
            f"cov1 and cov2 must have shape ({dim}, {dim}), got {cov1.shape} and "
            f"{cov2.shape}."
        )
    sqrt_cov1 = _symmetric_sqrt(cov1)
    middle = sqrt_cov1 @ cov2 @ sqrt_cov1
    middle = (middle + middle.T) / 2.0
    trace_sqrt = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0, None))))
    difference = mu1 - mu2
    distance = (
        float(difference @ difference)
        + float(np.trace(cov1))
        + float(np.trace(cov2))
        - 2.0 * trace_sqrt
    )
    return max(distance, 0.0)


def fid_from_features(features1, features2) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature arrays.

    Args:
        features1: Array of shape (n1, d), n1 >= 2.
        features2: Array of shape (n2, d), n2 >= 2.

    Returns:
        The Fréchet distance of the fitted Gaussians.
    """
    features1 = np.asarray(features1, dtype=np.float64)
    features2 = np.asarray(features2, dtype=np.float64)
    if features1.ndim != 2 or features2.ndim != 2:
        raise ValueError("features must be 2-D arrays of shape (n, d).")
    if features1.shape[1] != features2.shape[1]:
        raise ValueError(
            f"feature sizes differ: {features1.shape[1]} vs {features2.shape[1]}."
        )
    if len(features1) < 2 or len(features2) < 2:
        raise ValueError("pass at least two examples per feature array.")
    return frechet_distance(
        features1.mean(axis=0),
        np.cov(features1, rowvar=False),
        features2.mean(axis=0),
        np.cov(features2, rowvar=False),
    )


def classifier_fid(
    real_images,
    generated_images,
    real_value_range: str | None = None,
    generated_value_range: str | None = None,
) -> float:
    """Return the FID in the classifier's 128-d feature space (lower is better).

    FID is biased upwards for small samples, so compare it only with a
    :func:`fid_floor` computed on the same number of images.

    Args:
        real_images: Real digits, for example ``mnist.x_test`` (uint8).
        generated_images: Generated digits.
        real_value_range: See ``pixels.to_unit_range``.
        generated_value_range: See ``pixels.to_unit_range``; ``"-1,1"`` for a tanh
            generator, ``"0,1"`` for a VAE.

    Returns:
        The classifier-FID, a float >= 0.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    return fid_from_features(
        classifier_features(real_images, real_value_range),
        classifier_features(generated_images, generated_value_range),
    )


def fid_floor(
    real_images,
    sample_size: int | None = None,
    seed: int = 0,
    value_range: str | None = None,
) -> float:
    """Return the real-vs-real classifier-FID: two disjoint halves of real digits.

    This is what a perfect generator would score with the same sample size; a
    generated FID is only meaningful next to it.

    Args:
        real_images: Real digits, at least ``2 * sample_size`` of them.
        sample_size: Images per half (default: half of ``real_images``).
        seed: Seed of the random split.
        value_range: See ``pixels.to_unit_range``.

    Returns:
        The FID between the two halves.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    features = classifier_features(real_images, value_range)
    if sample_size is None:
        sample_size = len(features) // 2
    if sample_size < 2 or 2 * sample_size > len(features):
        raise ValueError(
            f"fid_floor needs 2 * sample_size <= {len(features)} real images and "
            f"sample_size >= 2, got sample_size={sample_size}. Fix: pass more real "
            "images or a smaller sample_size."
        )
    order = np.random.default_rng(seed).permutation(len(features))
    first, second = order[:sample_size], order[sample_size : 2 * sample_size]
    return fid_from_features(features[first], features[second])


# ------------------------------------------------------------------ the report


def sample_report(samples, value_range: str, mnist, binarised: bool = False) -> dict:
    """Measure one set of samples: quality, coverage, classifier-FID and its floor.

    The real reference is the first ``n`` test digits (``n = len(samples)``);
    the floor is the FID between that same reference and the first ``n``
    training digits, so the FID and its floor share the reference set and the
    sample size. A model trained on binarised digits is compared with binarised
    real digits (``binarised=True``), which is what it learned to draw.

    Args:
        samples: Generated images (n, 28, 28[, 1]).
        value_range: Their range, ``"-1,1"`` or ``"0,1"``.
        mnist: ``data.load_mnist()``; it needs at least ``n`` test digits.
        binarised: Binarise the real digits first (``pixels.binarize``).

    Returns:
        A JSON-ready dict: ``samples``, ``recognisable_fraction``,
        ``class_counts``, ``largest_share``, ``all_digits_present``,
        ``coverage_passed``, ``real_recognisable_fraction``, ``fid``,
        ``fid_floor``, ``reference`` and ``classifier_sha256``.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    count = len(samples)
    if count > len(mnist.x_test) or count > len(mnist.x_train):
        raise ValueError(
            f"sample_report compares {count} samples with as many real digits, but "
            f"the data ({mnist.source}) has {len(mnist.x_test)} test digits. Fix: "
            f"pass at most {min(len(mnist.x_test), len(mnist.x_train))} samples."
        )
    reference, other = mnist.x_test[:count], mnist.x_train[:count]
    real_range = None
    if binarised:
        reference, other = pixels.binarize(reference), pixels.binarize(other)
        real_range = "0,1"
    counts = class_histogram(samples, value_range)
    coverage = coverage_check(counts)
    return {
        "samples": count,
        "recognisable_fraction": recognisable_fraction(
            samples, value_range=value_range
        ),
        "class_counts": [int(c) for c in counts],
        "largest_share": coverage["largest_share"],
        "all_digits_present": coverage["all_digits_present"],
        "coverage_passed": coverage["passed"],
        "real_recognisable_fraction": recognisable_fraction(
            reference, value_range=real_range
        ),
        "fid": classifier_fid(reference, samples, real_range, value_range),
        "fid_floor": classifier_fid(reference, other, real_range, real_range),
        "reference": f"first {count} test digits"
        + (" (binarised)" if binarised else "")
        + f"; floor: against the first {count} training digits",
        "classifier_sha256": store.read_manifest()["classifier"]["sha256"],
    }


class SampleQuality(keras.callbacks.Callback):
    """Measure the samples with the classifier every few epochs of training.

    Loss curves do not show sample quality; this records what does, so the
    history can show quality against training time. The model must have
    ``generate(count, seed)`` returning images in [-1, 1] (every course model).

    Args:
        every: Measure every this many epochs (and after the last one).
        count: Samples per measurement.
        seed: Seed of their latent vectors.

    Attributes:
        records: One dict per measurement: ``epoch``, ``recognisable_fraction``,
            ``largest_share``.

    Introduced in notebooks/05_gan_training.ipynb.
    """

    def __init__(self, every: int = 4, count: int = 500, seed: int = 1):
        super().__init__()
        self.every, self.count, self.seed = every, count, seed
        self.records: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        if completed % self.every and completed != self.params.get("epochs"):
            return
        samples = self.model.generate(self.count, seed=self.seed)
        counts = class_histogram(samples, value_range="-1,1")
        record = {
            "epoch": completed,
            "recognisable_fraction": recognisable_fraction(samples, value_range="-1,1"),
            "largest_share": float(counts.max() / counts.sum()),
        }
        self.records.append(record)
        print(
            f"epoch {completed}: recognisable {record['recognisable_fraction']:.3f}, "
            f"largest class share {record['largest_share']:.1%}"
        )
