"""Train each shipped model from its recipe and write it to ``data/weights/``.

``python -m course_lib.train gan|vae|classifier`` runs these. Each trains
exactly its recipe (``course_lib.recipes``), for its budget of optimizer steps
whatever the size of the data, measures the result with
``evaluation.sample_report`` (the generators) and, in the full profile, writes
the float16 weights, a history file with the provenance, and the model's entry
in ``MANIFEST.json`` with the sha256. The quick profile trains and measures but
ships nothing.

``python -m course_lib.train remeasure`` measures the shipped GAN and VAEs
again, without training them (:func:`remeasure`).

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import datetime

import keras
import tensorflow as tf

from course_lib import (
    animation,
    classifier,
    config,
    data,
    evaluation,
    hardware,
    latents,
    models,
    pixels,
    recipes,
    shipped,
    store,
    training,
    vae,
)

# The seed of the latent vectors of the measured samples.
SAMPLE_SEED = 1


def _provenance(recipe, mnist, info, seed: int) -> dict:
    """The record of how a shipped model was made (the same keys for every model)."""
    return {
        "command": recipe.command,
        "recipe": info["recipe"],
        "data_source": mnist.source,
        "train_images": info["train_images"],
        "epochs": info["epochs"],
        "steps": info.get("steps"),
        "steps_per_epoch": info.get("steps_per_epoch"),
        "batch_size": info["batch_size"],
        "seed": seed,
        "settings": info["settings"],
        "training_seconds": info["training_seconds"],
        "resumed_from_epoch": info["resumed_from_epoch"],
        "trained_on": datetime.date.today().isoformat(),
        "machine": hardware.machine_record(),
    }


def _register(recipe, path, provenance: dict, results: dict, **extra) -> None:
    """Write a shipped model's manifest entry: file, sha256, provenance, results."""
    store.update_manifest(
        recipe.key,
        {
            "file": recipe.weights_file,
            "sha256": store.sha256_of(path),
            "bytes": path.stat().st_size,
            "history_file": recipe.history_file,
            "storage_dtype": "float16",
            **extra,
            "provenance": provenance,
            "results": results,
        },
    )


def _checkpoints(recipe, profile):
    return config.checkpoint_dir(f"{recipe.key}_{profile.name}_command")


def _measure_shipped(key: str, model, mnist, profile: config.Profile) -> dict:
    """Measure a GAN (its samples) or a VAE (held-out nats and its samples)."""
    if key == "gan":
        samples = model.generate(profile.eval_samples, seed=SAMPLE_SEED)
        return evaluation.sample_report(samples, "-1,1", mnist)
    return vae_results(
        model, mnist, profile.eval_samples, 10 if profile.is_quick else 500
    )


def ship_gan(profile: config.Profile, seed: int) -> dict:
    """Train the DCGAN of ``recipes.GAN`` and (full profile) ship its generator.

    Writes ``gan_generator.weights.h5`` (the EMA generator, float16), the
    training GIF, ``gan_history.json`` and the ``gan`` manifest entry.

    Returns:
        A summary dict (time, quality figures, files written).
    """
    recipe = recipes.GAN
    config.seed_everything(seed)
    mnist = data.load_mnist()
    grid = training.SampleGrid(
        latents.grid_latents(16, recipe.latent_dim, recipe.clusters), columns=8
    )
    quality = evaluation.SampleQuality(every=4, count=500)
    model, history, info = shipped.train_or_load(
        "gan",
        profile,
        seed=seed,
        retrain=True,
        checkpoint_directory=_checkpoints(recipe, profile),
        callbacks=[grid, quality],
        verbose=2,
    )
    results = _measure_shipped("gan", model, mnist, profile)
    summary = {"training_seconds": info["training_seconds"], **results}
    if profile.is_quick:
        return {**summary, "shipped": "nothing (quick profile)"}
    directory = store.weights_dir()
    path = store.save_float16(
        model.sampler,
        lambda: models.dcgan_generator(recipe.latent_dim),
        directory / recipe.weights_file,
    )
    animation.write_gif(
        grid.frames, directory / recipe.gif_file, duration_ms=300, scale=2
    )
    provenance = {
        **_provenance(recipe, mnist, info, seed),
        "clustering": "k-means (k-means++ seeding) on the training pixels, no labels",
        "shipped_network": "EMA generator",
    }
    store.write_json(
        directory / recipe.history_file,
        {
            "history": history,
            "quality_during_training": quality.records,
            "provenance": provenance,
            "results": results,
        },
    )
    _register(
        recipe,
        path,
        provenance,
        results,
        gif_file=recipe.gif_file,
        gif_epochs=grid.epochs,
        latent_dim=recipe.latent_dim,
        clusters=model.clusters,
        cluster_frequencies=model.cluster_frequencies,
    )
    return {**summary, "weights": f"data/weights/{recipe.weights_file}"}


def vae_results(model, mnist, count: int, num_samples: int) -> dict:
    """Measure a VAE: held-out nats (binarised test digits) and its prior samples.

    Args:
        model: A trained ``vae.VAE``.
        mnist: ``data.load_mnist()``.
        count: Prior samples for the classifier's report.
        num_samples: ``K`` of the importance-weighted bound.

    Returns:
        A JSON-ready dict.
    """
    bounds = vae.held_out_bounds(model, pixels.binarize(mnist.x_test), num_samples)
    means = model.sample(count, seed=SAMPLE_SEED)
    return {
        "test_images": len(mnist.x_test),
        "test_negative_elbo_nats": round(bounds["negative_elbo"], 2),
        "test_iwae_log_px_nats": round(bounds["iwae_log_px"], 2),
        "iwae_samples": num_samples,
        **evaluation.sample_report(means, "0,1", mnist, binarised=True),
    }


def ship_vae(profile: config.Profile, seed: int) -> dict:
    """Train the VAEs of ``recipes.VAE`` and ``recipes.VAE_2D``; ship them (full).

    Returns:
        A summary dict (times, held-out nats, coverage, files written).
    """
    summary = {}
    for recipe in (recipes.VAE, recipes.VAE_2D):
        config.seed_everything(seed)
        mnist = data.load_mnist()
        model, history, info = shipped.train_or_load(
            recipe.key,
            profile,
            seed=seed,
            retrain=True,
            checkpoint_directory=_checkpoints(recipe, profile),
            verbose=2,
        )
        summary[f"{recipe.key}_training_seconds"] = info["training_seconds"]
        if not profile.is_quick:
            path = store.save_float16(
                model,
                lambda latent_dim=recipe.latent_dim: vae.uncompiled_vae(latent_dim),
                store.weights_dir() / recipe.weights_file,
            )
            # Measure what is shipped: the float16 weights, loaded back.
            model = shipped.load(recipe.key)
        results = _measure_shipped(recipe.key, model, mnist, profile)
        summary[f"{recipe.key}_results"] = results
        if profile.is_quick:
            continue
        provenance = {
            **_provenance(recipe, mnist, info, seed),
            "binarisation": recipe.binarisation,
        }
        store.write_json(
            store.weights_dir() / recipe.history_file,
            {"history": history, "provenance": provenance, "results": results},
        )
        _register(
            recipe,
            path,
            provenance,
            results,
            latent_dim=recipe.latent_dim,
            architecture="course_lib.models.vae_encoder / vae_decoder",
        )
        summary[f"{recipe.key}_weights"] = f"data/weights/{recipe.weights_file}"
    return summary


def ship_classifier(profile: config.Profile, seed: int) -> dict:
    """Train the evaluation classifier of ``recipes.CLASSIFIER`` and register it.

    The full profile writes ``data/weights/classifier.weights.h5`` and its
    manifest entry; the quick profile writes to
    ``data/checkpoints/classifier_quick/`` so that it never replaces them.

    Returns:
        A summary dict: weights path, sha256, epochs, steps, test accuracy,
        seconds.
    """
    recipe = recipes.CLASSIFIER
    model, mnist, stats = classifier.train(profile, seed, recipe)
    if profile.is_quick:
        path = config.checkpoint_dir("classifier_quick") / recipe.weights_file
    else:
        path = store.weights_dir() / recipe.weights_file
    store.save_inference_weights(model, models.mnist_classifier, path)
    digest = store.sha256_of(path)
    if not profile.is_quick:
        store.update_manifest(
            recipe.key,
            {
                "file": recipe.weights_file,
                "sha256": digest,
                "bytes": path.stat().st_size,
                "architecture": "course_lib.models.mnist_classifier",
                "command": recipe.command,
                "data_source": mnist.source,
                "batch_size": recipe.batch_size,
                "augmentation": recipe.augmentation,
                "outlier_exposure": (
                    f"{recipe.outliers} non-digits (noise, speckle, blobs, "
                    "scrambled digits) trained towards the uniform distribution"
                ),
                "seed": seed,
                "training_seconds": stats["seconds"],
                "tensorflow_version": tf.__version__,
                "keras_version": keras.__version__,
                "trained_on": datetime.date.today().isoformat(),
                **{k: v for k, v in stats.items() if k != "seconds"},
            },
        )
        classifier.forget_loaded()
    return {
        "weights": str(path.relative_to(config.repo_root())),
        "sha256": digest,
        **stats,
    }


def remeasure(profile: config.Profile, seed: int) -> dict:
    """Measure the shipped GAN and VAEs again with today's evaluation; no training.

    The evaluation changed after these models were shipped (the FID floor now
    shares the samples' reference digits, and a VAE is compared with binarised
    digits), so the ``results`` of their manifest entries were measured another
    way than the notebooks' figures. This loads each shipped file (sha256
    checked), measures it with the ship commands' ``_measure_shipped`` (as
    ``ship_vae`` does, on the float16 file loaded back; ``ship_gan`` measured
    the trained model before storing it) and, in the full profile, replaces the
    ``results`` of its manifest entry and history file, adding
    ``results_measured`` (date, machine record, settings, seed). The weights and
    their provenance are left as they are. The quick profile writes nothing.

    Returns:
        A summary dict: ``<key>_results`` for ``gan``, ``vae`` and ``vae_2d``.
    """
    summary = {}
    mnist = data.load_mnist()
    for key in ("gan", "vae", "vae_2d"):
        config.seed_everything(seed)
        model = shipped.load(key)
        results = _measure_shipped(key, model, mnist, profile)
        summary[f"{key}_results"] = results
        if profile.is_quick:
            continue
        measured = {
            "on": datetime.date.today().isoformat(),
            "machine": hardware.machine_record(),
            "settings": model.settings,
            "seed": seed,
            "command": "python -m course_lib.train remeasure --profile full",
        }
        entry = store.read_manifest()[key]
        store.update_manifest(
            key, {**entry, "results": results, "results_measured": measured}
        )
        history_path = store.weights_dir() / entry["history_file"]
        record = store.read_json(history_path)
        store.write_json(
            history_path, {**record, "results": results, "results_measured": measured}
        )
    return summary


COMMANDS = {
    "classifier": ship_classifier,
    "gan": ship_gan,
    "vae": ship_vae,
    "remeasure": remeasure,
}
