"""The speed-quality frontier: every generator family measured the same way, in one run.

For each family (GAN, VAE, token autoregressive with and without a KV cache,
MaskGIT at several K, latent diffusion at several T) :func:`families` builds a
:class:`Family`: how to draw samples for ``evaluation.sample_report``, and how to
time one batch of generation, decoding included, as a compiled call. Then

- :func:`measure_quality` gives each family's report on the same number of
  samples (the same real reference digits for all);
- :func:`measure_speed` times every family at batch 1 and at batch 256 with
  ``bench.harness.measure_many`` (warm-up untimed, several windows, median),
  all in one process so they share the machine's load;
- :func:`table` joins both with the sequential network calls per image, and
  :func:`plot` draws recognisable fraction against milliseconds per image.

Introduced in notebooks/08_images_as_tokens.ipynb.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from course_lib import evaluation, latents, token_sampling
from course_lib.bench import harness


@dataclasses.dataclass
class Family:
    """One point of the frontier.

    Args:
        name: Its label in the table and the plot.
        kind: ``"gan"``, ``"vae"``, ``"autoregressive"``, ``"maskgit"`` or
            ``"latent_diffusion"``.
        sample: ``sample(count, seed)`` -> images in [-1, 1].
        timed_call: ``timed_call(batch)`` -> a function with no arguments that
            generates ``batch`` images (compiled network calls, decoding
            included).
        steps: K or T (``None`` for one-shot families).
        binarised: Whether it was trained on binarised digits (the report then
            compares with binarised real digits).
        same_samples_as: The name of a family that draws identical samples
            (its quality is reused and said to be).
    """

    name: str
    kind: str
    sample: Callable
    timed_call: Callable
    steps: int | None = None
    binarised: bool = True
    same_samples_as: str | None = None

    @property
    def sequential_calls(self) -> int:
        """Network calls one image waits for, one after another."""
        return token_sampling.sequential_calls(self.kind, self.steps)


def _compiled(network):
    return tf.function(lambda x: network(x, training=False))


def families(
    gan_model,
    vae_model,
    generator,
    diffusion,
    maskgit_steps=(4, 8, 16),
    diffusion_steps=(10, 50, 1000),
    temperature: float | None = None,
) -> list[Family]:
    """Return the frontier's families, built from the four trained models.

    Args:
        gan_model: The shipped ``gan.GAN``.
        vae_model: The shipped ``vae.VAE``.
        generator: A ``tokens.TokenGenerator``.
        diffusion: A ``latent_diffusion.LatentDiffusion`` with a decoder.
        maskgit_steps: The K values.
        diffusion_steps: The T values.
        temperature: The autoregressive temperature (default: the generator's).

    Returns:
        A list of :class:`Family`.
    """
    gan_sampler, vae_decoder = (
        _compiled(gan_model.sampler),
        _compiled(vae_model.decoder),
    )
    token_decoder = _compiled(generator.tokenizer.decoder)
    codebook = tf.constant(np.asarray(generator.tokenizer.codebook, np.float32))

    def gan_call(batch):
        z = tf.constant(
            latents.fixed_latents(
                batch,
                gan_model.latent_dim,
                0,
                gan_model.clusters,
                frequencies=gan_model.cluster_frequencies,
            )
        )
        return lambda: gan_sampler(z)

    def vae_call(batch):
        z = tf.constant(
            np.random.default_rng(0).standard_normal((batch, vae_model.latent_dim)),
            tf.float32,
        )
        return lambda: tf.sigmoid(vae_decoder(z))

    def token_call(**options):
        def build(batch):
            def run():
                codes = generator.sample_tokens(batch, 0, **options)
                grid = tf.gather(codebook, tf.reshape(codes, (-1, 7, 7)))
                return tf.sigmoid(token_decoder(grid))

            return run

        return build

    def token_sample(**options):
        return lambda count, seed: generator.generate(count, seed, **options)

    def diffusion_call(steps):
        def build(batch):
            return lambda: tf.sigmoid(
                vae_decoder(tf.constant(diffusion.sample_latents(batch, steps, 0)))
            )

        return build

    ar = {"temperature": temperature}
    result = [
        Family("GAN (shipped)", "gan", gan_model.generate, gan_call, binarised=False),
        Family("VAE (shipped)", "vae", vae_model.generate, vae_call),
        Family(
            "token AR, KV cache",
            "autoregressive",
            token_sample(**ar),
            token_call(**ar),
        ),
        Family(
            "token AR, no cache",
            "autoregressive",
            token_sample(**ar, use_cache=False),
            token_call(**ar, use_cache=False),
            same_samples_as="token AR, KV cache",
        ),
    ]
    for steps in maskgit_steps:
        options = {"sampler": "maskgit", "steps": steps}
        result.append(
            Family(
                f"MaskGIT K={steps}",
                "maskgit",
                token_sample(**options),
                token_call(**options),
                steps,
            )
        )
    for steps in diffusion_steps:
        result.append(
            Family(
                f"latent diffusion T={steps}",
                "latent_diffusion",
                lambda count, seed, steps=steps: diffusion.generate(count, seed, steps),
                diffusion_call(steps),
                steps,
            )
        )
    return result


def measure_quality(entries, mnist, count: int, seed: int = 1) -> dict:
    """Return ``{name: evaluation.sample_report}`` for every family.

    A family with ``same_samples_as`` reuses that family's report (its samples
    are identical; check it with :func:`identical_samples`).
    """
    reports = {}
    for family in entries:
        if family.same_samples_as:
            reports[family.name] = reports[family.same_samples_as]
            continue
        images = family.sample(count, seed)
        reports[family.name] = evaluation.sample_report(
            images, "-1,1", mnist, binarised=family.binarised
        )
    return reports


def identical_samples(first: Family, second: Family, count: int = 32) -> float:
    """Return the share of images that two families draw identically (same seed)."""
    a, b = first.sample(count, 0), second.sample(count, 0)
    return float(np.mean(np.all(np.abs(a - b) < 1e-4, axis=(1, 2, 3))))


def measure_speed(
    entries, batch_sizes=(1, 256), window_seconds: float = 1.0, windows: int = 3
) -> dict:
    """Time every family at every batch size, interleaved, in this process.

    Returns:
        ``{name: {batch: harness.Result}}``.
    """
    workloads, keys = [], []
    for family in entries:
        for batch in batch_sizes:
            workloads.append(
                harness.Workload(
                    f"{family.name} @ {batch}", family.timed_call(batch), batch
                )
            )
            keys.append((family.name, batch))
    results = harness.measure_many(workloads, window_seconds, windows, warmup_calls=1)
    speed: dict = {}
    for (name, batch), result in zip(keys, results, strict=True):
        speed.setdefault(name, {})[batch] = result
    return speed


def table(entries, reports: dict, speed: dict) -> list[dict]:
    """Join quality, speed and sequential calls into one row per family."""
    rows = []
    for family in entries:
        report, timing = reports[family.name], speed[family.name]
        row = {
            "family": family.name,
            "recognisable": round(report["recognisable_fraction"], 3),
            "digits present": sum(count > 0 for count in report["class_counts"]),
            "largest share": round(report["largest_share"], 3),
            "FID": round(report["fid"], 1),
            "FID floor": round(report["fid_floor"], 1),
            "sequential calls": family.sequential_calls,
        }
        for batch, result in timing.items():
            per_image = result.ms_per_call["median"] / batch
            row[f"ms/image @ {batch}"] = round(per_image, 3 if per_image < 1 else 1)
        row["warning"] = "; ".join(
            sorted({r.warning for r in timing.values() if r.warning})
        )
        rows.append(row)
    return rows


def plot(rows, batches=(1, 256), title: str = ""):
    """Draw recognisable fraction against ms per image (log scale), one panel a batch.

    Args:
        rows: The output of :func:`table`.
        batches: Batch sizes with a ``ms/image @ <batch>`` column.
        title: The figure's title (name the machine).

    Returns:
        The matplotlib figure.
    """
    figure, axes = plt.subplots(
        1, len(batches), figsize=(5 * len(batches), 4), dpi=80, squeeze=False
    )
    markers = {"GAN": "s", "VAE": "D", "token": "o", "MaskGIT": "^", "latent": "v"}
    for axis, batch in zip(axes[0], batches, strict=True):
        for row in rows:
            x, y = row[f"ms/image @ {batch}"], row["recognisable"]
            marker = markers[row["family"].split()[0]]
            axis.scatter(x, y, marker=marker, s=36)
            axis.annotate(
                row["family"],
                (x, y),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
        axis.set_xscale("log")
        axis.set_xlabel(f"milliseconds per image at batch {batch} (log scale)")
        axis.set_ylabel("recognisable fraction (confidence >= 0.9)")
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
