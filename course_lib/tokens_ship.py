"""Train the token models and the latent denoiser; ship them (full profile).

``python -m course_lib.tokens_ship --profile full`` (to be hooked as ``python -m
course_lib.train tokens``) trains, resumably and with progress printed:

1. the VQ-VAE tokenizer of ``tokens.RECIPE`` (dead codes re-seeded), and a
   control tokenizer without re-seeding, so the fix is measured;
2. the causal prior and the MaskGIT prior on the tokens of the training digits;
3. the latent denoiser on the shipped VAE's codes of the same digits.

It measures what it ships (the float16 files loaded back) with
``evaluation.sample_report`` and, in the full profile, writes
``tokens.weights.h5``, ``latent_diffusion.weights.h5``, their histories and the
``tokens`` and ``latent_diffusion`` manifest entries. Each stage takes its
recipe's budget of optimizer steps (``recipes.steps(recipe, profile, stage)``)
whatever the number of digits: on the offline 4,000 that is the shipped run,
epoch for epoch; on the 60,000 each epoch is a part of the data.

Introduced in notebooks/08_images_as_tokens.ipynb.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from course_lib import (
    checkpoints,
    config,
    data,
    evaluation,
    hardware,
    latent_diffusion,
    pixels,
    recipes,
    shipped,
    store,
    token_data,
    tokens,
    training,
    vq,
)

SAMPLE_SEED = 1
USAGE_IMAGES = 2000
# Written beside a stage's checkpoints when it finishes: its extra records.
RECORDS_FILE = "stage_records.json"
STAGES = recipes.stages(tokens.RECIPE)


def _fit_or_restore(model, dataset, budget, directory, records=None, **options):
    """Fit resumably; a stage that finished (records written) is restored, not
    redone, so a failure in a later stage never costs the earlier ones.

    Args:
        budget: ``(recipe, profile, stage)``: the stage's steps and epochs.

    Returns:
        ``(history, info, records)``; ``records`` is what ``records()`` returned
        after training (or the stored copy when restored).
    """
    epochs = recipes.epochs(*budget)
    directory = Path(directory)
    state = checkpoints.read_checkpoint_state(directory)
    if state and state["epoch"] >= epochs and (directory / RECORDS_FILE).exists():
        checkpoints.load_checkpoint(model, directory)
        print(f"  restored the finished stage in {directory.name}", flush=True)
        info = {"initial_epoch": epochs, "seconds": 0.0}
        info["total_seconds"] = float(state.get("seconds", 0.0))
        stored = store.read_json(directory / RECORDS_FILE)
        return state["history"], info, stored["records"]
    history, info = training.fit_with_checkpoints(
        model,
        dataset,
        epochs,
        directory,
        steps_per_epoch=recipes.steps_per_epoch(*budget),
        **options,
    )
    extra = records() if records else None
    store.write_json(directory / RECORDS_FILE, {"records": extra})
    return history, info, extra


def train_tokenizer(images, recipe, profile, directory, reseed=None, verbose=2):
    """Train a VQ-VAE on binarised digits; return ``(model, history, usage, info)``.

    Args:
        images: Binarised float32 digits (n, 28, 28, 1).
        recipe: A ``tokens.TokensRecipe``.
        profile: The run's profile (steps).
        directory: The checkpoint folder.
        reseed: Re-seed dead codes (default: the recipe's choice).
        verbose: Passed to ``fit``.

    Returns:
        The trained ``vq.VQVAE``, the per-epoch history, the per-epoch usage
        records of ``vq.ReseedDeadCodes`` and ``fit_with_checkpoints``'s info.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    reseed = recipe.reseed_dead_codes if reseed is None else reseed
    model = vq.build_vqvae(recipe.num_codes, recipe.code_dim, recipe.beta)
    usage = vq.ReseedDeadCodes(images[:USAGE_IMAGES], enabled=reseed)
    history, info, records = _fit_or_restore(
        model,
        data.make_dataset(images, recipe.batch_size),
        (recipe, profile, "tokenizer"),
        directory,
        lambda: usage.records,
        callbacks=[usage],
        verbose=verbose,
    )
    return model, history, records, info


def train_prior(
    sequences,
    validation_sequences,
    recipe,
    profile,
    causal: bool,
    directory,
    seed: int = 0,
    verbose=2,
):
    """Train the causal (``causal=True``) or the MaskGIT prior on token sequences.

    Args:
        sequences: int32 tokens (n, 49) of the training digits.
        validation_sequences: Tokens of held-out digits (for the validation
            loss in nats per token).
        recipe: A ``tokens.TokensRecipe``.
        profile: The run's profile (steps).
        causal: Which prior.
        directory: The checkpoint folder.
        seed: Seed of the data order, masks and dropout.
        verbose: Passed to ``fit``.

    Returns:
        ``(model, history, info)``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    sequences = vq.check_tokens(sequences, recipe.num_codes, "sequences")
    if sequences.ndim != 2 or sequences.shape[1] != vq.TOKENS:
        raise ValueError(
            f"sequences must have shape (n, {vq.TOKENS}), got {sequences.shape}. "
            "Fix: reshape the (n, 7, 7) tokens with tokens.reshape(-1, 49)."
        )
    budget = (recipe, profile, "prior" if causal else "maskgit")
    model = tokens.build_prior(recipe, causal, seed)
    # The decay spans the whole budget, whatever the number of sequences.
    schedule = keras.optimizers.schedules.CosineDecay(
        recipe.learning_rate, recipes.steps(*budget), alpha=0.05
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.optimizer.build(model.trainable_variables)
    history, info, _ = _fit_or_restore(
        model,
        token_data.prior_dataset(sequences, recipe, causal, True, seed),
        budget,
        directory,
        verbose=verbose,
        validation_data=token_data.prior_dataset(
            validation_sequences, recipe, causal, False, 7
        ),
    )
    return model, history, info


def train_latent_diffusion(vae_model, images, recipe, profile, directory, verbose=2):
    """Train the latent denoiser on the VAE's encoder means of ``images``.

    Returns:
        ``(model, history, info)``; the model has the VAE's decoder attached.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    latents = vae_model.encode_means(images)
    model = latent_diffusion.build_latent_diffusion(
        vae_model.latent_dim, recipe.diffusion_width, recipe.diffusion_depth
    )
    model.set_statistics(latents)
    dataset = (
        tf.data.Dataset.from_tensor_slices(latents.astype(np.float32))
        .cache()
        .shuffle(len(latents), seed=0)
        .batch(recipe.diffusion_batch_size)
    )
    history, info, _ = _fit_or_restore(
        model,
        dataset,
        (recipe, profile, "diffusion"),
        directory,
        verbose=verbose,
    )
    return model.attach_decoder(vae_model.decoder), history, info


def measure(generator, diffusion, mnist, count: int) -> dict:
    """Sample reports of every sampler setting the recipe ships, on ``count``.

    Returns:
        A dict: setting name -> ``evaluation.sample_report`` (binarised=True).
    """
    settings = {
        "autoregressive T=1.0": {"temperature": 1.0},
        "autoregressive T=0.8": {"temperature": 0.8},
        "autoregressive T=0.7": {"temperature": 0.7},
        "autoregressive T=0.8 top-k 32": {"temperature": 0.8, "top_k": 32},
        "autoregressive T=1.0 top-k 32": {"temperature": 1.0, "top_k": 32},
        "maskgit K=8": {"sampler": "maskgit", "steps": 8},
        "maskgit K=8 T=0.8": {"sampler": "maskgit", "steps": 8, "temperature": 0.8},
    }
    results = {}
    for name, options in settings.items():
        images = generator.generate(count, seed=SAMPLE_SEED, **options)
        results[name] = evaluation.sample_report(images, "-1,1", mnist, True)
        print(_line(name, results[name]))
    for steps in (10, 50):
        name = f"latent diffusion T={steps}"
        images = diffusion.generate(count, seed=SAMPLE_SEED, steps=steps)
        results[name] = evaluation.sample_report(images, "-1,1", mnist, True)
        print(_line(name, results[name]))
    return results


def _line(name, report):
    return (
        f"{name}: recognisable {report['recognisable_fraction']:.3f}, largest "
        f"share {report['largest_share']:.1%}, FID {report['fid']:.1f} "
        f"(floor {report['fid_floor']:.1f})"
    )


def _register(key, file, history_file, path, recipe, provenance, results, **extra):
    store.update_manifest(
        key,
        {
            "file": file,
            "sha256": store.sha256_of(path),
            "bytes": path.stat().st_size,
            "history_file": history_file,
            "storage_dtype": "float16",
            "command": recipe.command,
            "recipe": dataclasses.asdict(recipe),
            **extra,
            "provenance": provenance,
            "results": results,
        },
    )


def ship(profile: config.Profile, seed: int = config.DEFAULT_SEED) -> dict:
    """Train everything of ``tokens.RECIPE``; ship it in the full profile.

    Returns:
        A summary dict: seconds per stage, the measured reports, files written.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    recipe = tokens.RECIPE
    config.seed_everything(seed)
    mnist = data.load_mnist()
    images = pixels.binarize(data.training_images(mnist, profile, "0,1"))
    held_out = pixels.binarize(mnist.x_test)
    seconds, started = {}, time.perf_counter()

    def folder(name):
        return config.checkpoint_dir(f"tokens_{name}_{profile.name}_command")

    print(f"[1/4] tokenizer: {len(images):,} binarised digits", flush=True)
    tokenizer, tokenizer_history, usage, info = train_tokenizer(
        images, recipe, profile, folder("tokenizer")
    )
    seconds["tokenizer"] = round(info["total_seconds"], 1)
    print("[1/4] control tokenizer without re-seeding", flush=True)
    _, control_history, control_usage, _ = train_tokenizer(
        images, recipe, profile, folder("control"), reseed=False
    )
    sequences = tokenizer.tokenize(images).reshape(-1, vq.TOKENS)
    validation = tokenizer.tokenize(held_out).reshape(-1, vq.TOKENS)
    print(f"[2/4] causal prior on {len(sequences):,} token sequences", flush=True)
    ar_prior, ar_history, info = train_prior(
        sequences, validation, recipe, profile, True, folder("ar"), seed
    )
    seconds["autoregressive_prior"] = round(info["total_seconds"], 1)
    print("[3/4] MaskGIT prior", flush=True)
    maskgit_prior, maskgit_history, info = train_prior(
        sequences, validation, recipe, profile, False, folder("maskgit"), seed
    )
    seconds["maskgit_prior"] = round(info["total_seconds"], 1)
    print("[4/4] latent diffusion on the shipped VAE's codes", flush=True)
    vae_model = shipped.load("vae")
    diffusion, diffusion_history, info = train_latent_diffusion(
        vae_model, images, recipe, profile, folder("diffusion")
    )
    seconds["latent_diffusion"] = round(info["total_seconds"], 1)
    generator = tokens.TokenGenerator(
        tokenizer, ar_prior, maskgit_prior, recipe.sampling_defaults()
    )
    if profile.is_quick:
        directory = config.checkpoint_dir(f"tokens_{profile.name}_shipped")
    else:
        directory = store.weights_dir()
    token_path = tokens.save(generator, directory / recipe.weights_file, recipe)
    diffusion_path = latent_diffusion.save(
        diffusion, directory / recipe.diffusion_weights_file
    )
    # Measure what is shipped: the float16 files, loaded back.
    generator = tokens.load(token_path, recipe)
    diffusion = latent_diffusion.load(diffusion_path, vae_model, recipe.command)
    reconstruction = tokenizer.reconstruct(held_out)
    results = {
        "tokenizer": {
            "test_pixel_error": float(np.mean((reconstruction > 0.5) != held_out)),
            "test_usage": {
                k: v
                for k, v in vq.code_usage(validation, recipe.num_codes).items()
                if k != "counts"
            },
            "usage_during_training": usage,
            "control_without_reseeding": control_usage,
        },
        **measure(generator, diffusion, mnist, profile.eval_samples),
    }
    seconds["total"] = round(time.perf_counter() - started, 1)
    summary = {"seconds": seconds, "results": results}
    if profile.is_quick:
        return {**summary, "shipped": "nothing (quick profile)"}
    provenance = {
        "command": recipe.command,
        "data_source": mnist.source,
        "train_images": len(images),
        "steps": {stage: recipes.steps(recipe, profile, stage) for stage in STAGES},
        "seed": seed,
        "training_seconds": seconds,
        "trained_on": datetime.date.today().isoformat(),
        "machine": hardware.machine_record(),
    }
    histories = {
        "tokenizer": tokenizer_history,
        "control_tokenizer": control_history,
        "autoregressive_prior": ar_history,
        "maskgit_prior": maskgit_history,
    }
    # Each model's own results, for its history file and its manifest entry.
    split = {key: {} for key in (recipe.key, "latent_diffusion")}
    for name, value in results.items():
        split["latent_diffusion" if "diffusion" in name else recipe.key][name] = value
    for key, file, history_file, path, history, extra in (
        (
            recipe.key,
            recipe.weights_file,
            recipe.history_file,
            token_path,
            histories,
            {},
        ),
        (
            "latent_diffusion",
            recipe.diffusion_weights_file,
            recipe.diffusion_history_file,
            diffusion_path,
            diffusion_history,
            {"decoder": "the shipped VAE (manifest key 'vae')"},
        ),
    ):
        record = {"history": history, "provenance": provenance, "results": split[key]}
        store.write_json(directory / history_file, record)
        _register(
            key, file, history_file, path, recipe, provenance, split[key], **extra
        )
    return {**summary, "weights": [str(token_path.name), str(diffusion_path.name)]}


def main(argv=None) -> int:
    """``python -m course_lib.tokens_ship --profile full [--seed 42]``."""
    parser = argparse.ArgumentParser(description="Train and ship the token models.")
    parser.add_argument("--profile", default="full", help="quick or full")
    parser.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    args = parser.parse_args(argv)
    for key, value in ship(config.get_profile(args.profile), args.seed).items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
