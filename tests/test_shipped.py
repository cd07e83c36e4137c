"""Tests for course_lib.shipped: checked loads of every shipped model, train_or_load."""

import dataclasses
import functools
import json
import shutil

import h5py
import keras
import numpy as np
import pytest
from gan_fixtures import Interrupt, real_batch

from course_lib import (
    classifier,
    clusters,
    config,
    data,
    evaluation,
    gan,
    pixels,
    recipes,
    shipped,
    store,
    vae,
)

GENERATORS = ("gan", "vae", "vae_2d")
# What a caller can rely on in train_or_load's info, shipped or trained alike.
INFO_KEYS = {
    "source",
    "recipe",
    "epochs",
    "steps",
    "steps_per_epoch",
    "batch_size",
    "train_images",
    "training_seconds",
    "resumed_from_epoch",
    "settings",
    "data_source",
    "results",
}
# Settings that keep the tiny training runs below fast and deterministic.
FAST = {"precision": "float32", "jit_compile": False, "steps_per_execution": 1}


@pytest.fixture(scope="module")
def loaded():
    """Each shipped model, loaded once for the module."""
    return {key: shipped.load(key) for key in (*GENERATORS, "classifier")}


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist(verbose=False)


@pytest.fixture
def weights_copy(tmp_path, monkeypatch):
    """A scratch copy of data/weights/, which config.data_dir() now points at."""
    source = store.weights_dir()
    target = tmp_path / "data" / "weights"
    shutil.copytree(source, target)
    # store.weights_dir() reads config.data_dir() (repo_root()/data) on each call.
    monkeypatch.setattr(config, "data_dir", lambda: tmp_path / "data")
    monkeypatch.setattr(classifier, "_loaded_classifiers", {})
    assert store.weights_dir() == target
    return target


def file_arrays(path):
    """Every weight array in a .weights.h5 file, read with h5py."""
    arrays = []

    def collect(name, item):
        if isinstance(item, h5py.Dataset):
            arrays.append(np.array(item))

    with h5py.File(path, "r") as handle:
        handle.visititems(collect)
    return arrays


# --------------------------------------------------------------- shipped.load


@pytest.mark.parametrize("key", GENERATORS)
def test_each_shipped_generator_generates_float32_images_fixed_by_the_seed(loaded, key):
    model = loaded[key]
    assert model.manifest == store.read_manifest()[key]
    images = model.generate(6, seed=0)
    assert images.shape == (6, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert images.max() - images.min() > 0.5  # digits, not a blank page
    np.testing.assert_array_equal(images, model.generate(6, seed=0))
    assert not np.array_equal(images, model.generate(6, seed=1))


def test_shipped_gan_meets_the_quality_bar_through_the_public_api(loaded):
    # The course's bar for its GAN (README): >= 0.8 recognisable on 1,000
    # samples, all ten digits present, none above 20%. The classifier and the
    # samples are independent of each other; the counts are made here.
    samples = loaded["gan"].generate(1000, seed=123)
    probabilities = evaluation.class_probabilities(samples, value_range="-1,1")
    assert np.mean(probabilities.max(axis=1) >= 0.9) >= 0.8
    counts = np.bincount(probabilities.argmax(axis=1), minlength=10)
    assert np.all(counts > 0) and counts.max() <= 200


def test_shipped_classifier_loads_checked(loaded, mnist):
    model = loaded["classifier"]
    assert model.manifest == store.read_manifest()["classifier"]
    assert model is classifier.load()  # one cached network
    x = pixels.to_unit_range(mnist.x_test[:200]).reshape(-1, 28, 28, 1)
    logits = np.asarray(model.predict(x, verbose=0))
    assert logits.shape == (200, 10)
    accuracy = np.mean(logits.argmax(axis=1) == mnist.y_test[:200])
    assert accuracy >= 0.9  # the manifest records 0.977 on 1,000 test digits


def test_shipped_gan_holds_the_file_and_the_manifests_cluster_layout(loaded):
    model = loaded["gan"]
    entry = store.read_manifest()["gan"]
    assert isinstance(model, gan.GAN)
    assert model.latent_dim == entry["latent_dim"] == recipes.GAN.latent_dim
    assert model.clusters == entry["clusters"] == recipes.GAN.clusters
    frequencies = np.asarray(entry["cluster_frequencies"], np.float64)
    np.testing.assert_allclose(
        model.cluster_frequencies, frequencies / frequencies.sum()
    )
    # The loaded generator holds exactly the file's float16 values, and the
    # network that samples (the EMA one) is the same.
    stored = file_arrays(store.weights_dir() / entry["file"])
    assert len(stored) == len(model.generator.weights)
    assert all(a.dtype == np.float16 for a in stored)
    for weight in model.generator.get_weights():
        assert any(
            a.shape == weight.shape and np.array_equal(a.astype(np.float32), weight)
            for a in stored
        )
    assert model.sampler is model.ema_generator
    for a, b in zip(
        model.ema_generator.get_weights(), model.generator.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_shipped_gan_samples_use_the_manifests_clusters(loaded, monkeypatch):
    model = loaded["gan"]
    entry = store.read_manifest()["gan"]
    seen = []

    def recording_predict(latent, **kwargs):
        seen.append(np.array(latent))
        return np.zeros((len(latent), 28, 28, 1), np.float32)

    monkeypatch.setattr(model.sampler, "predict", recording_predict)
    model.generate(4000, seed=0)  # the caller passes no cluster information
    (latent,) = seen
    k = entry["clusters"]
    assert latent.shape == (4000, entry["latent_dim"])
    one_hot = latent[:, -k:]
    assert set(np.unique(one_hot)) == {0.0, 1.0}
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)
    # The layout rebuilt from the manifest alone, with NumPy's generator.
    frequencies = np.asarray(entry["cluster_frequencies"], np.float64)
    frequencies = frequencies / frequencies.sum()
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((4000, entry["latent_dim"] - k)).astype(np.float32)
    ids = rng.choice(k, size=4000, p=frequencies)
    np.testing.assert_array_equal(latent[:, :-k], noise)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), ids)
    # Statistically: each share is within 5 standard errors of its frequency.
    shares = np.bincount(one_hot.argmax(axis=1), minlength=k) / 4000
    errors = np.sqrt(frequencies * (1 - frequencies) / 4000)
    assert np.all(np.abs(shares - frequencies) <= 5 * errors)


def test_shipped_vae_generate_is_twice_the_decoder_mean_minus_one(loaded):
    model = loaded["vae"]
    z = np.random.default_rng(3).standard_normal((4, model.latent_dim))
    # The same forward path as generate (predict): under mixed_bfloat16 (picked on
    # AMX CPUs) an eager call and predict round differently, by up to ~0.04.
    logits = model.decoder.predict(z.astype(np.float32), verbose=0).astype(np.float64)
    expected = 2.0 / (1.0 + np.exp(-logits)) - 1.0
    np.testing.assert_allclose(model.generate(4, seed=3), expected, atol=1e-5)


def test_shipped_vaes_load_verified_and_meet_the_elbo_bar(loaded, mnist):
    model = loaded["vae"]
    entry = model.manifest
    record = shipped.history("vae")
    assert entry["latent_dim"] == 16 == model.latent_dim
    assert len(record["history"]["val_loss"]) == entry["provenance"]["epochs"]
    bounds = vae.held_out_bounds(
        model, pixels.binarize(mnist.x_test[:100]), num_samples=10, seed=0
    )
    assert bounds["negative_elbo"] <= 110
    assert entry["results"]["coverage_passed"]
    two_d = loaded["vae_2d"]
    assert two_d.latent_dim == 2 == two_d.manifest["latent_dim"]


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize("key", ["gan", "vae", "classifier"])
@pytest.mark.parametrize("damage", ["corrupt", "missing", "manifest_sha"])
def test_damaged_weights_raise_a_value_error_naming_the_fix(weights_copy, key, damage):
    manifest = store.read_manifest()
    path = weights_copy / manifest[key]["file"]
    if damage == "corrupt":
        with open(path, "ab") as handle:
            handle.write(b"tampered")
        message = "corrupt or were changed"
    elif damage == "missing":
        path.unlink()
        message = "missing"
    else:
        manifest[key]["sha256"] = "0" * 64
        (weights_copy / store.MANIFEST_FILE).write_text(json.dumps(manifest))
        message = "corrupt or were changed"
    command = recipes.get(key).command
    with pytest.raises(ValueError, match=message) as error:
        shipped.load(key)
    assert f"Fix: run `{command}`" in str(error.value)
    assert "restore the file with git" in str(error.value)


def test_weights_of_another_layout_raise_a_value_error_naming_the_fix(weights_copy):
    manifest = store.read_manifest()
    manifest["gan"]["latent_dim"] = 50  # the file was written for latent_dim=100
    (weights_copy / store.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="do not fit the gan recipe.*Fix: retrain"):
        shipped.load("gan")


def test_a_missing_manifest_entry_names_the_training_command(weights_copy):
    manifest = store.read_manifest()
    del manifest["vae_2d"]
    (weights_copy / store.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="no entry for 'vae_2d'.*course_lib.train"):
        shipped.load("vae_2d")


def test_unknown_key_lists_the_known_ones():
    known = "classifier, gan, latent_diffusion, tokens, vae, vae_2d"
    with pytest.raises(ValueError, match=known):
        shipped.load("gann")
    with pytest.raises(ValueError, match=known):
        shipped.train_or_load("dcgan")
    for key in ("classifier", "tokens", "latent_diffusion"):
        with pytest.raises(ValueError, match=f"shipped.load\\('{key}'\\)"):
            shipped.train_or_load(key)


# -------------------------------------------------------------------- budgets


def test_every_shipped_file_is_in_the_manifest_and_fits_the_size_budget():
    directory = store.weights_dir()
    manifest = store.read_manifest()
    named = {store.MANIFEST_FILE}
    for entry in manifest.values():
        named.update(
            entry[field]
            for field in ("file", "history_file", "gif_file")
            if field in entry
        )
    files = {path.name: path.stat().st_size for path in directory.iterdir()}
    assert set(files) == named  # nothing unregistered ships, nothing is missing
    for name, size in files.items():
        if name.endswith(".weights.h5"):
            # Today the largest is the GAN generator, 4.70 MB (float16).
            assert size <= 5_000_000, name
    # Today 13.1 MB in all: the six weights files (12.6 MB), the GAN's training
    # GIF (0.42 MB), the histories and the manifest (0.07 MB).
    assert sum(files.values()) <= 13_500_000
    # The token models and the latent denoiser (notebook 08): at most 6 MB
    # together (4.57 MB today).
    assert (
        sum(files[manifest[key]["file"]] for key in ("tokens", "latent_diffusion"))
        <= 6_000_000
    )
    # The three non-GAN weights files: 3.32 MB today.
    assert (
        sum(files[manifest[key]["file"]] for key in ("classifier", "vae", "vae_2d"))
        <= 4_000_000
    )


def test_manifest_records_the_recipes_full_profile_run():
    manifest = store.read_manifest()
    full = config.get_profile("full")
    for key in GENERATORS:
        recipe, provenance = recipes.get(key), manifest[key]["provenance"]
        assert provenance["epochs"] == recipes.epochs(recipe, full)
        assert provenance["batch_size"] == recipes.batch_size(recipe, full)
        # The shipped run took the recipe's steps on its 4,000 digits.
        batches = -(-provenance["train_images"] // provenance["batch_size"])
        assert provenance["epochs"] * batches == recipes.steps(recipe, full)
        assert provenance["command"] == recipe.command


# ------------------------------------------------------------- train_or_load


def tiny_gan_recipe(**changes):
    """The shipped GAN recipe at latent_dim 8, for fast training runs."""
    changes = {"latent_dim": 8, "clusters": 0, **changes}
    return dataclasses.replace(recipes.GAN, **changes)


@pytest.mark.parametrize("k", [0, 4])
def test_train_or_load_quick_path_trains_and_resumes_nothing(tmp_path, k):
    images = real_batch(32)
    model, history, info = shipped.train_or_load(
        "gan",
        config.get_profile("quick"),
        images,
        recipe=tiny_gan_recipe(
            clusters=k,
            batch_size={"quick": 16, "full": 16},
            steps={"quick": 2, "full": 2},
            steps_per_epoch={"quick": 2, "full": 2},
        ),
        checkpoint_directory=tmp_path,
        verbose=0,
        **FAST,
    )
    assert info["source"] == "trained" and info["resumed_from_epoch"] == 0
    assert len(history["d_loss"]) == 1 and info["epochs"] == 1
    assert info["steps"] == info["steps_per_epoch"] == 2
    assert info["batch_size"] == 16 and info["train_images"] == 32
    assert model.generate(3, seed=0).shape == (3, 28, 28, 1)
    assert info["recipe"]["clusters"] == k == model.clusters
    if k:  # the frequencies are those of k-means on these images
        _, expected = clusters.cluster_images(images, k, seed=config.DEFAULT_SEED)
        np.testing.assert_allclose(model.cluster_frequencies, expected)


def test_a_recipe_variant_is_trained_even_in_the_full_profile(tmp_path, monkeypatch):
    monkeypatch.delenv(config.RETRAIN_ENV_VAR, raising=False)
    _, _, info = shipped.train_or_load(
        "gan",
        config.get_profile("full"),
        real_batch(16),
        recipe=tiny_gan_recipe(
            steps={"quick": 1, "full": 1}, steps_per_epoch={"quick": 1, "full": 1}
        ),
        checkpoint_directory=tmp_path,
        verbose=0,
        **FAST,
    )
    assert info["source"] == "trained" and info["epochs"] == 1


def test_train_or_load_has_one_info_shape_shipped_or_trained(
    tmp_path, monkeypatch, mnist
):
    monkeypatch.delenv(config.RETRAIN_ENV_VAR, raising=False)
    quick, full = config.get_profile("quick"), config.get_profile("full")
    infos = {}
    # The shipped recipes themselves, on 64 digits: one GAN batch, two VAE ones.
    _, gan_history, infos["gan", "trained"] = shipped.train_or_load(
        "gan",
        quick,
        mnist.x_train[:64],
        checkpoint_directory=tmp_path / "gan",
        verbose=0,
        **FAST,
    )
    _, vae_history, infos["vae", "trained"] = shipped.train_or_load(
        "vae",
        quick,
        mnist.x_train[:64],
        validation_images=mnist.x_test[:32],
        checkpoint_directory=tmp_path / "vae",
        verbose=0,
        **FAST,
    )
    assert set(gan_history) == {"d_loss", "g_loss", "D(x)", "D(G(z))"}
    assert {"loss", "val_loss"} <= set(vae_history)
    for key in ("gan", "vae"):
        model, record, infos[key, "shipped"] = shipped.train_or_load(key, full)
        assert record == shipped.history(key)["history"]
        assert model.manifest == store.read_manifest()[key]
    for (key, source), info in infos.items():
        assert set(info) == INFO_KEYS, (key, source)
        assert info["source"] == source
        assert info["recipe"] == dataclasses.asdict(recipes.get(key))
    for key in ("gan", "vae"):
        trained, loaded = infos[key, "trained"], infos[key, "shipped"]
        assert trained["results"] is None and trained["train_images"] == 64
        assert trained["data_source"] == "images passed in"
        assert trained["epochs"] == recipes.epochs(recipes.get(key), quick)
        assert trained["steps"] == recipes.steps(recipes.get(key), quick)
        assert trained["settings"] == FAST
        provenance = store.read_manifest()[key]["provenance"]
        assert loaded["train_images"] == provenance["train_images"]
        assert loaded["data_source"] == provenance["data_source"]
        assert loaded["epochs"] == provenance["epochs"]
        assert loaded["results"] == store.read_manifest()[key]["results"]


def resumable_run(key):
    """A small two-epoch recipe variant and its images, for each generator."""
    if key == "gan":
        recipe = tiny_gan_recipe(
            clusters=4,
            steps={"quick": 4, "full": 4},
            steps_per_epoch={"quick": 2, "full": 2},
            batch_size={"quick": 16, "full": 16},
        )
        return recipe, real_batch(32), {}
    recipe = dataclasses.replace(
        recipes.VAE,
        latent_dim=4,
        batch_size=16,
        steps={"quick": 4, "full": 4},
        steps_per_epoch={"quick": 2, "full": 2},
    )
    images = (real_batch(32, seed=1) > 0).astype(np.float32)
    return recipe, images, {"validation_images": images[:16]}


@pytest.mark.parametrize("key", ["gan", "vae"])
def test_an_interrupted_run_resumes_from_its_checkpoint_exactly(
    tmp_path, monkeypatch, key
):
    # Exact resumption needs the same batch order in the resumed epochs.
    monkeypatch.setattr(
        data, "make_dataset", functools.partial(data.make_dataset, shuffle=False)
    )
    recipe, images, extra = resumable_run(key)
    quick = config.get_profile("quick")

    def run(directory, callbacks=(), init_seed=0):
        # train_or_load's seed fixes the data order and the noise; the initial
        # weights are fixed by the global seed, as ship.py and the notebooks do.
        keras.utils.set_random_seed(init_seed)
        return shipped.train_or_load(
            key,
            quick,
            images,
            recipe=recipe,
            checkpoint_directory=directory,
            callbacks=callbacks,
            verbose=0,
            **extra,
            **FAST,
        )

    straight, straight_history, straight_info = run(tmp_path / "straight")
    assert straight_info["resumed_from_epoch"] == 0
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "run", callbacks=[Interrupt(after_epochs=1)])
    # Another initialisation: the checkpoint must win.
    resumed, history, info = run(tmp_path / "run", init_seed=99)
    assert info["resumed_from_epoch"] == 1 and info["epochs"] == 2
    assert set(info) == INFO_KEYS
    for metric, values in straight_history.items():
        assert len(history[metric]) == 2
        np.testing.assert_allclose(history[metric], values, rtol=1e-5, atol=1e-6)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # train_or_load chose the cluster layout itself, the same both times.
    if key == "gan":
        assert resumed.cluster_frequencies == straight.cluster_frequencies


@pytest.mark.parametrize("key", ["gan", "vae"])
def test_train_or_load_in_steps_is_the_old_epoch_run_bit_for_bit(tmp_path, key):
    # 40 images in batches of 16: 3 batches a pass, the last partial, shuffled;
    # the budget is 2 epochs of one pass, as the recipes count it offline.
    recipe, images, extra = resumable_run(key)
    recipe = dataclasses.replace(
        recipe, steps={"quick": 6, "full": 6}, steps_per_epoch={"quick": 3, "full": 3}
    )
    images = np.concatenate([images, images[:8]])
    quick, seed = config.get_profile("quick"), 3
    keras.utils.set_random_seed(0)
    model, history, info = shipped.train_or_load(
        key,
        quick,
        images,
        seed=seed,
        recipe=recipe,
        checkpoint_directory=tmp_path,
        verbose=0,
        **extra,
        **FAST,
    )
    assert info["steps"] == 6 and info["epochs"] == 2
    # What train_or_load did when recipes counted epochs: fit(dataset, epochs).
    keras.utils.set_random_seed(0)
    fit_options = {}
    if key == "gan":
        ids, frequencies = clusters.cluster_images(images, recipe.clusters, seed)
        old = gan.build_gan(
            seed=seed,
            cluster_frequencies=frequencies,
            **recipe.build_options(),
            **FAST,
        )
        dataset = data.make_dataset(images, 16, labels=ids, seed=seed)
    else:
        old = vae.build_vae(seed=seed, **recipe.build_options(), **FAST)
        dataset = data.make_dataset(images, 16, seed=seed)
        validation = extra["validation_images"]
        fit_options["validation_data"] = data.make_dataset(
            validation, 500, shuffle=False
        )
    old_history = old.fit(dataset, epochs=2, verbose=0, **fit_options).history
    assert history == old_history  # every per-epoch float, exactly
    for a, b in zip(old.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_each_history_file_holds_its_manifest_entrys_results():
    # The two records of a shipped model's measurements must agree: the manifest
    # entry and the history file beside the weights (written together).
    manifest = store.read_manifest()
    for key, entry in manifest.items():
        if "history_file" not in entry:
            continue
        history = store.read_json(store.weights_dir() / entry["history_file"])
        assert history["results"] == entry["results"], key
        assert history.get("results_measured") == entry.get("results_measured"), key
