"""Tests for course_lib.store: atomic writes, JSON, the manifest and its sha256
checks, checked loads of .weights.h5 files, and float16 storage."""

import hashlib
import json
import os
import stat

import h5py
import keras
import numpy as np
import pytest

from course_lib import store


@pytest.fixture
def weights_folder(tmp_path, monkeypatch):
    """A scratch repository, so that data/weights/ is empty and disposable."""
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    return tmp_path / "data" / "weights"


def dense_model(widths, inputs=4):
    x = image = keras.Input((inputs,))
    for width in widths:
        x = keras.layers.Dense(width)(x)
    return keras.Model(image, x)


# ------------------------------------------------------------------ atomic writes


def test_sha256_of_matches_hashlib(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(3 << 20))  # more than one 1 MiB chunk
    assert store.sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_atomic_write_leaves_no_partial_and_no_temporary_file(tmp_path):
    path = tmp_path / "sub" / "model.weights.h5"
    seen = []

    def good(temporary):
        seen.append(temporary)
        with open(temporary, "wb") as handle:
            handle.write(b"first")

    assert store.atomic_write(path, good) == path
    assert path.read_bytes() == b"first"
    # The temporary file sits in the same folder and keeps the full suffix.
    assert os.path.dirname(seen[0]) == str(path.parent)
    assert seen[0].endswith(".weights.h5")

    def crash(temporary):
        with open(temporary, "wb") as handle:
            handle.write(b"half a file")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.atomic_write(path, crash)
    assert path.read_bytes() == b"first"  # the previous file survives
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.weights.h5"]

    def fail_before_writing(temporary):
        raise ValueError("writer failed")

    with pytest.raises(ValueError, match="writer failed"):
        store.atomic_write(tmp_path / "new.json", fail_before_writing)
    assert not (tmp_path / "new.json").exists()
    assert not list(tmp_path.glob(".tmp-*"))


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = store.atomic_write(tmp_path / "x.json", lambda t: open(t, "w").close())
    finally:
        os.umask(umask)
    # mkstemp would have made it 0o600; readers other than the owner need it.
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_json_round_trips_in_both_layouts(tmp_path):
    record = {"zeta": [1, 2.5, None], "alpha": {"nested": "ü"}, "flag": True}
    kept = store.write_json(tmp_path / "history.json", record)
    assert store.read_json(kept) == record == json.loads(kept.read_text())
    assert list(store.read_json(kept)) == ["zeta", "alpha", "flag"]
    assert kept.read_text().startswith('{\n "zeta"')  # indent 1, order kept
    sorted_path = store.write_json(tmp_path / "m.json", record, sort_keys=True)
    text = sorted_path.read_text()
    assert text == json.dumps(record, indent=2, sort_keys=True) + "\n"


# ------------------------------------------------------------------- the manifest


def test_weights_dir_and_an_absent_manifest(weights_folder):
    assert store.weights_dir() == weights_folder and weights_folder.is_dir()
    assert store.read_manifest() == {}


def test_update_manifest_keeps_other_entries(weights_folder):
    store.update_manifest("classifier", {"file": "c.weights.h5", "sha256": "1"})
    written = store.update_manifest("other_model", {"file": "x.weights.h5"})
    manifest = store.read_manifest()
    assert manifest == written
    assert set(manifest) == {"classifier", "other_model"}
    assert manifest["classifier"] == {"file": "c.weights.h5", "sha256": "1"}
    store.update_manifest("other_model", {"file": "y.weights.h5"})
    assert store.read_manifest()["other_model"] == {"file": "y.weights.h5"}
    assert store.read_manifest()["classifier"]["file"] == "c.weights.h5"
    assert not list(weights_folder.glob(".tmp-*"))


def _register(weights_folder, content=b"weights"):
    path = weights_folder / "m.weights.h5"
    weights_folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    store.update_manifest("m", {"file": path.name, "sha256": digest})
    return path


def test_verified_path_returns_a_file_whose_sha256_matches(weights_folder):
    path = _register(weights_folder)
    assert store.verified_path("m", "make m") == path


def test_verified_path_errors_name_the_fix(weights_folder):
    with pytest.raises(ValueError, match="no entry for 'm'.*Fix: run `make m`"):
        store.verified_path("m", "make m")
    path = _register(weights_folder)
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ValueError, match="corrupt or were changed.*Fix: run `make m`"):
        store.verified_path("m", "make m")
    path.unlink()
    with pytest.raises(ValueError, match="are missing. Fix: run `make m`"):
        store.verified_path("m", "make m")


# ------------------------------------------------------------ weights files


def test_load_checked_turns_any_mismatch_into_one_value_error(tmp_path):
    saved = dense_model([3, 2])
    path = tmp_path / "m.weights.h5"
    saved.save_weights(path)
    same = store.load_checked(dense_model([3, 2]), path, "-", "-")
    for a, b in zip(saved.get_weights(), same.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # Another width, more layers, fewer layers (which Keras alone loads silently).
    message = r"^m does not fit \(.*\)\. Fix: retrain\.$"
    for other in ([5, 2], [3, 2, 1], [3]):
        with pytest.raises(ValueError, match=message):
            store.load_checked(dense_model(other), path, "m does not fit", "retrain.")
    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match="not a readable .weights.h5 file.*retrain"):
        store.load_checked(dense_model([3, 2]), corrupt, "m", "retrain.")


def test_save_inference_weights_drops_the_optimizer_state(tmp_path):
    model = dense_model([64, 8])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 4)), np.zeros((4, 8)), epochs=1, verbose=0)
    path = store.save_inference_weights(
        model, lambda: dense_model([64, 8]), tmp_path / "w.weights.h5"
    )
    with h5py.File(path, "r") as handle:
        names = []
        handle.visititems(lambda name, item: names.append(name))
    assert not any(name.startswith("optimizer") for name in names)
    fresh = store.load_checked(dense_model([64, 8]), path, "-", "-")
    for a, b in zip(model.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def _half_dense():
    # A plain builder: store builds it under the float16 policy itself.
    return dense_model([256, 256], inputs=256)


def test_float16_round_trip_equals_the_rounded_weights_and_halves_the_file(tmp_path):
    keras.utils.set_random_seed(0)
    model = dense_model([256, 256], inputs=256)
    full = tmp_path / "full.weights.h5"
    model.save_weights(full)
    half = store.save_float16(model, _half_dense, tmp_path / "half.weights.h5")
    assert half.stat().st_size < 0.55 * full.stat().st_size
    with h5py.File(half, "r") as handle:
        dtypes = set()
        handle.visititems(
            lambda name, item: (
                dtypes.add(item.dtype) if isinstance(item, h5py.Dataset) else None
            )
        )
    assert dtypes == {np.dtype("float16")}
    restored = store.load_float16(
        dense_model([256, 256], inputs=256), _half_dense, half, "-", "-"
    )
    for original, loaded in zip(
        model.get_weights(), restored.get_weights(), strict=True
    ):
        assert loaded.dtype == np.float32
        expected = original.astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(loaded, expected)
    # Another architecture is refused with the caller's message and fix.
    with pytest.raises(ValueError, match=r"^wrong \(.*\)\. Fix: retrain\.$"):
        store.load_float16(
            dense_model([256, 128], inputs=256),
            _half_dense_other,
            half,
            "wrong",
            "retrain.",
        )


def _half_dense_other():
    return dense_model([256, 128], inputs=256)
