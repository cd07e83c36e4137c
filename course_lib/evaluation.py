"""Measure generated digits with a small MNIST classifier instead of eyeballing them.

Accepted images, everywhere in this module:

- ``uint8`` pixels ``0..255`` (what ``data.load_mnist()`` returns): pass them as
  they are and leave ``value_range=None``;
- floating-point images: say which range they are in, ``value_range="0,1"``
  (VAE Bernoulli means, ``data.binarize`` output) or ``value_range="-1,1"`` (a tanh
  generator). Floats without a ``value_range`` are refused, because guessing the
  range silently turns a good generator into noise for the classifier.

Shapes ``(n, 28, 28)`` and ``(n, 28, 28, 1)`` are both accepted. Anything else
raises a ``ValueError`` that names the fix.

The classifier is trained by ``python -m course_lib.train classifier`` and shipped
in ``data/weights/classifier.weights.h5``; ``data/weights/MANIFEST.json`` records
its sha256 and provenance (data source, training images, epochs, test accuracy).

Introduced in notebooks/04_gan_training.ipynb and notebooks/05_vae_training.ipynb.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from course_lib import config, data

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
from keras import layers  # noqa: E402

CLASSIFIER_FILE = "classifier.weights.h5"
CLASSIFIER_KEY = "classifier"
MANIFEST_FILE = "MANIFEST.json"
CLASSIFIER_COMMAND = "python -m course_lib.train classifier"
CLASSIFIER_EPOCHS = {"quick": 1, "full": 30}
CLASSIFIER_BATCH_SIZE = 64
OUTLIER_COUNT = 2000
VALUE_RANGES = ("0,1", "-1,1")
FEATURE_LAYER = "features"

_loaded_classifiers: dict[str, keras.Model] = {}


# --------------------------------------------------------------------------- weights


def weights_dir() -> Path:
    """Return ``data/weights/``, where the shipped weights live (created if missing)."""
    path = config.data_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_manifest() -> dict:
    """Return the contents of ``data/weights/MANIFEST.json`` (empty if absent).

    Returns:
        A dict from model name (``"classifier"``, ``"vae"``, ``"gan"``, ...) to
        its record: file, sha256, provenance and results.
    """
    path = weights_dir() / MANIFEST_FILE
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def update_manifest(key: str, entry: dict) -> dict:
    """Replace one model's record in the shared manifest, leaving the others alone.

    The file is re-read right before writing and replaced atomically, so two
    training commands that finish at nearly the same time do not lose each
    other's records.

    Args:
        key: The model's name in the manifest, such as ``"vae"``.
        entry: A JSON-serialisable dict.

    Returns:
        The whole manifest as written.
    """
    directory = weights_dir()
    manifest = read_manifest()
    manifest[key] = entry
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".json.part")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=2, sort_keys=True)
        out.write("\n")
    os.chmod(temporary, 0o644)
    os.replace(temporary, directory / MANIFEST_FILE)
    return manifest


def save_inference_weights(model: keras.Model, builder, path: Path) -> Path:
    """Save only a model's weights (no optimizer state), atomically.

    A compiled Keras 3 model also writes its optimizer's moments into
    ``.weights.h5``, tripling the file; a fresh copy from ``builder`` holds the
    weights alone.

    Args:
        model: The trained model.
        builder: A function with no arguments that returns the same architecture.
        path: Where to write the ``.weights.h5`` file.

    Returns:
        ``path``.
    """
    path = Path(path)
    fresh = builder()
    fresh.set_weights(model.get_weights())
    temporary = path.with_name(path.name + ".part.weights.h5")
    fresh.save_weights(temporary)
    os.replace(temporary, path)
    return path


def load_weights_checked(model: keras.Model, path, mismatch: str, fix: str):
    """Load a ``.weights.h5`` file into ``model``, or raise one clear ``ValueError``.

    Keras reports a file written by another architecture as a ``ValueError`` or
    a ``KeyError`` from deep inside its HDF5 reader; either becomes
    ``"<mismatch> (<Keras's first line>). Fix: <fix>"``. Keras also loads a file
    with *more* layers than the model without a word (the extra ones are
    skipped), so the number of weight arrays is compared first.

    Args:
        model: The model to fill.
        path: The ``.weights.h5`` file.
        mismatch: What does not fit, e.g. ``"The weights in x do not fit ..."``.
        fix: What to do about it.

    Returns:
        ``model``.
    """
    import h5py  # Keras's own dependency for .weights.h5 files.

    arrays = []

    def collect(name, item):
        if isinstance(item, h5py.Dataset) and not name.startswith("optimizer/"):
            arrays.append(name)

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(collect)
    except OSError as error:
        reason = f"not a readable .weights.h5 file: {str(error).splitlines()[0]}"
        raise ValueError(f"{mismatch} ({reason}). Fix: {fix}") from None
    if len(arrays) != len(model.weights):
        reason = (
            f"the file holds {len(arrays)} weight arrays, the model "
            f"{len(model.weights)}"
        )
        raise ValueError(f"{mismatch} ({reason}). Fix: {fix}")
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as error:
        reason = str(error).splitlines()[0]
        raise ValueError(f"{mismatch} ({reason}). Fix: {fix}") from None
    return model


def verified_weights_path(key: str, command: str) -> Path:
    """Return the path of a shipped weights file after checking its sha256.

    Args:
        key: The model's name in the manifest.
        command: The command that recreates the file, quoted in errors.

    Returns:
        The path of the verified ``.weights.h5`` file.

    Raises:
        ValueError: If the manifest entry or the file is missing, or the sha256
            differs from the manifest's.
    """
    entry = read_manifest().get(key)
    if not entry:
        raise ValueError(
            f"data/weights/{MANIFEST_FILE} has no entry for {key!r}. Fix: run "
            f"`{command}` to train and register the weights."
        )
    path = weights_dir() / entry["file"]
    if not path.exists():
        raise ValueError(
            f"The {key} weights data/weights/{entry['file']} are missing. Fix: run "
            f"`{command}` (or restore the file with git)."
        )
    digest = data.sha256_of(path)
    if digest != entry["sha256"]:
        raise ValueError(
            f"The {key} weights data/weights/{entry['file']} are corrupt or were "
            f"changed: sha256 {digest[:12]}... differs from the manifest's "
            f"{entry['sha256'][:12]}.... Fix: run `{command}` to retrain them, or "
            "restore the file with git."
        )
    return path


# ------------------------------------------------------------------------ classifier


def mnist_classifier(name: str = "mnist_classifier") -> keras.Model:
    """Build the small convnet that judges generated digits.

    Three 3x3 convolutions (32, 64, 64 filters), each followed by 2x2 max
    pooling, then a 128-unit ``features`` layer (the space in which
    :func:`classifier_fid` measures distances) and 10 logits.

    Args:
        name: The model's name.

    Returns:
        A ``keras.Model`` mapping float images in [0, 1] of shape
        (batch, 28, 28, 1) to (batch, 10) logits.

    Introduced in notebooks/04_gan_training.ipynb.
    """
    image = keras.Input(shape=(28, 28, 1), name="image")
    x = image
    for index, filters in enumerate((32, 64, 64), start=1):
        x = layers.Conv2D(
            filters, 3, padding="same", activation="relu", name=f"conv{index}"
        )(x)
        x = layers.MaxPooling2D(name=f"pool{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    features = layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)
    x = layers.Dropout(0.3, name="dropout")(features)
    logits = layers.Dense(10, dtype="float32", name="logits")(x)
    return keras.Model(image, logits, name=name)


def _augmenter(seed: int) -> keras.Sequential:
    """Return random shifts and zooms, so the classifier tolerates sloppy digits."""
    return keras.Sequential(
        [
            layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
            layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 1),
        ],
        name="augment",
    )


def outlier_images(images, count: int, seed: int) -> np.ndarray:
    """Return non-digits for outlier exposure: noise, speckle, blobs, scrambles.

    A classifier trained on digits alone is confidently wrong on noise (it
    labels most uniform-noise images with confidence >= 0.9), which would make
    :func:`recognisable_fraction` meaningless. Training these images towards
    the uniform distribution over the ten digits (Hendrycks et al., 2019,
    "Deep anomaly detection with outlier exposure") teaches it to be unsure.
    Overlays of two digits are deliberately left out: with them, the classifier
    also doubted thick or unusual real digits (only 90% of the real test digits
    reached confidence 0.9, against 98% without them).

    Args:
        images: Real digits as float32 in [0, 1], shape (n, 28, 28, 1); their
            7x7 patches are shuffled into scrambles.
        count: How many outliers to make.
        seed: Seed of the NumPy generator.

    Returns:
        float32 array of shape (count, 28, 28, 1) in [0, 1].
    """
    rng = np.random.default_rng(seed)
    flat = images.reshape(-1, 28, 28)
    outliers = np.empty((count, 28, 28), np.float32)
    for index in range(count):
        kind = index % 4
        if kind == 0:
            outliers[index] = rng.uniform(0, 1, (28, 28))
        elif kind == 1:
            outliers[index] = rng.uniform(0, 1, (28, 28)) < rng.uniform(0.05, 0.4)
        elif kind == 2:
            coarse = rng.uniform(0, 1, (7, 7)) < rng.uniform(0.2, 0.5)
            outliers[index] = np.kron(coarse, np.ones((4, 4)))
        else:
            patches = flat[rng.integers(len(flat))].reshape(4, 7, 4, 7)
            patches = patches.transpose(0, 2, 1, 3).reshape(16, 7, 7)
            patches = patches[rng.permutation(16)].reshape(4, 4, 7, 7)
            outliers[index] = patches.transpose(0, 2, 1, 3).reshape(28, 28)
    return outliers.reshape(-1, 28, 28, 1)


def train_classifier_command(profile: config.Profile, seed: int) -> dict:
    """Train the evaluation classifier deterministically and register it.

    The full profile writes the shipped ``data/weights/classifier.weights.h5``
    and its manifest entry; the quick profile trains for one epoch and writes to
    ``data/checkpoints/classifier_quick/`` so that it never replaces shipped
    weights.

    Args:
        profile: The run's profile (``config.get_profile("full")`` for the
            shipped weights).
        seed: The seed given to ``config.seed_everything``.

    Returns:
        A summary dict: weights path, sha256, epochs, test accuracy, seconds.

    Introduced in notebooks/04_gan_training.ipynb.
    """
    import time

    import tensorflow as tf

    config.seed_everything(seed)
    mnist = data.load_mnist()
    train_x = data.scale_images(mnist.x_train, "0,1")
    test_x = data.scale_images(mnist.x_test, "0,1")
    epochs = CLASSIFIER_EPOCHS["quick" if profile.is_quick else "full"]
    augment = _augmenter(seed)
    outliers = outlier_images(train_x, OUTLIER_COUNT, seed)
    inputs = np.concatenate([train_x, outliers])
    targets = np.concatenate(
        [np.eye(10, dtype=np.float32)[mnist.y_train], np.full((len(outliers), 10), 0.1)]
    ).astype(np.float32)
    train_dataset = (
        tf.data.Dataset.from_tensor_slices((inputs, targets))
        .shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
        .batch(CLASSIFIER_BATCH_SIZE)
        .map(lambda x, y: (augment(x, training=True), y))
        .prefetch(tf.data.AUTOTUNE)
    )
    model = mnist_classifier()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    start = time.perf_counter()
    history = model.fit(train_dataset, epochs=epochs, verbose=2)
    seconds = time.perf_counter() - start
    test_logits = model.predict(test_x, batch_size=256, verbose=0)
    test_accuracy = float(np.mean(np.argmax(test_logits, axis=1) == mnist.y_test))
    test_confidence = keras.ops.convert_to_numpy(keras.ops.softmax(test_logits)).max(1)
    test_recognisable = float(np.mean(test_confidence >= 0.9))
    fresh_outliers = outlier_images(test_x, 500, seed + 1)
    outlier_logits = model.predict(fresh_outliers, batch_size=256, verbose=0)
    outlier_confident = float(
        np.mean(
            keras.ops.convert_to_numpy(keras.ops.softmax(outlier_logits)).max(1) >= 0.9
        )
    )
    if profile.is_quick:
        path = config.checkpoint_dir("classifier_quick") / CLASSIFIER_FILE
    else:
        path = weights_dir() / CLASSIFIER_FILE
    save_inference_weights(model, mnist_classifier, path)
    digest = data.sha256_of(path)
    if not profile.is_quick:
        update_manifest(
            CLASSIFIER_KEY,
            {
                "file": CLASSIFIER_FILE,
                "sha256": digest,
                "bytes": path.stat().st_size,
                "architecture": "course_lib.evaluation.mnist_classifier",
                "command": CLASSIFIER_COMMAND,
                "data_source": mnist.source,
                "training_images": int(len(train_x)),
                "test_images": int(len(test_x)),
                "epochs": epochs,
                "batch_size": CLASSIFIER_BATCH_SIZE,
                "augmentation": "random shifts and zooms of up to 10%",
                "outlier_exposure": (
                    f"{OUTLIER_COUNT} non-digits (noise, speckle, blobs, "
                    "scrambled digits) trained towards the uniform distribution"
                ),
                "test_outliers_confident_fraction": round(outlier_confident, 4),
                "test_recognisable_fraction": round(test_recognisable, 4),
                "seed": seed,
                "test_accuracy": round(test_accuracy, 4),
                "final_training_loss": round(float(history.history["loss"][-1]), 4),
                "training_seconds": round(seconds, 1),
                "tensorflow_version": tf.__version__,
                "keras_version": keras.__version__,
                "trained_on": datetime.date.today().isoformat(),
            },
        )
        _loaded_classifiers.clear()
    return {
        "weights": str(path.relative_to(config.repo_root())),
        "sha256": digest,
        "epochs": epochs,
        "training_images": len(train_x),
        "test_accuracy": round(test_accuracy, 4),
        "test_outliers_confident_fraction": round(outlier_confident, 4),
        "test_recognisable_fraction": round(test_recognisable, 4),
        "seconds": round(seconds, 1),
    }


def load_classifier() -> keras.Model:
    """Return the shipped evaluation classifier, after checking its sha256.

    Returns:
        The trained :func:`mnist_classifier` (cached after the first call).

    Raises:
        ValueError: If the weights are missing, corrupt or from another
            architecture; the message says to run
            ``python -m course_lib.train classifier``.

    Introduced in notebooks/04_gan_training.ipynb.
    """
    path = verified_weights_path(CLASSIFIER_KEY, CLASSIFIER_COMMAND)
    key = str(path)
    if key not in _loaded_classifiers:
        _loaded_classifiers[key] = load_weights_checked(
            mnist_classifier(),
            path,
            f"data/weights/{CLASSIFIER_FILE} does not fit the current "
            "mnist_classifier architecture",
            f"run `{CLASSIFIER_COMMAND}` to retrain it.",
        )
    return _loaded_classifiers[key]


def classifier_info() -> dict:
    """Return the classifier's manifest record (provenance and test accuracy)."""
    verified_weights_path(CLASSIFIER_KEY, CLASSIFIER_COMMAND)
    return dict(read_manifest()[CLASSIFIER_KEY])


# ---------------------------------------------------------------------- image input


def to_unit_range(images, value_range: str | None = None) -> np.ndarray:
    """Validate images and return them as float32 in [0, 1], shape (n, 28, 28, 1).

    Args:
        images: ``uint8`` pixels 0..255, or floats in the range named by
            ``value_range``; shape (n, 28, 28) or (n, 28, 28, 1), n >= 1.
        value_range: ``None`` for uint8 images; ``"0,1"`` or ``"-1,1"`` for
            floating-point images.

    Returns:
        float32 array of shape (n, 28, 28, 1) with values in [0, 1].

    Raises:
        ValueError: On a wrong shape, dtype, range name, or values outside the
            stated range; the message names the fix.

    Introduced in notebooks/04_gan_training.ipynb.
    """
    if hasattr(images, "numpy"):
        images = images.numpy()
    images = data.check_images(images)
    if len(images) == 0:
        raise ValueError("images is empty; pass at least one image.")
    if value_range is not None and value_range not in VALUE_RANGES:
        raise ValueError(
            f"value_range must be None (uint8 0..255), '0,1' or '-1,1', got "
            f"{value_range!r}."
        )
    if images.dtype == np.uint8:
        if value_range is not None:
            raise ValueError(
                f"images are uint8 (0..255) but value_range={value_range!r} was "
                "given. Fix: leave value_range=None for uint8 images."
            )
        unit = images.astype(np.float32) / 255.0
    elif np.issubdtype(images.dtype, np.floating):
        if value_range is None:
            raise ValueError(
                f"images are {images.dtype} but no value_range was given. Fix: pass "
                "value_range='0,1' (VAE outputs, binarised digits) or "
                "value_range='-1,1' (a tanh generator)."
            )
        unit = images.astype(np.float32)
        if value_range == "-1,1":
            unit = (unit + 1.0) / 2.0
        if not np.all(np.isfinite(unit)):
            raise ValueError("images contain NaN or infinite values; fix the model.")
        low, high = float(unit.min()), float(unit.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(
                f"images are outside the stated range {value_range} (after mapping "
                f"to [0, 1] they span [{low:.3g}, {high:.3g}]). Fix: pass the right "
                "value_range, or clip/scale the images first."
            )
        unit = np.clip(unit, 0.0, 1.0)
    else:
        raise ValueError(
            f"images have dtype {images.dtype}; pass uint8 pixels 0..255 or float "
            "images with a value_range. Fix: images.astype('uint8') for 0..255 "
            "integers."
        )
    return unit.reshape(-1, 28, 28, 1)


def class_probabilities(images, value_range: str | None = None) -> np.ndarray:
    """Return the classifier's softmax probabilities, shape (n, 10).

    Args:
        images: See :func:`to_unit_range`.
        value_range: See :func:`to_unit_range`.

    Returns:
        float64 array of shape (n, 10) whose rows sum to 1.
    """
    unit = to_unit_range(images, value_range)
    logits = load_classifier().predict(unit, batch_size=256, verbose=0)
    logits = logits.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def classifier_features(images, value_range: str | None = None) -> np.ndarray:
    """Return the classifier's 128-dimensional penultimate features.

    Args:
        images: See :func:`to_unit_range`.
        value_range: See :func:`to_unit_range`.

    Returns:
        float64 array of shape (n, 128).

    Introduced in notebooks/04_gan_training.ipynb.
    """
    unit = to_unit_range(images, value_range)
    model = load_classifier()
    key = f"{id(model)}:{FEATURE_LAYER}"
    if key not in _loaded_classifiers:
        _loaded_classifiers[key] = keras.Model(
            model.inputs, model.get_layer(FEATURE_LAYER).output
        )
    extractor = _loaded_classifiers[key]
    return extractor.predict(unit, batch_size=256, verbose=0).astype(np.float64)


def class_histogram(images, value_range: str | None = None) -> np.ndarray:
    """Count how many images the classifier assigns to each digit.

    Args:
        images: See :func:`to_unit_range`.
        value_range: See :func:`to_unit_range`.

    Returns:
        int64 array of shape (10,) that sums to the number of images.

    Introduced in notebooks/04_gan_training.ipynb.
    """
    labels = np.argmax(class_probabilities(images, value_range), axis=1)
    return np.bincount(labels, minlength=10).astype(np.int64)


def recognisable_fraction(
    images, threshold: float = 0.9, value_range: str | None = None
) -> float:
    """Return the share of images the classifier labels with confidence >= threshold.

    Args:
        images: See :func:`to_unit_range`.
        threshold: The confidence a digit needs to count, in (0, 1].
        value_range: See :func:`to_unit_range`.

    Returns:
        A float in [0, 1].

    Introduced in notebooks/04_gan_training.ipynb.
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

    Introduced in notebooks/04_gan_training.ipynb.
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
        real_value_range: See :func:`to_unit_range`.
        generated_value_range: See :func:`to_unit_range`; ``"-1,1"`` for a tanh
            generator, ``"0,1"`` for a VAE.

    Returns:
        The classifier-FID, a float >= 0.

    Introduced in notebooks/04_gan_training.ipynb.
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
        value_range: See :func:`to_unit_range`.

    Returns:
        The FID between the two halves.

    Introduced in notebooks/04_gan_training.ipynb.
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
