"""Tests for course_lib.ship in the quick profile: each command measures what it
trained and ships nothing. The training itself is replaced by stand-ins (the old
suite never ran these commands, and real training belongs to CI's notebooks)."""

import numpy as np
import pytest

from course_lib import (
    animation,
    classifier,
    config,
    data,
    models,
    pixels,
    recipes,
    ship,
    shipped,
    store,
    vae,
)

QUICK = config.get_profile("quick")


@pytest.fixture(scope="module")
def small_mnist():
    # Enough digits for the quick profile's 200 samples, fewer for speed.
    mnist = data.load_mnist(verbose=False)
    return data.MnistData(
        mnist.x_train[:300],
        mnist.y_train[:300],
        mnist.x_test[:300],
        mnist.y_test[:300],
        mnist.source,
    )


def _snapshot(folder):
    return {
        path.name: (path.stat().st_mtime_ns, store.sha256_of(path))
        for path in sorted(folder.iterdir())
    }


@pytest.fixture
def nothing_shipped(monkeypatch, small_mnist, tmp_path):
    """Fail on any write to data/weights/, and check afterwards that none happened."""

    def refuse(*args, **kwargs):
        raise AssertionError("the quick profile must not write data/weights/")

    for name in ("save_float16", "write_json", "update_manifest"):
        monkeypatch.setattr(store, name, refuse)
    monkeypatch.setattr(animation, "write_gif", refuse)
    monkeypatch.setattr(data, "load_mnist", lambda *args, **kwargs: small_mnist)
    monkeypatch.setattr(ship, "_checkpoints", lambda recipe, profile: tmp_path)
    before = _snapshot(store.weights_dir())
    yield
    assert _snapshot(store.weights_dir()) == before


def _info(key):
    return {"training_seconds": 1.5, "recipe": recipes.get(key)}


class _RealDigits:
    """A stand-in generator: generate() returns real test digits in [-1, 1]."""

    def __init__(self, digits):
        self.digits = digits

    def generate(self, count, seed=0):
        order = np.random.default_rng(seed).permutation(len(self.digits))[:count]
        return pixels.scale_images(self.digits[order])


def test_ship_gan_quick_measures_the_samples_and_ships_nothing(
    monkeypatch, nothing_shipped, small_mnist
):
    calls = []

    def fake_train_or_load(key, profile, **options):
        calls.append((key, profile, options))
        return _RealDigits(small_mnist.x_test), {"d_loss": [1.0]}, _info(key)

    monkeypatch.setattr(shipped, "train_or_load", fake_train_or_load)
    summary = ship.ship_gan(QUICK, seed=3)
    [(key, profile, options)] = calls
    assert key == "gan" and profile is QUICK
    assert options["retrain"] is True and options["seed"] == 3
    kinds = {type(callback).__name__ for callback in options["callbacks"]}
    assert kinds == {"SampleGrid", "SampleQuality"}
    assert summary["shipped"] == "nothing (quick profile)"
    assert "weights" not in summary
    assert summary["training_seconds"] == 1.5
    assert summary["samples"] == QUICK.eval_samples
    assert summary["recognisable_fraction"] >= 0.9  # real digits
    assert summary["fid"] < 2 * summary["fid_floor"]


def test_ship_vae_quick_measures_both_vaes_and_ships_nothing(
    monkeypatch, nothing_shipped, small_mnist
):
    built = {}

    def fake_train_or_load(key, profile, **options):
        assert options["retrain"] is True and profile is QUICK
        recipe = recipes.get(key)
        built[key] = vae.build_vae(recipe.latent_dim, precision="float32", seed=0)
        return built[key], {"loss": [1.0]}, _info(key)

    monkeypatch.setattr(shipped, "train_or_load", fake_train_or_load)
    monkeypatch.setattr(shipped, "load", lambda key: pytest.fail("nothing to load"))
    summary = ship.ship_vae(QUICK, seed=0)
    assert set(built) == {"vae", "vae_2d"}
    for key in ("vae", "vae_2d"):
        results = summary[f"{key}_results"]
        assert f"{key}_weights" not in summary
        assert summary[f"{key}_training_seconds"] == 1.5
        assert results["test_images"] == len(small_mnist.x_test)
        assert results["iwae_samples"] == 10  # the quick profile's K
        assert results["samples"] == QUICK.eval_samples
        assert "(binarised)" in results["reference"]
        # The held-out figures are those of the binarised test digits.
        bounds = vae.held_out_bounds(
            built[key], pixels.binarize(small_mnist.x_test), 10
        )
        assert results["test_negative_elbo_nats"] == round(bounds["negative_elbo"], 2)
        # IWAE >= ELBO.
        assert results["test_iwae_log_px_nats"] >= -results["test_negative_elbo_nats"]


def test_ship_classifier_quick_writes_only_to_its_checkpoint_folder(
    monkeypatch, tmp_path, small_mnist
):
    untrained = models.mnist_classifier()
    stats = {"epochs": 1, "test_accuracy": 0.1, "seconds": 0.5}
    monkeypatch.setattr(
        classifier,
        "train",
        lambda profile, seed, recipe: (untrained, small_mnist, stats),
    )
    monkeypatch.setattr(
        store, "update_manifest", lambda *a: pytest.fail("no manifest in quick")
    )
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    summary = ship.ship_classifier(QUICK, seed=0)
    expected = "data/checkpoints/classifier_quick/" + recipes.CLASSIFIER.weights_file
    assert summary["weights"] == expected
    path = tmp_path / expected
    assert summary["sha256"] == store.sha256_of(path)
    assert summary["test_accuracy"] == 0.1 and summary["seconds"] == 0.5
    assert not (tmp_path / "data" / "weights").exists()
    loaded = store.load_checked(models.mnist_classifier(), path, "-", "-")
    for a, b in zip(untrained.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_commands_cover_every_training_command():
    assert ship.COMMANDS == {
        "classifier": ship.ship_classifier,
        "gan": ship.ship_gan,
        "vae": ship.ship_vae,
        "remeasure": ship.remeasure,
    }


def test_remeasure_quick_measures_the_shipped_models_and_writes_nothing(
    nothing_shipped, small_mnist
):
    summary = ship.remeasure(QUICK, seed=0)
    assert set(summary) == {"gan_results", "vae_results", "vae_2d_results"}
    gan_results, vae_results = summary["gan_results"], summary["vae_results"]
    assert all(r["samples"] == QUICK.eval_samples for r in summary.values())
    # The GAN is compared with the digits as they are, the VAEs with binarised ones,
    # so their floors differ (the stale manifest gave all three the same 5.391).
    assert "(binarised)" not in gan_results["reference"]
    assert "(binarised)" in vae_results["reference"]
    assert gan_results["fid_floor"] != pytest.approx(vae_results["fid_floor"])
    assert summary["vae_2d_results"]["fid_floor"] == vae_results["fid_floor"]
    # The shipped GAN draws recognisable digits (0.87 of 1,000 when shipped).
    assert gan_results["recognisable_fraction"] > 0.7
    assert vae_results["iwae_samples"] == 10


def test_remeasure_full_replaces_only_the_results(monkeypatch, tmp_path):
    import shutil

    weights = tmp_path / "weights"
    shutil.copytree(store.weights_dir(), weights)
    monkeypatch.setattr(store, "weights_dir", lambda: weights)
    before = store.read_manifest()

    class Loaded:
        settings = {"precision": "float32"}

    monkeypatch.setattr(shipped, "load", lambda key: Loaded())
    monkeypatch.setattr(
        ship, "_measure_shipped", lambda key, model, mnist, profile: {"fid": key}
    )
    ship.remeasure(config.get_profile("full"), seed=0)
    after = store.read_manifest()
    assert set(after) == set(before)
    for key in before:
        if key not in ("gan", "vae", "vae_2d"):
            assert after[key] == before[key], key
            continue
        assert after[key]["results"] == {"fid": key}
        assert after[key]["results_measured"]["settings"] == Loaded.settings
        assert after[key]["results_measured"]["seed"] == 0
        unchanged = {k: v for k, v in after[key].items() if not k.startswith("results")}
        assert unchanged == {
            k: v for k, v in before[key].items() if not k.startswith("results")
        }
        history = store.read_json(weights / before[key]["history_file"])
        assert history["results"] == {"fid": key}
        assert "provenance" in history
