"""Tests for course_lib.classifier: the shipped evaluation classifier loads only
when its sha256 matches, is cached, is accurate on real digits and unsure of the
outlier images it was trained against."""

import dataclasses
import json
import shutil

import keras
import numpy as np
import pytest

from course_lib import classifier, config, data, recipes, store

COMMAND = "python -m course_lib.train classifier"


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist(verbose=False)


def _softmax(logits):
    logits = np.asarray(logits, np.float64)
    logits = logits - logits.max(axis=1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.fixture
def temporary_weights(tmp_path, monkeypatch):
    """Copy the shipped classifier into a scratch repository's data/weights/."""
    source = store.weights_dir()
    entry = store.read_manifest()["classifier"]
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    target = tmp_path / "data" / "weights"
    target.mkdir(parents=True)
    shutil.copy(source / recipes.CLASSIFIER.weights_file, target)
    (target / store.MANIFEST_FILE).write_text(json.dumps({"classifier": entry}))
    monkeypatch.setattr(classifier, "_loaded_classifiers", {})
    return target


def test_shipped_classifier_is_accurate_and_its_record_agrees(mnist):
    model = classifier.load()
    logits = model.predict(mnist.x_test[..., None] / 255.0, batch_size=256, verbose=0)
    accuracy = np.mean(np.argmax(logits, axis=1) == mnist.y_test)
    assert accuracy >= 0.95
    record = classifier.info()
    assert record["test_accuracy"] == pytest.approx(accuracy, abs=1e-3)
    confident = np.mean(_softmax(logits).max(axis=1) >= 0.9)
    assert record["test_recognisable_fraction"] == pytest.approx(confident, abs=1e-3)
    assert record["sha256"] == store.sha256_of(
        store.weights_dir() / recipes.CLASSIFIER.weights_file
    )


def test_load_is_cached_until_forgotten(temporary_weights):
    first = classifier.load()
    assert classifier.load() is first
    classifier.forget_loaded()
    second = classifier.load()
    assert second is not first
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_reports_missing_weights(temporary_weights):
    (temporary_weights / recipes.CLASSIFIER.weights_file).unlink()
    with pytest.raises(ValueError, match=COMMAND):
        classifier.load()
    with pytest.raises(ValueError, match="missing"):
        classifier.info()


def test_load_reports_a_missing_manifest_entry(temporary_weights):
    (temporary_weights / store.MANIFEST_FILE).write_text("{}")
    with pytest.raises(ValueError, match=f"no entry for 'classifier'.*{COMMAND}"):
        classifier.load()


def test_load_reports_corrupt_weights(temporary_weights):
    with open(temporary_weights / recipes.CLASSIFIER.weights_file, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ValueError, match="corrupt.*python -m course_lib.train"):
        classifier.load()


def test_load_reports_a_different_architecture(temporary_weights):
    image = keras.Input((28, 28, 1))
    other = keras.Model(image, keras.layers.Dense(10)(keras.layers.Flatten()(image)))
    path = temporary_weights / recipes.CLASSIFIER.weights_file
    other.save_weights(path)
    manifest = json.loads((temporary_weights / store.MANIFEST_FILE).read_text())
    manifest["classifier"]["sha256"] = store.sha256_of(path)
    (temporary_weights / store.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="architecture.*python -m course_lib.train"):
        classifier.load()


def test_outlier_images_are_the_four_kinds_of_non_digit(mnist):
    digits = mnist.x_train[:10, ..., None].astype(np.float32) / 255.0
    outliers = classifier.outlier_images(digits, 12, seed=3)
    assert outliers.shape == (12, 28, 28, 1) and outliers.dtype == np.float32
    assert outliers.min() >= 0 and outliers.max() <= 1
    np.testing.assert_array_equal(outliers, classifier.outlier_images(digits, 12, 3))
    assert not np.array_equal(outliers, classifier.outlier_images(digits, 12, 4))
    flat = outliers[..., 0]
    for index in range(12):
        image = flat[index]
        kind = index % 4
        if kind == 0:  # uniform noise: many distinct grey levels
            assert len(np.unique(image)) > 700
        elif kind == 1:  # speckle: binary pixels
            assert set(np.unique(image).tolist()) <= {0.0, 1.0}
        elif kind == 2:  # blobs: constant 4x4 blocks of 0 or 1
            blocks = image.reshape(7, 4, 7, 4)
            assert np.all(blocks == blocks[:, :1, :, :1])
            assert set(np.unique(image).tolist()) <= {0.0, 1.0}
        else:  # a scramble: the 16 7x7 patches of one real digit, reordered

            def patches(picture):
                tiles = picture.reshape(4, 7, 4, 7).transpose(0, 2, 1, 3)
                return sorted(tile.tobytes() for tile in tiles.reshape(16, 7, 7))

            assert any(patches(image) == patches(d[..., 0]) for d in digits)


def test_the_shipped_classifier_is_unsure_of_outliers(mnist):
    digits = mnist.x_test[:100, ..., None].astype(np.float32) / 255.0
    outliers = classifier.outlier_images(digits, 200, seed=11)
    logits = classifier.load().predict(outliers, batch_size=256, verbose=0)
    assert np.mean(_softmax(logits).max(axis=1) >= 0.9) <= 0.05


@pytest.mark.parametrize("per_epoch", [4, 2], ids=["one pass", "half a pass"])
def test_train_takes_the_recipes_steps_whatever_the_data_size(mnist, per_epoch):
    # 4,000 digits and no outliers in batches of 1,000: 4 batches a pass. An
    # epoch of 2 steps is half of it, as an epoch is a part of the 60,000 digits.
    recipe = dataclasses.replace(
        recipes.CLASSIFIER,
        outliers=0,
        batch_size=1_000,
        steps={"quick": per_epoch, "full": per_epoch},
        steps_per_epoch={"quick": per_epoch, "full": per_epoch},
    )
    model, _, stats = classifier.train(config.get_profile("quick"), 0, recipe)
    assert int(model.optimizer.iterations) == per_epoch == stats["steps"]
    assert stats["epochs"] == 1 and stats["training_images"] == len(mnist.x_train)
