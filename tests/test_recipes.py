"""Tests for course_lib.recipes: frozen, one per shipped model, buildable, and in
agreement with the provenance of the shipped weights."""

import dataclasses

import keras
import pytest

from course_lib import config, gan, recipes, store, train, vae


def _learning_rate(optimizer):
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # loss scaling wraps it
    return float(keras.ops.convert_to_numpy(inner.learning_rate))


@pytest.mark.parametrize("recipe", list(recipes.RECIPES.values()), ids=str)
def test_recipes_are_frozen(recipe):
    assert dataclasses.is_dataclass(recipe)
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.learning_rate = 1.0  # type: ignore[misc]


def test_every_manifest_entry_has_a_recipe_and_every_recipe_an_entry():
    manifest = store.read_manifest()
    assert set(manifest) == set(recipes.RECIPES)
    for key, recipe in recipes.RECIPES.items():
        assert recipe.key == key
        assert manifest[key]["file"] == recipe.weights_file
        assert (store.weights_dir() / recipe.weights_file).is_file()
    for key in ("gan", "vae", "vae_2d"):
        assert manifest[key]["history_file"] == recipes.get(key).history_file
    assert manifest["gan"]["gif_file"] == recipes.GAN.gif_file


def test_every_recipe_command_is_a_training_command():
    # "python -m course_lib.train <what> [--profile full]" with <what> runnable.
    for recipe in recipes.RECIPES.values():
        words = recipe.command.split()
        assert words[:3] == ["python", "-m", "course_lib.train"]
        assert words[3] in train.COMMANDS
        assert words[4:] in ([], ["--profile", "full"])
    assert recipes.VAE_2D.command == recipes.VAE.command  # one command ships both


def test_gan_build_options_build_the_recipe_with_build_gan():
    recipe = recipes.GAN
    model = gan.build_gan(
        **recipe.build_options(),
        precision="float32",
        jit_compile=False,
        steps_per_execution=1,
    )
    assert model.latent_dim == recipe.latent_dim == 100
    assert model.clusters == recipe.clusters == 20
    assert model.ema_decay == recipe.ema_decay == 0.995
    assert model.augment_policy == recipe.augment_policy == "translation"
    assert model.generator_loss_kind == recipe.generator_loss_kind
    assert _learning_rate(model.g_optimizer) == pytest.approx(recipe.learning_rate)
    assert _learning_rate(model.d_optimizer) == pytest.approx(
        recipe.discriminator_learning_rate
    )
    assert float(model.g_optimizer.beta_1) == pytest.approx(recipe.beta_1)


def test_vae_build_options_build_the_recipe_with_build_vae():
    for recipe in (recipes.VAE, recipes.VAE_2D):
        model = vae.build_vae(**recipe.build_options(), precision="float32")
        assert model.latent_dim == recipe.latent_dim
        assert model.beta == recipe.beta
        assert _learning_rate(model.optimizer) == pytest.approx(recipe.learning_rate)
    assert (recipes.VAE.latent_dim, recipes.VAE_2D.latent_dim) == (16, 2)


def test_the_shipped_gan_was_made_by_the_recipe():
    entry = store.read_manifest()["gan"]
    provenance = entry["provenance"]
    recipe = recipes.GAN
    assert entry["latent_dim"] == recipe.latent_dim
    assert entry["clusters"] == provenance["clusters"] == recipe.clusters
    assert len(entry["cluster_frequencies"]) == recipe.clusters
    assert provenance["ema_decay"] == recipe.ema_decay
    assert provenance["augment_policy"] == recipe.augment_policy
    assert provenance["learning_rate"] == recipe.learning_rate
    assert provenance["discriminator_learning_rate"] == (
        recipe.discriminator_learning_rate
    )
    assert provenance["command"] == recipe.command
    assert provenance["epochs"] == recipe.epochs["full"] == 30
    assert provenance["batch_size"] == recipe.batch_size["full"] == 32


def test_the_shipped_vaes_were_made_by_their_recipes():
    manifest = store.read_manifest()
    for recipe in (recipes.VAE, recipes.VAE_2D):
        entry = manifest[recipe.key]
        provenance = entry["provenance"]
        assert entry["latent_dim"] == recipe.latent_dim
        assert provenance["epochs"] == recipe.epochs["full"]
        assert provenance["batch_size"] == recipe.batch_size
        assert provenance["learning_rate"] == recipe.learning_rate
        assert provenance["command"] == recipe.command


def test_the_shipped_classifier_was_made_by_its_recipe():
    entry = store.read_manifest()["classifier"]
    recipe = recipes.CLASSIFIER
    assert entry["epochs"] == recipe.epochs["full"]
    assert entry["batch_size"] == recipe.batch_size
    assert entry["augmentation"] == recipe.augmentation
    assert entry["outlier_exposure"].startswith(f"{recipe.outliers} non-digits")
    assert entry["command"] == recipe.command


def test_epochs_and_batch_size_per_profile():
    quick, full = config.get_profile("quick"), config.get_profile("full")
    assert recipes.epochs(recipes.GAN, full) == 30
    assert recipes.epochs(recipes.GAN, quick) == 1
    assert recipes.batch_size(recipes.GAN, full) == 32
    assert recipes.batch_size(recipes.GAN, quick) == 64
    assert recipes.batch_size(recipes.VAE, quick) == recipes.VAE.batch_size
    assert recipes.batch_size(recipes.VAE, full) == recipes.VAE.batch_size
    for recipe in (recipes.GAN, recipes.VAE, recipes.VAE_2D, recipes.CLASSIFIER):
        assert recipes.epochs(recipe, quick) <= 2 < recipes.epochs(recipe, full)


def test_get_returns_a_recipe_or_lists_the_known_ones():
    assert recipes.get("vae_2d") is recipes.VAE_2D
    with pytest.raises(ValueError) as error:
        recipes.get("diffusion")
    message = str(error.value)
    assert "'diffusion'" in message and "Fix" in message
    for key in ("classifier", "gan", "vae", "vae_2d"):
        assert key in message


def test_describe_prints_every_field_once_with_its_value():
    lines = recipes.describe(recipes.GAN).splitlines()
    fields = dataclasses.fields(recipes.GAN)
    assert lines == [
        f"{field.name}: {getattr(recipes.GAN, field.name)}" for field in fields
    ]
    assert "ema_decay: 0.995" in lines and "clusters: 20" in lines
