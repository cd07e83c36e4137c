"""The one public way to get a course model: the shipped one, or one trained now.

::

    from course_lib import shipped
    gan = shipped.load("gan")          # also "vae", "vae_2d", "classifier"
    images = gan.generate(16, seed=0)  # float32 (16, 28, 28, 1) in [-1, 1]

:func:`load` checks the file's sha256 against ``data/weights/MANIFEST.json``
and builds the model from its recipe (``course_lib.recipes``), so the caller
never needs to know its latent layout (the GAN's cluster one-hots, for one).
The model carries ``model.manifest``, its manifest entry.

:func:`train_or_load` is what the training notebooks call: in the quick profile
it always trains (so CI runs the real training path); in the full profile it
loads the shipped model unless asked to retrain. Either way it returns
``(model, history, info)`` with the same keys in ``info``. Training takes the
recipe's budget of optimizer steps whatever the number of images: on the
offline 4,000 digits that is the shipped run itself, epoch for epoch; on the
60,000 of the full MNIST each "epoch" is the same number of batches, a part of
the data.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from course_lib import (
    classifier,
    clusters,
    config,
    data,
    gan,
    latent_diffusion,
    models,
    pixels,
    recipes,
    store,
    tokens,
    training,
    vae,
)


def load(key: str):
    """Return a shipped model, its weights checked against the manifest.

    Args:
        key: ``"gan"``, ``"vae"``, ``"vae_2d"``, ``"classifier"``, ``"tokens"``
            or ``"latent_diffusion"``.

    Returns:
        The model: a ``gan.GAN``, a ``vae.VAE``, the classifier network, a
        ``tokens.TokenGenerator`` (``generate(count, seed, sampler=
        "autoregressive" | "maskgit", steps=K)``) or a
        ``latent_diffusion.LatentDiffusion`` (``generate(count, seed, steps=T)``).
        Generators have ``generate(count, seed=0)`` returning float32 images
        (count, 28, 28, 1) in [-1, 1]; every model has ``manifest``.

    Raises:
        ValueError: For an unknown key, or a missing, corrupt or mismatched
            file; the message names the fix.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    recipe = recipes.get(key)
    path = store.verified_path(key, recipe.command)
    entry = store.read_manifest()[key]
    mismatch = f"The weights in data/weights/{path.name} do not fit the {key} recipe"
    fix = f"retrain them with `{recipe.command}`, or restore the file with git."
    if isinstance(recipe, recipes.GanRecipe):
        options = recipe.build_options()
        # The weights fix the latent layout: the manifest's record wins.
        options.update(
            latent_dim=entry["latent_dim"],
            clusters=entry.get("clusters", 0),
            cluster_frequencies=entry.get("cluster_frequencies"),
        )
        model = gan.build_gan(**options)
        store.load_float16(
            model.generator,
            lambda: models.dcgan_generator(options["latent_dim"]),
            path,
            mismatch,
            fix,
        )
        if model.ema_generator is not None:
            model.ema_generator.set_weights(model.generator.get_weights())
    elif isinstance(recipe, recipes.VaeRecipe):
        latent_dim = entry["latent_dim"]
        model = vae.build_vae(**{**recipe.build_options(), "latent_dim": latent_dim})
        store.load_float16(
            model, lambda: vae.uncompiled_vae(latent_dim), path, mismatch, fix
        )
    elif isinstance(recipe, recipes.TokensRecipe):
        return tokens.load_shipped()
    elif isinstance(recipe, recipes.LatentDiffusionRecipe):
        return latent_diffusion.load_shipped(load("vae"))
    else:
        model = classifier.load()
    model.manifest = dict(entry)
    return model


def history(key: str) -> dict:
    """Return the training record shipped beside a model's weights.

    Returns:
        The ``<key>_history.json`` record: ``history`` (per-epoch metrics),
        ``provenance``, ``results`` and, for the GAN, ``quality_during_training``.
    """
    entry = store.read_manifest()[recipes.get(key).key]
    return store.read_json(store.weights_dir() / entry["history_file"])


# -------------------------------------------------------------- train or load


def _info(source, recipe, profile, train_images, seconds, resumed, model, extra):
    """The one shape of ``train_or_load``'s ``info``, shipped or trained."""
    return {
        "source": source,
        "recipe": dataclasses.asdict(recipe),
        "epochs": recipes.epochs(recipe, profile),
        "steps": recipes.steps(recipe, profile),
        "steps_per_epoch": recipes.steps_per_epoch(recipe, profile),
        "batch_size": recipes.batch_size(recipe, profile),
        "train_images": train_images,
        "training_seconds": seconds,
        "resumed_from_epoch": resumed,
        "settings": dict(getattr(model, "settings", {})),
        **extra,
    }


def _as_training_images(images, value_range: str) -> np.ndarray:
    """Validate training images once; uint8 digits are scaled or binarised."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        if value_range == "-1,1":
            return pixels.scale_images(images, "-1,1")
        return pixels.binarize(images)
    pixels.to_unit_range(images, value_range)  # raises on a wrong range or shape
    return images.astype(np.float32).reshape(-1, 28, 28, 1)


def train_or_load(
    key: str,
    profile: config.Profile | None = None,
    images=None,
    seed: int = config.DEFAULT_SEED,
    retrain: bool | None = None,
    recipe=None,
    validation_images=None,
    checkpoint_directory=None,
    callbacks=(),
    verbose="auto",
    **build_options,
):
    """Train a course model for the profile, or load the shipped one.

    Quick profile: always trains. Full profile: loads the shipped model when
    ``recipe`` is its shipped recipe, unless ``retrain`` (or
    ``COURSE_RETRAIN=1``). Training runs ``recipes.steps(recipe, profile)``
    optimizer steps, in epochs of ``recipes.steps_per_epoch`` batches (one pass
    over the offline digits; a part of the 60,000), and resumes an interrupted
    run from its checkpoints in ``data/checkpoints/<key>_<profile>``.

    Args:
        key: ``"gan"``, ``"vae"`` or ``"vae_2d"``.
        profile: The run's profile (default: ``config.get_profile()``).
        images: Training images: uint8 digits, or floats in the model's range
            ([-1, 1] for the GAN, binarised [0, 1] for the VAE). Default: the
            profile's share of MNIST.
        seed: Seed of the data order and the training noise.
        retrain: Force training (``None``: read ``COURSE_RETRAIN``).
        recipe: A variant of the shipped recipe to train instead (for example
            ``dataclasses.replace(recipes.GAN, clusters=0)``); never loaded.
        validation_images: The VAE's held-out images (default: the profile's
            ``eval_samples`` test digits).
        checkpoint_directory: Where checkpoints go.
        callbacks: Extra callbacks for ``fit``.
        verbose: Passed to ``fit``.
        **build_options: Settings for the builder (``precision``, ``strategy``,
            ``jit_compile``, ``steps_per_execution``).

    Returns:
        ``(model, history, info)``: ``history`` maps each metric to its
        per-epoch values; ``info`` has ``source`` (``"shipped"`` or
        ``"trained"``), ``recipe``, ``epochs``, ``steps``, ``steps_per_epoch``,
        ``batch_size``,
        ``train_images``, ``training_seconds``, ``resumed_from_epoch``,
        ``settings``, ``data_source`` and ``results`` (the shipped model's
        recorded figures, or ``None`` when freshly trained).

    Introduced in notebooks/05_gan_training.ipynb.
    """
    shipped_recipe = recipes.get(key)
    if not isinstance(shipped_recipe, recipes.GanRecipe | recipes.VaeRecipe):
        raise ValueError(
            f"train_or_load trains the GAN and the VAEs. Fix: shipped.load({key!r}), "
            f"or retrain it with `{shipped_recipe.command}`."
        )
    recipe = recipe or shipped_recipe
    profile = profile or config.get_profile()
    retrain = config.retrain_requested() if retrain is None else retrain
    manifest = store.read_manifest()
    if (
        not profile.is_quick
        and not retrain
        and recipe == shipped_recipe
        and key in manifest
        and (store.weights_dir() / manifest[key]["file"]).exists()
    ):
        model = load(key)
        record = history(key)
        provenance = record.get("provenance", {})
        info = _info(
            "shipped",
            recipe,
            profile,
            provenance.get("train_images"),
            provenance.get("training_seconds"),
            provenance.get("resumed_from_epoch", 0),
            model,
            {
                "data_source": provenance.get("data_source"),
                "results": record.get("results"),
            },
        )
        return model, record["history"], info
    is_gan = isinstance(recipe, recipes.GanRecipe)
    mnist = None
    if images is None or (validation_images is None and not is_gan):
        mnist = data.load_mnist(verbose=False)
    if images is None:
        images = mnist.x_train
        if profile.train_images is not None:
            images = images[: profile.train_images]
    images = _as_training_images(images, "-1,1" if is_gan else "0,1")
    batch_size = recipes.batch_size(recipe, profile)
    fit_options = {}
    if is_gan:
        options = {**recipe.build_options(), **build_options}
        ids = None
        if recipe.clusters:
            ids, frequencies = clusters.cluster_images(images, recipe.clusters, seed)
            options["cluster_frequencies"] = frequencies
        model = gan.build_gan(seed=seed, **options)
        dataset = data.make_dataset(images, batch_size, labels=ids, seed=seed)
    else:
        if validation_images is None:
            validation_images = mnist.x_test[: profile.eval_samples]
        validation_images = _as_training_images(validation_images, "0,1")
        options = {**recipe.build_options(), **build_options}
        model = vae.build_vae(seed=seed, **options)
        dataset = data.make_dataset(images, batch_size, seed=seed)
        fit_options["validation_data"] = data.make_dataset(
            validation_images, 500, shuffle=False
        )
    directory = checkpoint_directory or config.checkpoint_dir(f"{key}_{profile.name}")
    run_history, run = training.fit_with_checkpoints(
        model,
        dataset,
        recipes.epochs(recipe, profile),
        directory,
        callbacks=callbacks,
        verbose=verbose,
        steps_per_epoch=recipes.steps_per_epoch(recipe, profile),
        **fit_options,
    )
    info = _info(
        "trained",
        recipe,
        profile,
        len(images),
        round(run["total_seconds"], 1),
        run["initial_epoch"],
        model,
        {"data_source": mnist.source if mnist else "images passed in", "results": None},
    )
    return model, run_history, info
