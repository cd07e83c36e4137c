"""The evaluation classifier: the small convnet that judges generated digits.

Its network is ``models.mnist_classifier``; its recipe is ``recipes.CLASSIFIER``.
:func:`train` trains it with random shifts and zooms and with *outlier
exposure* (non-digits trained towards the uniform distribution), so that it is
unsure of noise; ``python -m course_lib.train classifier`` ships it, and
:func:`load` returns the shipped weights after checking their sha256.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from course_lib import config, data, models, pipeline, pixels, recipes, store, training

_loaded_classifiers: dict[str, keras.Model] = {}


def load() -> keras.Model:
    """Return the shipped evaluation classifier, after checking its sha256.

    Returns:
        The trained :func:`mnist_classifier` (cached after the first call).

    Raises:
        ValueError: If the weights are missing, corrupt or from another
            architecture; the message says to run
            ``python -m course_lib.train classifier``.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    path = store.verified_path(recipes.CLASSIFIER.key, recipes.CLASSIFIER.command)
    key = str(path)
    if key not in _loaded_classifiers:
        _loaded_classifiers[key] = store.load_checked(
            models.mnist_classifier(),
            path,
            f"data/weights/{recipes.CLASSIFIER.weights_file} does not fit the current "
            "mnist_classifier architecture",
            f"run `{recipes.CLASSIFIER.command}` to retrain it.",
        )
    return _loaded_classifiers[key]


def forget_loaded() -> None:
    """Drop the cached classifier, so the next :func:`load` reads the file again."""
    _loaded_classifiers.clear()


def info() -> dict:
    """Return the classifier's manifest record (provenance and test accuracy)."""
    store.verified_path(recipes.CLASSIFIER.key, recipes.CLASSIFIER.command)
    return dict(store.read_manifest()[recipes.CLASSIFIER.key])


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


def train(profile: config.Profile, seed: int, recipe=recipes.CLASSIFIER) -> tuple:
    """Train the evaluation classifier deterministically, with outlier exposure.

    It takes ``recipes.steps(recipe, profile)`` optimizer steps whatever the
    number of digits: on the offline 4,000 (and 2,000 outliers) that is 30
    passes, the shipped run; on the 60,000 each epoch is a part of the data.

    Args:
        profile: The run's profile (the quick one trains for one epoch).
        seed: The seed given to ``config.seed_everything``.
        recipe: The recipe (default: the shipped one).

    Returns:
        ``(model, mnist, stats)``: the trained ``models.mnist_classifier``, the
        data it was trained on, and a dict of its measured figures.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    config.seed_everything(seed)
    mnist = data.load_mnist()
    train_x = pixels.scale_images(mnist.x_train, "0,1")
    test_x = pixels.scale_images(mnist.x_test, "0,1")
    epochs = recipes.epochs(recipe, profile)
    steps_per_epoch = recipes.steps_per_epoch(recipe, profile)
    augment = _augmenter(seed)
    outliers = outlier_images(train_x, recipe.outliers, seed)
    inputs = np.concatenate([train_x, outliers])
    targets = np.concatenate(
        [np.eye(10, dtype=np.float32)[mnist.y_train], np.full((len(outliers), 10), 0.1)]
    ).astype(np.float32)
    train_dataset = pipeline.fixed_prefetch(
        tf.data.Dataset.from_tensor_slices((inputs, targets))
        .shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
        .batch(recipe.batch_size)
        .map(lambda x, y: (augment(x, training=True), y))
    )
    model = models.mnist_classifier()
    model.compile(
        optimizer=keras.optimizers.Adam(recipe.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    start = time.perf_counter()
    history = training.fit_steps(
        model, train_dataset, epochs, steps_per_epoch, verbose=2
    )
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
    stats = {
        "epochs": epochs,
        "steps": epochs * steps_per_epoch,
        "training_images": int(len(train_x)),
        "test_images": int(len(test_x)),
        "test_accuracy": round(test_accuracy, 4),
        "test_outliers_confident_fraction": round(outlier_confident, 4),
        "test_recognisable_fraction": round(test_recognisable, 4),
        "final_training_loss": round(float(history.history["loss"][-1]), 4),
        "seconds": round(seconds, 1),
    }
    return model, mnist, stats
